"""Wiring the campaign's web page (``web``) to the bot's services, and serving it on its own.

In webhook mode the page shares the webhook server's port (``bot.app``); a bot that
polls has no server, so ``python -m bot web`` (``serve``) runs one with the page,
the JSON count, ``/healthz`` and ``/metrics``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from storage.signatures import count_signatures
from web.count import KeptCount
from web.routes import CampaignSite, CampaignSites

if TYPE_CHECKING:
    from handlers.turn import Services

log = logging.getLogger("bot.site")
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


def campaign_site(services: Services) -> CampaignSites:
    """The pages and counts of every live campaign (the home one first), each counted from the
    kept counts every few seconds, and the list of them."""
    sites = []
    for campaign in services.all_campaigns():
        count = KeptCount(_counter(services, campaign.slug))
        home = campaign.slug == services.campaign.slug
        sites.append(CampaignSite(campaign, services.i18n, count, services.bot_username, home=home))
    return CampaignSites(sites)


def _counter(services: Services, slug: str) -> Callable[[], Awaitable[int]]:
    db = services.db
    return lambda: count_signatures(db, slug)


async def serve(
    site: CampaignSite | CampaignSites, host: str, port: int, stop: asyncio.Event, *, metrics: Route | None = None
) -> None:
    """Serve ``site``, ``/healthz`` and (given) ``/metrics`` on ``host:port`` until ``stop`` is set."""
    app = web.Application()
    site.add_to(app)
    if metrics is not None:
        app.router.add_get("/metrics", metrics)

    async def health(_request: web.Request) -> web.Response:
        try:
            for count in site.counts():
                await count.get()
        except Exception as error:  # the database is down: say so, as the bot's /healthz does
            log.warning("health check: the database does not answer (%s)", type(error).__name__)
            return web.json_response({"ok": False}, status=503)
        if any(count.failing for count in site.counts()):  # the page shows the last count, the database is away
            return web.json_response({"ok": False}, status=503)
        return web.json_response({"ok": True})

    app.router.add_get("/healthz", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        listening = web.TCPSite(runner, host, port)
        await listening.start()
        log.info("campaign pages at http://%s:%d/c/", host, port)
        await stop.wait()
    finally:
        await runner.cleanup()
