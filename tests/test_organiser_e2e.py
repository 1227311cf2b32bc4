"""/stats and /export through the emulator, as an organiser and as anyone else."""

from __future__ import annotations

import csv
import io
import logging
from typing import Any

import pytest

from bot.emulator.users import BotMessage, SimulatedUser
from storage import signatures
from storage.db import Database

ADMIN = 5001
NAMES = ["Ada Lovelace", '=HYPERLINK("http://x")', "ئەركىن تۇنىياز", "李小龍", 'Smith, "Jr"']


async def next_message(user: SimulatedUser, *, within: float = 20) -> BotMessage:
    return await user.wait_message(timeout=within)


async def seed(database_url: str, count: int = len(NAMES)) -> None:
    db = Database(database_url)
    try:
        for number, name in enumerate(NAMES[:count]):
            await signatures.add_signature(
                db,
                campaign="xinjiang",
                user_id=9000 + number,
                name=name,
                country=["DE", "FR", "KZ", "TW", "US"][number % 5],
                language="en",
                source="newsletter" if number % 2 else None,
                opt_in=number % 2 == 0,
                letter_version="v1",
                consent_version="c1",
            )
    finally:
        await db.dispose()


@pytest.fixture
async def organiser_bot(start_bot: Any) -> Any:
    bot = await start_bot(core="real", admin_ids=frozenset({ADMIN}))
    await seed(bot.settings.database_url)
    return bot


async def test_organiser_commands_are_unknown_commands_to_everyone_else(organiser_bot: Any) -> None:
    user = organiser_bot.emulator.user(5002, first_name="Bo", language_code="en")
    await user.send("/nonsense")
    unknown = (await next_message(user)).text
    for command in ("/stats", "/export", "/export pdf", "/export csv ids"):
        await user.send(command)
        assert (await next_message(user)).text == unknown
    assert organiser_bot.emulator.rejected == []


async def test_stats_for_an_organiser(organiser_bot: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    admin = organiser_bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    await admin.send("/stats")
    text = (await next_message(admin)).text
    assert "Signatures: 5 of 100,000 (0%)" in text
    assert "Germany: 1" in text
    assert "newsletter: 2" in text
    chart = await next_message(admin)
    assert chart.photo is not None
    assert chart.photo.startswith(b"\x89PNG")
    assert f"admin {ADMIN}: /stats" in caplog.text
    assert not any(name in caplog.text for name in NAMES)  # no signer's data in the logs
    assert organiser_bot.emulator.rejected == []


async def test_export_csv_matches_the_database_and_stats(organiser_bot: Any) -> None:
    admin = organiser_bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    db = Database(organiser_bot.settings.database_url)
    try:
        await signatures.withdraw_signature(db, "xinjiang", 9001)  # stats and export both drop it
    finally:
        await db.dispose()
    await admin.send("/export")
    progress = await next_message(admin)
    assert progress.text.startswith("Exporting…")
    document = await until_document(admin)
    assert document.document is not None
    assert document.document.filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(document.document.data.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert len(body) == 4
    names = [row[header.index(next(h for h in header if "name" in h.lower()))] for row in body]
    assert '\'=HYPERLINK("http://x")' not in names  # withdrawn
    assert {"Ada Lovelace", "ئەركىن تۇنىياز", "李小龍", 'Smith, "Jr"'} == set(names)
    assert not any("9000" in cell for row in body for cell in row)  # no Telegram ids unless asked
    assert (await next_message(admin)).text == "Export ready: 4 rows."  # the progress message, edited
    await admin.send("/stats")
    assert "Signatures: 4 of" in (await next_message(admin)).text
    assert organiser_bot.emulator.rejected == []


async def test_export_pdf_and_xlsx_and_a_wrong_format(organiser_bot: Any) -> None:
    admin = organiser_bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    for command, suffix in (("/export pdf", ".pdf"), ("/export xlsx ids", ".xlsx")):
        await admin.send(command)
        document = await until_document(admin)
        assert document.document is not None
        assert document.document.filename.endswith(suffix)
        assert (await next_message(admin)).text == "Export ready: 5 rows."
    await admin.send("/export pdf ids")
    assert "Usage: /export" in (await next_message(admin)).text
    assert organiser_bot.emulator.rejected == []


async def test_organisers_get_their_commands_in_their_own_menu(organiser_bot: Any) -> None:
    calls = organiser_bot.emulator.calls_to("setMyCommands")
    scoped = [c for c in calls if c.params.get("scope")]
    assert scoped
    assert all(c.ok for c in scoped)
    assert all(c.params["scope"] == {"type": "chat", "chat_id": ADMIN} for c in scoped)
    assert all("stats" in str(c.params["commands"]) for c in scoped)
    assert not any("stats" in str(c.params["commands"]) for c in calls if not c.params.get("scope"))


async def until_document(user: SimulatedUser) -> BotMessage:
    for _ in range(20):
        message = await next_message(user, within=60)
        if message.document is not None:
            return message
    raise AssertionError("no document arrived")
