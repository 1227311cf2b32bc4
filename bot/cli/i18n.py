"""``python -m bot i18n ...``: the translators' workflow (see ``locales/README.md``).

The tools (``bot.translations``: ``catalogs``, ``check``, ``preview``) load when a
command runs, so that ``i18n --help`` is quick.
"""

from __future__ import annotations

import asyncio

import click

from bot.cli.errors import Group


@click.group(cls=Group)
def i18n() -> None:
    """Extract, update, compile, check and preview the translation catalogs."""


@i18n.command()
def extract() -> None:
    """Collect every message of the bot and the campaign text into locales/messages.pot."""
    from bot.translations import catalogs

    path = catalogs.extract()
    click.echo(f"wrote {path.relative_to(catalogs.ROOT)}")


@i18n.command()
def update() -> None:
    """Merge messages.pot into every catalog (changed texts become fuzzy)."""
    from bot.translations import catalogs

    catalogs.update()


@i18n.command()
@click.argument("language")
def init(language: str) -> None:
    """Start a catalog for LANGUAGE (for example sw, pt_BR or zh_Hant)."""
    from bot.translations import catalogs

    catalogs.init(language)


@i18n.command(name="compile")
def compile_() -> None:
    """Build the .mo files the bot loads (the run and test commands do this)."""
    from bot.translations import catalogs

    catalogs.compile_all()


@i18n.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Fail, naming file, line and message, on any translation that would break the bot."""
    from bot.translations import catalogs
    from bot.translations.check import check_all
    from handlers.i18n import LOCALES_DIR

    problems = asyncio.run(check_all(LOCALES_DIR, catalogs.ROOT))
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"{len(problems)} problem(s) found.", err=True)
        ctx.exit(1)
    click.echo(f"All {len(catalogs.catalog_files(LOCALES_DIR))} catalogs are fine.")


@i18n.command()
def status() -> None:
    """A table: language, translated %, fuzzy, untranslated, review status."""
    from bot.translations import catalogs
    from handlers.i18n import LOCALES_DIR

    rows = catalogs.status(LOCALES_DIR)
    header = f"{'language':<24} {'translated':>10} {'fuzzy':>6} {'untranslated':>12}  review status"
    click.echo(header)
    click.echo("-" * len(header))
    for row in rows:
        label = f"{row.locale} ({row.name})"
        click.echo(f"{label:<24} {row.percent:>9.0f}% {row.fuzzy:>6} {row.untranslated:>12}  {row.review}")


@i18n.command()
@click.argument("language")
def preview(language: str) -> None:
    """Print the whole conversation in LANGUAGE, from /start to withdrawal, as plain text."""
    from bot.translations.preview import format_exchanges, rehearse
    from handlers.i18n import LOCALES_DIR, I18n

    if language not in I18n(LOCALES_DIR).locales:
        raise click.BadParameter(f"no catalog for {language!r}; see `python -m bot i18n status`")
    click.echo(format_exchanges(asyncio.run(rehearse(language))))
