"""``python -m bot poster``: a printable A4 poster whose QR code brings people to the bot.

Each poster run gets its own ``--source`` (``poster_berlin``, ``flyer_2027``): its QR
code opens the bot with ``/start <source>``, and ``/stats`` counts the signatures by
source. The link needs the bot's @username: ``BOT_USERNAME``, else ``getMe`` with
``BOT_TOKEN``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import click

from bot.cli.campaign import campaign_option, is_home, settings_and_campaign
from bot.cli.errors import EXIT_USAGE, Command, CommandError, usage_errors


@click.command("poster", cls=Command)
@click.option(
    "--source",
    required=True,
    help="Who this poster run is, as /stats will show it: 1-64 letters, digits, _ or - (not starting r-).",
)
@click.option(
    "--lang", default=None, help="Language of the poster (a catalog: de, ar, zh-Hant, ...) [default: DEFAULT_LOCALE]."
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The PDF to write."
)
@campaign_option
def poster(source: str, lang: str | None, output: Path, campaign_slug: str | None) -> None:
    """Write an A4 poster (title, "Sign the letter", QR code, link) for one source."""
    from bot.cli.web import _username
    from handlers.i18n import I18n, normalise_locale
    from handlers.referrals import start_link
    from web.poster import poster_pdf
    from web.routes import valid_source

    with usage_errors():
        settings, campaign = settings_and_campaign(campaign_slug)
    if not valid_source(source):
        raise CommandError(
            f"--source {source!r}: use 1-64 letters, digits, _ or - (Telegram's /start alphabet), not starting r-",
            EXIT_USAGE,
        )
    i18n = I18n(default_locale=settings.default_locale)
    locale = i18n.default_locale if lang is None else normalise_locale(lang)
    if locale not in i18n.locales:
        raise CommandError(f"--lang {lang}: no catalog; choose one of {', '.join(i18n.locales)}", EXIT_USAGE)
    home = is_home(settings, campaign)
    link = start_link(asyncio.run(_username(settings)), None if home else campaign.slug, source)
    output = output.expanduser().absolute()
    if not output.parent.is_dir():
        raise CommandError(f"cannot write {output}: no such directory {output.parent}")
    handle, name = tempfile.mkstemp(dir=output.parent, prefix=".undersign-poster-", suffix=".pdf")
    os.close(handle)
    try:
        poster_pdf(Path(name), i18n.get(locale), campaign, link)
        os.replace(name, output)
    finally:
        Path(name).unlink(missing_ok=True)
    click.echo(f"poster for {source} ({locale}) written to {output}: {link}")
