"""The webhook server over real HTTP: secret, JSON, bounded concurrency, timeouts, health.

These use a recording runtime so that each rule is seen in isolation; the
end-to-end webhook runs (both frameworks against the emulator) are in
``test_runtimes.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import pytest
import redis.asyncio

from bot.flood_gate import FloodGate
from bot.runtimes import BotCommand, BotInfo, Handler
from bot.webhook import SECRET_HEADER, WebhookServer, webhook_url
from handlers.replies import Delivered, Reply

SECRET = "the-secret_123"


class RecordingRuntime:
    """Just enough of a runtime: records updates, can be slowed down or made to fail."""

    name = "recording"
    flood_gate = FloodGate()

    def __init__(self) -> None:
        self.updates: list[int] = []
        self.delay = 0.0
        self.fail = False
        self.running = 0
        self.peak = 0

    def attach(self, handler: Handler) -> None: ...

    async def start(self) -> BotInfo:
        return BotInfo(1, "test_bot")

    async def run_polling(self, stop: asyncio.Event) -> None: ...

    async def process_update(self, data: dict[str, Any]) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(self.delay)
            if self.fail:
                raise RuntimeError("boom")
            self.updates.append(data["update_id"])
        finally:
            self.running -= 1

    async def set_webhook(self, url: str, secret: str, *, drop_pending: bool = False) -> None: ...

    async def delete_webhook(self, *, drop_pending: bool = False) -> None: ...

    async def set_commands(
        self, commands: Sequence[BotCommand], language_code: str | None = None, chat_id: int | None = None
    ) -> None: ...

    async def drain(self, grace: float) -> None: ...

    async def send_once(self, reply: Reply) -> Delivered:
        raise AssertionError("the webhook server never sends")

    async def close(self) -> None: ...


class Served:
    def __init__(self, server: WebhookServer, runtime: RecordingRuntime, base: str, http: aiohttp.ClientSession):
        self.server, self.runtime, self.base, self.http = server, runtime, base, http
        self.healthy = True

    async def post(self, body: Any, *, secret: str | None = SECRET, raw: bytes | None = None) -> int:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        data = raw if raw is not None else json.dumps(body).encode()
        async with self.http.post(f"{self.base}/webhook", data=data, headers=headers) as response:
            return response.status


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    runtime = RecordingRuntime()
    holder: list[Served] = []

    async def health() -> bool:
        return holder[0].healthy

    server = WebhookServer(runtime, secret=SECRET, max_concurrent_updates=2, health=health, handle_timeout=1.0)
    port = await server.start("127.0.0.1", 0, grace=5)
    async with aiohttp.ClientSession() as http:
        holder.append(Served(server, runtime, f"http://127.0.0.1:{port}", http))
        yield holder[0]
    await server.stop()


async def test_an_update_with_the_right_secret_is_handled_before_the_answer(served: Served) -> None:
    served.runtime.delay = 0.2
    assert await served.post({"update_id": 7}) == 200
    assert served.runtime.updates == [7]  # handled by the time Telegram hears 200


@pytest.mark.parametrize("secret", [None, "", "guess-1234", SECRET + "x"], ids=["missing", "empty", "wrong", "longer"])
async def test_a_wrong_or_missing_secret_is_401_and_logged_without_the_value(
    served: Served, secret: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.webhook")
    assert await served.post({"update_id": 1}, secret=secret) == 401
    assert served.runtime.updates == []
    warnings = [r for r in caplog.records if r.name == "bot.webhook"]
    assert len(warnings) == 1
    if secret:
        assert secret not in caplog.text


async def test_a_flood_of_wrong_secrets_is_one_line_then_a_summary_a_minute(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.webhook")
    statuses = [await served.post({"update_id": n}, secret="guess-1234") for n in range(20)]
    assert statuses == [401] * 20
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.webhook"]
    assert len(lines) == 1 and "127.0.0.1" in lines[0]  # the rest waits for the minute's summary


async def test_wrong_secrets_are_summarised_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bot.webhook")

    async def health() -> bool:
        return True

    server = WebhookServer(
        RecordingRuntime(), secret=SECRET, max_concurrent_updates=2, health=health, wrong_secret_log_interval=0.3
    )
    port = await server.start("127.0.0.1", 0, grace=1)
    try:
        async with aiohttp.ClientSession() as http:
            served = Served(server, RecordingRuntime(), f"http://127.0.0.1:{port}", http)
            for n in range(5):
                assert await served.post({"update_id": n}, secret="guess-1234") == 401
            await asyncio.sleep(0.45)  # the first interval ends: its summary is logged
            for n in range(3):
                assert await served.post({"update_id": n}, secret="") == 401
    finally:
        await server.stop()  # logs what is still counted
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.webhook"]
    assert len(lines) == 3, lines
    assert "request from 127.0.0.1" in lines[0]
    assert lines[1].startswith("webhook: 4 more request(s) with a wrong or missing secret token")
    assert lines[2].startswith("webhook: 3 more request(s) with a wrong or missing secret token")
    assert "guess-1234" not in caplog.text


@pytest.mark.parametrize(
    "raw", [b"not json", b"[1, 2]", b'{"no_update_id": 1}', b"\xff\xfe"], ids=["text", "list", "no-id", "bytes"]
)
async def test_what_is_not_a_json_update_is_400(served: Served, raw: bytes) -> None:
    assert await served.post(None, raw=raw) == 400
    assert served.runtime.updates == []


async def test_a_failure_answers_503_so_telegram_re_delivers(served: Served) -> None:
    served.runtime.fail = True
    assert await served.post({"update_id": 3}) == 503  # never 500: see bot/webhook.py


async def test_handling_slower_than_the_timeout_answers_503(served: Served) -> None:
    served.runtime.delay = 3
    assert await served.post({"update_id": 4}) == 503


async def test_in_flight_updates_are_bounded(served: Served) -> None:
    served.runtime.delay = 0.2
    statuses = await asyncio.gather(*(served.post({"update_id": n}) for n in range(6)))
    assert statuses == [200] * 6
    assert served.runtime.peak == 2
    assert sorted(served.runtime.updates) == list(range(6))


async def test_healthz_reports_the_services(served: Served) -> None:
    async with served.http.get(f"{served.base}/healthz") as response:
        assert (response.status, await response.json()) == (200, {"ok": True})
    served.healthy = False
    async with served.http.get(f"{served.base}/healthz") as response:
        assert (response.status, await response.json()) == (503, {"ok": False})


async def test_shutdown_lets_in_flight_updates_finish(served: Served) -> None:
    served.runtime.delay = 0.5
    request = asyncio.create_task(served.post({"update_id": 9}))
    await asyncio.sleep(0.1)
    await served.server.stop()
    assert await request == 200
    assert served.runtime.updates == [9]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://bot.example.org", "https://bot.example.org/webhook"),
        ("https://bot.example.org/", "https://bot.example.org/webhook"),
        ("https://bot.example.org/tg/hook", "https://bot.example.org/tg/hook"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/webhook"),
    ],
)
def test_webhook_url_gets_a_path_only_when_it_has_none(given: str, expected: str) -> None:
    assert webhook_url(given) == expected


# --- the running bot (both runtimes, webhook mode, against the emulator) -----------------------


def start_update(sender: dict[str, Any], update_id: int) -> dict[str, Any]:
    """A "/start" update as Telegram would POST it (and re-POST it after a failure)."""
    chat = {"id": sender["id"], "type": "private", "first_name": sender["first_name"]}
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": chat,
            "from": sender,
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


async def test_the_running_bot_refuses_updates_without_its_secret(start_webhook_bot: Any) -> None:
    bot = await start_webhook_bot()
    update = {"update_id": 1, "message": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}}}
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {SECRET_HEADER: "not-the-secret"}):
            async with http.post(f"{bot.webhook_base}/webhook", json=update, headers=headers) as response:
                assert response.status == 401
    assert bot.core.events == []


async def test_a_re_delivered_update_is_handled_once(start_webhook_bot: Any) -> None:
    """Telegram re-delivers after a timeout or non-2xx: the second copy must change nothing."""
    bot = await start_webhook_bot(core="real")
    user = bot.emulator.user(2001, first_name="Ada", language_code="en")
    update = start_update(user.to_json(), 777001)
    headers = {SECRET_HEADER: bot.settings.webhook_secret.get_secret_value()}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{bot.webhook_base}/webhook", json=update, headers=headers) as response:
            assert response.status == 200
        sent_once = len(bot.emulator.calls_to("sendMessage"))
        assert sent_once >= 1
        async with http.post(f"{bot.webhook_base}/webhook", json=update, headers=headers) as response:
            assert response.status == 200
    assert len(bot.emulator.calls_to("sendMessage")) == sent_once


async def test_the_running_bot_reports_its_health(start_webhook_bot: Any) -> None:
    bot = await start_webhook_bot()
    async with aiohttp.ClientSession() as http, http.get(f"{bot.webhook_base}/healthz") as response:
        assert (response.status, await response.json()) == (200, {"ok": True})


@pytest.mark.redis
async def test_two_workers_sharing_redis_handle_a_re_delivered_update_once(
    start_webhook_bot: Any, database_url: str, redis_url: str, state_prefix: str
) -> None:
    """Several workers behind one webhook: the same update reaching two of them at once."""
    shared = {"core": "real", "database_url": database_url, "redis_url": redis_url, "redis_prefix": state_prefix}
    first, second = await start_webhook_bot(**shared), await start_webhook_bot(**shared)
    user = first.emulator.user(2002, first_name="Ada", language_code="en")
    update = start_update(user.to_json(), 777002)
    headers = {SECRET_HEADER: first.settings.webhook_secret.get_secret_value()}
    try:
        async with aiohttp.ClientSession() as http:

            async def deliver(base: str) -> int:
                async with http.post(f"{base}/webhook", json=update, headers=headers) as response:
                    return response.status

            statuses = await asyncio.gather(deliver(first.webhook_base), deliver(second.webhook_base))
            assert list(statuses) == [200, 200]
        assert len(first.emulator.calls_to("sendMessage")) == 1
    finally:
        client = redis.asyncio.Redis.from_url(redis_url)
        keys = [key async for key in client.scan_iter(match=f"{state_prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_a_core_failure_is_answered_503_and_the_re_delivery_is_handled(start_webhook_bot: Any) -> None:
    """A failure that escapes the core must not lose the update: no 2xx, Telegram re-delivers,
    the retry succeeds. (The stand-in core raises; the real core catches a failing step itself,
    apologises to the user and the update is answered 200, see ``bot/webhook.py``.)"""
    bot = await start_webhook_bot()
    bot.core.failures = 1
    user = bot.emulator.user(2003, first_name="Ada", language_code="en")
    await user.send("/start")
    assert (await user.wait_message(timeout=10)).text == "command:start args="
    async with asyncio.timeout(5):  # the 200 is recorded once our answer reaches the emulator
        while len(bot.emulator.deliveries) < 2:  # noqa: ASYNC110 - the emulator offers no event for it
            await asyncio.sleep(0.01)
    assert [attempt.status for attempt in bot.emulator.deliveries] == [503, 200]


async def test_an_update_the_framework_cannot_parse_is_answered_200_and_logged_once(
    start_webhook_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """It will never parse: re-delivering it would loop forever. One warning, no content."""
    caplog.set_level(logging.INFO)
    bot = await start_webhook_bot()
    sender = {"id": 2004, "is_bot": False, "first_name": {"name": "Zhanna Secretname"}}
    message = {
        "message_id": 1,
        "date": 1_700_000_000,
        "chat": {"id": 2004, "type": "private"},
        "from": sender,
        "text": "my private words",
    }
    update_id = bot.emulator.post_update("message", message, chat_id=2004)
    async with asyncio.timeout(5):
        while not bot.emulator.deliveries:  # noqa: ASYNC110 - the emulator offers no event for it
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)  # time for a re-delivery, if there were to be one
    assert [attempt.status for attempt in bot.emulator.deliveries] == [200]
    assert bot.core.events == []
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [f"update {update_id}: malformed update ignored"]
    assert "Secretname" not in caplog.text and "my private words" not in caplog.text
    assert "input_value" not in caplog.text


# --- no request makes a 500 or a traceback (raw HTTP against the running bot) ------------------


async def _raw(base: str, request: bytes) -> int:
    """Send ``request`` as raw bytes over one connection; the status of the answer (0: none)."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(10):
            line = await reader.readline()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    parts = line.split()
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0


def _post(
    secret: bytes | None, body: bytes, *, content_type: bytes = b"application/json", length: bool = True
) -> bytes:
    head = b"POST /webhook HTTP/1.1\r\nHost: bot\r\nConnection: close\r\nContent-Type: " + content_type + b"\r\n"
    if secret is not None:
        head += SECRET_HEADER.encode() + b": " + secret + b"\r\n"
    if length:
        head += b"Content-Length: " + str(len(body)).encode() + b"\r\n"
    return head + b"\r\n" + body


def _update(**fields: Any) -> bytes:
    return json.dumps({"update_id": 880001, **fields}).encode()


async def test_no_request_makes_a_500_or_a_traceback(start_webhook_bot: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Against the running bot with the real core; the log is read as the bot configures it (its
    own loggers down to DEBUG, the libraries' from INFO: ``bot.logs``)."""
    caplog.set_level(logging.INFO)
    for own in ("bot", "handlers", "storage"):
        caplog.set_level(logging.DEBUG, logger=own)
    bot = await start_webhook_bot(core="real")
    base = bot.webhook_base
    right = bot.settings.webhook_secret.get_secret_value().encode()
    message = {"message_id": 1, "date": 1_700_000_000, "chat": {"id": 7001, "type": "private"}, "text": "hi"}
    sender = {"id": 7001, "is_bot": False, "first_name": "Ada"}
    cases: list[tuple[str, bytes, set[int]]] = [
        # The secret header, of any bytes, that is not the secret.
        ("non-UTF-8 secret", _post(b"\xff\xfe\x80" + right, _update()), {401}),
        ("non-ASCII secret", _post("sécret-ключ".encode(), _update()), {401}),
        ("Latin-1 secret", _post(right + b"\xe9", _update()), {401}),
        ("empty secret", _post(b"", _update()), {401}),
        ("missing secret", _post(None, _update()), {401}),
        ("long secret", _post(b"x" * 8000, _update()), {401}),
        (
            "two secrets",
            _post(right, _update()).replace(
                b"\r\n\r\n", b"\r\n" + SECRET_HEADER.encode() + b": " + right + b"\r\n\r\n", 1
            ),
            {401},
        ),
        ("header beyond the parser's limit", _post(b"x" * 100_000, _update()), {400, 431}),
        # Bodies, with the right secret.
        ("100k [", _post(right, b"[" * 100_000), {400}),
        (
            "100k { inside an update",
            _post(right, b'{"update_id": 1, "x": ' + b'{"a":' * 5_000 + b"1" + b"}" * 5_001),
            {400},
        ),
        ("deep but parseable", _post(right, b'{"update_id": 1, "x": ' + b"[" * 500 + b"]" * 500 + b"}"), {400}),
        ("garbage", _post(right, bytes(range(256)) * 4), {400}),
        ("not UTF-8 JSON", _post(right, b'{"update_id": 1, "x": "\xff"}'), {400}),
        ("NaN", _post(right, b'{"update_id": 1, "x": NaN}'), {400}),
        ("huge integer", _post(right, b'{"update_id": ' + b"9" * 5000 + b"}"), {400}),
        ("boolean update_id", _post(right, b'{"update_id": true}'), {400}),
        ("not JSON content type", _post(right, _update(), content_type=b"text/plain"), {400}),
        ("huge body", _post(right, b" " * (2 * 1024 * 1024)), {413}),
        (
            "huge body, no length",
            _post(right, b"", length=False).replace(b"\r\n\r\n", b"\r\nTransfer-Encoding: chunked\r\n\r\n", 1)
            + b"%x\r\n" % (2 * 1024 * 1024)
            + b" " * (2 * 1024 * 1024)
            + b"\r\n0\r\n\r\n",
            {413},
        ),
        # Updates that parse as JSON but are nonsense to the frameworks: handled as malformed.
        ("date overflow", _post(right, _update(message={**message, "from": sender, "date": 10**30})), {200}),
        ("negative date", _post(right, _update(message={**message, "from": sender, "date": -(10**15)})), {200}),
        ("huge user id", _post(right, _update(message={**message, "from": {**sender, "id": 2**80}})), {200}),
        ("text not a string", _post(right, _update(message={**message, "from": sender, "text": [1, {"a": 2}]})), {200}),
        ("chat a list", _post(right, _update(message={**message, "chat": [1]})), {200}),
        # Not HTTP at all, wrong methods and paths.
        ("garbage request", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200) + b"\r\n\r\n", {400, 0}),
        ("bad request line", b"GET /\xff\xfe HTTP/1.1\r\nHost: bot\r\n\r\n", {400, 404}),
        ("GET /webhook", b"GET /webhook HTTP/1.1\r\nHost: bot\r\nConnection: close\r\n\r\n", {405}),
        ("PUT /webhook", _post(right, _update()).replace(b"POST", b"PUT", 1), {405}),
        ("unknown path", b"POST /admin HTTP/1.1\r\nHost: bot\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", {404}),
    ]
    for label, request, expected in cases:
        status = await _raw(base, request)
        assert status in expected, f"{label}: {status}"
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info and r.levelno > logging.DEBUG]
    messages = [r.getMessage() for r in caplog.records if r.name == "bot.webhook"]
    assert any(m.endswith("rejected (nested too deeply)") for m in messages), messages
    # Malformed HTTP: one line (then at most one summary a minute), as for wrong secrets.
    assert sum("that is not valid HTTP" in m for m in messages) == 1, messages
    assert sum("with a wrong or missing secret token" in m for m in messages) == 1, messages
    leaks = [line for line in caplog.text.splitlines() if "Ada" in line or right.decode() in line]
    assert leaks == []
    async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz") as response:
        assert response.status == 200  # still serving


async def test_a_failure_outside_the_core_is_one_line_without_a_traceback(
    start_webhook_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bot = await start_webhook_bot()
    bot.core.failures = 1
    update = start_update(bot.emulator.user(7002, first_name="Ada", language_code="en").to_json(), 880002)
    headers = {SECRET_HEADER: bot.settings.webhook_secret.get_secret_value()}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{bot.webhook_base}/webhook", json=update, headers=headers) as response:
            assert response.status == 503
        async with http.post(f"{bot.webhook_base}/webhook", json=update, headers=headers) as response:
            assert response.status == 200  # the re-delivery is handled
    assert "Traceback" not in caplog.text
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("880002" in line and "RuntimeError" in line for line in lines), lines
