"""The webhook HTTP server (aiohttp), shared by both runtimes.

Routes:

- ``POST /webhook`` — one update from Telegram. The ``X-Telegram-Bot-Api-Secret-Token``
  header must equal ``WEBHOOK_SECRET`` (compared in constant time; otherwise 401).
  Wrong secrets are logged once with the caller's address, then summarised at
  most once a minute, so that nobody can flood the log.
- ``GET /healthz`` — 200 ``{"ok": true}`` when the database and the state store
  answer, 503 otherwise (for the platform's health checks).

When we answer: **after** the update has been handled (aiogram's own webhook
handler answers first and handles in the background, so a crash or a restart
mid-update silently loses it). What Telegram hears:

- 200 when the update was handled. That includes a step of the conversation that
  failed: the core (``handlers.core``) catches every exception of a step, logs it
  once and answers the user with a kind apology, and the update counts as handled.
  It is NOT re-delivered: the user was already told to try again, and a late
  re-delivery would surprise them. 200 also for an update that can never be
  handled (one the framework cannot parse): it is logged once and dropped.
- 500 when handling failed outside the core — the framework could not dispatch
  the update, no core is attached, the handler itself raised — and 503 when the
  process is shutting down or the update was not handled within
  ``HANDLE_TIMEOUT``. Telegram re-delivers the update later, and the core's
  ``update_id`` de-duplication (which forgets an update whose step failed) makes
  sure a re-delivered update that *was* handled is not handled twice.

Handling is bounded by ``HANDLE_TIMEOUT`` (below Telegram's ~60 s) so that
Telegram never times out first and re-delivers an update we are still working
on; the delivery policy's flood-control budget per update
(``bot.delivery.FLOOD_BUDGET``) fits well within it.

In-flight updates are bounded by a semaphore of ``MAX_CONCURRENT_UPDATES``
(webhook handlers have no limit of their own; waiting for a slot counts towards
the timeout). On shutdown the listening socket closes first, then in-flight
updates get ``grace`` seconds to finish.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.runtimes.base import Runtime, UpdateFailed

log = logging.getLogger("bot.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
WEBHOOK_PATH = "/webhook"
HANDLE_TIMEOUT = 45.0  # Telegram waits about 60 s before it re-delivers
WRONG_SECRET_LOG_INTERVAL = 60.0  # at most one line about wrong secrets per this many seconds

HealthCheck = Callable[[], Awaitable[bool]]


class _WrongSecretLog:
    """The first wrong secret is logged with the caller's address; after that, at most one
    summary line per ``interval`` ("N requests with a wrong secret in the last minute")."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._quiet_until = 0.0  # no individual line before this (loop time)
        self._suppressed = 0
        self._summary: asyncio.TimerHandle | None = None

    def record(self, remote: str | None) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() >= self._quiet_until and self._summary is None:
            log.warning("webhook: request from %s with a wrong or missing secret token", remote)
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
            "webhook: %d more request(s) with a wrong or missing secret token in the last %s",
            self._suppressed,
            "minute" if self._interval == 60 else f"{self._interval:g} s",
        )
        self._suppressed = 0
        self._quiet_until = asyncio.get_running_loop().time() + self._interval


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
        self._secret = secret.encode()
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self._health = health
        self._handle_timeout = handle_timeout
        self._closing = False
        self._grace = 30.0
        self._wrong_secrets = _WrongSecretLog(wrong_secret_log_interval)
        self._runner: web.AppRunner | None = None
        self.app = web.Application()
        self.app.router.add_post(path, self._on_update)
        self.app.router.add_get("/healthz", self._on_health)

    async def start(self, host: str, port: int, *, grace: float = 30.0) -> int:
        """Listen on ``host:port`` (0 picks a free port) and return the bound port."""
        self._grace = grace
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
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
        if self._runner is not None:
            # aiohttp reads the bound of its graceful shutdown from here when cleaning up (its
            # sites set it the same way; there is no public setter). It waits that long twice,
            # for the handlers to finish and then for them to stop, hence the half; 0 would mean
            # "no bound" there, hence the floor.
            self._runner._shutdown_timeout = max((self._grace if grace is None else grace) / 2, 0.01)
            await self._runner.cleanup()
            self._runner = None

    async def _on_update(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            self._wrong_secrets.record(request.remote)
            return web.Response(status=401, text="unauthorized")
        if self._closing:
            return web.Response(status=503, text="shutting down")  # Telegram retries elsewhere/later
        try:
            if request.content_type != "application/json":
                raise ValueError(request.content_type)
            data = json.loads(await request.read())
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update")
        except ValueError:  # includes json.JSONDecodeError and UnicodeDecodeError
            log.warning("webhook: request that is not a JSON update rejected")
            return web.Response(status=400, text="expected a JSON update")

        update_id = data["update_id"]
        try:
            async with asyncio.timeout(self._handle_timeout), self._slots:
                await self._runtime.process_update(data)
        except TimeoutError:
            log.warning(
                "update %s: not handled within %ss; Telegram will re-deliver it",
                update_id,
                self._handle_timeout,
            )
            return web.Response(status=503, text="timeout")
        except UpdateFailed:  # a failure outside the core, already logged by the runtime
            log.warning("update %s: failed; Telegram will re-deliver it", update_id)
            return web.Response(status=500, text="error")
        except Exception:
            log.exception("update %s: failed; Telegram will re-deliver it", update_id)
            return web.Response(status=500, text="error")
        return web.Response(status=200, text="ok")

    async def _on_health(self, request: web.Request) -> web.Response:
        try:
            ok = await asyncio.wait_for(self._health(), timeout=5)
        except Exception:
            ok = False
        return web.json_response({"ok": ok}, status=200 if ok else 503)
