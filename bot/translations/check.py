"""``i18n check``: catch a translation that would break a message before it reaches anyone.

Two passes:

* each catalog, message by message (named by file, line and msgid): fuzzy or
  untranslated, ``{placeholders}`` missing or added, HTML tags Telegram would refuse
  or that differ from the English, plural forms missing for the language, button
  labels and pop-ups too long once filled with realistic values;
* the whole conversation rehearsed in each language (``bot.translations.preview``), every reply
  validated with the emulator's Telegram rules, ``emulator.telegram_rules`` (4,096
  characters after parsing, 1,024-character captions, 64-byte callback data,
  200-character pop-ups, at most 100 buttons).
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Message
from babel.messages.plurals import get_plural

from bot.translations.catalogs import catalog_files, read_catalog
from bot.translations.preview import migrated_database, rehearse
from emulator import telegram_rules as rules
from emulator.telegram_rules import MAX_CALLBACK_ANSWER, InvalidRequest, parse_html, utf16_length
from handlers.i18n import LOCALES_DIR
from handlers.replies import AnswerCallback, EditMessage, SendDocument, SendMessage, SendPhoto, inline_keyboard

BUTTON_LIMIT = 40  # characters a phone shows on a full-width button before cutting it

# Realistic values for every placeholder, the longest a real message will carry.
SAMPLES = {
    "name": "Maria Fernanda dos Santos Oliveira",
    "country": "Saint Vincent and the Grenadines",
    "n": "1,000,000",
    "goal": "100,000",
    "organisation": "Amnesty International",
    "targets": "President Xi Jinping, Ma Xingrui, Erkin Tuniyaz",
    "language": "Português (Brasil)",
    "date": "27 September 2026",
    "query": "Democratic Republic of the Congo",
    "id": "1234567890",
    "source": "spring_campaign_newsletter_2026",
}
# A button shows the Telegram name of a typical person, not the longest possible one.
BUTTON_SAMPLES = {**SAMPLES, "name": "Maria Santos"}
TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9-]*)")


@dataclass(frozen=True, slots=True)
class Problem:
    where: str  # "locales/de/LC_MESSAGES/messages.po:123" or "de: after /start"
    msgid: str
    what: str
    # A broken translation (placeholders, HTML, length) fails the check; work still to do
    # (untranslated, fuzzy: the bot shows the English meanwhile) only warns.
    breaks: bool = True
    step: str = ""  # the rehearsal's step that showed it ("de: after “/stats”"), for one found there

    def __str__(self) -> str:
        excerpt = self.msgid if len(self.msgid) <= 60 else self.msgid[:57] + "…"
        step = f" ({self.step})" if self.step else ""
        return f"{self.where}: {'' if self.breaks else 'to do: '}{self.what}{step} — “{excerpt}”"


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def tags(text: str) -> list[str]:
    return sorted(TAG.findall(text))


def check_catalog(path: Path, root: Path | None = None) -> list[Problem]:
    catalog = read_catalog(path)
    shown = path.relative_to(root) if root else path
    locale = path.parent.parent.name
    problems: list[Problem] = []
    expected_plurals = get_plural(locale).num_plurals
    if catalog.num_plurals != expected_plurals:
        problems.append(
            Problem(
                f"{shown}:1",
                "Plural-Forms",
                f"the header declares {catalog.num_plurals} plural forms; {locale} has {expected_plurals}",
            )
        )
    for message in catalog:
        if not message.id:
            continue
        where, source = f"{shown}:{message.lineno}", _source(message)
        problems.extend(Problem(where, source, what, breaks=what not in UNFINISHED) for what in _problems(message))
    return problems


def _source(message: Message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


FUZZY = "fuzzy: the English changed; check the translation, then remove the fuzzy flag (English shown meanwhile)"
UNTRANSLATED = "untranslated (English shown meanwhile)"
UNFINISHED = {FUZZY, UNTRANSLATED}


def _problems(message: Message) -> list[str]:
    if message.fuzzy:
        return [FUZZY]
    sources = [message.id] if isinstance(message.id, str) else list(message.id)
    translations = [message.string] if isinstance(message.string, str) else list(message.string or ())
    if not all(translations):
        return [UNTRANSLATED if not any(translations) else "a plural form is missing"]
    found: list[str] = []
    wanted = set().union(*(placeholders(s) for s in sources))
    plural = len(sources) > 1
    for translation in translations:
        try:
            used = placeholders(translation)
        except ValueError:
            found.append("broken {braces}: use {name} exactly as in the English")
            continue
        if used - wanted:
            found.append(f"unknown placeholder {{{', '.join(sorted(used - wanted))}}}")
        # A plural form may leave out the number itself ("one signature" for n = 1).
        missing = wanted - used - ({"n"} if plural else set())
        if missing:
            found.append(f"missing placeholder {{{', '.join(sorted(missing))}}}")
        if tags(translation) != tags(sources[0]):
            found.append(f"HTML tags {tags(translation)} differ from the English {tags(sources[0])}")
        found.extend(_rendered(message, translation))
    return found


def _rendered(message: Message, translation: str) -> list[str]:
    """Fill the placeholders as the bot does, then apply Telegram's rules to the result."""
    comments = " ".join(message.auto_comments).lower()
    samples = BUTTON_SAMPLES if "button" in comments else SAMPLES
    try:
        text = translation.format(**samples)
    except (KeyError, IndexError, ValueError):
        return []  # already reported as a placeholder problem
    try:
        visible = parse_html(text).text
    except InvalidRequest as error:
        return [f"Telegram would refuse it: {error.description}"]
    if "button label" in comments and len(visible) > BUTTON_LIMIT:
        return [f"button label of {len(visible)} characters would be cut (at most {BUTTON_LIMIT})"]
    if "pop-up" in comments and utf16_length(visible) > MAX_CALLBACK_ANSWER:
        return [f"pop-up of {len(visible)} characters (Telegram allows {MAX_CALLBACK_ANSWER})"]
    return []


class _Messages:
    """Finds the catalog message a reply was made from, to name its file and line. A reply may
    join several messages: where Telegram names the position of the fault, the message whose
    fixed text (a translation's words between its ``{placeholders}``) covers that position; else
    the message with the longest fixed text the reply holds."""

    def __init__(self, path: Path, root: Path | None) -> None:
        shown = path.relative_to(root) if root else path
        self._pieces: list[tuple[str, str, str]] = []  # (piece, "file:line", msgid), longest first
        for message in read_catalog(path):
            translations = [message.string] if isinstance(message.string, str) else list(message.string or ())
            for translation in translations:
                for piece in re.split(r"\{[^{}]*\}", translation or ""):
                    if len(piece.strip()) >= 4:
                        self._pieces.append((piece, f"{shown}:{message.lineno}", _source(message)))
        self._pieces.sort(key=lambda entry: len(entry[0]), reverse=True)

    def find(self, text: str, at: int | None) -> tuple[str, str] | None:
        """``("file:line", msgid)`` of the message ``text`` was made from (covering character ``at``)."""
        for piece, where, msgid in self._pieces:
            start = text.find(piece)
            if at is None and len(piece.strip()) >= 8 and start >= 0:
                return where, msgid
            while at is not None and 0 <= start <= at:
                if at < start + len(piece):
                    return where, msgid
                start = text.find(piece, start + 1)
        return None


_OFFSET = re.compile(r"byte offset (\d+)")


def _fault_at(text: str, description: str) -> int | None:
    """The character of ``text`` Telegram's error points to ("at byte offset 144"), if it does."""
    found = _OFFSET.search(description)
    if found is None:
        return None
    return len(text.encode("utf-8")[: int(found[1])].decode("utf-8", errors="ignore"))


async def check_conversation(
    locale: str,
    locales_dir: Path = LOCALES_DIR,
    *,
    migrated: Path | None = None,
    campaign: str = "xinjiang",
    root: Path | None = None,
) -> list[Problem]:
    """Rehearse ``campaign``'s conversation in ``locale``, every button and command in every state
    too, and validate every reply as Telegram would. A problem names the catalog message it
    comes from (file and line) when it can be found, and the step that showed it."""
    path = locales_dir / locale / "LC_MESSAGES" / "messages.po"
    messages: _Messages | None = None  # read once a reply is refused: most languages have none
    problems: list[Problem] = []
    for exchange in await rehearse(locale, locales_dir, migrated=migrated, campaign=campaign, every_state=True):
        where = f"{locale}: after “{exchange.action}”"
        if exchange.failed:
            problems.append(Problem(where, exchange.action, "the bot failed (a translation raised an error)"))
        for reply in exchange.replies:
            try:
                if isinstance(reply, SendMessage | EditMessage):
                    rules.message_text(reply.text, "HTML")
                    rules.inline_keyboard(inline_keyboard(reply.buttons))
                elif isinstance(reply, SendPhoto | SendDocument):
                    rules.caption(reply.caption, "HTML")
                elif isinstance(reply, AnswerCallback):
                    rules.callback_answer_text(reply.text)
            except InvalidRequest as error:
                text = getattr(reply, "text", None) or getattr(reply, "caption", "") or ""
                what = f"Telegram would refuse it: {error.description}"
                if messages is None and path.is_file():
                    messages = _Messages(path, root)
                found = messages.find(text, _fault_at(text, error.description)) if messages else None
                if found:
                    problems.append(Problem(found[0], found[1], what, step=where))
                else:
                    problems.append(Problem(locale, text, what, step=where))
    return problems


def report_once(problems: list[Problem]) -> list[Problem]:
    """Each problem once: a message the catalog pass named is not named again by the rehearsal,
    nor by every step of the rehearsal that shows it (the first step is kept)."""
    named = {problem.where for problem in problems if not problem.step}
    seen: set[tuple[str, str, str]] = set()
    kept: list[Problem] = []
    for problem in problems:
        if problem.step and problem.where in named:
            continue  # the catalog pass named this message already
        key = (problem.where, problem.msgid, problem.what)
        if key in seen:
            continue
        seen.add(key)
        kept.append(problem)
    return kept


async def check_all(
    locales_dir: Path = LOCALES_DIR,
    root: Path | None = None,
    *,
    campaign: str = "xinjiang",
    only: Collection[str] | None = None,
) -> list[Problem]:
    """Every catalog (or those of the locales ``only``), message by message and rehearsed in
    every state; the English source is rehearsed too."""
    files = [path for path in catalog_files(locales_dir) if only is None or path.parent.parent.name in only]
    problems: list[Problem] = []
    for path in files:
        problems.extend(check_catalog(path, root))
    async with migrated_database() as migrated:
        for locale in ["en", *(path.parent.parent.name for path in files)]:
            problems.extend(
                await check_conversation(locale, locales_dir, migrated=migrated, campaign=campaign, root=root)
            )
    return report_once(problems)
