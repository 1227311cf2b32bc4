"""The python-telegram-bot 22 runtime (the alternative, ``BOT_RUNTIME=ptb``).

PTB's Application only holds the bot and its HTTP connections (on aiohttp,
``bot.runtimes.ptb_aiohttp``; initialised and shut down by hand; it has no updater and
never runs): no update meets PTB's objects.
Polling is our own loop (``bot.runtimes.polling``); its getUpdates goes through PTB's
request layer (``BaseRequest.post``, so PTB's error classes still say what failed) and
answers the updates' JSON; a webhook update's JSON goes to
``RuntimeBase.process_update``. The Bot API calls, the reply dispatch, the polling loop
and the error policy are shared with aiogram in ``RuntimeBase``.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any
from urllib.parse import urlencode

import aiohttp

# Opt in to PTB's future timedelta durations (RetryAfter.retry_after): without it PTB
# warns about the coming change on every flood-control error. We accept both forms.
os.environ.setdefault("PTB_TIMEDELTA", "true")

from telegram import BotCommand as PtbBotCommand
from telegram import BotCommandScopeChat, InputFile, LinkPreviewOptions, User
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder, Defaults, ExtBot
from telegram.warnings import PTBUserWarning

from bot.call_policy import ErrorTable
from bot.runtimes.base import RuntimeBase
from bot.runtimes.bot_calls import UPLOAD_FLOOR
from bot.runtimes.contract import ALLOWED_UPDATES, BotCommand
from bot.runtimes.polling import READ_MARGIN
from bot.runtimes.ptb_aiohttp import AiohttpRequest
from handlers.replies import SendDocument, SendPhoto

PtbApp = Application[Any, Any, Any, Any, Any, Any]

# ``BotCalls._call`` sends the calls every update makes by name (``Bot.do_api_request``), on
# purpose: the typed methods build a ``Message`` from each answer, which nothing reads. PTB
# warns whenever a typed method exists; here that is known, and said once, here.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.", category=PTBUserWarning)


POOL_WAIT = 20.0  # seconds a request may wait for a free connection (ptb's default: 1)


class PtbRuntime(RuntimeBase):
    name = "ptb"
    _errors: ErrorTable = (
        (RetryAfter, "flood"),
        (Forbidden, "forbidden"),
        (BadRequest, "bad_request"),  # before NetworkError: BadRequest subclasses it
        (NetworkError, "network"),  # includes TimedOut and 5xx answers
        (TelegramError, "other"),
    )
    # The request could not connect, or waited in vain for a pooled connection (bot.runtimes.ptb_aiohttp).
    _unsent_causes = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
    _conflicts = (Conflict,)

    def __init__(
        self, *, token: str, api_url: str, max_concurrent_updates: int, request_timeout: float | None = None
    ) -> None:
        super().__init__(max_concurrent_updates=max_concurrent_updates)
        self._updates_url = f"{api_url}/bot{token}/getUpdates"
        # The long poll, and the final confirmation while the abandoned poll's connection is
        # still being closed (with one, that call waited for it and timed out); read timeout per call.
        self._updates_request = AiohttpRequest(connections=2)
        builder = (
            ApplicationBuilder()
            .token(token)
            .updater(None)  # we poll ourselves (bot.runtimes.polling)
            .get_updates_request(self._updates_request)  # so the Application opens and closes it
            .request(
                AiohttpRequest(
                    connections=max(100, 2 * max_concurrent_updates),  # as aiogram's session
                    pool_timeout=POOL_WAIT,
                    **({} if request_timeout is None else {"read_timeout": request_timeout}),
                )
            )
            .base_url(f"{api_url}/bot")
            .base_file_url(f"{api_url}/file/bot")
            .defaults(Defaults(parse_mode="HTML", link_preview_options=LinkPreviewOptions(is_disabled=True)))
        )
        self.app: PtbApp = builder.build()
        self._initialized = False

    async def _get_updates(self, *, offset: int | None, limit: int, wait: int) -> list[dict[str, Any]]:
        # The parameters in the query string, which the Bot API reads like a form body: PTB's
        # public request layer then parses the answer's JSON and raises PTB's errors, and
        # ``Bot.get_updates`` (which builds ``Update`` objects) is not needed.
        query = {"limit": limit, "timeout": wait, "allowed_updates": json.dumps(ALLOWED_UPDATES)}
        if offset is not None:
            query["offset"] = offset
        result = await self._updates_request.post(
            f"{self._updates_url}?{urlencode(query)}", read_timeout=wait + READ_MARGIN
        )
        if not isinstance(result, list):
            raise TelegramError(f"getUpdates answered {type(result).__name__}, not a list")
        return result

    async def close(self) -> None:
        if self._initialized:
            self._initialized = False
            await self.app.shutdown()
        else:  # calls made before getMe (or getMe failed) opened the sessions all the same
            await self.app.bot.request.shutdown()
            await self._updates_request.shutdown()

    # -- the framework's pieces for RuntimeBase ------------------------------------------------

    @property
    def _bot(self) -> ExtBot[Any]:
        bot: ExtBot[Any] = self.app.bot
        return bot

    async def _get_me(self) -> User:
        await self.app.initialize()  # calls getMe
        self._initialized = True
        me: User = self.app.bot.bot
        return me

    async def _call(self, method: str, parameters: dict[str, Any]) -> Any:
        return await self._bot.do_api_request(method, api_kwargs=parameters)  # None values are left out

    def _upload(self, reply: SendDocument | SendPhoto) -> InputFile:
        content = reply.path.read_bytes() if isinstance(reply, SendDocument) else reply.photo
        return InputFile(content, filename=reply.filename)

    def _upload_timeout(self, seconds: float) -> dict[str, Any]:
        # Writing the body, then Telegram's answer (``ptb_aiohttp``: their sum bounds the request).
        return {"write_timeout": seconds, "read_timeout": UPLOAD_FLOOR}

    def _command(self, command: BotCommand) -> PtbBotCommand:
        return PtbBotCommand(command.command, command.description)

    def _chat_scope(self, chat_id: int) -> BotCommandScopeChat:
        return BotCommandScopeChat(chat_id)
