"""The webhook HTTP server (aiohttp), shared by both runtimes.

Routes:

- ``POST /webhook`` — one update from Telegram. The ``X-Telegram-Bot-Api-Secret-Token``
  header must equal ``WEBHOOK_SECRET`` (compared in constant time; otherwise 401).
- ``GET /healthz`` — 200 ``{"ok": true}`` when the database and the state store
  answer, 503 otherwise (for the platform's health checks).

When we answer: **after** the update has been handled. aiogram's own webhook
handler answers first and handles in the background, so a crash or a restart
mid-update silently loses it. Here a crash, an error or a timeout means Telegram
gets no 2xx and re-delivers the update, and the core's ``update_id``
de-duplication (which forgets an update whose handling failed) makes sure a
re-delivered update that *was* handled is not handled twice. Handling is bounded
by ``HANDLE_TIMEOUT`` (below Telegram's ~60 s) so that Telegram never times out
first and re-delivers an update we are still working on.

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

HealthCheck = Callable[[], Awaitable[bool]]


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
    ) -> None:
        self._runtime = runtime
        self._secret = secret.encode()
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self._health = health
        self._handle_timeout = handle_timeout
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.app = web.Application()
        self.app.router.add_post(path, self._on_update)
        self.app.router.add_get("/healthz", self._on_health)

    async def start(self, host: str, port: int, *, grace: float = 30.0) -> int:
        """Listen on ``host:port`` (0 picks a free port) and return the bound port."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=grace)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        addresses = self._runner.addresses
        bound = int(addresses[0][1]) if addresses else port
        log.info("webhook server listening on %s:%d", host, bound)
        return bound

    async def stop(self) -> None:
        """Stop accepting, let in-flight updates finish (bounded by ``grace``), close."""
        self._closing = True
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _on_update(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            log.warning("webhook: request from %s with a wrong or missing secret token", request.remote)
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
        except UpdateFailed:  # already logged with its traceback
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
