"""The anonymous funnel counts (how many people reached each step, a day, a language, a
source; never who), gathered in memory and written every few seconds.

A count per step used to be one database write per update: at a crowd's pace that is
most of the writes, and on SQLite the writers queue behind each other. ``FunnelBuffer``
adds up a process's counts and ``flush`` writes them in one transaction, one
``INSERT ... ON CONFLICT DO UPDATE SET count = count + excluded.count`` per key, so
concurrent flushes from several workers never lose a count. The bot flushes on a timer,
before ``/stats`` reads them, and at shutdown; a crash loses at most one interval of
anonymous counts, never a signature.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Mapping
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import Database
from storage.models import FunnelCount

log = logging.getLogger(__name__)

STEP = re.compile(r"[a-z_]{1,16}")
LIMITS = {"campaign": 64, "language": 16, "source": 64}


class FunnelKey(NamedTuple):
    campaign: str
    day: date
    step: str
    language: str
    source: str  # "" = no source

    def checked(self) -> FunnelKey:
        """The key if it fits the table; ``ValueError`` otherwise (a bug, never user input)."""
        if not STEP.fullmatch(self.step):
            raise ValueError(f"invalid funnel step {self.step!r}")
        for field, limit in LIMITS.items():
            if len(getattr(self, field)) > limit:
                raise ValueError(f"funnel {field} longer than {limit} characters")
        return self


async def add_counts(db: Database, counts: Mapping[FunnelKey, int]) -> None:
    """Add ``counts`` to the table in one transaction."""
    if not counts:
        return
    rows = [{**key.checked()._asdict(), "count": n} for key, n in counts.items() if n]
    keys = list(FunnelKey._fields)
    if db.is_postgres:
        pg = pg_insert(FunnelCount)
        statement: Any = pg.on_conflict_do_update(
            index_elements=keys, set_={"count": FunnelCount.count + pg.excluded.count}
        )
    elif db.is_sqlite:
        lite = sqlite_insert(FunnelCount)
        statement = lite.on_conflict_do_update(
            index_elements=keys, set_={"count": FunnelCount.count + lite.excluded.count}
        )
    else:  # pragma: no cover - only the two supported dialects reach here
        raise NotImplementedError(f"funnel counts do not support {db.dialect_name}")
    async with db.transaction() as session:
        await session.execute(statement, rows)


class FunnelBuffer:
    """One process's funnel counts not yet written."""

    def __init__(self) -> None:
        self._counts: Counter[FunnelKey] = Counter()

    def add(self, key: FunnelKey, n: int = 1) -> None:
        self._counts[key.checked()] += n

    @property
    def pending(self) -> int:
        return sum(self._counts.values())

    async def flush(self, db: Database) -> None:
        """Write what was gathered; on a failure keep it for the next flush (and raise)."""
        taken, self._counts = self._counts, Counter()
        try:
            await add_counts(db, taken)
        except BaseException:
            self._counts.update(taken)
            raise
