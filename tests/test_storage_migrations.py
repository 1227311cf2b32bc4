"""The migrations build exactly the models, on SQLite and PostgreSQL, and can be re-run."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Table, insert, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from storage.migrate import downgrade, upgrade, upgrade_sync
from storage.models import Base, FunnelCount, Signature, SignatureTally

ROOT = Path(__file__).resolve().parent.parent


def _table(model: type[Base]) -> Table:
    """The model's table (``__table__`` is typed as any ``FromClause``)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _check(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
            assert {"signatures", "funnel_counts", "alembic_version"} <= await connection.run_sync(_tables)
    finally:
        await engine.dispose()


async def _tables_at(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_tables)
    finally:
        await engine.dispose()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database nothing has touched yet."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    return str(request.getfixturevalue("scratch_postgres_url"))


async def test_migration_matches_models_and_is_idempotent(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    await _check(empty_database_url)
    await upgrade(empty_database_url)  # head -> head: nothing to do, no error
    await _check(empty_database_url)


async def test_downgrade_to_base_and_back(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    await downgrade(empty_database_url, "base")
    assert await _tables_at(empty_database_url) <= {"alembic_version"}
    await upgrade(empty_database_url)
    await _check(empty_database_url)


def test_upgrade_sync_from_plain_code(tmp_path: Path) -> None:
    """The release phase calls this outside any event loop."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'sync.db'}"
    upgrade_sync(url)
    upgrade_sync(url)
    asyncio.run(_check(url))


async def test_upgrade_sync_inside_a_running_loop(tmp_path: Path) -> None:
    """Works from async code too (it runs in a thread of its own)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'in-loop.db'}"
    upgrade_sync(url)
    await _check(url)


@pytest.mark.postgres
async def test_concurrent_upgrades_on_postgres_are_serialised(scratch_postgres_url: str) -> None:
    """Several workers running the release step at once: the advisory lock makes one do the work."""
    code = "import sys; from storage.migrate import upgrade_sync; upgrade_sync(sys.argv[1])"
    workers = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", code, scratch_postgres_url, cwd=ROOT)
        for _ in range(3)
    ]
    assert [await worker.wait() for worker in workers] == [0, 0, 0]
    await _check(scratch_postgres_url)


async def test_concurrent_upgrades_in_one_process(empty_database_url: str) -> None:
    await asyncio.gather(*(upgrade(empty_database_url) for _ in range(3)))
    await _check(empty_database_url)


async def test_a_cancelled_wait_for_the_migration_lock_leaves_it_free(tmp_path: Path) -> None:
    """A worker stopped while waiting to migrate must not keep the lock for good."""
    from storage import migrate

    assert migrate._process_lock.acquire(blocking=False)  # another migration is running
    waiting = asyncio.create_task(upgrade(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"))
    await asyncio.sleep(0.1)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    migrate._process_lock.release()
    url = f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"
    await asyncio.wait_for(upgrade(url), 20)  # would hang if the cancelled wait had taken the lock
    await _check(url)


# --- 0005: sources that were a sharer's referral code ------------------------------------

A, B, F = "AAAA-_11", "B_b-B_b-", "FFFFFFFF"  # referral codes, with the '-' and '_' they may hold


def _signature(user_id: int, code: str, source: str | None, campaign: str = "xinjiang") -> dict[str, Any]:
    return {
        "campaign": campaign,
        "telegram_user_id": user_id,
        "name": f"Signer {user_id}",
        "country": "DE",
        "language": "en",
        "source": source,
        "referral_code": code,
        "opt_in": False,
        "signed_at": datetime(2026, 3, 1, tzinfo=UTC),
        "letter_version": "v1",
        "consent_version": "c1",
    }


async def _seed_0004(url: str) -> None:
    """Rows as the share link ``?start=<referral_code>`` left them before 0005."""
    d1, d2 = date(2026, 3, 1), date(2026, 3, 2)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(_table(Signature)),
                [
                    _signature(1, A, "poster"),  # Ada, from a poster, shared twice
                    _signature(2, B, A),  # Bo, through Ada's link, shared once
                    _signature(3, "CCCCCCCC", A),
                    _signature(4, "DDDDDDDD", B),
                    _signature(5, "EEEEEEEE", "poster"),
                    _signature(6, F, F),  # their own code: "shared", no credit
                    _signature(7, "GGGGGGGG", "gone1234"),  # a withdrawn sharer's code: nobody to find
                    _signature(8, "HHHHHHHH", A, campaign="other"),  # Ada's code means nothing there
                ],
            )
            funnel = [
                ("xinjiang", d1, "started", "en", A, 3),
                ("xinjiang", d1, "started", "en", B, 2),
                ("xinjiang", d1, "started", "en", "shared", 5),  # an existing "shared" row: summed into
                ("xinjiang", d1, "signed", "en", A, 1),
                ("xinjiang", d2, "started", "fr", B, 4),
                ("xinjiang", d1, "started", "en", "poster", 9),
                ("other", d1, "started", "en", A, 7),
            ]
            await connection.execute(
                insert(_table(FunnelCount)),
                [
                    dict(zip(("campaign", "day", "step", "language", "source", "count"), row, strict=True))
                    for row in funnel
                ],
            )
            tallies = [
                ("xinjiang", d1, "DE", "en", A, "v1", 2),
                ("xinjiang", d1, "DE", "en", B, "v1", 3),
                ("xinjiang", d1, "DE", "en", "shared", "v1", 1),
                ("xinjiang", d1, "FR", "en", B, "v2", 6),
                ("xinjiang", d1, "DE", "en", "", "v1", 8),
            ]
            await connection.execute(
                insert(_table(SignatureTally)),
                [
                    dict(
                        zip(
                            ("campaign", "day", "country", "language", "source", "letter_version", "count"),
                            row,
                            strict=True,
                        )
                    )
                    for row in tallies
                ],
            )
    finally:
        await engine.dispose()


async def _rows_after(url: str) -> tuple[dict[int, tuple[str | None, int]], set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            table = _table(Signature)
            signed = {
                row.telegram_user_id: (row.source, row.referrals)
                for row in await connection.execute(select(table.c.telegram_user_id, table.c.source, table.c.referrals))
            }
            funnel = {tuple(row) for row in await connection.execute(select(_table(FunnelCount)))}
            tallies = {tuple(row) for row in await connection.execute(select(_table(SignatureTally)))}
            return signed, funnel, tallies
    finally:
        await engine.dispose()


async def test_0005_turns_referral_codes_into_shared_and_credits_the_sharers(empty_database_url: str) -> None:
    url = empty_database_url
    await upgrade(url, "0004")
    await _seed_0004(url)
    await upgrade(url)
    await _check(url)
    signed, funnel, tallies = await _rows_after(url)
    assert signed == {
        1: ("poster", 2),
        2: ("shared", 1),
        3: ("shared", 0),
        4: ("shared", 0),
        5: ("poster", 0),
        6: ("shared", 0),
        7: ("gone1234", 0),
        8: (A, 0),  # another campaign: not Ada's recruit
    }
    d1, d2 = date(2026, 3, 1), date(2026, 3, 2)
    assert funnel == {
        ("xinjiang", d1, "started", "en", "shared", 10),
        ("xinjiang", d1, "signed", "en", "shared", 1),
        ("xinjiang", d2, "started", "fr", "shared", 4),
        ("xinjiang", d1, "started", "en", "poster", 9),
        ("other", d1, "started", "en", A, 7),
    }
    assert tallies == {
        ("xinjiang", d1, "DE", "en", "shared", "v1", 6),
        ("xinjiang", d1, "FR", "en", "shared", "v2", 6),
        ("xinjiang", d1, "DE", "en", "", "v1", 8),
    }
    await downgrade(url, "0004")  # irreversible on purpose: the graph does not come back
    assert (await _rows_after(url))[0] == signed
