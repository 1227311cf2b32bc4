"""Telegram's HTML parse mode: validation with Telegram's error wording, and rendering.

``parse_html`` turns the bot's HTML into the plain text the user reads plus
MessageEntity objects (offsets in UTF-16 code units, as Telegram counts). It
refuses what Telegram documents as invalid: tags outside the supported set,
unbalanced or badly nested tags, and ``<``, ``>`` or ``&`` that are neither
part of a tag nor of an entity. (Telegram's parser quietly keeps a stray
``&`` or ``>``; the documentation says they must be escaped, and a bot that
relies on the leniency breaks as soon as the text contains something like
``&lt``, so the emulator holds the bot to the documented rule.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from emulator.errors import InvalidRequest

_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-time": "date_time",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);")
_ATTR_NAME = re.compile(r"[a-zA-Z0-9_-]+")
_SPACE = " \t\n\r"


@dataclass(slots=True)
class ParsedText:
    """Plain text as the user reads it, and the formatting as MessageEntity dicts."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class _Open:
    tag: str
    byte_offset: int
    start: int  # UTF-16 offset in the output
    attributes: dict[str, str]
    chunk: int  # index into the output chunks where the content starts


def utf16_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def _error(detail: str) -> InvalidRequest:
    return InvalidRequest(f"can't parse entities: {detail}")


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.pos = 0
        self.out: list[str] = []
        self.out_length = 0  # UTF-16 units written so far
        self.stack: list[_Open] = []
        self.entities: list[dict[str, Any]] = []

    def byte_offset(self, index: int) -> int:
        return len(self.source[:index].encode("utf-8"))

    def emit(self, text: str) -> None:
        self.out.append(text)
        self.out_length += utf16_length(text)

    def parse(self) -> ParsedText:
        source = self.source
        while self.pos < len(source):
            char = source[self.pos]
            if char == "<":
                self.tag()
            elif char == "&":
                self.emit(self.entity(self.pos))
            elif char == ">":
                raise _error(f'Character ">" at byte offset {self.byte_offset(self.pos)} must be escaped as "&gt;"')
            else:
                end = self.pos + 1
                while end < len(source) and source[end] not in "<&>":
                    end += 1
                self.emit(source[self.pos : end])
                self.pos = end
        if self.stack:
            raise _error(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].tag}"')
        self.entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
        return ParsedText("".join(self.out), self.entities)

    def entity(self, index: int) -> str:
        """Decode the HTML entity at ``index`` and move past it."""
        match = _ENTITY.match(self.source, index)
        offset = self.byte_offset(index)
        if match is None:
            raise _error(f'Character "&" at byte offset {offset} must be escaped as "&amp;"')
        name = match.group(1)
        if name.startswith("#"):
            code = int(name[2:], 16) if name[1:2] in ("x", "X") else int(name[1:])
            if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise _error(f'Invalid character code in HTML entity "{match.group(0)}" at byte offset {offset}')
            decoded = chr(code)
        elif name in _NAMED:
            decoded = _NAMED[name]
        else:
            raise _error(f'Unsupported HTML entity "{match.group(0)}" at byte offset {offset}')
        self.pos = match.end()
        return decoded

    def tag(self) -> None:
        start = self.pos
        offset = self.byte_offset(start)
        if self.source.startswith("</", start):
            self.end_tag(start, offset)
            return
        end = start + 1
        while end < len(self.source) and self.source[end] not in _SPACE + ">":
            end += 1
        if end >= len(self.source):
            raise _error(f"Unclosed start tag at byte offset {offset}")
        name = self.source[start + 1 : end].lower()
        if name not in _ENTITY_TYPES:
            raise _error(f'Unsupported start tag "{name}" at byte offset {offset}')
        self.pos = end
        attributes = self.attributes(name, offset)
        self.check_attributes(name, attributes, offset)
        self.stack.append(_Open(name, offset, self.out_length, attributes, len(self.out)))

    def attributes(self, tag: str, offset: int) -> dict[str, str]:
        source = self.source
        attributes: dict[str, str] = {}
        while True:
            while self.pos < len(source) and source[self.pos] in _SPACE:
                self.pos += 1
            if self.pos >= len(source):
                raise _error(f'Unclosed start tag "{tag}" at byte offset {offset}')
            if source[self.pos] == ">":
                self.pos += 1
                return attributes
            match = _ATTR_NAME.match(source, self.pos)
            if match is None:
                raise _error(f'Empty attribute name in the tag "{tag}" at byte offset {self.byte_offset(self.pos)}')
            name = match.group(0).lower()
            self.pos = match.end()
            while self.pos < len(source) and source[self.pos] in _SPACE:
                self.pos += 1
            if self.pos < len(source) and source[self.pos] != "=":
                attributes[name] = ""  # a flag such as <blockquote expandable>
                continue
            self.pos += 1
            while self.pos < len(source) and source[self.pos] in _SPACE:
                self.pos += 1
            attributes[name] = self.attribute_value(tag, offset)

    def attribute_value(self, tag: str, offset: int) -> str:
        source = self.source
        if self.pos >= len(source):
            raise _error(f'Unclosed start tag "{tag}" at byte offset {offset}')
        quote = source[self.pos]
        value: list[str] = []
        if quote in "\"'":
            self.pos += 1
            while self.pos < len(source) and source[self.pos] != quote:
                if source[self.pos] == "&":
                    value.append(self.entity(self.pos))
                else:
                    value.append(source[self.pos])
                    self.pos += 1
            if self.pos >= len(source):
                raise _error(f'Unclosed start tag "{tag}" at byte offset {offset}')
            self.pos += 1
            return "".join(value)
        while self.pos < len(source) and source[self.pos] not in _SPACE + ">":
            if source[self.pos] == "&":
                value.append(self.entity(self.pos))
            else:
                value.append(source[self.pos])
                self.pos += 1
        return "".join(value)

    def check_attributes(self, tag: str, attributes: dict[str, str], offset: int) -> None:
        if tag == "span" and attributes.get("class") != "tg-spoiler":
            raise _error(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
        if tag == "tg-emoji" and not attributes.get("emoji-id"):
            raise _error(f'Custom emoji identifier must be specified in the tag "tg-emoji" at byte offset {offset}')
        if tag == "tg-time" and not attributes.get("unix", "").lstrip("-").isdigit():
            raise _error(f'Tag "tg-time" must have a "unix" attribute at byte offset {offset}')

    def end_tag(self, start: int, offset: int) -> None:
        close = self.source.find(">", start)
        if close < 0:
            raise _error(f"Unclosed end tag at byte offset {offset}")
        name = self.source[start + 2 : close].strip().lower()
        self.pos = close + 1
        if not self.stack:
            raise _error(f"Unexpected end tag at byte offset {offset}")
        opened = self.stack.pop()
        if opened.tag != name:
            raise _error(f'Unmatched end tag at byte offset {offset}, expected "</{opened.tag}>", found "</{name}>"')
        self.add_entity(opened)

    def add_entity(self, opened: _Open) -> None:
        length = self.out_length - opened.start
        if length == 0:
            return
        kind = _ENTITY_TYPES[opened.tag]
        entity: dict[str, Any] = {"type": kind, "offset": opened.start, "length": length}
        if opened.tag == "a":
            href = opened.attributes.get("href")
            entity["url"] = href if href else "".join(self.out[opened.chunk :])
        elif opened.tag == "tg-emoji":
            entity["custom_emoji_id"] = opened.attributes["emoji-id"]
        elif opened.tag == "blockquote" and "expandable" in opened.attributes:
            entity["type"] = "expandable_blockquote"
        elif opened.tag == "tg-time":
            entity["unix_time"] = int(opened.attributes["unix"])
            if opened.attributes.get("format"):
                entity["date_time_format"] = opened.attributes["format"]
        elif opened.tag == "code" and self.stack and self.stack[-1].tag == "pre":
            language = opened.attributes.get("class", "")
            if language.startswith("language-"):
                self.stack[-1].attributes["language"] = language.removeprefix("language-")
            return  # <pre><code class="language-x"> is one pre entity with a language
        elif opened.tag == "pre" and opened.attributes.get("language"):
            entity["language"] = opened.attributes["language"]
        self.entities.append(entity)


def parse_html(source: str) -> ParsedText:
    """Parse Telegram HTML, raising ``InvalidRequest("can't parse entities: ...")`` like Telegram."""
    return strip(_Parser(source).parse())


def strip(parsed: ParsedText) -> ParsedText:
    """Telegram trims leading and trailing whitespace from a message, moving entities along."""
    text = parsed.text
    stripped = text.strip()
    if stripped == text:
        return parsed
    lead = utf16_length(text[: len(text) - len(text.lstrip())])
    limit = utf16_length(stripped)
    entities: list[dict[str, Any]] = []
    for entity in parsed.entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, limit)
        if end > start:
            entities.append({**entity, "offset": start, "length": end - start})
    return ParsedText(stripped, entities)


def render(source: str, parse_mode: str | None) -> ParsedText:
    """The text a user reads for ``source`` sent with ``parse_mode``.

    HTML is parsed and checked; Markdown modes are passed through as they are
    (this project sends HTML), plain text is only trimmed.
    """
    mode = (parse_mode or "").lower()
    if mode == "html":
        return parse_html(source)
    if mode in ("", "markdown", "markdownv2"):
        return strip(ParsedText(source))
    raise InvalidRequest(f"unsupported parse_mode {parse_mode!r}")
