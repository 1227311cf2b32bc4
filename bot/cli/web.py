"""``python -m bot web``: the campaign's page, QR code and JSON count on a server of their own.

For a bot that polls (it has no web server); in webhook mode the same routes are on
the webhook's port already. The links into Telegram need the bot's @username:
``BOT_USERNAME``, else ``getMe`` with ``BOT_TOKEN``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import click

from bot.cli.errors import EXIT_USAGE, Command, CommandError, usage_errors
from bot.cli.run import _run_loop, _secrets, _until_signalled

if TYPE_CHECKING:
    from bot.settings import Settings


async def _username(settings: Settings) -> str:
    if settings.bot_username:
        return settings.bot_username
    if settings.bot_token is None:
        raise CommandError("set BOT_USERNAME (or BOT_TOKEN, to ask Telegram): the page links to the bot", EXIT_USAGE)
    import aiohttp

    url = f"{settings.telegram_api_url.rstrip('/')}/bot{settings.token}/getMe"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session,
            session.get(url) as response,
        ):
            answer = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        raise CommandError(f"getMe failed: check BOT_TOKEN and the network ({type(error).__name__})") from None
    if not answer.get("ok"):
        raise CommandError(f"getMe failed: {answer.get('description', 'no reason given')}")
    return str(answer["result"]["username"])


async def _serve(settings: Settings, host: str, port: int, stop: asyncio.Event) -> None:
    from bot.metrics import count_errors
    from bot.metrics_http import metrics_route
    from bot.services import make_database, make_services
    from bot.site import campaign_site, serve

    db = make_database(settings, pool_size=2)
    try:
        services = make_services(settings, db, bot_username=await _username(settings))
        token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
        count_errors()
        await serve(campaign_site(services), host, port, stop, metrics=metrics_route(db, services.campaign.slug, token))
    finally:
        await db.dispose()


@click.command("web", cls=Command)
@click.option("--host", default=None, help="Address to listen on [default: WEBHOOK_LISTEN or 0.0.0.0].")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port [default: PORT or 8080].")
def web(host: str | None, port: int | None) -> None:
    """Serve the campaign's page (/c/SLUG), its QR code and its JSON count (/api/v1/campaigns/SLUG).

    Reads DATABASE_URL, CAMPAIGN, DEFAULT_LOCALE and BOT_USERNAME or BOT_TOKEN (environment or .env).
    """
    from bot.logs import protect, setup_logging
    from bot.settings import load_settings

    with usage_errors():
        settings = load_settings()
    protect(*_secrets(settings))
    setup_logging(settings.log_level, _secrets(settings), json_lines=settings.log_format == "json")
    address, number = host or settings.webhook_listen, port or settings.port
    try:
        _run_loop(_until_signalled(lambda stop: _serve(settings, address, number, stop)))
    except OSError as error:
        raise CommandError(f"cannot listen on {address}:{number} ({error.strerror or error})") from None
