"""The web routes: ``GET /c/<slug>`` (the page), ``/c/<slug>/qr.svg``, the embeddable
``/c/<slug>/widget`` with its ``widget.js`` and ``embed.js``, and ``/api/v1/campaigns/<slug>``,
for every live campaign (``CampaignSites``); ``GET /c/`` lists them, the open ones first.

The page's ``?s=`` names the source (a poster, a partner's site) that the "Sign"
link and the QR code carry into the bot as ``/start <source>``, so each is counted
in ``/stats``; without one, the source is ``web``. Only what Telegram accepts as a
start payload is kept, and never the ``r-`` prefix of a signer's share link. The
language is ``?lang=``, else the browser's ``Accept-Language``, else the bot's default.

The JSON count is open to any site (CORS ``*``), cacheable for a few seconds, and
carries an ``ETag`` (a browser or proxy asking again gets 304 while nothing changed).
Neither route reads the database per request: ``KeptCount`` does, every few seconds.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import urlencode

from aiohttp import web

from handlers.i18n import I18n, language_name
from handlers.referrals import PAYLOAD, PREFIX, start_link
from petition.campaign import Campaign
from web.count import Count, KeptCount
from web.page import IndexEntry, Language, Snippets, language_tag, render_index, render_page
from web.qr import qr_svg
from web.widget import EMBED_JS, WIDGET_JS, colours, count_text, every, render_widget

DEFAULT_SOURCE = "web"
CACHE_SECONDS = 5
SECURITY_HEADERS = {
    # Nothing runs, nothing is fetched but our own QR code; no page may frame this one.
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


# The widget is made to be framed by other sites, and runs its own script (and only that).
WIDGET_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; connect-src 'self'; "
    "style-src 'unsafe-inline'; frame-ancestors *",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
Handler = Callable[[web.Request], Awaitable[web.Response]]


def _origin(request: web.Request) -> str:
    """The address visitors reached us at (behind a proxy that terminates HTTPS, as it says)."""
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    return f"{scheme if scheme in ('http', 'https') else 'https'}://{request.host}"


def valid_source(source: str) -> bool:
    """Whether Telegram carries ``source`` as a start payload and it is not a share link's."""
    return bool(PAYLOAD.fullmatch(source)) and not source.startswith(PREFIX)


def source_of(request: web.Request) -> str:
    """The page's ``?s=`` if it is a valid source, else ``web``."""
    source = request.query.get("s", "")
    return source if valid_source(source) else DEFAULT_SOURCE


def accepted_languages(header: str) -> list[str]:
    """``Accept-Language`` as language tags, most wanted first (``*`` and q=0 left out)."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, parameters = part.strip().partition(";")
        quality = 1.0
        if parameters.strip().startswith("q="):
            try:
                quality = float(parameters.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(weighted)]


class CampaignSite:
    """The routes of one campaign; everything they need is given here (``bot`` wires it)."""

    def __init__(
        self, campaign: Campaign, i18n: I18n, count: KeptCount, bot_username: str, *, home: bool = True
    ) -> None:
        self.campaign = campaign
        self.i18n = i18n
        self.count = count
        self.bot_username = bot_username
        self.home = home  # the home campaign's links carry no campaign (``handlers.referrals``)

    def counts(self) -> list[KeptCount]:
        return [self.count]

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/c/{slug}", self.page)
        app.router.add_get("/c/{slug}/qr.svg", self.qr)
        app.router.add_get("/c/{slug}/widget", self.widget)
        app.router.add_get("/c/{slug}/widget.js", self.script(WIDGET_JS))
        app.router.add_get("/c/{slug}/embed.js", self.script(EMBED_JS))
        app.router.add_get("/api/v1/campaigns/{slug}", self.api)

    def _check(self, request: web.Request) -> None:
        if request.match_info["slug"] != self.campaign.slug:
            raise web.HTTPNotFound(text="no such campaign")

    def link(self, source: str) -> str:
        return start_link(self.bot_username, None if self.home else self.campaign.slug, source)

    def locale(self, request: web.Request) -> str:
        asked = request.query.get("lang")
        for tag in [asked] if asked else accepted_languages(request.headers.get("Accept-Language", "")):
            locale = self.i18n.match(tag)
            if locale.split("_")[0] == tag.replace("-", "_").split("_")[0].lower():
                return locale
        return self.i18n.default_locale

    async def _visit(self, request: web.Request) -> tuple[str, str, Count]:
        """What the page and the widget both start from: the source, the language, the count."""
        self._check(request)
        return source_of(request), self.locale(request), await self.count.get()

    async def page(self, request: web.Request) -> web.Response:
        source, locale, count = await self._visit(request)
        base = f"/c/{self.campaign.slug}"
        languages = [
            Language(code, language_name(code), f"{base}?{urlencode({'lang': code, 's': source})}")
            for code in self.i18n.locales
        ]
        here = f"{_origin(request)}{base}"
        widget = f"{here}/widget?{urlencode({'lang': language_tag(locale), 's': source})}"
        snippets = Snippets(
            iframe=f'<iframe src="{html.escape(widget)}" title="{html.escape(self.campaign.title)}" loading="lazy" '
            'style="border:0;width:100%;height:11rem"></iframe>',
            script=f'<script src="{here}/embed.js" data-lang="{language_tag(locale)}" data-source="{source}" '
            'data-accent="ffd100" async></script>',
        )
        body = render_page(
            self.i18n.get(locale),
            self.campaign,
            count=count.value,
            link=self.link(source),
            qr_url=f"{base}/qr.svg?{urlencode({'s': source})}",
            languages=languages,
            snippets=snippets,
        )
        # The snippets name the address the page was reached at: a shared cache keeps one per scheme.
        vary = "Accept-Language, X-Forwarded-Proto"
        headers = {**SECURITY_HEADERS, "Cache-Control": f"public, max-age={CACHE_SECONDS}", "Vary": vary}
        return web.Response(text=body, content_type="text/html", headers=headers)

    async def widget(self, request: web.Request) -> web.Response:
        """The count for an ``<iframe>`` on any site: the one route here any page may frame."""
        source, locale, count = await self._visit(request)
        base = f"/c/{self.campaign.slug}"
        body = render_widget(
            self.i18n.get(locale),
            self.campaign,
            count=count.value,
            link=self.link(source),
            api=f"/api/v1/campaigns/{self.campaign.slug}?{urlencode({'lang': language_tag(locale)})}",
            script=f"{base}/widget.js",
            chosen=colours(dict(request.query)),
            seconds=every(dict(request.query)),
        )
        headers = {**WIDGET_HEADERS, "Cache-Control": f"public, max-age={CACHE_SECONDS}", "Vary": "Accept-Language"}
        return web.Response(text=body, content_type="text/html", headers=headers)

    def script(self, code: str) -> Handler:
        async def serve_script(request: web.Request) -> web.Response:
            self._check(request)
            headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
            return web.Response(text=code, content_type="application/javascript", headers=headers)

        return serve_script

    async def qr(self, request: web.Request) -> web.Response:
        self._check(request)
        headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=86400"}
        return web.Response(body=qr_svg(self.link(source_of(request))), content_type="image/svg+xml", headers=headers)

    async def api(self, request: web.Request) -> web.Response:
        cors = {"Access-Control-Allow-Origin": "*", "X-Content-Type-Options": "nosniff"}
        if request.match_info["slug"] != self.campaign.slug:
            return web.json_response({"error": "no such campaign"}, status=404, headers=cors)
        count = await self.count.get()
        asked = request.query.get("lang")
        words = {"count_text": count_text(self.i18n.get(self.locale(request)), count.value)} if asked else {}
        body = json.dumps(
            {
                "slug": self.campaign.slug,
                "title": self.campaign.title,
                "count": count.value,
                "goal": self.campaign.goal,
                "languages": [language_tag(code) for code in self.i18n.locales],
                "updated": count.changed_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
                "link": self.link(DEFAULT_SOURCE),
                **words,
            },
            ensure_ascii=False,
        ).encode()
        etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'
        headers = {**cors, "Cache-Control": f"public, max-age={CACHE_SECONDS}", "ETag": etag}
        if etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, content_type="application/json", headers=headers)


class CampaignSites:
    """Every live campaign's routes under one set of paths, each request handed to its
    campaign's ``CampaignSite``, and ``GET /c/``: the campaigns, the open ones first."""

    def __init__(self, sites: Sequence[CampaignSite]) -> None:
        self.sites = {site.campaign.slug: site for site in sites}
        self.first = sites[0]  # the home campaign's: its language choice serves the list

    def counts(self) -> list[KeptCount]:
        return [site.count for site in self.sites.values()]

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/c/", self.index)
        app.router.add_get("/c/{slug}", self._to(lambda site: site.page))
        app.router.add_get("/c/{slug}/qr.svg", self._to(lambda site: site.qr))
        app.router.add_get("/c/{slug}/widget", self._to(lambda site: site.widget))
        app.router.add_get("/c/{slug}/widget.js", self._to(lambda site: site.script(WIDGET_JS)))
        app.router.add_get("/c/{slug}/embed.js", self._to(lambda site: site.script(EMBED_JS)))
        app.router.add_get("/api/v1/campaigns/{slug}", self._to(lambda site: site.api, json_404=True))

    def _to(self, handler_of: Callable[[CampaignSite], Handler], *, json_404: bool = False) -> Handler:
        """A route handing each request to its campaign's handler (``handler_of(site)``)."""

        async def route(request: web.Request) -> web.Response:
            site = self.sites.get(request.match_info["slug"])
            if site is None:
                if json_404:
                    cors = {"Access-Control-Allow-Origin": "*", "X-Content-Type-Options": "nosniff"}
                    return web.json_response({"error": "no such campaign"}, status=404, headers=cors)
                raise web.HTTPNotFound(text="no such campaign")
            return await handler_of(site)(request)

        return route

    async def index(self, request: web.Request) -> web.Response:
        locale = self.first.locale(request)
        today = datetime.now(UTC).date()  # as the bot decides it: the UTC day
        entries = []
        for site in self.sites.values():
            end, closed = site.campaign.ends, site.campaign.closed_on(today)
            url = f"/c/{site.campaign.slug}?{urlencode({'lang': language_tag(locale), 's': source_of(request)})}"
            entries.append(IndexEntry(site.campaign, (await site.count.get()).value, url, end if closed else None))
        entries.sort(key=lambda entry: entry.closed_on is not None)
        body = render_index(self.first.i18n.get(locale), entries)
        vary = "Accept-Language"
        headers = {**SECURITY_HEADERS, "Cache-Control": f"public, max-age={CACHE_SECONDS}", "Vary": vary}
        return web.Response(text=body, content_type="text/html", headers=headers)
