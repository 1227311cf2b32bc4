"""PostgreSQL or Redis restarting while people sign (connections dropped, new ones refused
for a moment), staged by a TCP proxy between the running bot and the real servers, and a
real restart of a Redis server of the test's own that keeps its data.

A short outage (a dropped connection, a quick restart) is bridged by the core's one retry
after its pause: nobody sees an apology. A longer one: whoever presses "Sign" in the
middle of it gets a kind apology with their review left as it was, and pressing again
signs. Either way everyone ends with exactly one signature; nobody is stuck.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from emulator import Emulator
from emulator.users import SimulatedUser
from storage import signatures
from storage.db import Database
from tests.fixtures.proxy import TcpProxy
from tests.fixtures.redis_server import RedisServer
from tests.test_signing_e2e import has, until, up_to_review

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PEOPLE = 6
SHORT, LONG = 0.3, 1.5  # seconds: well within the core's retry pause (1 s), and past it


async def _sign_until_thanked(user: SimulatedUser, shown: str) -> int:
    """Press "✅ Sign as …" until thanked, again after each apology; the apologies seen."""
    apologies = 0
    for _ in range(8):
        answer = await user.press(f"✅ Sign as {shown}", timeout=30)
        if answer.text and "went wrong" in answer.text:
            apologies += 1
            await asyncio.sleep(0.5)
            continue
        await until(user, has("Thank you"))
        return apologies
    raise AssertionError(f"{shown}: never thanked")


async def _everyone_signed_once(database_url: str, people: list[SimulatedUser], names: list[str]) -> None:
    db = Database(database_url)
    try:
        assert await signatures.count_signatures(db, "xinjiang") == len(people)
        for user, name in zip(people, names, strict=True):
            stored = await signatures.get_signature(db, "xinjiang", user.id)
            assert stored is not None and stored.name == name
    finally:
        await db.dispose()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("outage", [SHORT, LONG], ids=["short", "long"])
@pytest.mark.parametrize("restarting", ["postgres", "redis"])
async def test_a_restart_while_people_sign_leaves_everyone_with_one_signature(
    start_one_bot: Any,
    emulator: Emulator,
    database_url: str,
    redis_url: str,
    state_prefix: str,
    redis_state_store_factory: Any,  # deletes this test's keys afterwards
    restarting: str,
    outage: float,
) -> None:
    database, redis = make_url(database_url), make_url(redis_url)
    proxies = {
        "postgres": TcpProxy(database.host or "127.0.0.1", database.port or 5432),
        "redis": TcpProxy(redis.host or "127.0.0.1", redis.port or 6379),
    }
    for proxy in proxies.values():
        await proxy.start()
    try:
        await start_one_bot(
            core="real",
            database_url=database.set(port=proxies["postgres"].port).render_as_string(hide_password=False),
            redis_url=redis.set(port=proxies["redis"].port).render_as_string(hide_password=False),
            redis_prefix=state_prefix,
        )
        people = [emulator.user(3100 + n, first_name=f"P{n}", language_code="en") for n in range(PEOPLE)]
        names = [f"Person {n}" for n in range(PEOPLE)]
        await asyncio.gather(*(up_to_review(user, name) for user, name in zip(people, names, strict=True)))

        restart = asyncio.create_task(proxies[restarting].outage(outage))
        await asyncio.sleep(0.1)  # everyone presses while the server is away
        apologies = await asyncio.gather(
            *(_sign_until_thanked(user, name) for user, name in zip(people, names, strict=True))
        )
        await restart
        print(f"{restarting} away {outage} s: {sum(apologies)} apologies for {PEOPLE} people")
        if outage == SHORT:
            assert sum(apologies) == 0, "the retry did not bridge a short outage"
    finally:
        for proxy in proxies.values():
            await proxy.stop()

    await _everyone_signed_once(database_url, people, names)
    assert emulator.rejected == []


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_real_redis_restart_keeps_everyone_where_they_were(
    start_one_bot: Any, emulator: Emulator, database_url: str, redis_server: RedisServer, state_prefix: str
) -> None:
    """Everyone is at the review, kept only in Redis, when Redis restarts (its data kept, as
    production's persistence keeps it). Then they press "Sign": every connection the bot had
    pooled is dead, and each is replaced without an apology; everyone is thanked from the
    review they were at (a Redis that lost its data would send them back to the start, and
    this test would fail: checked with the append-only file turned off)."""
    await start_one_bot(core="real", database_url=database_url, redis_url=redis_server.url, redis_prefix=state_prefix)
    people = [emulator.user(3200 + n, first_name=f"R{n}", language_code="en") for n in range(PEOPLE)]
    names = [f"Restarted {n}" for n in range(PEOPLE)]
    await asyncio.gather(*(up_to_review(user, name) for user, name in zip(people, names, strict=True)))

    await redis_server.restart(away=SHORT)
    apologies = await asyncio.gather(
        *(_sign_until_thanked(user, name) for user, name in zip(people, names, strict=True))
    )
    assert sum(apologies) == 0, "a Redis restart reached someone as an apology"

    await _everyone_signed_once(database_url, people, names)
    assert emulator.rejected == []
