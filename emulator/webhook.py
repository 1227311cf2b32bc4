"""Webhook delivery: POST each update to the bot's URL, retrying as Telegram does.

Updates of one chat go one after another, in order; different chats go in
parallel up to ``max_connections`` requests in flight. A non-2xx answer, a
connection error or a timeout is retried after a growing delay (Telegram
retries for hours; the delays here are short and configurable). A JSON answer
that names a ``method`` is executed as a Bot API call, as Telegram does for
webhook replies. ``RetryPolicy.deliver_twice`` posts every update once more after
it was accepted, as Telegram does when its side of a delivery timed out: a bot
must not answer anything twice.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One POST of an update to the webhook: ``status`` is None when it did not connect."""

    update_id: int
    attempt: int
    status: int | None
    error: str | None
    at: float


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first_delay: float = 0.5
    max_delay: float = 8.0
    timeout: float = 10.0
    deliver_twice: bool = False  # a fault: every accepted update is posted once more


class WebhookDelivery:
    def __init__(
        self,
        url: str,
        *,
        secret_token: str | None,
        max_connections: int,
        policy: RetryPolicy,
        on_attempt: Callable[[DeliveryAttempt], None],
        on_reply: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        self.url = url
        self.secret_token = secret_token
        self.max_connections = max_connections
        self.policy = policy
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None
        self._on_attempt = on_attempt
        self._on_reply = on_reply
        self._slots = asyncio.Semaphore(max_connections)
        self._lanes: dict[int, deque[dict[str, Any]]] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None

    @property
    def pending_count(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    def push(self, update: dict[str, Any], lane: int) -> None:
        """Queue ``update`` behind the earlier updates of the same chat (``lane``)."""
        queue = self._lanes.setdefault(lane, deque())
        queue.append(update)
        if lane not in self._tasks:
            self._tasks[lane] = asyncio.get_running_loop().create_task(self._run_lane(lane))

    async def _run_lane(self, lane: int) -> None:
        queue = self._lanes[lane]
        try:
            while queue:
                await self._deliver(queue[0])
                queue.popleft()
        finally:
            if not queue:
                self._lanes.pop(lane, None)
            self._tasks.pop(lane, None)

    async def _deliver(self, update: dict[str, Any]) -> None:
        delay = self.policy.first_delay
        attempt = 0
        accepted = 0
        while True:
            attempt += 1
            status, error, reply = await self._post(update)
            self._on_attempt(DeliveryAttempt(int(update["update_id"]), attempt, status, error, time.time()))
            if error is None:
                if reply is not None:
                    await self._on_reply(reply)
                accepted += 1
                if self.policy.deliver_twice and accepted == 1:
                    continue
                return
            self.last_error_date = int(time.time())
            self.last_error_message = error
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.policy.max_delay)

    async def _post(self, update: dict[str, Any]) -> tuple[int | None, str | None, dict[str, Any] | None]:
        """One attempt: (HTTP status, error text or None on success, a webhook reply if any)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.policy.timeout))
        headers = {SECRET_HEADER: self.secret_token} if self.secret_token else {}
        async with self._slots:
            try:
                async with self._session.post(self.url, json=update, headers=headers) as response:
                    body = await response.read()
                    if not 200 <= response.status < 300:
                        return response.status, f"Wrong response from the webhook: {response.status}", None
                    return response.status, None, _webhook_reply(body, response.content_type)
            except TimeoutError:
                return None, "Timeout expired", None
            except aiohttp.ClientError as error:
                return None, f"Connection failed: {type(error).__name__}", None

    async def close(self) -> list[dict[str, Any]]:
        """Stop delivering; the updates not yet delivered, in update_id order."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        undelivered = [update for lane in self._lanes.values() for update in lane]
        self._lanes.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
        return sorted(undelivered, key=lambda update: int(update["update_id"]))


def _webhook_reply(body: bytes, content_type: str) -> dict[str, Any] | None:
    """A method call in the webhook's answer (``{"method": "sendMessage", ...}``), if any."""
    if content_type != "application/json" or not body.strip():
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("method"), str):
        return data
    return None
