"""Conversation state in Redis, shared by several workers behind one webhook.

Keys (all under ``prefix``, all with a TTL so nothing outlives it):

* ``<prefix>state:<key>`` — the JSON state record (``SET ... EX``);
* ``<prefix>seen:<token>`` — update de-duplication (``SET NX EX``);
* ``<prefix>lock:<key>`` — the per-user lock (``SET NX PX`` with a random token,
  released only by that token), on a short lease renewed while the work runs: a
  killed worker's users wait one lease, not the longest step. Taking it reads the
  states the holder needs and giving it back writes one (``Held``), each in one
  Lua script: one round trip each.

The connection pool is a ``BlockingConnectionPool``: when every connection is
busy a command waits up to ``pool_timeout`` for one instead of failing at once
with ``MaxConnectionsError`` (see DESIGN "Pitfalls"). Size ``max_connections``
to the bound on concurrently handled updates. Every Redis failure surfaces as
``StateStoreError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from storage.errors import LockTimeout, StateStoreError, StoreUnavailable
from storage.state import Held, check_ttl

log = logging.getLogger(__name__)

_FAILURES = (RedisError, OSError, TimeoutError)


# INCR, and the window's expiry set by the event that opens it (EVALSHA: one command).
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
"""

# Take the lock (KEYS[1]) with this holder's token for a lease of ARGV[2] ms; when taken, also
# read the states under the other keys. Returns {1, values...} or {0}. Already this token's
# (the script ran, its answer was lost, and the client sent it again): taken, lease renewed.
_ACQUIRE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    if redis.call('GET', KEYS[1]) ~= ARGV[1] then
        return {0}
    end
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if #KEYS == 1 then
    return {1}
end
local values = redis.call('MGET', unpack(KEYS, 2))
table.insert(values, 1, 1)
return values
"""

# Give the lock back if this holder still owns it (a lapsed lease may have let another in),
# and write the one value the holder asked for (KEYS[2], ARGV[2] for ARGV[3] s) either way:
# the work it marks is done. Returns 1 if the lock was still this holder's.
_RELEASE = """
local owned = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1])
    owned = 1
end
if KEYS[2] then
    redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
end
return owned
"""

# Start the lease again from now, if the lock is still this holder's. Returns 1 if so.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


def _decoded(raw: bytes | str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise StateStoreError("stored state is not valid JSON") from error
    if not isinstance(value, dict):
        raise StateStoreError("stored state is not a JSON object")
    return value


class RedisStateStore:
    """A ``StateStore`` on Redis (``redis.asyncio``)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "undersign:",
        max_connections: int = 64,
        pool_timeout: float = 10.0,
        socket_timeout: float = 5.0,
        lock_poll_interval: float = 0.01,
        lock_lease: float = 10.0,
    ) -> None:
        if not prefix:
            raise ValueError("a key prefix is required so the bot's keys can be told apart")
        self.prefix = prefix
        self._lock_poll_interval = lock_poll_interval
        self._lock_lease = lock_lease
        self._pool: BlockingConnectionPool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=pool_timeout,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            health_check_interval=30,
            # After a restart every pooled connection is dead, and each fails once when next
            # used: a command meeting one reconnects and is sent again, once, at once (found by
            # tests/test_outages_e2e.py: the core's own retry drew another dead connection).
            retry=Retry(NoBackoff(), 1),
        )
        self._redis: Redis = Redis(connection_pool=self._pool)
        self._hit = self._redis.register_script(_HIT)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._release = self._redis.register_script(_RELEASE)
        self._renew = self._redis.register_script(_RENEW)

    @property
    def client(self) -> Redis:
        """The underlying client (for health checks and tests); keys must carry ``prefix``."""
        return self._redis

    def _state_key(self, key: str) -> str:
        return f"{self.prefix}state:{key}"

    async def load(self, key: str) -> dict[str, Any] | None:
        [value] = await self.load_many(key)
        return value

    async def load_many(self, *keys: str) -> list[dict[str, Any] | None]:
        try:
            raws = await self._redis.mget([self._state_key(key) for key in keys])
        except _FAILURES as error:
            raise StoreUnavailable(f"redis MGET failed: {type(error).__name__}") from error
        return [_decoded(raw) for raw in raws]

    async def save(self, key: str, data: dict[str, Any], ttl: int) -> None:
        check_ttl(ttl)
        # Serialise first: a value that cannot be stored fails before anything is written.
        raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        try:
            await self._redis.set(self._state_key(key), raw.encode(), ex=ttl)
        except _FAILURES as error:
            raise StoreUnavailable(f"redis SET failed: {type(error).__name__}") from error

    async def delete(self, key: str) -> None:
        try:
            await self._redis.delete(self._state_key(key))
        except _FAILURES as error:
            raise StoreUnavailable(f"redis DEL failed: {type(error).__name__}") from error

    async def first_time(self, token: str, ttl: int) -> bool:
        check_ttl(ttl)
        try:
            created = await self._redis.set(f"{self.prefix}seen:{token}", b"1", nx=True, ex=ttl)
        except _FAILURES as error:
            raise StoreUnavailable(f"redis SET NX failed: {type(error).__name__}") from error
        return bool(created)

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        try:
            await self._redis.publish(f"{self.prefix}{topic}", json.dumps(message, separators=(",", ":")))
        except _FAILURES as error:
            raise StoreUnavailable(f"redis PUBLISH failed: {type(error).__name__}") from error

    async def subscribe(self, topic: str) -> AsyncIterator[dict[str, Any]]:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(f"{self.prefix}{topic}")
            async for raw in pubsub.listen():
                try:
                    message = json.loads(raw["data"])
                except (TypeError, ValueError):
                    continue  # not one of ours
                if isinstance(message, dict):
                    yield message
        except _FAILURES as error:
            raise StoreUnavailable(f"redis SUBSCRIBE failed: {type(error).__name__}") from error
        finally:
            with contextlib.suppress(*_FAILURES):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated

    async def hit(self, key: str, window: int) -> int:
        check_ttl(window)
        try:
            # One script, run atomically: the counter is created with its expiry, or counted
            # up within it (one command per update, where MULTI/SET/INCR/EXEC took four).
            count = await self._hit(keys=[f"{self.prefix}hits:{key}"], args=[window])
        except _FAILURES as error:
            raise StoreUnavailable(f"redis INCR failed: {type(error).__name__}") from error
        return int(count)

    def lock(self, key: str, timeout: float = 30.0, *, read: tuple[str, ...] = ()) -> AbstractAsyncContextManager[Held]:
        """Wait up to ``timeout`` s for the lock, then hold it while the work runs.

        The lock lives on a lease of ``lock_lease`` s, renewed every third of it
        while the work runs: a crashed worker blocks its users for one lease at
        most, and a slow step keeps its lock. Should a renewal fail (Redis away,
        the event loop stalled past the lease), another worker may enter
        meanwhile: that is logged, never raised; the work done stands.
        """
        return self._lock(key, seconds=timeout, read=read)

    @asynccontextmanager
    async def _lock(self, key: str, seconds: float, read: tuple[str, ...]) -> AsyncIterator[Held]:
        lock_key, token = f"{self.prefix}lock:{key}", secrets.token_hex(16)
        lease_ms = max(1, int(self._lock_lease * 1000))
        keys = [lock_key, *(self._state_key(k) for k in read)]
        gives_up_at = time.monotonic() + seconds
        try:
            while True:
                taken, *raws = await self._acquire(keys=keys, args=[token, lease_ms])
                if taken:
                    break
                if time.monotonic() >= gives_up_at:
                    raise LockTimeout(f"lock not obtained within {seconds} s")
                await asyncio.sleep(self._lock_poll_interval)
        except _FAILURES as error:
            raise StoreUnavailable(f"redis lock failed: {type(error).__name__}") from error
        held = Held()
        renewal = _LeaseRenewal(self._renew, lock_key, token, lease_ms, every=self._lock_lease / 3)
        try:
            held.values = [_decoded(raw) for raw in raws]  # a corrupt value raises with the lock given back
            yield held
        finally:
            renewal.stop()
            await self._give_back(lock_key, token, held)

    async def _give_back(self, lock_key: str, token: str, held: Held) -> None:
        keys, args = [lock_key], [token]
        if held.on_release is not None:
            key, data, ttl = held.on_release
            keys.append(self._state_key(key))
            args += [json.dumps(data, ensure_ascii=False, separators=(",", ":")), str(ttl)]
        try:
            owned = await self._release(keys=keys, args=args)
        except _FAILURES as error:
            # The lease expires by itself; the work done under the lock stands.
            unwritten = f" ({held.on_release[0].split(':')[0]} mark not written)" if held.on_release else ""
            log.warning("state lock release failed: %s%s", type(error).__name__, unwritten)
            return
        if not owned:
            log.warning("state lock lease lapsed before release (not renewed within %s s)", self._lock_lease)

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except _FAILURES as error:
            raise StoreUnavailable(f"redis not reachable: {type(error).__name__}") from error

    async def close(self) -> None:
        await self._redis.aclose()
        await self._pool.aclose()


class _LeaseRenewal:
    """Renews a held lock's lease every ``every`` s until stopped.

    A timer, not a task per lock: most work ends long before the first renewal,
    and a cancelled timer costs next to nothing on the update path.
    """

    def __init__(self, renew: AsyncScript, lock_key: str, token: str, lease_ms: int, *, every: float) -> None:
        self._renew_script = renew
        self._keys: list[str] = [lock_key]
        self._args: list[str | int] = [token, lease_ms]
        self._every = every
        self._loop = asyncio.get_running_loop()
        self._renewing: asyncio.Task[None] | None = None
        self._timer = self._loop.call_later(every, self._renew)

    def _renew(self) -> None:
        self._renewing = self._loop.create_task(self._reacquire())

    async def _reacquire(self) -> None:
        try:
            renewed = await self._renew_script(keys=self._keys, args=self._args)  # the lease starts again from now
        except _FAILURES as error:
            log.warning("state lock renewal failed: %s (tried again)", type(error).__name__)
        else:
            if not renewed:
                log.warning("state lock lease lapsed while its work ran; another worker may have entered")
                return
        self._timer = self._loop.call_later(self._every, self._renew)

    def stop(self) -> None:
        self._timer.cancel()
        if self._renewing is not None:
            self._renewing.cancel()
