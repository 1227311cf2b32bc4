"""/stats and /export through the emulator, as an organiser and as anyone else."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from emulator.emulator import BOT_USERNAME
from emulator.objects import BotMessage
from emulator.users import SimulatedGroup, SimulatedUser
from handlers import organiser
from handlers.i18n import language_name
from petition.countries import country_name
from storage import signatures
from storage.db import Database
from storage.exports.export import export_signatures
from storage.exports.fonts import printable
from tests.test_exports import CJK_OR_ARABIC, HEADER, _cell_text, _expected, _pdf_text, _stored
from tests.test_signing_e2e import has, offers_to_sign, review, sign_as, until

ADMIN = 5001
NAMES = ["Ada Lovelace", '=HYPERLINK("http://x")', "ئەركىن تۇنىياز", "李小龍", 'Smith, "Jr"']
FAILED = "The export failed. Nothing was sent; the reason is in the bot's log."
ADMIN_LINE = re.compile(r"admin \d+: /")


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
def exports_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the bot writes its exports, for this test alone (so "nothing left" can be checked)."""
    root = tmp_path / "exports"
    monkeypatch.setattr(organiser, "EXPORTS_ROOT", root)
    return root


@pytest.fixture
async def organiser_bot(start_one_bot: Any, exports_root: Path) -> Any:
    bot = await start_one_bot(core="real", admin_ids=frozenset({ADMIN}))
    await seed(bot.settings.database_url)
    return bot


async def quiet(bot: Any, *chats: SimulatedUser | SimulatedGroup) -> None:
    """Let the core finish (the update being handled and any follow-up it started), then
    check that nothing more arrived in these chats: no document, no progress message."""
    await bot.core.settle(within=30)
    for chat in chats:
        assert chat.conversation.pending() == 0, f"something more arrived in chat {chat.chat_id}"


def nothing_exported(bot: Any, exports_root: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert bot.emulator.calls_to("sendDocument") == []
    assert not ADMIN_LINE.search(caplog.text)  # no organiser action was taken, so none is logged
    assert not exports_root.exists() or leftovers(exports_root) == []


async def test_organiser_commands_are_unknown_commands_to_everyone_else(
    organiser_bot: Any, exports_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    user = organiser_bot.emulator.user(5002, first_name="Bo", language_code="en")
    await user.send("/nonsense")
    unknown = (await next_message(user)).text
    for command in ("/stats", "/export", "/export pdf", "/export csv ids", "/export xlsx ids", "/stats now"):
        await user.send(command)
        assert (await next_message(user)).text == unknown
        await quiet(organiser_bot, user)
    await user.edit_last("/export")
    assert "not edits" in (await next_message(user)).text
    await quiet(organiser_bot, user)
    await user.forward("/nonsense")  # a forwarded unknown command ...
    forwarded_unknown = (await next_message(user)).text
    await user.forward("/export")  # ... and a forwarded organiser command get the same answer
    assert (await next_message(user)).text == forwarded_unknown
    await quiet(organiser_bot, user)
    group = organiser_bot.emulator.group(-100500, title="Supporters")
    await group.send(user, "/export")  # in a group: silent unless addressed to the bot by name
    await group.send(user, f"/export@{BOT_USERNAME}")
    assert "private chat" in (await group.wait_message(timeout=20)).text
    await quiet(organiser_bot, user, group)
    nothing_exported(organiser_bot, exports_root, caplog)
    assert organiser_bot.emulator.rejected == []


async def test_an_organiser_s_export_outside_a_typed_private_command_exports_nothing(
    organiser_bot: Any, exports_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    admin = organiser_bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    group = organiser_bot.emulator.group(-100501, title="Organisers")
    await group.send(admin, f"/export@{BOT_USERNAME}")  # in a group: only the pointer to a private chat
    pointer = await group.wait_message(timeout=20)
    assert "private chat" in pointer.text
    assert pointer.document is None
    await group.send(admin, "/stats")  # not addressed to the bot: silent
    await group.send(admin, f"/stats@{BOT_USERNAME}")
    assert "private chat" in (await group.wait_message(timeout=20)).text
    await quiet(organiser_bot, group, admin)
    await admin.send("/help")
    await next_message(admin)
    await admin.edit_last("/export")  # an edit is never a command
    assert "not edits" in (await next_message(admin)).text
    await quiet(organiser_bot, admin)
    for forwarded in ("/export", "/stats"):  # someone else's command, forwarded by the organiser
        await admin.forward(forwarded)
        assert "forwarded" in (await next_message(admin)).text
        await quiet(organiser_bot, admin)
    nothing_exported(organiser_bot, exports_root, caplog)
    assert organiser_bot.emulator.rejected == []


async def test_stats_for_an_organiser(organiser_bot: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    admin = organiser_bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    await admin.send("/stats")
    text = (await next_message(admin)).text
    assert "Signatures: 5 of 100,000 (0.0%)" in text
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
    assert rows == [HEADER, *_expected(await stored_rows(organiser_bot))]  # row by row, as stored
    await admin.send("/stats")
    assert "Signatures: 4 of" in (await next_message(admin)).text
    assert organiser_bot.emulator.rejected == []


async def test_a_hostile_name_is_exported_neutralised(organiser_bot: Any, exports_root: Path) -> None:
    admin = organiser_bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    db = Database(organiser_bot.settings.database_url)
    try:
        await signatures.withdraw_signature(db, "xinjiang", 9000)  # Ada: the hostile row stays
    finally:
        await db.dispose()
    await admin.send("/export")
    document = await until_document(admin)
    assert document.document is not None
    data = document.document.data
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for spreadsheet programs
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    names = [row[1] for row in rows[1:]]
    assert '\'=HYPERLINK("http://x")' in names  # shown as text, never run as a formula
    assert '=HYPERLINK("http://x")' not in names
    assert "Ada Lovelace" not in names  # withdrawn
    assert rows == [HEADER, *_expected(await stored_rows(organiser_bot))]
    assert (await next_message(admin)).text == "Export ready: 4 rows."
    await quiet(organiser_bot, admin)
    assert leftovers(exports_root) == []  # the file was deleted once sent
    assert organiser_bot.emulator.rejected == []


async def test_export_pdf_and_xlsx_and_a_wrong_format(organiser_bot: Any, exports_root: Path) -> None:
    admin = organiser_bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    stored = await stored_rows(organiser_bot)
    received: dict[str, bytes] = {}
    for command, suffix in (("/export pdf", ".pdf"), ("/export xlsx", ".xlsx")):
        await admin.send(command)
        document = await until_document(admin)
        assert document.document is not None
        assert document.document.filename.endswith(suffix)
        assert "with-ids" not in document.document.filename
        assert (await next_message(admin)).text == "Export ready: 5 rows."
        received[command] = document.document.data
    await admin.send("/export pdf please")
    assert "Usage: /export" in (await next_message(admin)).text
    assert organiser_bot.emulator.rejected == []

    # The spreadsheet, opened back: every row as stored, never a Telegram id.
    assert xlsx_rows(received["/export xlsx"]) == [HEADER, *_expected(stored)]

    # The delivery document, its text extracted back: the total and every name, in every script.
    path = exports_root.parent / "received.pdf"
    path.write_bytes(received["/export pdf"])
    pages, text = _pdf_text(path)
    assert "5 people signed this letter." in pages[0]
    words, compact = set(text.split()), "".join(text.split())
    for name in NAMES:
        for word in printable(name).split():
            assert word in words or (CJK_OR_ARABIC.search(word) and word in compact), (name, word)
    numbers = [int(n) for n in re.findall(r"^(\d+) (?!people)", "\n".join(pages[1:]), flags=re.MULTILINE)]
    assert numbers == [1, 2, 3, 4, 5]
    # Never a Telegram id in the PDF: as a number of its own (receipts and the fingerprint hold digits too).
    assert not any(re.search(rf"(?<![0-9A-Za-z-]){9000 + n}(?![0-9A-Za-z-])", text) for n in range(5))
    await quiet(organiser_bot, admin)
    assert leftovers(exports_root) == []


def xlsx_rows(data: bytes) -> list[list[str]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True)["Signatures"]
    return [[_cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)]


async def stored_rows(bot: Any) -> list[Any]:
    db = Database(bot.settings.database_url)
    try:
        return await _stored(db)
    finally:
        await db.dispose()


async def test_no_signer_s_name_reaches_the_log(
    organiser_bot: Any, exports_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    admin = organiser_bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    for fmt in ("csv", "xlsx", "pdf"):
        await admin.send(f"/export {fmt}")
        await until_document(admin)
        assert (await next_message(admin)).text == "Export ready: 5 rows."
        await quiet(organiser_bot, admin)
        assert f"admin {ADMIN}: /export {fmt}" in caplog.text
        assert f"admin {ADMIN}: /export {fmt} done, 5 rows" in caplog.text
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert not any(name in logged for name in NAMES)
    for part in ("Lovelace", "HYPERLINK", "Smith"):
        assert part not in logged
    assert not {c for name in NAMES for c in name if not c.isascii()} & set(logged)
    assert leftovers(exports_root) == []


async def test_a_refused_upload_is_reported_not_announced_as_ready(
    organiser_bot: Any, exports_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    admin = organiser_bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    organiser_bot.emulator.fail_next("sendDocument", status=400, description="Request Entity Too Large")
    await admin.send("/export")
    progress = await next_message(admin)
    assert progress.text.startswith("Exporting…")
    outcome = await next_message(admin)
    while outcome.text.startswith("Exporting…"):
        outcome = await next_message(admin)
    assert outcome.text == FAILED
    assert outcome.message_id == progress.message_id  # the progress message, edited
    await quiet(organiser_bot, admin)
    assert not any(m.document is not None or "Export ready" in m.text for m in admin.messages)
    assert "request entity too large" in caplog.text.lower()  # Telegram's reason, in the log as promised
    assert f"admin {ADMIN}: /export csv not delivered" in caplog.text
    assert leftovers(exports_root) == []


async def test_an_export_too_large_for_telegram_says_to_use_the_command_line(
    organiser_bot: Any, exports_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage.exports import archive

    monkeypatch.setattr(archive, "ZIP_THRESHOLD_BYTES", 100)
    monkeypatch.setattr(archive, "UPLOAD_LIMIT_BYTES", 100)
    admin = organiser_bot.emulator.user(ADMIN, first_name="Org", language_code="de")
    await admin.send("/export xlsx")
    assert (await next_message(admin)).text.startswith("Export")  # the progress message
    told = await next_message(admin)  # ... edited into what to do instead
    assert "Telegram" in told.text and "python -m bot export --format xlsx -o FILE" in told.text
    assert "Server" in told.text  # in the organiser's language
    await quiet(organiser_bot, admin)
    assert organiser_bot.emulator.calls_to("sendDocument") == []
    assert leftovers(exports_root) == []


async def test_stopping_the_bot_mid_export_leaves_no_file(
    organiser_bot: Any, exports_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_export = export_signatures
    writing = asyncio.Event()

    async def never_ending(*args: Any, progress: Any, **kwargs: Any) -> Any:
        async def stuck(done: int, total: int) -> None:
            await progress(done, total)
            writing.set()
            await asyncio.Event().wait()  # an export far too large to finish before the stop

        return await real_export(*args, progress=stuck, **kwargs)

    monkeypatch.setattr(organiser, "export_signatures", never_ending)
    admin = organiser_bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    await admin.send("/export pdf")
    assert (await next_message(admin)).text.startswith("Exporting…")
    await asyncio.wait_for(writing.wait(), 20)
    (folder,) = leftovers(exports_root)
    assert leftovers(folder), "the file being written is there"

    async with asyncio.timeout(6):
        await organiser_bot.app.stop(deadline=4)
    assert leftovers(exports_root) == []  # no personal data left on disk
    assert (await next_message(admin)).text == FAILED  # the organiser was told before the bot went
    assert organiser_bot.emulator.calls_to("sendDocument") == []


def leftovers(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


def leave_folders(root: Path) -> Path:
    """What a bot killed mid-export leaves; returns the folder of an export running elsewhere."""
    root.mkdir(mode=0o700)
    stale = root / "4194399-killed"  # a pid no process has
    stale.mkdir()
    (stale / ".undersign-export-x.csv").write_text("Ada Lovelace\r\n")
    (root / f"{os.getpid()}-earlier").mkdir()  # our own pid, from before a restart
    (root / "stray-file").write_text("x")
    running = root / f"{os.getppid()}-running"  # a live process's export: left alone
    running.mkdir()
    return running


async def test_stale_export_folders_are_swept_when_the_bot_starts(start_one_bot: Any, exports_root: Path) -> None:
    running = leave_folders(exports_root)
    await start_one_bot(core="real", admin_ids=frozenset({ADMIN}))
    assert leftovers(exports_root) == [running]


async def sign_through_the_bot(user: SimulatedUser, *, start: str, name: str, country: str, opt_in: bool) -> None:
    """The whole conversation, as a supporter goes through it."""
    await user.send(start)
    letter = await until(user, offers_to_sign)
    assert "mass internment" in letter.text
    await user.press("✍️ Sign the letter")
    await until(user, has("Before you sign"))
    if opt_in:
        await user.press("☐ Keep me informed about this campaign")
        await until(user, lambda m: m.button("☑ Keep me informed about this campaign") is not None)
    await user.press("✅ I agree and want to sign")
    await until(user, has("What name should we sign with?"))
    await user.send(name)
    await until(user, has("Which country"))
    await user.send(country)
    await review(user, name)
    await sign_as(user, name)


async def test_stats_agree_with_the_export_after_signing_and_withdrawing_in_the_bot(organiser_bot: Any) -> None:
    bot = organiser_bot
    db = Database(bot.settings.database_url)
    try:  # one more seeded row in another language, country and source
        await signatures.add_signature(
            db,
            campaign="xinjiang",
            user_id=9100,
            name="Ольга Петрова",
            country="RU",
            language="ru",
            source="radio",
            opt_in=False,
            letter_version="v1",
            consent_version="c1",
        )
    finally:
        await db.dispose()
    zoe = bot.emulator.user(7001, first_name="Zoë", language_code="en")
    await sign_through_the_bot(zoe, start="/start share_link_1", name="Zoë Ünal", country="France", opt_in=True)
    bo = bot.emulator.user(7002, first_name="Bo", language_code="en")
    await sign_through_the_bot(bo, start="/start", name="Bo Withdrawn", country="Germany", opt_in=True)
    await bo.send("/withdraw")
    await until(bo, has("withdraw your signature"))
    await bo.press("Yes, erase my signature")
    await until(bo, has("erased"))

    admin = bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    await admin.send("/export csv")
    document = await until_document(admin)
    assert document.document is not None
    rows = list(csv.reader(io.StringIO(document.document.data.decode("utf-8-sig"), newline="")))
    header, body = rows[0], rows[1:]
    assert header == HEADER
    stored = await stored_rows(bot)
    assert body == _expected(stored)
    column = {name: header.index(name) for name in header}
    names = [row[column["name"]].removeprefix("'") for row in body]  # a leading ' keeps formulas text
    signed_in_the_bot = [name for name in names if name not in {*NAMES, "Ольга Петрова"}]
    assert signed_in_the_bot == ["Zoë Ünal"]  # Bo withdrew
    assert "Bo Withdrawn" not in document.document.data.decode("utf-8-sig")
    assert (await next_message(admin)).text == "Export ready: 7 rows."

    await admin.send("/stats")
    text = (await next_message(admin)).text
    lines = text.splitlines()
    assert f"Signatures: {len(body)} of 100,000 (0.0%)" in lines
    for code, count in Counter(row[column["language"]] for row in body).items():
        assert f"{language_name(code)}: {count}" in lines, code
    for code, count in Counter(row[column["country_code"]] for row in body).items():
        assert f"{country_name(code, 'en')}: {count}" in lines, code
    for source, count in Counter(row[column["source"]] for row in body).items():
        assert f"{source or 'direct (no link)'}: {count}" in lines, source
    assert f"Want news about the campaign: {sum(row.opt_in for row in stored)}" in lines
    assert "Want news about the campaign: 4" in lines  # three seeded, and Zoë (Bo's left with him)
    # The funnel counts what happened in the bot: two people went all the way, one withdrew,
    # and what is left of them is exactly the one row the bot added to the export.
    assert "Started: 2" in lines
    assert any(line.startswith("Signed: 2 ") for line in lines)
    assert "Withdrawals: 1" in lines
    assert len(signed_in_the_bot) == 2 - 1
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
