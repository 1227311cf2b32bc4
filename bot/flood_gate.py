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

Several workers (Redis): ``share`` tells the others of each refusal (pub/sub, only when a
429 comes, nothing per call) and applies theirs, so a chat refused in one worker waits in
all of them, and so does everything when the bot's own limit was met.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the runtimes load this module; the store is only handed in by the app
    from storage.state import StateStore

log = logging.getLogger("bot.flood_gate")

TOPIC = "flood-pauses"
RESUBSCRIBE_AFTER = 1.0  # seconds, when the store was unreachable


class FloodGate:
    """The pauses Telegram's 429s asked for: per chat, and for everything."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._chats: dict[int, float] = {}  # chat id -> paused until (clock time)
        self._everything = 0.0  # everything paused until
        self.on_refused: Callable[[int, float], None] | None = None  # ``share`` tells the other workers

    def delay(self, chat_id: int | None) -> float:
        """Seconds a call to ``chat_id`` (None: not a chat's, or a broadcast's check) must wait."""
        until = self._everything if chat_id is None else max(self._everything, self._chats.get(chat_id, 0.0))
        return max(0.0, until - self._clock())

    def refused(self, chat_id: int | None, retry_after: float, *, told: bool = False) -> None:
        """Telegram answered 429 with ``retry_after`` to a call to ``chat_id`` (None: a call of
        no chat's, a callback answer, which never waits: it tells nothing to go by).
        ``told``: another worker's refusal, heard through ``share``."""
        if chat_id is None:
            return
        if not told and self.on_refused is not None:
            self.on_refused(chat_id, retry_after)
        now = self._clock()
        until = now + retry_after
        self._chats = {chat: end for chat, end in self._chats.items() if end > now}  # forget what has ended
        if any(chat != chat_id for chat in self._chats):
            self._everything = max(self._everything, until)
        self._chats[chat_id] = max(self._chats.get(chat_id, 0.0), until)


async def share(gate: FloodGate, store: StateStore) -> None:
    """Until cancelled: publish this process's refusals, apply the other workers'."""
    me = f"{os.getpid()}-{id(gate)}"
    loop = asyncio.get_running_loop()
    telling: set[asyncio.Task[None]] = set()

    async def tell(chat_id: int, retry_after: float) -> None:
        try:
            await store.publish(TOPIC, {"from": me, "chat": chat_id, "retry_after": retry_after})
        except Exception as error:  # the pause still holds here; the others may be refused once
            log.warning("could not tell the other workers of a 429 (%s)", type(error).__name__)

    def on_refused(chat_id: int, retry_after: float) -> None:
        task = loop.create_task(tell(chat_id, retry_after))
        telling.add(task)
        task.add_done_callback(telling.discard)

    gate.on_refused = on_refused
    try:
        while True:
            try:
                async for note in store.subscribe(TOPIC):
                    if note.get("from") == me or not isinstance(note.get("chat"), int):
                        continue
                    gate.refused(note["chat"], float(note.get("retry_after", 0)), told=True)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("not hearing the other workers' 429s (%s); trying again", type(error).__name__)
            await asyncio.sleep(RESUBSCRIBE_AFTER)
    finally:
        gate.on_refused = None
