"""The counts ``/stats`` and the total under the letter read (``StatCount``, kept by the
database's triggers), and their check against the rows themselves.

Reading them costs a row per value and slot of each dimension, whatever the number of
signatures. ``recount`` counts the same from the signature rows (as slow as a campaign is
large: for ``python -m bot stats --verify`` and the tests, never for ``/stats``), and
``differences`` says where the two disagree: nowhere, unless something went around the
triggers (a restore of the table alone, a trigger dropped by hand).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Database
from storage.models import Signature, StatCount

Counts = dict[str, dict[str, int]]
"""dimension -> key -> signatures (keys with 0 left out)."""

_KEPT = (
    select(StatCount.dimension, StatCount.key, func.sum(StatCount.count))
    .where(StatCount.campaign == bindparam("campaign"))
    .group_by(StatCount.dimension, StatCount.key)
)


async def kept(connection: AsyncConnection, campaign: str) -> Counts:
    """The kept counts of ``campaign``, read on ``connection`` (one statement: one snapshot)."""
    counts: Counts = {dimension: {} for dimension in StatCount.DIMENSIONS}
    for dimension, key, total in await connection.execute(_KEPT, {"campaign": campaign}):
        if total:
            counts.setdefault(dimension, {})[key] = int(total)
    return counts


async def recount(connection: AsyncConnection, campaign: str) -> Counts:
    """The same counts, from the signature rows (streamed: memory stays flat at any size)."""
    counts: Counts = {dimension: {} for dimension in StatCount.DIMENSIONS}
    columns = (
        Signature.signed_at,
        Signature.country,
        Signature.language,
        Signature.source,
        Signature.letter_version,
        Signature.opt_in,
    )
    result = await connection.stream(
        select(*columns).where(Signature.campaign == campaign).execution_options(yield_per=10_000)
    )
    async for signed_at, country, language, source, letter, opt_in in result:
        keys = (
            signed_at.astimezone(UTC).date().isoformat(),
            country,
            language,
            source or "",
            letter,
            "1" if opt_in else "0",
        )
        for dimension, key in zip(StatCount.DIMENSIONS, keys, strict=True):
            bucket = counts[dimension]
            bucket[key] = bucket.get(key, 0) + 1
    return counts


def differences(kept_counts: Mapping[str, Mapping[str, int]], rows: Mapping[str, Mapping[str, int]]) -> list[str]:
    """Where the kept counts and the rows' disagree, one line each ("country DE: kept 5, rows 4")."""
    lines = []
    for dimension in StatCount.DIMENSIONS:
        mine, theirs = kept_counts.get(dimension, {}), rows.get(dimension, {})
        for key in sorted(set(mine) | set(theirs)):
            if mine.get(key, 0) != theirs.get(key, 0):
                lines.append(f"{dimension} {key or '(none)'}: kept {mine.get(key, 0)}, rows {theirs.get(key, 0)}")
    return lines


async def verify(db: Database, campaign: str) -> list[str]:
    """``differences`` between the kept counts and a recount of the rows, both read in one
    transaction (one snapshot on PostgreSQL: signatures arriving meanwhile change neither)."""
    engine = db.engine.execution_options(isolation_level="REPEATABLE READ") if db.is_postgres else db.engine
    async with engine.connect() as connection:
        if db.is_sqlite:  # pysqlite opens no transaction for reads by itself
            await connection.exec_driver_sql("BEGIN")
        try:
            kept_counts = await kept(connection, campaign)
            return differences(kept_counts, await recount(connection, campaign))
        finally:
            await connection.rollback()


def _keys(postgres: bool) -> list[tuple[str, str]]:
    """(dimension, the SQL of a signature row's key in it): the triggers' own (migration 0007)."""
    day = "to_char((signed_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD')" if postgres else "date(signed_at)"
    return [
        ("day", day),
        ("country", "country"),
        ("language", "language"),
        ("source", "coalesce(source, '')"),
        ("letter", "letter_version"),
        ("opt_in", "CASE WHEN opt_in THEN '1' ELSE '0' END"),
    ]


async def rebuild(db: Database) -> None:
    """Count every signature of every campaign again, from the rows, in one transaction that
    new signatures wait for: after a bulk load made with the triggers off (``COPY`` of
    millions: a trigger per row would take many times longer), or to repair what ``verify``
    found."""
    async with db.engine.begin() as connection:
        if db.is_postgres:
            await connection.exec_driver_sql("LOCK TABLE signatures IN SHARE MODE")  # writers wait; readers go on
        await connection.exec_driver_sql("DELETE FROM stat_counts")
        for dimension, key in _keys(db.is_postgres):
            await connection.exec_driver_sql(
                "INSERT INTO stat_counts (campaign, dimension, key, slot, count) "  # noqa: S608 - constants only
                f"SELECT campaign, '{dimension}', {key}, id % {StatCount.SLOTS}, count(*) FROM signatures "
                f"GROUP BY campaign, {key}, id % {StatCount.SLOTS}"
            )
