"""The organiser's ``/stats``: every count of one campaign, from one consistent snapshot.

Counts are of the *current* signature rows (a withdrawal deletes its row), so
they always equal the rows of an export taken at the same moment, plus the
anonymous tallies that ``python -m bot purge`` left in place of the signatures it
erased after the retention period (per UTC day, country, language, source and
letter version), so totals and history stay right after a purge. Only the
funnel and the numbers of withdrawals and removals come from the anonymous daily
counts, because nothing else about people who did not sign (or withdrew) is kept.

Speed: the counts are kept by the database itself as signatures come and go
(``stat_counts``, migration 0007: a row per day, country, language, source, letter
version, opt-in and slot), so ``/stats`` reads a few hundred rows whatever the number of
signatures; ``python -m bot stats --verify`` recounts the rows and compares
(``storage.stat_counts``). The tallies of purged signatures are one small table (a row per
day and combination at most), read whole and added in Python. On PostgreSQL the three
reads share one exported snapshot (``pg_export_snapshot``, as ``pg_dump -j`` does), so
they add up exactly while signatures keep arriving; SQLite reads them inside one read
transaction.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import stat_counts
from storage.db import Database
from storage.models import FunnelCount, SignatureTally
from storage.signatures import FUNNEL_STEPS

TOP = 10
"""How many countries and sources are listed by name; the rest of the countries are summed."""


@dataclass(frozen=True)
class CampaignStats:
    """Everything ``/stats`` shows. Lists are largest first, ties by key, so output is stable."""

    total: int
    today: int
    last_7_days: int
    last_30_days: int
    by_language: list[tuple[str, int]]  # all, largest first
    by_country: list[tuple[str, int]]  # top 10, largest first
    other_countries: int  # the rest, summed
    by_source: list[tuple[str, int]]  # top 10 sources ('' = direct), largest first
    funnel: dict[str, int]  # started, read, consented, signed, withdrew, removed (anonymous daily counts summed)
    withdrawals: int
    opt_ins: int
    per_day: list[tuple[date, int]]  # per UTC day, oldest first, empty days between first and last as 0
    by_letter_version: list[tuple[str, int]]
    removals: int = 0  # signatures removed by organisers (/remove), from the funnel
    purged: int = 0  # signatures erased after the retention period: counted in every figure above but opt_ins


# --- The queries, written once for both dialects (except signatures per day) ------------------

_Query = Callable[[AsyncConnection], Awaitable[Any]]


def _kept(campaign: str) -> _Query:
    async def run(connection: AsyncConnection) -> stat_counts.Counts:
        return await stat_counts.kept(connection, campaign)

    return run


def _funnel(campaign: str) -> _Query:
    async def run(connection: AsyncConnection) -> dict[str, int]:
        result = await connection.execute(
            select(FunnelCount.step, func.sum(FunnelCount.count))
            .where(FunnelCount.campaign == campaign)
            .group_by(FunnelCount.step)
        )
        return {step: int(total or 0) for step, total in result}

    return run


_Tally = tuple[date, str, str, str, str, int]  # day, country, language, source, letter version, count


def _tallies(campaign: str) -> _Query:
    async def run(connection: AsyncConnection) -> list[_Tally]:
        result = await connection.execute(
            select(
                SignatureTally.day,
                SignatureTally.country,
                SignatureTally.language,
                SignatureTally.source,
                SignatureTally.letter_version,
                SignatureTally.count,
            ).where(SignatureTally.campaign == campaign)
        )
        return [
            (day, country, language, source, letter, int(count))
            for day, country, language, source, letter, count in result
        ]

    return run


def _fill_days(counted: Iterable[tuple[date, int]]) -> list[tuple[date, int]]:
    """Insert the days without signatures (as 0) between the first and the last counted day."""
    counts = dict(counted)
    if not counts:
        return []
    first, last = min(counts), max(counts)
    return [
        (first + timedelta(days=n), counts.get(first + timedelta(days=n), 0)) for n in range((last - first).days + 1)
    ]


# --- Running them -----------------------------------------------------------------------------

FOLLOWER_WAIT = 0.2  # seconds a helper connection may take to come from the pool

_SNAPSHOT_RE = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")


async def _run_postgres(db: Database, queries: Sequence[_Query], parallel: int) -> list[Any]:
    """Run ``queries`` on up to ``parallel`` connections sharing one snapshot."""
    engine = db.engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    async with engine.connect() as leader:
        await leader.execute(text("SET LOCAL jit = off"))
        snapshot = str(await leader.scalar(text("SELECT pg_export_snapshot()")))
        if not _SNAPSHOT_RE.fullmatch(snapshot):  # pragma: no cover - the server's own format
            raise RuntimeError("unexpected snapshot id from pg_export_snapshot()")
        pending = list(enumerate(queries))
        results: list[Any] = [None] * len(queries)

        async def worker(connection: AsyncConnection) -> None:
            while pending:
                index, query = pending.pop(0)
                results[index] = await query(connection)

        async def follower() -> None:
            connection = engine.connect()
            try:
                # A busy pool (an export holds connections) must not make /stats wait: the
                # leader does the work alone if no second connection comes quickly.
                await asyncio.wait_for(connection.start(), FOLLOWER_WAIT)
            except TimeoutError:
                return
            try:
                # Must be the transaction's first statement: the follower then sees exactly
                # the leader's snapshot (the leader's transaction stays open until all are done).
                await connection.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
                await connection.execute(text("SET LOCAL jit = off"))
                await worker(connection)
                await connection.rollback()
            finally:
                await connection.close()

        followers = (follower() for _ in range(min(parallel, len(queries)) - 1))
        # Let every task finish before the leader's transaction (and the snapshot) ends.
        outcomes = await asyncio.gather(worker(leader), *followers, return_exceptions=True)
        await leader.rollback()
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
    return results


async def _run_sqlite(db: Database, queries: Sequence[_Query]) -> list[Any]:
    """Run ``queries`` one after the other inside one read transaction (one snapshot)."""
    async with db.engine.connect() as connection:
        # pysqlite opens no transaction for SELECTs by itself: begin one, so every query
        # reads the same snapshot even while the bot writes (WAL lets readers continue).
        await connection.exec_driver_sql("BEGIN")
        try:
            return [await query(connection) for query in queries]
        finally:
            await connection.rollback()


def _ranked(pairs: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Largest first; equal counts in key order, so the same data always prints the same."""
    return sorted(pairs, key=lambda pair: (-pair[1], pair[0]))


def _merge(pairs: Iterable[tuple[str | None, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for key, count in pairs:
        merged[key or ""] = merged.get(key or "", 0) + count
    return merged


def _window(per_day: Sequence[tuple[date, int]], last: date, days: int) -> int:
    first = last - timedelta(days=days - 1)
    return sum(count for day, count in per_day if first <= day <= last)


async def campaign_stats(
    db: Database, campaign: str, *, now: datetime | None = None, parallel: int = 3
) -> CampaignStats:
    """All of ``/stats`` for ``campaign``.

    ``now`` (timezone-aware, default the current time) fixes "today" as its UTC
    date; "last 7 days" is today and the 6 UTC days before it (likewise 30).
    Signatures dated after ``now``'s day count in the total and ``per_day``
    only. ``parallel`` is the number of PostgreSQL connections used at once
    (1 runs everything on one connection).
    """
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware value (UTC)")
    today = now.astimezone(UTC).date()
    queries: list[_Query] = [_kept(campaign), _funnel(campaign), _tallies(campaign)]
    if db.is_postgres:
        results = await _run_postgres(db, queries, max(1, parallel))
    else:
        results = await _run_sqlite(db, queries)
    counts, funnel_rows, tallies = results
    days = {date.fromisoformat(day): count for day, count in counts["day"].items()}
    countries, sources = list(counts["country"].items()), list(counts["source"].items())
    languages, letters = list(counts["language"].items()), list(counts["letter"].items())
    for day, country, language, source, letter, count in tallies:  # a purge's anonymous counts
        days[day] = days.get(day, 0) + count
        countries.append((country, count))
        languages.append((language, count))
        sources.append((source, count))
        letters.append((letter, count))
    per_day = _fill_days(days.items())
    opt_ins = counts["opt_in"].get("1", 0)

    total = sum(count for _, count in per_day)
    ranked_countries = _ranked(_merge(countries).items())
    top_countries = ranked_countries[:TOP]
    funnel = {step: funnel_rows.get(step, 0) for step in FUNNEL_STEPS}
    return CampaignStats(
        total=total,
        today=_window(per_day, today, 1),
        last_7_days=_window(per_day, today, 7),
        last_30_days=_window(per_day, today, 30),
        by_language=_ranked(_merge(languages).items()),
        by_country=top_countries,
        other_countries=total - sum(count for _, count in top_countries),
        by_source=_ranked(_merge(sources).items())[:TOP],
        funnel=funnel,
        withdrawals=funnel["withdrew"],
        opt_ins=opt_ins,
        per_day=per_day,
        by_letter_version=_ranked(_merge(letters).items()),
        removals=funnel["removed"],
        purged=sum(tally[-1] for tally in tallies),
    )
