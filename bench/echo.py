"""The baseline: the smallest aiogram bot that answers every message, with bounded concurrency.

    ECHO_API_URL=http://127.0.0.1:PORT ECHO_TOKEN=123:ABC ECHO_CONCURRENCY=64 python -m bench.echo

It polls the emulator and answers each text with one ``sendMessage``, handling
at most ``ECHO_CONCURRENCY`` updates at a time (aiogram's own task limit, as the
bot sets it to ``MAX_CONCURRENT_UPDATES``). What it reaches on the same emulator,
machine and people is the ceiling a framework bot can reach here: the signing
benchmark reports the real bot's updates/s as a share of it. SIGTERM stops it.
"""

from __future__ import annotations

import asyncio
import os

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message


async def echo(message: Message) -> None:
    await message.answer(message.text or "?")


async def serve(api_url: str, token: str, concurrency: int) -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url), limit=max(100, 2 * concurrency))
    bot = Bot(token, session=session)
    dispatcher = Dispatcher()
    dispatcher.message.register(echo)
    try:
        await dispatcher.start_polling(bot, handle_signals=True, tasks_concurrency_limit=concurrency)
    finally:
        await bot.session.close()


def main() -> None:
    asyncio.run(serve(os.environ["ECHO_API_URL"], os.environ["ECHO_TOKEN"], int(os.environ["ECHO_CONCURRENCY"])))


if __name__ == "__main__":
    main()
