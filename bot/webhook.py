"""The webhook HTTP server (aiohttp), shared by both runtimes.

Routes:

- ``POST /webhook`` — one update from Telegram. The ``X-Telegram-Bot-Api-Secret-Token``
  header must equal ``WEBHOOK_SECRET``, compared as raw bytes in constant time (their
  SHA-256 digests, so not even the length leaks); anything else (missing, empty, not
  UTF-8, repeated, too long) is 401. Wrong secrets are logged once with the caller's
  address, then summarised at most once a minute, so that nobody can flood the log.
- ``GET /healthz`` — 200 ``{"ok": true}`` when the database and the state store
  answer, 503 otherwise (for the platform's health checks).
- Anything else: 404 (unknown path) or 405 (wrong method), from aiohttp's router.

No request can produce a 500 or a traceback in the log: the secret is checked
before the body is read; a body over ``MAX_BODY`` (1 MiB, far above any update
Telegram sends) is 413; a body that is not a JSON object with an integer
``update_id`` (not JSON, not UTF-8, ``NaN``, nested deeper than ``MAX_DEPTH``
levels — Telegram's updates nest about ten — such as 100,000 ``[``) is 400 with one
warning line. An HTTP request aiohttp itself cannot parse (bad request line,
header over 8 KB) is 400 from aiohttp, and its log line is one throttled warning
with the error's type, never a traceback. Whatever else escapes a handler is 503
and one warning line with its type and the update id (``LOG_LEVEL=DEBUG`` adds the
traceback): a traceback's message can quote the input, i.e. names and message text.

When we answer: **after** the update has been handled (aiogram's own webhook
handler answers first and handles in the background, so a crash or a restart
mid-update silently loses it). What Telegram hears:

- 200 when the update was handled, its body the update's ``answerCallbackQuery`` as
  a method call when there is one (``bot.delivery.WebhookAnswer``). That includes a
  step of the conversation that failed: the core (``handlers.core``) catches every
  exception of a step, logs it once and answers the user with a kind apology, and the
  update counts as handled.
  It is NOT re-delivered: the user was already told to try again, and a late
  re-delivery would surprise them. 200 also for a JSON update that is malformed
  (``bot.runtimes.translation``: it never will be handled): it is logged once and
  dropped. (Unlike the 400s above, which Telegram never causes, re-delivering it
  would loop.) The runtime translates the parsed body directly into the core's
  event; no framework parses it again.
- 503 when handling failed outside the core — no core is attached, the handler
  itself raised — when the process
  is shutting down, and when the update was not handled within ``HANDLE_TIMEOUT``.
  Telegram re-delivers on any non-2xx; 503 ("try again later") rather than 500
  says what we mean, and the core's ``update_id`` de-duplication (which forgets an
  update whose step failed) makes sure a re-delivered update that *was* handled is
  not handled twice.

Handling is bounded by ``HANDLE_TIMEOUT`` (below Telegram's ~60 s) so that
Telegram never times out first and re-delivers an update we are still working
on; the delivery policy's flood-control budget per update
(``bot.call_policy.FLOOD_BUDGET``) fits well within it.

In-flight updates are bounded by a semaphore of ``MAX_CONCURRENT_UPDATES``
(webhook handlers have no limit of their own; waiting for a slot counts towards
the timeout). On shutdown the listening socket closes first, then in-flight
updates get ``grace`` seconds to finish.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.runtimes.contract import Runtime, UpdateFailed

log = logging.getLogger("bot.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
_SECRET_HEADER_BYTES = SECRET_HEADER.lower().encode("ascii")
MAX_BODY = 1024 * 1024  # bytes; Telegram's updates are a few KB
MAX_DEPTH = 64  # nesting levels of JSON arrays and objects; Telegram's updates have about ten
WEBHOOK_PATH = "/webhook"
HANDLE_TIMEOUT = 45.0  # Telegram waits about 60 s before it re-delivers
WRONG_SECRET_LOG_INTERVAL = 60.0  # at most one line about wrong secrets per this many seconds

HealthCheck = Callable[[], Awaitable[bool]]
_UPDATE_ID = web.RequestKey("update_id", int)  # for the one line about a failure
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _ThrottledLog:
    """The first event is logged with the caller's address; after that, at most one summary
    line per ``interval`` ("N more … in the last minute")."""

    def __init__(self, interval: float, what: str) -> None:
        self._interval = interval
        self._what = what  # "with a wrong or missing secret token"
        self._quiet_until = 0.0  # no individual line before this (loop time)
        self._suppressed = 0
        self._summary: asyncio.TimerHandle | None = None

    def record(self, remote: str | None, detail: str = "") -> None:
        loop = asyncio.get_running_loop()
        if loop.time() >= self._quiet_until and self._summary is None:
            log.warning("webhook: request from %s %s%s", remote, self._what, detail)
            self._quiet_until = loop.time() + self._interval
            return
        self._suppressed += 1
        if self._summary is None:
            self._summary = loop.call_at(self._quiet_until, self.flush)

    def flush(self) -> None:
        """Log the summary of the requests not logged yet, if any."""
        if self._summary is not None:
            self._summary.cancel()
            self._summary = None
        if not self._suppressed:
            return
        log.warning(
            "webhook: %d more request(s) %s in the last %s",
            self._suppressed,
            self._what,
            "minute" if self._interval == 60 else f"{self._interval:g} s",
        )
        self._suppressed = 0
        self._quiet_until = asyncio.get_running_loop().time() + self._interval


class _ServerLog:
    """What aiohttp's server logs, as its ``logger``: a request it could not parse (or a
    connection that broke) would be an ERROR with a traceback, which anyone could fill the log
    with. It becomes one throttled warning with the error's type; debug lines stay debug."""

    def __init__(self, throttled: _ThrottledLog) -> None:
        self._throttled = throttled

    def debug(self, message: str, *args: Any, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        log.debug(
            "webhook: " + message + (f" ({type(error).__name__})" if isinstance(error, BaseException) else ""), *args
        )

    def exception(self, message: str, *args: Any, exc_info: Any = None, **kwargs: Any) -> None:
        error = exc_info if isinstance(exc_info, BaseException) else None
        remote = args[0] if args and isinstance(args[0], str) else None
        self._throttled.record(remote, f" ({type(error).__name__})" if error is not None else "")

    error = exception
    warning = exception


def _depth_within(data: Any, limit: int) -> bool:
    """Whether JSON data nests no deeper than ``limit`` arrays/objects (iteratively: no recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def webhook_url(base: str) -> str:
    """``WEBHOOK_URL`` as given if it has a path, else with ``/webhook`` appended."""
    rest = base.split("://", 1)[-1]
    return base if "/" in rest.rstrip("/") else base.rstrip("/") + WEBHOOK_PATH


class WebhookServer:
    def __init__(
        self,
        runtime: Runtime,
        *,
        secret: str,
        max_concurrent_updates: int,
        health: HealthCheck,
        path: str = WEBHOOK_PATH,
        handle_timeout: float = HANDLE_TIMEOUT,
        wrong_secret_log_interval: float = WRONG_SECRET_LOG_INTERVAL,
    ) -> None:
        self._runtime = runtime
        self._secret_digest = hashlib.sha256(secret.encode()).digest()
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self._health = health
        self._handle_timeout = handle_timeout
        self._closing = False
        self._grace = 30.0
        self._wrong_secrets = _ThrottledLog(wrong_secret_log_interval, "with a wrong or missing secret token")
        self._bad_http = _ThrottledLog(wrong_secret_log_interval, "that is not valid HTTP")
        self._runner: web.AppRunner | None = None
        self.app = web.Application(client_max_size=MAX_BODY, middlewares=[self._never_a_traceback])
        self.app.router.add_post(path, self._on_update)
        self.app.router.add_get("/healthz", self._on_health)

    async def start(self, host: str, port: int, *, grace: float = 30.0, reuse_port: bool = False) -> int:
        """Listen on ``host:port`` (0 picks a free port) and return the bound port. With
        ``reuse_port`` (``SO_REUSEPORT``), several worker processes listen on the same port and
        the kernel spreads the incoming connections among them."""
        self._grace = grace
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            logger=_ServerLog(self._bad_http),  # duck-typed: the calls aiohttp makes
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_port=reuse_port or None)
        await site.start()
        addresses = self._runner.addresses
        bound = int(addresses[0][1]) if addresses else port
        log.info("webhook server listening on %s:%d", host, bound)
        return bound

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting, let in-flight updates finish (at most ``grace`` seconds, by default
        the ``grace`` given to ``start``), close."""
        self._closing = True
        self._wrong_secrets.flush()
        self._bad_http.flush()
        if self._runner is not None:
            # aiohttp reads the bound of its graceful shutdown from here when cleaning up (its
            # sites set it the same way; there is no public setter). It waits that long twice,
            # for the handlers to finish and then for them to stop, hence the half; 0 would mean
            # "no bound" there, hence the floor.
            self._runner._shutdown_timeout = max((self._grace if grace is None else grace) / 2, 0.01)
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _never_a_traceback(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Whatever escapes a handler is 503 and one line with its type, never a 500 with a
        traceback (its message could quote the input). aiohttp's own answers (404, 405, 413)
        pass through."""
        try:
            return await handler(request)
        except (web.HTTPException, asyncio.CancelledError):
            raise
        except Exception as error:
            update_id = request.get(_UPDATE_ID)
            log.warning(
                "webhook: update %s failed outside the core (%s); answered 503", update_id, type(error).__name__
            )
            log.debug("webhook: the failure of update %s", update_id, exc_info=True)
            return web.Response(status=503, text="error")

    def _secret_matches(self, request: web.Request) -> bool:
        """The header's raw bytes (whatever they are) against the secret, in constant time."""
        given = [value for name, value in request.raw_headers if name.lower() == _SECRET_HEADER_BYTES]
        digest = hashlib.sha256(given[0] if len(given) == 1 else b"").digest()
        return hmac.compare_digest(digest, self._secret_digest) and len(given) == 1

    async def _on_update(self, request: web.Request) -> web.Response:
        if not self._secret_matches(request):
            self._wrong_secrets.record(request.remote)
            return web.Response(status=401, text="unauthorized")
        if self._closing:
            return web.Response(status=503, text="shutting down")  # Telegram retries elsewhere/later
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
        body = await request.read()  # over MAX_BODY without a Content-Length: 413 from aiohttp
        try:
            if request.content_type != "application/json":
                raise ValueError(request.content_type)
            data = json.loads(body, parse_constant=_no_constant)
            if not isinstance(data, dict) or type(data.get("update_id")) is not int:
                raise ValueError("not an update")
            if not _depth_within(data, MAX_DEPTH):
                raise RecursionError("nested too deeply")
        except RecursionError:  # json raises it past the interpreter's recursion limit, we before
            log.warning("webhook: request that is not a JSON update rejected (nested too deeply)")
            return web.Response(status=400, text="expected a JSON update")
        except ValueError:  # includes json.JSONDecodeError and UnicodeDecodeError
            log.warning("webhook: request that is not a JSON update rejected")
            return web.Response(status=400, text="expected a JSON update")

        update_id = request[_UPDATE_ID] = data["update_id"]
        try:
            async with asyncio.timeout(self._handle_timeout), self._slots:
                answer = await self._runtime.process_update(data)
        except TimeoutError:
            log.warning(
                "update %s: not handled within %ss; Telegram will re-deliver it",
                update_id,
                self._handle_timeout,
            )
            return web.Response(status=503, text="timeout")
        except UpdateFailed:  # a failure outside the core, already logged by the runtime
            log.warning("update %s: failed; Telegram will re-deliver it", update_id)
            return web.Response(status=503, text="error")
        except Exception as error:
            log.warning("update %s: failed (%s); Telegram will re-deliver it", update_id, type(error).__name__)
            log.debug("update %s: the failure", update_id, exc_info=True)
            return web.Response(status=503, text="error")
        if answer is not None:  # Telegram makes this call for us: one request of ours fewer
            return web.json_response(answer)
        return web.Response(status=200, text="ok")

    async def _on_health(self, request: web.Request) -> web.Response:
        try:
            ok = await asyncio.wait_for(self._health(), timeout=5)
        except Exception:
            ok = False
        return web.json_response({"ok": ok}, status=200 if ok else 503)
