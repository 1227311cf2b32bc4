"""The emulator: one fake Telegram for one bot token, and the people in it.

``Emulator`` owns the state (chats, update queue, webhook, uploaded files,
pending callback queries, injected faults and the record of every call) and
the HTTP server that exposes it. The bot talks to it over real HTTP exactly as
to api.telegram.org; tests and the demo drive simulated users in-process, or
over the control API from another process.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from emulator.botapi import BotApi
from emulator.errors import ApiError, InvalidRequest, not_found, too_many_requests
from emulator.faults import Fault, FaultPlan
from emulator.limits import DEFAULT_CHAT_RATE_LIMIT, DEFAULT_RATE_LIMIT, RateViolation, SendLimits
from emulator.objects import CallbackAnswer, CallRecord, Rejection, UploadedFile
from emulator.server import build_app
from emulator.spec import Spec
from emulator.updates import UpdateQueue
from emulator.users import Conversation, SimulatedGroup, SimulatedUser
from emulator.webhook import DeliveryAttempt, RetryPolicy, WebhookDelivery

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "123456:TEST"  # noqa: S105 - the emulator's made-up default token
BOT_ID = 100000
BOT_USERNAME = "undersign_bot"
BOT_NAME = "undersign"


class Emulator:
    """A local Telegram Bot API for one bot, with simulated users."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        spec: Spec | None = None,
        spec_path: Path | str | None = None,
        bot_id: int = BOT_ID,
        bot_username: str = BOT_USERNAME,
        bot_first_name: str = BOT_NAME,
        webhook_retry_delay: float = 0.5,
        webhook_max_retry_delay: float = 8.0,
        webhook_timeout: float = 10.0,
        record: bool = True,
        rate_limit: float | None = DEFAULT_RATE_LIMIT,
        chat_rate_limit: float | None = DEFAULT_CHAT_RATE_LIMIT,
    ) -> None:
        """``rate_limit``/``chat_rate_limit``: sends per rolling second, all chats together and
        per chat, beyond which Telegram answers 429 (``emulator.limits``); None: no limit."""
        self.token = token
        self.spec = spec or Spec.load(spec_path)
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        # In messages, ``from`` is the plain User without the getMe-only capability fields.
        self.bot_sender = {key: self.bot_user[key] for key in ("id", "is_bot", "first_name", "username")}
        self.retry_policy = RetryPolicy(webhook_retry_delay, webhook_max_retry_delay, webhook_timeout)
        self.record = record
        self.queue = UpdateQueue()
        self.webhook: WebhookDelivery | None = None
        self.faults = FaultPlan()
        self.limits = SendLimits(rate_limit, chat_rate_limit)
        self.calls: list[CallRecord] = []
        self.rejected: list[Rejection] = []
        self.deliveries: list[DeliveryAttempt] = []
        self.conversations: dict[int, Conversation] = {}
        self.users: dict[int, SimulatedUser] = {}
        self.groups: dict[int, SimulatedGroup] = {}
        self.files: dict[str, UploadedFile] = {}
        self.callbacks: dict[str, asyncio.Future[CallbackAnswer]] = {}
        self.api = BotApi(self)
        self._query_ids = itertools.count(4_000_000_000_000_000_001)
        self._runner: web.AppRunner | None = None
        self.base_url: str | None = None

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the Bot API and the control API; the base URL (``TELEGRAM_API_URL``)."""
        self._runner = web.AppRunner(build_app(self), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        bound = sockets[0].getsockname()[1] if sockets else port
        shown_host = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown_host}:{bound}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving: end long polls, stop webhook delivery, release pending presses."""
        self.queue.close()
        if self.webhook is not None:
            await self.webhook.close()
            self.webhook = None
        for waiting in self.callbacks.values():
            waiting.cancel()
        self.callbacks.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- people ----------------------------------------------------------------------

    def user(
        self,
        user_id: int,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        *,
        is_premium: bool = False,
    ) -> SimulatedUser:
        """The simulated user with this id (created on first use; its private chat id is its id)."""
        existing = self.users.get(user_id)
        if existing is not None:
            return existing
        chat: dict[str, Any] = {"id": user_id, "type": "private", "first_name": first_name}
        if last_name:
            chat["last_name"] = last_name
        if username:
            chat["username"] = username
        conversation = self.conversations.setdefault(user_id, Conversation(chat))
        user = SimulatedUser(
            self,
            conversation,
            user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            is_premium=is_premium,
        )
        self.users[user_id] = user
        return user

    def group(self, chat_id: int, title: str = "Group") -> SimulatedGroup:
        """A group (or a supergroup when the id starts with -100) with the bot in it."""
        existing = self.groups.get(chat_id)
        if existing is not None:
            return existing
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        conversation = self.conversations.setdefault(
            chat_id, Conversation({"id": chat_id, "type": kind, "title": title})
        )
        group = SimulatedGroup(self, conversation, chat_id, title)
        self.groups[chat_id] = group
        return group

    # -- faults ----------------------------------------------------------------------

    def fail_next(
        self,
        method: str | None = "sendMessage",
        *,
        status: int = 429,
        retry_after: int = 1,
        chat_id: int | str | None = None,
        times: int = 1,
        description: str | None = None,
        delay: float = 0.0,
    ) -> Fault:
        """Make the next ``times`` matching calls fail (``method=None``: any method).

        429 answers ``Too Many Requests: retry after N`` with ``parameters.retry_after``;
        403 ``Forbidden: bot was blocked by the user``; 400 the given description;
        500/502 the HTTP reason. ``delay`` seconds pass before the answer.
        """
        return self.faults.add(
            method,
            status=status,
            retry_after=retry_after,
            chat_id=chat_id,
            times=times,
            description=description,
            delay=delay,
        )

    @property
    def rate_violations(self) -> list[RateViolation]:
        """Every send refused because the bot went over ``rate_limit`` or ``chat_rate_limit``
        (injected faults are not in here)."""
        return self.limits.violations

    # -- the Hub the simulated users post through ---------------------------------------

    def post_update(self, kind: str, payload: dict[str, Any], chat_id: int) -> int:
        """Queue (or deliver to the webhook) a new update; its update_id."""
        update_id = self.queue.new_id()
        if not self.queue.accepts(kind):
            return update_id  # Telegram does not keep updates the bot did not ask for
        update = {"update_id": update_id, kind: payload}
        if self.webhook is not None:
            self.webhook.push(update, chat_id)
        else:
            self.queue.put(update)
        return update_id

    def open_callback(self) -> tuple[str, asyncio.Future[CallbackAnswer]]:
        query_id = str(next(self._query_ids))
        waiting: asyncio.Future[CallbackAnswer] = asyncio.get_running_loop().create_future()
        self.callbacks[query_id] = waiting
        return query_id, waiting

    def expire_callback(self, query_id: str) -> None:
        self.callbacks.pop(query_id, None)

    # -- webhook -----------------------------------------------------------------------

    async def install_webhook(
        self, url: str, *, secret_token: str | None, max_connections: int, drop_pending: bool
    ) -> None:
        """Switch to webhook delivery; pending updates move to the webhook unless dropped."""
        pending = self.queue.take_all()
        if self.webhook is not None:
            pending = sorted(pending + await self.webhook.close(), key=lambda update: int(update["update_id"]))
        self.webhook = WebhookDelivery(
            url,
            secret_token=secret_token,
            max_connections=max_connections,
            policy=self.retry_policy,
            on_attempt=self._record_delivery,
            on_reply=self._webhook_reply,
        )
        if not drop_pending:
            for update in pending:
                self.webhook.push(update, _chat_of(update))

    async def remove_webhook(self, *, drop_pending: bool) -> None:
        """Back to getUpdates; updates the webhook did not take are kept unless dropped."""
        if self.webhook is not None:
            undelivered = await self.webhook.close()
            self.webhook = None
            self.queue.restore(undelivered)
        if drop_pending:
            self.queue.take_all()

    def _record_delivery(self, attempt: DeliveryAttempt) -> None:
        if self.record:
            self.deliveries.append(attempt)

    async def _webhook_reply(self, body: dict[str, Any]) -> None:
        params = {key: value for key, value in body.items() if key != "method"}
        try:
            await self.call(str(body["method"]), params, in_webhook_answer=True)
        except ApiError as error:
            log.info("webhook reply %s refused: %s", body["method"], error.description)

    # -- the Bot API -------------------------------------------------------------------

    async def call(
        self,
        name: str,
        params: dict[str, Any],
        files: dict[str, UploadedFile] | None = None,
        *,
        in_webhook_answer: bool = False,
    ) -> Any:
        """Run one Bot API call (already authorised): validate, apply faults, execute, record.

        ``in_webhook_answer``: the call came in the bot's answer to a webhook delivery.

        Raises ``ApiError`` with Telegram's answer when the call fails.
        """
        method = self.spec.method(name)
        if method is None:
            raise not_found()
        try:
            checked = self.spec.validate(method, params, files or {})
            fault = self.faults.take(method.name, checked)
            if fault is not None:
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                raise fault.error()
            violation = self.limits.admit(method.name, checked)
            if violation is not None:
                raise too_many_requests(violation.retry_after)
            result = await self.api.dispatch(method.name, method.returns, checked)
        except InvalidRequest as error:
            self._record(method.name, params, error, in_webhook_answer)
            if self.record:
                self.rejected.append(Rejection(method.name, dict(params), error.description))
            raise
        except ApiError as error:
            self._record(method.name, params, error, in_webhook_answer)
            raise
        if self.record:
            self.calls.append(
                CallRecord(method.name, checked, True, result=result, in_webhook_answer=in_webhook_answer)
            )
        return result

    def _record(self, method: str, params: dict[str, Any], error: ApiError, in_webhook_answer: bool) -> None:
        if self.record:
            self.calls.append(
                CallRecord(
                    method, dict(params), False, error.status, error.description, in_webhook_answer=in_webhook_answer
                )
            )

    def calls_to(self, method: str) -> list[CallRecord]:
        """The recorded calls of one method (name matched case-insensitively)."""
        return [call for call in self.calls if call.method.lower() == method.lower()]


def _chat_of(update: dict[str, Any]) -> int:
    """The chat an update belongs to, so webhook delivery keeps each chat's order."""
    for kind, payload in update.items():
        if kind == "update_id" or not isinstance(payload, dict):
            continue
        chat = payload.get("chat") or (payload.get("message") or {}).get("chat")
        if chat is not None:
            return int(chat["id"])
        sender = payload.get("from")
        if sender is not None:
            return int(sender["id"])
    return 0
