"""``python -m bot export``: the signatory file on the server, for very large exports or the shell.

The same ``export_signatures`` as the bot's ``/export`` (same rows, same neutralised
cells, same delivery PDF), written to a temporary file beside ``--output`` and moved
into place only when complete: an interrupted or failed export never leaves a
partial file under the requested name. No zipping here: the 50 MB limit is
Telegram's, not the shell's. Any failure is one line on stderr (exit 2 for a bad
setting or option, 1 for a database or file problem), never a traceback.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.logs import mask_secrets, mask_url
from bot.settings import SettingsError, load_settings
from handlers.campaign import Campaign, CampaignError, load_campaign
from storage.db import Database
from storage.exports import FORMATS, ExportError, ExportFormat, export_signatures
from storage.exports.fonts import FontError


class ExportFailed(Exception):
    """One line for the operator."""


def _check_sqlite_file(database_url: str) -> None:
    """Opening a missing SQLite file would create an empty one: a typo must not leave files behind."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        raise ExportFailed(f"DATABASE_URL {mask_url(database_url)}: no such database file")


def _reason(error: BaseException) -> str:
    inner = getattr(error, "orig", None) or error
    first = (str(inner).strip().splitlines() or [""])[0][:200]
    return mask_secrets(f"{type(inner).__name__}: {first}" if first else type(inner).__name__)


async def _export(
    database_url: str, campaign: Campaign, fmt: ExportFormat, output: Path, *, with_ids: bool, quiet: bool
) -> int:
    db = Database(database_url, pool_size=1)
    console = Console(stderr=True, quiet=quiet)
    columns = (
        TextColumn("Exporting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    try:
        try:
            async with db.engine.connect():
                pass  # fail here, with the database's reason, rather than mid-export
        except (SQLAlchemyError, OSError) as error:
            raise ExportFailed(f"DATABASE_URL {mask_url(database_url)} cannot be reached ({_reason(error)})") from None
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("export", total=None)

            async def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = await export_signatures(
                db, campaign, fmt, output.parent, with_ids=with_ids, progress=progress, compress=False
            )
        try:
            os.replace(result.path, output)
        except OSError:
            result.path.unlink(missing_ok=True)
            raise
        return result.rows
    except SQLAlchemyError as error:
        hint = " (run `python -m bot migrate` first?)" if "signatures" in str(error) else ""
        raise ExportFailed(f"DATABASE_URL {mask_url(database_url)} cannot be read ({_reason(error)}){hint}") from None
    finally:
        await db.dispose()


@click.command("export", short_help="Export the signatories (CSV, XLSX or the PDF delivery document).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="csv",
    show_default=True,
    help="csv/xlsx: the list for organisers. pdf: the letter with the numbered signatories, for delivery.",
)
@click.option(
    "--with-ids", is_flag=True, help="Add Telegram user ids (csv and xlsx only): personal data, handle with care."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File to write (replaced if it exists; created readable by its owner only).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def export(fmt: ExportFormat, with_ids: bool, output: Path, quiet: bool) -> None:
    """Write the campaign's signatories, in signing order, to FILE.

    Reads DATABASE_URL and CAMPAIGN (environment or .env). Names are written as
    signed; spreadsheet cells that would start a formula get a leading apostrophe.
    """
    try:
        settings = load_settings()
        campaign = load_campaign(settings.campaign)
        _check_sqlite_file(settings.database_url)
        output = output.expanduser().absolute()
        if not output.parent.is_dir():
            raise ExportFailed(f"cannot write {output}: no such directory {output.parent}")
        rows = asyncio.run(_export(settings.database_url, campaign, fmt, output, with_ids=with_ids, quiet=quiet))
    except (SettingsError, CampaignError) as error:
        click.echo(f"error: {error}", err=True)
        raise click.exceptions.Exit(2) from None
    except ExportError as error:
        click.echo(f"error: {error}", err=True)
        raise click.exceptions.Exit(2) from None
    except (ExportFailed, FontError) as error:
        click.echo(f"error: {error}", err=True)
        raise click.exceptions.Exit(1) from None
    except OSError as error:
        click.echo(f"error: cannot write {output}: {error.strerror or error}", err=True)
        raise click.exceptions.Exit(1) from None
    except KeyboardInterrupt:
        click.echo("interrupted: nothing was written", err=True)
        raise click.exceptions.Exit(130) from None
    click.echo(f"{rows:,} signatures written to {output}")
