"""The background sender of broadcasts, run by every bot process; only one sends.

Every process checks about once a second, with a read, whether a broadcast is
sending (``storage.outbox.has_work``), and only then tries the ``broadcast-sender``
lease: an idle bot writes nothing. The holder sends the oldest broadcast still
``sending``, claiming a few deliveries at a time, moving each to ``sending`` right
before its request (a cancelled one is skipped) and recording each outcome as soon
as Telegram answers, so a crash or a restart resumes where it stopped; at most
``concurrency`` deliveries are ever ``sending`` (only they can end up uncertain).
The lease is released when there is nothing left to send. Telegram's limits are
kept, whatever else the bot is doing:

- at most ``rate`` messages per second (``BROADCAST_RATE``), counted so that a
  Telegram measuring when requests *arrive* never sees more than ``rate`` in any
  rolling second: a request occupies its slot from its start until one second after
  its answer (``pacing.SendWindow``), which also absorbs network jitter, with a few
  requests in flight at once;
- never two messages to the same chat within a second (``pacing.ChatSpacing``);
- what each answer means is ``outcomes``: 429: ALL sending pauses for ``retry_after``, and that delivery is retried after it
  without counting as a failed attempt;
- 403 (blocked): the signer is marked unreachable and never retried;
- a network error after the request may have reached Telegram (a timeout, a dropped
  connection, a 5xx): ``uncertain``, never repeated (nobody gets a message twice);
- any other error (400, no connection could be made, ...): retried after
  ``retry_delays`` and reported as ``failed`` after ``max_attempts``.

The organiser's progress message is edited at most every ``progress_every``
seconds and once at the end, inside the same limits: never during a 429 pause, and
never within a second of another message to the organiser's chat (who may be a
recipient too). A failure of the database or of Telegram is logged
once (by delivery and broadcast ids, never names or Telegram ids) and the loop
goes on. ``stop`` stops claiming, lets in-flight sends finish and be recorded,
puts claimed-but-unsent deliveries back to pending and releases the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from bot.broadcasting.outcomes import judge, recording, retry_after
from bot.broadcasting.pacing import CHAT_INTERVAL, MARGIN, ChatSpacing, SendWindow
from handlers.replies import Delivered, EditMessage, Keyboard, Reply, SendMessage
from storage import outbox
from storage.broadcasts import broadcast_counts, get_broadcast
from storage.models import Broadcast, utcnow

if TYPE_CHECKING:
    from handlers.turn import Services

log = logging.getLogger("bot.broadcasting")

LEASE_TTL = 15.0  # seconds: a crashed holder's broadcast resumes elsewhere this long after its last renewal
LEASE_POLL = 1.0  # seconds between tries of the lease while not holding it (and when idle)
CONCURRENCY = 4  # deliveries in hand at once (marked sending, sent, recorded): the most that can end uncertain
MAX_ATTEMPTS = 3  # tries of one delivery for errors other than 429 and 403
RETRY_DELAYS = (5.0, 30.0)  # seconds before the 2nd, 3rd... attempt
PROGRESS_EVERY = 2.0  # seconds between edits of the organiser's progress message


class Sender(Protocol):
    """What the broadcaster needs of a runtime (``bot.runtimes.bot_calls.BotCalls.send_once``)."""

    async def send_once(self, reply: Reply) -> Delivered: ...


class Broadcaster:
    """Sends broadcasts in the background while this process holds the sender lease."""

    def __init__(
        self,
        services: Services,
        sender: Sender,
        *,
        rate: float,
        holder: str | None = None,
        concurrency: int = CONCURRENCY,
        lease_ttl: float = LEASE_TTL,
        lease_poll: float = LEASE_POLL,
        max_attempts: int = MAX_ATTEMPTS,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        progress_every: float = PROGRESS_EVERY,
        chat_interval: float = CHAT_INTERVAL,
        margin: float = MARGIN,
    ) -> None:
        self.services = services
        self.db = services.db
        self.sender = sender
        self.rate = rate
        self.holder = (holder or default_holder())[:64]
        self.concurrency = max(1, concurrency)
        self.batch = max(self.concurrency, math.ceil(rate / 10))  # claimed at once: ~0.1 s of sending
        self.lease_ttl = lease_ttl
        self.lease_poll = lease_poll
        self.max_attempts = max(1, max_attempts)
        self.retry_delays = retry_delays or (1.0,)
        self.progress_every = progress_every
        self.window = SendWindow(rate, margin=margin)
        self.holding = False
        self._stopping = asyncio.Event()
        self._lease_lost = False
        self._paused_until = 0.0  # loop time until which every send waits (429)
        self.chats = ChatSpacing(
            chat_interval + margin, keep=4 * self.batch + 64, clock=lambda: asyncio.get_running_loop().time()
        )
        self._in_flight: set[asyncio.Task[None]] = set()  # deliveries being sent or recorded
        self._passed_over = False  # a claimed delivery was no longer claimed (cancelled, taken back)
        self._freed = asyncio.Event()
        self._messages: dict[tuple[int, str], tuple[str, Keyboard]] = {}
        self._unrecorded: list[Callable[[], Awaitable[None]]] = []
        self._troubles: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="broadcaster")

    def request_stop(self) -> None:
        """Stop claiming; ``stop`` waits for the rest."""
        self._stopping.set()

    async def stop(self, within: float = 10.0) -> None:
        """Stop claiming, let in-flight sends finish and be recorded (at most ``within``
        seconds), put unsent claims back and release the lease. Idempotent."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), max(within, 0.0))
            except TimeoutError:
                log.warning("broadcast sender still busy at the shutdown deadline; cancelling it")
                task.cancel()
                for sending in list(self._in_flight):
                    sending.cancel()
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(task, 1.0)
            except Exception:
                log.exception("broadcast sender stopped with an error")
        if self.holding:
            self.holding = False
            try:
                await asyncio.wait_for(outbox.release_lease(self.db, self.holder), 2.0)
            except Exception as error:
                log.warning("releasing the sender lease failed (%s)", type(error).__name__)

    # -- the loop -----------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping.is_set():
            broadcast = await self._ready()
            if broadcast is None:
                await self._pause(self.lease_poll)
                continue
            keeper = asyncio.create_task(self._keep_lease())
            try:
                await self._send_broadcast(broadcast)
            except Exception:
                # A bug: logged with its traceback (ids only), and the loop goes on after a pause.
                log.exception("broadcast %s: sending failed", broadcast.id)
                await self._pause(self.lease_poll)
            finally:
                keeper.cancel()
                with contextlib.suppress(BaseException):
                    await keeper

    async def _ready(self) -> Broadcast | None:
        """The broadcast to send, if this process holds (or just took) the lease."""
        try:
            await self._flush_unrecorded()
            if not self._unrecorded and not await outbox.has_work(self.db):
                if self.holding:  # the work is done: let the lease go, and write nothing while idle
                    self.holding = False
                    await outbox.release_lease(self.db, self.holder)
                return None
            taken = await outbox.acquire_lease(self.db, self.holder, self.lease_ttl)
            if taken is None:
                if self.holding:
                    log.info("the broadcast sender lease went to another process")
                self.holding = False
                return None
            if not self.holding:
                log.info("this process now sends broadcasts")
                if taken:
                    log.warning("%d deliveries in flight when a sender stopped are marked uncertain", taken)
            self.holding = True
            self._lease_lost = False
            broadcast = await outbox.next_broadcast(self.db)
        except Exception as error:
            self._trouble("database", "broadcast sender: the database failed (%s); retrying", error)
            return None
        self._recovered("database")
        return broadcast

    async def _keep_lease(self) -> None:
        """Renew the lease while sending, also through long flood pauses."""
        while True:
            await asyncio.sleep(self.lease_ttl / 4)
            try:
                if await outbox.acquire_lease(self.db, self.holder, self.lease_ttl) is None:
                    self._lease_lost = True
                    return
            except Exception as error:
                self._trouble("lease", "renewing the sender lease failed (%s)", error)

    async def _send_broadcast(self, broadcast: Broadcast) -> None:
        queue: deque[outbox.Recipient] = deque()
        last_progress = -math.inf
        ended: str | None = None  # "done" or "cancelled" when the broadcast ended here
        try:
            while not self._stopping.is_set() and not self._lease_lost:
                if self._loop().time() - last_progress >= self.progress_every:
                    last_progress = self._loop().time()
                    await self._progress(broadcast)
                if self._passed_over:
                    # Cancelled, or taken back by a new lease holder: claim again, which says which.
                    self._passed_over = False
                    await self._unclaim(broadcast.id, queue)
                if not queue:
                    claim = await self._claim(broadcast.id)
                    if claim is None:
                        await self._pause(self.lease_poll)
                        continue
                    if not claim.held:
                        self._lease_lost = True
                        break
                    if claim.status != "sending":
                        ended = claim.status or "gone"
                        break
                    queue.extend(claim.recipients)
                    if not queue:
                        if claim.skipped:
                            continue
                        if self._in_flight:
                            await asyncio.wait(set(self._in_flight), return_when=asyncio.FIRST_COMPLETED)
                            continue
                        if await self._finish(broadcast.id):
                            ended = "done"
                            break
                        await self._pause(await self._until_due(broadcast.id))
                        continue
                recipient = queue[0]
                if not await self._wait_turn(recipient.chat_id):
                    continue  # stopping, the lease was lost, or a claim passed over: handled above
                queue.popleft()
                self._launch(broadcast, recipient)
        finally:
            await self._settle(broadcast, queue, ended)

    async def _settle(self, broadcast: Broadcast, queue: deque[outbox.Recipient], ended: str | None) -> None:
        """Leave a broadcast: unsent claims go back (or are cancelled), in-flight sends finish."""
        unsent = [recipient.delivery_id for recipient in queue]
        queue.clear()
        try:
            if ended == "cancelled":
                await outbox.cancel_claimed(self.db, broadcast.id, unsent)
                log.info("broadcast %s: cancelled, sending stopped", broadcast.id)
            else:
                await outbox.unclaim(self.db, unsent)
        except Exception as error:
            self._trouble("database", "broadcast %s: returning unsent claims failed (%s)", error, broadcast.id)
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))
        await self._flush_unrecorded()
        if ended in ("done", "cancelled"):
            await self._progress(broadcast, final=True)
            if ended == "done":
                log.info("broadcast %s: done", broadcast.id)

    async def _unclaim(self, broadcast_id: int, queue: deque[outbox.Recipient]) -> None:
        """Put the queue's claims back (those still claimed) and empty it."""
        unsent = [recipient.delivery_id for recipient in queue]
        queue.clear()
        try:
            await outbox.unclaim(self.db, unsent)
        except Exception as error:
            self._trouble("database", "broadcast %s: returning unsent claims failed (%s)", error, broadcast_id)

    async def _claim(self, broadcast_id: int) -> outbox.Claim | None:
        try:
            await self._flush_unrecorded()
            claim = await outbox.claim(self.db, broadcast_id, self.holder, self.batch, self.lease_ttl)
        except Exception as error:
            self._trouble("database", "broadcast %s: claiming deliveries failed (%s); retrying", error, broadcast_id)
            return None
        self._recovered("database")
        return claim

    async def _finish(self, broadcast_id: int) -> bool:
        try:
            await self._flush_unrecorded()
            if self._unrecorded:
                return False
            return await outbox.finish_if_done(self.db, broadcast_id)
        except Exception as error:
            self._trouble("database", "broadcast %s: finishing failed (%s)", error, broadcast_id)
            return False

    async def _until_due(self, broadcast_id: int) -> float:
        """Seconds to wait for the next retry to become due (at most the lease poll)."""
        try:
            due = await outbox.next_due(self.db, broadcast_id)
        except Exception:
            return self.lease_poll
        if due is None:
            return self.lease_poll
        return min(max((due - utcnow()).total_seconds(), 0.01), self.lease_poll)

    # -- pacing -------------------------------------------------------------------------------

    async def _wait_turn(self, chat_id: int) -> bool:
        """Wait until a message to ``chat_id`` may start; False if stopping meanwhile."""
        while True:
            if self._stopping.is_set() or self._lease_lost or self._passed_over:
                return False
            now = self._loop().time()
            waits = [self._paused_until - now, self.window.delay()]
            waits.append(self.chats.delay(chat_id))
            wait = max(waits)
            if wait > 0:
                await self._pause(wait)
                continue
            # A few deliveries in hand at once, from ``sending`` until recorded: only they can
            # end up uncertain if this process dies.
            if len(self._in_flight) + len(self._unrecorded) < self.concurrency:
                return True
            if self._unrecorded and not self._in_flight:
                # Outcomes the database has not taken yet hold the places: retry them first.
                await self._flush_unrecorded()
                if self._unrecorded:
                    await self._pause(self.lease_poll)
                continue
            self._freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._freed.wait(), 0.05)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up at once when stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), max(seconds, 0.0))

    # -- one delivery -------------------------------------------------------------------------

    def _launch(self, broadcast: Broadcast, recipient: outbox.Recipient) -> None:
        self.window.begin()
        previous = self.chats.begin(recipient.chat_id)  # in flight: no second message meanwhile
        task = asyncio.create_task(self._deliver(broadcast, recipient, previous))
        self._in_flight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._freed.set()

    async def _deliver(self, broadcast: Broadcast, recipient: outbox.Recipient, previous: float | None) -> None:
        if not await self._begin(recipient):
            self.window.cancel()
            self.chats.cancel(recipient.chat_id, previous)
            return
        try:
            try:
                text, keyboard = self._message(broadcast, recipient.language)
            except Exception:
                log.exception("broadcast %s: composing the message failed", broadcast.id)
                outcome = Delivered(ok=False, error="internal")
            else:
                outcome = await self.sender.send_once(SendMessage(recipient.chat_id, text, keyboard))
        finally:
            self.window.end()
            self.chats.end(recipient.chat_id)
        await self._record(broadcast.id, recipient, outcome)

    async def _begin(self, recipient: outbox.Recipient) -> bool:
        """Mark the delivery ``sending`` right before its request; False: do not send it."""
        delivery = recipient.delivery_id
        try:
            started = await outbox.begin_sending(self.db, delivery)
        except Exception as error:
            self._trouble("database", "delivery %s: marking it sending failed (%s); not sent now", error, delivery)
            self._unrecorded.append(lambda: outbox.unclaim(self.db, [delivery]))  # back to pending, later
            return False
        if not started:
            self._passed_over = True  # cancelled, or taken back: the loop claims again and sees which
        return started

    def _message(self, broadcast: Broadcast, language: str) -> tuple[str, Keyboard]:
        key = (broadcast.id, language)
        if key not in self._messages:
            from handlers.news import news_message

            if len(self._messages) > 256:
                self._messages.clear()
            self._messages[key] = news_message(self.services, broadcast, language)
        return self._messages[key]

    async def _record(self, broadcast_id: int, recipient: outbox.Recipient, outcome: Delivered) -> None:
        delivery = recipient.delivery_id
        verdict = judge(outcome, recipient.attempts, max_attempts=self.max_attempts, retry_delays=self.retry_delays)
        if verdict.kind == "sent":
            self._recovered("telegram")
        elif verdict.kind == "flood":
            self._paused_until = max(self._paused_until, self._loop().time() + verdict.seconds)
            log.info("broadcast %s: Telegram asked to slow down; pausing %.0fs", broadcast_id, verdict.seconds)
        elif verdict.kind == "uncertain":
            log.warning(
                "broadcast %s: delivery %s may or may not have arrived (%s); not repeated",
                broadcast_id,
                delivery,
                outcome.extra.get("description") or "network error",
            )
        elif verdict.kind in ("retry", "failed"):
            self._trouble(
                f"telegram:{verdict.error}",
                "broadcast %s: delivery %s failed; such failures are retried up to %d times (%s)",
                str(outcome.extra.get("description") or verdict.error),
                broadcast_id,
                delivery,
                self.max_attempts,
            )
        record = recording(self.db, recipient, verdict)
        try:
            await record()
        except Exception as failure:
            self._trouble("record", "recording delivery %s failed (%s); will retry", failure, delivery)
            self._unrecorded.append(record)
        else:
            self._recovered("record")

    async def _flush_unrecorded(self) -> None:
        """Outcomes whose recording failed: they are the truth, so they are retried first."""
        while self._unrecorded:
            try:
                await self._unrecorded[0]()
            except Exception as error:
                self._trouble("record", "recording outcomes still fails (%s)", error)
                return
            self._unrecorded.pop(0)

    # -- progress -----------------------------------------------------------------------------

    async def _progress(self, broadcast: Broadcast, *, final: bool = False) -> None:
        """Edit the organiser's progress message (if the broadcast has one)."""
        if broadcast.progress_chat_id is None or broadcast.progress_message_id is None:
            return
        try:
            from handlers.broadcast import progress_text

            current = await get_broadcast(self.db, broadcast.id) if final else broadcast
            counts = await broadcast_counts(self.db, broadcast.id)
            text = progress_text(self.services, current or broadcast, counts)
        except Exception as error:
            self._trouble("progress", "broadcast %s: reading the progress failed (%s)", error, broadcast.id)
            return
        chat = broadcast.progress_chat_id
        if not await self._progress_turn(chat, final=final):
            return
        self.window.begin()
        self.chats.begin(chat)
        try:
            edited = await self.sender.send_once(EditMessage(chat, broadcast.progress_message_id, text))
        finally:
            self.window.end()
            self.chats.end(chat)
        if edited.error == "flood":  # the limit is the bot's, edits included: everything waits
            self._paused_until = max(self._paused_until, self._loop().time() + retry_after(edited.extra))
        elif not edited.ok:
            self._trouble(
                "progress", "broadcast %s: editing the progress message failed (%s)", edited.error, broadcast.id
            )

    async def _progress_turn(self, chat_id: int, *, final: bool) -> bool:
        """Whether the progress edit may go now, within the limits every send keeps: never
        during a 429 pause, never within a second of another message to that chat. A periodic
        edit is skipped when it would have to wait (the next one comes soon); the final one
        waits, unless the process is stopping during a pause."""
        while True:
            now = self._loop().time()
            paused = self._paused_until - now
            busy = self.chats.delay(chat_id)
            if paused > 0 or busy > 0:
                if not final or (paused > 0 and self._stopping.is_set()):
                    return False
                if paused > 0:
                    await self._pause(paused)
                else:
                    await asyncio.sleep(busy)
                continue
            wait = self.window.delay()
            if wait <= 0:
                return True
            await asyncio.sleep(wait)

    # -- logging each trouble once ----------------------------------------------------------------

    def _trouble(self, key: str, message: str, error: object, *args: object) -> None:
        if key in self._troubles:
            return
        self._troubles.add(key)
        reason = type(error).__name__ if isinstance(error, BaseException) else str(error)
        log.warning(message, *args, reason) if args else log.warning(message, reason)

    def _recovered(self, key: str) -> None:
        if key in self._troubles:
            self._troubles.discard(key)
            log.info("broadcast sender: %s works again", key)


def default_holder() -> str:
    """This process, as named in the lease: host, pid and a random part (restarts differ)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
