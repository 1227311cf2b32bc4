"""Running one export: snapshot, stream batches into a writer, zip if too large, clean up.

Reading and writing overlap: while a worker thread writes one batch, the event
loop fetches the next. Writers are synchronous and CPU-bound (the PDF above all),
so they run in ``asyncio.to_thread``: a bot exporting a large file keeps
answering its supporters meanwhile.

Failure leaves nothing behind: the temporary files (personal data) are deleted
on any error or cancellation, and a count that disagrees with the rows written
is an error rather than a silently inconsistent file. A thread is never
abandoned mid-write: on cancellation the export waits for the thread's current
step (one batch, the final write, the zip) to end before it closes and deletes
the files, so a cancelled export cannot recreate a file it just deleted.

On PostgreSQL the CSV and the delivery list skip the Python writers altogether:
``pg_copy`` has the database write them with ``COPY`` from the same snapshot, the
same bytes at close to the database's own speed.

An export that even zipped is larger than Telegram lets a bot upload is an
``ExportError`` telling the organiser to export on the server instead.

Every export computes the SHA-256 fingerprint of its signatory list while it
streams (``fingerprint``: no second pass, memory flat); the PDF prints it on its
last page, and ``python -m bot fingerprint`` recomputes it from the delivery list
(``list``: a text file of exactly the lines the fingerprint is computed over). After
``python -m bot purge`` the erased signatures are no longer rows of any export;
``ExportResult.purged`` says how many there were, and the PDF says so too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, get_args

from petition.campaign import Campaign, LetterVersion
from storage.db import Database
from storage.exports import archive, pg_copy
from storage.exports.fingerprint import Fingerprint
from storage.exports.rows import ExportRow, SignatorySnapshot, snapshot

log = logging.getLogger("storage.exports")

ExportFormat = Literal["csv", "xlsx", "pdf", "list"]
FORMATS: tuple[str, ...] = get_args(ExportFormat)
DELIVERY_FORMATS = ("pdf", "list")  # what goes to the addressees: never receipts, never ids
SUFFIXES = {"csv": "csv", "xlsx": "xlsx", "pdf": "pdf", "list": "txt"}

Progress = Callable[[int, int], Awaitable[None]]
T = TypeVar("T")


class ExportError(Exception):
    """The export cannot be made as asked; the message is one line for the organiser."""


class TooLargeForTelegram(ExportError):
    """Made, but larger even zipped than Telegram lets a bot send: the command line writes it."""

    def __init__(self, fmt: str, size: int) -> None:
        self.fmt, self.size = fmt, size
        super().__init__(
            f"the {fmt} export is {size / 1e6:.0f} MB even zipped, over what Telegram lets a bot send: "
            f"export it on the server with `python -m bot export --format {fmt}`"
        )


@dataclass(frozen=True)
class ExportResult:
    """A finished export: ``path`` is a temporary file the caller sends, then deletes.

    ``filename`` is the name to show (``...csv`` or ``...csv.zip``), ``rows`` the
    number of signatories in it, ``size`` the file's size in bytes.
    ``incomplete_names`` counts the rows whose name the file cannot show in full
    (only ever non-zero for the PDF, whose fonts do not cover every script).
    ``fingerprint`` is the SHA-256 of the signatory list (``storage.exports.fingerprint``),
    ``purged`` the number of signatures erased after the retention period: counted
    in the campaign's totals, but no longer in any export. ``volumes`` is more than 1
    for a PDF of more than ``archive.PDF_VOLUME_SIZE`` names: then ``path`` is a zip of them.
    """

    path: Path
    filename: str
    rows: int
    compressed: bool
    size: int
    fmt: str
    incomplete_names: int = 0
    fingerprint: str = ""
    purged: int = 0
    volumes: int = 1
    incomplete_numbers: tuple[int, ...] = ()  # the row numbers of the first names shown incompletely


class _Writer(Protocol):
    @property
    def incomplete_names(self) -> int: ...

    @property
    def volumes(self) -> int: ...

    @property
    def incomplete_numbers(self) -> tuple[int, ...]: ...

    def write(self, rows: Sequence[ExportRow]) -> None: ...

    def finish(self) -> None: ...

    def abandon(self) -> None: ...


def _open_writer(
    fmt: str,
    path: Path,
    *,
    with_ids: bool,
    total: int,
    campaign: Campaign,
    now: datetime,
    fingerprint: Fingerprint,
    purged: int,
    translations: Sequence[LetterVersion],
) -> _Writer:
    # Imported here so that a CSV export never pays for loading fpdf2 or xlsxwriter.
    if fmt == "list":
        from storage.exports.list_export import ListWriter

        return ListWriter(path)
    if fmt == "csv":
        from storage.exports.csv_export import CsvWriter

        return CsvWriter(path, with_ids=with_ids)
    if fmt == "xlsx":
        from storage.exports.xlsx_export import XlsxWriter

        return XlsxWriter(
            path,
            with_ids=with_ids,
            total=total,
            campaign=campaign,
            generated_at=now,
            fingerprint=fingerprint,
            purged=purged,
        )
    from storage.exports.pdf_export import PdfWriter

    name = export_filename(campaign, fmt, with_ids=False, now=now).removesuffix(".pdf")
    return PdfWriter(
        path,
        campaign=campaign,
        total=total,
        generated_at=now,
        translations=translations,
        fingerprint=fingerprint,
        purged=purged,
        name=name,
    )


def export_filename(campaign: Campaign, fmt: str, *, with_ids: bool, now: datetime) -> str:
    """``xinjiang-signatures-2026-03-12.csv``; ``-with-ids`` warns whoever receives that file."""
    ids = "-with-ids" if with_ids else ""
    kind = {"pdf": "letter-and-signatures", "list": "delivery-list"}.get(fmt, "signatures")
    return f"{campaign.slug}-{kind}{ids}-{now:%Y-%m-%d}.{SUFFIXES.get(fmt, fmt)}"


async def _settle(task: asyncio.Future[Any]) -> bool:
    """Wait until ``task`` is done without ever cancelling it; True if we were cancelled meanwhile."""
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            cancelled = True
    return cancelled


async def _in_thread(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``asyncio.to_thread``, except that a cancellation first lets the thread finish.

    A cancelled ``to_thread`` returns at once while its thread goes on: the caller
    would then close or delete files the thread is still writing.
    """
    task = asyncio.ensure_future(asyncio.to_thread(function, *args, **kwargs))
    if await _settle(task):
        if not task.cancelled():
            task.exception()  # retrieved: the cancellation is what the caller must see
        raise asyncio.CancelledError
    return task.result()


def _temporary_file(directory: Path, suffix: str) -> Path:
    # mkstemp: a fresh name, created 0600 (the file holds personal data).
    handle, name = tempfile.mkstemp(dir=directory, prefix=".undersign-export-", suffix=suffix)
    os.close(handle)
    return Path(name)


async def export_signatures(
    db: Database,
    campaign: Campaign,
    fmt: ExportFormat,
    directory: Path,
    *,
    with_ids: bool = False,
    batch_size: int = 5000,
    progress: Progress | None = None,
    compress: bool = True,
    translations: Sequence[LetterVersion] = (),
    partner: str | None = None,
) -> ExportResult:
    """Export ``campaign``'s signatories as ``fmt`` into a temporary file in ``directory``.

    ``translations``: the letter in the languages its addressees read, printed in the PDF
    before the English (``handlers.i18n.I18n.delivery_letters``). ``partner``: only the
    signers who agreed that this partner organisation may contact them (CSV or XLSX).

    ``progress(done, total)`` is awaited once before the first batch and after each
    batch. With ``compress`` (the default, for Telegram) a file larger than
    ``archive.ZIP_THRESHOLD_BYTES`` is replaced by a zip of it. The PDF and the
    delivery list (``list``) go to the addressees: they never carry Telegram ids or receipts.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    if partner is not None and fmt in DELIVERY_FORMATS:
        raise ExportError("a partner's list is for contacting its signers: use csv or xlsx")
    if fmt in DELIVERY_FORMATS and with_ids:
        document = "the PDF is the delivery document" if fmt == "pdf" else "the list is for delivery"
        raise ExportError(f"{document}: it never carries Telegram ids (use csv or xlsx)")
    started = time.perf_counter()
    now = datetime.now(UTC)
    filename = export_filename(campaign, fmt, with_ids=with_ids, now=now)
    path = _temporary_file(directory, f".{SUFFIXES[fmt]}")
    zipped: Path | None = None
    unfinished: list[_Writer] = []  # the open writer, until it has finished
    fingerprint = Fingerprint()
    incomplete_numbers: tuple[int, ...] = ()
    try:
        async with snapshot(
            db, campaign.slug, with_ids=with_ids, batch_size=batch_size, partner=partner
        ) as signatories:
            total = await signatories.count()
            purged = await signatories.purged()

            if db.is_postgres and fmt in pg_copy.FORMATS and partner is None:
                done = await pg_copy.copy_export(
                    await signatories.driver_connection(),
                    campaign.slug,
                    fmt,
                    path,
                    with_ids=with_ids,
                    fingerprint=fingerprint,
                    total=total,
                    progress=progress,
                    progress_every=batch_size,
                )
                incomplete_names, volumes = 0, 1
            else:
                done, incomplete_names, volumes, incomplete_numbers = await _write(
                    signatories,
                    fmt,
                    path,
                    unfinished,
                    fingerprint=fingerprint,
                    progress=progress,
                    with_ids=with_ids,
                    total=total,
                    campaign=campaign,
                    now=now,
                    purged=purged,
                    translations=translations,
                )
            if done != total:
                raise ExportError(f"the export read {done} rows but counted {total}: nothing was sent")
            if fingerprint.rows != done:  # pragma: no cover - both are fed the same rows
                raise ExportError("the fingerprint does not cover every row: nothing was sent")
        size = path.stat().st_size
        if volumes > 1:  # the PDF in volumes, zipped already
            filename = filename.removesuffix(".pdf") + ".zip"
            zipped = path
            if compress and size > archive.UPLOAD_LIMIT_BYTES:
                raise TooLargeForTelegram(fmt, size)
        elif compress and size > archive.ZIP_THRESHOLD_BYTES:
            zipped = _temporary_file(directory, f".{SUFFIXES[fmt]}.zip")
            await _in_thread(archive.zip_file, path, zipped, arcname=filename)
            path.unlink()
            path, filename, size = zipped, f"{filename}.zip", zipped.stat().st_size
            if size > archive.UPLOAD_LIMIT_BYTES:
                raise TooLargeForTelegram(fmt, size)
        log.info(
            "export campaign=%s format=%s rows=%d purged=%d bytes=%d zipped=%s incomplete_names=%d seconds=%.1f",
            campaign.slug,
            fmt,
            done,
            purged,
            size,
            zipped is not None,
            incomplete_names,
            time.perf_counter() - started,
        )
        return ExportResult(
            path=path,
            filename=filename,
            rows=done,
            compressed=zipped is not None,
            size=size,
            fmt=fmt,
            incomplete_names=incomplete_names,
            fingerprint=fingerprint.hexdigest(),
            purged=purged,
            volumes=volumes,
            incomplete_numbers=incomplete_numbers,
        )
    except BaseException:
        try:
            for unfinished_writer in unfinished:
                with contextlib.suppress(Exception):
                    await _in_thread(unfinished_writer.abandon)
        finally:
            for leftover in (path, zipped):
                if leftover is not None:
                    leftover.unlink(missing_ok=True)
        raise


async def _write(
    signatories: SignatorySnapshot,
    fmt: str,
    path: Path,
    unfinished: list[_Writer],
    *,
    fingerprint: Fingerprint,
    progress: Progress | None,
    with_ids: bool,
    total: int,
    campaign: Campaign,
    now: datetime,
    purged: int,
    translations: Sequence[LetterVersion],
) -> tuple[int, int, int, tuple[int, ...]]:
    """Write the rows with the format's Python writer: the rows written, the names shown
    incompletely, the number of volumes (the PDF of a long list; 1 otherwise) and the row numbers
    of the first names shown incompletely.

    The open writer sits in ``unfinished`` until it has finished, so that the caller
    can abandon it on any error or cancellation.
    """

    def open_writer() -> None:  # in the thread, so a cancellation cannot lose the writer
        unfinished.append(
            _open_writer(
                fmt,
                path,
                with_ids=with_ids,
                total=total,
                campaign=campaign,
                now=now,
                fingerprint=fingerprint,
                purged=purged,
                translations=translations,
            )
        )

    await _in_thread(open_writer)
    (writer,) = unfinished
    done = await _stream(signatories.batches(), writer, fingerprint, total, progress)
    await _in_thread(writer.finish)
    unfinished.clear()
    return done, writer.incomplete_names, writer.volumes, writer.incomplete_numbers


async def _stream(
    batches: AsyncIterator[Sequence[ExportRow]],
    writer: _Writer,
    fingerprint: Fingerprint,
    total: int,
    progress: Progress | None,
) -> int:
    """Write every batch, fetching the next one while a thread writes the current one.

    The thread adds the batch to the fingerprint before writing it: the PDF's
    ``finish`` prints the fingerprint of exactly the rows it was given.
    """

    def write(batch: Sequence[ExportRow]) -> None:
        fingerprint.update(batch)
        writer.write(batch)

    done = 0
    if progress is not None:
        await progress(0, total)
    # The batch a thread is writing, as a future that nothing here ever cancels: awaiting
    # a task directly would cancel it along with us, while its thread went on writing.
    writing: asyncio.Future[None] | None = None
    written = 0

    async def wait_for_write() -> None:
        nonlocal writing, done
        assert writing is not None
        if await _settle(writing):
            raise asyncio.CancelledError  # the thread is done: the file can be closed now
        writing.result()
        writing = None
        done += written
        if progress is not None:
            await progress(done, total)

    try:
        async for batch in batches:
            if writing is not None:
                await wait_for_write()
            writing, written = asyncio.ensure_future(asyncio.to_thread(write, batch)), len(batch)
        if writing is not None:
            await wait_for_write()
    finally:
        if writing is not None:
            # A failed fetch, progress call or write, or a cancellation: let the thread
            # finish with the file before the caller closes and deletes it.
            cancelled = await _settle(writing)
            if not writing.cancelled():
                writing.exception()  # retrieved, so asyncio does not log it as lost
            if cancelled:
                raise asyncio.CancelledError
    return done
