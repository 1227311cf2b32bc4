"""Telegram's limits, kept by the clock: how many requests a second, and how close to one chat.

Pure bookkeeping with an injected clock (``time.monotonic`` by default), so the rules can be
tested without waiting: ``SendWindow`` spaces all requests, ``CHAT_INTERVAL`` one chat's.
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
