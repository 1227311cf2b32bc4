"""The whole conversation in one language, without Telegram or a token.

``rehearse`` walks a simulated supporter through every step the bot has — from
``/start`` to withdrawal, with the error replies on the way — against the real
conversation core (a throwaway SQLite database, in-memory state). Translators read
it with ``python -m bot i18n preview LANG``; ``i18n check`` validates every reply
with the emulator's Telegram rules.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from emulator.telegram_rules import InvalidRequest, parse_html
from handlers import closed
from handlers.broadcast import progress_text
from handlers.conversation import BUTTONS, COMMANDS
from handlers.core import Core, build_core
from handlers.events import Chat, User
from handlers.i18n import LOCALES_DIR
from handlers.news import news_message
from handlers.replies import (
    AnswerCallback,
    EditMessage,
    Keyboard,
    SendDocument,
    SendMessage,
    SendPhoto,
)
from handlers.simulated_user import Exchange, InProcessUser
from petition.campaign import CAMPAIGNS_DIR, campaign_path
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


def _supporter(locale: str) -> User:
    """Maria, whose Telegram is set to ``locale``."""
    return User(id=USER_ID, first_name="Maria", last_name="Santos", language_code=locale.replace("_", "-").lower())


async def _walk(person: InProcessUser, locale: str) -> None:
    """Every step and every error reply of the conversation, in reading order."""
    group = Chat(id=-100777, type="supergroup")
    await person.send("/start campaign_link")
    await person.press(callback_data="langs")
    await person.press(callback_data=f"lang:{locale}")
    await person.send("hello")  # text where a button is expected
    await person.press(callback_data="read")
    await person.press(callback_data="sign")
    await person.press(callback_data="optin")
    await person.press(callback_data="optin")
    await person.press(callback_data="notnow")
    await person.press(callback_data="sign")
    await person.press(callback_data="agree")
    await person.send("x" * 150)  # too long
    await person.send("12345")  # no letter
    await person.send("see https://example.org")  # a link
    await person.send("Maria\u202eSantos")  # a bidi override
    await person.send("Maria\u2028Santos")  # a line separator
    await person.send("Maria\u3164Santos")  # a Hangul filler: shows as blank
    await person.send("Ma" + "\u0301" * 12 + "ria")  # marks stacked on one letter
    await person.send_other("sticker")
    await person.press(callback_data="asme")
    await person.send_other("photo")
    await person.send("Atlantis")  # no such country
    await person.send("sa")  # too many matches
    await person.send("united")  # a pick-list
    await person.press(callback_data="ctyother")
    await person.press(callback_data="cty:DE")
    await person.press(callback_data="confirm")  # an older review's button, with no form on it: the review again
    await person.press(callback_data="chname")
    await person.send(SAMPLE_NAME)
    await person.press(callback_data="chform")  # an older review's button: the review again
    await person.press(callback_data="chcountry")
    await person.press(callback_data="cty:VC")  # Saint Vincent and the Grenadines: a long country name
    await person.press(callback_data="confirm:full")  # "Sign as …": the form chosen, and signed
    await person.press(callback_data="confirm:full")  # a second tap
    await person.send("/start")  # signed already
    await person.send("hello")
    await person.send("/mysignature")
    receipt = _receipt_shown(person)
    await person.press(callback_data="nfchange")  # how my name appears: narrower forms from what is stored
    await person.press(callback_data="nfkeep")
    await person.press(callback_data="nfchange")
    await person.press(callback_data="nfset:first_initial")
    await person.press(callback_data="nfset:first_initial")  # a stale button: already narrowed
    await person.press(callback_data="nfchange")
    await person.press(callback_data="nfwide")  # to show more, the name is typed again
    await person.send_other("sticker")
    await person.send("/cancel")
    await person.press(callback_data="nfchange")
    await person.press(callback_data="nfwide")
    await person.send(SAMPLE_NAME)
    await person.send("full")  # text where a button is expected
    await person.press(callback_data="nf:full")
    await person.send("/mysignature")
    await person.send(f"/verify {receipt.lower()}")  # on the list
    await person.send(f"/verify {receipt}", chat=group)
    await person.send("/verify ZZZZ-ZZZZ")  # not on the list
    await person.send("/verify hello")  # not a receipt
    await person.send("/verify")
    # Once the list has been delivered to the addressees (``python -m bot deliver``).
    services = person.core.services
    with contextlib.suppress(DeliveryError):  # nothing signed (a broken catalog stopped the rehearsal earlier)
        await record_delivery(
            services.db, services.campaign.slug, recipient="Embassy of the PRC", delivered_on=datetime.now(UTC).date()
        )
    await person.send(f"/verify {receipt}")  # delivered
    await person.send("/mysignature")
    await person.send("/updates")
    await person.press(callback_data="updates:off")
    await person.press(callback_data="updates:on")
    await person.press(callback_data="stopnews")
    await person.press(callback_data="stopnews")  # already stopped
    await person.send("/remove")
    await person.send("/remove ZZZZ-ZZZZ")
    await person.send(f"/remove {receipt}")
    await person.press(callback_data="rmno")
    await person.send("/privacy")
    await person.send("/help")
    await person.send("/language")
    await person.send("/cancel")
    await person.send("/nonsense")
    await person.edit_last("edited")
    await person.forward("forwarded")
    await person.send("/withdraw")
    await person.press(callback_data="wdno")
    await person.send("/withdraw")
    await person.press(callback_data="wdyes")
    await person.send("/mysignature")
    await person.send("/withdraw")
    await person.press(callback_data="wdyes")  # a stale button
    await person.send("/cancel")
    await person.send(f"/start@{person.core.services.bot_username}", chat=group)  # the pointer to a private chat
    await person.press(callback_data="read", chat=group)  # an old button in a group: answered without a word
    # The organisers' commands (this supporter is also an organiser).
    await person.send("/stats")
    await person.send("/export")
    await person.send("/export pdf please")  # not a format: the usage message
    await person.send("/export csv ids")  # Telegram ids never go through a chat: the command line
    await _broadcasting(person, locale)
    # After CAMPAIGN_END, what a signing input (the Sign button, a typed name…) is answered with.
    services = person.core.services
    ended = closed.text(services.i18n.get(locale), services.campaign.ends or datetime.now(UTC).date())
    person.exchanges.append(Exchange("[presses sign after the campaign closed]", [SendMessage(USER_ID, ended)]))


async def _broadcasting(person: InProcessUser, locale: str) -> None:
    """The organiser's /broadcast, then what recipients and the organiser see while it is sent."""
    await person.send("/broadcast status")  # nothing sent yet
    await person.send("/broadcast cancel")
    await person.send("/broadcast")
    await person.send("[xx]\nHello")  # an unknown language tag
    await person.send("[de]\nHallo\n[de]\nNoch einmal")  # a tag twice
    await person.send("[de]\n")  # an empty section
    await person.send("x" * 3600)  # too long
    await person.send("[de]\nHallo zusammen")  # a text for one language only
    await person.press(callback_data="bcredo")
    await person.send("The letter was delivered today. Thank you for signing!")
    await person.press(callback_data=_last_button(person, "bcsend"))
    await person.send("/broadcast status")
    await person.send("/broadcast cancel")
    await person.send("/broadcast")
    await person.press(callback_data="bcdrop")
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


def _last_button(person: InProcessUser, prefix: str) -> str:
    """The callback data of the last button starting with ``prefix`` the bot showed."""
    for exchange in reversed(person.exchanges):
        for reply in reversed(exchange.replies):
            keyboard: Keyboard = reply.buttons if isinstance(reply, SendMessage | EditMessage) else ()
            for row in keyboard:
                for button in row:
                    if button.callback_data and button.callback_data.startswith(prefix):
                        return button.callback_data
    return prefix


def _receipt_shown(person: InProcessUser) -> str:
    """The receipt code the supporter was shown last (``K7QF-2M9D``)."""
    for exchange in reversed(person.exchanges):
        for reply in exchange.replies:
            if isinstance(reply, SendMessage | EditMessage) and (found := _RECEIPT.search(reply.text)):
                return found[1]
    return "ZZZZ-ZZZZ"


# A plausible value after each button's action ("cty:DE"), for pressing buttons out of turn.
_ARGUMENTS = {"lang": "de", "cty": "DE", "nf": "full", "nfset": "first_initial", "confirm": "full", "bcsend": "1"}


async def _every_button_and_command(person: InProcessUser, locale: str) -> None:
    """Every button of the conversation map pressed, and every command sent, out of turn, by a
    second person before signing, once signed, and after withdrawing: the pop-ups and replies of
    every state (the walk reaches each in one state only). Their replies are checked, not shown."""
    ana = User(id=USER_ID + 1, first_name="Ana", language_code=person.user.language_code)
    other = InProcessUser(person.core, ana, settle=person.settle)
    other.exchanges = person.exchanges

    store, key = person.core.store, f"state:{ana.id}"

    async def sweep() -> None:
        """Each button and command from the same state: the conversation's is put back after
        each (a press of "sign" must not carry the next press into the consent step)."""
        kept = await store.load(key)
        for action in BUTTONS:
            argument = _ARGUMENTS.get(action, "")
            await other.press(callback_data=f"{action}:{argument}" if argument else action)
            await _put_back(key, kept)
        for command in COMMANDS:
            await other.send(f"/{command}")
            await _put_back(key, kept)

    async def _put_back(key: str, kept: dict[str, object] | None) -> None:
        if kept is None:
            await store.delete(key)
        else:
            await store.save(key, kept, 3600)

    await sweep()  # never signed
    await other.send("/start")
    for action in ("sign", "agree", "asme"):
        await other.press(callback_data=action)
    await other.send("Germany")
    await other.press(callback_data="confirm:full")
    await sweep()  # signed
    await other.send("/withdraw")
    await other.press(callback_data="wdyes")
    await sweep()  # withdrawn


async def rehearse(
    locale: str,
    locales_dir: Path = LOCALES_DIR,
    *,
    migrated: Path | None = None,
    campaign: str = "xinjiang",
    every_state: bool = False,
) -> list[Exchange]:
    """The whole conversation of ``campaign`` (``CAMPAIGN``) as a supporter whose Telegram is set to
    ``locale`` sees it, even in a language not offered to signers yet.

    ``migrated``: an already migrated SQLite file to start from (a copy is used), so that
    rehearsing every language migrates once, not once per language. ``every_state`` (for
    ``i18n check``) adds every button and command out of turn, in every state.
    """
    with tempfile.TemporaryDirectory(prefix="undersign-preview-") as scratch:
        path = Path(scratch) / "preview.db"
        url = f"sqlite+aiosqlite:///{path}"
        if migrated is None:
            await upgrade(url)
        else:
            shutil.copyfile(migrated, path)
        db = Database(url)
        try:
            core = _rehearsal_core(db, campaign, locales_dir, organiser=USER_ID)
            person = InProcessUser(core, _supporter(locale), settle=True)
            await _walk(person, locale)
            if every_state:
                await _every_button_and_command(person, locale)
                await _several_campaigns(person, campaign, locales_dir, Path(scratch), db)
            return person.exchanges
        finally:
            await db.dispose()


def _rehearsal_core(
    db: Database, campaign: str, locales_dir: Path, *, organiser: int, campaigns_dir: Path = CAMPAIGNS_DIR
) -> Core:
    """The conversation as the bot runs it, for one rehearsing person who is also an organiser."""
    return build_core(
        store=MemoryStateStore(),
        db=db,
        campaign=campaign,
        campaigns_dir=campaigns_dir,
        default_locale="en",
        admin_ids=frozenset({organiser}),
        state_ttl=3600,
        bot_username="undersign_bot",
        locales_dir=locales_dir,
        flood_limit=10_000,  # one person taking every step at once: no flood control here
        translation_threshold=0,  # rehearse every catalog, however far its translation is
    )


async def _several_campaigns(
    person: InProcessUser, campaign: str, locales_dir: Path, scratch: Path, db: Database
) -> None:
    """What only several campaigns show, in this language: the choice of letters (one closed),
    a coalition letter's consent toggles (news about future campaigns, a partner), the other
    letters signed, consents in /mysignature and /updates and their withdrawal, and the
    organisers' help, headings and pickers, with a message to the organisation's list. The campaigns are copies of ``campaign`` (its texts are
    translated), so every reply is checked against Telegram's limits as the real ones will be."""
    home = campaign_path(campaign)
    text = home.read_text(encoding="utf-8")
    slug = person.core.services.campaign.slug
    folder = scratch / "campaigns"
    folder.mkdir(exist_ok=True)
    (folder / home.name).write_text(text, encoding="utf-8")
    coalition = text.replace(f'slug = "{slug}"', 'slug = "coalition"\nfuture_campaigns = true', 1)
    coalition += '\n[[partners]]\nkey = "partner"\nname = "Uyghur Human Rights Project"\n'
    (folder / "coalition.toml").write_text(coalition, encoding="utf-8")
    closed = text.replace(f'slug = "{slug}"', 'slug = "closed"\nends = 2020-01-01', 1)
    (folder / "closed.toml").write_text(closed, encoding="utf-8")
    other = USER_ID + 2
    core = _rehearsal_core(db, campaign, locales_dir, organiser=other, campaigns_dir=folder)
    ana = InProcessUser(
        core, User(id=other, first_name="Ana", language_code=person.user.language_code), settle=person.settle
    )
    ana.exchanges = person.exchanges
    await ana.send("/start")  # the choice of letters
    await ana.press(callback_data="camp:closed")
    await ana.press(callback_data="sign")  # closed
    await ana.send("/mysignature")  # no signature on a closed letter
    await ana.send(f"/start {slug}")
    for action in ("sign", "agree", "asme"):
        await ana.press(callback_data=action)
    await ana.send("Germany")
    await ana.press(callback_data="confirm:full")
    await ana.press(callback_data="camp:coalition")
    for action in ("sign", "future", "future", "future", "partner:partner", "partner:partner", "partner:partner"):
        await ana.press(callback_data=action)  # each toggle both ways, ticked in the end
    for action in ("agree", "asme"):
        await ana.press(callback_data=action)
    await ana.send("Germany")
    await ana.press(callback_data="confirm:full")
    await ana.send("/mysignature")  # this letter's record, then the other letter signed
    await ana.press(callback_data=f"mysig:{slug}")
    await ana.send("/updates")
    await ana.send("/start coalition")
    await ana.send("/updates")
    await ana.press(callback_data="partneroff:partner~coalition")
    await ana.send("/help")
    await ana.send("/stats coalition")
    await ana.send("/stats")  # which letter
    await ana.send("/export xlsx")  # which letter
    await ana.send("/broadcast")  # to whom: a letter's subscribers, or the organisation's list
    await ana.press(callback_data="bcto:*")
    await ana.send("A new letter opens next week.")  # the list's message as its members read it
    await ana.send("/cancel")
    await ana.send(f"/start {slug}")
    await ana.send("/withdraw")
    await ana.press(callback_data="wdyes")  # "you still get news about future campaigns"
    await ana.send("/start coalition")
    await ana.send("/withdraw")
    await ana.press(callback_data="wdyes")  # "... has ended with it"


@asynccontextmanager
async def migrated_database() -> AsyncIterator[Path]:
    """A migrated SQLite file in a scratch folder, for ``rehearse(..., migrated=...)``."""
    with tempfile.TemporaryDirectory(prefix="undersign-preview-") as scratch:
        path = Path(scratch) / "migrated.db"
        await upgrade(f"sqlite+aiosqlite:///{path}")
        yield path


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
