"""Running updates: each one translated, handed to the core, tracked until it is done.

What happens when handling an update fails, by where it fails:

- In a step of the conversation (the database, the state store, a bug in a step): the core
  (``handlers.core``) catches it, logs it once and answers the user with a kind apology. The
  update then counts as handled: a webhook answers 200 and Telegram does NOT re-deliver it.
  That is deliberate: the user was already told to try again, and a late re-delivery would
  surprise them.
- Before or around the core: no core is attached yet, the handler itself raises (a bug
  outside the steps' safety net), or the process is shutting down. ``_dispatch`` logs it and
  returns it; on the webhook path ``process_update`` raises ``UpdateFailed``, the webhook
  answers 503 (also on a timeout or while stopping) and Telegram re-delivers the update
  later. In polling mode such a failure is only logged; the update counts as finished.
- Cut off by a crash (kill -9) or cancelled at the shutdown deadline: in polling mode it
  was not confirmed to Telegram (``bot.runtimes.polling``), so the next start receives
  it again, and the core handles it unless it had marked it finished.
- An update that is malformed (``bot.runtimes.translation.Malformed``) can never be
  handled: one warning with its update_id (no content: that would be names and message
  text), and it is dropped, so a webhook answers 200 and it is not re-delivered.

Both paths hand the update's JSON straight to the translation: the webhook its body,
polling what getUpdates answered (``bot.runtimes.polling``, over each runtime's raw
getUpdates). No framework parses an update into its objects; the frameworks only send.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from bot.delivery import WebhookAnswer
from bot.runtimes.contract import Handler, UpdateFailed
from bot.runtimes.translation import event_from_update
from handlers.replies import Deliver

log = logging.getLogger("bot.runtime")


def ignore_malformed(update_id: object) -> None:
    """The one log line for an update that can never be handled (never its content)."""
    log.warning("update %s: malformed update ignored", update_id)


class UpdateHandling(ABC):
    """Hands each update to the attached core and keeps count of the updates in flight."""

    def __init__(self) -> None:
        self._handler: Handler | None = None
        self._username: str | None = None  # ours, once getMe told us: see ``event_from_update``
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @abstractmethod
    def _deliverer(self, update_id: int, webhook_answer: WebhookAnswer | None) -> Deliver:
        """The ``deliver`` callable for one update's replies (``webhook_answer``: on the webhook path)."""

    def attach(self, handler: Handler) -> None:
        self._handler = handler

    async def process_update(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """Webhook path: the JSON body, translated directly and handled to the end; the call
        the webhook's answer carries (the callback answer), if any."""
        answer = WebhookAnswer()
        failure = await self._dispatch(data, answer)
        if failure is not None:
            raise UpdateFailed(type(failure).__name__)
        return answer.call

    async def _dispatch(
        self, data: Mapping[str, Any], webhook_answer: WebhookAnswer | None = None
    ) -> BaseException | None:
        """Translate one update and hand it to the core; never raises into the framework.

        Returns the failure outside the core (already logged), if handling had one.
        """
        update_id = data.get("update_id")
        if "my_chat_member" in data:
            member = data["my_chat_member"]
            status = (member.get("new_chat_member") or {}).get("status") if isinstance(member, Mapping) else None
            log.info("update %s: the bot's membership changed to %s", update_id, status)
            return None
        try:
            event = event_from_update(data, self._username)
        except (KeyError, TypeError, ValueError, AttributeError):  # Malformed, or a shape not foreseen there
            ignore_malformed(update_id)
            return None
        if event is None:
            log.debug("update %s: update type not handled", update_id)
            return None
        if self._handler is None:
            log.error("update %s: no handler attached (Runtime.attach was not called)", update_id)
            return UpdateFailed("no handler attached")
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
            self._idle.clear()
        try:
            await self._handler(event, self._deliverer(event.update_id, webhook_answer))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # The core answers users itself; anything escaping it is a bug. One line with its type:
            # a traceback's message can quote the input (names, text); LOG_LEVEL=DEBUG adds it.
            log.error("update %s: unhandled error in the core (%s)", event.update_id, type(error).__name__)
            log.debug("update %s: the unhandled error", event.update_id, exc_info=True)
            return error
        finally:
            if task is not None:
                self._in_flight.discard(task)
                if not self._in_flight:
                    self._idle.set()
        return None

    async def drain(self, grace: float) -> None:
        """Wait at most ``grace`` seconds for the updates in flight; cancel those still running.

        Past the shutdown deadline the platform is about to kill the process: cancelling lets
        each update end cleanly (the core forgets its ``update_id``, so a webhook re-delivery
        is handled again) instead of running on against closed pools.
        """
        if not self._in_flight:
            return
        log.info("waiting for %d update(s) in flight", len(self._in_flight))
        try:
            await asyncio.wait_for(self._idle.wait(), max(grace, 0.0))
        except TimeoutError:
            left = list(self._in_flight)
            log.warning("%d update(s) still in flight after %.1fs; cancelling them", len(left), grace)
            for task in left:
                task.cancel()
            await asyncio.wait(left, timeout=1.0)
