"""The queue of updates waiting for the bot, with getUpdates' long-polling semantics.

Telegram keeps unconfirmed updates until the bot asks for an ``offset`` higher
than their ``update_id``; ``timeout`` makes the request wait for the first new
update; a second concurrent poller ends the first with 409 Conflict. While a
webhook is set the queue is drained by the webhook delivery instead.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from emulator.errors import TERMINATED, conflict

# Telegram's default when allowed_updates is empty: everything but these.
NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class UpdateQueue:
    def __init__(self, first_id: int = 1) -> None:
        self._ids = itertools.count(first_id)
        self._pending: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._generation = 0
        self._closed = False
        self.allowed_updates: frozenset[str] | None = None

    def new_id(self) -> int:
        return next(self._ids)

    def __len__(self) -> int:
        return len(self._pending)

    def accepts(self, kind: str) -> bool:
        """Whether the bot's ``allowed_updates`` setting lets an update of ``kind`` through."""
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in NOT_BY_DEFAULT

    def set_allowed(self, allowed: list[str] | None) -> None:
        """``None`` keeps the previous setting, as Telegram does."""
        if allowed is not None:
            self.allowed_updates = frozenset(allowed)

    def put(self, update: dict[str, Any]) -> None:
        self._pending.append(update)
        self._notify()

    def restore(self, updates: list[dict[str, Any]]) -> None:
        """Put back updates a webhook did not deliver, keeping update_id order."""
        self._pending = sorted(self._pending + updates, key=lambda update: int(update["update_id"]))
        self._notify()

    def take_all(self) -> list[dict[str, Any]]:
        taken, self._pending = self._pending, []
        return taken

    def _notify(self) -> None:
        """Wake every waiting poller; each waits on the event current when it looked."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            self._pending = self._pending[offset:]
        elif offset > 0:
            self._pending = [update for update in self._pending if update["update_id"] >= offset]

    async def get(
        self,
        offset: int | None,
        limit: int | None,
        timeout: float | None,  # noqa: ASYNC109 - getUpdates' own parameter
    ) -> list[dict[str, Any]]:
        """getUpdates: confirm below ``offset``, then return up to ``limit`` updates,
        waiting up to ``timeout`` seconds for the first one."""
        self._generation += 1
        mine = self._generation
        self._notify()  # a poller still waiting is now superseded
        if offset is not None:
            self._confirm(offset)
        count = min(max(limit or 100, 1), 100)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout or 0, 0)
        while True:
            if self._generation != mine:
                raise conflict(TERMINATED)
            if self._pending or self._closed:
                return self._pending[:count]
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            changed = self._changed
            try:
                async with asyncio.timeout(remaining):
                    await changed.wait()
            except TimeoutError:
                return []

    def close(self) -> None:
        """End waiting pollers with an empty answer (the emulator is stopping)."""
        self._closed = True
        self._notify()
