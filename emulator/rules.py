"""Telegram's limits beyond the shape of a request: lengths, keyboards, commands.

The spec says *what type* a value has; these rules say *which values* Telegram
accepts (written in the descriptions of api.json and in Telegram's behaviour):
text 1-4096 characters after entity parsing, captions up to 1024, callback data
1-64 bytes, at most 100 inline buttons, one action per button, and so on.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from emulator.errors import InvalidRequest
from emulator.html import ParsedText, render, utf16_length
from emulator.objects import ButtonView

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_BUTTONS = 100
MAX_CALLBACK_ANSWER = 200
MAX_COMMANDS = 100
BUTTON_STYLES = frozenset({"danger", "success", "primary"})
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Fields of InlineKeyboardButton that decorate it rather than say what it does.
_DECORATION = frozenset({"text", "icon_custom_emoji_id", "style"})
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def message_text(text: str, parse_mode: str | None) -> ParsedText:
    """The rendered text of a message, 1-4096 UTF-16 units after parsing."""
    parsed = render(text, parse_mode)
    if not parsed.text:
        raise InvalidRequest("message text is empty")
    if utf16_length(parsed.text) > MAX_TEXT:
        raise InvalidRequest("message is too long")
    return parsed


def caption(text: str | None, parse_mode: str | None) -> ParsedText | None:
    """The rendered caption of a media message, 0-1024 UTF-16 units after parsing."""
    if text is None:
        return None
    parsed = render(text, parse_mode)
    if utf16_length(parsed.text) > MAX_CAPTION:
        raise InvalidRequest("message caption is too long")
    return parsed


def reply_markup(markup: dict[str, Any] | None) -> list[list[ButtonView]]:
    """Check any reply markup; the inline buttons it shows (reply keyboards show none here)."""
    if markup is None:
        return []
    if "inline_keyboard" in markup:
        return inline_keyboard(markup)
    for row in markup.get("keyboard", ()):
        for button in row:
            label = button.get("text") if isinstance(button, dict) else button
            if not label:
                raise InvalidRequest("keyboard button text is empty")
    return []


def inline_keyboard(markup: dict[str, Any]) -> list[list[ButtonView]]:
    rows: list[list[dict[str, Any]]] = markup["inline_keyboard"]
    if sum(len(row) for row in rows) > MAX_BUTTONS:
        raise InvalidRequest("REPLY_MARKUP_TOO_LONG")
    return [[_inline_button(button) for button in row] for row in rows]


def _inline_button(button: dict[str, Any]) -> ButtonView:
    if not str(button.get("text", "")).strip():
        raise InvalidRequest("BUTTON_TEXT_INVALID")
    actions = [name for name in button if name not in _DECORATION]
    if not actions:
        raise InvalidRequest("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
    if len(actions) > 1:
        raise InvalidRequest(
            f"can't parse inline keyboard button: exactly one of the optional fields must be used, got {actions}"
        )
    if "style" in button and button["style"] not in BUTTON_STYLES:
        raise InvalidRequest("can't parse inline keyboard button: unsupported button style")
    data = button.get("callback_data")
    if data is not None and not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA:
        raise InvalidRequest("BUTTON_DATA_INVALID")
    url = button.get("url")
    if url is not None and not valid_button_url(url):
        raise InvalidRequest("BUTTON_URL_INVALID")
    return ButtonView.from_json(button)


def valid_button_url(url: str) -> bool:
    """HTTP(S) URLs with a host, or tg:// links, as Telegram accepts on URL buttons."""
    parts = urlsplit(url)
    if parts.scheme.lower() in ("http", "https"):
        return bool(parts.hostname) and " " not in url
    return parts.scheme.lower() == "tg" and bool(parts.netloc or parts.path)


def callback_answer_text(text: str | None) -> None:
    if text is not None and utf16_length(text) > MAX_CALLBACK_ANSWER:
        raise InvalidRequest("MESSAGE_TOO_LONG")


def commands(items: list[dict[str, Any]]) -> None:
    """setMyCommands: at most 100 commands, ``[a-z0-9_]{1,32}``, descriptions 1-256 characters."""
    if len(items) > MAX_COMMANDS:
        raise InvalidRequest("too many commands")
    for item in items:
        if not _COMMAND.fullmatch(item["command"].removeprefix("/")):
            raise InvalidRequest("BOT_COMMAND_INVALID")
        if not 1 <= len(item["description"].strip()) <= 256:
            raise InvalidRequest("BOT_COMMAND_DESCRIPTION_INVALID")


def chat_action(action: str) -> None:
    if action not in CHAT_ACTIONS:
        raise InvalidRequest("wrong parameter action in request")


def webhook(url: str, secret_token: str | None, max_connections: int | None) -> None:
    """setWebhook: an http(s) URL (the emulator allows plain http on any port), a valid secret."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest("bad webhook: An HTTPS URL must be provided for webhook")
    if secret_token is not None and not _SECRET.fullmatch(secret_token):
        raise InvalidRequest("secret token contains unallowed characters")
    if max_connections is not None and not 1 <= max_connections <= 100:
        raise InvalidRequest("bad webhook: max_connections must be between 1 and 100")


_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")


def photo_bytes(data: bytes) -> tuple[int, int]:
    """The size of an uploaded photo; Telegram refuses bytes that are not an image."""
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return 512, 512
    if not data.startswith(_IMAGE_MAGIC):
        raise InvalidRequest("IMAGE_PROCESS_FAILED")
    if data.startswith(b"\x89PNG") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return 512, 512
