"""The delivery list: the text the delivery PDF's fingerprint is computed over, as a file.

One line per signatory, ``number TAB name TAB country-code LF`` (``fingerprint``'s
rule, escapes included), UTF-8 without a BOM: its SHA-256 *is* the fingerprint the
PDF prints, so whoever holds the PDF and this file can check one against the other
with ``sha256sum`` or ``python -m bot fingerprint``. Like the PDF it carries only
what the addressees read: no receipt, no Telegram id, no date, no source. It is a
plain text file, not a spreadsheet: the organisers' CSV and XLSX are for that.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from storage.exports.fingerprint import row_line
from storage.exports.rows import ExportRow


class ListWriter:
    """Writes each signatory's fingerprint line as it arrives; holds nothing but the open file."""

    incomplete_names = 0  # every name exactly as signed
    volumes = 1
    incomplete_numbers: tuple[int, ...] = ()

    def __init__(self, path: Path) -> None:
        self._file = path.open("wb")

    def write(self, rows: Sequence[ExportRow]) -> None:
        self._file.write(b"".join(row_line(row) for row in rows))

    def finish(self) -> None:
        self._file.close()

    def abandon(self) -> None:
        self._file.close()
