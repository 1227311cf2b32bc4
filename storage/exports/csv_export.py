"""The CSV export: UTF-8 with a BOM, RFC 4180 quoting, CRLF line ends.

The BOM makes Excel read the file as UTF-8 (without it Arabic, Cyrillic and CJK
names turn into mojibake). Every data field is quoted (``QUOTE_ALL``), which keeps
commas, quotes and line breaks inside names intact for any RFC 4180 reader and
marks every cell as text; the header row, fixed ASCII words, is written plain.
Quoting alone does not stop a spreadsheet whose list separator is ``;`` from
splitting ``"Ann;=cmd..."`` into a second cell that starts with ``=``: ``safe``
neutralises such cells too.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from storage.exports.rows import ExportRow
from storage.exports.safe import cells, header


def header_line(*, with_ids: bool) -> str:
    """The header row: fixed ASCII words, so the csv module would write them unquoted too."""
    return ",".join(header(with_ids=with_ids)) + "\r\n"


class CsvWriter:
    """Writes rows to ``path`` as they arrive; holds nothing but the open file."""

    incomplete_names = 0  # the CSV has every name exactly
    volumes = 1
    incomplete_numbers: tuple[int, ...] = ()

    def __init__(self, path: Path, *, with_ids: bool) -> None:
        self._with_ids = with_ids
        # newline="" hands line-ending control to the csv module (RFC 4180 wants \r\n,
        # and a \r or \n inside a quoted name must pass through untouched).
        self._file = path.open("w", encoding="utf-8-sig", newline="")
        self._file.write(header_line(with_ids=with_ids))
        self._writer = csv.writer(self._file, dialect="excel", lineterminator="\r\n", quoting=csv.QUOTE_ALL)

    def write(self, rows: Sequence[ExportRow]) -> None:
        self._writer.writerows(cells(row, with_ids=self._with_ids) for row in rows)

    def finish(self) -> None:
        self._file.close()

    def abandon(self) -> None:
        self._file.close()
