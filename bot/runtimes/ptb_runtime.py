"""The python-telegram-bot 22 runtime (the alternative, ``BOT_RUNTIME=ptb``).

When polling, one ``TypeHandler(Update, ...)`` hands every update's JSON to
``RuntimeBase._dispatch``. The Application is initialised, started and stopped
by hand instead of ``run_polling``/``run_webhook``, which would take over the
event loop and the signals; our webhook server is shared with aiogram, and a
webhook update never meets PTB's Application: ``RuntimeBase.process_update``
translates its JSON directly. The Bot API calls, the reply dispatch and the
error policy are shared with aiogram in ``RuntimeBase``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx

# Opt in to PTB's future timedelta durations (RetryAfter.retry_after): without it PTB
# warns about the coming change on every flood-control error. We accept both forms.
os.environ.setdefault("PTB_TIMEDELTA", "true")

from telegram import BotCommand as PtbBotCommand
from telegram import (
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Update,
    User,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, Defaults, ExtBot, TypeHandler

from bot.call_policy import ErrorTable
from bot.runtimes.base import RuntimeBase
from bot.runtimes.contract import ALLOWED_UPDATES, BotCommand
from handlers.replies import Button, SendDocument, SendPhoto

PtbApp = Application[Any, Any, Any, Any, Any, Any]


class PtbRuntime(RuntimeBase):
    name = "ptb"
    _errors: ErrorTable = (
        (RetryAfter, "flood"),
        (Forbidden, "forbidden"),
        (BadRequest, "bad_request"),  # before NetworkError: BadRequest subclasses it
        (NetworkError, "network"),  # includes TimedOut and 5xx answers
        (TelegramError, "other"),
    )
    _unsent_causes = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

    def __init__(
        self, *, token: str, api_url: str, max_concurrent_updates: int, request_timeout: float | None = None
    ) -> None:
        super().__init__(max_concurrent_updates=max_concurrent_updates)
        builder = (
            ApplicationBuilder()
            .token(token)
            .base_url(f"{api_url}/bot")
            .base_file_url(f"{api_url}/file/bot")
            .concurrent_updates(max_concurrent_updates)
            .connection_pool_size(max(16, 2 * max_concurrent_updates))
            .defaults(Defaults(parse_mode="HTML", link_preview_options=LinkPreviewOptions(is_disabled=True)))
        )
        if request_timeout is not None:
            builder = builder.read_timeout(request_timeout).write_timeout(request_timeout)
        self.app: PtbApp = builder.build()
        self.app.add_handler(TypeHandler(Update, self._on_update))
        self._initialized = False

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._dispatch(update.to_dict())

    async def run_polling(self, stop: asyncio.Event) -> None:
        updater = self.app.updater
        if updater is None:  # pragma: no cover - we never build without one
            raise RuntimeError("python-telegram-bot Application has no updater")
        await self.app.start()
        try:
            await updater.start_polling(allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False)
            await stop.wait()
        finally:
            # Also when cancelled (the shutdown deadline passed): ``close`` finishes what is left.
            if updater.running:
                await updater.stop()
            await self.app.stop()  # handles updates already fetched, then returns

    async def close(self) -> None:
        if self._initialized:
            self._initialized = False
            # Polling was interrupted (cancelled at the shutdown deadline) before it stopped these.
            if self.app.updater is not None and self.app.updater.running:
                await self.app.updater.stop()
            if self.app.running:
                await self.app.stop()
            await self.app.shutdown()

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

    def _markup(self, rows: list[list[Any]]) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(rows)

    def _button(self, button: Button) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            button.text,
            url=button.url,
            callback_data=button.callback_data,
            switch_inline_query=button.switch_inline_query,
        )

    def _upload(self, reply: SendDocument | SendPhoto) -> InputFile:
        content = reply.path.read_bytes() if isinstance(reply, SendDocument) else reply.photo
        return InputFile(content, filename=reply.filename)

    def _command(self, command: BotCommand) -> PtbBotCommand:
        return PtbBotCommand(command.command, command.description)

    def _chat_scope(self, chat_id: int) -> BotCommandScopeChat:
        return BotCommandScopeChat(chat_id)
