"""The aiogram 3 runtime (the default): aiogram parses, polls and sends; the core decides.

One router registers the same handler for every update type we ask for; it
hands the update's JSON to ``RuntimeBase._dispatch``. FSM is disabled: the
conversation state lives in our own store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

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
    BufferedInputFile,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    TelegramObject,
    Update,
)

from bot.delivery import ApiError
from bot.runtimes.base import ALLOWED_UPDATES, BotCommand, BotInfo, RuntimeBase
from handlers.replies import (
    AnswerCallback,
    EditMessage,
    Keyboard,
    Reply,
    SendDocument,
    SendMessage,
    SendPhoto,
)

log = logging.getLogger("bot.runtime.aiogram")

# Update types routed to the core (plus my_chat_member, which _dispatch logs and drops).
_ROUTED = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "callback_query",
    "my_chat_member",
)


def keyboard(buttons: Keyboard) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=button.text,
                    callback_data=button.callback_data,
                    url=button.url,
                    switch_inline_query=button.switch_inline_query,
                )
                for button in row
            ]
            for row in buttons
        ]
    )


class AiogramRuntime(RuntimeBase):
    name = "aiogram"

    def __init__(self, *, token: str, api_url: str, max_concurrent_updates: int) -> None:
        super().__init__()
        self._limit = max_concurrent_updates
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_url), limit=max(100, 2 * max_concurrent_updates))
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

    async def start(self) -> BotInfo:
        me = await self.bot.get_me()
        self._username = me.username
        return BotInfo(id=me.id, username=me.username or "")

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

    async def process_update(self, data: dict[str, Any]) -> None:
        # feed_raw_update validates with the framework and awaits the handler to the end.
        await self._failing_loudly(self.dispatcher.feed_raw_update(self.bot, data))

    async def set_webhook(self, url: str, secret: str, *, drop_pending: bool = False) -> None:
        await self.bot.set_webhook(
            url,
            secret_token=secret,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=drop_pending,
            max_connections=min(100, self._limit),
        )

    async def delete_webhook(self, *, drop_pending: bool = False) -> None:
        await self.bot.delete_webhook(drop_pending_updates=drop_pending)

    async def set_commands(self, commands: Sequence[BotCommand], language_code: str | None = None) -> None:
        await self.bot.set_my_commands(
            [AiogramBotCommand(command=c.command, description=c.description) for c in commands],
            language_code=language_code,
        )

    async def close(self) -> None:
        await self.bot.session.close()

    async def _send(self, reply: Reply) -> int | None:
        bot = self.bot
        sent: Message | bool
        match reply:
            case SendMessage():
                sent = await bot.send_message(reply.chat_id, reply.text, reply_markup=keyboard(reply.buttons))
            case EditMessage():
                sent = await bot.edit_message_text(
                    text=reply.text,
                    chat_id=reply.chat_id,
                    message_id=reply.message_id,
                    reply_markup=keyboard(reply.buttons),
                )
            case AnswerCallback():
                await bot.answer_callback_query(reply.callback_id, text=reply.text, show_alert=reply.show_alert)
                return None
            case SendDocument():
                document = FSInputFile(reply.path, filename=reply.filename)
                sent = await bot.send_document(reply.chat_id, document, caption=reply.caption or None)
            case SendPhoto():
                photo = BufferedInputFile(reply.photo, filename=reply.filename)
                sent = await bot.send_photo(reply.chat_id, photo, caption=reply.caption or None)
        return sent.message_id if isinstance(sent, Message) else None

    def _classify(self, exc: Exception) -> ApiError | None:
        if isinstance(exc, TelegramRetryAfter):
            return ApiError("flood", exc.message, float(exc.retry_after))
        if isinstance(exc, TelegramForbiddenError):
            return ApiError("forbidden", exc.message)
        if isinstance(exc, TelegramBadRequest):
            return ApiError("bad_request", exc.message)
        if isinstance(exc, TelegramNetworkError | TelegramServerError | asyncio.TimeoutError):
            return ApiError("network", getattr(exc, "message", type(exc).__name__))
        if isinstance(exc, TelegramAPIError):
            return ApiError("other", exc.message)
        return None
