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
- ``bot_calls``: the Bot API calls and the replies, by the policy of ``bot.call_policy``.

A framework's runtime adds its HTTP session, its polling and its own classes.
"""

from __future__ import annotations

from bot.runtimes.bot_calls import BotCalls
from bot.runtimes.contract import BotInfo
from bot.runtimes.updates import UpdateHandling


class RuntimeBase(BotCalls, UpdateHandling):
    """Both parts together; a subclass supplies the framework's pieces (see ``BotCalls``)
    and calls ``_dispatch`` with each polled update's JSON."""

    name = "base"

    def __init__(self, *, max_concurrent_updates: int) -> None:
        UpdateHandling.__init__(self)
        BotCalls.__init__(self, max_connections=max_concurrent_updates)
        self._limit = max_concurrent_updates

    async def start(self) -> BotInfo:
        me = await self._get_me()
        self._username = me.username
        return BotInfo(id=me.id, username=me.username or "")
