"""What both runtimes share: their interface, update → event translation, dispatching.

A runtime is a thin translation between one framework and the neutral
``handlers.events.Event`` / ``handlers.replies.Reply``. That contract (events,
replies, ``Deliver``) is all it knows of the conversation: the core is handed in
as a ``Handler`` (``attach``), so importing a runtime loads no step of it. To keep the two runtimes
free of copy-paste, each one turns its framework's update object back into the
Bot API JSON it came from (``model_dump`` / ``to_dict``) and the translation to
an ``Event`` is done once, here, on that JSON. The framework still parses,
routes and sends; only the mapping is shared. The Bot API calls are written once
too (``RuntimeBase``): both frameworks name the methods and their parameters as
the Bot API does, so a runtime only supplies its own classes (keyboards, files,
commands) and the table of its exceptions.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from bot.delivery import ApiError, Deliverer, ErrorKind, method_name
from handlers.events import Chat, Event, EventKind, User
from handlers.replies import (
    AnswerCallback,
    Button,
    Deliver,
    Delivered,
    EditMessage,
    Keyboard,
    Reply,
    SendDocument,
    SendMessage,
    SendPhoto,
)

log = logging.getLogger("bot.runtime")

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
        """Webhook path: parse one update with the framework and handle it to the end.

        Returns normally when the update was handled, including when the core answered a
        failed step with an apology, and when the update is malformed (it never will parse).
        Raises ``UpdateFailed`` when handling failed outside the core, so that the webhook
        answers 503 and Telegram re-delivers it.
        """

    async def set_webhook(self, url: str, secret: str, *, drop_pending: bool = False) -> None: ...

    async def delete_webhook(self, *, drop_pending: bool = False) -> None: ...

    async def set_commands(
        self, commands: Sequence[BotCommand], language_code: str | None = None, chat_id: int | None = None
    ) -> None:
        """The command menu for everyone, or for one private chat (``chat_id``: an organiser's menu)."""

    async def drain(self, grace: float) -> None:
        """Wait (at most ``grace`` seconds) for updates being handled to finish; cancel the rest."""

    async def send_once(self, reply: Reply) -> Delivered:
        """One Bot API call outside any update, no retry, no wait: the broadcaster's own policy
        decides what to do with the outcome (see ``RuntimeBase.send_once``)."""

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


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{key} is not an integer")
    return value


def _text(data: Mapping[str, Any], key: str) -> str | None:
    """A string field or None; anything else makes the update malformed.

    PTB does not check types when it parses an update (aiogram does): without this check a
    ``first_name`` sent as an object would reach the core as its ``str()``.
    """
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value


def _user(data: Mapping[str, Any] | None) -> User | None:
    if not data:
        return None
    return User(
        id=_int(data, "id"),
        first_name=_text(data, "first_name") or "",
        last_name=_text(data, "last_name"),
        username=_text(data, "username"),
        language_code=_text(data, "language_code"),
    )


def _chat(data: Mapping[str, Any]) -> Chat:
    return Chat(id=_int(data, "id"), type=_text(data, "type") or "private")


def event_from_update(data: Mapping[str, Any], bot_username: str | None = None) -> Event | None:
    """The neutral event for one update, or None for updates the core does not see.

    ``bot_username`` lets ``/cmd@otherbot`` (a command for another bot in a group)
    arrive as plain text instead of as our command, and marks ``/cmd@thisbot`` as
    ``addressed`` (compared case-insensitively): in groups the bot answers only those
    and ``/verify``. Without a username nothing counts as addressed to us.
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
        callback_data=_text(query, "data") or "",
        callback_id=str(query["id"]),
        message_id=message.get("message_id"),
        content_type="callback_query",
    )


def _message(update_id: int, message: Mapping[str, Any], edited: bool, bot_username: str | None) -> Event:
    ctype = content_type(message)
    text = _text(message, "text" if ctype == "text" else "caption") or ""
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
    addressed = bool(addressee and bot_username and addressee.lower() == bot_username.lower())
    if addressee and bot_username and not addressed:
        return Event(kind=EventKind.TEXT, **common)  # another bot's command: only text to us
    return Event(
        kind=EventKind.COMMAND,
        command=match["name"].lower(),
        args=(match["args"] or "").strip(),
        addressed=addressed,
        **common,
    )


# --- shared runtime behaviour ---------------------------------------------------------------
#
# What happens when handling an update fails, by where it fails:
#
# - In a step of the conversation (the database, the state store, a bug in a step): the core
#   (``handlers.core``) catches it, logs it once and answers the user with a kind apology. The
#   update then counts as handled: a webhook answers 200 and Telegram does NOT re-deliver it.
#   That is deliberate: the user was already told to try again, and a late re-delivery would
#   surprise them.
# - Before or around the core: the framework cannot dispatch the update, no core is attached
#   yet, the handler itself raises (a bug outside the steps' safety net), or the process is
#   shutting down. ``_dispatch`` logs it and reports it through ``_failing_loudly``, which raises
#   ``UpdateFailed``; the webhook answers 503 (also on a timeout or while stopping) and Telegram
#   re-delivers the update later. In polling mode the update is already confirmed to Telegram,
#   so such a failure is only logged.
# - An update the framework cannot parse, or whose fields have the wrong types, can never be
#   handled: both runtimes log one warning with its update_id (no content: that would be names
#   and message text) and return normally, so a webhook answers 200 and it is not re-delivered.


class UpdateFailed(Exception):
    """Handling a webhook update failed outside the core's own error handling (see above):
    answer non-2xx so Telegram re-delivers it."""


# Set by ``RuntimeBase._failing_loudly`` around webhook handling: where ``_dispatch`` reports a
# failure that the framework in between (PTB logs and swallows handler errors) would hide.
_failures: ContextVar[list[BaseException] | None] = ContextVar("undersign_update_failures", default=None)

# (framework exception type, kind), checked in order: the first match wins.
ErrorTable = tuple[tuple[type[BaseException], ErrorKind], ...]


class FrameworkUser(Protocol):
    """What we read of getMe's answer; aiogram's and PTB's ``User`` both fit."""

    @property
    def id(self) -> int: ...

    @property
    def username(self) -> str | None: ...


def ignore_malformed(update_id: object) -> None:
    """The one log line for an update that can never be handled (never its content)."""
    log.warning("update %s: malformed update ignored", update_id)


def _seconds(value: object) -> float:
    """``retry_after`` as seconds: aiogram gives an int, PTB an int or a timedelta."""
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value) if isinstance(value, int | float) else 1.0


class RuntimeBase(ABC):
    """Dispatching, delivery, in-flight tracking and the Bot API calls both runtimes share.

    A subclass supplies the framework specifics:

    - ``_bot``: the framework's bot object (aiogram ``Bot``, PTB ``ExtBot``). Both name the
      Bot API methods alike, so the calls below are written once.
    - ``_get_me``: open the HTTP session and call getMe.
    - ``_markup``/``_button``: its inline keyboard classes; ``_upload``: a file for
      sendDocument/sendPhoto; ``_command``: its ``BotCommand``.
    - ``_errors``/``_unsent_causes``: how its exceptions map to ``ApiError`` kinds.

    It calls ``_dispatch`` with each update's JSON, and wraps webhook handling in
    ``_failing_loudly``.
    """

    name = "base"
    _errors: ErrorTable = ()
    # Low-level errors (the ``__cause__`` of a framework network error) that prove the request
    # never reached Telegram: it could not connect. Only then is re-sending a message safe.
    _unsent_causes: tuple[type[BaseException], ...] = ()

    def __init__(self, *, max_concurrent_updates: int) -> None:
        self._limit = max_concurrent_updates
        self._handler: Handler | None = None
        self._username: str | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    # -- the framework's pieces ----------------------------------------------------------------

    @property
    @abstractmethod
    def _bot(self) -> Any:
        """The framework's bot object, on which the Bot API calls are made."""

    @abstractmethod
    async def _get_me(self) -> FrameworkUser:
        """Open the HTTP session and call getMe."""

    @abstractmethod
    def _markup(self, rows: list[list[Any]]) -> Any:
        """The framework's inline keyboard from rows of its buttons."""

    @abstractmethod
    def _button(self, button: Button) -> Any:
        """The framework's inline keyboard button."""

    @abstractmethod
    def _upload(self, reply: SendDocument | SendPhoto) -> Any:
        """The framework's input file for a document or photo."""

    @abstractmethod
    def _command(self, command: BotCommand) -> Any:
        """The framework's ``BotCommand``."""

    @abstractmethod
    def _chat_scope(self, chat_id: int) -> Any:
        """The framework's ``BotCommandScopeChat``: a menu for one chat only."""

    # -- lifecycle and Bot API calls -------------------------------------------------------------

    def attach(self, handler: Handler) -> None:
        self._handler = handler

    async def start(self) -> BotInfo:
        me = await self._get_me()
        self._username = me.username
        return BotInfo(id=me.id, username=me.username or "")

    async def set_webhook(self, url: str, secret: str, *, drop_pending: bool = False) -> None:
        await self._bot.set_webhook(
            url,
            secret_token=secret,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=drop_pending,
            max_connections=min(100, self._limit),
        )

    async def delete_webhook(self, *, drop_pending: bool = False) -> None:
        await self._bot.delete_webhook(drop_pending_updates=drop_pending)

    async def set_commands(
        self, commands: Sequence[BotCommand], language_code: str | None = None, chat_id: int | None = None
    ) -> None:
        scope = None if chat_id is None else self._chat_scope(chat_id)
        await self._bot.set_my_commands([self._command(c) for c in commands], scope=scope, language_code=language_code)

    # -- updates ----------------------------------------------------------------------------------

    async def _dispatch(self, data: Mapping[str, Any]) -> None:
        """Translate one update and hand it to the core; never raises into the framework.

        A failure is logged here and, on the webhook path, reported to ``_failing_loudly``.
        """
        update_id = data.get("update_id")
        if "my_chat_member" in data:
            status = (data["my_chat_member"].get("new_chat_member") or {}).get("status")
            log.info("update %s: the bot's membership changed to %s", update_id, status)
            return
        try:
            event = event_from_update(data, self._username)
        except (KeyError, TypeError, ValueError, AttributeError):
            ignore_malformed(update_id)
            return
        if event is None:
            log.debug("update %s: update type not handled", update_id)
            return
        if self._handler is None:
            log.error("update %s: no handler attached (Runtime.attach was not called)", update_id)
            _report(UpdateFailed("no handler attached"))
            return
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
            self._idle.clear()
        try:
            await self._handler(event, Deliverer(self._send, self._classify, event.update_id))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # The core answers users itself; anything escaping it is a bug. One line with its type:
            # a traceback's message can quote the input (names, text); LOG_LEVEL=DEBUG adds it.
            log.error("update %s: unhandled error in the core (%s)", event.update_id, type(error).__name__)
            log.debug("update %s: the unhandled error", event.update_id, exc_info=True)
            _report(error)
        finally:
            if task is not None:
                self._in_flight.discard(task)
                if not self._in_flight:
                    self._idle.set()

    async def _failing_loudly(self, handling: Awaitable[Any]) -> None:
        """Await the framework's handling of one webhook update; raise ``UpdateFailed`` if
        ``_dispatch`` reported a failure, so the webhook answers 503 and Telegram re-delivers.

        This covers only failures that escape the core (see the notes above ``UpdateFailed``):
        a step that fails inside the core is answered with an apology and never reaches here.
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

    # -- replies ----------------------------------------------------------------------------------

    def _keyboard(self, buttons: Keyboard) -> Any:
        if not buttons:
            return None
        return self._markup([[self._button(button) for button in row] for row in buttons])

    async def _send(self, reply: Reply) -> int | None:
        """One reply, one Bot API call; the sent or edited message's id, if any."""
        bot = self._bot
        match reply:
            case SendMessage():
                sent = await bot.send_message(reply.chat_id, reply.text, reply_markup=self._keyboard(reply.buttons))
            case EditMessage():
                sent = await bot.edit_message_text(
                    text=reply.text,
                    chat_id=reply.chat_id,
                    message_id=reply.message_id,
                    reply_markup=self._keyboard(reply.buttons),
                )
            case AnswerCallback():
                await bot.answer_callback_query(reply.callback_id, text=reply.text, show_alert=reply.show_alert)
                return None
            case SendDocument():
                sent = await bot.send_document(reply.chat_id, self._upload(reply), caption=reply.caption or None)
            case SendPhoto():
                sent = await bot.send_photo(reply.chat_id, self._upload(reply), caption=reply.caption or None)
        message_id = getattr(sent, "message_id", None)  # editing an inline message answers True
        return message_id if isinstance(message_id, int) else None

    async def send_once(self, reply: Reply) -> Delivered:
        """One Bot API call, never retried and never waiting, its outcome classified.

        For senders with their own policy (the broadcaster): ``Delivered(ok=False, error=...)``
        with ``"flood"`` (``extra["retry_after"]``: seconds), ``"blocked"`` (403), ``"bad_request"``
        ("message is not modified" on an edit counts as success), ``"unsent"`` (the request
        certainly did not reach Telegram), ``"network"`` (it may have: a timeout, a dropped
        connection, a 5xx), ``"other"``, or ``"internal"`` (not a Telegram error: a bug).
        ``extra["description"]`` is Telegram's description, never the text sent. Logs nothing
        but the exception type of an internal error.
        """
        try:
            message_id = await self._send(reply)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = self._classify(exc)
            if error is None:
                log.error("%s failed: %s", method_name(reply), type(exc).__name__)
                return Delivered(ok=False, error="internal")
            extra: dict[str, object] = {"description": error.description}
            if error.kind == "flood":
                return Delivered(ok=False, error="flood", extra={**extra, "retry_after": error.retry_after})
            if error.kind == "forbidden":
                return Delivered(ok=False, error="blocked", extra=extra)
            unchanged = error.kind == "bad_request" and "message is not modified" in error.description
            if unchanged and isinstance(reply, EditMessage):
                return Delivered(message_id=reply.message_id)
            return Delivered(ok=False, error=error.kind, extra=extra)
        return Delivered(message_id=message_id)

    def _classify(self, exc: Exception) -> ApiError | None:
        """The framework's exception as an ``ApiError`` (None: not a Telegram API error)."""
        for exc_type, kind in self._errors:
            if isinstance(exc, exc_type):
                description = str(getattr(exc, "message", "") or type(exc).__name__)
                if kind == "flood":
                    return ApiError(kind, description, _seconds(getattr(exc, "retry_after", None)))
                if kind == "network" and self._never_sent(exc):
                    kind = "unsent"
                return ApiError(kind, description)
        return None

    def _never_sent(self, exc: BaseException) -> bool:
        cause = exc.__cause__
        while cause is not None:
            if isinstance(cause, self._unsent_causes):
                return True
            cause = cause.__cause__
        return False


def _report(error: BaseException) -> None:
    """Hand a failure to ``_failing_loudly`` if a webhook update is being handled."""
    failures = _failures.get()
    if failures is not None:
        failures.append(error)
