"""``GET /metrics`` for Prometheus: this process's counters (``bot.metrics``) and the database's figures.

Read from the database at each scrape (``storage.operations``): the signatures, the
anonymous funnel's totals per step (withdrawals and removals among them) and the
broadcast messages waiting to be sent, plus ``undersign_database_up``.

Several workers (``run --workers N``) share one port, so a scrape reaches any one of
them: ``bot.workers`` gives them one fresh ``PROMETHEUS_MULTIPROC_DIR`` and each
answers with every worker's counts added up (prometheus-client's multiprocess mode; a
restarted worker's counts stay in the sums, so counters never go backwards).
``METRICS_TOKEN``, when set, is required as ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from storage.operations import Operations, operations

if TYPE_CHECKING:
    from storage.db import Database

log = logging.getLogger(__name__)


def _process_metrics() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()


class _Snapshot:
    """The database's figures as metric families: values handed over, never stored (a
    ``Gauge`` would write them to the multiprocess files, and every worker's copy would
    come back at the next scrape)."""

    def __init__(self, now: Operations) -> None:
        self._now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self._now
        yield GaugeMetricFamily("undersign_signatures", "Signatures now (the kept count)", value=now.signatures)
        funnel = GaugeMetricFamily("undersign_funnel_people", "People who reached each step, all days", labels=["step"])
        for step, people in sorted(now.funnel.items()):
            funnel.add_metric([step], people)
        yield funnel
        yield GaugeMetricFamily(
            "undersign_broadcast_queue", "Broadcast messages waiting to be sent", value=now.queued_messages
        )


async def _database_metrics(db: Database, campaign: str) -> bytes:
    registry = CollectorRegistry()
    registry.register(_Snapshot(await operations(db, campaign)))
    return generate_latest(registry)


def metrics_route(db: Database, campaign: str, token: str | None) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The ``/metrics`` handler; with ``token``, only for ``Authorization: Bearer <token>``."""
    expected = f"Bearer {token}".encode() if token else None

    async def metrics(request: web.Request) -> web.Response:
        if expected is not None:
            given = request.headers.get("Authorization", "").encode("utf-8", "replace")
            if not hmac.compare_digest(given, expected):
                raise web.HTTPUnauthorized(text="metrics need the METRICS_TOKEN")
        try:
            stored = await _database_metrics(db, campaign)
        except Exception as error:  # the process's own counts still answer; the database is a gauge of its own
            log.warning("metrics: the database does not answer (%s)", type(error).__name__)
            stored = b"# the database did not answer\nundersign_database_up 0\n"
        else:
            stored += b"undersign_database_up 1\n"
        body = _process_metrics() + stored
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return metrics
