"""PostgreSQL connections the server dropped: an idle one is replaced before use, a busy one
fails once as a disconnect (which the core retries) and the pool starts afresh.

The signing path does not ping at every checkout (a round trip per transaction); these
tests hold what it relies on instead."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from storage import db as db_module
from storage.db import Database
from storage.errors import is_transient

pytestmark = pytest.mark.postgres


async def _backend_pid(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)


async def _terminate(url: str, pid: int) -> None:
    parsed = make_url(url)
    admin = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username or "postgres", database="postgres"
    )
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "IDLE_PING_AFTER", 0.0)  # every returned connection counts as idle
    db = Database(postgres_url, pool_size=1, max_overflow=0)
    try:
        dropped = await _backend_pid(db)
        await _terminate(postgres_url, dropped)
        assert await _backend_pid(db) not in (0, dropped)  # no error: pinged, found dead, replaced
    finally:
        await db.dispose()


async def test_a_connection_in_use_when_dropped_fails_once_then_the_pool_starts_afresh(postgres_url: str) -> None:
    db = Database(postgres_url, pool_size=2, max_overflow=0)
    try:
        async with db.session() as a, db.session() as b:  # both pooled connections, recently used
            first = int(await a.scalar(text("SELECT pg_backend_pid()")) or 0)
            second = int(await b.scalar(text("SELECT pg_backend_pid()")) or 0)
        for pid in (first, second):  # a server restart: every connection gone
            await _terminate(postgres_url, pid)
        with pytest.raises(DBAPIError) as failed:
            await _backend_pid(db)
        assert is_transient(failed.value)  # the core tries the step once more
        assert await _backend_pid(db) not in (first, second)  # the other dead one was retired too
    finally:
        await db.dispose()


async def test_a_deadlock_postgresql_settled_is_worth_one_more_try(postgres_url: str) -> None:
    """Two transactions locking two rows in opposite orders: PostgreSQL rolls one back (40P01),
    which the core then tries once more, like a dropped connection."""
    import asyncio

    db = Database(postgres_url, pool_size=2, max_overflow=0)
    try:
        async with db.engine.begin() as setup:
            await setup.execute(text("CREATE TABLE IF NOT EXISTS deadlock_probe (id int PRIMARY KEY, n int)"))
            await setup.execute(text("DELETE FROM deadlock_probe"))
            await setup.execute(text("INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)"))
        both_hold_one = asyncio.Barrier(2)

        async def lock_in_order(first: int, second: int) -> None:
            async with db.engine.begin() as connection:
                await connection.execute(text("UPDATE deadlock_probe SET n = n + 1 WHERE id = :id"), {"id": first})
                await both_hold_one.wait()
                await connection.execute(text("UPDATE deadlock_probe SET n = n + 1 WHERE id = :id"), {"id": second})

        outcomes = await asyncio.gather(lock_in_order(1, 2), lock_in_order(2, 1), return_exceptions=True)
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        assert len(failures) == 1 and isinstance(failures[0], DBAPIError)
        assert is_transient(failures[0])
    finally:
        async with db.engine.begin() as cleanup:
            await cleanup.execute(text("DROP TABLE IF EXISTS deadlock_probe"))
        await db.dispose()
