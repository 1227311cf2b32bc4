"""aiogram 3 and python-telegram-bot 22 talk to the emulator and parse its answers.

This is what the runtimes do: if a framework cannot parse a result object, or
sends a request the emulator refuses, the runtimes would break against it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot as AiogramBot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram import Bot as PtbBot
from telegram import InlineKeyboardButton as PtbButton
from telegram import InlineKeyboardMarkup as PtbMarkup
from telegram import Update as PtbUpdate
from telegram.error import BadRequest as PtbBadRequest
from telegram.error import RetryAfter

from emulator import Emulator


@pytest.fixture
async def aiogram_bot(emulator: Emulator) -> AsyncIterator[AiogramBot]:
    assert emulator.base_url is not None
    session = AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url))
    bot = AiogramBot(emulator.token, session=session)
    yield bot
    await bot.session.close()


@pytest.fixture
async def ptb_bot(emulator: Emulator) -> AsyncIterator[PtbBot]:
    bot = PtbBot(emulator.token, base_url=f"{emulator.base_url}/bot")
    await bot.initialize()
    yield bot
    await bot.shutdown()


async def press_and_answer_aiogram(bot: AiogramBot, emulator: Emulator, chat_id: int) -> None:
    """Press a button as the user while the bot fetches the query and answers it."""
    user = emulator.user(chat_id)
    pressing = asyncio.create_task(user.press("Sign"))
    updates: list[Update] = []
    while not updates:
        updates = [u for u in await bot.get_updates(offset=-1, timeout=1) if u.callback_query is not None]
    query = updates[-1].callback_query
    assert query is not None
    assert query.data == "sign"
    assert query.message is not None
    assert await bot.answer_callback_query(query.id, text="Thanks", show_alert=True) is True
    answer = await pressing
    assert (answer.text, answer.show_alert) == ("Thanks", True)


async def test_aiogram_bot_against_the_emulator(aiogram_bot: AiogramBot, emulator: Emulator) -> None:
    me = await aiogram_bot.get_me()
    assert (me.id, me.username, me.first_name) == (100000, "undersign_bot", "undersign")
    user = emulator.user(1001, first_name="Ada", language_code="en")
    await user.send("/start ref_abc")
    updates = await aiogram_bot.get_updates(timeout=1)
    assert updates[0].message is not None
    assert updates[0].message.text == "/start ref_abc"
    assert updates[0].message.from_user is not None
    assert updates[0].message.from_user.language_code == "en"
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="Sign", callback_data="sign")],
            [InlineKeyboardButton(text="Read", url="https://www.amnesty.org/")],
        ]
    )
    sent = await aiogram_bot.send_message(1001, "<b>Hello</b> Ada", parse_mode="HTML", reply_markup=markup)
    assert sent.text == "Hello Ada"
    assert sent.chat.id == 1001
    assert sent.reply_markup is not None
    assert sent.html_text == "<b>Hello</b> Ada"
    await press_and_answer_aiogram(aiogram_bot, emulator, 1001)
    edited = await aiogram_bot.edit_message_text(
        "Signed", chat_id=1001, message_id=sent.message_id, reply_markup=markup
    )
    assert not isinstance(edited, bool)
    assert edited.text == "Signed"
    assert edited.edit_date is not None
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await aiogram_bot.edit_message_text("Signed", chat_id=1001, message_id=sent.message_id, reply_markup=markup)
    document = await aiogram_bot.send_document(1001, BufferedInputFile(b"a,b\n", filename="export.csv"), caption="x")
    assert document.document is not None
    assert document.document.file_name == "export.csv"
    assert emulator.user(1001).messages[-1].document is not None
    await aiogram_bot.send_chat_action(1001, "typing")
    await aiogram_bot.delete_message(1001, document.message_id)
    emulator.fail_next("sendMessage", status=429, retry_after=2)
    with pytest.raises(TelegramRetryAfter) as retry:
        await aiogram_bot.send_message(1001, "again")
    assert retry.value.retry_after == 2
    assert await aiogram_bot.set_webhook("http://127.0.0.1:9/hook", secret_token="abc") is True
    info = await aiogram_bot.get_webhook_info()
    assert info.url == "http://127.0.0.1:9/hook"
    assert await aiogram_bot.delete_webhook(drop_pending_updates=True) is True
    assert emulator.rejected == []


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_ptb_bot_against_the_emulator(ptb_bot: PtbBot, emulator: Emulator) -> None:
    assert ptb_bot.username == "undersign_bot"
    user = emulator.user(1002, first_name="Bo", language_code="de")
    await user.send("/start")
    updates = await ptb_bot.get_updates(timeout=1)
    assert updates[0].message is not None
    assert updates[0].message.text == "/start"
    markup = PtbMarkup([[PtbButton("Sign", callback_data="sign")], [PtbButton("Read", url="https://www.amnesty.org/")]])
    sent = await ptb_bot.send_message(1002, "<i>Hallo</i>", parse_mode="HTML", reply_markup=markup)
    assert sent.text == "Hallo"
    assert sent.text_html == "<i>Hallo</i>"
    assert sent.reply_markup is not None
    pressing = asyncio.create_task(user.press("Sign"))
    queries: list[PtbUpdate] = []
    while not queries:
        offset = updates[-1].update_id + 1
        queries = [u for u in await ptb_bot.get_updates(offset=offset, timeout=1) if u.callback_query]
    query = queries[-1].callback_query
    assert query is not None
    assert await ptb_bot.answer_callback_query(query.id, text="Danke") is True
    assert (await pressing).text == "Danke"
    edited = await ptb_bot.edit_message_text("Unterschrieben", chat_id=1002, message_id=sent.message_id)
    assert not isinstance(edited, bool)
    assert edited.text == "Unterschrieben"
    with pytest.raises(PtbBadRequest, match="not modified"):
        await ptb_bot.edit_message_text("Unterschrieben", chat_id=1002, message_id=sent.message_id)
    document = await ptb_bot.send_document(1002, b"a,b\n", filename="export.csv")
    assert document.document is not None
    assert emulator.user(1002).messages[-1].document is not None
    assert emulator.user(1002).messages[-1].document.data == b"a,b\n"  # type: ignore[union-attr]
    await ptb_bot.set_my_commands([("start", "Start"), ("language", "Language")])
    assert [c.command for c in await ptb_bot.get_my_commands()] == ["start", "language"]
    emulator.fail_next("sendMessage", status=429, retry_after=1)
    with pytest.raises(RetryAfter):
        await ptb_bot.send_message(1002, "again")
    assert emulator.rejected == []
