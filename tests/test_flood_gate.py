"""bot.flood_gate: what a 429 pauses, and for how long, on an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from bot.flood_gate import FloodGate, share
from storage.state_redis import RedisStateStore


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_refusal_pauses_its_chat_for_exactly_retry_after() -> None:
    clock = Clock()
    gate = FloodGate(clock=clock)
    gate.refused(1, 3)
    assert (gate.delay(1), gate.delay(2), gate.delay(None)) == (3, 0, 0)  # the others go on
    clock.now += 2
    assert gate.delay(1) == 1
    clock.now += 1
    assert gate.delay(1) == 0


def test_refusals_in_two_chats_at_once_pause_everything() -> None:
    clock = Clock()
    gate = FloodGate(clock=clock)
    gate.refused(1, 2)
    clock.now += 1
    gate.refused(2, 5)  # chat 1 still paused: the limit is the bot's
    assert (gate.delay(1), gate.delay(2), gate.delay(3), gate.delay(None)) == (5, 5, 5, 5)
    clock.now += 5
    assert (gate.delay(3), gate.delay(None)) == (0, 0)


def test_a_refusal_after_the_last_pause_ended_is_the_chat_s_own() -> None:
    clock = Clock()
    gate = FloodGate(clock=clock)
    gate.refused(1, 1)
    clock.now += 2
    gate.refused(2, 1)
    assert (gate.delay(2), gate.delay(3)) == (1, 0)


def test_a_callback_answer_s_refusal_pauses_nothing() -> None:
    gate = FloodGate(clock=Clock())
    gate.refused(None, 5)
    assert (gate.delay(1), gate.delay(None)) == (0, 0)


# --- several workers: the refusals shared through Redis --------------------------------------


@pytest.mark.redis
async def test_workers_sharing_redis_pause_the_chat_another_was_refused_in(
    redis_state_store_factory: Callable[..., RedisStateStore],
) -> None:
    """Two gates, two stores with their own connections: two workers of one bot."""
    gates = [FloodGate(), FloodGate()]
    sharing = [asyncio.create_task(share(gate, redis_state_store_factory())) for gate in gates]
    try:
        await asyncio.sleep(0.3)  # both subscribed
        gates[0].refused(7, 3)  # a 429 in the first worker
        async with asyncio.timeout(5):
            while True:
                if gates[1].delay(7) > 0:
                    break
                await asyncio.sleep(0.01)
        assert 2 < gates[1].delay(7) <= 3 and gates[1].delay(8) == 0  # that chat only
        gates[1].refused(8, 2)  # a second chat refused: the bot's own limit, in both workers
        async with asyncio.timeout(5):
            while True:
                if gates[0].delay(9) > 0:
                    break
                await asyncio.sleep(0.01)
        assert gates[1].delay(9) > 0  # ... and in the one refused
    finally:
        for task in sharing:
            task.cancel()
        await asyncio.gather(*sharing, return_exceptions=True)
    assert all(gate.on_refused is None for gate in gates)
