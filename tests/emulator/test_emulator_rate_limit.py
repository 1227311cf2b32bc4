"""The emulator enforces Telegram's sending limits: a bot that floods gets 429 and is caught."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from emulator import Emulator
from emulator.limits import SendLimits, is_sending

TOKEN = "123456:TEST"


async def _started(**limits: Any) -> Emulator:
    emulator = Emulator(token=TOKEN, **limits)
    await emulator.start(host="127.0.0.1", port=0)
    return emulator


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _send(session: aiohttp.ClientSession, emulator: Emulator, chat_id: int, method: str = "sendMessage") -> Any:
    params: dict[str, Any] = {"chat_id": chat_id}
    if method == "sendMessage":
        params["text"] = "hello"
    elif method == "sendPhoto":
        params["photo"] = "https://example.org/chart.png"
    url = f"{emulator.base_url}/bot{emulator.token}/{method}"
    async with session.post(url, json=params) as response:
        return response.status, await response.json()


def _people(emulator: Emulator, count: int) -> list[int]:
    ids = list(range(1001, 1001 + count))
    for user_id in ids:
        emulator.user(user_id).started = True
    return ids


async def test_exceeding_the_overall_limit_answers_429_with_retry_after_and_is_recorded(
    client: aiohttp.ClientSession,
) -> None:
    emulator = await _started(rate_limit=5, chat_rate_limit=None)
    try:
        people = _people(emulator, 6)
        answers = [await _send(client, emulator, chat) for chat in people]
    finally:
        await emulator.stop()
    assert [status for status, _ in answers] == [200] * 5 + [429]
    refused = answers[-1][1]
    assert refused["error_code"] == 429
    assert refused["description"].startswith("Too Many Requests: retry after ")
    assert refused["parameters"]["retry_after"] >= 1
    [violation] = emulator.rate_violations
    assert (violation.method, violation.chat_id, violation.scope) == ("sendMessage", people[-1], "bot")
    assert violation.retry_after == refused["parameters"]["retry_after"]
    # The refused message never reached the person.
    assert emulator.user(people[-1]).messages == []


async def test_within_the_limit_every_send_passes(client: aiohttp.ClientSession) -> None:
    emulator = await _started(rate_limit=5, chat_rate_limit=1)
    try:
        people = _people(emulator, 4)
        first = [await _send(client, emulator, chat) for chat in people]
        await asyncio.sleep(1.05)  # the window rolls on: the same people may hear again
        second = [await _send(client, emulator, chat) for chat in people]
        # Not messages: edits, chat actions and callback answers are not counted.
        for _ in range(10):
            status, _body = await _send(client, emulator, people[0], "sendChatAction")
            assert status == 400  # no action given; refused for its form, not for the rate
    finally:
        await emulator.stop()
    assert [status for status, _ in first + second] == [200] * 8
    assert emulator.rate_violations == []


async def test_the_per_chat_limit_is_separate_from_the_overall_one(client: aiohttp.ClientSession) -> None:
    emulator = await _started(rate_limit=30, chat_rate_limit=1)
    try:
        one, other = _people(emulator, 2)
        answers = [await _send(client, emulator, chat) for chat in (one, one, other, other)]
        photo = await _send(client, emulator, one, "sendPhoto")  # any send method counts
    finally:
        await emulator.stop()
    assert [status for status, _ in answers] == [200, 429, 200, 429]
    assert photo[0] == 429
    assert [(v.chat_id, v.scope) for v in emulator.rate_violations] == [
        (one, "chat"),
        (other, "chat"),
        (one, "chat"),
    ]


async def test_injected_faults_are_not_violations_and_do_not_count(client: aiohttp.ClientSession) -> None:
    emulator = await _started(rate_limit=2, chat_rate_limit=None)
    try:
        people = _people(emulator, 2)
        emulator.fail_next("sendMessage", status=429, retry_after=3, times=2)
        injected = [await _send(client, emulator, chat) for chat in people]
        passed = [await _send(client, emulator, chat) for chat in people]
    finally:
        await emulator.stop()
    assert [body["parameters"]["retry_after"] for _, body in injected] == [3, 3]
    assert [status for status, _ in passed] == [200, 200]
    assert emulator.rate_violations == []


async def test_no_limit_when_none() -> None:
    limits = SendLimits(None, None)
    assert all(limits.admit("sendMessage", {"chat_id": 1}) is None for _ in range(1000))


def test_which_methods_count() -> None:
    assert is_sending("sendMessage") and is_sending("sendDocument") and is_sending("copyMessage")
    assert is_sending("forwardMessages") and is_sending("sendMediaGroup")
    assert not is_sending("sendChatAction") and not is_sending("editMessageText")
    assert not is_sending("answerCallbackQuery") and not is_sending("getUpdates")


def test_retry_after_is_when_the_window_frees_a_slot() -> None:
    now = [100.0]
    limits = SendLimits(2, None, clock=lambda: now[0])
    assert limits.admit("sendMessage", {"chat_id": 1}) is None
    now[0] = 100.4
    assert limits.admit("sendMessage", {"chat_id": 2}) is None
    now[0] = 100.5
    violation = limits.admit("sendMessage", {"chat_id": 3})
    assert violation is not None and violation.retry_after == 1
    now[0] = 101.01  # the first send left the window
    assert limits.admit("sendMessage", {"chat_id": 3}) is None
