"""``python -m bot export``: the signatory file on the server, for very large exports or the shell.

The same ``export_signatures`` as the bot's ``/export`` (same rows, same neutralised
cells, same delivery PDF), written to a temporary file beside ``--output`` and moved
into place only when complete: an interrupted or failed export never leaves a
partial file under the requested name. No zipping here: the 50 MB limit is
Telegram's, not the shell's. Any failure is one line on stderr (exit 2 for a bad
setting or option, 1 for a database or file problem), never a traceback.

Every export prints the SHA-256 fingerprint of its signatory list (the one the
PDF's last page prints); ``python -m bot fingerprint FILE`` recomputes it from the
delivery list (``--format list``), so anyone holding the list can check a
delivered PDF against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from bot.cli.campaign import campaign_option, settings_and_campaign
from bot.cli.errors import EXIT_USAGE, Command, CommandError, check_sqlite_file, reason, usage_errors
from bot.logs import mask_url

if TYPE_CHECKING:  # the database and the documents load on use, so that `export --help` is quick
    from petition.campaign import Campaign
    from storage.exports.export import ExportFormat, ExportResult

# storage.exports.export.FORMATS, written out so that --help need not load the documents (a test compares them).
FORMATS = ("csv", "xlsx", "pdf", "list")


async def _export(
    database_url: str,
    campaign: Campaign,
    fmt: ExportFormat,
    output: Path,
    *,
    with_ids: bool,
    quiet: bool,
    partner: str | None = None,
) -> ExportResult:
    from sqlalchemy.exc import SQLAlchemyError

    from handlers.i18n import delivery_letters
    from storage.db import Database
    from storage.exports.export import export_signatures

    letters = delivery_letters(campaign) if fmt == "pdf" else ()
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
            raise CommandError(f"DATABASE_URL {mask_url(database_url)} cannot be reached ({reason(error)})") from None
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("export", total=None)

            async def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = await export_signatures(
                db,
                campaign,
                fmt,
                output.parent,
                with_ids=with_ids,
                progress=progress,
                compress=False,
                translations=letters,
                partner=partner,
            )
        try:
            os.replace(result.path, volumes_name(output, result))
        except OSError:
            result.path.unlink(missing_ok=True)
            raise
        return result
    except SQLAlchemyError as error:
        hint = " (run `python -m bot migrate` first?)" if "signatures" in str(error) else ""
        raise CommandError(f"DATABASE_URL {mask_url(database_url)} cannot be read ({reason(error)}){hint}") from None
    finally:
        await db.dispose()


def volumes_name(output: Path, result: ExportResult) -> Path:
    """Where the file goes: ``output``, or beside it as ``.zip`` when the PDF came in volumes."""
    return output if result.volumes == 1 else output.with_suffix(".zip")


_BY_SUFFIX: dict[str, ExportFormat] = {".csv": "csv", ".xlsx": "xlsx", ".pdf": "pdf", ".txt": "list"}


def _format_for(output: Path, asked: ExportFormat | None) -> ExportFormat:
    """The format asked for, or the one FILE's name says; a name that says another format
    than the one asked for is refused (``-o list.pdf --format csv`` would write a CSV there)."""
    named = _BY_SUFFIX.get(output.suffix.lower())
    if asked is None:
        return named or "csv"
    if named is not None and named != asked:
        raise CommandError(
            f"{output.name} is named as {named} but --format {asked} was asked for: "
            f"name the file {next(k for k, v in _BY_SUFFIX.items() if v == asked)}, or leave --format out",
            EXIT_USAGE,
        )
    return asked


@click.command("export", cls=Command, interrupted="nothing was written")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help=(
        "csv/xlsx: the list for organisers (with receipts). pdf: the letter with the numbered signatories, "
        "for delivery. list: the delivery list (number, name, country code) the PDF's fingerprint is computed over. "
        "Default: as FILE's name says (.csv, .xlsx, .pdf, .txt for the list), else csv."
    ),
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
@click.option(
    "--partner",
    metavar="KEY",
    default=None,
    help="Only the signers who agreed that this partner organisation (a [[partners]] key of the campaign "
    "file) may contact them, for handing to that partner (csv or xlsx).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@campaign_option
def export(
    fmt: ExportFormat | None, with_ids: bool, output: Path, quiet: bool, partner: str | None, campaign_slug: str | None
) -> None:
    """Write the campaign's signatories, in signing order, to FILE.

    Reads DATABASE_URL and CAMPAIGN (environment or .env). Names are written as
    signed; spreadsheet cells that would start a formula get a leading apostrophe.
    """
    from storage.exports.export import ExportError
    from storage.exports.fonts import FontError
    from storage.exports.pdf_export import erased

    with usage_errors():
        settings, campaign = settings_and_campaign(campaign_slug)
    if partner is not None and partner not in {p.key for p in campaign.partners}:
        known = ", ".join(p.key for p in campaign.partners) or "none"
        raise CommandError(f"{campaign.slug} has no partner {partner!r} (its partners: {known})", EXIT_USAGE)
    fmt = _format_for(output, fmt)
    check_sqlite_file(settings.database_url)
    output = output.expanduser().absolute()
    if not output.parent.is_dir():
        raise CommandError(f"cannot write {output}: no such directory {output.parent}")
    try:
        result = asyncio.run(
            _export(settings.database_url, campaign, fmt, output, with_ids=with_ids, quiet=quiet, partner=partner)
        )
    except ExportError as error:
        raise CommandError(str(error), EXIT_USAGE) from None
    except FontError as error:
        raise CommandError(str(error)) from None
    except OSError as error:
        raise CommandError(f"cannot write {output}: {error.strerror or error}") from None
    if result.volumes > 1:
        click.echo(
            f"{result.rows:,} signatures written to {volumes_name(output, result)}: "
            f"{result.volumes} PDF volumes, each beginning with the letter"
        )
    else:
        click.echo(f"{result.rows:,} signatures written to {output}")
    click.echo(f"SHA-256 fingerprint of the signatory list: {result.fingerprint}")
    if result.incomplete_names:
        from storage.exports.pdf_export import numbers_list

        numbers = numbers_list(result.incomplete_numbers, result.incomplete_names, len(result.incomplete_numbers))
        click.echo(
            f"{result.incomplete_names:,} name(s) cannot be shown in full in the PDF (number {numbers}): "
            "the CSV and XLSX have them exactly"
        )
    if result.purged:
        click.echo(erased(result.purged, "file"))


# --- python -m bot fingerprint ------------------------------------------------------------

_LIST_LINE = re.compile(rb"(?P<number>[1-9][0-9]*)\t(?P<name>[^\t\n]*)\t(?P<country>[A-Z]{2})\n")


_WHAT_IT_READS = "it reads the list made by `python -m bot export --format list` (a .txt), or a .zip of it alone"


@contextlib.contextmanager
def _open_list(path: Path) -> Iterator[IO[bytes]]:
    """The delivery list as a binary stream, so memory stays flat; a ``.zip`` (as /export
    sends a large file) is read from its one member."""
    with contextlib.ExitStack() as stack:
        binary: IO[bytes] = stack.enter_context(path.open("rb"))
        if zipfile.is_zipfile(binary):
            archived = stack.enter_context(zipfile.ZipFile(binary))
            members = [info for info in archived.infolist() if not info.is_dir()]
            if any(member.filename == "[Content_Types].xml" for member in members):
                raise CommandError(f"{path.name} is a spreadsheet (XLSX), not a delivery list: {_WHAT_IT_READS}")
            if len(members) != 1:
                raise CommandError(f"{path.name} holds {len(members)} files, not one delivery list: {_WHAT_IT_READS}")
            binary = stack.enter_context(archived.open(members[0]))
        else:
            binary.seek(0)
        yield binary


def list_fingerprint(lines: Iterable[bytes]) -> tuple[str, int]:
    """The fingerprint and row count of a delivery list (``storage.exports.fingerprint``'s rule).

    Every line must be one the rule produces, numbered 1, 2, ... in order: anything else
    is not a delivery list (an organiser's CSV, say), and saying so beats printing a
    fingerprint that could never match.
    """
    from storage.exports.fingerprint import Fingerprint

    fingerprint = Fingerprint()
    for raw in lines:
        expected = fingerprint.rows + 1
        if expected == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raise CommandError("not a delivery list: it starts with a byte order mark (a CSV export?)")
        found = _LIST_LINE.fullmatch(raw)
        if found is None:
            if expected == 1:
                raise CommandError(
                    "not a delivery list: make one with `python -m bot export --format list` "
                    "(lines of number TAB name TAB country code)"
                )
            raise CommandError(f"line {expected} is not “number TAB name TAB country code”")
        if int(found["number"]) != expected:
            raise CommandError(f"line {expected} is numbered {found['number'].decode()}: the numbers must run 1, 2, 3…")
        found["name"].decode("utf-8")  # strict: a list is UTF-8
        fingerprint.add_line(raw)
    return fingerprint.hexdigest(), fingerprint.rows


@click.command("fingerprint", cls=Command)
@click.argument("list_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--expect",
    metavar="HASH",
    default=None,
    help="The fingerprint the list should have (from the PDF's last page): exit 1 if it does not.",
)
def fingerprint(list_file: Path, expect: str | None) -> None:
    """Print the SHA-256 fingerprint of the delivery list in FILE (or its .zip); with --expect,
    say whether it is the one expected (exit 1 if not).

    FILE is made with `python -m bot export --format list` (or by `deliver --list`):
    one line per signatory, number TAB name TAB country code. Its fingerprint equals
    the one on the last page of the delivery PDF made from the same list; a list
    changed in any number, name, country or order does not. Needs no settings and no
    database.
    """
    try:
        with _open_list(list_file) as binary:
            digest, rows = list_fingerprint(binary)
    except (UnicodeDecodeError, zipfile.BadZipFile):
        raise CommandError(f"{list_file} is not a UTF-8 delivery list") from None
    except OSError as error:
        raise CommandError(f"cannot read {list_file}: {error.strerror or error}") from None
    click.echo(f"{rows:,} signatories")
    click.echo(f"SHA-256 fingerprint of the signatory list: {digest}")
    if expect is None:
        return
    if expect.strip().lower() == digest:
        click.echo("It matches the fingerprint expected.")
        return
    click.echo(f"It does NOT match the fingerprint expected ({expect.strip()}): this is not the list delivered.")
    raise SystemExit(1)
