"""The aiogram 3 runtime (the default): aiogram polls and sends; the core decides.

When polling, one router registers the same handler for every update type we ask
for; it hands the update's JSON to ``RuntimeBase._dispatch``. FSM is disabled: the
conversation state lives in our own store. A webhook update never meets aiogram's
dispatcher: ``RuntimeBase.process_update`` translates its JSON directly. The Bot
API calls, the reply dispatch and the error policy are shared with PTB in
``RuntimeBase``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BotCommand as AiogramBotCommand
from aiogram.types import (
    BotCommandScopeChat,
    BufferedInputFile,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    TelegramObject,
    Update,
    User,
)

from bot.call_policy import ErrorTable
from bot.runtimes.base import RuntimeBase
from bot.runtimes.contract import ALLOWED_UPDATES, BotCommand
from handlers.replies import Button, SendDocument, SendPhoto

# Update types routed to the core (plus my_chat_member, which _dispatch logs and drops).
_ROUTED = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "callback_query",
    "my_chat_member",
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
        self.dispatcher = Dispatcher(disable_fsm=True)
        router = Router(name="undersign")
        for update_type in _ROUTED:
            router.observers[update_type].register(self._on_event)
        self.dispatcher.include_router(router)

    async def _on_event(self, event: TelegramObject, event_update: Update) -> None:
        await self._dispatch(event_update.model_dump(mode="json", by_alias=True, exclude_none=True))

    async def run_polling(self, stop: asyncio.Event) -> None:
        polling = asyncio.create_task(
            self.dispatcher.start_polling(
                self.bot,
                allowed_updates=ALLOWED_UPDATES,
                handle_signals=False,
                close_bot_session=False,
                tasks_concurrency_limit=self._limit,
            )
        )
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not polling.done():
            await self.dispatcher.stop_polling()
        stopping.cancel()
        await polling  # re-raises if polling itself failed

    async def close(self) -> None:
        await self.bot.session.close()

    # -- the framework's pieces for RuntimeBase ------------------------------------------------

    @property
    def _bot(self) -> Bot:
        return self.bot

    async def _get_me(self) -> User:
        return await self.bot.get_me()

    def _markup(self, rows: list[list[Any]]) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(inline_keyboard=rows)

    def _button(self, button: Button) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=button.text,
            callback_data=button.callback_data,
            url=button.url,
            switch_inline_query=button.switch_inline_query,
        )

    def _upload(self, reply: SendDocument | SendPhoto) -> InputFile:
        if isinstance(reply, SendDocument):
            return FSInputFile(reply.path, filename=reply.filename)
        return BufferedInputFile(reply.photo, filename=reply.filename)

    def _command(self, command: BotCommand) -> AiogramBotCommand:
        return AiogramBotCommand(command=command.command, description=command.description)

    def _chat_scope(self, chat_id: int) -> BotCommandScopeChat:
        return BotCommandScopeChat(chat_id=chat_id)
