"""The python-telegram-bot 22 runtime (the alternative, ``BOT_RUNTIME=ptb``).

One ``TypeHandler(Update, ...)`` hands every update's JSON to
``RuntimeBase._dispatch``. The Application is initialised, started and stopped
by hand instead of ``run_polling``/``run_webhook``, which would take over the
event loop and the signals; our webhook server is shared with aiogram.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Sequence
from typing import Any

# Opt in to PTB's future timedelta durations (RetryAfter.retry_after): without it PTB
# warns about the coming change on every flood-control error. We accept both forms.
os.environ.setdefault("PTB_TIMEDELTA", "true")

from telegram import BotCommand as PtbBotCommand
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, Defaults, TypeHandler

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

log = logging.getLogger("bot.runtime.ptb")

PtbApp = Application[Any, Any, Any, Any, Any, Any]


def keyboard(buttons: Keyboard) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    button.text,
                    url=button.url,
                    callback_data=button.callback_data,
                    switch_inline_query=button.switch_inline_query,
                )
                for button in row
            ]
            for row in buttons
        ]
    )


def _retry_after_seconds(exc: RetryAfter) -> float:
    value: object = exc.retry_after
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value) if isinstance(value, int | float) else 1.0


class PtbRuntime(RuntimeBase):
    name = "ptb"

    def __init__(self, *, token: str, api_url: str, max_concurrent_updates: int) -> None:
        super().__init__()
        self._limit = max_concurrent_updates
        self.app: PtbApp = (
            ApplicationBuilder()
            .token(token)
            .base_url(f"{api_url}/bot")
            .base_file_url(f"{api_url}/file/bot")
            .concurrent_updates(max_concurrent_updates)
            .connection_pool_size(max(16, 2 * max_concurrent_updates))
            .defaults(Defaults(parse_mode="HTML", link_preview_options=LinkPreviewOptions(is_disabled=True)))
            .build()
        )
        self.app.add_handler(TypeHandler(Update, self._on_update))
        self._initialized = False

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._dispatch(update.to_dict())

    async def start(self) -> BotInfo:
        await self.app.initialize()  # calls getMe
        self._initialized = True
        me = self.app.bot.bot
        self._username = me.username
        return BotInfo(id=me.id, username=me.username or "")

    async def run_polling(self, stop: asyncio.Event) -> None:
        updater = self.app.updater
        if updater is None:  # pragma: no cover - we never build without one
            raise RuntimeError("python-telegram-bot Application has no updater")
        await self.app.start()
        try:
            await updater.start_polling(allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False)
            await stop.wait()
            await updater.stop()
        finally:
            await self.app.stop()  # handles updates already fetched, then returns

    async def process_update(self, data: dict[str, Any]) -> None:
        # Straight into process_update (not the queue) so the HTTP answer waits for the handling.
        await self._failing_loudly(self.app.process_update(Update.de_json(data, self.app.bot)))

    async def set_webhook(self, url: str, secret: str, *, drop_pending: bool = False) -> None:
        await self.app.bot.set_webhook(
            url,
            secret_token=secret,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=drop_pending,
            max_connections=min(100, self._limit),
        )

    async def delete_webhook(self, *, drop_pending: bool = False) -> None:
        await self.app.bot.delete_webhook(drop_pending_updates=drop_pending)

    async def set_commands(self, commands: Sequence[BotCommand], language_code: str | None = None) -> None:
        await self.app.bot.set_my_commands(
            [PtbBotCommand(c.command, c.description) for c in commands], language_code=language_code
        )

    async def close(self) -> None:
        if self._initialized:
            self._initialized = False
            if self.app.running:  # polling was interrupted before it could stop the app
                await self.app.stop()
            await self.app.shutdown()

    async def _send(self, reply: Reply) -> int | None:
        bot = self.app.bot
        sent: Message | bool
        match reply:
            case SendMessage():
                sent = await bot.send_message(reply.chat_id, reply.text, reply_markup=keyboard(reply.buttons))
            case EditMessage():
                sent = await bot.edit_message_text(
                    reply.text,
                    chat_id=reply.chat_id,
                    message_id=reply.message_id,
                    reply_markup=keyboard(reply.buttons),
                )
            case AnswerCallback():
                await bot.answer_callback_query(reply.callback_id, text=reply.text, show_alert=reply.show_alert)
                return None
            case SendDocument():
                with reply.path.open("rb") as document:
                    sent = await bot.send_document(
                        reply.chat_id, document, filename=reply.filename, caption=reply.caption or None
                    )
            case SendPhoto():
                sent = await bot.send_photo(
                    reply.chat_id, reply.photo, filename=reply.filename, caption=reply.caption or None
                )
        return sent.message_id if isinstance(sent, Message) else None

    def _classify(self, exc: Exception) -> ApiError | None:
        if isinstance(exc, RetryAfter):
            return ApiError("flood", exc.message, _retry_after_seconds(exc))
        if isinstance(exc, Forbidden):
            return ApiError("forbidden", exc.message)
        if isinstance(exc, BadRequest):  # before NetworkError: BadRequest subclasses it
            return ApiError("bad_request", exc.message)
        if isinstance(exc, NetworkError):  # includes TimedOut and 5xx answers
            return ApiError("network", exc.message)
        if isinstance(exc, TelegramError):
            return ApiError("other", exc.message)
        return None
