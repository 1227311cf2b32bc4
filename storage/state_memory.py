"""In-memory conversation state for the embedded, single-process setup.

Same behaviour as the Redis store: values are stored as JSON (so a caller
mutating a loaded dict never changes the stored one, and a value that Redis
could not hold fails here too), every entry expires, and a per-key lock
serialises one user's events. Memory stays bounded: expired entries are
dropped when read and swept periodically, and a lock disappears as soon as
nobody holds or waits for it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from storage.errors import LockTimeout, StateStoreError
from storage.state import Held, check_ttl


class _LockEntry:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0  # holders + waiters; the entry is removed when it drops to 0


class MemoryStateStore:
    """A ``StateStore`` in a dict with expiry times; one process only."""

    def __init__(self, *, purge_interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._purge_interval = purge_interval
        self._next_purge = clock() + purge_interval
        self._values: dict[str, tuple[float, str]] = {}  # key -> (expires at, JSON)
        self._seen: dict[str, float] = {}  # token -> expires at
        self._locks: dict[str, _LockEntry] = {}
        self._counters: dict[str, tuple[float, int]] = {}  # key -> (window ends at, count)

    async def load(self, key: str) -> dict[str, Any] | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        expires_at, raw = entry
        if expires_at <= self._clock():
            del self._values[key]
            return None
        value = json.loads(raw)
        if not isinstance(value, dict):  # pragma: no cover - save only writes dicts
            raise StateStoreError(f"state under {key!r} is not an object")
        return value

    async def load_many(self, *keys: str) -> list[dict[str, Any] | None]:
        return [await self.load(key) for key in keys]

    async def save(self, key: str, data: dict[str, Any], ttl: int) -> None:
        check_ttl(ttl)
        raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        self._maybe_purge()
        self._values[key] = (self._clock() + ttl, raw)

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    async def first_time(self, token: str, ttl: int) -> bool:
        check_ttl(ttl)
        now = self._clock()
        expires_at = self._seen.get(token)
        if expires_at is not None and expires_at > now:
            return False
        self._maybe_purge()
        self._seen[token] = now + ttl
        return True

    async def hit(self, key: str, window: int) -> int:
        check_ttl(window)
        now = self._clock()
        ends_at, count = self._counters.get(key, (0.0, 0))
        if ends_at <= now:
            self._maybe_purge()
            ends_at, count = now + window, 0
        self._counters[key] = (ends_at, count + 1)
        return count + 1

    def lock(self, key: str, timeout: float = 30.0, *, read: tuple[str, ...] = ()) -> AbstractAsyncContextManager[Held]:
        """Per-key ``asyncio.Lock``; raises ``LockTimeout`` after waiting ``timeout`` seconds."""
        return self._lock(key, seconds=timeout, read=read)

    @asynccontextmanager
    async def _lock(self, key: str, seconds: float, read: tuple[str, ...]) -> AsyncIterator[Held]:
        entry = self._locks.get(key)
        if entry is None:
            entry = self._locks[key] = _LockEntry()
        entry.users += 1
        try:
            try:
                await asyncio.wait_for(entry.lock.acquire(), seconds)
            except TimeoutError:
                raise LockTimeout(f"lock not obtained within {seconds} s") from None
            held = Held()
            try:
                held.values = await self.load_many(*read)
                yield held
            finally:
                try:
                    if held.on_release is not None:
                        await self.save(*held.on_release)
                finally:
                    entry.lock.release()
        finally:
            entry.users -= 1
            if entry.users == 0 and self._locks.get(key) is entry:
                del self._locks[key]

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        return None  # one process: whoever would listen shares its objects already

    async def subscribe(self, topic: str) -> AsyncIterator[dict[str, Any]]:
        await asyncio.Event().wait()  # nothing ever comes
        yield {}  # pragma: no cover - makes this an async generator

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._values.clear()
        self._seen.clear()
        self._counters.clear()

    def __len__(self) -> int:
        """Entries held (values, de-duplication tokens and live locks), expired ones included until swept."""
        return len(self._values) + len(self._seen) + len(self._locks) + len(self._counters)

    def purge(self) -> None:
        """Drop every expired entry now (also done automatically every ``purge_interval`` seconds)."""
        now = self._clock()
        self._values = {k: v for k, v in self._values.items() if v[0] > now}
        self._seen = {k: t for k, t in self._seen.items() if t > now}
        self._counters = {k: c for k, c in self._counters.items() if c[0] > now}
        self._next_purge = now + self._purge_interval

    def _maybe_purge(self) -> None:
        if self._clock() >= self._next_purge:
            self.purge()
