"""Our polling loop: an update is confirmed to Telegram only once it has been handled.

The offset rule on its own (``Offsets``), then the loop with each runtime's raw getUpdates
over HTTP against the emulator, whose getUpdates keeps an update until a call asks for an
offset above it, as Telegram does. The crash itself (kill -9 of the real bot process) is
in ``test_polling_crash``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import pytest

from bot.runtimes import make_runtime
from bot.runtimes.base import RuntimeBase
from bot.runtimes.polling import HELD_PAUSE, MAX_BATCH, Offsets, Poller
from emulator import Emulator
from handlers.events import Event
from handlers.replies import Deliver

Api = Callable[..., Awaitable[tuple[int, dict[str, Any]]]]


def test_the_offset_stops_at_the_oldest_update_still_running() -> None:
    offsets = Offsets()
    assert offsets.offset is None  # nothing seen yet: Telegram starts at the oldest unconfirmed
    for update_id in (10, 11, 12):
        offsets.start(update_id)
    assert offsets.offset == 10
    offsets.finish(11)
    offsets.finish(12)
    assert offsets.offset == 10  # out of order: 11 and 12 are done, 10 is not
    assert offsets.window == 3  # getUpdates from 10 returns 10, 11 and 12 again
    assert not offsets.is_new(11) and not offsets.is_new(12)
    offsets.start(13)
    offsets.finish(10)
    assert offsets.offset == 13 and offsets.window == 1
    offsets.finish(13)
    assert offsets.offset == 14 and offsets.window == 0
    assert offsets.is_new(14) and not offsets.is_new(13)


def test_the_window_forgets_what_finished_below_the_new_oldest() -> None:
    offsets = Offsets()
    for update_id in range(1, 6):
        offsets.start(update_id)
    for update_id in (2, 4, 5):
        offsets.finish(update_id)
    offsets.finish(1)
    assert offsets.offset == 3  # 2 is done and below: confirmed with 1
    assert offsets.window == 3  # 3 running, 4 and 5 done above it
    offsets.finish(3)
    assert (offsets.offset, offsets.window) == (6, 0)


class Gates:
    """The handler the loop calls: records each update by its text (and its update_id in
    ``ids``) and, for the texts a test holds, waits until the test lets it go."""

    def __init__(self) -> None:
        self.handled: list[str] = []
        self.started: list[str] = []
        self.ids: dict[str, int] = {}
        self.held: dict[str, asyncio.Event] = {}

    def hold(self, text: str) -> None:
        self.held[text] = asyncio.Event()

    async def __call__(self, data: Mapping[str, Any]) -> None:
        await self.run(int(data["update_id"]), str(data["message"]["text"]))

    async def on_event(self, event: Event, deliver: Deliver) -> None:
        """The same, attached to a runtime as its core."""
        await self.run(event.update_id, event.text)

    async def run(self, update_id: int, text: str) -> None:
        self.ids[text] = update_id
        self.started.append(text)
        if text in self.held:
            await self.held[text].wait()
        self.handled.append(text)


class Sleeps:
    """Records the pauses the loop would take, and takes none."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture(params=["aiogram", "ptb"])
async def runtime(request: pytest.FixtureRequest, emulator: Emulator) -> AsyncIterator[RuntimeBase]:
    assert emulator.base_url is not None
    started = make_runtime(request.param, token=emulator.token, api_url=emulator.base_url, max_concurrent_updates=8)
    assert isinstance(started, RuntimeBase)
    await started.start()
    yield started
    await started.close()


def poller(runtime: RuntimeBase, handle: Gates, sleep: Sleeps | None = None, limit: int = 8) -> Poller:
    """The loop as ``run_polling`` builds it, with a one-second long poll."""
    return Poller(
        runtime._get_updates,
        handle,
        runtime._classify,
        runtime._conflicts,
        limit=limit,
        timeout=1,
        sleep=sleep or Sleeps(),
    )


def offsets_asked(emulator: Emulator) -> list[int | None]:
    """The offset of each getUpdates call Telegram answered (a long poll superseded by the
    next call ends in 409 and is left out), in order."""
    calls = [call for call in emulator.calls_to("getUpdates") if call.ok]
    return [None if call.params.get("offset") is None else int(call.params["offset"]) for call in calls]


async def until(condition: Callable[[], bool], within: float = 10) -> None:
    """Wait (in small steps, at most ``within`` s) until ``condition`` holds."""
    async with asyncio.timeout(within):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


async def test_an_update_is_confirmed_only_when_it_and_all_before_it_are_handled(
    runtime: RuntimeBase, emulator: Emulator
) -> None:
    gates = Gates()
    stop = asyncio.Event()
    users = [emulator.user(5000 + n, first_name=f"U{n}") for n in range(3)]
    gates.hold("first")
    await users[0].send("first")
    polling = asyncio.create_task(poller(runtime, gates).run(stop))
    try:
        await until(lambda: gates.started == ["first"])
        await users[1].send("second")
        await users[2].send("third")
        await until(lambda: sorted(gates.handled) == ["second", "third"])  # out of order
        calls = len(emulator.calls_to("getUpdates"))
        await until(lambda: len(emulator.calls_to("getUpdates")) > calls + 1)
        # Every call asks from the held update on: it and the later ones stay with Telegram...
        assert set(offsets_asked(emulator)) <= {None, gates.ids["first"]}, offsets_asked(emulator)
        # ... which returns the later ones again: they are not handled again.
        assert sorted(gates.started) == ["first", "second", "third"]
        gates.held["first"].set()
        await until(lambda: gates.ids["third"] + 1 in offsets_asked(emulator))
    finally:
        stop.set()
        await polling
    assert sorted(gates.handled) == ["first", "second", "third"]


async def test_stopping_confirms_the_last_offset_so_a_restart_gets_nothing_again(
    runtime: RuntimeBase, emulator: Emulator, api: Api
) -> None:
    gates = Gates()
    stop = asyncio.Event()
    runtime.attach(gates.on_event)
    polling = asyncio.create_task(runtime.run_polling(stop))
    texts = [f"hi {n}" for n in range(3)]
    for n, text in enumerate(texts):
        await emulator.user(5100 + n, first_name="V").send(text)
    await until(lambda: sorted(gates.handled) == texts)
    stop.set()
    await polling
    await runtime.drain(5)  # as BotApp.stop does: the updates in flight, then the final offset
    assert offsets_asked(emulator)[-1] == max(gates.ids.values()) + 1
    status, answer = await api("getUpdates", timeout=0)
    assert status == 200 and answer["result"] == []


async def test_an_update_cancelled_at_shutdown_is_not_confirmed(runtime: RuntimeBase, emulator: Emulator) -> None:
    gates = Gates()
    stop = asyncio.Event()
    runtime.attach(gates.on_event)
    gates.hold("slow")
    await emulator.user(5200, first_name="W").send("quick")
    await emulator.user(5201, first_name="X").send("slow")
    polling = asyncio.create_task(runtime.run_polling(stop))
    await until(lambda: gates.handled == ["quick"] and "slow" in gates.started)
    stop.set()
    await polling
    await runtime.drain(0.05)  # past the deadline: the stuck update is cancelled
    assert gates.handled == ["quick"]
    # Telegram keeps it for the next start, and forgets the one before it.
    stuck = gates.ids["slow"]
    assert offsets_asked(emulator)[-1] == stuck
    assert [update["update_id"] for update in await runtime._get_updates(offset=None, limit=10, wait=0)] == [stuck]


@pytest.mark.parametrize(
    ("status", "paused"),
    [(500, "backoff"), (429, "retry_after"), (409, "backoff")],
    ids=["server-error", "flood", "conflict"],
)
async def test_a_failed_get_updates_is_retried_after_a_pause(
    runtime: RuntimeBase, emulator: Emulator, status: int, paused: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.polling")
    gates, sleeps = Gates(), Sleeps()
    emulator.fail_next("getUpdates", status=status, retry_after=7, times=2)
    await emulator.user(5300, first_name="Y").send("after the trouble")
    stop = asyncio.Event()
    polling = asyncio.create_task(poller(runtime, gates, sleeps).run(stop))
    try:
        await until(lambda: gates.handled == ["after the trouble"])
    finally:
        stop.set()
        await polling
    assert len(sleeps.slept) == 2
    if paused == "retry_after":
        assert sleeps.slept == [7, 7]  # exactly what Telegram said, each time
    else:
        first, second = sleeps.slept
        assert 0.3 <= first <= 0.7 and second > first  # doubling, with jitter
    if status == 409:
        assert "another process polls with this token" in caplog.text


async def test_polling_waits_while_one_update_holds_back_a_whole_batch(
    runtime: RuntimeBase, emulator: Emulator
) -> None:
    """Telegram returns at most 100 updates from the offset: with the oldest still running
    and 99 done after it, no newer one can be fetched until it ends."""
    gates = Gates()
    user = emulator.user(5400, first_name="Z")
    gates.hold("0")
    for n in range(MAX_BATCH + 5):
        await user.send(str(n))
    stop = asyncio.Event()
    polling = asyncio.create_task(poller(runtime, gates, limit=MAX_BATCH).run(stop))
    try:
        await until(lambda: len(gates.handled) == MAX_BATCH - 1)
        calls = len(emulator.calls_to("getUpdates"))
        # Longer than the pause between calls while an update is held: the loop is parked
        # on the held update instead, not asking getUpdates for the same 100 again.
        await asyncio.sleep(HELD_PAUSE * 1.5)
        assert len(emulator.calls_to("getUpdates")) == calls
        assert len(gates.started) == MAX_BATCH
        gates.held["0"].set()
        await until(lambda: len(gates.handled) == MAX_BATCH + 5)
    finally:
        stop.set()
        await polling
    assert sorted(gates.handled) == sorted({str(n) for n in range(MAX_BATCH + 5)})
