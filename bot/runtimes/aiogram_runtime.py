"""The aiogram 3 runtime (the default): aiogram sends; the core decides.

No update meets aiogram's dispatcher: polling is our own loop (``bot.runtimes.polling``)
over ``RawGetUpdates``, a getUpdates that returns the updates' JSON instead of aiogram's
``Update`` objects, and a webhook update's JSON goes to ``RuntimeBase.process_update``.
The Bot API calls, the reply dispatch, the polling loop and the error policy are shared
with PTB in ``RuntimeBase``.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import aiohttp
from aiogram import Bot, methods
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response
from aiogram.types import BotCommand as AiogramBotCommand
from aiogram.types import (
    BotCommandScopeChat,
    BufferedInputFile,
    FSInputFile,
    InputFile,
    LinkPreviewOptions,
    User,
)

from bot.call_policy import ErrorTable
from bot.runtimes.base import RuntimeBase
from bot.runtimes.contract import ALLOWED_UPDATES, BotCommand
from bot.runtimes.polling import READ_MARGIN
from handlers.replies import SendDocument, SendPhoto


class RawGetUpdates(TelegramMethod[list[dict[str, Any]]]):
    """getUpdates answering the updates' JSON: the translation reads it directly, so
    building aiogram's ``Update`` objects (and dumping them back) would be wasted work."""

    __returning__ = list[dict[str, Any]]
    __api_method__ = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


class _ByName(TelegramMethod[dict[str, Any] | bool]):
    """A Bot API method sent with the JSON-ready parameters it is given (``extra="allow"``),
    its result kept as Telegram's JSON (``BotCalls._call``)."""

    __returning__ = dict[str, Any] | bool
    __api_method__ = ""


class SendMessageByName(_ByName):
    __api_method__ = "sendMessage"


class EditMessageTextByName(_ByName):
    __api_method__ = "editMessageText"


class AnswerCallbackQueryByName(_ByName):
    __api_method__ = "answerCallbackQuery"


_BY_NAME: dict[str, type[_ByName]] = {
    method.__api_method__: method for method in (SendMessageByName, EditMessageTextByName, AnswerCallbackQueryByName)
}


# aiogram reads every answer through ``Response[the method's result type]``, a pydantic generic
# class that pydantic caches only weakly: once the garbage collector has run, the next call
# builds the class again (its schema and validator, about 4 ms here; found with
# ``bench.signing --profile``: 7 % of the bot's CPU). Holding the classes of the calls made on
# every update keeps them built for the life of the process.
_RESPONSES_KEPT = tuple(
    Response[method.__returning__]  # type: ignore[name-defined]  # a type known only at run time
    for method in (
        _ByName,
        methods.SendDocument,
        methods.SendPhoto,
        RawGetUpdates,
    )
)


class AiogramRuntime(RuntimeBase):
    name = "aiogram"
    _errors: ErrorTable = (
        (TelegramRetryAfter, "flood"),
        (TelegramForbiddenError, "forbidden"),
        (TelegramBadRequest, "bad_request"),
        (TelegramNetworkError, "network"),  # timeouts and connection errors
        (TelegramServerError, "network"),  # 5xx
        (asyncio.TimeoutError, "network"),
        (TelegramAPIError, "other"),
    )
    _unsent_causes = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
    _conflicts = (TelegramConflictError,)

    def __init__(
        self, *, token: str, api_url: str, max_concurrent_updates: int, request_timeout: float | None = None
    ) -> None:
        super().__init__(max_concurrent_updates=max_concurrent_updates)
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_url), limit=max(100, 2 * max_concurrent_updates))
        if request_timeout is not None:
            session.timeout = request_timeout
        self.bot = Bot(
            token,
            session=session,
            # link_preview=..., not link_preview_is_disabled=True: the latter fills the
            # deprecated disable_web_page_preview parameter, which the current Bot API lacks.
            default=DefaultBotProperties(parse_mode="HTML", link_preview=LinkPreviewOptions(is_disabled=True)),
        )

    async def _get_updates(self, *, offset: int | None, limit: int, wait: int) -> list[dict[str, Any]]:
        method = RawGetUpdates(offset=offset, limit=limit, timeout=wait, allowed_updates=ALLOWED_UPDATES)
        return await self.bot(method, request_timeout=int(wait + READ_MARGIN))

    async def close(self) -> None:
        await self.bot.session.close()

    # -- the framework's pieces for RuntimeBase ------------------------------------------------

    @property
    def _bot(self) -> Bot:
        return self.bot

    async def _get_me(self) -> User:
        return await self.bot.get_me()

    async def _call(self, method: str, parameters: dict[str, Any]) -> Any:
        return await self.bot(_BY_NAME[method](**{k: v for k, v in parameters.items() if v is not None}))

    def _upload(self, reply: SendDocument | SendPhoto) -> InputFile:
        if isinstance(reply, SendDocument):
            return FSInputFile(reply.path, filename=reply.filename)
        return BufferedInputFile(reply.photo, filename=reply.filename)

    def _upload_timeout(self, seconds: float) -> dict[str, Any]:
        return {"request_timeout": math.ceil(seconds)}  # the whole request (aiohttp's total)

    def _command(self, command: BotCommand) -> AiogramBotCommand:
        return AiogramBotCommand(command=command.command, description=command.description)

    def _chat_scope(self, chat_id: int) -> BotCommandScopeChat:
        return BotCommandScopeChat(chat_id=chat_id)
