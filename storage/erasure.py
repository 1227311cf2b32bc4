"""Erased rows leave the database files: what ``python -m bot purge`` does about it every day.

A withdrawal, an organiser's removal and a purge delete rows at once, but a
database keeps deleted bytes in its files until something overwrites them:

- **SQLite**: every connection sets ``secure_delete`` (``storage.db``), so the
  deleted row is overwritten with zeros as it is deleted, and each erasure
  checkpoints and truncates the write-ahead log (``Database.after_erasure``).
  The daily run checkpoints again (in case a reader kept the log busy then) and,
  once, ``VACUUM``-s a database that may hold rows deleted before
  ``secure_delete`` was set on every connection.
- **PostgreSQL**: a deleted row stays in the table file (and its values in the
  index files) until the table is rewritten; plain (auto)vacuum only marks the
  space reusable. The daily run rewrites with ``VACUUM FULL`` each table that
  may hold personal data and had rows deleted since its last rewrite: new files
  without them, the old files removed. An UPDATE leaves the old version of the
  row behind just like a DELETE (a name whose form was narrowed, a sharer's count
  whose old version carries the transaction of the signature that raised it), so
  updates count as well. The check is cheap: the server's cumulative count of
  deleted and updated rows per table (``pg_stat_user_tables.n_tup_del + n_tup_upd``)
  against the value recorded in ``maintenance_marks`` at the last rewrite,
  together with the server's start time and the database's statistics reset
  time (after a crash or a reset the count starts again, so any change of
  those also rewrites). No mark yet (the first run) rewrites too. ``VACUUM
  FULL`` locks the table while it runs: about a second for 100,000 signatures
  (13 MB of table, 37 MB with its indexes, measured on a small shared machine);
  signing waits meanwhile, it does not fail.

The server counts a deletion once the deleting connection reports its statistics
(within about ten seconds when idle, a minute at most when busy): a row deleted in
the last minute before a run may be left to the next run.

A rewrite cannot drop a deleted row that a transaction older than the deletion
can still see (a long backup dump, say); ANALYZE afterwards counts such rows, and
then the mark is not recorded, so the next run rewrites again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import Database
from storage.models import MaintenanceMark

log = logging.getLogger(__name__)

# The tables whose rows hold (or held) personal data or the receipt secret, and get deleted.
ERASABLE_TABLES = ("signatures", "broadcast_deliveries", "bot_secrets", "contact_consents")
_MARK = "rewritten:{table}"  # value: "<n_tup_del> <server start> <statistics reset>" at the last rewrite
SQLITE_MARK = "vacuumed:sqlite"  # the one VACUUM after secure_delete was set on every connection


@dataclass(frozen=True)
class Pending:
    """A table whose files may still hold deleted rows."""

    table: str
    deleted: int | None  # rows deleted since its last rewrite; None when unknown (first run, restart, reset)
    mark: str  # what to record once it is rewritten


@dataclass(frozen=True)
class ErasureResult:
    rewritten: tuple[str, ...] = ()  # tables rewritten (PostgreSQL), or ("database",) for a SQLite VACUUM
    deleted: int | None = 0  # rows deleted since the last rewrite, over those tables (None: some unknown)
    seconds: float = 0.0
    held_back: tuple[str, ...] = ()  # rewritten, but an older transaction still saw deleted rows
    checkpointed: bool = False  # SQLite: the write-ahead log was copied into the file and emptied
    failed: str | None = None  # why nothing could be rewritten now (the next run retries)


async def pending(db: Database, *, force: Collection[str] = ()) -> list[Pending]:
    """PostgreSQL: the erasable tables with deletions since their last rewrite, and those in
    ``force`` (this process just deleted from them: the server counts a deletion only once the
    deleting connection reports its statistics, within seconds). SQLite: none."""
    if not db.is_postgres:
        return []
    async with db.session() as session:
        server = (
            await session.execute(
                text(
                    "SELECT extract(epoch FROM pg_postmaster_start_time()), "
                    "coalesce(extract(epoch FROM stats_reset), 0) "
                    "FROM pg_stat_database WHERE datname = current_database()"
                )
            )
        ).one()
        counts: dict[str, int] = dict(
            (
                await session.execute(
                    text(
                        "SELECT relname, n_tup_del + n_tup_upd FROM pg_stat_user_tables "
                        "WHERE schemaname = current_schema() AND relname = ANY(:tables)"
                    ),
                    {"tables": list(ERASABLE_TABLES)},
                )
            ).all()
        )
        names = [_MARK.format(table=table) for table in ERASABLE_TABLES]
        marks: dict[str, str] = dict(
            (
                await session.execute(
                    select(MaintenanceMark.name, MaintenanceMark.value).where(MaintenanceMark.name.in_(names))
                )
            ).all()
        )
    since = f"{float(server[0]):.3f} {float(server[1]):.3f}"
    found: list[Pending] = []
    for table in ERASABLE_TABLES:
        deleted = int(counts.get(table) or 0)
        mark = f"{deleted} {since}"
        recorded = marks.get(_MARK.format(table=table))
        if recorded == mark and table not in force:
            continue
        before, _, recorded_since = (recorded or "").partition(" ")
        known = recorded is not None and recorded_since == since and before.isdigit() and int(before) <= deleted
        delta = deleted - int(before) if known else None
        found.append(Pending(table, None if delta == 0 else delta, mark))  # 0: forced, not counted yet
    return found


async def erase_deleted_rows(db: Database, *, force: Collection[str] = ()) -> ErasureResult:
    """Make sure no deleted row survives in the files (see the module's docstring); ``force``
    as for ``pending``. Never raises for a database that refuses (locked, no rights): ``failed``
    says why, and the next run retries."""
    started = time.monotonic()
    try:
        if db.is_sqlite:
            return await _sqlite(db, started)
        todo = await pending(db, force=force)
        if not todo:
            return ErasureResult()
        tables = ", ".join(f'"{item.table}"' for item in todo)
        async with db.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql(f"VACUUM (FULL, ANALYZE) {tables}")
            await autocommit.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
            dead: dict[str, int] = dict(
                (
                    await autocommit.execute(
                        text(
                            "SELECT relname, n_dead_tup FROM pg_stat_user_tables "
                            "WHERE schemaname = current_schema() AND relname = ANY(:tables)"
                        ),
                        {"tables": [item.table for item in todo]},
                    )
                ).all()
            )
        held_back = tuple(item.table for item in todo if dead.get(item.table))
        done = [item for item in todo if item.table not in held_back]
        await _record(db, {_MARK.format(table=item.table): item.mark for item in done})
        counts = [item.deleted for item in todo]
        total = None if None in counts else sum(count or 0 for count in counts)
    except Exception as error:
        log.warning("rewriting the tables with erased rows failed (%s)", type(error).__name__)
        return ErasureResult(failed=type(error).__name__, seconds=time.monotonic() - started)
    seconds = time.monotonic() - started
    log.info("erasure: rewrote %s in %.1fs (deleted rows: %s)", tables, seconds, total)
    return ErasureResult(
        rewritten=tuple(item.table for item in todo), deleted=total, seconds=seconds, held_back=held_back
    )


async def _sqlite(db: Database, started: float) -> ErasureResult:
    async with db.session() as session:
        vacuumed = await session.scalar(select(MaintenanceMark.value).where(MaintenanceMark.name == SQLITE_MARK))
    rewritten: tuple[str, ...] = ()
    if vacuumed is None:
        async with db.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql("VACUUM")
        await _record(db, {SQLITE_MARK: "secure_delete"})
        rewritten = ("database",)
    checkpointed = await db.after_erasure()
    return ErasureResult(
        rewritten=rewritten, deleted=None, seconds=time.monotonic() - started, checkpointed=checkpointed
    )


async def _record(db: Database, marks: dict[str, str]) -> None:
    if not marks:
        return
    rows = [{"name": name, "value": value} for name, value in marks.items()]
    insert = pg_insert(MaintenanceMark) if db.is_postgres else sqlite_insert(MaintenanceMark)
    statement = insert.values(rows).on_conflict_do_update(
        index_elements=["name"], set_={"value": insert.excluded.value}
    )
    async with db.transaction() as session:
        await session.execute(statement)
