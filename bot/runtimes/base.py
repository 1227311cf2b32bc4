"""What both runtimes share: their interface, update → event translation, dispatching.

A runtime is a thin translation between one framework and the neutral
``handlers.events.Event`` / ``handlers.replies.Reply``. To keep the two runtimes
free of copy-paste, each one turns its framework's update object back into the
Bot API JSON it came from (``model_dump`` / ``to_dict``) and the translation to
an ``Event`` is done once, here, on that JSON. The framework still parses,
routes and sends; only the mapping is shared.
"""

from __future__ import annotations

import asyncio
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from bot.delivery import ApiError, Deliverer
from handlers.core import Deliver
from handlers.events import Chat, Event, EventKind, User
from handlers.replies import Reply

log = logging.getLogger("bot.runtime")

# The update types we ask Telegram for (getUpdates and setWebhook alike).
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]

Handler = Callable[[Event, Deliver], Awaitable[None]]  # ``Core.handle``


@dataclass(frozen=True, slots=True)
class BotInfo:
    id: int
    username: str


@dataclass(frozen=True, slots=True)
class BotCommand:
    command: str  # without "/"
    description: str


class Runtime(Protocol):
    """The interface ``bot.app`` and ``bot.webhook`` use; implemented by both runtimes."""

    name: str

    def attach(self, handler: Handler) -> None:
        """Route events to ``handler`` (the core is built after ``start`` tells us our username)."""

    async def start(self) -> BotInfo:
        """Open the HTTP session and call getMe."""

    async def run_polling(self, stop: asyncio.Event) -> None:
        """Poll getUpdates until ``stop`` is set, then finish in-flight updates."""

    async def process_update(self, data: dict[str, Any]) -> None:
        """Webhook path: parse one update with the framework and handle it to the end."""

    async def set_webhook(self, url: str, secret: str, *, drop_pending: bool = False) -> None: ...

    async def delete_webhook(self, *, drop_pending: bool = False) -> None: ...

    async def set_commands(self, commands: Sequence[BotCommand], language_code: str | None = None) -> None: ...

    async def drain(self, grace: float) -> None:
        """Wait (at most ``grace`` seconds) for updates being handled to finish."""

    async def close(self) -> None:
        """Close the HTTP session; safe to call twice."""


# --- Bot API JSON → Event -------------------------------------------------------------------

_COMMAND = re.compile(r"/(?P<name>[A-Za-z0-9_]{1,32})(?:@(?P<bot>[A-Za-z0-9_]{1,64}))?(?:\s+(?P<args>.*))?", re.S)

# Checked in this order: an animation also carries "document", a venue also "location".
_MEDIA = (
    "animation",
    "sticker",
    "photo",
    "video_note",
    "video",
    "voice",
    "audio",
    "document",
    "paid_media",
    "venue",
    "location",
    "contact",
    "poll",
    "dice",
    "game",
    "story",
    "invoice",
    "checklist",
)
_SERVICE = (
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "pinned_message",
    "successful_payment",
    "users_shared",
    "chat_shared",
    "write_access_allowed",
    "web_app_data",
    "video_chat_started",
    "video_chat_ended",
    "forum_topic_created",
)


def content_type(message: Mapping[str, Any]) -> str:
    for key in _MEDIA:
        if message.get(key):
            return key
    if message.get("text") is not None:
        return "text"
    for key in _SERVICE:
        if message.get(key):
            return key
    return "unknown"


def _user(data: Mapping[str, Any] | None) -> User | None:
    if not data:
        return None
    return User(
        id=int(data["id"]),
        first_name=str(data.get("first_name") or ""),
        last_name=data.get("last_name"),
        username=data.get("username"),
        language_code=data.get("language_code"),
    )


def _chat(data: Mapping[str, Any]) -> Chat:
    return Chat(id=int(data["id"]), type=str(data.get("type") or "private"))


def event_from_update(data: Mapping[str, Any], bot_username: str | None = None) -> Event | None:
    """The neutral event for one update, or None for updates the core does not see.

    ``bot_username`` lets ``/cmd@otherbot`` (a command for another bot in a group)
    arrive as plain text instead of as our command.
    """
    update_id = int(data["update_id"])
    if "callback_query" in data:
        return _button(update_id, data["callback_query"])
    for key, edited in (
        ("message", False),
        ("channel_post", False),
        ("edited_message", True),
        ("edited_channel_post", True),
    ):
        if key in data:
            return _message(update_id, data[key], edited, bot_username)
    return None


def _button(update_id: int, query: Mapping[str, Any]) -> Event:
    user = _user(query.get("from"))
    message = query.get("message") or {}
    # A button on an inline-mode message has no chat: answer privately.
    private = Chat(id=user.id if user else 0, type="private")
    chat = _chat(message["chat"]) if "chat" in message else private
    return Event(
        update_id=update_id,
        kind=EventKind.BUTTON,
        chat=chat,
        user=user,
        callback_data=query.get("data") or "",
        callback_id=str(query["id"]),
        message_id=message.get("message_id"),
        content_type="callback_query",
    )


def _message(update_id: int, message: Mapping[str, Any], edited: bool, bot_username: str | None) -> Event:
    ctype = content_type(message)
    text = message.get("text") if ctype == "text" else message.get("caption")
    text = text or ""
    common: dict[str, Any] = {
        "update_id": update_id,
        "chat": _chat(message["chat"]),
        "user": _user(message.get("from")),
        "text": text,
        "message_id": message.get("message_id"),
        "content_type": ctype,
        "forwarded": bool(message.get("forward_origin") or message.get("forward_date")),
    }
    if edited:
        return Event(kind=EventKind.EDITED, **common)
    if ctype != "text":
        return Event(kind=EventKind.OTHER, **common)
    match = _COMMAND.fullmatch(text)
    if match is None:
        return Event(kind=EventKind.TEXT, **common)
    addressee = match["bot"]
    if addressee and bot_username and addressee.lower() != bot_username.lower():
        return Event(kind=EventKind.TEXT, **common)
    return Event(
        kind=EventKind.COMMAND,
        command=match["name"].lower(),
        args=(match["args"] or "").strip(),
        **common,
    )


# --- shared runtime behaviour ---------------------------------------------------------------


class UpdateFailed(Exception):
    """The core raised while handling a webhook update: answer non-2xx so Telegram re-delivers it."""


# Set by ``RuntimeBase._failing_loudly`` around webhook handling: where ``_dispatch`` reports
# a core failure that the framework in between (PTB logs and swallows handler errors) would hide.
_failures: ContextVar[list[BaseException] | None] = ContextVar("undersign_update_failures", default=None)


class RuntimeBase(ABC):
    """Dispatching, in-flight tracking and delivery for both runtimes.

    A subclass supplies the framework specifics: ``_send`` (one reply → one API
    call, returning the message id) and ``_classify`` (its exceptions →
    ``ApiError``), and calls ``_dispatch`` with each update's JSON.
    """

    name = "base"

    def __init__(self) -> None:
        self._handler: Handler | None = None
        self._username: str | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def attach(self, handler: Handler) -> None:
        self._handler = handler

    async def _dispatch(self, data: Mapping[str, Any]) -> None:
        """Translate one update and hand it to the core; never raises into the framework."""
        update_id = data.get("update_id")
        if "my_chat_member" in data:
            status = (data["my_chat_member"].get("new_chat_member") or {}).get("status")
            log.info("update %s: the bot's membership changed to %s", update_id, status)
            return
        try:
            event = event_from_update(data, self._username)
        except (KeyError, TypeError, ValueError):
            log.warning("update %s: malformed update ignored", update_id)
            return
        if event is None:
            log.debug("update %s: update type not handled", update_id)
            return
        if self._handler is None:
            raise RuntimeError("no handler attached: call Runtime.attach(core.handle) first")
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
            self._idle.clear()
        try:
            await self._handler(event, Deliverer(self._send, self._classify, event.update_id))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # The core answers users itself; anything escaping it is a bug worth a traceback.
            log.exception("update %s: unhandled error in the core", event.update_id)
            failures = _failures.get()
            if failures is not None:
                failures.append(error)
        finally:
            if task is not None:
                self._in_flight.discard(task)
                if not self._in_flight:
                    self._idle.set()

    async def _failing_loudly(self, handling: Awaitable[Any]) -> None:
        """Await the framework's handling of one webhook update; raise ``UpdateFailed`` if the
        core failed, so the webhook answers non-2xx instead of losing the update.

        (Polling has already confirmed the update to Telegram; there a failure is only logged.)
        """
        failures: list[BaseException] = []
        token = _failures.set(failures)
        try:
            await handling
        finally:
            _failures.reset(token)
        if failures:
            raise UpdateFailed(type(failures[0]).__name__)

    async def drain(self, grace: float) -> None:
        if self._in_flight:
            log.info("waiting for %d update(s) in flight", len(self._in_flight))
            try:
                await asyncio.wait_for(self._idle.wait(), grace)
            except TimeoutError:
                log.warning("%d update(s) still in flight after %ss; stopping anyway", len(self._in_flight), grace)

    @abstractmethod
    async def _send(self, reply: Reply) -> int | None: ...

    @abstractmethod
    def _classify(self, exc: Exception) -> ApiError | None: ...
