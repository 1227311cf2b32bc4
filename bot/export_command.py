"""``python -m bot export``: the signatory file on the server, for very large exports or the shell.

The same ``export_signatures`` as the bot's ``/export`` (same rows, same neutralised
cells, same delivery PDF), written to a temporary file beside ``--output`` and moved
into place only when complete: an interrupted or failed export never leaves a
partial file under the requested name. No zipping here: the 50 MB limit is
Telegram's, not the shell's. Any failure is one line on stderr (exit 2 for a bad
setting or option, 1 for a database or file problem), never a traceback.

Every export prints the SHA-256 fingerprint of its signatory list (the one the
PDF's last page prints); ``python -m bot fingerprint FILE.csv`` recomputes it from
a CSV export, so anyone holding the list can check a delivered PDF against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TextIO

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from sqlalchemy.exc import SQLAlchemyError

from bot.command_errors import missing_sqlite_file, reason
from bot.logs import mask_url
from bot.settings import SettingsError, load_settings
from handlers.campaign import Campaign, CampaignError, load_campaign
from storage.db import Database
from storage.exports import FORMATS, ExportError, ExportFormat, ExportResult, export_signatures
from storage.exports.fingerprint import Fingerprint
from storage.exports.fonts import FontError
from storage.exports.pdf_export import erased


class ExportFailed(Exception):
    """One line for the operator."""


def _check_sqlite_file(database_url: str) -> None:
    if (missing := missing_sqlite_file(database_url)) is not None:
        raise ExportFailed(missing)


async def _export(
    database_url: str, campaign: Campaign, fmt: ExportFormat, output: Path, *, with_ids: bool, quiet: bool
) -> ExportResult:
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
            raise ExportFailed(f"DATABASE_URL {mask_url(database_url)} cannot be reached ({reason(error)})") from None
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
        return result
    except SQLAlchemyError as error:
        hint = " (run `python -m bot migrate` first?)" if "signatures" in str(error) else ""
        raise ExportFailed(f"DATABASE_URL {mask_url(database_url)} cannot be read ({reason(error)}){hint}") from None
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
        result = asyncio.run(_export(settings.database_url, campaign, fmt, output, with_ids=with_ids, quiet=quiet))
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
    click.echo(f"{result.rows:,} signatures written to {output}")
    click.echo(f"SHA-256 fingerprint of the signatory list: {result.fingerprint}")
    if result.purged:
        click.echo(erased(result.purged, "file"))


# --- python -m bot fingerprint ------------------------------------------------------------

FINGERPRINT_COLUMNS = ("number", "receipt", "name", "country_code")


@contextlib.contextmanager
def _open_csv(path: Path) -> Iterator[TextIO]:
    """The CSV as a text stream, so memory stays flat; a ``.zip`` (as /export sends a large
    CSV) is read from its one member."""
    with contextlib.ExitStack() as stack:
        binary: IO[bytes] = stack.enter_context(path.open("rb"))
        if zipfile.is_zipfile(binary):
            archived = stack.enter_context(zipfile.ZipFile(binary))
            members = [info for info in archived.infolist() if not info.is_dir()]
            if len(members) != 1:
                raise ExportFailed(f"{path} holds {len(members)} files: expected one CSV export")
            binary = stack.enter_context(archived.open(members[0]))
        else:
            binary.seek(0)
        yield io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


def csv_fingerprint(text: Iterable[str]) -> tuple[str, int]:
    """The fingerprint and row count of a CSV export (``storage.exports.fingerprint``'s rule)."""
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None or any(column not in header for column in FINGERPRINT_COLUMNS):
        raise ExportFailed("not a signatures CSV export: it needs the columns " + ", ".join(FINGERPRINT_COLUMNS))
    number, receipt, name, country = (header.index(column) for column in FINGERPRINT_COLUMNS)
    fingerprint = Fingerprint()
    for row in reader:
        if len(row) != len(header):
            raise ExportFailed(f"record {fingerprint.rows + 1} has {len(row)} fields, the header {len(header)}")
        fingerprint.add(row[number], row[receipt], row[name], row[country])
    return fingerprint.hexdigest(), fingerprint.rows


@click.command("fingerprint", short_help="Recompute the PDF's fingerprint from a CSV export.")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def fingerprint(csv_file: Path) -> None:
    """Print the SHA-256 fingerprint of the signatory list in FILE.csv (or its .zip).

    It equals the fingerprint on the last page of the delivery PDF exported at the
    same moment: a list changed in any number, receipt, name or country does not.
    Needs no settings and no database.
    """
    try:
        with _open_csv(csv_file) as text:
            digest, rows = csv_fingerprint(text)
    except ExportFailed as error:
        click.echo(f"error: {error}", err=True)
        raise click.exceptions.Exit(1) from None
    except (UnicodeDecodeError, csv.Error, zipfile.BadZipFile):
        click.echo(f"error: {csv_file} is not a UTF-8 CSV export", err=True)
        raise click.exceptions.Exit(1) from None
    except OSError as error:
        click.echo(f"error: cannot read {csv_file}: {error.strerror or error}", err=True)
        raise click.exceptions.Exit(1) from None
    click.echo(f"{rows:,} signatories")
    click.echo(f"SHA-256 fingerprint of the signatory list: {digest}")
