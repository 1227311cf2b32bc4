"""The count the web shows, read from the database at most once every few seconds.

A page or a widget may be asked for a thousand times a second when a campaign is in
the news; the database must not be. ``KeptCount`` keeps the last count read for
``ttl`` seconds and lets one request read it again when it is older, while the
others wait for that one read (never a stampede of identical queries).
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._ttl = ttl
        self._clock = clock
        self._kept: Count | None = None
        self._kept_at = 0.0
        self._lock = asyncio.Lock()
        self.reads = 0  # how many times the database was asked (for tests and the benchmark)

    def _fresh(self) -> Count | None:
        if self._kept is not None and self._clock() - self._kept_at < self._ttl:
            return self._kept
        return None

    async def get(self) -> Count:
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        async with self._lock:
            fresh = self._fresh()  # another request read it while this one waited
            if fresh is not None:
                return fresh
            value = await self._read()
            self.reads += 1
            if self._kept is None or self._kept.value != value:
                self._kept = Count(value, datetime.now(UTC))
            self._kept_at = self._clock()
            return self._kept
