"""The in-memory store: expiry without waiting (a fake clock) and bounded memory."""

from __future__ import annotations

import asyncio

import pytest

from storage.errors import LockTimeout
from storage.state_memory import MemoryStateStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_state_expires_after_ttl() -> None:
    clock = FakeClock()
    store = MemoryStateStore(clock=clock)
    await store.save("k", {"a": 1}, ttl=10)
    clock.now += 9.9
    assert await store.load("k") == {"a": 1}
    clock.now += 0.2
    assert await store.load("k") is None


async def test_first_time_expires_after_ttl() -> None:
    clock = FakeClock()
    store = MemoryStateStore(clock=clock)
    assert await store.first_time("u1", ttl=10) is True
    clock.now += 5
    assert await store.first_time("u1", ttl=10) is False
    clock.now += 6
    assert await store.first_time("u1", ttl=10) is True


async def test_expired_entries_are_swept_so_memory_is_bounded() -> None:
    clock = FakeClock()
    store = MemoryStateStore(clock=clock, purge_interval=60)
    for i in range(10_000):
        await store.save(f"state:{i}", {"i": i}, ttl=30)
        await store.first_time(f"update:{i}", ttl=30)
    assert len(store) == 20_000
    clock.now += 61  # all expired, and the sweep is due
    await store.save("fresh", {}, ttl=30)
    assert len(store) == 1


async def test_locks_are_dropped_when_unused() -> None:
    store = MemoryStateStore()

    async def work(key: str) -> None:
        async with store.lock(key, timeout=5):
            await asyncio.sleep(0)

    await asyncio.gather(*(work(f"user:{i % 50}") for i in range(500)))
    assert len(store) == 0


async def test_lock_entry_dropped_after_a_timeout() -> None:
    store = MemoryStateStore()
    async with store.lock("user:1", timeout=5):
        with pytest.raises(LockTimeout):
            async with store.lock("user:1", timeout=0.01):
                pytest.fail("entered a held lock")
    assert len(store) == 0


async def test_lock_entry_dropped_when_a_waiter_is_cancelled() -> None:
    store = MemoryStateStore()
    async with store.lock("user:1", timeout=5):
        waiter = asyncio.create_task(store.lock("user:1", timeout=5).__aenter__())
        await asyncio.sleep(0.01)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
    assert len(store) == 0
