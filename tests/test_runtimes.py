"""The runtime adapters.

The first part checks the shared pieces on plain Bot API JSON (update → event)
and with scripted failures (the delivery policy). The second part runs the
whole bot — both frameworks, polling and webhook — against the emulator over
real HTTP (fixture ``botapp`` in ``tests/fixtures/botapp.py``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from bot.delivery import ApiError, Deliverer
from bot.logs import mask, protect
from bot.runtimes import event_from_update
from handlers.events import EventKind
from handlers.replies import AnswerCallback, Delivered, EditMessage, Reply, SendMessage

USER = {"id": 1001, "is_bot": False, "first_name": "Ada", "last_name": "L", "language_code": "pt-br"}
PRIVATE = {"id": 1001, "type": "private", "first_name": "Ada"}


def message(**fields: Any) -> dict[str, Any]:
    return {"message_id": 5, "date": 1_700_000_000, "chat": PRIVATE, "from": USER, **fields}


# --- update → event ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "command", "args"),
    [
        ("/start", "start", ""),
        ("/START  src_42 ", "start", "src_42"),
        ("/start@Undersign_Bot ref", "start", "ref"),
        ("/language\nfr", "language", "fr"),
    ],
)
def test_commands(text: str, command: str, args: str) -> None:
    event = event_from_update({"update_id": 1, "message": message(text=text)}, "undersign_bot")
    assert event is not None
    assert (event.kind, event.command, event.args) == (EventKind.COMMAND, command, args)
    assert event.user is not None and event.user.language_code == "pt-br"
    assert event.chat.is_private and event.message_id == 5


@pytest.mark.parametrize("text", ["hello", "/", "/ä", "/start@other_bot", " /start"])
def test_text_that_is_not_our_command(text: str) -> None:
    event = event_from_update({"update_id": 1, "message": message(text=text)}, "undersign_bot")
    assert event is not None and event.kind == EventKind.TEXT and event.text == text


def test_button_press_carries_the_message_it_is_on() -> None:
    query = {
        "id": "cb1",
        "from": USER,
        "chat_instance": "x",
        "data": "consent:yes",
        "message": message(text="Do you agree?"),
    }
    event = event_from_update({"update_id": 2, "callback_query": query})
    assert event is not None
    assert (event.kind, event.callback_data, event.callback_id, event.message_id) == (
        EventKind.BUTTON,
        "consent:yes",
        "cb1",
        5,
    )
    assert event.chat.id == 1001


@pytest.mark.parametrize(
    ("fields", "content_type"),
    [
        ({"sticker": {"file_id": "s"}}, "sticker"),
        ({"photo": [{"file_id": "p"}], "caption": "look"}, "photo"),
        ({"voice": {"file_id": "v"}}, "voice"),
        ({"animation": {"file_id": "a"}, "document": {"file_id": "a"}}, "animation"),
        ({"venue": {"title": "t"}, "location": {"latitude": 1, "longitude": 2}}, "venue"),
        ({"location": {"latitude": 1, "longitude": 2}}, "location"),
        ({"contact": {"phone_number": "1", "first_name": "x"}}, "contact"),
        ({"dice": {"emoji": "🎲", "value": 3}}, "dice"),
        ({"poll": {"id": "p"}}, "poll"),
        ({"video_note": {"file_id": "n"}}, "video_note"),
        ({"new_chat_members": [USER]}, "new_chat_members"),
        ({}, "unknown"),
    ],
)
def test_everything_else_is_other_with_its_content_type(fields: dict[str, Any], content_type: str) -> None:
    event = event_from_update({"update_id": 3, "message": message(**fields)})
    assert event is not None
    assert (event.kind, event.content_type) == (EventKind.OTHER, content_type)
    assert event.text == fields.get("caption", "")


def test_edited_and_forwarded_and_group_messages() -> None:
    edited = event_from_update({"update_id": 4, "edited_message": message(text="/start")})
    assert edited is not None and edited.kind == EventKind.EDITED
    forwarded = event_from_update(
        {"update_id": 5, "message": message(text="hi", forward_origin={"type": "hidden_user", "date": 1})}
    )
    assert forwarded is not None and forwarded.forwarded
    group = event_from_update({"update_id": 6, "message": message(text="/start", chat={"id": -5, "type": "group"})})
    assert group is not None and group.kind == EventKind.COMMAND and group.chat.type == "group"


def test_membership_changes_are_not_events() -> None:
    update = {"update_id": 7, "my_chat_member": {"chat": PRIVATE, "from": USER, "date": 1}}
    assert event_from_update(update) is None


# --- the delivery policy ----------------------------------------------------------------------


class Script:
    """A send function that fails as scripted, then succeeds; sleeps are recorded, not slept."""

    def __init__(self, *failures: ApiError | Exception) -> None:
        self.failures = list(failures)
        self.calls = 0
        self.slept: list[float] = []

    async def send(self, reply: Reply) -> int | None:
        self.calls += 1
        if self.failures:
            failure = self.failures.pop(0)
            raise failure if isinstance(failure, Exception) else _Wrapped(failure)
        return 42

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def deliverer(self) -> Deliverer:
        return Deliverer(self.send, _classify, update_id=77, sleep=self.sleep)


class _Wrapped(Exception):
    def __init__(self, error: ApiError) -> None:
        self.error = error


def _classify(exc: Exception) -> ApiError | None:
    return exc.error if isinstance(exc, _Wrapped) else None


MSG = SendMessage(chat_id=1, text="<b>secret text</b>")


async def test_flood_control_waits_then_succeeds() -> None:
    script = Script(ApiError("flood", retry_after=2), ApiError("flood", retry_after=3))
    assert await script.deliverer()(MSG) == Delivered(message_id=42)
    assert (script.calls, script.slept) == (3, [2, 3])


async def test_flood_control_is_bounded_in_tries_and_time(caplog: pytest.LogCaptureFixture) -> None:
    script = Script(*[ApiError("flood", retry_after=1)] * 5)
    assert (await script.deliverer()(MSG)).error == "flood"
    assert script.calls == 3
    script = Script(ApiError("flood", retry_after=31))
    assert (await script.deliverer()(MSG)).error == "flood"
    assert (script.calls, script.slept) == (1, [])
    assert "gave up" in caplog.text


async def test_blocked_is_logged_once_and_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.delivery")
    script = Script(ApiError("forbidden", "Forbidden: bot was blocked by the user"))
    deliver = script.deliverer()
    assert await deliver(MSG) == Delivered(ok=False, error="blocked")
    assert await deliver(MSG) == Delivered(ok=False, error="blocked")
    assert script.calls == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.delivery"]
    assert len(lines) == 1 and "update 77" in lines[0]


async def test_bad_request_is_one_warning_without_the_text(caplog: pytest.LogCaptureFixture) -> None:
    script = Script(ApiError("bad_request", "Bad Request: can't parse entities"))
    assert (await script.deliverer()(MSG)).error == "bad_request"
    assert script.calls == 1
    assert "sendMessage" in caplog.text and "can't parse entities" in caplog.text
    assert "secret text" not in caplog.text


async def test_an_unmodified_edit_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    script = Script(ApiError("bad_request", "Bad Request: message is not modified: specified new message ..."))
    edit = EditMessage(chat_id=1, message_id=9, text="same")
    assert await script.deliverer()(edit) == Delivered(message_id=9)
    assert caplog.text == ""


async def test_network_errors_get_a_couple_of_short_retries() -> None:
    script = Script(ApiError("network"), ApiError("network"))
    assert (await script.deliverer()(MSG)).ok
    assert script.calls == 3 and sum(script.slept) < 5
    script = Script(*[ApiError("network")] * 3)
    assert (await script.deliverer()(MSG)).error == "network"


async def test_unexpected_exceptions_never_escape(caplog: pytest.LogCaptureFixture) -> None:
    script = Script(ValueError("validation failed for text 'secret text'"))
    assert await script.deliverer()(AnswerCallback("cb")) == Delivered(ok=False, error="internal")
    assert "ValueError" in caplog.text and "secret text" not in caplog.text


def test_masking() -> None:
    assert mask("GET https://api.telegram.org/bot123456:ABC-def_9/getMe") == "GET https://api.telegram.org/bot***/getMe"
    assert mask("redis://user:pa55@host:6379/0") == "redis://user:***@host:6379/0"
    assert mask("token 123:x", ["123:x"]) == "token ***"


def test_every_log_record_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    protect("999:plain-secret")
    logging.getLogger("httpx").warning("POST %s", "http://h/bot999:plain-secret/sendMessage")
    logging.getLogger("x").error("secret %s", "999:plain-secret")
    assert "plain-secret" not in caplog.text
    assert "bot***" in caplog.text


# --- the whole bot against the emulator ---------------------------------------------------------


async def test_a_conversation_round_trip(botapp: Any) -> None:
    """The same exchange through all four runtime × mode combinations."""
    user = botapp.emulator.user(1001, first_name="Ada", language_code="en")
    await user.send("/start ref_1")
    reply = await user.wait_message(timeout=10)
    assert reply.text == "command:start args=ref_1"
    assert [[b.text for b in row] for row in reply.buttons] == [["Press me"], ["Docs"]]
    await user.press("Press me")
    edited = await user.wait_message(timeout=10)
    assert edited.message_id == reply.message_id and edited.edited
    shown = botapp.emulator.conversations[user.id].bot_messages[reply.message_id]
    assert shown.text == "button:press"
    await user.send("hello")
    assert (await user.wait_message(timeout=10)).text == "text"
    assert botapp.emulator.rejected == []


async def test_the_core_s_menu_commands_are_published(botapp: Any) -> None:
    calls = botapp.emulator.calls_to("setMyCommands")
    assert [(c.ok, c.params.get("language_code")) for c in calls] == [(True, None), (True, "de")]


async def test_group_chats_are_carried_as_they_are(botapp: Any) -> None:
    user = botapp.emulator.user(1002, first_name="Bo", language_code="en")
    group = botapp.emulator.group(-100123, title="Friends")
    await group.send(user, "hi all")
    reply = await group.wait_message(timeout=10)
    assert reply.text == "group:text"


async def test_flood_control_from_the_api_is_honoured(botapp: Any) -> None:
    botapp.emulator.fail_next(method="sendMessage", status=429, retry_after=1)
    user = botapp.emulator.user(1003, first_name="Cy", language_code="en")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await user.send("/start")
    reply = await user.wait_message(timeout=10)
    assert reply.text == "command:start args="
    assert loop.time() - started >= 0.9


async def test_a_blocked_user_is_logged_once_and_not_retried(botapp: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    botapp.emulator.fail_next(method="sendMessage", status=403)
    user = botapp.emulator.user(1004, first_name="Di", language_code="en")
    await user.send("/start")
    await botapp.core.wait_handled(1)
    blocked = [r for r in caplog.records if "cannot write to this chat" in r.getMessage()]
    assert len(blocked) == 1
    assert botapp.core.delivered[-1] == Delivered(ok=False, error="blocked")
    assert len(botapp.emulator.calls_to("sendMessage")) == 1  # not retried


async def test_the_token_never_reaches_the_logs(botapp: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    user = botapp.emulator.user(1005, first_name="Ed", language_code="en")
    await user.send("/start")
    await user.wait_message(timeout=10)
    await botapp.core.wait_handled(1)
    logging.getLogger("test").info("GET %s/bot%s/getMe", botapp.settings.telegram_api_url, botapp.settings.token)
    assert caplog.records, "nothing was logged: the test would prove nothing"
    assert botapp.settings.token not in caplog.text
    assert "bot" + botapp.settings.token not in caplog.text


async def test_every_kind_of_message_arrives_as_its_event(botapp: Any) -> None:
    user = botapp.emulator.user(1006, first_name="Fa", language_code="pt-br")
    await user.send("hello")
    await user.edit_last("hello, edited")
    await user.send_sticker()
    await user.send_photo(caption="look")
    await user.send_other("location")
    await user.forward("someone else's words")
    await botapp.core.wait_handled(6)
    seen = [(e.kind, e.content_type, e.text, e.forwarded) for e in botapp.core.events]
    assert sorted(seen) == sorted(
        [
            (EventKind.TEXT, "text", "hello", False),
            (EventKind.OTHER, "sticker", "", False),
            (EventKind.OTHER, "photo", "look", False),
            (EventKind.OTHER, "location", "", False),
            (EventKind.TEXT, "text", "someone else's words", True),
            (EventKind.EDITED, "text", "hello, edited", False),
        ]
    )
    first = botapp.core.events[0]
    assert first.user.language_code == "pt-br" and first.chat.type == "private"


async def test_shutdown_finishes_the_update_in_flight(botapp: Any) -> None:
    botapp.core.delay = 1.0
    user = botapp.emulator.user(1007, first_name="Gu", language_code="en")
    await user.send("/start")
    await asyncio.wait_for(botapp.core.started.wait(), 10)
    await botapp.app.stop()  # while the core is still "thinking"
    assert botapp.core.delivered == [Delivered(message_id=botapp.core.delivered[0].message_id)]
    assert (await user.wait_message(timeout=1)).text == "command:start args="
