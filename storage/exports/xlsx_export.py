"""The XLSX export: xlsxwriter in ``constant_memory`` mode, typed cells, never a formula.

``constant_memory`` flushes each row to disk once the next one starts, so memory
stays flat at any size (rows must be written in order, which they are). The
number (and the Telegram id, when asked for) is a number cell and the signing
time a date cell (UTC, as the column's name says), so they sort, filter and
compute as such; every other cell goes through ``write_string``: never a
formula, a number guessed from text, or a URL, whatever a name looks like. Text
cells are neutralised as in the CSV, so a copy re-saved as CSV is still safe.
Past Excel's 1,048,576 rows a sheet, the list goes on in "Signatures 2", ...
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import xlsxwriter

from petition.campaign import Campaign
from storage.exports.fingerprint import RULE, Fingerprint
from storage.exports.rows import ExportRow
from storage.exports.safe import HEADER, cells, header

# Column widths in characters, in header order (the last one only with ids).
# Names get the widest column; long and right-to-left names wrap or flow within it
# as the spreadsheet program's bidi rules say (cells keep the "context" reading order).
COLUMN_WIDTHS = (8, 36, 12, 11, 12, 26, 9, 20, 16, 14, 14, 16)
MAX_ROWS_PER_SHEET = 1_048_576  # Excel's limit, header row included
_NUMBER, _SIGNED_AT, _TELEGRAM_ID = HEADER.index("number"), HEADER.index("signed_at_utc"), len(HEADER)
_TYPED_COLUMNS = frozenset({_NUMBER, _SIGNED_AT, _TELEGRAM_ID})


class XlsxWriter:
    """Worksheets "Signatures" (then "Signatures 2", ... past Excel's row limit), header frozen,
    and a last sheet "About": the letter's title and addressees, the total, the list's SHA-256
    fingerprint (the one the delivery PDF prints), after a purge how many signatures were
    erased and only counted, and the letter itself, so a workbook passed on still says what it holds."""

    incomplete_names = 0  # the XLSX has every name exactly
    volumes = 1
    incomplete_numbers: tuple[int, ...] = ()

    def __init__(
        self,
        path: Path,
        *,
        with_ids: bool,
        total: int,
        campaign: Campaign,
        generated_at: datetime,
        fingerprint: Fingerprint,
        purged: int = 0,
    ) -> None:
        self._with_ids = with_ids
        self._total = total
        self._campaign = campaign
        self._generated_at = generated_at
        self._fingerprint = fingerprint  # fed every batch before it is written here
        self._purged = purged
        self._sheets = 0
        self._workbook = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                # Temporary row files beside the export, so personal data is not spread
                # over the system's /tmp (xlsxwriter deletes them on close).
                "tmpdir": str(path.parent),
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
            },
        )
        self._bold = self._workbook.add_format({"bold": True})
        self._moment = self._workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self._wrapped = self._workbook.add_format({"text_wrap": True, "valign": "top"})
        self._new_sheet()

    def _new_sheet(self) -> None:
        self._sheets += 1
        title = "Signatures" if self._sheets == 1 else f"Signatures {self._sheets}"
        self._sheet = self._workbook.add_worksheet(title)
        names = header(with_ids=self._with_ids)
        for column, width in enumerate(COLUMN_WIDTHS[: len(names)]):
            self._sheet.set_column(column, column, width)
        self._sheet.freeze_panes(1, 0)
        rows_here = min(self._total - (self._sheets - 1) * (MAX_ROWS_PER_SHEET - 1), MAX_ROWS_PER_SHEET - 1)
        self._sheet.autofilter(0, 0, max(rows_here, 1), len(names) - 1)
        for column, name in enumerate(names):
            self._sheet.write_string(0, column, name, self._bold)
        self._row = 1

    def write(self, rows: Sequence[ExportRow]) -> None:
        with_ids = self._with_ids
        for row in rows:
            if self._row >= MAX_ROWS_PER_SHEET:
                self._new_sheet()
            sheet, at = self._sheet, self._row
            for column, value in enumerate(cells(row, with_ids=with_ids)):
                if column in _TYPED_COLUMNS or not value:  # an empty string would be a blank cell anyway
                    continue
                sheet.write_string(at, column, value)
            sheet.write_number(at, _NUMBER, row.number)
            # To the second, as the CSV writes it: a spreadsheet rounds 09.7 s up to the next second.
            moment = row.signed_at.astimezone(UTC).replace(tzinfo=None, microsecond=0)
            sheet.write_datetime(at, _SIGNED_AT, moment, self._moment)
            if with_ids and row.telegram_user_id is not None:
                sheet.write_number(at, _TELEGRAM_ID, row.telegram_user_id)  # < 2**53: exact as a number
            self._row += 1

    def finish(self) -> None:
        from storage.exports.pdf_export import erased

        about = self._workbook.add_worksheet("About")
        about.set_column(0, 0, 34)
        about.set_column(1, 1, 100)
        campaign, letter = self._campaign, self._campaign.letter
        facts = [
            ("Letter", campaign.title),
            ("Addressees", "; ".join(campaign.targets)),
            ("Signatories in this workbook", f"{self._total:,}"),
            ("SHA-256 fingerprint of the signatory list", self._fingerprint.hexdigest()),
            ("How the fingerprint is made", RULE),
            ("Generated (UTC)", f"{self._generated_at:%Y-%m-%d %H:%M}"),
        ]
        if self._purged:
            facts.append(("Erased after the retention period", erased(self._purged, "workbook")))
        for row, (label, value) in enumerate(facts):
            about.write_string(row, 0, label, self._bold)
            about.write_string(row, 1, value, self._wrapped)
        # The letter they signed, in English, a paragraph a row: the workbook says what the names are under.
        text = [f"{letter.salutation},", *letter.paragraphs, *(f"• {demand}" for demand in letter.demands)]
        about.write_string(len(facts) + 1, 0, "The letter (English)", self._bold)
        for row, paragraph in enumerate([*text, letter.closing], start=len(facts) + 2):
            about.write_string(row, 1, paragraph, self._wrapped)
        self._workbook.close()

    def abandon(self) -> None:
        # Closing is the only way to make xlsxwriter delete its temporary row files;
        # the caller deletes the (partial) workbook itself.
        self._workbook.close()
