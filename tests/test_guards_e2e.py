"""Who the bot obeys and where it speaks, through the real bot process and the emulator.

Forged updates (what anyone holding a leaked webhook secret could send) are injected
raw with ``Emulator.post_update``: an organiser's ``from`` in someone else's chat, a
private message without ``from``, a forged button. Groups: only ``/verify`` and
``/cmd@thisbot`` are answered, a few times a minute. Telegram ids never go into a chat.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli.export import export
from emulator.emulator import BOT_USERNAME
from emulator.users import SimulatedGroup, SimulatedUser, command_entities
from handlers import groups, organiser
from storage.db import Database
from tests.signers import add_signer
from tests.test_organiser_e2e import ADMIN, leftovers, next_message, quiet, seed
from tests.test_signing_e2e import has, until

NOBODYS = "nobody's"
_message_ids = itertools.count(90_000)


def raw_message(chat: dict[str, Any], text: str, sender: dict[str, Any] | None) -> dict[str, Any]:
    """A Bot API message as a forger would write it (``sender`` None: no ``from`` at all)."""
    message: dict[str, Any] = {"message_id": next(_message_ids), "date": int(time.time()), "chat": chat, "text": text}
    if sender is not None:
        message["from"] = sender
    entities = command_entities(text)
    if entities:
        message["entities"] = entities
    return message


async def logged(caplog: pytest.LogCaptureFixture, text: str, count: int, within: float = 20) -> None:
    """Wait until the bot has logged ``text`` ``count`` times (the updates were handled)."""
    async with asyncio.timeout(within):
        while caplog.text.count(text) < count:  # noqa: ASYNC110 - nothing else tells a silent update was handled
            await asyncio.sleep(0.02)


def sent_to(bot: Any, chat_id: int) -> list[Any]:
    """Every call the bot made that sends or edits something in ``chat_id``, accepted or not."""
    return [
        call
        for call in bot.calls
        if call.method in {"sendMessage", "sendDocument", "sendPhoto", "editMessageText"}
        and call.params.get("chat_id") in (chat_id, str(chat_id))
    ]


@pytest.fixture
def exports_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the bot writes its exports, for this test alone (so "nothing left" can be checked)."""
    root = tmp_path / "exports"
    monkeypatch.setattr(organiser, "EXPORTS_ROOT", root)
    return root


@pytest.fixture
async def guarded_bot(start_one_bot: Any, exports_root: Path) -> Any:
    bot = await start_one_bot(core="real", admin_ids=frozenset({ADMIN}))
    await seed(bot.settings.database_url)
    return bot


async def started(user: SimulatedUser) -> SimulatedUser:
    """A person who has opened the chat with the bot, so a message to them would arrive."""
    await user.send("/start")
    await until(user, has("mass internment"))
    return user


async def test_an_organiser_s_from_in_someone_else_s_chat_sends_nothing_there(
    guarded_bot: Any, exports_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await forged_organiser_updates_send_nothing(guarded_bot, exports_root, caplog)


@pytest.mark.postgres
@pytest.mark.redis
async def test_forged_organiser_updates_on_postgres_and_redis(
    start_webhook_bot: Any,
    exports_root: Path,
    scratch_postgres_url: str,
    redis_url: str,
    state_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = await start_webhook_bot(
        core="real",
        admin_ids=frozenset({ADMIN}),
        database_url=scratch_postgres_url,
        redis_url=redis_url,
        redis_prefix=state_prefix,
    )
    await seed(bot.settings.database_url)
    await forged_organiser_updates_send_nothing(bot, exports_root, caplog)


async def forged_organiser_updates_send_nothing(bot: Any, exports_root: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    admin = bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    victim = await started(bot.emulator.user(6001, first_name="Vi", language_code="en"))
    await quiet(bot, victim)
    before = len(sent_to(bot.emulator, victim.chat_id))
    forged = ["/stats", "/export", "/export csv", "/broadcast", "/broadcast status", "/remove K7QF2M9D", "/start"]
    for text in forged:
        bot.emulator.post_update(
            "message", raw_message(victim.conversation.chat, text, admin.to_json()), victim.chat_id
        )
    await logged(caplog, NOBODYS, len(forged))
    await quiet(bot, victim, admin)
    assert sent_to(bot.emulator, victim.chat_id)[before:] == []
    assert sent_to(bot.emulator, admin.chat_id) == []
    assert bot.emulator.calls_to("sendDocument") == []
    assert "admin 5001" not in caplog.text  # no organiser action was taken
    assert leftovers(exports_root) == []

    # A forged press of an organiser's button in that chat: answered without a word, nothing done.
    query_id, answered = bot.emulator.open_callback()
    query = {
        "id": query_id,
        "from": admin.to_json(),
        "message": {**raw_message(victim.conversation.chat, "Send?", bot.emulator.bot_sender)},
        "chat_instance": "1",
        "data": "bcsend:000000000000",
    }
    bot.emulator.post_update("callback_query", query, victim.chat_id)
    answer = await asyncio.wait_for(answered, 20)
    assert answer.text is None
    await quiet(bot, victim, admin)
    assert sent_to(bot.emulator, victim.chat_id)[before:] == []

    # The organiser's own chat still works as before.
    await admin.send("/stats")
    assert "Signatures: 5 of" in (await next_message(admin)).text
    assert bot.emulator.rejected == []


async def test_a_private_message_without_from_is_nobody_s(
    guarded_bot: Any, exports_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bot = guarded_bot
    admin = bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    await admin.send("/help")  # the organiser's chat is open: a reply to it would arrive
    await next_message(admin)
    await quiet(bot, admin)
    before = len(sent_to(bot.emulator, admin.chat_id))
    for text in ("/stats", "/export", "/broadcast", "/start", "hello"):
        bot.emulator.post_update("message", raw_message(admin.conversation.chat, text, None), admin.chat_id)
    await logged(caplog, NOBODYS, 5)
    await quiet(bot, admin)
    assert sent_to(bot.emulator, admin.chat_id)[before:] == []
    assert bot.emulator.calls_to("sendDocument") == []
    assert "admin 5001: /" not in caplog.text and "Traceback" not in caplog.text
    await admin.send("/stats")  # no crash: the bot goes on
    assert "Signatures: 5 of" in (await next_message(admin)).text


async def test_an_organiser_in_a_group_gets_no_organiser_answer(
    guarded_bot: Any, exports_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bot = guarded_bot
    admin = bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    group = bot.emulator.group(-100777, title="Organisers")
    for text in ("/stats", "/export", "/export csv ids", "/broadcast"):
        await group.send(admin, text)  # not addressed to the bot: silent
    await group.send(admin, f"/stats@{BOT_USERNAME}")
    pointer = await group.wait_message(timeout=20)
    assert pointer.text == "To read the letter and sign it, please open a private chat with me."
    await quiet(bot, group, admin)
    assert len(group.messages) == 1
    assert bot.emulator.calls_to("sendDocument") == [] and bot.emulator.calls_to("sendPhoto") == []
    assert "admin 5001" not in caplog.text


# --- groups --------------------------------------------------------------------------------


async def answered_in(group: SimulatedGroup, bot: Any) -> int:
    await quiet(bot)
    return len(group.messages)


async def test_in_a_group_only_verify_and_addressed_commands_are_answered(
    guarded_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bot = guarded_bot
    ada = bot.emulator.user(6101, first_name="Ada", language_code="en")
    group = bot.emulator.group(-100778, title="Diaspora")
    for text in ("/start", "/help", "/mysignature", "/start@other_bot", "hello", "/verify@other_bot K7QF2M9D"):
        await group.send(ada, text)
    await group.send_other(ada, "sticker")
    await group.send(ada, f"/START@{BOT_USERNAME.upper()}")  # usernames are case-insensitive
    pointer = await group.wait_message(timeout=20)
    assert "open a private chat" in pointer.text
    assert [button.url for row in pointer.buttons for button in row] == [f"https://t.me/{BOT_USERNAME}?start=group"]
    await group.send(ada, "/verify K7QF2M9D")
    assert "No signature with the receipt" in (await group.wait_message(timeout=20)).text
    await group.send(ada, f"/verify@{BOT_USERNAME}")
    assert "/verify followed by its receipt code" in (await group.wait_message(timeout=20)).text
    assert await answered_in(group, bot) == 3

    # A button pressed on an old message in the group: the spinner stops, nothing is said.
    query_id, answered = bot.emulator.open_callback()
    query = {
        "id": query_id,
        "from": ada.to_json(),
        "message": raw_message(group.conversation.chat, "Read the letter", bot.emulator.bot_sender),
        "chat_instance": "2",
        "data": "sign",
    }
    bot.emulator.post_update("callback_query", query, group.chat_id)
    answer = await asyncio.wait_for(answered, 20)
    assert (answer.text, answer.show_alert) == (None, False)
    assert await answered_in(group, bot) == 3
    assert bot.emulator.rejected == []


async def test_thirty_commands_a_minute_in_a_group_get_a_few_answers(
    guarded_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await thirty_commands_get_a_few_answers(guarded_bot, caplog)


@pytest.mark.redis
async def test_a_group_s_answers_are_counted_in_redis(
    start_webhook_bot: Any, redis_url: str, state_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await start_webhook_bot(core="real", redis_url=redis_url, redis_prefix=state_prefix)
    await thirty_commands_get_a_few_answers(bot, caplog)


async def thirty_commands_get_a_few_answers(bot: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    members = [bot.emulator.user(6200 + n, first_name=f"M{n}", language_code="en") for n in range(5)]
    group = bot.emulator.group(-100779, title="Flooded")
    for n in range(30):
        text = f"/help@{BOT_USERNAME}" if n % 3 else "/verify K7QF2M9D"
        await group.send(members[n % len(members)], text)
    await logged(caplog, "answers a minute: silent", 30 - groups.PER_MINUTE)
    assert await answered_in(group, bot) == groups.PER_MINUTE
    other = bot.emulator.group(-100780, title="Another group")
    await other.send(members[0], f"/start@{BOT_USERNAME}")  # each group has its own allowance
    assert "open a private chat" in (await other.wait_message(timeout=20)).text


# --- Telegram ids ----------------------------------------------------------------------------


async def test_telegram_ids_leave_only_through_the_command_line(
    guarded_bot: Any, exports_root: Path, tmp_path: Path
) -> None:
    bot = guarded_bot
    admin = bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    for text in ("/export csv ids", "/export xlsx ids", "/export ids", "/export IDS pdf"):
        await admin.send(text)
        refused = (await next_message(admin)).text
        assert "Telegram ids are never sent through a chat" in refused
        assert "python -m bot export --format csv --with-ids -o signatories.csv" in refused
    await quiet(bot, admin)
    assert bot.emulator.calls_to("sendDocument") == []
    for fmt in ("csv", "xlsx"):
        await admin.send(f"/export {fmt}")
        document = await until(admin, lambda message: message.document is not None)
        assert document.document is not None
        assert b"telegram_user_id" not in document.document.data and b"9000" not in document.document.data
        await until(admin, has("Export ready"))
    await quiet(bot, admin)
    # The command line still writes them, on the server.
    output = tmp_path / "with-ids.csv"
    env = {"DATABASE_URL": bot.settings.database_url, "CAMPAIGN": "xinjiang"}
    result = await asyncio.to_thread(
        CliRunner().invoke, export, ["--format", "csv", "--with-ids", "-q", "-o", str(output)], env=env
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(output.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0][-1] == "telegram_user_id"
    assert {row[-1] for row in rows[1:]} == {str(9000 + n) for n in range(5)}


async def test_organiser_answers_show_no_telegram_ids(guarded_bot: Any) -> None:
    """/stats and /remove show counts, names and receipts, never a signer's Telegram id."""
    bot = guarded_bot
    admin = bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    db = Database(bot.settings.database_url)
    try:
        signature = await add_signer(db, 987_654_321, name="Idris")
    finally:
        await db.dispose()
    await admin.send("/stats")
    assert "987654321" not in (await next_message(admin)).text
    await admin.send(f"/remove {signature.receipt}")
    asked = await until(admin, has("Remove this signature"))
    assert "Idris" in asked.text and "987654321" not in asked.text
    await admin.press("🗑 Remove")
    removed = await until(admin, has("no longer on the list"))
    assert "987654321" not in removed.text
