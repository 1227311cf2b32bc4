"""The whole conversation in one language, without Telegram or a token.

``rehearse`` walks a simulated supporter through every step the bot has — from
``/start`` to withdrawal, with the error replies on the way — against the real
conversation core (a throwaway SQLite database, in-memory state). Translators read
it with ``python -m bot i18n preview LANG``; ``i18n check`` validates every reply
with the emulator's Telegram rules.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from emulator.telegram_rules import InvalidRequest, parse_html
from handlers import closed
from handlers.broadcast import progress_text
from handlers.core import Core, build_core
from handlers.events import Chat, Event, EventKind, User
from handlers.i18n import LOCALES_DIR
from handlers.news import news_message
from handlers.replies import (
    AnswerCallback,
    Delivered,
    EditMessage,
    Keyboard,
    Reply,
    SendDocument,
    SendMessage,
    SendPhoto,
)
from storage.broadcasts import BroadcastCounts
from storage.db import Database
from storage.deliveries import DeliveryError, record_delivery
from storage.migrate import upgrade
from storage.models import Broadcast
from storage.state_memory import MemoryStateStore

# Realistic values: a long but ordinary name, so limits are checked against real use.
SAMPLE_NAME = "Maria Fernanda dos Santos Oliveira"
USER_ID = 424242
_RECEIPT = re.compile(r"<code>([0-9A-Z]{4}-[0-9A-Z]{4})</code>")


@dataclass(slots=True)
class Exchange:
    """What the supporter did, and everything the bot answered."""

    action: str
    replies: list[Reply] = field(default_factory=list)
    failed: bool = False  # the core logged an error: the user saw the apology


class _Failures(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


class _Supporter:
    """One simulated person, in a private chat or in a group."""

    def __init__(self, core: Core, language_code: str) -> None:
        self.core = core
        self.user = User(id=USER_ID, first_name="Maria", last_name="Santos", language_code=language_code)
        self.private = Chat(id=USER_ID, type="private")
        self.exchanges: list[Exchange] = []
        self._ids = itertools.count(1)
        self._failures = _Failures()

    async def _handle(self, action: str, kind: EventKind, *, chat: Chat | None = None, **fields: object) -> None:
        exchange = Exchange(action)
        event = Event(update_id=next(self._ids), kind=kind, chat=chat or self.private, user=self.user, **fields)  # type: ignore[arg-type]

        async def deliver(reply: Reply) -> Delivered:
            exchange.replies.append(reply)
            return Delivered(message_id=next(self._ids))

        before = self._failures.count
        logger = logging.getLogger("handlers.core")
        logger.addHandler(self._failures)
        try:
            await self.core.handle(event, deliver)
            await self.core.settle()  # follow-ups (an export) deliver into this exchange too
        finally:
            logger.removeHandler(self._failures)
        exchange.failed = self._failures.count > before
        self.exchanges.append(exchange)

    async def say(self, text: str, chat: Chat | None = None) -> None:
        if text.startswith("/"):
            command, _, args = text[1:].partition(" ")
            command, _, addressee = command.partition("@")  # "/start@thisbot", as groups write it
            await self._handle(
                text, EventKind.COMMAND, chat=chat, text=text, command=command, args=args, addressed=bool(addressee)
            )
        else:
            shown = text if len(text) <= 60 else f"{text[:57]}… ({len(text)} characters)"
            await self._handle(shown, EventKind.TEXT, chat=chat, text=text)

    async def press(self, data: str, chat: Chat | None = None) -> None:
        await self._handle(
            f"[presses {data}]",
            EventKind.BUTTON,
            chat=chat,
            callback_data=data,
            callback_id=f"q{next(self._ids)}",
            message_id=1,
        )

    async def other(
        self, kind: EventKind, action: str, *, text: str = "", content_type: str = "text", forwarded: bool = False
    ) -> None:
        await self._handle(action, kind, text=text, content_type=content_type, forwarded=forwarded)


async def _walk(person: _Supporter, locale: str) -> None:
    """Every step and every error reply of the conversation, in reading order."""
    group = Chat(id=-100777, type="supergroup")
    await person.say("/start campaign_link")
    await person.press("langs")
    await person.press(f"lang:{locale}")
    await person.say("hello")  # text where a button is expected
    await person.press("read")
    await person.press("sign")
    await person.press("optin")
    await person.press("optin")
    await person.press("notnow")
    await person.press("sign")
    await person.press("agree")
    await person.say("x" * 150)  # too long
    await person.say("12345")  # no letter
    await person.say("see https://example.org")  # a link
    await person.say("Maria\u202eSantos")  # a bidi override
    await person.say("Maria\u2028Santos")  # a line separator
    await person.say("Maria\u3164Santos")  # a Hangul filler: shows as blank
    await person.say("Ma" + "\u0301" * 12 + "ria")  # marks stacked on one letter
    await person.other(EventKind.OTHER, "[sends a sticker]", content_type="sticker")
    await person.press("asme")
    await person.say("Maria")  # text where the form of the name is asked for
    await person.press("nfname")  # back to the name
    await person.press("asme")
    await person.press("nf:first_initial")
    await person.other(EventKind.OTHER, "[sends a photo]", content_type="photo")
    await person.say("Atlantis")  # no such country
    await person.say("sa")  # too many matches
    await person.say("united")  # a pick-list
    await person.press("ctyother")
    await person.press("cty:DE")
    await person.press("chname")
    await person.say(SAMPLE_NAME)
    await person.press("nf:full")
    await person.press("chform")
    await person.press("nf:full")
    await person.press("chcountry")
    await person.press("cty:VC")  # Saint Vincent and the Grenadines: a long country name
    await person.press("confirm")
    await person.press("confirm")  # a second tap
    await person.say("/start")  # signed already
    await person.say("hello")
    await person.say("/mysignature")
    receipt = _receipt_shown(person)
    await person.press("nfchange")  # how my name appears: narrower forms from what is stored
    await person.press("nfkeep")
    await person.press("nfchange")
    await person.press("nfset:first_initial")
    await person.press("nfset:first_initial")  # a stale button: already narrowed
    await person.press("nfchange")
    await person.press("nfwide")  # to show more, the name is typed again
    await person.other(EventKind.OTHER, "[sends a sticker]", content_type="sticker")
    await person.say("/cancel")
    await person.press("nfchange")
    await person.press("nfwide")
    await person.say(SAMPLE_NAME)
    await person.say("full")  # text where a button is expected
    await person.press("nf:full")
    await person.say("/mysignature")
    await person.say(f"/verify {receipt.lower()}")  # on the list
    await person.say(f"/verify {receipt}", chat=group)
    await person.say("/verify ZZZZ-ZZZZ")  # not on the list
    await person.say("/verify hello")  # not a receipt
    await person.say("/verify")
    # Once the list has been delivered to the addressees (``python -m bot deliver``).
    services = person.core.services
    with contextlib.suppress(DeliveryError):  # nothing signed (a broken catalog stopped the rehearsal earlier)
        await record_delivery(
            services.db, services.campaign.slug, recipient="Embassy of the PRC", delivered_on=datetime.now(UTC).date()
        )
    await person.say(f"/verify {receipt}")  # delivered
    await person.say("/mysignature")
    await person.say("/updates")
    await person.press("updates:off")
    await person.press("updates:on")
    await person.press("stopnews")
    await person.press("stopnews")  # already stopped
    await person.say("/remove")
    await person.say("/remove ZZZZ-ZZZZ")
    await person.say(f"/remove {receipt}")
    await person.press("rmno")
    await person.say("/privacy")
    await person.say("/help")
    await person.say("/language")
    await person.say("/cancel")
    await person.say("/nonsense")
    await person.other(EventKind.EDITED, "[edits a message]", text="edited")
    await person.other(EventKind.TEXT, "[forwards a message]", text="forwarded", forwarded=True)
    await person.say("/withdraw")
    await person.press("wdno")
    await person.say("/withdraw")
    await person.press("wdyes")
    await person.say("/mysignature")
    await person.say("/withdraw")
    await person.press("wdyes")  # a stale button
    await person.say("/cancel")
    await person.say(f"/start@{person.core.services.bot_username}", chat=group)  # the pointer to a private chat
    await person.press("read", chat=group)  # an old button in a group: answered without a word
    # The organisers' commands (this supporter is also an organiser).
    await person.say("/stats")
    await person.say("/export")
    await person.say("/export pdf please")  # not a format: the usage message
    await person.say("/export csv ids")  # Telegram ids never go through a chat: the command line
    await _broadcasting(person, locale)
    # After CAMPAIGN_END, what a signing input (the Sign button, a typed name…) is answered with.
    services = person.core.services
    ended = closed.text(services.i18n.get(locale), services.campaign_end or datetime.now(UTC).date())
    person.exchanges.append(Exchange("[presses sign after the campaign closed]", [SendMessage(USER_ID, ended)]))


async def _broadcasting(person: _Supporter, locale: str) -> None:
    """The organiser's /broadcast, then what recipients and the organiser see while it is sent."""
    await person.say("/broadcast status")  # nothing sent yet
    await person.say("/broadcast cancel")
    await person.say("/broadcast")
    await person.say("[xx]\nHello")  # an unknown language tag
    await person.say("[de]\nHallo\n[de]\nNoch einmal")  # a tag twice
    await person.say("[de]\n")  # an empty section
    await person.say("x" * 3600)  # too long
    await person.say("[de]\nHallo zusammen")  # a text for one language only
    await person.press("bcredo")
    await person.say("The letter was delivered today. Thank you for signing!")
    await person.press(_last_button(person, "bcsend"))
    await person.say("/broadcast status")
    await person.say("/broadcast cancel")
    await person.say("/broadcast")
    await person.press("bcdrop")
    # What a recipient in this language gets, and the organiser's progress message meanwhile.
    services = person.core.services
    now = datetime.now(UTC)
    news = Broadcast(id=1, kind="message", texts={"": "The letter was delivered today. Thank you!"}, created_at=now)
    milestones = [Broadcast(id=2, kind="milestone", milestone=n, texts={}, created_at=now) for n in (10_000, 100_000)]
    delivered = Broadcast(
        id=4,
        kind="delivered",
        texts={"delivered_on": now.date().isoformat(), "recipient": "Embassy of the People's Republic of China"},
        created_at=now,
    )
    for broadcast in (news, *milestones, delivered):
        text, keyboard = news_message(services, broadcast, locale)
        person.exchanges.append(
            Exchange(f"[receives the {broadcast.kind} update]", [SendMessage(USER_ID, text, keyboard)])
        )
    counts = BroadcastCounts(
        total=2000, sent=1200, pending=700, blocked=40, failed=20, skipped=20, cancelled=0, uncertain=20
    )
    for status in ("sending", "done", "cancelled"):
        for broadcast in (news, milestones[0], delivered):
            broadcast.status, broadcast.progress_locale = status, locale
            text = progress_text(services, broadcast, counts)
            person.exchanges.append(
                Exchange(f"[progress of a {broadcast.kind}: {status}]", [EditMessage(USER_ID, 1, text)])
            )


def _last_button(person: _Supporter, prefix: str) -> str:
    """The callback data of the last button starting with ``prefix`` the bot showed."""
    for exchange in reversed(person.exchanges):
        for reply in reversed(exchange.replies):
            keyboard: Keyboard = reply.buttons if isinstance(reply, SendMessage | EditMessage) else ()
            for row in keyboard:
                for button in row:
                    if button.callback_data and button.callback_data.startswith(prefix):
                        return button.callback_data
    return prefix


def _receipt_shown(person: _Supporter) -> str:
    """The receipt code the supporter was shown last (``K7QF-2M9D``)."""
    for exchange in reversed(person.exchanges):
        for reply in exchange.replies:
            if isinstance(reply, SendMessage | EditMessage) and (found := _RECEIPT.search(reply.text)):
                return found[1]
    return "ZZZZ-ZZZZ"


async def rehearse(locale: str, locales_dir: Path = LOCALES_DIR) -> list[Exchange]:
    """The whole conversation as a supporter whose Telegram is set to ``locale`` sees it."""
    with tempfile.TemporaryDirectory(prefix="undersign-preview-") as scratch:
        url = f"sqlite+aiosqlite:///{Path(scratch) / 'preview.db'}"
        await upgrade(url)
        db = Database(url)
        try:
            core = build_core(
                store=MemoryStateStore(),
                db=db,
                campaign="xinjiang",
                default_locale="en",
                admin_ids=frozenset({USER_ID}),
                state_ttl=3600,
                bot_username="undersign_bot",
                locales_dir=locales_dir,
                flood_limit=10_000,  # one person taking every step at once: no flood control here
            )
            person = _Supporter(core, language_code=locale.replace("_", "-").lower())
            await _walk(person, locale)
            return person.exchanges
        finally:
            await db.dispose()


def plain(html_text: str) -> str:
    """The text as the user reads it (Telegram HTML parsed), or the raw text if it does not parse."""
    try:
        return parse_html(html_text).text
    except InvalidRequest:
        return html_text


def _buttons(keyboard: Keyboard) -> list[str]:
    return ["  ".join(f"[{button.text}]" for button in row) for row in keyboard]


def format_exchanges(exchanges: list[Exchange]) -> str:
    """A transcript for people: what the supporter did, then what the bot showed."""
    lines: list[str] = []
    for exchange in exchanges:
        lines.append(f"> {exchange.action}")
        for reply in exchange.replies:
            if isinstance(reply, SendMessage | EditMessage):
                label = "bot (edits its message)" if isinstance(reply, EditMessage) else "bot"
                text = plain(reply.text).replace("\n", "\n    ")
                lines.append(f"  {label}: {text}")
                lines.extend(f"    {row}" for row in _buttons(reply.buttons))
            elif isinstance(reply, SendPhoto | SendDocument):
                lines.append(f"  bot (sends {reply.filename}): {plain(reply.caption)}")
            elif isinstance(reply, AnswerCallback) and reply.text:
                kind = "pop-up" if reply.show_alert else "notice"
                lines.append(f"  bot ({kind}): {reply.text}")
        if exchange.failed:
            lines.append("  !! the bot failed here (see the log)")
        lines.append("")
    return "\n".join(lines)
