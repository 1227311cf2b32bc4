"""The kept counts (``stat_counts``, maintained by triggers) agree with the rows after every
kind of change, on SQLite and PostgreSQL, as ``python -m bot stats --verify`` checks them;
the migration counts the rows that were there before it; a count kept wrong is found."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from storage import receipts, stat_counts
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Signature, StatCount
from storage.purge import purge_signatures
from storage.signatures import count_signatures, remove_by_receipt, withdraw_signature
from tests.signers import add_signer


async def _sign_at(db: Database, user_id: int, when: datetime) -> None:
    async with db.transaction() as session:
        await session.execute(update(Signature).where(Signature.telegram_user_id == user_id).values(signed_at=when))


async def _agree(db: Database, campaigns: tuple[str, ...] = ("xinjiang", "another")) -> None:
    for campaign in campaigns:
        assert await stat_counts.verify(db, campaign) == []


async def test_the_counts_follow_every_change_of_the_rows(database: Database) -> None:
    db = database
    countries, sources = ("DE", "TR", "KZ"), (None, "poster", "shared")
    for n in range(30):
        await add_signer(db, 1000 + n, country=countries[n % 3], source=sources[n % 3], language=("en", "ug")[n % 2])
    await add_signer(db, 2000, campaign="another")
    await _agree(db)
    assert await count_signatures(db, "xinjiang") == 30

    assert await withdraw_signature(db, "xinjiang", 1001)
    removed = await add_signer(db, 1100, country="FR")
    assert removed.receipt and await remove_by_receipt(db, "xinjiang", receipts.normalise(removed.receipt) or "")
    async with db.transaction() as session:  # a counted column changed (days moved, a source fixed)
        await session.execute(
            update(Signature)
            .where(Signature.telegram_user_id.in_([1002, 1003]))
            .values(signed_at=datetime(2026, 1, 2, 23, 59, tzinfo=UTC), source="fixed")
        )
        await session.execute(delete(Signature).where(Signature.telegram_user_id == 1004))  # by hand, at a prompt
    await _agree(db)
    assert await count_signatures(db, "xinjiang") == 28  # 30 + 1, less a withdrawal, a removal, a deletion

    result = await purge_signatures(db, "xinjiang", batch_size=7)
    assert result.purged == 28
    await _agree(db)
    assert await count_signatures(db, "xinjiang") == 28  # now from the purge's tallies
    assert await count_signatures(db, "another") == 1


async def test_a_crowd_signing_at_once_is_counted_exactly(database: Database) -> None:
    await asyncio.gather(*(add_signer(database, 5000 + n, source="channel") for n in range(40)))
    await _agree(database)
    assert await count_signatures(database, "xinjiang") == 40
    async with database.session() as session:  # spread over the slots, not one hot row
        slots = set(await session.scalars(select(StatCount.slot).where(StatCount.dimension == "source")))
    assert len(slots) == StatCount.SLOTS


async def test_the_migration_counts_the_rows_already_there(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await upgrade(url, "0006")
    db = Database(url)
    try:
        for n in range(12):
            await add_signer(db, n + 1, country=("DE", "TR")[n % 2])
            await _sign_at(db, n + 1, datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=5 * n))
        await upgrade(url)
        await _agree(db)
        assert await count_signatures(db, "xinjiang") == 12
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_the_migration_counts_the_rows_already_there_on_postgres(scratch_postgres_url: str) -> None:
    url = scratch_postgres_url
    await upgrade(url, "0006")
    db = Database(url)
    try:
        for n in range(6):  # 23:30 UTC is still the same UTC day, whatever the server's time zone
            await add_signer(db, n + 1, source="s")
            await _sign_at(db, n + 1, datetime(2026, 3, 1 + n % 2, 23, 30, tzinfo=UTC))
        await upgrade(url)
        await _agree(db)
    finally:
        await db.dispose()


async def test_verify_finds_a_count_kept_wrong(database: Database) -> None:
    for n in range(3):
        await add_signer(database, 7000 + n, country="DE", opt_in=n == 0)
    async with database.transaction() as session:  # what a restore of the table alone could leave
        await session.execute(
            update(StatCount)
            .where(StatCount.dimension == "country", StatCount.key == "DE", StatCount.count > 0)
            .values(count=StatCount.count + 1)
        )
    found = await stat_counts.verify(database, "xinjiang")
    assert found and all(line.startswith("country DE: kept ") for line in found)
    assert "opt_in 1" not in " ".join(found)
    await stat_counts.rebuild(database)  # the repair: counted again from the rows
    await _agree(database)
    assert await count_signatures(database, "xinjiang") == 3
