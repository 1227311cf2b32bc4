"""``python -m bot stats``: the campaign's numbers in the terminal, for operators on the server.

The same ``campaign_stats`` as the bot's ``/stats`` (so both always agree), shown as
rich tables; ``--chart FILE`` writes the same PNG the bot sends. Read-only: it never
migrates or writes. Any failure is one line on stderr (exit 2 for a bad setting,
1 for an unreachable or unmigrated database), never a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click
from rich.console import Console, Group
from rich.table import Table

from bot.cli.campaign import campaign_option, settings_and_campaign
from bot.cli.errors import Command, CommandError, check_sqlite_file, usage_errors
from bot.logs import mask_secrets, mask_url

if TYPE_CHECKING:  # the database's modules load on use, so that `stats --help` is quick
    from storage.db import Database
    from storage.stats import CampaignStats

T = TypeVar("T")

FUNNEL_FLOW = ("started", "read", "consented", "signed")


def _n(value: int) -> str:
    return f"{value:,}"


def _percent(part: int, whole: int) -> str:
    """As the bot's /stats shows a share (``handlers.i18n.share``, in English); "–" of nothing."""
    from babel import Locale

    from handlers.i18n import share

    return share(part, whole, Locale("en")) if whole else "–"


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", show_edge=False, pad_edge=False)
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    return table


def _shares(table: Table, rows: Iterable[tuple[str, int]], total: int) -> Table:
    for label, count in rows:
        table.add_row(label, _n(count), _percent(count, total))
    return table


def render(stats: CampaignStats, *, campaign: str, goal: int) -> Group:
    """Every field of ``stats`` as tables (separate from the command so it is easy to test)."""
    from handlers.i18n import language_name
    from petition.countries import country_name

    total = stats.total
    summary = _table(f"Campaign {campaign}", "", "signatures")
    summary.add_row("Total", _n(total))
    summary.add_row("Goal", f"{_n(goal)}  ({_percent(total, goal)} reached)")
    summary.add_row("Today (UTC)", _n(stats.today))
    summary.add_row("Last 7 days", _n(stats.last_7_days))
    summary.add_row("Last 30 days", _n(stats.last_30_days))
    summary.add_row("Opted in to updates", f"{_n(stats.opt_ins)}  ({_percent(stats.opt_ins, total)})")
    summary.add_row("Withdrawn", _n(stats.withdrawals))
    summary.add_row("Removed by organisers", _n(stats.removals))
    if stats.purged:
        summary.add_row("Erased after retention (counted, no personal data)", _n(stats.purged))

    languages = _shares(
        _table("Languages", "language", "signatures", "share"),
        ((f"{language_name(code)} ({code})", count) for code, count in stats.by_language),
        total,
    )
    countries = _shares(
        _table("Countries (top 10)", "country", "signatures", "share"),
        ((f"{country_name(code, 'en')} ({code})", count) for code, count in stats.by_country),
        total,
    )
    if stats.other_countries:
        countries.add_row("All other countries", _n(stats.other_countries), _percent(stats.other_countries, total))
    sources = _shares(
        _table("Sources (top 10)", "source", "signatures", "share"),
        ((code or "(direct)", count) for code, count in stats.by_source),
        total,
    )
    letters = _shares(
        _table("Letter versions signed", "version", "signatures", "share"), stats.by_letter_version, total
    )

    funnel = _table("Funnel (anonymous daily counts)", "step", "people", "of previous", "of started")
    started = stats.funnel.get("started", 0)
    previous: int | None = None
    for step in FUNNEL_FLOW:
        count = stats.funnel.get(step, 0)
        funnel.add_row(step, _n(count), "" if previous is None else _percent(count, previous), _percent(count, started))
        previous = count
    funnel.add_row("withdrew", _n(stats.funnel.get("withdrew", 0)), "", "")
    funnel.add_row("removed", _n(stats.funnel.get("removed", 0)), "", "")

    per_day = _table("Per day (UTC, last 14 days)", "day", "signatures", "cumulative")
    running = 0
    cumulative = []
    for day, count in stats.per_day:
        running += count
        cumulative.append((day, count, running))
    for day, count, so_far in cumulative[-14:]:
        per_day.add_row(day.isoformat(), _n(count), _n(so_far))
    if not cumulative:
        per_day.add_row("(no signatures yet)", "", "")

    return Group(summary, "", languages, "", countries, "", sources, "", letters, "", funnel, "", per_day)


async def _read(database_url: str, read: Callable[[Database], Awaitable[T]]) -> T:
    """``read`` on the database; a failure is one line (CommandError), never a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from storage.db import Database

    db = Database(database_url, pool_size=3)
    try:
        return await read(db)
    except (SQLAlchemyError, OSError) as error:
        inner = getattr(error, "orig", None) or error
        first = (str(inner).strip().splitlines() or [""])[0][:200]
        reason = mask_secrets(f"{type(inner).__name__}: {first}")
        hint = " (run `python -m bot migrate` first?)" if "signatures" in first or "relation" in first else ""
        raise CommandError(f"DATABASE_URL {mask_url(database_url)} cannot be read ({reason}){hint}") from None
    finally:
        await db.dispose()


async def _collect(database_url: str, campaign: str) -> CampaignStats:
    from storage.stats import campaign_stats

    return await _read(database_url, lambda db: campaign_stats(db, campaign, now=datetime.now(UTC)))


async def _verify(database_url: str, campaign: str) -> list[str]:
    from storage.stat_counts import verify

    return await _read(database_url, lambda db: verify(db, campaign))


async def _rebuild(database_url: str) -> None:
    from storage.stat_counts import rebuild

    await _read(database_url, rebuild)


SHOWN_DIFFERENCES = 50


@click.command("stats", cls=Command)
@click.option(
    "--chart",
    "chart_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Also write the signatures-per-day chart (PNG, 1280×720) to this file.",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Recount every signature from its row and compare with the kept counts /stats reads "
    "(as slow as the campaign is large); exit 1 if they differ.",
)
@click.option(
    "--rebuild",
    is_flag=True,
    help="Count every signature again from its row into the kept counts (the repair when --verify "
    "finds a difference; new signatures wait while it runs).",
)
@campaign_option
def stats(chart_path: Path | None, verify: bool, rebuild: bool, campaign_slug: str | None) -> None:
    """Print totals, goal progress, languages, countries, sources, the funnel and signatures per day.

    Reads DATABASE_URL and CAMPAIGN (environment or .env); the same numbers as the bot's /stats.
    """

    with usage_errors():
        settings, campaign = settings_and_campaign(campaign_slug)
    check_sqlite_file(settings.database_url)
    if rebuild:
        asyncio.run(_rebuild(settings.database_url))
        click.echo("The kept counts were counted again from the signatures' rows.")
    if verify or rebuild:
        _report_verification(asyncio.run(_verify(settings.database_url, campaign.slug)), campaign.slug)
        return
    result = asyncio.run(_collect(settings.database_url, campaign.slug))  # CAMPAIGN may be a path
    Console().print(render(result, campaign=campaign.slug, goal=campaign.goal))
    if chart_path is not None:
        from handlers.chart import signatures_chart  # matplotlib: only when a chart is asked for

        png = signatures_chart(
            result.per_day,
            title="Signatures per day",  # as /stats draws it (the slug is no title for a report)
            daily_label="per day",
            total_label="total",
            goal=campaign.goal,
            goal_label=f"goal {campaign.goal:,}",
        )
        try:
            chart_path.write_bytes(png)
        except OSError as error:
            raise CommandError(f"cannot write the chart to {chart_path}: {error.strerror or error}") from None
        click.echo(f"chart written to {chart_path}")


def _report_verification(differences: list[str], campaign: str) -> None:
    if not differences:
        click.echo(f"Campaign {campaign}: the kept counts agree with the signatures' rows.")
        return
    click.echo(f"Campaign {campaign}: the kept counts differ from the signatures' rows in {len(differences)} place(s):")
    for line in differences[:SHOWN_DIFFERENCES]:
        click.echo(f"  {line}")
    if len(differences) > SHOWN_DIFFERENCES:
        click.echo(f"  … and {len(differences) - SHOWN_DIFFERENCES} more")
    click.echo("Signatures arriving while it ran do not cause this (one snapshot): repair with `stats --rebuild`.")
    raise SystemExit(1)
