"""The count the web shows, read from the database at most once every few seconds.

A page or a widget may be asked for a thousand times a second when a campaign is in
the news; the database must not be. ``KeptCount`` keeps the last count read for
``ttl`` seconds and lets one request read it again when it is older, while the
others wait for that one read (never a stampede of identical queries); a database
that does not answer is asked again only after ``retry_after``, and meanwhile the
last count read is shown.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Count:
    value: int
    changed_at: datetime  # when this process first read this value (UTC): stable while it stays


class KeptCount:
    def __init__(
        self,
        read: Callable[[], Awaitable[int]],
        *,
        ttl: float = 2.0,
        retry_after: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._ttl = ttl
        self._retry_after = retry_after
        self._clock = clock
        self._kept: Count | None = None
        self._kept_at = 0.0
        self._reading: asyncio.Future[Count] | None = None
        self._failed: BaseException | None = None
        self._failed_at = 0.0

    @property
    def failing(self) -> bool:
        """Whether the database did not answer the last time it was asked (the count shown is older)."""
        return self._failed is not None

    async def get(self) -> Count:
        """The count, at most ``ttl`` seconds old. While the database does not answer, the
        last count read (if any) rather than an error; a failed read is not repeated for
        ``retry_after`` seconds, and everyone waiting on it shares its outcome."""
        now = self._clock()
        if self._kept is not None and now - self._kept_at < self._ttl:
            return self._kept
        if self._failed is not None and now - self._failed_at < self._retry_after:
            if self._kept is not None:
                return self._kept
            raise self._failed
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._read_once())
        try:
            return await asyncio.shield(self._reading)  # one waiter cancelled never cancels the read
        except Exception:
            if self._kept is not None:
                return self._kept
            raise

    async def _read_once(self) -> Count:
        try:
            value = await self._read()
        except Exception as error:
            self._failed, self._failed_at = error, self._clock()
            raise
        finally:
            self._reading = None
        self._failed = None
        if self._kept is None or self._kept.value != value:
            self._kept = Count(value, datetime.now(UTC))
        self._kept_at = self._clock()
        return self._kept
