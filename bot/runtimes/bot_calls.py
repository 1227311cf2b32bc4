"""The Bot API calls both runtimes make, written once over either framework's bot object.

The three calls every update makes (sendMessage, editMessageText, answerCallbackQuery)
go by name with the Bot API's own JSON (``_call``): the framework still sends them and
turns Telegram's errors into its exceptions, but no framework object is built for the
request or its answer, which cost more CPU than the HTTP request itself (bench/README.md).
For the rest both frameworks name the methods and their parameters as the Bot API does,
so a runtime only supplies its own classes (files, commands) and the table of its
exceptions; what a failed call means is ``bot.call_policy``, for the conversation's
replies (``deliverer``: retries within one update, ``bot.delivery``) and for the
broadcasts (``send_once``) alike.
"""

from __future__ import annotations

import asyncio
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Protocol

from bot.call_policy import Classifier, ErrorTable, failure, log_internal
from bot.delivery import Deliverer, WebhookAnswer
from bot.flood_gate import FloodGate
from bot.metrics import api_call
from bot.runtimes.contract import ALLOWED_UPDATES, BotCommand
from handlers.replies import (
    AnswerCallback,
    Deliver,
    Delivered,
    EditMessage,
    Keyboard,
    Reply,
    SendDocument,
    SendMessage,
    SendPhoto,
    inline_keyboard,
)

log = logging.getLogger("bot.runtime")

# Every text is Telegram HTML, without link previews (a share link would otherwise unfold).
_HTML = {"parse_mode": "HTML", "link_preview_options": json.dumps({"is_disabled": True})}


# A file (an export: up to 50 MB, Telegram's limit for bots) gets the time the slowest upload we
# allow for needs: 50 MB at 128 KiB/s is 400 s; nothing below a minute.
SLOWEST_UPLOAD = 128 * 1024  # bytes per second
UPLOAD_FLOOR = 60.0


def upload_time(reply: SendDocument | SendPhoto) -> float:
    """Seconds a document or photo may take to upload and be answered."""
    size = reply.path.stat().st_size if isinstance(reply, SendDocument) else len(reply.photo)
    return max(UPLOAD_FLOOR, size / SLOWEST_UPLOAD)


def _markup(buttons: Keyboard) -> str | None:
    return json.dumps(inline_keyboard(buttons), ensure_ascii=False) if buttons else None


class FrameworkUser(Protocol):
    """What we read of getMe's answer; aiogram's and PTB's ``User`` both fit."""

    @property
    def id(self) -> int: ...

    @property
    def username(self) -> str | None: ...


_METHODS: dict[type, str] = {
    SendMessage: "sendMessage",
    EditMessage: "editMessageText",
    AnswerCallback: "answerCallbackQuery",
    SendDocument: "sendDocument",
    SendPhoto: "sendPhoto",
}


class BotCalls(ABC):
    """The calls, over the pieces a subclass supplies for its framework:

    - ``_bot``: the framework's bot object (aiogram ``Bot``, PTB ``ExtBot``);
    - ``_get_me``: open the HTTP session and call getMe;
    - ``_call``: a method by name, with JSON-ready parameters, answered with Telegram's JSON;
    - ``_upload``: a file for sendDocument/sendPhoto; ``_command``: its ``BotCommand``;
      ``_chat_scope``: a menu for one chat;
    - ``_errors``/``_unsent_causes``: how its exceptions map to ``ApiError`` kinds.
    """

    _errors: ErrorTable = ()
    # Low-level errors (the ``__cause__`` of a framework network error) that prove the request
    # never reached Telegram: it could not connect. Only then is re-sending a message safe.
    _unsent_causes: tuple[type[BaseException], ...] = ()

    def __init__(self, *, max_connections: int) -> None:
        self._max_connections = max_connections
        self._classify = Classifier(self._errors, self._unsent_causes)
        self.flood_gate = FloodGate()  # every update's 429s, for every update (``bot.flood_gate``)

    # -- the framework's pieces ----------------------------------------------------------------

    @property
    @abstractmethod
    def _bot(self) -> Any:
        """The framework's bot object, on which the Bot API calls are made."""

    @abstractmethod
    async def _get_me(self) -> FrameworkUser:
        """Open the HTTP session and call getMe."""

    @abstractmethod
    async def _call(self, method: str, parameters: dict[str, Any]) -> Any:
        """The Bot API ``method`` with ``parameters`` (strings, numbers, booleans; None left
        out), through the framework's session and errors; the ``result`` as Telegram sent it."""

    @abstractmethod
    def _upload(self, reply: SendDocument | SendPhoto) -> Any:
        """The framework's input file for a document or photo."""

    @abstractmethod
    def _upload_timeout(self, seconds: float) -> dict[str, Any]:
        """The framework's keyword arguments that give one upload ``seconds`` (``upload_time``)."""

    @abstractmethod
    def _command(self, command: BotCommand) -> Any:
        """The framework's ``BotCommand``."""

    @abstractmethod
    def _chat_scope(self, chat_id: int) -> Any:
        """The framework's ``BotCommandScopeChat``: a menu for one chat only."""

    # -- setup calls -----------------------------------------------------------------------------

    async def set_webhook(self, url: str, secret: str, *, drop_pending: bool = False) -> None:
        await self._bot.set_webhook(
            url,
            secret_token=secret,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=drop_pending,
            max_connections=min(100, self._max_connections),
        )

    async def delete_webhook(self, *, drop_pending: bool = False) -> None:
        await self._bot.delete_webhook(drop_pending_updates=drop_pending)

    async def set_commands(
        self, commands: Sequence[BotCommand], language_code: str | None = None, chat_id: int | None = None
    ) -> None:
        scope = None if chat_id is None else self._chat_scope(chat_id)
        await self._bot.set_my_commands([self._command(c) for c in commands], scope=scope, language_code=language_code)

    # -- replies ----------------------------------------------------------------------------------

    def _deliverer(self, update_id: int, webhook_answer: WebhookAnswer | None) -> Deliver:
        """The conversation's replies to one update: retried as ``bot.delivery`` says."""
        return Deliverer(
            self._send, self._classify, update_id, flood_gate=self.flood_gate, webhook_answer=webhook_answer
        )

    async def _send(self, reply: Reply) -> int | None:
        """One reply, one Bot API call, counted by method and result (``bot.metrics``)."""
        method = _METHODS[type(reply)]
        try:
            message_id = await self._send_reply(reply)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = self._classify(exc)
            api_call(method, error.kind if error is not None else "internal")
            raise
        api_call(method, "ok")
        return message_id

    async def _send_reply(self, reply: Reply) -> int | None:
        """One reply, one Bot API call; the sent or edited message's id, if any."""
        match reply:
            case SendMessage():
                sent = await self._call(
                    "sendMessage",
                    {"chat_id": reply.chat_id, "text": reply.text, **_HTML, "reply_markup": _markup(reply.buttons)},
                )
            case EditMessage():
                sent = await self._call(
                    "editMessageText",
                    {
                        "chat_id": reply.chat_id,
                        "message_id": reply.message_id,
                        "text": reply.text,
                        **_HTML,
                        "reply_markup": _markup(reply.buttons),
                    },
                )
            case AnswerCallback():
                await self._call(
                    "answerCallbackQuery",
                    {
                        "callback_query_id": reply.callback_id,
                        "text": reply.text,
                        "show_alert": reply.show_alert or None,
                    },
                )
                return None
            case SendDocument():
                document = await self._bot.send_document(
                    reply.chat_id,
                    self._upload(reply),
                    caption=reply.caption or None,
                    **self._upload_timeout(upload_time(reply)),
                )
                return int(document.message_id)
            case SendPhoto():
                photo = await self._bot.send_photo(
                    reply.chat_id,
                    self._upload(reply),
                    caption=reply.caption or None,
                    **self._upload_timeout(upload_time(reply)),
                )
                return int(photo.message_id)
        message_id = sent.get("message_id") if isinstance(sent, dict) else None  # an inline edit answers True
        return message_id if isinstance(message_id, int) else None

    async def send_once(self, reply: Reply) -> Delivered:
        """One Bot API call, never retried and never waiting, its outcome classified.

        For senders with their own policy (the broadcaster): ``Delivered(ok=False, error=...)``
        with ``"flood"`` (``extra["retry_after"]``: seconds), ``"blocked"`` (403), ``"bad_request"``
        ("message is not modified" on an edit counts as success), ``"unsent"`` (the request
        certainly did not reach Telegram), ``"network"`` (it may have: a timeout, a dropped
        connection, a 5xx), ``"other"``, or ``"internal"`` (not a Telegram error: a bug).
        ``extra["description"]`` is Telegram's description, never the text sent. Logs nothing
        but the exception type of an internal error: the broadcaster logs each kind of trouble
        once. While conversations are being refused (``bot.flood_gate``), nothing is called:
        "flood" with the time left, so the broadcast steps back and never takes a signer's place.
        """
        if (paused := self.flood_gate.delay(None)) > 0:
            return Delivered(
                ok=False, error="flood", extra={"description": "conversations first", "retry_after": paused}
            )
        try:
            message_id = await self._send(reply)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = self._classify(exc)
            outcome = failure(error, reply)
            if error is None:
                log_internal(log, "", reply, exc)
                return Delivered(ok=False, error=outcome)
            if outcome is None:
                return Delivered(message_id=getattr(reply, "message_id", None))
            extra: dict[str, object] = {"description": error.description}
            if error.kind == "flood":
                extra["retry_after"] = error.retry_after
            return Delivered(ok=False, error=outcome, extra=extra)
        return Delivered(message_id=message_id)
