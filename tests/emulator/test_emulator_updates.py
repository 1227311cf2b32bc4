"""The emulator's update side: getUpdates, webhook delivery, simulated users, control API, terminal."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from emulator import Emulator, format_transcript
from emulator.objects import BotMessage, ButtonView
from emulator.terminal import TerminalChat, run_terminal_chat
from tests.fixtures.emulator import Api


async def handle(api: Api, update: dict[str, Any]) -> None:
    """A tiny bot: echoes text with a button; a press is answered and edits the message."""
    if "message" in update:
        message = update["message"]
        markup = {"inline_keyboard": [[{"text": "Press", "callback_data": "press"}]]}
        text = message.get("text", "[other]")
        await api(
            "sendMessage",
            chat_id=message["chat"]["id"],
            text=f"<b>echo</b>: {text}",
            parse_mode="HTML",
            reply_markup=markup,
        )
    elif "callback_query" in update:
        query = update["callback_query"]
        await api("answerCallbackQuery", callback_query_id=query["id"], text="pressed!")
        await api(
            "editMessageText",
            chat_id=query["message"]["chat"]["id"],
            message_id=query["message"]["message_id"],
            text=f"pressed {query['data']}",
        )


@pytest.fixture
async def echo_bot(api: Api) -> AsyncIterator[None]:
    """The tiny bot, long-polling the emulator for the duration of a test."""

    async def poll() -> None:
        offset = 0
        while True:
            _, body = await api("getUpdates", offset=offset, timeout=5)
            for update in body.get("result", []):
                offset = update["update_id"] + 1
                await handle(api, update)

    task = asyncio.create_task(poll())
    yield
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# --- getUpdates ---------------------------------------------------------------------


async def test_get_updates_offset_confirms_and_timeout_waits(api: Api, emulator: Emulator) -> None:
    user = emulator.user(1001, first_name="Ada", language_code="pt-br")
    await user.send("/start ref_abc")
    await user.send("hello")
    _, body = await api("getUpdates")
    updates = body["result"]
    assert [u["message"]["text"] for u in updates] == ["/start ref_abc", "hello"]
    first = updates[0]
    assert first["update_id"] < updates[1]["update_id"]
    assert first["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert first["message"]["from"] == {"id": 1001, "is_bot": False, "first_name": "Ada", "language_code": "pt-br"}
    assert first["message"]["chat"] == {"id": 1001, "type": "private", "first_name": "Ada"}
    # unconfirmed updates come again; limit applies
    _, body = await api("getUpdates", limit=1)
    assert [u["update_id"] for u in body["result"]] == [first["update_id"]]
    # a higher offset confirms (drops) everything below it
    _, body = await api("getUpdates", offset=updates[1]["update_id"])
    assert [u["update_id"] for u in body["result"]] == [updates[1]["update_id"]]
    loop = asyncio.get_running_loop()
    started = loop.time()
    _, body = await api("getUpdates", offset=updates[1]["update_id"] + 1, timeout=0)
    assert body["result"] == []
    assert loop.time() - started < 0.5
    # timeout waits until an update arrives
    later = asyncio.create_task(api("getUpdates", offset=updates[1]["update_id"] + 1, timeout=5))
    await asyncio.sleep(0.2)
    assert not later.done()
    await user.send("later")
    _, body = await asyncio.wait_for(later, 2)
    assert [u["message"]["text"] for u in body["result"]] == ["later"]
    assert loop.time() - started < 2


async def test_get_updates_timeout_expires_empty(api: Api) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, body = await api("getUpdates", timeout=1)
    assert (status, body) == (200, {"ok": True, "result": []})
    assert 0.9 <= loop.time() - started < 2


async def test_a_second_poller_terminates_the_first(api: Api) -> None:
    first = asyncio.create_task(api("getUpdates", timeout=5))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(api("getUpdates", timeout=0))
    status, body = await asyncio.wait_for(first, 2)
    assert status == 409
    assert body["description"] == (
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
    )
    assert (await second)[0] == 200


async def test_negative_offset_keeps_the_last_updates(api: Api, emulator: Emulator) -> None:
    user = emulator.user(1001)
    for text in ("a", "b", "c"):
        await user.send(text)
    _, body = await api("getUpdates", offset=-1)
    assert [u["message"]["text"] for u in body["result"]] == ["c"]


async def test_allowed_updates_filters_new_updates(api: Api, emulator: Emulator) -> None:
    await api("getUpdates", allowed_updates=["callback_query"])
    await emulator.user(1001).send("ignored")
    _, body = await api("getUpdates")
    assert body["result"] == []
    await api("getUpdates", allowed_updates=[])
    await emulator.user(1001).send("seen")
    _, body = await api("getUpdates")
    assert [u["message"]["text"] for u in body["result"]] == ["seen"]


# --- webhook ------------------------------------------------------------------------


@asynccontextmanager
async def webhook_receiver(handler: Callable[[web.Request], Awaitable[web.Response]]) -> AsyncIterator[str]:
    """A local HTTP endpoint standing in for the bot's webhook; yields its URL."""
    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


async def test_webhook_delivery_with_secret_and_retry(api: Api, emulator: Emulator) -> None:
    received: list[tuple[dict[str, Any], str | None]] = []
    answers = [500, 200, 200]

    async def receive(request: web.Request) -> web.Response:
        received.append((await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        return web.Response(status=answers.pop(0) if answers else 200)

    async with webhook_receiver(receive) as hook_url:
        user = emulator.user(1001, first_name="Ada")
        await user.send("queued before the webhook")
        status, body = await api("setWebhook", url=hook_url, secret_token="s3cret", drop_pending_updates=True)
        assert (status, body["result"]) == (200, True)
        status, body = await api("getUpdates")
        assert status == 409
        assert body["description"] == (
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
        )
        await user.send("one")
        await user.send("two")
        for _ in range(100):
            if len(received) >= 3:
                break
            await asyncio.sleep(0.02)
        texts = [update["message"]["text"] for update, _ in received]
        assert texts == ["one", "one", "two"]  # the 500 made Telegram send "one" again, order kept
        assert received[0][0]["update_id"] == received[1][0]["update_id"]
        assert {secret for _, secret in received} == {"s3cret"}
        assert [d.status for d in emulator.deliveries] == [500, 200, 200]
        _, info = await api("getWebhookInfo")
        assert info["result"]["url"].endswith("/hook")
        assert info["result"]["last_error_message"] == "Wrong response from the webhook: 500"
        assert info["result"]["pending_update_count"] == 0
        assert (await api("deleteWebhook"))[1]["result"] is True
        _, info = await api("getWebhookInfo")
        assert info["result"]["url"] == ""
        assert (await api("getUpdates"))[0] == 200


async def test_webhook_retries_connection_errors_then_hands_back_to_polling(api: Api, emulator: Emulator) -> None:
    await api("setWebhook", url="http://127.0.0.1:9/unreachable")
    await emulator.user(1001).send("lost?")
    for _ in range(100):
        if len(emulator.deliveries) >= 2:
            break
        await asyncio.sleep(0.02)
    assert all(d.status is None for d in emulator.deliveries)
    assert emulator.deliveries[1].attempt == 2
    await api("deleteWebhook")
    _, body = await api("getUpdates")
    assert [u["message"]["text"] for u in body["result"]] == ["lost?"]


async def test_webhook_replies_are_executed(api: Api, emulator: Emulator) -> None:
    async def receive(request: web.Request) -> web.Response:
        update = await request.json()
        return web.json_response({"method": "sendMessage", "chat_id": update["message"]["chat"]["id"], "text": "hi"})

    async with webhook_receiver(receive) as hook_url:
        await api("setWebhook", url=hook_url)
        user = emulator.user(1001)
        await user.send("/start")
        assert (await user.wait_message(timeout=2)).text == "hi"


# --- simulated users ----------------------------------------------------------------------


@pytest.mark.usefixtures("echo_bot")
async def test_press_and_transcript_round_trip(emulator: Emulator) -> None:
    user = emulator.user(1001, first_name="Ada")
    await user.send("/start")
    reply = await user.wait_message()
    assert reply.text == "echo: /start"
    assert reply.html == "<b>echo</b>: /start"
    assert [[b.text for b in row] for row in reply.buttons] == [["Press"]]
    answer = await user.press("Press")
    assert answer.text == "pressed!"
    assert answer.show_alert is False
    edited = await user.wait_message()
    assert (edited.text, edited.edited, edited.message_id) == ("pressed press", True, reply.message_id)
    assert edited.buttons == []
    assert len(user.messages) == 1
    assert [(e.who, e.text, e.edited, e.kind) for e in user.transcript] == [
        ("user", "/start", False, "text"),
        ("bot", "echo: /start", False, "text"),
        ("user", "Press", False, "press"),
        ("bot", "pressed press", True, "text"),
    ]
    assert "user: [Press]" in format_transcript(user.transcript)
    with pytest.raises(LookupError, match="no button 'Press'"):
        await user.press("Press")  # the edit removed the keyboard


@pytest.mark.usefixtures("echo_bot")
async def test_other_kinds_of_messages(emulator: Emulator) -> None:
    user = emulator.user(1001)
    await user.send_sticker()
    await user.send_photo()
    await user.send_other("voice")
    await user.forward("forwarded text")
    messages = await user.wait_messages(4)
    assert [m.text for m in messages] == ["echo: [other]"] * 3 + ["echo: forwarded text"]
    with pytest.raises(ValueError, match="unknown message kind"):
        await user.send_other("hologram")


async def test_updates_carry_realistic_objects(api: Api, emulator: Emulator) -> None:
    user = emulator.user(1001, first_name="Ada", last_name="L", username="ada", language_code="en")
    await user.send("typo")
    await user.edit_last("fixed")
    await user.send_sticker()
    await user.forward("fwd")
    group = emulator.group(-100123, title="Supporters")
    await group.send(user, "/start@undersign_bot")
    _, body = await api("getUpdates")
    updates = body["result"]
    assert updates[1]["edited_message"]["text"] == "fixed"
    assert updates[1]["edited_message"]["message_id"] == updates[0]["message"]["message_id"]
    assert "edit_date" in updates[1]["edited_message"]
    assert updates[2]["message"]["sticker"]["emoji"]
    assert updates[3]["message"]["forward_origin"]["type"] == "user"
    group_message = updates[4]["message"]
    assert group_message["chat"] == {"id": -100123, "type": "supergroup", "title": "Supporters"}
    assert group_message["entities"][0]["length"] == len("/start@undersign_bot")
    assert group_message["from"]["username"] == "ada"


async def test_a_press_nobody_answers_times_out(api: Api, emulator: Emulator) -> None:
    user = emulator.user(1001)
    await user.send("/start")
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    await api("sendMessage", chat_id=1001, text="x", reply_markup=markup)
    with pytest.raises(TimeoutError):
        await user.press(callback_data="go", timeout=0.2)
    _, body = await api("getUpdates")
    query = body["result"][-1]["callback_query"]
    assert query["data"] == "go"
    assert query["message"]["text"] == "x"
    _, answer = await api("answerCallbackQuery", callback_query_id=query["id"])
    assert answer["description"].startswith("Bad Request: query is too old")


async def test_wait_message_times_out_with_a_clear_error(emulator: Emulator) -> None:
    with pytest.raises(TimeoutError, match="no message from the bot"):
        await emulator.user(1001).wait_message(timeout=0.1)


# --- control API ------------------------------------------------------------------------


@pytest.mark.usefixtures("echo_bot")
async def test_control_api(emulator: Emulator, session: aiohttp.ClientSession) -> None:
    base = f"{emulator.base_url}/_emulator"

    async def post(path: str, **body: Any) -> dict[str, Any]:
        async with session.post(base + path, json=body) as response:
            answer: dict[str, Any] = await response.json()
            return answer

    assert (await post("/users/7/send", text="/start", first_name="Bench", language_code="de"))["ok"]
    waited = await post("/users/7/wait", n=1, timeout=3)
    assert waited["messages"][0]["text"] == "echo: /start"
    assert waited["messages"][0]["buttons"] == [[{"text": "Press", "callback_data": "press"}]]
    pressed = await post("/users/7/press", label="Press")
    assert pressed["answer"]["text"] == "pressed!"
    assert (await post("/users/7/wait", n=1, timeout=3))["messages"][0]["edited"] is True
    async with session.get(base + "/users/7/transcript") as response:
        transcript = (await response.json())["transcript"]
    assert [entry["who"] for entry in transcript] == ["user", "bot", "user", "bot"]
    assert emulator.users[7].language_code == "de"
    missing = await post("/users/7/press", label="Nope")
    assert missing["ok"] is False
    assert (await post("/faults", method="sendMessage", status=429, retry_after=2))["ok"]
    assert len(emulator.faults) == 1
    async with session.get(base + "/status") as response:
        status = await response.json()
    assert status["bot"]["username"] == "undersign_bot"
    async with session.get(base + "/calls", params={"method": "answerCallbackQuery"}) as response:
        assert len((await response.json())["calls"]) == 1


# --- terminal chat ---------------------------------------------------------------------


@pytest.mark.usefixtures("echo_bot")
async def test_terminal_chat(emulator: Emulator) -> None:
    output = io.StringIO()
    script = io.StringIO("/start\n1\n7\n:sticker\n:quit\nnever sent\n")
    await asyncio.wait_for(
        run_terminal_chat(
            emulator, user_id=1001, first_name="Ada", input_stream=script, output=output, reply_wait=2.0, quiet=0.05
        ),
        10,
    )
    shown = output.getvalue()
    assert "Chatting with @undersign_bot as Ada" in shown
    assert "bot: echo: /start" in shown
    assert "[1] Press" in shown
    assert "notice: pressed!" in shown
    assert "bot (edited): pressed press" in shown
    assert "(there is no button 7)" in shown
    assert "bot: echo: [other]" in shown
    assert "never sent" not in [entry.text for entry in emulator.user(1001).transcript]
    assert shown.rstrip().endswith("Bye.")


def _shown(message: BotMessage, *, visual_order: bool, width: int = 60) -> list[str]:
    output = io.StringIO()
    chat = TerminalChat(None, output, reply_wait=0, quiet=0, width=width, visual_order=visual_order)  # type: ignore[arg-type]
    chat.show(message)
    return output.getvalue().splitlines()


def test_the_terminal_shows_right_to_left_text_in_the_order_it_is_read() -> None:
    """Most terminals print characters as they come: an Arabic line is reordered for them, each
    wrapped line on its own (wrapped as it is read), aligned right; numbers and Latin names keep
    their own direction inside it; a terminal that reorders itself gets the text as it is."""
    text = "شكراً لك، \u2068Ada Lovelace\u2069! وقّع 12 شخصاً على الرسالة حتى الآن في شينجيانغ والعالم كله."
    message = BotMessage(1, 1, text, text, buttons=[[ButtonView("✅ أوافق وأوقّع", "agree")]])

    lines = _shown(message, visual_order=True, width=60)
    first, second, button = lines
    assert first.startswith("bot: ") and first.endswith("!Ada Lovelace ،كل ًاركش")  # read from the right
    assert " 12 " in first  # a number keeps its own direction
    assert second.endswith(".هلك ملاعلاو غنايجنيش يف نآلا") and len(second) == 60  # aligned right
    assert button.strip() == "[1] عّقوأو قفاوأ ✅"
    assert "\u2068" not in first and "\u2069" not in first

    as_is = "\n".join(_shown(message, visual_order=False))
    assert "شينجيانغ" in as_is and "شينجيانغ"[::-1] not in as_is
