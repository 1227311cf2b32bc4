"""Telegram's 429s, remembered for every update of this process.

A 429 says "retry after N seconds" and not whether the limit was the chat's (about one
message a second) or the whole bot's (about 30 a second). So a refusal pauses its chat
for ``retry_after``; when a second chat is refused while the first is still paused, the
limit is the bot's and everything pauses until the later of the two ends. The next call
to a paused chat, from any update, waits instead of being refused again (each refusal
only lengthens Telegram's penalty).

Broadcasts read the gate and never feed it: while conversations are being refused, a
broadcast steps back (``BotCalls.send_once`` answers "flood" without calling), so it never
takes a signer's place; a broadcast's own 429 is its own sender's pause.

One process only: several webhook workers each keep their own (noted in #12's closing note).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class FloodGate:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._chats: dict[int, float] = {}  # chat id -> paused until (clock time)
        self._everything = 0.0  # everything paused until

    def delay(self, chat_id: int | None) -> float:
        """Seconds a call to ``chat_id`` (None: not a chat's, or a broadcast's check) must wait."""
        until = self._everything if chat_id is None else max(self._everything, self._chats.get(chat_id, 0.0))
        return max(0.0, until - self._clock())

    def refused(self, chat_id: int | None, retry_after: float) -> None:
        """Telegram answered 429 with ``retry_after`` to a call to ``chat_id`` (None: a call of
        no chat's, a callback answer, which never waits: it tells nothing to go by)."""
        if chat_id is None:
            return
        now = self._clock()
        until = now + retry_after
        self._chats = {chat: end for chat, end in self._chats.items() if end > now}  # forget what has ended
        if any(chat != chat_id for chat in self._chats):
            self._everything = max(self._everything, until)
        self._chats[chat_id] = max(self._chats.get(chat_id, 0.0), until)
