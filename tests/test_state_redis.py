"""Redis specifics: TTLs on every key, expiry, locks across workers, errors as StateStoreError."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from storage.errors import LockTimeout, StateStoreError
from storage.state_redis import RedisStateStore

pytestmark = pytest.mark.redis

Factory = Callable[..., RedisStateStore]


async def test_every_key_has_the_prefix_and_a_ttl(redis_state_store_factory: Factory, state_prefix: str) -> None:
    store = redis_state_store_factory()
    await store.save("state:1", {"step": "name"}, ttl=120)
    await store.first_time("update:1", ttl=60)
    await store.hit("flood:1", window=90)
    async with store.lock("user:1", timeout=30):
        keys = sorted([k.decode() async for k in store.client.scan_iter(match=f"{state_prefix}*")])
        assert keys == [
            f"{state_prefix}hits:flood:1",
            f"{state_prefix}lock:user:1",
            f"{state_prefix}seen:update:1",
            f"{state_prefix}state:state:1",
        ]
        for key in keys:
            ttl_ms = await store.client.pttl(key)
            assert 0 < ttl_ms <= 120_000, key
    assert await store.client.exists(f"{state_prefix}lock:user:1") == 0  # released


async def test_values_expire(redis_state_store_factory: Factory) -> None:
    store = redis_state_store_factory()
    await store.save("k", {"a": 1}, ttl=1)
    assert await store.first_time("t", ttl=1) is True
    await asyncio.sleep(1.1)
    assert await store.load("k") is None
    assert await store.first_time("t", ttl=1) is True


async def test_lock_across_two_workers(redis_state_store_factory: Factory) -> None:
    """Two stores with their own pools stand for two worker processes sharing Redis."""
    worker_a = redis_state_store_factory()
    worker_b = redis_state_store_factory()
    await worker_a.save("counter", {"n": 0}, ttl=60)
    inside = 0
    most_inside = 0

    async def increment(store: RedisStateStore) -> None:
        nonlocal inside, most_inside
        async with store.lock("user:42", timeout=10):
            inside += 1
            most_inside = max(most_inside, inside)
            current = await store.load("counter")
            assert current is not None
            await asyncio.sleep(0.001)
            await store.save("counter", {"n": current["n"] + 1}, ttl=60)
            inside -= 1

    await asyncio.gather(*(increment(worker_a if i % 2 else worker_b) for i in range(30)))
    assert await worker_b.load("counter") == {"n": 30}
    assert most_inside == 1


async def test_the_lease_is_renewed_while_the_work_runs(redis_state_store_factory: Factory, state_prefix: str) -> None:
    holder = redis_state_store_factory(lock_lease=0.3)
    other = redis_state_store_factory(lock_lease=0.3)
    async with holder.lock("user:5", timeout=1):
        await asyncio.sleep(1.0)  # three leases long: renewed, still held
        assert 0 < await holder.client.pttl(f"{state_prefix}lock:user:5") <= 300
        with pytest.raises(LockTimeout):
            async with other.lock("user:5", timeout=0.2):
                pass
    async with other.lock("user:5", timeout=0.2):  # released at once
        pass


async def test_a_crashed_holder_blocks_its_user_for_one_lease(
    redis_state_store_factory: Factory, state_prefix: str
) -> None:
    store = redis_state_store_factory(lock_lease=0.3)
    # What a killed worker leaves behind: its token, on a lease nobody renews.
    await store.client.set(f"{state_prefix}lock:user:6", b"killed-worker", px=300)
    started = time.monotonic()
    async with store.lock("user:6", timeout=5):
        waited = time.monotonic() - started
    assert waited < 1.0, waited


async def test_the_lock_script_sent_twice_by_its_holder_counts_as_taken(
    redis_state_store_factory: Factory, state_prefix: str
) -> None:
    """redis-py sends a command again once when its answer is lost: the holder's own token is
    taken (its lease renewed), not a lock to wait a whole lease for."""
    store = redis_state_store_factory()
    key = f"{state_prefix}lock:user:11"
    await store.client.set(key, b"this-holder", px=60_000)
    taken, *_ = await store._acquire(keys=[key], args=["this-holder", 5000])
    assert taken == 1 and 0 < await store.client.pttl(key) <= 5000
    taken, *_ = await store._acquire(keys=[key], args=["another-holder", 5000])
    assert taken == 0


async def test_a_lapsed_lease_does_not_break_the_caller(
    redis_state_store_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    store = redis_state_store_factory(lock_lease=0.1)
    async with store.lock("user:5", timeout=1):
        time.sleep(0.3)  # noqa: ASYNC251 - the event loop stalled past the lease: no renewal could run
    assert "lapsed" in caplog.text  # logged, not raised
    async with store.lock("user:5", timeout=1):
        pass


async def test_small_pool_waits_instead_of_failing(redis_state_store_factory: Factory) -> None:
    """More concurrent commands than connections: they queue (BlockingConnectionPool)."""
    store = redis_state_store_factory(max_connections=2, pool_timeout=10)
    await asyncio.gather(*(store.save(f"k{i}", {"i": i}, ttl=60) for i in range(200)))
    values = await asyncio.gather(*(store.load(f"k{i}") for i in range(200)))
    assert values == [{"i": i} for i in range(200)]


async def test_corrupt_value_is_a_state_store_error(redis_state_store_factory: Factory, state_prefix: str) -> None:
    store = redis_state_store_factory()
    await store.client.set(f"{state_prefix}state:bad", b"{not json", ex=60)
    with pytest.raises(StateStoreError):
        await store.load("bad")
    await store.client.set(f"{state_prefix}state:list", b"[1, 2]", ex=60)
    with pytest.raises(StateStoreError):
        await store.load("list")


async def test_a_corrupt_state_read_with_the_lock_gives_the_lock_back(
    redis_state_store_factory: Factory, state_prefix: str
) -> None:
    store = redis_state_store_factory()
    await store.client.set(f"{state_prefix}state:bad", b"{not json", ex=60)
    with pytest.raises(StateStoreError):
        async with store.lock("user:8", timeout=1, read=("bad",)):
            pytest.fail("entered with a state that cannot be read")
    assert await store.client.exists(f"{state_prefix}lock:user:8") == 0
    async with store.lock("user:8", timeout=0.2):  # free at once, not after the lease
        pass


async def test_unreachable_redis_raises_state_store_error() -> None:
    store = RedisStateStore("redis://127.0.0.1:1/0", socket_timeout=0.5, pool_timeout=0.5)
    try:
        with pytest.raises(StateStoreError):
            await store.ping()
        with pytest.raises(StateStoreError):
            await store.load("k")
        with pytest.raises(StateStoreError):
            await store.save("k", {"a": 1}, ttl=60)
        with pytest.raises(StateStoreError):
            await store.first_time("t", ttl=60)
        with pytest.raises(StateStoreError):
            async with store.lock("user:1", timeout=0.5):
                pass
    finally:
        await store.close()
