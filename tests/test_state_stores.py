"""Both state stores (memory and Redis, via the ``state_store`` fixture) behave the same."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from storage.errors import LockTimeout
from storage.state import StateStore
from storage.state_memory import MemoryStateStore
from storage.state_redis import RedisStateStore


async def test_save_load_delete(state_store: StateStore) -> None:
    assert await state_store.load("state:1") is None
    data = {"step": "name", "locale": "pt_BR", "name": "Zoë 🌍 محمد", "country_matches": ["DE", "AT"]}
    await state_store.save("state:1", data, ttl=60)
    assert await state_store.load("state:1") == data
    assert await state_store.load("state:2") is None

    await state_store.save("state:1", {"step": "country"}, ttl=60)  # overwrite, not merge
    assert await state_store.load("state:1") == {"step": "country"}

    await state_store.delete("state:1")
    assert await state_store.load("state:1") is None
    await state_store.delete("state:1")  # deleting what is gone is fine


async def test_load_many_reads_each_key_in_order(state_store: StateStore) -> None:
    await state_store.save("state:a", {"n": 1}, ttl=60)
    await state_store.save("state:b", {"n": 2}, ttl=60)
    assert await state_store.load_many("state:b", "state:missing", "state:a") == [{"n": 2}, None, {"n": 1}]


async def test_loaded_state_is_a_copy(state_store: StateStore) -> None:
    await state_store.save("k", {"answers": [1]}, ttl=60)
    loaded = await state_store.load("k")
    assert loaded is not None
    loaded["answers"].append(2)
    assert await state_store.load("k") == {"answers": [1]}


async def test_unserialisable_state_fails_before_writing(state_store: StateStore) -> None:
    await state_store.save("k", {"ok": True}, ttl=60)
    with pytest.raises(TypeError):
        await state_store.save("k", {"bad": object()}, ttl=60)
    assert await state_store.load("k") == {"ok": True}


@pytest.mark.parametrize("ttl", [0, -5])
async def test_ttl_is_required(state_store: StateStore, ttl: int) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await state_store.save("k", {}, ttl=ttl)
    with pytest.raises(ValueError, match="ttl"):
        await state_store.first_time("t", ttl=ttl)


async def test_hit_counts_within_a_window(state_store: StateStore) -> None:
    assert [await state_store.hit("flood:1", window=60) for _ in range(3)] == [1, 2, 3]
    assert await state_store.hit("flood:2", window=60) == 1  # another key counts apart
    assert await state_store.hit("flood:3", window=1) == 1
    await asyncio.sleep(1.1)
    assert await state_store.hit("flood:3", window=1) == 1  # a new window starts afresh
    with pytest.raises(ValueError, match="ttl"):
        await state_store.hit("flood:1", window=0)


async def test_first_time(state_store: StateStore) -> None:
    assert await state_store.first_time("update:1001", ttl=60) is True
    assert await state_store.first_time("update:1001", ttl=60) is False
    assert await state_store.first_time("update:1002", ttl=60) is True
    results = await asyncio.gather(*(state_store.first_time("update:2000", ttl=60) for _ in range(20)))
    assert results.count(True) == 1


async def test_first_time_and_state_keys_do_not_collide(state_store: StateStore) -> None:
    assert await state_store.first_time("same", ttl=60) is True
    assert await state_store.load("same") is None
    await state_store.save("other", {"a": 1}, ttl=60)
    assert await state_store.first_time("other", ttl=60) is True


async def test_lock_serialises_read_modify_write(state_store: StateStore) -> None:
    await state_store.save("counter", {"n": 0}, ttl=60)

    async def increment() -> None:
        async with state_store.lock("user:7", timeout=10):
            current = await state_store.load("counter")
            assert current is not None
            await asyncio.sleep(0)  # give the others every chance to interleave
            await state_store.save("counter", {"n": current["n"] + 1}, ttl=60)

    await asyncio.gather(*(increment() for _ in range(25)))
    assert await state_store.load("counter") == {"n": 25}


async def test_locks_on_different_keys_do_not_block_each_other(state_store: StateStore) -> None:
    async with state_store.lock("user:1", timeout=5), state_store.lock("user:2", timeout=5):
        pass


async def test_lock_timeout(state_store: StateStore) -> None:
    async with state_store.lock("user:9", timeout=5):
        with pytest.raises(LockTimeout):
            async with state_store.lock("user:9", timeout=0.2):
                pytest.fail("entered a held lock")
    async with state_store.lock("user:9", timeout=1):  # free again afterwards
        pass


async def test_lock_released_on_error(state_store: StateStore) -> None:
    with pytest.raises(RuntimeError):
        async with state_store.lock("user:3", timeout=5):
            raise RuntimeError("handler failed")
    async with state_store.lock("user:3", timeout=1):
        pass


async def test_the_lock_reads_as_it_is_taken_and_writes_as_it_is_given_back(state_store: StateStore) -> None:
    await state_store.save("state:a", {"n": 1}, ttl=60)
    async with state_store.lock("user:4", timeout=5, read=("state:missing", "state:a")) as held:
        assert held.values == [None, {"n": 1}]
        held.save_on_release("done:4", {"at": "release"}, ttl=60)
        assert await state_store.load("done:4") is None  # not before the lock is given back
    assert await state_store.load("done:4") == {"at": "release"}
    async with state_store.lock("user:4", timeout=1) as held:  # nothing to read, nothing to write
        assert held.values == []
    with pytest.raises(RuntimeError):
        async with state_store.lock("user:4", timeout=1, read=("done:4",)):
            raise RuntimeError("the step failed before it asked for a write")
    async with state_store.lock("user:4", timeout=1):  # released all the same
        pass
    with pytest.raises(ValueError, match="ttl"):
        async with state_store.lock("user:4", timeout=1) as held:
            held.save_on_release("done:4", {}, ttl=0)
    async with state_store.lock("user:4", timeout=0.2):  # and after a refused write
        pass


async def test_ping_and_close(state_store: StateStore) -> None:
    await state_store.ping()
    await state_store.save("user:9", {"step": "name"}, ttl=60)
    await state_store.close()
    await state_store.close()  # closing twice (shutdown paths overlap) is harmless


def test_both_stores_satisfy_the_protocol() -> None:
    """mypy checks the assignments at the end of this file; at run time, every method is there."""
    wanted = {"load", "save", "delete", "first_time", "lock", "ping", "close"}
    for store in (MemoryStateStore, RedisStateStore):
        assert {name for name in wanted if callable(getattr(store, name, None))} == wanted, store


if TYPE_CHECKING:  # mypy: both stores are assignable to the protocol
    _memory: StateStore = MemoryStateStore()
    _redis: StateStore = RedisStateStore("redis://127.0.0.1:6379/15")
