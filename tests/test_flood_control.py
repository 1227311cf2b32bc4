"""Flood control through the emulator: one account sending dozens of updates a minute gets one
"please slow down", its extra updates are dropped, everyone else is answered as usual, and
signing itself is never held back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from emulator.users import SimulatedUser
from tests.test_signing_e2e import has, until

LIMIT = 10  # FLOOD_LIMIT for these tests: updates per minute per account
SLOW_DOWN = "You are sending messages very fast"


async def to_the_name_question(user: SimulatedUser) -> None:
    """/start (the letter), sign, agree: three updates of the minute's ten."""
    await user.send("/start")
    await until(user, has("mass internment"))
    await user.press("✍️ Sign the letter")
    await until(user, has("Before you sign"))
    await user.press("✅ I agree and want to sign")
    await until(user, has("What name should we sign with?"))


async def quiet(bot: Any) -> None:
    """Let every update sent so far be handled (dropped ones leave no trace to wait for): the
    emulator has posted each one and had its answer (the webhook answers after handling),
    then the core's follow-ups have settled. No fixed sleep: on a loaded machine one was
    too short and the test counted answers still on their way."""
    async with asyncio.timeout(60):
        while bot.emulator.webhook is not None and bot.emulator.webhook.pending_count:  # noqa: ASYNC110 - no event for it
            await asyncio.sleep(0.05)
    await bot.core.settle(within=30)


async def flood(bot: Any, user: SimulatedUser, count: int = 40) -> None:
    for number in range(count):
        await user.send(f"hello {number}")


async def a_flood_gets_one_slow_down_and_others_are_still_answered(bot: Any) -> None:
    flooder = bot.emulator.user(4101, first_name="Fay", language_code="en")
    other = bot.emulator.user(4102, first_name="Oz", language_code="en")
    await flood(bot, flooder)
    await other.send("/start")  # while the flood is being handled
    assert "mass internment" in (await until(other, has("mass internment"))).text
    await flooder.wait_messages(LIMIT + 1, timeout=30)
    await quiet(bot)
    texts = [message.text for message in flooder.messages]
    assert len(texts) == LIMIT + 1, texts  # the first LIMIT answered, one slow-down, nothing more
    assert sum(SLOW_DOWN in text for text in texts) == 1
    # The first words get the letter (nothing was shown yet), the others a pointer to its buttons.
    assert "mass internment" in texts[0]
    assert sum("Please use the buttons" in text for text in texts) == LIMIT - 1
    assert bot.emulator.rejected == []


async def test_a_flood_gets_one_slow_down_and_others_are_still_answered(start_one_bot: Any) -> None:
    bot = await start_one_bot(core="real", flood_limit=LIMIT)
    await a_flood_gets_one_slow_down_and_others_are_still_answered(bot)


@pytest.mark.redis
async def test_flood_control_counts_in_redis(start_one_bot: Any, redis_url: str, state_prefix: str) -> None:
    bot = await start_one_bot(core="real", flood_limit=LIMIT, redis_url=redis_url, redis_prefix=state_prefix)
    await a_flood_gets_one_slow_down_and_others_are_still_answered(bot)


async def test_a_flooding_user_can_still_sign(start_one_bot: Any) -> None:
    bot = await start_one_bot(core="real", flood_limit=LIMIT)
    user = bot.emulator.user(4103, first_name="Ada", language_code="en")
    await to_the_name_question(user)
    for _ in range(3 * LIMIT):
        await user.send_sticker()
    await until(user, has(SLOW_DOWN))
    await quiet(bot)
    while user.conversation.pending():  # answers to stickers of the first ten, handled after it
        await user.wait_message()
    await user.send("/mysignature")  # an ordinary command: dropped while over the limit
    await quiet(bot)
    assert user.conversation.pending() == 0

    # The signing steps go on: a typed name and country, and the review's buttons.
    await user.send("Ada Flood")
    await until(user, has("Which country"))
    await user.send("France")
    await until(user, has("Country: France"))
    await user.press("✏️ Change name")
    await until(user, has("What name should we sign with?"))
    await user.press("Sign as Ada")
    review = await until(user, has("Country: France"))  # the country is known: the review again
    assert [row[0].text for row in review.buttons][:1] == ["✅ Sign as Ada"]  # the new name's forms
    await user.press("✅ Sign as Ada")
    thanks = await until(user, has("Thank you, Ada!"))
    assert "Your receipt:" in thanks.text
    assert sum(SLOW_DOWN in message.text for message in user.messages) == 1
    assert bot.emulator.rejected == []


async def test_signing_input_has_a_ceiling_too(start_one_bot: Any) -> None:
    """Typed text at the country step passes the limit (it may be a country), but not without end:
    at most 3 × the limit a minute in all is handled; the rest is dropped, with no second slow-down."""
    bot = await start_one_bot(core="real", flood_limit=LIMIT)
    user = bot.emulator.user(4104, first_name="Jo", language_code="en")
    await to_the_name_question(user)
    await user.send("Jo Junk")  # four
    await until(user, has("Which country"))
    for number in range(6 * LIMIT):
        await user.send(f"zzq{number}")
    await until(user, has(SLOW_DOWN))
    await quiet(bot)
    while user.conversation.pending():
        await user.wait_message()
    texts = [message.text for message in user.messages]
    assert sum("could not find a country" in text for text in texts) == 3 * LIMIT - 4, texts
    assert sum(SLOW_DOWN in text for text in texts) == 1
    assert bot.emulator.rejected == []
