"""Our own getUpdates loop, shared by both runtimes: raw JSON in, confirmed only once handled.

Telegram keeps an update until a getUpdates call asks for an ``offset`` higher than its
``update_id``; the frameworks' own loops ask for it as soon as the update is dispatched,
so a kill -9 lost every update fetched but not yet handled. Here the offset never passes
an update that is still being handled (``Offsets``): after a crash Telegram delivers
again everything that was not finished, and the core's de-duplication by ``update_id``
(in the state store) skips what a surviving store says was already handled. Updates may
finish out of order; the lowest unfinished one holds the offset back, and the ones above
it that are already finished are skipped when getUpdates returns them again.

A runtime supplies only ``get_updates``: one raw getUpdates call returning the updates'
JSON (no framework object is built), and the exception types it raises. On stop the
request in progress is abandoned (nothing it returned was confirmed), the updates in
flight finish (``UpdateHandling.drain``) and ``confirm`` tells Telegram the final offset,
so a clean restart handles nothing again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from bot.call_policy import Classify

log = logging.getLogger("bot.polling")

POLL_TIMEOUT = 10  # seconds getUpdates waits for a first update (long polling)
READ_MARGIN = 10.0  # added to the long-poll timeout for the HTTP read timeout of getUpdates
MAX_BATCH = 100  # getUpdates' own maximum per call
HELD_PAUSE = 0.25  # seconds between getUpdates while an older update holds the offset back
BACKOFF_FIRST = 0.5  # seconds after the first failed getUpdates; doubled up to BACKOFF_MAX
BACKOFF_MAX = 5.0


class GetUpdates(Protocol):
    """One getUpdates call: the updates' JSON as Telegram sent it."""

    async def __call__(self, *, offset: int | None, limit: int, wait: int) -> list[dict[str, Any]]: ...


class Offsets:
    """Which updates are running, and the offset that confirms only finished ones.

    ``offset`` is the lowest running ``update_id`` or, when none runs, one past the highest
    started; ``window`` counts the updates getUpdates returns again from that offset
    (running, and finished above the lowest running), so a call asks for that many more.
    """

    def __init__(self) -> None:
        self._running: set[int] = set()
        self._finished_above: set[int] = set()  # finished, above the lowest running one
        self._next: int | None = None  # one past the highest update_id started

    @property
    def offset(self) -> int | None:
        if self._running:
            return min(self._running)
        return self._next

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def window(self) -> int:
        return len(self._running) + len(self._finished_above)

    def is_new(self, update_id: int) -> bool:
        """False for an update already started (getUpdates returns it again while an older
        one holds the offset back)."""
        return self._next is None or update_id >= self._next

    def start(self, update_id: int) -> None:
        self._running.add(update_id)
        self._next = max(self._next or 0, update_id + 1)

    def finish(self, update_id: int) -> None:
        self._running.discard(update_id)
        if not self._running:
            self._finished_above.clear()
            return
        floor = min(self._running)
        if update_id > floor:
            self._finished_above.add(update_id)
        else:  # the lowest one finished: the offset moves up, past what finished below it
            self._finished_above = {done for done in self._finished_above if done > floor}


class Backoff:
    """Seconds to wait after a failed getUpdates: doubling from ``BACKOFF_FIRST``, with jitter."""

    def __init__(self, first: float = BACKOFF_FIRST, most: float = BACKOFF_MAX) -> None:
        self._first = first
        self._most = most
        self._next = first

    def reset(self) -> None:
        self._next = self._first

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self._most)
        return delay * random.uniform(0.8, 1.2)  # jitter, not a secret


class Poller:
    """The loop: fetch as many updates as there is room for, start each, confirm when done."""

    def __init__(
        self,
        get_updates: GetUpdates,
        handle: Callable[[Mapping[str, Any]], Awaitable[object]],
        classify: Classify,
        conflicts: tuple[type[BaseException], ...],
        *,
        limit: int,
        timeout: int = POLL_TIMEOUT,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._get_updates = get_updates
        self._handle = handle
        self._classify = classify
        self._conflicts = conflicts
        self._limit = max(1, min(limit, MAX_BATCH))  # more could never be fetched past one held back
        self._timeout = timeout
        self._backoff = backoff or Backoff()
        self._sleep = sleep  # tests pass one that records the pause instead of taking it
        self.offsets = Offsets()
        self._confirmed: int | None = None  # the last offset Telegram was sent
        self._changed = asyncio.Event()  # an update finished: there may be room again
        self._tasks: set[asyncio.Task[None]] = set()
        self._held_at: int | None = None  # the update holding polling back, once logged

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; never raises for a failed getUpdates (backs off)."""
        while not stop.is_set():
            self._changed.clear()
            room = self._room()
            if room <= 0:
                self._log_full()
                await self._until(stop, self._changed.wait())
                continue
            offset, asked = self.offsets.offset, self.offsets.window + room
            try:
                updates = await self._until(stop, self._get_updates(offset=offset, limit=asked, wait=self._timeout))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                await self._until(stop, self._sleep(self._failed(error)))
                continue
            if updates is None:
                return  # stopped while waiting: nothing of that answer was confirmed
            self._backoff.reset()
            self._confirmed = offset
            started = [self._start(data) for data in updates]
            if updates and not any(started):
                # Only updates already started came back (an older one holds the offset):
                # Telegram would answer the same at once, so wait for one to finish, or a moment.
                await self._until(stop, self._changed_or(HELD_PAUSE))

    def _room(self) -> int:
        return min(self._limit - self.offsets.running, MAX_BATCH - self.offsets.window)

    def _start(self, data: dict[str, Any]) -> bool:
        """Start handling one update; False if it was started before (or has no update_id)."""
        update_id = data.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            log.warning("getUpdates returned an update without an update_id; ignored")
            return False
        if not self.offsets.is_new(update_id):
            return False  # returned again while an older one holds the offset back
        self.offsets.start(update_id)
        task = asyncio.create_task(self._run_one(update_id, data), name=f"update-{update_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _changed_or(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    async def _run_one(self, update_id: int, data: dict[str, Any]) -> None:
        # Only an update that ran to the end is confirmed: one cancelled at shutdown stays
        # below the offset, so Telegram delivers it again after the restart.
        try:
            await self._handle(data)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # ``_dispatch`` catches the core's; this is a bug around it
            log.error("update %s: handling failed (%s)", update_id, type(error).__name__)
        self.offsets.finish(update_id)
        self._changed.set()

    def _log_full(self) -> None:
        """Say why polling waits when the oldest update running holds back a whole batch."""
        offsets = self.offsets
        if offsets.window >= MAX_BATCH and offsets.running < self._limit and offsets.offset != self._held_at:
            self._held_at = offsets.offset
            log.warning(
                "update %s is still being handled and %d later ones are done: polling waits for it "
                "(Telegram is only told of updates up to the oldest unfinished one)",
                offsets.offset,
                offsets.window - offsets.running,
            )

    def _failed(self, error: Exception) -> float:
        """Log a failed getUpdates once, by what it means; the seconds to wait before the next."""
        if isinstance(error, self._conflicts):
            log.error(
                "getUpdates conflict: another process polls with this token, or a webhook is set "
                "(run one polling instance per bot); retrying"
            )
            return self._backoff.next()
        api_error = self._classify(error)
        if api_error is not None and api_error.kind == "flood":
            log.warning("getUpdates: flood control, waiting %.0f s as Telegram asks", api_error.retry_after)
            return api_error.retry_after
        if api_error is not None and api_error.kind in ("network", "unsent"):
            delay = self._backoff.next()
            log.warning(
                "getUpdates failed (%s: %s); retrying in %.1f s", type(error).__name__, api_error.description, delay
            )
            return delay
        delay = self._backoff.next()
        log.error("getUpdates failed (%s); retrying in %.1f s", type(error).__name__, delay)
        return delay

    async def confirm(self) -> None:
        """Tell Telegram the final offset (at shutdown, after the updates in flight ended), so a
        clean restart is not handed again what was handled. A failure is only logged: those
        updates come again and the core's de-duplication skips them."""
        offset = self.offsets.offset
        if offset is None or offset == self._confirmed:
            return
        try:
            await self._get_updates(offset=offset, limit=1, wait=0)
        except Exception as error:
            log.warning("confirming the last updates to Telegram failed (%s)", type(error).__name__)
            return
        self._confirmed = offset
        log.info("confirmed updates up to %d to Telegram", offset - 1)

    @staticmethod
    async def _until(stop: asyncio.Event, work: Awaitable[Any]) -> Any:
        """``work``'s result, or None as soon as ``stop`` is set (``work`` is then cancelled)."""
        job = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({job, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not job.done():
                job.cancel()
                await asyncio.gather(job, return_exceptions=True)
        return job.result() if not job.cancelled() else None
