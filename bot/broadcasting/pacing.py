"""Telegram's limits, kept by the clock: how many requests a second, and how close to one chat.

Pure bookkeeping with an injected clock (``time.monotonic`` by default), so the rules can be
tested without waiting: ``SendWindow`` spaces all requests, ``ChatSpacing`` one chat's.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

CHAT_INTERVAL = 1.0  # seconds between two messages to the same chat (Telegram's rule)
MARGIN = 0.02  # seconds added to every interval, for clock granularity


class SendWindow:
    """At most ``rate`` requests per second, as seen by whoever receives them.

    A request holds a slot from its start until ``1 s + margin`` after its answer.
    Telegram counts requests by their arrival, somewhere between start and answer;
    with slots held that long, any rolling second of arrivals meets only requests
    whose slots overlapped, and there are never more than ``rate`` of those. On a
    local network this costs a few milliseconds per second; far from Telegram, the
    round-trip time (the rate is a ceiling, never exceeded).
    """

    def __init__(self, rate: float, *, margin: float = MARGIN, clock: Callable[[], float] = time.monotonic) -> None:
        self.slots = max(1, math.floor(rate))
        # Below one per second: one slot, held 1/rate seconds.
        self.hold = (self.slots / rate if rate < 1 else 1.0) + margin
        self._clock = clock
        self._running = 0
        self._released: deque[float] = deque()  # when finished requests free their slot

    def delay(self) -> float:
        """Seconds until a request may start (0: now)."""
        now = self._clock()
        while self._released and self._released[0] <= now:
            self._released.popleft()
        if self._running + len(self._released) < self.slots:
            return 0.0
        if not self._released:
            return 0.05  # every slot is a request in flight: wait for an answer
        return self._released[0] - now

    def begin(self) -> None:
        self._running += 1

    def end(self) -> None:
        self._running -= 1
        self._released.append(self._clock() + self.hold)

    def cancel(self) -> None:
        """A request that was not made after all: its slot is free at once."""
        self._running -= 1


class ChatSpacing:
    """Never two messages to one chat within ``interval`` seconds (Telegram's rule): one in
    flight at a time, the next starting ``interval`` after the previous one's answer. Only
    recent chats are remembered (beyond ``keep``, those whose interval has passed go)."""

    def __init__(self, interval: float, *, keep: int = 64, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._keep = keep
        self._clock = clock
        self._last: dict[int, float] = {}  # chat id -> when its last message was answered (inf: in flight)

    def delay(self, chat_id: int) -> float:
        """Seconds until a message to ``chat_id`` may start (0 or less: now; while one is in
        flight, a short while to check again)."""
        last = self._last.get(chat_id)
        if last is None:
            return 0.0
        if math.isinf(last):
            return 0.05
        return last + self.interval - self._clock()

    def begin(self, chat_id: int) -> float | None:
        """A message to ``chat_id`` starts; the returned value undoes it (``cancel``)."""
        previous = self._last.get(chat_id)
        self._last[chat_id] = math.inf
        return previous

    def cancel(self, chat_id: int, previous: float | None) -> None:
        """The message was not sent after all: the chat is as it was before ``begin``."""
        if previous is None:
            self._last.pop(chat_id, None)
        else:
            self._last[chat_id] = previous

    def end(self, chat_id: int) -> None:
        """The message to ``chat_id`` was answered: its interval runs from now."""
        now = self._clock()
        self._last[chat_id] = now
        if len(self._last) > self._keep:
            self._last = {chat: at for chat, at in self._last.items() if at + self.interval > now}
