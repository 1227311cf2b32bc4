"""``python -m bot purge [--dry-run]``: erase what must not be kept, run daily.

Meant to run daily from a scheduler (Heroku Scheduler, cron, a Kubernetes
CronJob). Each run:

1. Signatures past retention: until ``CAMPAIGN_END + RETENTION_DAYS`` it says
   when that is and erases none; once past, it erases what is left
   (``storage.purge``), and a later run finds nothing more to do.
2. The generated receipt secret, once no signature of any campaign is left
   (``storage.receipts.forget_unused_key``).
3. Rows deleted since the last run (withdrawals, organisers' removals, purges)
   out of the database files: on PostgreSQL ``VACUUM FULL`` of the tables that
   had deletions, on SQLite a checkpoint of the write-ahead log
   (``storage.erasure``). It says what it did, and skips the rewrite when
   nothing was deleted.

``--dry-run`` prints what would go, as counts only, and changes nothing. Nothing
it prints or logs names anyone. Any failure is one line on stderr (exit 2 for a
bad setting, 1 for an unreachable or unmigrated database, or tables that could
not be rewritten now), never a traceback.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.cli.errors import Command, CommandError, check_sqlite_file, usage_errors
from bot.logs import mask_secrets, mask_url

if TYPE_CHECKING:  # the database's modules load on use, so that `purge --help` is quick
    from storage.db import Database
    from storage.purge import PurgePlan


def _n(value: int) -> str:
    return f"{value:,}"


def _day(value: date) -> str:
    return f"{value:%-d %B %Y}"


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


async def _run(
    database_url: str,
    campaigns: list[tuple[str, date | None, int]],
    *,
    dry_run: bool,
    console: Console,
) -> None:
    """``campaigns``: every live campaign's slug, last day and retention, each purged on its own dates."""
    from sqlalchemy.exc import SQLAlchemyError

    from storage.db import Database

    db = Database(database_url, pool_size=1)
    try:
        for campaign, campaign_end, retention_days in campaigns:
            if len(campaigns) > 1:
                console.print(f"[bold]{campaign}[/bold]")
            await _purge(
                db, campaign, campaign_end=campaign_end, retention_days=retention_days, dry_run=dry_run, console=console
            )
        await _contact_consents(db, {slug for slug, _, _ in campaigns}, dry_run=dry_run, console=console)
        forgot = await _forget_secret(db, dry_run=dry_run, console=console)
        await _erase(db, dry_run=dry_run, console=console, force=("bot_secrets",) if forgot else ())
    except (SQLAlchemyError, OSError) as error:
        raise CommandError(f"DATABASE_URL {mask_url(database_url)} cannot be used ({_reason(error)})") from None
    finally:
        await db.dispose()


async def _purge(
    db: Database, campaign: str, *, campaign_end: date | None, retention_days: int, dry_run: bool, console: Console
) -> None:
    """The signatures past retention, if the day has come."""
    from storage.purge import is_due, plan_purge, purge_from, purge_signatures

    if campaign_end is None:
        console.print(
            f"Nothing of {campaign} can be purged: it has no end date (CAMPAIGN_END for the home campaign, "
            "`ends` in its campaign file), so personal data has no end date yet."
        )
        return
    starts = purge_from(campaign_end, retention_days)
    due = is_due(campaign_end, retention_days, datetime.now(UTC).date())
    if not due:
        console.print(
            f"Nothing is purged yet: the campaign ends on {_day(campaign_end)} and signatures are kept "
            f"{retention_days} days after that. Their personal data will be purged on {_day(starts)} "
            "(UTC) or at the first run after it."
        )
        if not dry_run:
            return
    plan = await plan_purge(db, campaign)
    if dry_run:
        title = (
            "Dry run: nothing is changed" if due else f"Dry run: what a purge on {_day(starts)} would erase, as of now"
        )
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
            "VACUUM FULL rewrote the tables without the erased rows" if result.reclaimed else "VACUUM could not run now"
        )
    console.print(f"Storage: {reclaimed}.")


async def _contact_consents(db: Database, live: set[str], *, dry_run: bool, console: Console) -> None:
    """News about future campaigns of people with no signature left ends; personal data of a
    campaign without a live file (nothing can purge it) is pointed out."""
    from storage import consents

    if not dry_run:
        ended = await consents.drop_orphans(db)
        if ended:
            console.print(f"Contact consents: {_n(ended)} of people with no signature left erased.")
    unknown = sorted(await consents.campaigns_with_data(db) - live)
    if unknown:
        console.print(
            f"[bold]Warning[/bold]: personal data of {', '.join(unknown)} is in the database but no live campaign "
            "file names it, so it has no end date here: put its file back in CAMPAIGNS_DIR (with `ends`) and run "
            "purge again."
        )


async def _forget_secret(db: Database, *, dry_run: bool, console: Console) -> bool:
    """The generated receipt secret, once no signature is left (``storage.receipts``); True if
    it was deleted now."""
    from storage import receipts

    if not await receipts.forget_unused_key(db, dry_run=dry_run):
        return False
    console.print(
        "Receipt secret: no signature is left, so the generated secret the receipts were derived with "
        + ("would be deleted." if dry_run else "was deleted.")
        + " A bot started later generates a new one; a running bot keeps its copy in memory until it restarts."
    )
    return not dry_run


async def _erase(db: Database, *, dry_run: bool, console: Console, force: tuple[str, ...] = ()) -> None:
    """Withdrawn, removed and purged rows out of the database files (``storage.erasure``)."""
    from storage import erasure

    if db.is_sqlite:
        if dry_run:
            console.print(
                "Erased rows: SQLite overwrites deleted rows with zeros as it deletes them (secure_delete); "
                "a run would checkpoint and empty the write-ahead log."
            )
            return
        result = await erasure.erase_deleted_rows(db)
        if result.failed:
            raise CommandError(f"the database could not be vacuumed now ({result.failed}); the next run retries")
        once = " The database file was vacuumed once, for rows deleted before that." if result.rewritten else ""
        log_state = (
            "the write-ahead log was checkpointed and emptied"
            if result.checkpointed
            else "the write-ahead log is busy now, the next run checkpoints it"
        )
        console.print(
            f"Erased rows: SQLite overwrites deleted rows with zeros as it deletes them (secure_delete); {log_state}.{once}"
        )
        return
    if dry_run:
        todo = await erasure.pending(db, force=force)
        if todo:
            console.print(
                f"Erased rows: {_deleted([item.deleted for item in todo])} since the last rewrite; a run would rewrite "
                f"{', '.join(item.table for item in todo)} with VACUUM FULL (locking them meanwhile)."
            )
        else:
            console.print("Erased rows: nothing was deleted since the last rewrite; no VACUUM needed.")
        return
    result = await erasure.erase_deleted_rows(db, force=force)
    if result.failed:
        raise CommandError(
            f"the tables holding erased rows could not be rewritten now ({result.failed}); the next run retries"
        )
    if not result.rewritten:
        console.print("Erased rows: nothing was deleted since the last rewrite; no VACUUM needed.")
        return
    console.print(
        f"Erased rows: {_deleted([result.deleted])} since the last rewrite; "
        f"VACUUM FULL rewrote {', '.join(result.rewritten)} in {result.seconds:.1f} s, so their files hold none of them."
    )
    if result.held_back:
        console.print(
            f"But a transaction older than some deletions (a backup running?) still saw them in "
            f"{', '.join(result.held_back)}: the next run rewrites again."
        )


def _deleted(counts: list[int | None]) -> str:
    if None in counts:
        return "rows were deleted (how many, the server has not counted: a first run, a restart, or just now)"
    total = sum(count or 0 for count in counts)
    return f"{_n(total)} row{'' if total == 1 else 's'} deleted"


@click.command("purge", cls=Command)
@click.option("--dry-run", is_flag=True, help="Only print what would be erased (counts, never names).")
def purge(dry_run: bool) -> None:
    """Erase the names, Telegram ids and receipts of signatures past retention, keeping anonymous counts.

    Signatures are past retention when today (UTC) is later than their campaign's end plus its
    retention (`retention_days` in its file, else RETENTION_DAYS); every live campaign is purged on
    its own dates (CAMPAIGN_END for the home campaign, `ends` in each campaign file). Until then this prints the date and erases none of them, so it is safe
    to run daily from a scheduler; running it again after a purge changes nothing either.
    Every run also removes the rows deleted since the last run (withdrawals, removals) from
    the database files: PostgreSQL tables that had deletions are rewritten with VACUUM FULL
    (locking them for about a second per 100,000 signatures), SQLite's write-ahead log is
    checkpointed. Once no signature is left, the generated receipt secret is deleted.
    Reads DATABASE_URL, CAMPAIGN, CAMPAIGNS_DIR, CAMPAIGN_END and RETENTION_DAYS (environment or .env).
    """
    from bot.settings import load_settings
    from petition.campaign import load_campaigns

    console = Console()
    with usage_errors():
        settings = load_settings()
        live = load_campaigns(settings.campaign, settings.campaigns_dir, home_ends=settings.campaign_end)
    check_sqlite_file(settings.database_url)
    asyncio.run(
        _run(
            settings.database_url,
            [(campaign.slug, campaign.ends, campaign.kept_for(settings.retention_days)) for campaign in live],
            dry_run=dry_run,
            console=console,
        )
    )
