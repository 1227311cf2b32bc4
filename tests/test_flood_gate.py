"""bot.flood_gate: what a 429 pauses, and for how long, on an injected clock."""

from __future__ import annotations

from bot.flood_gate import FloodGate


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
