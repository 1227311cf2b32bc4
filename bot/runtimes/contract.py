"""What the rest of the bot sees of a runtime: the ``Runtime`` interface and its small types.

``bot.app``, ``bot.webhook`` and the broadcaster use a runtime only through this; which
framework is behind it is chosen in ``bot.runtimes.make_runtime``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.flood_gate import FloodGate
from handlers.events import Event
from handlers.replies import Deliver, Delivered, Reply

# The update types we ask Telegram for (getUpdates and setWebhook alike).
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]

Handler = Callable[[Event, Deliver], Awaitable[None]]  # what the runtime calls per event: ``Core.handle``


@dataclass(frozen=True, slots=True)
class BotInfo:
    id: int
    username: str


@dataclass(frozen=True, slots=True)
class BotCommand:
    command: str  # without "/"
    description: str


class UpdateFailed(Exception):
    """Handling a webhook update failed outside the core's own error handling (see
    ``bot.runtimes.updates``): answer non-2xx so Telegram re-delivers it."""


class Runtime(Protocol):
    """The interface ``bot.app`` and ``bot.webhook`` use; implemented by both runtimes."""

    name: str
    flood_gate: FloodGate  # Telegram's 429s for every update of the process (``bot.flood_gate``)

    def attach(self, handler: Handler) -> None:
        """Route events to ``handler`` (the core is built after ``start`` tells us our username)."""

    async def start(self) -> BotInfo:
        """Open the HTTP session and call getMe."""

    async def run_polling(self, stop: asyncio.Event) -> None:
        """Poll getUpdates until ``stop`` is set; the updates in flight go on (see ``drain``)."""

    async def process_update(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """Webhook path: translate one update's JSON and handle it to the end.

        Returns normally when the update was handled, including when the core answered a
        failed step with an apology, and when the update is malformed (it never will be
        handled): with the Bot API call for the webhook's answer to carry (the update's
        ``answerCallbackQuery``), if any. Raises ``UpdateFailed`` when handling failed
        outside the core, so that the webhook answers 503 and Telegram re-delivers it.
        """

    async def set_webhook(self, url: str, secret: str, *, drop_pending: bool = False) -> None: ...

    async def delete_webhook(self, *, drop_pending: bool = False) -> None: ...

    async def set_commands(
        self, commands: Sequence[BotCommand], language_code: str | None = None, chat_id: int | None = None
    ) -> None:
        """The command menu for everyone, or for one private chat (``chat_id``: an organiser's menu)."""

    async def drain(self, grace: float) -> None:
        """Wait (at most ``grace`` seconds) for updates being handled to finish; cancel the rest.
        When polling, then confirm to Telegram the updates that finished."""

    async def send_once(self, reply: Reply) -> Delivered:
        """One Bot API call outside any update, no retry, no wait: the broadcaster's own policy
        decides what to do with the outcome (see ``BotCalls.send_once``)."""

    async def close(self) -> None:
        """Close the HTTP session; safe to call twice."""
