"""Withdrawal, removal and purge really erase: nothing of a deleted row stays in the database files.

- SQLite: ``secure_delete`` is on for every pooled connection, set by us (a build
  defaulting to off is simulated), and a name withdrawn through the running bot is
  gone from the bytes of the database file and its write-ahead log at once.
- PostgreSQL: after a withdrawal through the running bot, ``python -m bot purge``
  rewrites the tables that had deletions (new files, the old ones removed), says
  so, and skips the rewrite when nothing was deleted since; a transaction older
  than the deletion keeps the mark unrecorded so the next run rewrites again.
- The generated receipt secret is deleted once no signature of any campaign is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url

from bot.cli.purge import purge as purge_command
from emulator import Emulator
from storage import erasure, receipts
from storage.db import Database
from storage.models import BotSecret, MaintenanceMark, Signature
from tests.fixtures.botapp import bot_factory
from tests.signers import add_signer
from tests.test_after_signature_e2e import sign
from tests.test_signing_e2e import has, until

WITHDRAWN = "Zqxjwithdrawn Ölçekli"  # distinctive, with non-ASCII bytes
STAYS = "Staying Signer"
REMOVED = "Qzremoved Abusive"
ADMIN = 6100


def _file_bytes(database_url: str) -> bytes:
    path = Path(make_url(database_url).database or "")
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def _purge(database_url: str, *args: str, **settings: str) -> Any:
    env: dict[str, str | None] = {
        "DATABASE_URL": database_url,
        "CAMPAIGN": "xinjiang",
        "BOT_TOKEN": None,
        "CAMPAIGN_END": None,
        "RETENTION_DAYS": None,
        "RECEIPT_SECRET": None,
        **settings,
    }
    return CliRunner().invoke(purge_command, list(args), env=env, catch_exceptions=False)


async def _purge_in_thread(database_url: str, *args: str, **settings: str) -> Any:
    """The command runs its own event loop: from a test's loop, in a thread."""
    return await asyncio.to_thread(_purge, database_url, *args, **settings)


def _plain(output: str) -> str:
    return " ".join(output.split())


# --- SQLite -------------------------------------------------------------------------------------


async def test_every_pooled_sqlite_connection_has_secure_delete(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}", pool_size=3, max_overflow=2)

    seen_off: list[int] = []

    def build_default_off(dbapi_connection: Any, _record: Any) -> None:
        """Runs before our listener: a SQLite build whose default is off."""
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA secure_delete=OFF")
        cursor.execute("PRAGMA secure_delete")
        seen_off.append(cursor.fetchone()[0])
        cursor.close()

    event.listen(db.engine.sync_engine, "connect", build_default_off, insert=True)
    try:
        held = [await db.engine.connect() for _ in range(5)]  # the whole pool and its overflow at once
        values = [(await connection.exec_driver_sql("PRAGMA secure_delete")).scalar() for connection in held]
        for connection in held:
            await connection.close()
        assert seen_off == [0] * 5, "the simulated build really starts with it off"
        assert values == [1] * 5
        async with db.session() as session:  # and a connection reused from the pool
            assert (await session.execute(text("PRAGMA secure_delete"))).scalar() == 1
    finally:
        await db.dispose()


@pytest.fixture
async def aiogram_webhook_bot(emulator: Emulator, tmp_path: Path) -> AsyncIterator[Any]:
    async with bot_factory("aiogram", "webhook", emulator, tmp_path) as start:
        yield start


async def test_a_name_withdrawn_through_the_bot_is_gone_from_the_sqlite_file_and_its_log(
    aiogram_webhook_bot: Any, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'erasure.db'}"
    bot = await aiogram_webhook_bot(core="real", database_url=url, admin_ids=frozenset({ADMIN}))
    ada = bot.emulator.user(6101, first_name="Ada", language_code="en")
    await sign(ada, WITHDRAWN)
    assert WITHDRAWN.encode() in _file_bytes(url), "the check below can see a name in the files"
    await ada.send("/withdraw")
    await until(ada, has("withdraw your signature"))
    await ada.press("Yes, erase my signature")
    await until(ada, has("erased"))
    bo = bot.emulator.user(6102, first_name="Bo", language_code="en")
    await sign(bo, STAYS)
    # An organiser's removal erases alike.
    cy = bot.emulator.user(6103, first_name="Cy", language_code="en")
    code = await sign(cy, REMOVED)
    assert REMOVED.encode() in _file_bytes(url)
    admin = bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    await admin.send(f"/remove {code}")
    await until(admin, has("Remove this signature"))
    await admin.press("🗑 Remove")
    await until(admin, has("is no longer on the list"))
    # While the bot is still running: not in the file, not in the write-ahead log.
    data = _file_bytes(url)
    assert STAYS.encode() in data
    assert WITHDRAWN.encode() not in data and "Ölçekli".encode() not in data and b"Zqxjwithdrawn" not in data
    assert REMOVED.encode() not in data


def test_purge_on_sqlite_checkpoints_the_log_and_vacuums_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'purge.db'}"
    from storage.migrate import upgrade_sync

    upgrade_sync(url)
    result = _purge(url)
    assert result.exit_code == 0, result.output
    plain = _plain(result.output)
    assert "secure_delete" in plain and "write-ahead log was checkpointed and emptied" in plain
    assert "vacuumed once" in plain
    again = _plain(_purge(url).output)
    assert "write-ahead log was checkpointed" in again and "vacuumed once" not in again


# --- PostgreSQL ---------------------------------------------------------------------------------


async def _files(db: Database, table: str) -> dict[str, str]:
    """The table's and its indexes' relation → file path."""
    async with db.session() as session:
        rows = await session.execute(
            text(
                "SELECT c.relname, pg_relation_filepath(c.oid) FROM pg_class c "
                "WHERE c.relname = :table OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = CAST(:table AS regclass))"
            ),
            {"table": table},
        )
        return {str(name): str(path) for name, path in rows}


async def _size(db: Database, path: str) -> int | None:
    """The file's size in bytes, None if there is no such file."""
    async with db.session() as session:
        size = await session.scalar(text("SELECT (pg_stat_file(:path, true)).size"), {"path": path})
        return None if size is None else int(size)


async def _contents(db: Database, files: dict[str, str]) -> bytes:
    """The bytes of the table's and its indexes' files, as the server has them on disk."""
    await _checkpoint(db)
    chunks: list[bytes] = []
    async with db.session() as session:
        for path in files.values():
            data = await session.scalar(text("SELECT pg_read_binary_file(:path, 0, 100000000, true)"), {"path": path})
            chunks.append(bytes(data or b""))
    return b"".join(chunks)


async def _checkpoint(db: Database) -> None:
    """Write the shared buffers out, so the files show what the server holds (test superuser)."""
    async with db.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.exec_driver_sql("CHECKPOINT")


async def _deleted(db: Database, table: str) -> int:
    async with db.session() as session:
        return int(
            await session.scalar(
                text("SELECT n_tup_del FROM pg_stat_user_tables WHERE relname = :table"), {"table": table}
            )
            or 0
        )


async def _wait_for_deletions(db: Database, table: str, above: int) -> None:
    """The server counts another backend's deletions once that backend flushes its statistics."""
    async with asyncio.timeout(30):
        while await _deleted(db, table) <= above:  # noqa: ASYNC110 - no event for it
            await asyncio.sleep(0.2)


@pytest.mark.postgres
async def test_purge_rewrites_the_tables_a_withdrawal_through_the_bot_deleted_from(
    scratch_postgres_url: str, aiogram_webhook_bot: Any
) -> None:
    bot = await aiogram_webhook_bot(core="real", database_url=scratch_postgres_url)
    db = Database(scratch_postgres_url, pool_size=2)
    try:
        ada = bot.emulator.user(6101, first_name="Ada", language_code="en")
        bo = bot.emulator.user(6102, first_name="Bo", language_code="en")
        await sign(bo, STAYS)
        first = await _purge_in_thread(scratch_postgres_url)  # the first run rewrites (no mark yet) and records
        assert first.exit_code == 0, first.output
        assert "Receipt secret" not in first.output  # Bo's receipt was derived with it
        deleted_before = await _deleted(db, "signatures")
        await sign(ada, WITHDRAWN)
        await ada.send("/withdraw")
        await until(ada, has("withdraw your signature"))
        await ada.press("Yes, erase my signature")
        await until(ada, has("erased"))
        await _wait_for_deletions(db, "signatures", deleted_before)
        before = await _files(db, "signatures")
        assert len(before) >= 8  # the table and its indexes (receipt, referral code, ...)

        assert WITHDRAWN.encode() in await _contents(db, before), "the check below can see a deleted row"
        dry = _plain((await _purge_in_thread(scratch_postgres_url, "--dry-run")).output)
        assert (
            "Erased rows: 1 row deleted since the last rewrite; a run would rewrite signatures with VACUUM FULL" in dry
        )
        assert await _files(db, "signatures") == before

        result = await _purge_in_thread(scratch_postgres_url)
        assert result.exit_code == 0, result.output
        plain = _plain(result.output)
        assert "Erased rows: 1 row deleted since the last rewrite; VACUUM FULL rewrote signatures in" in plain
        assert "so their files hold none of them" in plain
        for _ in range(5):  # a transaction of the running bot was older than the deletion: run again
            if "still saw them" not in plain:
                break
            plain = _plain((await _purge_in_thread(scratch_postgres_url)).output)
            assert "VACUUM FULL rewrote signatures" in plain, plain
        assert "still saw them" not in plain
        after = await _files(db, "signatures")
        assert set(after) == set(before)
        for relation, path in before.items():
            assert after[relation] != path, relation
            # PostgreSQL truncates the old file at once and unlinks it at the next checkpoint.
            assert await _size(db, path) in (None, 0), f"the old file of {relation} is emptied"
            assert await _size(db, after[relation])
        files = await _contents(db, after)
        assert STAYS.encode() in files
        assert WITHDRAWN.encode() not in files and b"Zqxjwithdrawn" not in files
        async with db.session() as session:
            names = (await session.scalars(select(Signature.name))).all()
        assert names == [STAYS]

        again = await _purge_in_thread(scratch_postgres_url)
        assert "nothing was deleted since the last rewrite; no VACUUM needed" in _plain(again.output)
        assert await _files(db, "signatures") == after
    finally:
        await db.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_rows_an_older_transaction_still_sees_are_rewritten_again_next_time(
    database_url: str, database: Database
) -> None:
    await erasure.erase_deleted_rows(database)  # start from recorded marks
    await add_signer(database, 1)
    await add_signer(database, 2)
    before = await _deleted(database, "signatures")
    old = Database(database_url, pool_size=1)
    try:
        async with old.engine.connect() as connection:
            reader = await connection.execution_options(isolation_level="REPEATABLE READ")
            await reader.exec_driver_sql("SELECT 1")  # its snapshot, from before the deletion (no lock held)
            async with database.transaction() as session:
                await session.execute(text("DELETE FROM signatures WHERE telegram_user_id = 1"))
            await _wait_for_deletions(database, "signatures", before)
            held = await erasure.erase_deleted_rows(database)
            assert "signatures" in held.rewritten and held.held_back == ("signatures",)
            await reader.rollback()
    finally:
        await old.dispose()
    assert [item.table for item in await erasure.pending(database)] == ["signatures"]
    done = await erasure.erase_deleted_rows(database)
    assert (done.rewritten, done.held_back) == (("signatures",), ())
    assert await erasure.pending(database) == []


# --- the receipt secret -------------------------------------------------------------------------


async def _secret(db: Database) -> str | None:
    async with db.session() as session:
        return await session.scalar(select(BotSecret.value).where(BotSecret.name == receipts.SECRET_NAME))


async def test_the_generated_receipt_secret_goes_once_no_signature_needs_it(
    database: Database, database_url: str
) -> None:
    key = await receipts.load_key(database, None)
    await add_signer(database, 11, campaign="xinjiang")
    await add_signer(database, 12, campaign="another")
    past = {"CAMPAIGN_END": "2020-01-01", "RETENTION_DAYS": "1"}

    dry = await _purge_in_thread(database_url, "--dry-run", **past)
    assert dry.exit_code == 0, dry.output
    assert "Receipt secret" not in dry.output  # another campaign's signature still has a receipt from it

    result = await _purge_in_thread(database_url, **past)
    assert result.exit_code == 0, result.output
    assert "Receipt secret" not in result.output
    assert await _secret(database) == key.decode()

    async with database.transaction() as session:
        await session.execute(text("DELETE FROM signatures"))  # the other campaign's signer withdrew
    dry = await _purge_in_thread(database_url, "--dry-run", **past)
    assert "generated secret the receipts were derived with would be deleted" in _plain(dry.output)
    assert await _secret(database) == key.decode()
    result = await _purge_in_thread(database_url, **past)
    assert result.exit_code == 0, result.output
    assert "generated secret the receipts were derived with was deleted" in _plain(result.output)
    assert await _secret(database) is None
    if database.is_postgres:  # and its row is rewritten out of the table file in the same run
        assert "bot_secrets" in _plain(result.output)

    # A signature made later gets its receipt from a new secret.
    new_key = await receipts.load_key(database, None)
    assert new_key != key
    async with database.session() as session:
        marks = await session.scalar(select(func.count()).select_from(MaintenanceMark))
        assert marks is not None and marks >= 1
