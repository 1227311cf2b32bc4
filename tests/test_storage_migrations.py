"""The migrations build exactly the models, on SQLite and PostgreSQL, and can be re-run."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from storage.migrate import downgrade, upgrade, upgrade_sync
from storage.models import Base

ROOT = Path(__file__).resolve().parent.parent


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
