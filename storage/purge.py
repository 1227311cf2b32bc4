"""Personal data has an end date: erasing the signatures past retention, keeping anonymous counts.

A campaign's signatures are past retention when today (UTC) is later than
``CAMPAIGN_END + RETENTION_DAYS``. ``purge_signatures`` then moves each one into
``signature_tallies`` (one count per UTC day of signing, country, language, source
and letter version) and deletes the row: the name, the Telegram id, the receipt
and the referral code go, and so do its broadcast deliveries (``ON DELETE
CASCADE``). Nothing else in the database holds a signer's data: the funnel counts
and the tallies are anonymous, broadcasts hold organisers' texts and ids only.
``/stats`` and the "N people have signed" total add the tallies back, so they do
not change.

Each batch is one transaction whose ``DELETE ... RETURNING`` yields exactly the
rows it deleted, and the tallies are added from those (``INSERT ... ON CONFLICT
DO UPDATE SET count = count + excluded.count``): a withdrawal or a second purge
running at the same moment can neither be counted twice nor lost. Running it
again finds nothing left, so it is safe to run daily from a scheduler.

Deleted rows must not linger in the file either. On SQLite every connection
sets ``secure_delete`` (``storage.db``: freed space is overwritten with zeros), and after a purge
that erased anything the database is ``VACUUM``-ed and its write-ahead log
checkpointed and truncated. On PostgreSQL the tables concerned are rewritten
with ``VACUUM FULL`` (outside any transaction): new files without the deleted
rows, and the old ones, indexes included, removed. It locks those tables while
it runs, which is short because they are nearly empty after a purge. The
server's write-ahead log and any backups keep old pages until they are recycled
or expire, which their own retention settles.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import consents
from storage.db import Database
from storage.models import Signature, SignatureTally

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
_TallyKey = tuple[date, str, str, str, str]  # day, country, language, source ("" = none), letter version


def purge_from(campaign_end: date, retention_days: int) -> date:
    """The first UTC day on which the campaign's signatures are past retention."""
    return campaign_end + timedelta(days=retention_days + 1)


def is_due(campaign_end: date, retention_days: int, today: date | None = None) -> bool:
    """Whether today (UTC) is later than ``campaign_end + retention_days``."""
    today = today or datetime.now(UTC).date()
    return today >= purge_from(campaign_end, retention_days)


@dataclass(frozen=True)
class PurgePlan:
    """What a purge would erase now: how many signatures, signed from ``first_day`` to ``last_day`` (UTC)."""

    signatures: int
    first_day: date | None
    last_day: date | None
    already_purged: int  # erased by earlier purges, now only counted


async def plan_purge(db: Database, campaign: str) -> PurgePlan:
    """The dry run: counts only, from one statement (no name, id or receipt is read)."""
    purged = (
        select(func.coalesce(func.sum(SignatureTally.count), 0))
        .where(SignatureTally.campaign == campaign)
        .scalar_subquery()
    )
    statement = select(func.count(), func.min(Signature.signed_at), func.max(Signature.signed_at), purged).where(
        Signature.campaign == campaign
    )
    async with db.session() as session:
        count, first, last, already = (await session.execute(statement)).one()
    return PurgePlan(
        signatures=int(count or 0),
        first_day=_utc_day(first) if first is not None else None,
        last_day=_utc_day(last) if last is not None else None,
        already_purged=int(already or 0),
    )


def _utc_day(value: Any) -> date:
    # min()/max() bypass the column type on SQLite and come back as text there.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    moment: datetime = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()


@dataclass(frozen=True)
class PurgeResult:
    purged: int  # signatures erased by this run
    reclaimed: bool  # the freed space was vacuumed (SQLite: and the write-ahead log truncated)


Progress = Callable[[int], Awaitable[None]]


async def purge_signatures(
    db: Database, campaign: str, *, batch_size: int = BATCH_SIZE, progress: Progress | None = None
) -> PurgeResult:
    """Erase every signature of ``campaign``, keeping anonymous counts; the caller checks it is due.

    ``progress(done)`` is awaited after each batch.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    done = 0
    async with db.engine.connect() as connection:
        while True:
            async with connection.begin():
                erased = await _purge_batch(db, connection, campaign, batch_size)
            if not erased:  # not "fewer than a batch": a withdrawal meanwhile may have made one short
                break
            done += erased
            if progress is not None:
                await progress(done)
    # The contact consents that depended on what is gone: this campaign's partners', and the
    # organisation's of people with no signature left on any letter.
    consents_dropped = await consents.drop_after_purge(db, campaign)
    reclaimed = await _reclaim(db) if done or consents_dropped else False
    log.info(
        "purge campaign=%s purged=%d contact_consents=%d reclaimed=%s", campaign, done, consents_dropped, reclaimed
    )
    return PurgeResult(purged=done, reclaimed=reclaimed)


async def _purge_batch(db: Database, connection: AsyncConnection, campaign: str, batch_size: int) -> int:
    """Delete up to ``batch_size`` rows and add exactly those to the tallies, in the caller's transaction."""
    batch = (
        select(Signature.id).where(Signature.campaign == campaign).order_by(Signature.id).limit(batch_size)
    ).scalar_subquery()
    deleted = await connection.execute(
        delete(Signature)
        .where(Signature.id.in_(batch))
        .returning(
            Signature.signed_at,
            Signature.country,
            Signature.language,
            Signature.source,
            Signature.letter_version,
        )
    )
    counts: Counter[_TallyKey] = Counter()
    for signed_at, country, language, source, letter_version in deleted:
        counts[(signed_at.astimezone(UTC).date(), country, language, source or "", letter_version)] += 1
    if not counts:
        return 0
    rows = [
        {
            "campaign": campaign,
            "day": day,
            "country": country,
            "language": language,
            "source": source,
            "letter_version": letter_version,
            "count": count,
        }
        for (day, country, language, source, letter_version), count in counts.items()
    ]
    keys = ["campaign", "day", "country", "language", "source", "letter_version"]
    if db.is_postgres:
        pg = pg_insert(SignatureTally).values(rows)
        statement: Any = pg.on_conflict_do_update(
            index_elements=keys, set_={"count": SignatureTally.count + pg.excluded.count}
        )
    elif db.is_sqlite:
        lite = sqlite_insert(SignatureTally).values(rows)
        statement = lite.on_conflict_do_update(
            index_elements=keys, set_={"count": SignatureTally.count + lite.excluded.count}
        )
    else:  # pragma: no cover - only the two supported dialects reach here
        raise NotImplementedError(f"purge does not support {db.dialect_name}")
    await connection.execute(statement)
    return sum(counts.values())


async def _reclaim(db: Database) -> bool:
    """VACUUM what the purge freed, outside any transaction; False if the database would not let it."""
    async with db.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        try:
            if db.is_sqlite:
                await autocommit.exec_driver_sql("VACUUM")
                # Copy the vacuumed pages into the file and empty the write-ahead log, whose older
                # frames may still hold rows written before the purge.
                checkpoint = (await autocommit.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")).one()
                return not checkpoint[0]  # (busy, log frames, checkpointed frames)
            # FULL: plain VACUUM only marks the space free, the names would stay in the files.
            await autocommit.exec_driver_sql("VACUUM (FULL, ANALYZE) signatures, broadcast_deliveries")
            return True
        except Exception as error:  # never a reason to fail a purge that is already committed
            log.warning("purge: reclaiming the freed space failed (%s)", type(error).__name__)
            return False
