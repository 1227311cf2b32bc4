"""The conversation-state store interface.

Two implementations live beside it: ``storage.state_memory.MemoryStateStore``
(embedded default, one process) and ``storage.state_redis.RedisStateStore``
(several workers behind one webhook). Every key written has a TTL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol


def check_ttl(ttl: int) -> None:
    """Every key a store writes expires: a whole number of seconds, at least 1."""
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1:
        raise ValueError("ttl must be a whole number of seconds, at least 1")


@dataclass(slots=True)
class Held:
    """A held lock: the values ``StateStore.lock`` read as it took the lock, and at most one
    value to write as it gives the lock back (``save_on_release``)."""

    values: list[dict[str, Any] | None] = field(default_factory=list)
    on_release: tuple[str, dict[str, Any], int] | None = None

    def save_on_release(self, key: str, data: dict[str, Any], ttl: int) -> None:
        """Save ``data`` under ``key`` for ``ttl`` seconds when the lock is released (in the
        same round trip to Redis); a failure then is logged, like a failed release. A ttl
        that is not a whole number of seconds, at least 1, is refused here, not at release."""
        check_ttl(ttl)
        self.on_release = (key, data, ttl)


class StateStore(Protocol):
    async def load(self, key: str) -> dict[str, Any] | None:
        """The state saved under ``key``, or None if absent or expired."""

    async def load_many(self, *keys: str) -> list[dict[str, Any] | None]:
        """The states under ``keys``, in order, read at once (one round trip to Redis)."""

    async def save(self, key: str, data: dict[str, Any], ttl: int) -> None:
        """Store JSON-serialisable ``data`` under ``key`` for ``ttl`` seconds."""

    async def delete(self, key: str) -> None: ...

    async def first_time(self, token: str, ttl: int) -> bool:
        """True the first time ``token`` is seen within ``ttl`` seconds (update de-duplication)."""

    async def hit(self, key: str, window: int) -> int:
        """Count one more event under ``key`` in a fixed window of ``window`` seconds that starts
        with the first event; returns the count so far (rate limits: flood control, /verify)."""

    def lock(self, key: str, timeout: float = 30.0, *, read: tuple[str, ...] = ()) -> AbstractAsyncContextManager[Held]:
        """Serialise work on ``key`` (one user's events) across tasks and workers.

        The states under ``read`` are loaded as the lock is taken (``Held.values``), and
        ``Held.save_on_release`` writes one as it is given back: each in the same round
        trip to Redis as the lock itself, so the core's update costs two round trips
        around its step where four were needed.
        """

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        """Tell every process sharing the store (Redis pub/sub; one process alone: nobody)."""

    def subscribe(self, topic: str) -> AsyncIterator[dict[str, Any]]:
        """What ``publish`` told on ``topic``, this process's own messages included, for as long
        as the iteration runs (one process alone: never anything)."""

    async def ping(self) -> None:
        """Raise if the store cannot be reached (used at start and by the health check)."""

    async def close(self) -> None: ...
