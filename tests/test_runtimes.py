"""The runtime adapters.

The first part checks the shared pieces on plain Bot API JSON (update → event)
and with scripted failures (the delivery policy). The second part runs the
whole bot — both frameworks, polling and webhook — against the emulator over
real HTTP (fixture ``botapp`` in ``tests/fixtures/botapp.py``).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from bot.app import Mode
from bot.call_policy import FLOOD_BUDGET, NETWORK_RETRY_DELAYS, ApiError
from bot.delivery import Deliverer
from bot.flood_gate import FloodGate
from bot.logs import mask, protect, secret_filter
from bot.runtimes import Runtime, RuntimeName, UpdateFailed, event_from_update, make_runtime
from bot.runtimes.translation import Malformed
from emulator import Emulator
from emulator.emulator import BOT_USERNAME
from handlers.events import EventKind
from handlers.replies import AnswerCallback, Delivered, EditMessage, Reply, SendMessage
from tests.fixtures.botapp import COMBINATIONS, bot_factory, free_port

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


@pytest.mark.parametrize(
    ("text", "kind", "addressed"),
    [
        ("/start", EventKind.COMMAND, False),
        ("/start@undersign_bot", EventKind.COMMAND, True),
        ("/Start@UnderSign_BOT campaign", EventKind.COMMAND, True),  # usernames are case-insensitive
        ("/start@other_bot", EventKind.TEXT, False),  # another bot's command is only text to us
        ("/start@undersign_bot_fake", EventKind.TEXT, False),
    ],
)
def test_a_command_knows_whether_it_was_addressed_to_this_bot(text: str, kind: EventKind, addressed: bool) -> None:
    for chat in (PRIVATE, {"id": -100, "type": "supergroup", "title": "G"}):
        event = event_from_update({"update_id": 8, "message": message(text=text, chat=chat)}, "undersign_bot")
        assert event is not None
        assert (event.kind, event.addressed) == (kind, addressed)
        if kind is EventKind.COMMAND:
            assert event.command == "start"
    unknown = event_from_update({"update_id": 9, "message": message(text="/start@undersign_bot")})
    assert unknown is not None and not unknown.addressed  # without our username nothing is addressed to us


def test_an_update_without_from_or_in_someone_else_s_private_chat_is_nobody_s() -> None:
    own = event_from_update({"update_id": 10, "message": message(text="/stats")})
    assert own is not None and own.sender is not None and own.sender.id == 1001
    no_from = {key: value for key, value in message(text="/stats").items() if key != "from"}
    event = event_from_update({"update_id": 11, "message": no_from})
    assert event is not None and event.user is None and event.sender is None
    forged = event_from_update({"update_id": 12, "message": message(text="/stats", chat={"id": 7, "type": "private"})})
    assert forged is not None and forged.user is not None and forged.sender is None
    group = event_from_update({"update_id": 13, "message": message(text="/x", chat={"id": -5, "type": "group"})})
    assert group is not None and group.sender is not None  # in a group the sender is whoever wrote


def test_membership_changes_are_not_events() -> None:
    update = {"update_id": 7, "my_chat_member": {"chat": PRIVATE, "from": USER, "date": 1}}
    assert event_from_update(update) is None


@pytest.mark.parametrize(
    "update",
    [
        {"update_id": 14, "message": message(text="hi", date=10**30)},
        {"update_id": 15, "message": message(text="hi", date=-(10**15))},
        {"update_id": 16, "message": message(text="hi", date="today")},
        {"update_id": 17, "message": {key: value for key, value in message(text="hi").items() if key != "date"}},
        {"update_id": 18, "message": message(text=[1, {"a": 2}])},
        {"update_id": 19, "message": message(text="hi", chat=[1])},
        {"update_id": 20, "message": message(text="hi", **{"from": {**USER, "first_name": {"name": "Zh"}}})},
        {"update_id": 21, "message": "hi"},
        {"update_id": 22, "callback_query": {"from": USER, "data": "x"}},
        {"update_id": "23", "message": message(text="hi")},
    ],
    ids=[
        "date-overflow",
        "date-negative",
        "date-text",
        "no-date",
        "text-list",
        "chat-list",
        "name-object",
        "message-text",
        "query-no-id",
        "update-id-text",
    ],
)
def test_what_can_never_be_an_event_is_malformed(update: dict[str, Any]) -> None:
    """Decided here for both runtimes and both modes: the webhook path has no framework parser."""
    with pytest.raises(Malformed):
        event_from_update(update)


# --- the delivery policy ----------------------------------------------------------------------


class Script:
    """A send function that fails as scripted (None: that call succeeds), then succeeds;
    sleeps are recorded, not slept."""

    def __init__(self, *failures: ApiError | Exception | None) -> None:
        self.failures = list(failures)
        self.calls = 0
        self.slept: list[float] = []
        self.now = 0.0  # the clock the sleeps advance

    async def send(self, reply: Reply) -> int | None:
        self.calls += 1
        failure = self.failures.pop(0) if self.failures else None
        if failure is None:
            return 42
        raise failure if isinstance(failure, Exception) else _Wrapped(failure)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def deliverer(self) -> Deliverer:
        gate = FloodGate(clock=lambda: self.now)
        return Deliverer(self.send, _classify, update_id=77, sleep=self.sleep, flood_gate=gate)


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


async def test_flood_control_waits_as_long_as_the_budget_allows(caplog: pytest.LogCaptureFixture) -> None:
    script = Script(*[ApiError("flood", retry_after=1)] * 5)
    assert (await script.deliverer()(MSG)).ok  # five refusals, five seconds: still within the budget
    assert (script.calls, script.slept) == (6, [1] * 5)
    script = Script(*[ApiError("flood", retry_after=1)] * 30)
    assert (await script.deliverer()(MSG)).error == "flood"
    assert (script.calls, sum(script.slept)) == (FLOOD_BUDGET + 1, FLOOD_BUDGET)  # given up only past it
    script = Script(ApiError("flood", retry_after=31))
    assert (await script.deliverer()(MSG)).error == "flood"
    assert (script.calls, script.slept) == (1, [])
    assert "gave up" in caplog.text


async def test_the_flood_budget_belongs_to_the_whole_update(caplog: pytest.LogCaptureFixture) -> None:
    """The waits of all replies of one update add up to at most FLOOD_BUDGET seconds."""
    wait = 12.0
    assert wait < FLOOD_BUDGET < 2 * wait
    flood = ApiError("flood", retry_after=wait)
    script = Script(flood, None, flood, flood)
    deliver = script.deliverer()
    assert (await deliver(MSG)).ok  # waited 12 s, then sent
    assert (await deliver(MSG)).error == "flood"  # 12 more would exceed the budget: no wait
    assert (await deliver(MSG)).error == "flood"  # not even tried: the chat is paused 12 s more
    assert script.slept == [wait]
    assert script.calls == 3
    gave_up = [r for r in caplog.records if r.name == "bot.delivery" and "gave up" in r.getMessage()]
    assert len(gave_up) == 1  # logged once per update, not per reply


async def test_a_callback_answer_never_waits_for_flood_control(caplog: pytest.LogCaptureFixture) -> None:
    script = Script(ApiError("flood", retry_after=1))
    assert await script.deliverer()(AnswerCallback("cb")) == Delivered(ok=False, error="flood")
    assert (script.calls, script.slept) == (1, [])
    assert "answerCallbackQuery gave up" in caplog.text


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
    """When the request certainly never reached Telegram (it could not connect)."""
    script = Script(ApiError("unsent"), ApiError("unsent"))
    assert (await script.deliverer()(MSG)).ok
    assert script.calls == 3 and sum(script.slept) < 5
    script = Script(*[ApiError("unsent")] * 3)
    assert (await script.deliverer()(MSG)).error == "network"


async def test_a_message_that_may_have_arrived_is_never_sent_again(caplog: pytest.LogCaptureFixture) -> None:
    """A read timeout or a 5xx after sendMessage: Telegram may have delivered it already."""
    script = Script(ApiError("network", "Request timeout error"))
    assert await script.deliverer()(MSG) == Delivered(ok=False, error="network")
    assert (script.calls, script.slept) == (1, [])
    assert "not repeated" in caplog.text and "secret text" not in caplog.text


@pytest.mark.parametrize("reply", [EditMessage(1, 9, "x"), AnswerCallback("cb")], ids=["edit", "callback"])
async def test_idempotent_calls_are_retried_after_any_network_error(reply: Reply) -> None:
    script = Script(ApiError("network"), ApiError("network"))
    assert (await script.deliverer()(reply)).ok
    assert script.calls == 3


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
    for handled, (text, addressed) in enumerate(((f"/start@{BOT_USERNAME.upper()}", True), ("/start", False)), 2):
        await group.send(user, text)
        assert (await group.wait_message(timeout=10)).text == "command:start args="
        await botapp.core.wait_handled(handled)
        assert botapp.core.events[-1].addressed is addressed


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
    botapp.core.copies = 2  # two replies to the user who blocked the bot
    botapp.emulator.fail_next(method="sendMessage", status=403)
    user = botapp.emulator.user(1004, first_name="Di", language_code="en")
    await user.send("/start")
    await botapp.core.wait_handled(1)
    blocked = [r for r in caplog.records if "cannot write to this chat" in r.getMessage()]
    assert len(blocked) == 1
    assert botapp.core.delivered == [Delivered(ok=False, error="blocked")] * 2
    assert len(botapp.emulator.calls_to("sendMessage")) == 1  # neither retried nor tried again


# A token of the real shape (digits, a colon, 35 characters), deliberately NOT registered with
# ``protect``: only the general token patterns of the log filter stand between it and the log.
# Real token length (10 digits, 35 characters), built here so no token-shaped string is committed.
UNREGISTERED_TOKEN = "1234567890:" + "FAKE" * 8 + "abc"


@pytest.mark.parametrize(("runtime", "mode"), COMBINATIONS, ids=[f"{r}-{m}" for r, m in COMBINATIONS])
async def test_the_token_never_reaches_the_logs(
    runtime: RuntimeName, mode: Mode, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert len(UNREGISTERED_TOKEN.split(":")[1]) == 35
    protect()  # the log filter, as setup_logging installs it, with no secret registered
    assert UNREGISTERED_TOKEN not in secret_filter.secrets
    caplog.set_level(logging.DEBUG)
    emulator = Emulator(token=UNREGISTERED_TOKEN)
    await emulator.start(host="127.0.0.1", port=0)
    try:
        async with bot_factory(runtime, mode, emulator, tmp_path, register_token=False) as start:
            bot = await start()
            user = emulator.user(1005, first_name="Ed", language_code="en")
            await user.send("/start")
            await user.wait_message(timeout=10)
            await bot.core.wait_handled(1)
            assert caplog.records, "the bot logged nothing: the test would prove nothing"
            assert UNREGISTERED_TOKEN not in caplog.text
            # What a library logging a request URL or the bare token would produce:
            logging.getLogger("test").info("GET %s/bot%s/getMe", bot.settings.telegram_api_url, UNREGISTERED_TOKEN)
            logging.getLogger("test").info("token %s", UNREGISTERED_TOKEN)
    finally:
        await emulator.stop()
    assert UNREGISTERED_TOKEN not in caplog.text
    assert UNREGISTERED_TOKEN.split(":")[1] not in caplog.text
    assert "/bot***/getMe" in caplog.text and "token ***" in caplog.text


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
    assert len(botapp.core.delivered) == 1
    assert botapp.core.delivered[0].ok and botapp.core.delivered[0].message_id is not None
    assert (await user.wait_message(timeout=1)).text == "command:start args="


async def test_documents_and_photos_are_uploaded(botapp: Any) -> None:
    user = botapp.emulator.user(1008, first_name="Ha", language_code="en")
    await user.send("/files")
    document, photo = await user.wait_messages(2, timeout=10)
    await botapp.core.wait_handled(1)
    assert document.document is not None and document.document.filename == "botapp.py"
    assert document.caption == "document"
    assert photo.photo is not None and photo.photo.startswith(b"\x89PNG")
    assert [d.ok for d in botapp.core.delivered] == [True, True]
    assert botapp.emulator.rejected == []


async def test_a_callback_answer_under_flood_control_is_given_up_at_once(
    botapp: Any, caplog: pytest.LogCaptureFixture
) -> None:
    user = botapp.emulator.user(1009, first_name="Io", language_code="en")
    await user.send("/start")
    await user.wait_message(timeout=10)
    botapp.emulator.fail_next(method="answerCallbackQuery", status=429, retry_after=5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):  # the press is never answered ...
        await user.press("Press me", timeout=2)
    edited = await user.wait_message(timeout=10)  # ... but the edit after it was not held up
    assert edited.edited and botapp.emulator.conversations[user.id].bot_messages[edited.message_id].edited
    await botapp.core.wait_handled(2)
    [answer] = botapp.emulator.calls_to("answerCallbackQuery")
    assert loop.time() - started < 4.5  # no 5 s wait
    if botapp.mode == "polling":
        assert botapp.core.delivered[-2:] == [
            Delivered(ok=False, error="flood"),
            Delivered(message_id=edited.message_id),
        ]
        assert "answerCallbackQuery gave up" in caplog.text
    else:  # carried in the webhook's answer: Telegram refused it there, the bot never heard
        assert answer.in_webhook_answer and answer.error_code == 429
        assert botapp.core.delivered[-2:] == [Delivered(), Delivered(message_id=edited.message_id)]


async def test_in_webhook_mode_the_callback_answer_rides_in_the_webhook_s_answer(botapp: Any) -> None:
    """One request fewer per press: Telegram makes the answerCallbackQuery the webhook answered with."""
    user = botapp.emulator.user(1011, first_name="Al", language_code="en")
    await user.send("/start")
    await user.wait_message(timeout=10)
    await user.press("Press me", timeout=10)  # answered: the spinner stops
    answers = botapp.emulator.calls_to("answerCallbackQuery")
    assert [call.ok for call in answers] == [True]
    assert answers[0].in_webhook_answer == (botapp.mode == "webhook")


async def test_shutdown_keeps_to_its_deadline_and_closes_the_pools(botapp: Any) -> None:
    botapp.core.delay = 3.0  # longer than the deadline
    user = botapp.emulator.user(1010, first_name="Ju", language_code="en")
    await user.send("/start")
    await asyncio.wait_for(botapp.core.started.wait(), 10)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await botapp.app.stop(deadline=1.0)
    assert loop.time() - started < 2.0
    assert (botapp.app.db, botapp.app.store, botapp.app.runtime) == (None, None, None)


# --- one runtime against the emulator, without the app ------------------------------------------


@pytest.fixture(params=["aiogram", "ptb"])
async def runtime(request: pytest.FixtureRequest, emulator: Emulator) -> Any:
    """A started runtime with short request timeouts, no core attached."""
    assert emulator.base_url is not None
    started = make_runtime(
        request.param, token=emulator.token, api_url=emulator.base_url, max_concurrent_updates=4, request_timeout=0.5
    )
    await started.start()
    yield started
    await started.close()


class Sleeps:
    def __init__(self) -> None:
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


def deliverer_of(runtime: Runtime, sleep: Sleeps) -> Deliverer:
    return Deliverer(runtime._send, runtime._classify, update_id=1, sleep=sleep)  # type: ignore[attr-defined]


async def test_a_send_that_timed_out_is_not_sent_again(runtime: Runtime, emulator: Emulator) -> None:
    """A read timeout: Telegram may have delivered the message, so it must not be re-sent."""
    user = emulator.user(1101, first_name="Ka", language_code="en")
    await user.send("/start")  # the chat exists (nobody polls: the update only waits)
    emulator.fail_next(method="sendMessage", status=500, delay=1.0, times=3)
    sleeps = Sleeps()
    assert await deliverer_of(runtime, sleeps)(SendMessage(user.id, "once")) == Delivered(ok=False, error="network")
    await asyncio.sleep(1.2)  # the emulator records the call once its delayed answer is due
    assert len(emulator.calls_to("sendMessage")) == 1
    assert sleeps.slept == []


async def test_a_broadcast_steps_back_while_conversations_are_refused(runtime: Any, emulator: Emulator) -> None:
    """Conversations' 429s in two chats (the bot's own limit): a broadcast's send is not even
    made; "flood" with the time left, which the broadcaster waits out before it goes on."""
    user = emulator.user(1103, first_name="Mo", language_code="en")
    await user.send("/start")
    runtime.flood_gate.refused(5001, 3)
    runtime.flood_gate.refused(5002, 3)
    stepped_back = await runtime.send_once(SendMessage(user.id, "news"))
    assert (stepped_back.ok, stepped_back.error) == (False, "flood")
    assert 0 < stepped_back.extra["retry_after"] <= 3
    assert emulator.calls_to("sendMessage") == []
    runtime.flood_gate = FloodGate()  # the pause over
    assert (await runtime.send_once(SendMessage(user.id, "news"))).ok


async def test_an_edit_that_timed_out_is_tried_again(runtime: Runtime, emulator: Emulator) -> None:
    user = emulator.user(1102, first_name="Lu", language_code="en")
    await user.send("/start")
    deliver = deliverer_of(runtime, Sleeps())
    sent = await deliver(SendMessage(user.id, "before"))
    assert sent.ok and sent.message_id is not None
    emulator.fail_next(method="editMessageText", status=500, delay=1.0)
    assert (await deliver(EditMessage(user.id, sent.message_id, "after"))).ok
    assert emulator.conversations[user.id].bot_messages[sent.message_id].text == "after"


@pytest.mark.parametrize("name", ["aiogram", "ptb"])
async def test_a_send_that_could_not_connect_is_retried(name: RuntimeName) -> None:
    unreachable = make_runtime(
        name, token="123456:TEST", api_url=f"http://127.0.0.1:{free_port()}", max_concurrent_updates=1
    )
    sleeps = Sleeps()
    try:
        result = await deliverer_of(unreachable, sleeps)(SendMessage(1, "hello"))
    finally:
        await unreachable.close()
    assert result == Delivered(ok=False, error="network")
    assert sleeps.slept == list(NETWORK_RETRY_DELAYS)  # every retry used: nothing can have arrived


async def test_an_update_without_a_core_fails_loudly(runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    """No handler attached: logged, and the webhook path raises UpdateFailed (503, re-delivered)."""
    update = {
        "update_id": 31,
        "message": {"message_id": 1, "date": 1, "chat": PRIVATE, "from": USER, "text": "/start"},
    }
    with pytest.raises(UpdateFailed):
        await runtime.process_update(update)
    assert "update 31: no handler attached" in caplog.text
