"""The conversation-state store interface.

Two implementations live beside it: ``storage.state_memory.MemoryStateStore``
(embedded default, one process) and ``storage.state_redis.RedisStateStore``
(several workers behind one webhook). Every key written has a TTL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol


class StateStore(Protocol):
    async def load(self, key: str) -> dict[str, Any] | None:
        """The state saved under ``key``, or None if absent or expired."""

    async def load_many(self, *keys: str) -> list[dict[str, Any] | None]:
        """The states under ``keys``, in order, read at once (one round trip to Redis: the
        core reads two for every update)."""

    async def save(self, key: str, data: dict[str, Any], ttl: int) -> None:
        """Store JSON-serialisable ``data`` under ``key`` for ``ttl`` seconds."""

    async def delete(self, key: str) -> None: ...

    async def first_time(self, token: str, ttl: int) -> bool:
        """True the first time ``token`` is seen within ``ttl`` seconds (update de-duplication)."""

    async def hit(self, key: str, window: int) -> int:
        """Count one more event under ``key`` in a fixed window of ``window`` seconds that starts
        with the first event; returns the count so far (rate limits: flood control, /verify)."""

    def lock(self, key: str, timeout: float = 30.0) -> AbstractAsyncContextManager[None]:
        """Serialise work on ``key`` (one user's events) across tasks and workers."""

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        """Tell every process sharing the store (Redis pub/sub; one process alone: nobody)."""

    def subscribe(self, topic: str) -> AsyncIterator[dict[str, Any]]:
        """What ``publish`` told on ``topic``, this process's own messages included, for as long
        as the iteration runs (one process alone: never anything)."""

    async def ping(self) -> None:
        """Raise if the store cannot be reached (used at start and by the health check)."""

    async def close(self) -> None: ...
