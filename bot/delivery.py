"""Delivering the core's replies within one update, by the policy of ``bot.call_policy``.

Each runtime knows how to *send* a neutral reply with its framework and how to
*classify* its framework's exceptions into an ``ApiError``; what each failure
means and what may be repeated is ``bot.call_policy`` (shared with the
broadcasts). What is here is the state of one update: a ``Deliverer`` is built
per update, so its budgets belong to the whole update, not to one reply:

- 429: wait ``retry_after`` and retry, as long as the waits of all the update's
  replies stay within ``FLOOD_BUDGET`` seconds (neither framework does this by
  itself). The refusal is also told to the process's ``bot.flood_gate.FloodGate``:
  the next call to that chat (or, when several chats are refused, any call), from
  any update, waits out what is left of ``retry_after`` instead of being refused
  again. The webhook answers within ``bot.webhook.HANDLE_TIMEOUT`` and the person
  waits meanwhile, so the budget stays well within it. When the budget is spent
  the reply is given up with one warning per update. ``answerCallbackQuery`` never
  waits: the query expires within seconds.
- 403 (the user blocked the bot, or it was kicked): logged once per update at
  INFO and never retried; later replies of the same update are skipped.
- 400: logged at WARNING with the method and Telegram's description (never the
  text we tried to send); "message is not modified" on an edit is success.
- network errors: a couple of short retries, but only when a retry cannot send
  a message twice — the request certainly never reached Telegram (``unsent``:
  no connection could be made) or the call is idempotent (an edit, a callback
  answer). A timeout, a dropped connection or a 5xx after a ``sendMessage``,
  ``sendDocument`` or ``sendPhoto`` may mean Telegram already delivered it:
  that is logged and not repeated.

On the webhook path the update's ``answerCallbackQuery`` is not a call of ours: it
rides in the webhook's HTTP answer (``WebhookAnswer``), and Telegram makes it when it
reads that answer. One request fewer per button press, at the price of not hearing
whether it worked (a callback answer's failure changes nothing for the person; the
catalog check keeps its texts within Telegram's limits).

Nothing here raises: the core gets a ``Delivered(ok=False, error=...)`` and the
framework never sees an exception.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.call_policy import (
    NETWORK_RETRY_DELAYS,
    Classify,
    failure,
    log_internal,
    may_wait,
    method_name,
    repeatable,
)
from bot.flood_gate import FloodGate
from handlers.replies import AnswerCallback, Delivered, Reply

log = logging.getLogger("bot.delivery")

Send = Callable[[Reply], Awaitable[int | None]]  # returns the sent/edited message id, if any
Sleep = Callable[[float], Awaitable[None]]


class WebhookAnswer:
    """The one Bot API call a webhook's HTTP answer may carry for its update."""

    def __init__(self) -> None:
        self.call: dict[str, Any] | None = None

    def take(self, reply: AnswerCallback) -> bool:
        """Carry ``reply`` in the answer, if nothing else is carried yet."""
        if self.call is not None:
            return False
        self.call = {"method": "answerCallbackQuery", "callback_query_id": reply.callback_id}
        if reply.text:
            self.call["text"] = reply.text
        if reply.show_alert:
            self.call["show_alert"] = True
        return True


class Deliverer:
    """The ``deliver`` callable handed to the core for one update."""

    def __init__(
        self,
        send: Send,
        classify: Classify,
        update_id: int,
        *,
        sleep: Sleep = asyncio.sleep,
        flood_gate: FloodGate | None = None,
        webhook_answer: WebhookAnswer | None = None,
    ):
        self._send = send
        self._flood_gate = flood_gate or FloodGate()
        self._classify = classify
        self._update_id = update_id
        self._webhook_answer = webhook_answer
        self._sleep = sleep
        self._blocked = False
        self._flood_waited = 0.0  # seconds, across all replies of this update
        self._flood_logged = False

    async def __call__(self, reply: Reply) -> Delivered:
        if isinstance(reply, AnswerCallback) and self._webhook_answer is not None and self._webhook_answer.take(reply):
            return Delivered()
        method = method_name(reply)
        if self._blocked and not isinstance(reply, AnswerCallback):
            return Delivered(ok=False, error="blocked")
        network_failures = 0
        tries = 0
        chat_id: int | None = getattr(reply, "chat_id", None)
        while True:
            tries += 1
            if not isinstance(reply, AnswerCallback) and (paused := self._flood_gate.delay(chat_id)) > 0:
                if not may_wait(reply, self._flood_waited, paused):
                    self._give_up_on_flood(method, paused, tries)
                    return Delivered(ok=False, error="flood")
                self._flood_waited += paused
                await self._sleep(paused)
            try:
                message_id = await self._send(reply)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = self._classify(exc)
                if error is None:
                    log_internal(log, f"update {self._update_id}: ", reply, exc)
                    return Delivered(ok=False, error="internal")
            else:
                return Delivered(message_id=message_id)

            if error.kind == "flood":
                self._flood_gate.refused(chat_id, error.retry_after)
                if may_wait(reply, self._flood_waited, error.retry_after):
                    log.info(
                        "update %s: %s flood control, retrying in %ss",
                        self._update_id,
                        method,
                        error.retry_after,
                    )
                    self._flood_waited += error.retry_after
                    await self._sleep(error.retry_after)
                    continue
                self._give_up_on_flood(method, error.retry_after, tries)
                return Delivered(ok=False, error="flood")

            if error.kind in ("unsent", "network"):
                if not repeatable(error, reply):
                    log.warning(
                        "update %s: %s failed (%s); not repeated, since Telegram may have acted on it",
                        self._update_id,
                        method,
                        error.description or error.kind,
                    )
                    return Delivered(ok=False, error="network")
                if network_failures < len(NETWORK_RETRY_DELAYS):
                    await self._sleep(NETWORK_RETRY_DELAYS[network_failures])
                    network_failures += 1
                    continue
                log.warning("update %s: %s failed: %s", self._update_id, method, error.description or error.kind)
                return Delivered(ok=False, error="network")

            outcome = failure(error, reply)
            if outcome is None:
                return Delivered(message_id=getattr(reply, "message_id", None))
            if outcome == "blocked":
                self._blocked = True
                log.info("update %s: the bot cannot write to this chat (blocked or kicked)", self._update_id)
            elif outcome == "bad_request":
                log.warning("update %s: %s rejected: %s", self._update_id, method, error.description)
            else:
                log.warning("update %s: %s failed: %s", self._update_id, method, error.description or error.kind)
            return Delivered(ok=False, error=outcome)

    def _give_up_on_flood(self, method: str, retry_after: float, tries: int) -> None:
        if self._flood_logged:
            return  # one line per update is enough to see the bot is being throttled
        self._flood_logged = True
        log.warning(
            "update %s: %s gave up after flood control (retry_after %ss, try %d, %ss waited for this update)",
            self._update_id,
            method,
            retry_after,
            tries,
            self._flood_waited,
        )
