"""What both runtimes are made of: running updates and making Bot API calls.

A runtime is a thin translation between one framework and the neutral
``handlers.events.Event`` / ``handlers.replies.Reply``. That contract (events,
replies, ``Deliver``) is all it knows of the conversation: the core is handed in
as a ``Handler`` (``attach``), so importing a runtime loads no step of it. The
parts, each in its own module and shared by both frameworks:

- ``contract``: the ``Runtime`` interface the rest of the bot uses;
- ``translation``: update JSON → ``Event``, pure functions without a framework;
- ``updates``: handing each update to the core, the in-flight count, the webhook path
  (its JSON body goes straight to the translation, no framework object in between);
- ``polling``: our own getUpdates loop, which confirms an update only once it is handled;
- ``bot_calls``: the Bot API calls and the replies, by the policy of ``bot.call_policy``.

A framework's runtime adds its HTTP session, one raw getUpdates call and its own classes.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from typing import Any

from bot.runtimes.bot_calls import BotCalls
from bot.runtimes.contract import BotInfo
from bot.runtimes.polling import Poller
from bot.runtimes.updates import UpdateHandling


class RuntimeBase(BotCalls, UpdateHandling):
    """Both parts together; a subclass supplies the framework's pieces (see ``BotCalls``),
    ``_get_updates`` and ``_conflicts`` for the shared polling loop."""

    name = "base"
    _conflicts: tuple[type[BaseException], ...] = ()  # the framework's 409 Conflict error

    def __init__(self, *, max_concurrent_updates: int) -> None:
        UpdateHandling.__init__(self)
        BotCalls.__init__(self, max_connections=max_concurrent_updates)
        self._poller: Poller | None = None

    @abstractmethod
    async def _get_updates(self, *, offset: int | None, limit: int, wait: int) -> list[dict[str, Any]]:
        """One getUpdates call: the updates' JSON as Telegram sent it, no framework objects."""

    async def run_polling(self, stop: asyncio.Event) -> None:
        self._poller = Poller(
            self._get_updates,
            self._dispatch,
            self._classify,
            self._conflicts,
            limit=self._max_connections,
        )
        await self._poller.run(stop)

    async def drain(self, grace: float) -> None:
        """The updates in flight end (see ``UpdateHandling.drain``); then, when polling, Telegram
        is told they are done, so a clean restart does not receive them again."""
        await super().drain(grace)
        if self._poller is not None:
            await self._poller.confirm()

    async def start(self) -> BotInfo:
        me = await self._get_me()
        self._username = me.username
        return BotInfo(id=me.id, username=me.username or "")
