"""The signing conversation end to end: the real bot process objects, real HTTP, the emulator.

Every combination of runtime (aiogram, python-telegram-bot) and mode (polling, webhook)
runs the same walk; the PostgreSQL + Redis variant runs it on the production backends.
After every walk the emulator must have refused nothing the bot sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from bot.translations.preview import plain
from emulator import Emulator
from emulator.objects import BotMessage
from emulator.users import SimulatedUser
from handlers.i18n import I18n
from petition.campaign import load_campaign
from petition.countries import country_name, likely_countries
from storage import signatures
from storage.db import Database
from tests.test_conversation import TELEGRAM_CODES


async def until(user: SimulatedUser, predicate: Callable[[BotMessage], bool], within: float = 30) -> BotMessage:
    """The next bot message (or edit) in this chat for which ``predicate`` holds."""
    async with asyncio.timeout(within):
        while True:
            message = await user.wait_message(timeout=within)
            if predicate(message):
                return message


def has(text: str) -> Callable[[BotMessage], bool]:
    return lambda message: text in message.text


def offers_to_sign(message: BotMessage) -> bool:
    """The letter's last message: it carries the button to sign (whatever the count says)."""
    return any(button.callback_data == "sign" for row in message.buttons for button in row)


async def read_and_agree(user: SimulatedUser, start: str = "/start") -> None:
    """From /start to the name question: the letter itself, choose to sign, agree."""
    await user.send(start)
    letter = await until(user, offers_to_sign)  # "1 person has signed" when another signer was quicker
    assert "mass internment" in letter.text
    await user.press("✍️ Sign the letter")
    await until(user, has("Before you sign"))
    await user.press("✅ I agree and want to sign")
    await until(user, has("What name should we sign with?"))


async def choose_form(user: SimulatedUser, label: str) -> None:
    """At the question how the addressees should see the name (after signing, renaming):
    press the button ``label`` ("Full name: Ada Lovelace"), shown exactly as the name is."""
    picker = await until(user, has("addressees see your name"))
    assert label in [button.text for row in picker.buttons for button in row], picker.buttons
    await user.press(label)


def labels(message: BotMessage) -> list[str]:
    return [button.text for row in message.buttons for button in row]


async def review(user: SimulatedUser, shown: str) -> BotMessage:
    """The review before signing, offering to sign as ``shown`` (exactly as the name is, never
    HTML-escaped): the choice of the name's form is what signs."""
    checked = await until(user, has("Please check before you sign"))
    assert f"✅ Sign as {shown}" in labels(checked), checked.buttons
    return checked


async def up_to_review(user: SimulatedUser, name: str, *, country: str = "France", start: str = "/start") -> BotMessage:
    """From /start to the review: agree, type ``name``, type ``country``; the review."""
    await read_and_agree(user, start)
    await user.send(name)
    await until(user, has("Which country"))
    await user.send(country)
    return await review(user, name)


async def up_to_review_with_news(user: SimulatedUser) -> None:
    """From /start to the review, asking for news on the way; the Telegram first name offered."""
    await user.send("/start")
    await until(user, offers_to_sign)
    await user.press("✍️ Sign the letter")
    await until(user, has("Before you sign"))
    await user.press("☐ Keep me informed about this campaign")
    await user.press("✅ I agree and want to sign")
    await until(user, has("What name should we sign with?"))
    await user.press(f"Sign as {user.first_name}")
    await until(user, has("Which country"))
    await user.press("Canada")
    checked = await review(user, user.first_name)
    assert "You will get news about this campaign." in checked.text


async def sign_as(user: SimulatedUser, shown: str) -> BotMessage:
    """At the review (already shown), press "✅ Sign as ``shown``"; the thanks that follows."""
    await user.press(f"✅ Sign as {shown}")
    return await until(user, has("Thank you"))


async def walk_to_signature(user: SimulatedUser, *, country_query: str) -> BotMessage:
    await read_and_agree(user, "/start share_link_1")
    await user.send("Ada <Lovelace> & Co")
    await until(user, has("Which country"))
    await user.send(country_query)
    checked = await review(user, "Ada <Lovelace> & Co")  # escaped on the way, shown exactly
    assert "Country: Germany" in checked.text
    # A quick double tap on Sign: both presses reach the bot before either is answered.
    label = "✅ Sign as Ada <Lovelace> & Co"
    first, second = await asyncio.gather(user.press(label), user.press(label))
    assert "already signed" in f"{first.text} {second.text}"
    return await until(user, has("Thank you, Ada"))


async def test_full_signature_on_every_runtime_and_mode(start_bot: Any) -> None:
    bot = await start_bot(core="real")
    user = bot.emulator.user(2001, first_name="Ada", last_name="Lovelace", language_code="en")
    thanks = await walk_to_signature(user, country_query="deutschland")
    assert "1 person has signed" in thanks.text
    share = thanks.buttons[0][0].url
    assert share is not None and share.startswith("https://t.me/share/url?url=")

    db = Database(bot.settings.database_url)
    try:
        stored = await signatures.get_signature(db, "xinjiang", 2001)
        assert stored is not None
        assert (stored.name, stored.country, stored.source) == ("Ada <Lovelace> & Co", "DE", "share_link_1")
        assert await signatures.count_signatures(db, "xinjiang") == 1  # the double tap signed once
    finally:
        await db.dispose()

    await user.send("/withdraw")
    await until(user, has("withdraw your signature"))
    await user.press("Yes, erase my signature")
    await until(user, has("erased"))
    assert bot.emulator.rejected == []


async def test_groups_are_pointed_to_a_private_chat(start_bot: Any) -> None:
    bot = await start_bot(core="real")
    user = bot.emulator.user(2002, first_name="Bo", language_code="en")
    group = bot.emulator.group(-100200, title="Supporters")
    await group.send(user, "/start")  # perhaps meant for another bot: silent
    await group.send(user, "/start@undersign_bot")
    reply = await group.wait_message(timeout=10)
    assert "private chat" in reply.text
    assert reply.buttons[0][0].url == "https://t.me/undersign_bot?start=group"
    await bot.core.settle(within=10)
    assert len(group.messages) == 1
    assert bot.emulator.rejected == []


async def test_stickers_edits_and_long_text_get_kind_answers(start_bot: Any) -> None:
    bot = await start_bot(core="real")
    user = bot.emulator.user(2003, first_name="Cy", language_code="en")
    await user.send_sticker()
    await until(user, has("only read text"))
    await user.send("x" * 4096)  # the longest message Telegram lets a user send: the first words get the letter
    await until(user, has("mass internment"))
    await user.send("x" * 4096)
    await until(user, has("buttons"))
    await user.edit_last("changed")
    await until(user, has("not edits"))
    assert bot.emulator.rejected == []


# Over HTTP, a right-to-left language and one Telegram reports with a region: every language
# is walked in-process (tests/test_conversation.py), and ``i18n check`` validates every reply
# of every language with Telegram's rules.
@pytest.mark.parametrize("locale", ["ug", "pt_BR"])
async def test_signing_in_the_user_s_language(start_one_bot: Any, locale: str) -> None:
    """Letter, buttons, numbers and the thanks in the language Telegram reports, never English fallbacks."""
    bot = await start_one_bot(core="real")
    t = I18n().get(locale)
    campaign = load_campaign("xinjiang")
    user = bot.emulator.user(2004, first_name="Dilnur", last_name="Smith", language_code=TELEGRAM_CODES[locale])
    await user.send("/start")
    letter = await until(user, lambda m: bool(m.buttons))
    assert t.plain(campaign.title) in letter.text
    assert t.plain(campaign.letter.demands[0]) in letter.text
    assert plain(t.gettext("goal {goal}", goal=campaign.goal)) in letter.text  # 100,000 / 100 000 / ١٠٠٬٠٠٠ …
    assert letter.buttons[0][0].text == t.gettext("✍️ Sign the letter")
    if locale != "en":  # really translated, not the English fallback
        assert campaign.letter.demands[0] not in letter.text
        assert letter.buttons[0][0].text != "✍️ Sign the letter"

    await user.press(t.gettext("✍️ Sign the letter"))
    await user.wait_message(timeout=10)
    await user.press(t.gettext("✅ I agree and want to sign"))
    await user.wait_message(timeout=10)
    await user.press(t.gettext_plain("Sign as {name}", name="Dilnur Smith"))  # the name isolated in RTL text
    await user.wait_message(timeout=10)
    await user.press(country_name(likely_countries(locale)[0], locale))
    await user.wait_message(timeout=10)
    await user.press("✅ " + t.gettext_plain("Sign as {name}", name="Dilnur Smith"))
    thanks = await until(user, lambda m: bool(m.buttons))
    assert plain(t.gettext("Thank you, {name}! Your signature has been added to the letter.", name="Dilnur Smith")) in (
        thanks.text
    )
    assert plain(t.ngettext("{n} person has signed", "{n} people have signed", 1)) in thanks.text
    assert thanks.buttons[0][0].text == t.gettext("📣 Share the letter")
    assert bot.emulator.rejected == []


@pytest.mark.postgres
@pytest.mark.redis
async def test_full_signature_on_postgres_and_redis(
    start_one_bot: Any, scratch_postgres_url: str, redis_url: str, state_prefix: str
) -> None:
    bot = await start_one_bot(
        core="real", database_url=scratch_postgres_url, redis_url=redis_url, redis_prefix=state_prefix
    )
    user = bot.emulator.user(2005, first_name="Ada", language_code="en")
    thanks = await walk_to_signature(user, country_query="Allemagne")
    assert "1 person has signed" in thanks.text
    assert bot.emulator.rejected == []


@pytest.mark.redis
@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_every_update_delivered_twice_is_answered_once(
    start_one_bot: Any, emulator: Emulator, database_url: str, redis_url: str, state_prefix: str
) -> None:
    """Telegram delivers an update again when its side of a delivery timed out: here every
    one of them, on the production backends. The person sees each answer once."""
    emulator.retry_policy = dataclasses.replace(emulator.retry_policy, deliver_twice=True)
    bot = await start_one_bot(core="real", database_url=database_url, redis_url=redis_url, redis_prefix=state_prefix)
    assert bot.mode == "webhook"
    user = emulator.user(2007, first_name="Ada", language_code="en")
    thanks = await walk_to_signature(user, country_query="Allemagne")
    assert "1 person has signed" in thanks.text

    def accepted() -> Counter[int]:
        return Counter(attempt.update_id for attempt in emulator.deliveries if attempt.status == 200)

    async with asyncio.timeout(10):  # the last update's second copy may still be on its way
        while True:
            if set(accepted().values()) == {2}:
                break
            await asyncio.sleep(0.05)
    await bot.core.settle()
    # One answer per update: each of the 4 presses answered once, no message sent twice.
    answered = [call.params["callback_query_id"] for call in emulator.calls_to("answerCallbackQuery")]
    assert len(answered) == len(set(answered)) == 4
    texts = [message.text for message in emulator.conversations[user.id].bot_messages.values()]
    assert len(texts) == len(set(texts)), texts
    db = Database(database_url)
    try:
        assert await signatures.count_signatures(db, "xinjiang") == 1
    finally:
        await db.dispose()
    assert emulator.rejected == []


@pytest.mark.redis
async def test_a_restarted_bot_continues_where_the_user_was(
    start_one_bot: Any, redis_url: str, state_prefix: str
) -> None:
    """The state lives in Redis: a new bot process picks the conversation up mid-flow."""
    bot = await start_one_bot(core="real", redis_url=redis_url, redis_prefix=state_prefix)
    user = bot.emulator.user(2006, first_name="Ada", language_code="en")
    await read_and_agree(user)
    await bot.app.stop()

    restarted = await start_one_bot(
        core="real", redis_url=redis_url, redis_prefix=state_prefix, database_url=bot.settings.database_url
    )
    await user.send("Ada Restarted")
    await until(user, has("Which country"))
    await user.send("France")
    await review(user, "Ada Restarted")
    thanks = await sign_as(user, "Ada Restarted")
    assert "Thank you, Ada Restarted" in thanks.text
    assert restarted.emulator.rejected == []


async def test_concurrent_signers_are_all_counted(start_one_bot: Any) -> None:
    bot = await start_one_bot(core="real")
    users = [bot.emulator.user(3000 + i, first_name=f"Signer{i}", language_code="en") for i in range(12)]

    async def sign(user: SimulatedUser) -> None:
        await read_and_agree(user)
        await user.press(f"Sign as {user.first_name}")
        await until(user, has("Which country"))
        await user.press("Canada")
        await review(user, user.first_name)
        await sign_as(user, user.first_name)

    outcomes = await asyncio.gather(*(sign(user) for user in users), return_exceptions=True)
    stuck = {
        user.id: [(entry.who, (entry.text or "")[:40]) for entry in user.transcript[-4:]]
        for user, outcome in zip(users, outcomes, strict=True)
        if isinstance(outcome, BaseException)
    }
    assert stuck == {}, stuck  # who got stuck, and the last lines each of them saw
    await bot.core.flush_counts()  # the funnel is counted in memory, written in batches
    db = Database(bot.settings.database_url)
    try:
        assert await signatures.count_signatures(db, "xinjiang") == 12
        assert (await signatures.funnel_counts(db, "xinjiang"))["signed"] == 12
    finally:
        await db.dispose()
    assert bot.emulator.rejected == []
