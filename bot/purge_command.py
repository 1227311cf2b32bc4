"""``python -m bot purge [--dry-run]``: erase the signatures past retention, keeping anonymous counts.

Meant to run daily from a scheduler (Heroku Scheduler, cron, a Kubernetes
CronJob): until the day comes it says when that is and changes nothing; once
past ``CAMPAIGN_END + RETENTION_DAYS`` it erases what is left (``storage.purge``),
and a later run finds nothing more to do. ``--dry-run`` prints what would go,
as counts only. Nothing it prints or logs names anyone. Any failure is one line
on stderr (exit 2 for a bad setting, 1 for an unreachable or unmigrated
database), never a traceback.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from bot.command_errors import missing_sqlite_file
from bot.logs import mask_secrets, mask_url
from bot.settings import SettingsError, load_settings
from handlers.campaign import CampaignError, load_campaign
from storage.db import Database
from storage.purge import PurgePlan, is_due, plan_purge, purge_from, purge_signatures


class PurgeFailed(Exception):
    """One line for the operator."""


def _n(value: int) -> str:
    return f"{value:,}"


def _day(value: date) -> str:
    return f"{value:%-d %B %Y}"


def _check_sqlite_file(database_url: str) -> None:
    if (missing := missing_sqlite_file(database_url)) is not None:
        raise PurgeFailed(missing)


def _reason(error: BaseException) -> str:
    inner = getattr(error, "orig", None) or error
    first = (str(inner).strip().splitlines() or [""])[0][:200]
    hint = " (run `python -m bot migrate` first?)" if "signature" in first or "relation" in first else ""
    return mask_secrets(f"{type(inner).__name__}: {first}") + hint


def _plan_table(campaign: str, plan: PurgePlan, *, title: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", show_edge=False, pad_edge=False)
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row(f"Signatures of {campaign} to erase", _n(plan.signatures))
    if plan.first_day is not None and plan.last_day is not None:
        table.add_row("Signed between (UTC)", f"{plan.first_day.isoformat()} and {plan.last_day.isoformat()}")
    table.add_row("Erased by earlier purges (counted only)", _n(plan.already_purged))
    return table


async def _run(database_url: str, campaign: str, *, dry_run: bool, title: str, console: Console) -> None:
    db = Database(database_url, pool_size=1)
    try:
        plan = await plan_purge(db, campaign)
        if dry_run:
            console.print(_plan_table(campaign, plan, title=title))
            if plan.signatures:
                console.print(
                    "A purge would erase their names, Telegram ids and receipts, and keep only counts per day, "
                    "country, language, source and letter version: /stats totals stay the same."
                )
            else:
                console.print("Nothing to purge: no personal data of this campaign is left.")
            return
        if not plan.signatures:
            console.print(
                f"Nothing to purge: no personal data of {campaign} is left "
                f"({_n(plan.already_purged)} signatures are kept as anonymous counts)."
            )
            return
        columns = (TextColumn("Erasing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("purge", total=plan.signatures)

            async def progress(done: int) -> None:
                bar.update(task, completed=done)

            result = await purge_signatures(db, campaign, progress=progress)
        console.print(
            f"Erased {_n(result.purged)} signatures of {campaign}: names, Telegram ids and receipts are gone; "
            "counts per day, country, language, source and letter version are kept, so /stats totals are unchanged."
        )
        if db.is_sqlite:
            reclaimed = "the database file was vacuumed" if result.reclaimed else "VACUUM could not run now"
        else:
            reclaimed = (
                "VACUUM FULL rewrote the tables without the erased rows"
                if result.reclaimed
                else "VACUUM could not run now"
            )
        console.print(f"Storage: {reclaimed}.")
    except (SQLAlchemyError, OSError) as error:
        raise PurgeFailed(f"DATABASE_URL {mask_url(database_url)} cannot be used ({_reason(error)})") from None
    finally:
        await db.dispose()


@click.command("purge", short_help="Erase personal data past the retention period (run daily).")
@click.option("--dry-run", is_flag=True, help="Only print what would be erased (counts, never names).")
def purge(dry_run: bool) -> None:
    """Erase the names, Telegram ids and receipts of signatures past retention, keeping anonymous counts.

    Signatures are past retention when today (UTC) is later than CAMPAIGN_END plus
    RETENTION_DAYS. Until then this prints the date and changes nothing, so it is safe
    to run daily from a scheduler; running it again after a purge changes nothing either.
    Reads DATABASE_URL, CAMPAIGN, CAMPAIGN_END and RETENTION_DAYS (environment or .env).
    """
    console = Console()
    try:
        settings = load_settings()
        campaign = load_campaign(settings.campaign).slug  # CAMPAIGN may be a path to the .toml
        if settings.campaign_end is None:
            console.print("Nothing can be purged: CAMPAIGN_END is not set, so personal data has no end date yet.")
            return
        starts = purge_from(settings.campaign_end, settings.retention_days)
        due = is_due(settings.campaign_end, settings.retention_days, datetime.now(UTC).date())
        if not due:
            console.print(
                f"Nothing is purged yet: the campaign ends on {_day(settings.campaign_end)} and signatures are kept "
                f"{settings.retention_days} days after that. Their personal data will be purged on {_day(starts)} "
                "(UTC) or at the first run after it."
            )
            if not dry_run:
                return
        _check_sqlite_file(settings.database_url)
        title = (
            "Dry run: nothing is changed" if due else f"Dry run: what a purge on {_day(starts)} would erase, as of now"
        )
        asyncio.run(_run(settings.database_url, campaign, dry_run=dry_run, title=title, console=console))
    except (SettingsError, CampaignError) as error:
        click.echo(f"error: {error}", err=True)
        raise click.exceptions.Exit(2) from None
    except PurgeFailed as error:
        click.echo(f"error: {error}", err=True)
        raise click.exceptions.Exit(1) from None
