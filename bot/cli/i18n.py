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
    from handlers.i18n import LOCALES_DIR

    catalogs.update()
    click.echo(f"updated {len(catalogs.catalog_files(LOCALES_DIR))} catalogs from locales/messages.pot")


@i18n.command()
@click.argument("language")
def init(language: str) -> None:
    """Start a catalog for LANGUAGE (for example sw, pt_BR or zh_Hant)."""
    from bot.translations import catalogs

    path = catalogs.init(language)
    click.echo(
        f"wrote {path.relative_to(catalogs.ROOT)}: translate it in steps; signers are offered the language "
        "once TRANSLATION_THRESHOLD (90 %) of it is translated"
    )


@i18n.command(name="compile")
def compile_() -> None:
    """Build the .mo files the bot loads (the run and test commands do this)."""
    from bot.translations import catalogs
    from handlers.i18n import LOCALES_DIR

    catalogs.compile_all()
    click.echo(f"compiled {len(catalogs.catalog_files(LOCALES_DIR))} catalogs")


@i18n.command()
@click.argument("languages", nargs=-1)
@click.pass_context
def check(ctx: click.Context, languages: tuple[str, ...]) -> None:
    """Fail, naming file, line and message, on any translation that would break the bot.

    Every catalog, or only those of LANGUAGES (e.g. `check de ug`, for a translator's own).
    """
    from bot.settings import load_settings
    from bot.translations import catalogs
    from bot.translations.check import check_all
    from handlers.i18n import LOCALES_DIR

    known = [path.parent.parent.name for path in catalogs.catalog_files(LOCALES_DIR)]
    unknown = [code for code in languages if code not in known]
    if unknown:
        raise click.BadParameter(f"no catalog for {', '.join(unknown)} (there are: {', '.join(known)})")
    only = set(languages) or None
    problems = asyncio.run(check_all(LOCALES_DIR, catalogs.ROOT, campaign=load_settings().campaign, only=only))
    for problem in problems:
        click.echo(str(problem))
    broken = [problem for problem in problems if problem.breaks]
    unfinished = len(problems) - len(broken)
    if unfinished:
        click.echo(
            f"{unfinished} message(s) still to translate or check: the bot shows them in English, and a language"
            " under TRANSLATION_THRESHOLD (90 % by default) is not offered to signers yet (see `i18n status`)."
        )
    if broken:
        click.echo(f"{len(broken)} problem(s) would break a message: fix them before committing.", err=True)
        ctx.exit(1)
    click.echo(f"All {len(only or known)} catalogs are fine" + (" to commit." if unfinished else "."))


@i18n.command()
def status() -> None:
    """A table: language, translated %, fuzzy, untranslated, offered to signers, review status,
    and the messages whose changed wording waits for a native speaker (``# Review: …``)."""
    from rich.console import Console
    from rich.table import Table

    from bot.settings import load_settings
    from bot.translations import catalogs
    from handlers.i18n import LOCALES_DIR

    threshold = load_settings().translation_threshold
    rows = catalogs.status(LOCALES_DIR)
    # A rich table: it measures Chinese and other wide characters as the terminal shows them.
    table = Table(box=None, pad_edge=False)
    for column, justify in (("language", "left"), ("translated", "right"), ("fuzzy", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for column in ("untranslated", "signers", "review status", "to confirm"):
        table.add_column(column, justify="right" if column in ("untranslated", "to confirm") else "left")
    for row in rows:
        offered = "offered" if row.percent >= threshold else "not yet"
        table.add_row(
            f"{row.locale} ({row.name})",
            f"{row.percent:.1f} %",
            str(row.fuzzy),
            str(row.untranslated),
            offered,
            row.review,
            str(row.to_confirm),
        )
    Console(width=200).print(table)
    click.echo(f"Languages under {threshold} % translated (TRANSLATION_THRESHOLD) are not offered to signers yet.")


@i18n.command()
@click.argument("language")
def preview(language: str) -> None:
    """Print the whole conversation in LANGUAGE, from /start to withdrawal, as plain text."""
    from bot.settings import load_settings
    from bot.translations.preview import format_exchanges, rehearse
    from handlers.i18n import LOCALES_DIR, I18n, normalise_locale

    # As Telegram's language codes are read: zh-Hans, zh-TW and pt-br find their catalogs.
    chosen = I18n(LOCALES_DIR, min_complete=0).match(language)
    if chosen.split("_")[0] != normalise_locale(language).split("_")[0]:
        raise click.BadParameter(f"no catalog for {language!r}; see `python -m bot i18n status`")
    click.echo(format_exchanges(asyncio.run(rehearse(chosen, campaign=load_settings().campaign))))
