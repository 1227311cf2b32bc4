"""``/broadcast`` through the emulator: an organiser writes, previews, sends, follows and cancels.

The real bot (real core, real HTTP, the emulator) on a SQLite file, with signers
seeded in several languages; the sender (``bot.broadcasting``) runs inside the bot
and delivers to the simulated recipients.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.translations.preview import plain
from emulator import Emulator
from emulator.emulator import BOT_USERNAME
from emulator.objects import BotMessage
from emulator.users import SimulatedUser
from handlers import broadcast
from handlers.broadcast import DraftProblem, parse_sections
from handlers.i18n import I18n
from handlers.news import STOP_UPDATES, news_message
from handlers.state import ConversationState, Step
from handlers.turn import Services
from petition.campaign import load_campaign
from storage import broadcasts
from storage.db import Database
from storage.models import Broadcast, Delivery, Signature
from storage.state_memory import MemoryStateStore
from tests.fixtures.botapp import bot_factory
from tests.signers import add_signer
from tests.test_broadcast_sender import _until
from tests.test_signing_e2e import has, read_and_agree, until

ADMIN = 5001
OTHER = 5002
# (user id, language, opted in, unreachable)
SIGNERS = [
    (7001, "en", True, False),
    (7002, "de", True, False),
    (7003, "de", True, False),
    (7004, "fr", True, False),
    (7005, "ug", True, False),
    (7006, "en", False, False),  # did not ask for news
    (7007, "de", True, True),  # blocked the bot during an earlier update
]
RECIPIENTS = [s for s in SIGNERS if s[2] and not s[3]]
HOSTILE = 'Hello <b>all</b> & "friends" =HYPERLINK("http://x") <script>'
LOCALES = I18n().locales


async def seed(database_url: str, signers: list[tuple[int, str, bool, bool]] = SIGNERS) -> None:
    db = Database(database_url)
    try:
        for user_id, language, opt_in, unreachable in signers:
            signature = await add_signer(db, user_id, language=language, opt_in=opt_in)
            if unreachable:
                async with db.transaction() as session:
                    row = await session.get_one(Signature, signature.id)
                    row.unreachable_at = row.signed_at
    finally:
        await db.dispose()


def recipient(bot: Any, user_id: int, language: str) -> SimulatedUser:
    user: SimulatedUser = bot.emulator.user(user_id, first_name=f"S{user_id}", language_code=language)
    user.started = True  # they signed through the bot: it may write to them
    return user


@pytest.fixture(params=["aiogram", "ptb"])
async def organiser_bot(request: pytest.FixtureRequest, emulator: Emulator, tmp_path: Path) -> AsyncIterator[Any]:
    async with bot_factory(request.param, "webhook", emulator, tmp_path) as start:
        bot = await start(core="real", admin_ids=frozenset({ADMIN}))
        await seed(bot.settings.database_url)
        yield bot


async def stored(bot: Any) -> tuple[list[Broadcast], list[tuple[str, str]]]:
    """The broadcasts, and (signature language, delivery status) of every delivery."""
    db = Database(bot.settings.database_url)
    try:
        async with db.session() as session:
            found = list(await session.scalars(select(Broadcast).order_by(Broadcast.id)))
            rows = await session.execute(
                select(Signature.language, Delivery.status)
                .join(Signature, Signature.id == Delivery.signature_id)
                .order_by(Signature.language)
            )
            return found, [(str(language), str(status)) for language, status in rows]
    finally:
        await db.dispose()


async def compose(admin: SimulatedUser, text: str, previews: int) -> tuple[list[BotMessage], BotMessage]:
    """Send the draft text; the preview messages and the summary with its buttons."""
    await admin.send(text)
    messages = await admin.wait_messages(previews + 1, timeout=20)
    return messages[:-1], messages[-1]


async def test_an_organiser_writes_per_language_previews_and_sends(
    organiser_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bot = organiser_bot
    people = {user_id: recipient(bot, user_id, language) for user_id, language, _, _ in SIGNERS}
    admin = bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    await admin.send("/broadcast")
    intro = await until(admin, has("Write your message"))
    assert "5 people who asked for news" in intro.text
    assert "[de]" in intro.text and "[all]" in intro.text

    previews, summary = await compose(admin, f"{HOSTILE}\n[de]\nHallo <i>alle</i>\n[fr]\nBonjour & bienvenue", 3)
    german, french, others = previews
    assert german.text.startswith("Preview for Deutsch:")
    assert "Hallo <i>alle</i>" in german.text  # the organiser's text is shown as typed, never as markup
    assert "Bonjour & bienvenue" in french.text
    assert "Preview for every other language (shown here in English)" in others.text
    assert HOSTILE in others.text
    assert "News about the letter" in others.text and "/updates" in others.text
    lines = summary.text.splitlines()
    assert "Deutsch: 2 · its own text" in lines
    assert "Français: 1 · its own text" in lines
    assert "English: 1 · the text for every other language" in lines
    assert "ئۇيغۇرچە: 1 · the text for every other language" in lines
    assert "In total: 5 people." in lines
    assert summary.button_labels == ["📨 Send to 5 people", "✏️ Start over", "✖️ Cancel"]

    answer = await admin.press("📨 Send to 5 people")
    assert not answer.show_alert
    progress = await until(admin, lambda m: m.message_id == summary.message_id and m.edited)
    assert "of 5" in progress.text
    assert progress.buttons == []

    # Each recipient gets their language's text, escaped, with the one-tap Stop updates button.
    expected = {7001: HOSTILE, 7002: "Hallo <i>alle</i>", 7003: "Hallo <i>alle</i>", 7004: "Bonjour", 7005: HOSTILE}
    for user_id, _, _, _ in RECIPIENTS:
        news = await until(people[user_id], has(expected[user_id]), within=30)
        assert news.buttons[-1][0].callback_data == STOP_UPDATES
    await until(admin, lambda m: m.message_id == summary.message_id and "Done: 5 of 5 received it." in m.text)
    for silent in (7006, 7007):
        assert people[silent].messages == []

    found, deliveries = await stored(bot)
    assert [(b.kind, b.total, b.status, b.created_by) for b in found] == [("message", 5, "done", ADMIN)]
    assert found[0].progress_message_id == summary.message_id
    assert sorted(deliveries) == sorted((language, "sent") for _, language, _, _ in RECIPIENTS)

    await admin.send("/broadcast status")
    status = await until(admin, has("By language"))
    assert "Done: 5 of 5 received it." in status.text
    assert "Deutsch: 2 of 2" in status.text.splitlines()
    await admin.send("/broadcast cancel")
    assert "Nothing is being sent right now" in (await admin.wait_message(timeout=20)).text

    # The organiser's actions are logged; the text and the signers never are.
    assert "admin 5001: /broadcast" in caplog.text
    for secret in ("Hallo", "Bonjour", "HYPERLINK", "Signer 70"):
        assert secret not in caplog.text
    assert bot.emulator.rejected == []


async def test_a_language_without_a_text_is_refused_until_it_has_one(organiser_bot: Any) -> None:
    admin = organiser_bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    await admin.send("/broadcast")
    await until(admin, has("Write your message"))
    _, summary = await compose(admin, "[de]\nHallo", 1)
    assert "Nobody will receive it in: English [en], Français [fr], ئۇيغۇرچە [ug]." in summary.text
    assert summary.button_labels == ["✏️ Start over", "✖️ Cancel"]
    # Sections add up: a text for everyone else completes the draft.
    previews, complete = await compose(admin, "[all]\nHello everyone", 2)
    assert [p.text.split("\n")[0] for p in previews] == [
        "Preview for Deutsch:",
        "Preview for every other language (shown here in English):",
    ]
    assert complete.button_labels[0] == "📨 Send to 5 people"
    _, changed = await compose(admin, "[fr]\nBonjour", 3)
    # The Send button of an earlier preview never sends the draft as it is now.
    stale = await admin.press("📨 Send to 5 people", message_id=complete.message_id)
    assert stale.show_alert and "out of date" in (stale.text or "")
    # Start over empties the draft; Cancel ends composing with nothing sent.
    await admin.press("✏️ Start over", message_id=changed.message_id)
    assert "empty again" in (await until(admin, lambda m: m.edited)).text
    _, summary = await compose(admin, "Only one text", 1)
    await admin.press("✖️ Cancel", message_id=summary.message_id)
    assert "Nothing was sent" in (await until(admin, lambda m: m.edited)).text
    closed = await admin.press("📨 Send to 5 people", message_id=complete.message_id)
    assert closed.show_alert and "draft is closed" in (closed.text or "")
    await admin.send("Just chatting")  # no longer composing: an ordinary first message, answered with the letter
    assert "mass internment" in (await admin.wait_message(timeout=20)).text
    found, _ = await stored(organiser_bot)
    assert found == []
    assert organiser_bot.emulator.rejected == []


async def test_a_draft_that_outlived_its_sending_is_not_sent_twice(organiser_bot: Any) -> None:
    """A worker died right after creating the broadcast, before the organiser's cleared draft
    was saved: the Send button still works, and pressing it again must not send twice."""
    db = Database(organiser_bot.settings.database_url)
    try:
        first = await broadcasts.create_broadcast(db, campaign="xinjiang", texts={"": "Same news"}, created_by=ADMIN)
    finally:
        await db.dispose()
    admin = organiser_bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    await admin.send("/broadcast")
    await until(admin, has("Write your message"))
    _, summary = await compose(admin, "Same news", 1)
    again = await admin.press("📨 Send to 5 people", message_id=summary.message_id)
    assert again.show_alert and "already sent exactly this message" in (again.text or "")
    found, _ = await stored(organiser_bot)
    assert [b.id for b in found] == [first.id]
    # Composing is over; a different text is sent as usual.
    await admin.send("/broadcast")
    await until(admin, has("Write your message"))
    _, summary = await compose(admin, "Other news", 1)
    await admin.press("📨 Send to 5 people", message_id=summary.message_id)
    await until(admin, lambda m: m.edited and "of 5" in m.text)
    found, _ = await stored(organiser_bot)
    assert len(found) == 2


async def test_mistakes_in_the_text_get_clear_answers(organiser_bot: Any) -> None:
    admin = organiser_bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    await admin.send("/broadcast")
    await until(admin, has("Write your message"))
    cases = {
        "[xx]\nSomething": "I don't know the language [xx].",
        "[de]\n\n[fr]\nBonjour": "The text after [de] is empty.",
        "[de]\nEins\n[DE]\nZwei": "[DE] appears twice in your message.",
        "Hello\n[all]\nHello again": "[all] appears twice in your message.",
        "[de]\n" + "ä" * 3501: "The text for [de] is too long: 3,501 characters, at most 3,500.",
    }
    for text, answer in cases.items():
        await admin.send(text)
        assert answer in (await admin.wait_message(timeout=20)).text
    found, _ = await stored(organiser_bot)
    assert found == []


async def test_broadcast_is_an_unknown_command_to_everyone_else(organiser_bot: Any) -> None:
    user = organiser_bot.emulator.user(OTHER, first_name="Bo", language_code="en")
    await user.send("/nonsense")
    unknown = (await user.wait_message(timeout=20)).text
    for command in ("/broadcast", "/broadcast status", "/broadcast cancel", "/broadcast now"):
        await user.send(command)
        assert (await user.wait_message(timeout=20)).text == unknown
    await user.send("[all]\nHello")  # no draft for anyone but an organiser: their first words get the letter
    assert "mass internment" in (await user.wait_message(timeout=20)).text
    group = organiser_bot.emulator.group(-100777, title="Organisers")
    admin = organiser_bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    await group.send(admin, "/broadcast")  # not addressed to the bot: silent
    await group.send(admin, f"/broadcast@{BOT_USERNAME}")  # addressed: only the pointer to a private chat
    assert "private chat" in (await group.wait_message(timeout=20)).text
    found, _ = await stored(organiser_bot)
    assert found == []


async def test_an_organiser_mid_signing_keeps_the_signing_when_composing_stops(organiser_bot: Any) -> None:
    admin = organiser_bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    await read_and_agree(admin)  # asked for a name now
    await admin.send("/broadcast")
    await until(admin, has("Write your message"))
    _, summary = await compose(admin, "News for all", 1)  # the draft, not a name
    assert "In total: 5 people." in summary.text
    await admin.send("/cancel")
    assert "Stopped. Nothing was sent." in (await admin.wait_message(timeout=20)).text
    await admin.send("Org Anizer")  # the signing goes on where it was
    await until(admin, has("Which country"))
    found, _ = await stored(organiser_bot)
    assert found == []


async def test_status_before_any_broadcast_and_usage(organiser_bot: Any) -> None:
    admin = organiser_bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    await admin.send("/broadcast status")
    assert "No message has been sent" in (await admin.wait_message(timeout=20)).text
    await admin.send("/broadcast now")
    assert "Usage: /broadcast" in (await admin.wait_message(timeout=20)).text
    menu = organiser_bot.core.admin_menu_commands()[None]
    assert ("broadcast", "write to everyone who asked for news") in menu


async def test_cancel_stops_a_broadcast_midway(emulator: Emulator, tmp_path: Path) -> None:
    """A slow broadcast (the sender limited to 20 messages a second) cancelled after it started."""
    many = [(8000 + i, ["en", "de", "fr"][i % 3], True, False) for i in range(120)]
    async with bot_factory("aiogram", "webhook", emulator, tmp_path) as start:
        bot = await start(core="real", admin_ids=frozenset({ADMIN}), broadcast_rate=20)
        await seed(bot.settings.database_url, many)
        for user_id, language, _, _ in many:
            recipient(bot, user_id, language)
        admin = bot.emulator.user(ADMIN, first_name="Org", language_code="en")
        await admin.send("/broadcast")
        await until(admin, has("Write your message"))
        _, summary = await compose(admin, "A long broadcast", 1)
        await admin.press("📨 Send to 120 people")

        def reached() -> int:
            return sum(1 for user_id, *_ in many if bot.emulator.user(user_id).messages)

        async def sending() -> bool:
            return reached() >= 5

        async def all_recorded() -> bool:  # nothing claimed or in flight any more
            return all(status in ("sent", "cancelled") for _, status in (await stored(bot))[1])

        await _until(sending)
        # A second one queued behind it (from the command line): /broadcast cancel asks which.
        db = Database(bot.settings.database_url)
        try:
            queued = await broadcasts.create_broadcast(db, campaign="xinjiang", texts={"": "Next"}, language="de")
        finally:
            await db.dispose()
        await admin.send("/broadcast cancel")
        which = await until(admin, has("Several messages are being sent. Which one should stop?"))
        assert [b.callback_data for row in which.buttons for b in row] == [
            f"bcstop:{b.id}" for b in (await stored(bot))[0]
        ]
        await admin.press("✖️ 2", message_id=which.message_id)  # the queued one: nothing of it was sent
        await until(admin, has("Stopped. Nobody else will receive this message."))
        assert (await stored(bot))[0][1].status == "cancelled"
        again = await admin.press("✖️ 2", message_id=which.message_id)  # pressed again: no longer sending
        assert (again.text, again.show_alert) == ("This message is no longer being sent.", True)
        await admin.send("/broadcast cancel")  # one left: it stops at once
        stopped = await until(admin, has("Stopped. Nobody else will receive this message."))
        at_stop = reached()
        assert "Cancelled:" in stopped.text
        await _until(all_recorded)  # anything still in flight lands and is recorded
        received = reached()
        assert received - at_stop <= 4  # at most the requests already made (the sender's concurrency)
        await asyncio.sleep(0.3)  # the sender's next turn, were it to send again
        assert reached() == received
        assert 0 < received < 120
        found, deliveries = await stored(bot)
        assert [(b.id, b.status, b.total) for b in found] == [
            (found[0].id, "cancelled", 120),
            (queued.id, "cancelled", 40),
        ]
        statuses = {status for _, status in deliveries}
        assert statuses <= {"sent", "cancelled"}
        assert sum(1 for _, status in deliveries if status == "sent") == received
        progress = next(m for m in admin.messages if m.message_id == summary.message_id)
        assert "Cancelled:" in progress.text
        assert bot.emulator.rejected == []


# --- parsing, without the bot ----------------------------------------------------------------


def test_sections_are_parsed_forgivingly_and_strictly() -> None:
    assert parse_sections("  Hello  ", LOCALES) == {"": "Hello"}
    assert parse_sections("[DE]\nHallo\n[pt-br]\nOlá\n[zh_hans]\n你好\n[all]\nHi", LOCALES) == {
        "de": "Hallo",
        "pt_BR": "Olá",
        "zh_Hans": "你好",
        "": "Hi",
    }
    # A tag counts only on a line of its own: footnotes and brackets in sentences are text.
    assert parse_sections("See [1] and [de] here\n [fr] \nSalut", LOCALES) == {
        "": "See [1] and [de] here",
        "fr": "Salut",
    }
    assert parse_sections("\n\n", LOCALES) == {}
    with pytest.raises(DraftProblem) as problem:
        parse_sections("[zh]\n你好", LOCALES)  # two Chinese catalogs: ambiguous
    assert problem.value.kind == "unknown"
    emoji = "🎉" * 1751  # 3,502 UTF-16 code units: Telegram counts like this
    with pytest.raises(DraftProblem) as problem:
        parse_sections(emoji, LOCALES)
    assert (problem.value.kind, problem.value.length) == ("long", 3502)


def test_every_rendered_message_fits_telegram_s_limit() -> None:
    """The longest organiser text with the longest heading and footer of any language fits 4,096."""
    services = Services(
        db=None,  # type: ignore[arg-type]
        campaign=load_campaign("xinjiang"),
        i18n=I18n(),
        bot_username="bot",
        store=MemoryStateStore(),
        receipt_key=b"k",
    )
    text = "🎉" * (broadcast.TEXT_LIMIT // 2)
    sample = Broadcast(campaign="xinjiang", kind="message", texts={"": text})
    for locale in LOCALES:
        rendered, keyboard = news_message(services, sample, locale)
        assert len(plain(rendered).encode("utf-16-le")) // 2 <= 4096, locale
        assert keyboard[-1][0].callback_data == STOP_UPDATES


def test_the_draft_survives_in_the_state_record_and_junk_is_tolerated() -> None:
    state = ConversationState(step=Step.NAME, name="Ada", composing=True, draft={"de": "Hallo", "": "Hi"})
    again = ConversationState.from_dict(state.to_dict())
    assert (again.step, again.name, again.composing, again.draft) == (Step.NAME, "Ada", True, {"de": "Hallo", "": "Hi"})
    assert ConversationState.from_dict({"composing": True, "draft": "junk"}).draft is None
    assert ConversationState.from_dict({"composing": False, "draft": {"de": "x"}}).draft is None
    assert ConversationState.from_dict({"step": "name"}).composing is False  # a record from before broadcasts
