"""The database handle: one async engine and session factory per process.

SQLite is the embedded default and PostgreSQL the production database; both are
reached through SQLAlchemy's async drivers (aiosqlite, asyncpg). URLs arrive
already normalised by the settings (``sqlite+aiosqlite:///...`` or
``postgresql+asyncpg://...``).

Erased means erased on SQLite: every connection sets ``secure_delete``, so a
deleted row's bytes are overwritten with zeros in the page that held them (not
left in free space for anyone with the file), whatever the SQLite build's
default. The write-ahead log still holds earlier copies of those pages until a
checkpoint; ``Database.after_erasure`` checkpoints it and truncates it to zero
bytes, and withdrawals, removals and purges call it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

log = logging.getLogger(__name__)

# How long a SQLite writer waits for another writer before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000
# How long an erasure's checkpoint waits for readers (an export's snapshot holds the log for
# as long as it runs): the person withdrawing is waiting for their answer, so not long.
SQLITE_CHECKPOINT_WAIT_MS = 200
# A pooled PostgreSQL connection idle longer than this is pinged before it is handed out.
IDLE_PING_AFTER = 5.0


def _is_sqlite_memory(database: str | None) -> bool:
    return database in (None, "", ":memory:") or (database or "").startswith("file::memory:")


class Database:
    """An async engine plus ``async_sessionmaker(expire_on_commit=False)``.

    ``pool_size`` should match the bound on concurrently handled updates (the bot
    passes its ``MAX_CONCURRENT_UPDATES``): a pool smaller than the number of
    in-flight handlers makes them queue on connections, a much larger one only
    costs server memory. ``max_overflow`` absorbs short bursts (organiser
    commands running beside the conversation).
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 5,
        pool_timeout: float = 30.0,
        echo: bool = False,
    ) -> None:
        parsed = make_url(url)
        self.url = parsed
        self.dialect_name: str = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect_name == "sqlite":
            if not _is_sqlite_memory(parsed.database):
                # A file database: a pool of connections lets readers run beside the
                # single writer (WAL); an in-memory one must keep SQLAlchemy's static pool.
                kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout)
        else:
            kwargs.update(
                pool_size=pool_size,
                max_overflow=max_overflow,
                pool_timeout=pool_timeout,
                pool_recycle=1800,
            )
        # hide_parameters: an error message must never carry a signer's name into the logs.
        self.engine: AsyncEngine = create_async_engine(parsed, hide_parameters=True, **kwargs)
        if self.dialect_name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_on_connect)
        else:
            _ping_when_idle(self.engine)
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(self.engine, expire_on_commit=False)
        # For reads of one statement (the signing path's lookups): the statement is its own
        # snapshot, so no BEGIN and ROLLBACK around it, two round trips fewer (12 % of the
        # bot's CPU in bench.signing --profile). The same pool of connections.
        # In-memory SQLite has one shared connection: switching it to autocommit would commit
        # another session's open transaction, so it reads as the engine does.
        memory = self.dialect_name == "sqlite" and _is_sqlite_memory(parsed.database)
        self.reader: AsyncEngine = (
            self.engine if memory else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect_name == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect_name == "postgresql"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session; the caller commits (``async with session.begin():`` or ``commit()``)."""
        async with self.sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside a transaction: committed on success, rolled back on error."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    async def after_erasure(self) -> bool:
        """After rows with personal data were deleted: on SQLite, copy the write-ahead log into
        the database file and truncate it, so the log's older copies of the pages that held them
        are gone too (``secure_delete`` already zeroed them in the new copies). True when done
        (always on PostgreSQL, whose files ``python -m bot purge`` rewrites); False when a
        reader kept the log busy for ``SQLITE_CHECKPOINT_WAIT_MS``: the next erasure or purge
        retries (a withdrawal during an export would otherwise wait out the whole export)."""
        if not self.is_sqlite:
            return True
        try:
            async with self.engine.connect() as connection:
                autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_CHECKPOINT_WAIT_MS}")
                try:
                    busy, *_ = (await autocommit.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")).one()
                finally:  # the connection goes back to the pool, for writers that must queue
                    await autocommit.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        except Exception as error:  # the erasure itself is committed: never fail it for this
            log.warning("checkpoint after an erasure failed (%s)", type(error).__name__)
            return False
        if busy:
            log.info("checkpoint after an erasure: the write-ahead log is busy; the next one retries")
        return not busy

    async def dispose(self) -> None:
        """Close every pooled connection (on shutdown, and in tests between event loops)."""
        await self.engine.dispose()

    def __repr__(self) -> str:
        return f"<Database {self.url.render_as_string(hide_password=True)}>"


def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    """WAL lets readers proceed during a write; busy_timeout makes writers queue, not fail;
    secure_delete overwrites deleted rows with zeros (set here, on every connection of the pool,
    because builds differ in their default)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a pooled connection before use only when it has been idle ``IDLE_PING_AFTER`` s.

    ``pool_pre_ping`` pings at every checkout: a round trip per transaction, half of all
    the signing path's round trips (bench/README.md). A connection in steady use needs no
    ping: should the server restart under it, the statement fails as a disconnect,
    SQLAlchemy then retires every connection of the pool, and the step is tried once more
    (``handlers.core``). An idle connection, the likeliest to have been dropped unseen (a
    restart at night, a firewall's idle timeout), is still checked before it is used.
    """
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _idle_from(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_AFTER:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError from error  # the pool replaces it with a new connection
        if not alive:
            raise DisconnectionError
