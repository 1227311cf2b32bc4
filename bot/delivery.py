"""Delivering the core's replies: one error policy for both runtimes.

Each runtime knows how to *send* a neutral reply with its framework and how to
*classify* its framework's exceptions into an ``ApiError``; everything else —
flood-control waits, what is retried, what is logged and how loudly — lives
here, once:

- 429: wait ``retry_after`` and retry, at most ``MAX_TRIES`` tries and
  ``FLOOD_BUDGET`` seconds of waiting per reply (neither framework does this by
  itself); then give up with a warning.
- 403 (the user blocked the bot, or it was kicked): logged once per update at
  INFO and never retried; later replies of the same update are skipped.
- 400: logged at WARNING with the method and Telegram's description (never the
  text we tried to send); "message is not modified" on an edit is success.
- network errors and 5xx: a couple of short retries, then a warning.

Nothing here raises: the core gets a ``Delivered(ok=False, error=...)`` and the
framework never sees an exception.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from handlers.replies import (
    AnswerCallback,
    Delivered,
    EditMessage,
    Reply,
    SendDocument,
    SendMessage,
    SendPhoto,
)

log = logging.getLogger("bot.delivery")

MAX_TRIES = 3
FLOOD_BUDGET = 30.0  # seconds of retry_after we are willing to wait for one reply
NETWORK_RETRY_DELAYS = (0.5, 1.5)

ErrorKind = Literal["flood", "forbidden", "bad_request", "network", "other"]


@dataclass(frozen=True, slots=True)
class ApiError:
    """A framework exception reduced to what the policy needs."""

    kind: ErrorKind
    description: str = ""
    retry_after: float = 0.0


Send = Callable[[Reply], Awaitable[int | None]]  # returns the sent/edited message id, if any
Classify = Callable[[Exception], ApiError | None]  # None: not a Telegram API error
Sleep = Callable[[float], Awaitable[None]]

METHODS: dict[type, str] = {
    SendMessage: "sendMessage",
    EditMessage: "editMessageText",
    AnswerCallback: "answerCallbackQuery",
    SendDocument: "sendDocument",
    SendPhoto: "sendPhoto",
}


def method_name(reply: Reply) -> str:
    return METHODS.get(type(reply), type(reply).__name__)


class Deliverer:
    """The ``deliver`` callable handed to the core for one update."""

    def __init__(self, send: Send, classify: Classify, update_id: int, *, sleep: Sleep = asyncio.sleep):
        self._send = send
        self._classify = classify
        self._update_id = update_id
        self._sleep = sleep
        self._blocked = False

    async def __call__(self, reply: Reply) -> Delivered:
        method = method_name(reply)
        if self._blocked and not isinstance(reply, AnswerCallback):
            return Delivered(ok=False, error="blocked")
        waited = 0.0
        network_failures = 0
        tries = 0
        while True:
            tries += 1
            try:
                message_id = await self._send(reply)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = self._classify(exc)
                failure = type(exc).__name__
            else:
                return Delivered(message_id=message_id)

            if error is None:
                # A bug in a runtime or an unexpected library error: the type name only,
                # since exception messages (e.g. validation errors) may quote the text.
                log.error("update %s: %s failed: %s", self._update_id, method, failure)
                return Delivered(ok=False, error="internal")

            if error.kind == "flood":
                if tries < MAX_TRIES and waited + error.retry_after <= FLOOD_BUDGET:
                    log.info(
                        "update %s: %s flood control, retrying in %ss",
                        self._update_id,
                        method,
                        error.retry_after,
                    )
                    waited += error.retry_after
                    await self._sleep(error.retry_after)
                    continue
                log.warning(
                    "update %s: %s gave up after flood control (retry_after %ss, try %d)",
                    self._update_id,
                    method,
                    error.retry_after,
                    tries,
                )
                return Delivered(ok=False, error="flood")

            if error.kind == "forbidden":
                self._blocked = True
                log.info("update %s: the bot cannot write to this chat (blocked or kicked)", self._update_id)
                return Delivered(ok=False, error="blocked")

            if error.kind == "bad_request":
                if "message is not modified" in error.description:
                    return Delivered(message_id=getattr(reply, "message_id", None))
                log.warning("update %s: %s rejected: %s", self._update_id, method, error.description)
                return Delivered(ok=False, error="bad_request")

            if error.kind == "network" and network_failures < len(NETWORK_RETRY_DELAYS):
                await self._sleep(NETWORK_RETRY_DELAYS[network_failures])
                network_failures += 1
                continue

            log.warning("update %s: %s failed: %s", self._update_id, method, error.description or error.kind)
            return Delivered(ok=False, error=error.kind)
