"""Telegram's per-bot sending limits, enforced so tests catch a bot that floods.

Telegram documents two limits on sending messages: about 30 messages per second
to different chats, and about one message per second in a single chat (short
bursts tolerated in private chats, then 429). The emulator answers a send that
goes over them the way Telegram does, ``429 Too Many Requests: retry after N``
with ``parameters.retry_after``, and records a ``RateViolation`` so a test can
assert the bot never had to be refused.

Both limits are counted over a rolling second, by the time each request arrives:

- ``rate_limit`` (default 30, Telegram's figure): sends of the bot, all chats together;
- ``chat_rate_limit`` (default 5): sends to one chat. Telegram asks for one per second
  per chat but lets private chats burst: the conversation itself answers one tap with
  two or three messages. 5 in a rolling second tolerates such bursts and still refuses
  a loop hammering one chat. The broadcaster holds itself to one per second per chat;
  tests of it set ``chat_rate_limit=1``.

Only message-sending methods count (``send*`` except ``sendChatAction``, ``copy*``,
``forward*``); edits, callback answers and getUpdates do not. A refused call is not
counted (it sent nothing), and neither is one answered by an injected fault.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

WINDOW = 1.0  # seconds: both limits are per rolling second
DEFAULT_RATE_LIMIT = 30.0  # Telegram: "no more than 30 messages per second" across chats
DEFAULT_CHAT_RATE_LIMIT = 5.0  # a private chat's tolerated burst (see above)


@dataclass(frozen=True, slots=True)
class RateViolation:
    """A send the emulator refused with 429 because the bot went over a limit."""

    method: str
    chat_id: int | str | None
    at: float  # time.monotonic() of the refused request
    scope: str  # "bot" (all chats together) or "chat"
    retry_after: int


def is_sending(method: str) -> bool:
    """Whether Telegram counts this method against the sending limits."""
    lowered = method.lower()
    if lowered == "sendchataction":
        return False
    return lowered.startswith(("send", "copy", "forward"))


class SendLimits:
    """Rolling-second counters of sends, overall and per chat."""

    def __init__(
        self,
        rate_limit: float | None = DEFAULT_RATE_LIMIT,
        chat_rate_limit: float | None = DEFAULT_CHAT_RATE_LIMIT,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate_limit = rate_limit
        self.chat_rate_limit = chat_rate_limit
        self._clock = clock
        self._sent: deque[float] = deque()
        self._per_chat: dict[str, deque[float]] = {}
        self.violations: list[RateViolation] = []

    def admit(self, method: str, params: dict[str, Any]) -> RateViolation | None:
        """Count this call if it is a send within the limits; else the violation (recorded)."""
        if not is_sending(method):
            return None
        now = self._clock()
        chat_id = params.get("chat_id")
        _expire(self._sent, now)
        violation = self._over(self._sent, self.rate_limit, now, method, chat_id, "bot")
        chat_sent: deque[float] | None = None
        if violation is None and chat_id is not None:
            chat_sent = self._per_chat.setdefault(str(chat_id), deque())
            _expire(chat_sent, now)
            violation = self._over(chat_sent, self.chat_rate_limit, now, method, chat_id, "chat")
        if violation is not None:
            self.violations.append(violation)
            return violation
        self._sent.append(now)
        if chat_sent is not None:
            chat_sent.append(now)
        if len(self._per_chat) > 10_000:  # forget idle chats now and then
            self._per_chat = {key: value for key, value in self._per_chat.items() if value and value[-1] > now - WINDOW}
        return None

    @staticmethod
    def _over(
        sent: deque[float], limit: float | None, now: float, method: str, chat_id: Any, scope: str
    ) -> RateViolation | None:
        if limit is None or len(sent) < limit:
            return None
        # The send that must leave the window before this one fits (len(sent) >= ceil(limit) here).
        oldest = sent[len(sent) - math.ceil(limit)]
        retry_after = max(1, math.ceil(oldest + WINDOW - now))
        return RateViolation(method, chat_id, now, scope, retry_after)


def _expire(sent: deque[float], now: float) -> None:
    while sent and sent[0] <= now - WINDOW:
        sent.popleft()
