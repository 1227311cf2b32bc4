"""Prometheus counters, counted as things happen in this process (served by ``bot.metrics_http``).

Updates handled by kind, the time each took (the conversation's step, replies
included), Bot API calls by method and result (``ok``, ``flood`` for a 429,
``forbidden`` for a 403, ``bad_request``, ``network``, ...), and log lines at ERROR
and above by logger. Labels are fixed vocabularies only: no name, id, chat, text or
source ever becomes a label. Light to import: the runtimes count their calls here and
must load nothing of the conversation or the database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Counter, Histogram

log = logging.getLogger(__name__)

UPDATES = Counter("undersign_updates", "Updates handled, by kind of event", ["kind"])
STEP_SECONDS = Histogram(
    "undersign_step_seconds",
    "Time to handle one update, its replies included",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
API_CALLS = Counter("undersign_bot_api_calls", "Bot API calls for replies, by method and result", ["method", "result"])
ERRORS = Counter("undersign_log_errors", "Log lines at ERROR or above, by logger", ["logger"])

Handle = Callable[[Any, Any], Awaitable[None]]


def instrument(handle: Handle) -> Handle:
    """``handle`` (the core's), counting each update and timing it."""

    async def counted(event: Any, deliver: Any) -> None:
        kind = type(event).__name__
        started = time.perf_counter()
        try:
            await handle(event, deliver)
        finally:
            UPDATES.labels(kind).inc()
            STEP_SECONDS.labels(kind).observe(time.perf_counter() - started)

    return counted


def api_call(method: str, result: str) -> None:
    API_CALLS.labels(method, result).inc()


class _CountErrors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        ERRORS.labels(record.name.split(".")[0]).inc()  # the package: bot, handlers, storage, ...


def count_errors() -> None:
    """Count ERROR log lines from now on (once per process)."""
    root = logging.getLogger()
    if not any(isinstance(handler, _CountErrors) for handler in root.handlers):
        root.addHandler(_CountErrors())
