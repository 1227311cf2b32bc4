"""The SHA-256 fingerprint of a signatory list: what makes the delivered PDF tamper-evident.

The PDF's last page prints it; anyone holding the electronic list (the CSV) can
recompute it with ``python -m bot fingerprint FILE.csv`` or a few lines of any
language, and a list changed by a single character no longer matches.

The rule, exactly: for each signatory in export order, one line

    {number}\\t{receipt}\\t{name}\\t{country}\\n

where ``number`` is the decimal row number (1, 2, ...), ``receipt`` the receipt
code as shown (``K7QF-2M9D``; empty for a signature older than receipts),
``name`` the name exactly as the CSV and XLSX cell has it (so a name a
spreadsheet would take for a formula keeps its leading apostrophe) with a
backslash, tab, line feed and carriage return written as the two characters
``\\\\``, ``\\t``, ``\\n`` and ``\\r`` (so a name can never fake a line), and
``country`` the ISO code (``DE``). The fingerprint is the lowercase hex SHA-256
of all lines concatenated, encoded as UTF-8; an empty list gives the SHA-256 of
nothing (``e3b0c442...``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from storage.exports.rows import ExportRow
from storage.exports.safe import neutralise, receipt_shown

RULE = (
    "SHA-256 over the UTF-8 lines “number TAB receipt TAB name TAB country-code LF”, one per "
    "signatory in this order, the name as in the electronic list (CSV) with backslash, tab, "
    "line feed and carriage return written as \\\\, \\t, \\n and \\r. Check it against the list "
    "with `python -m bot fingerprint FILE.csv`."
)
"""The rule in one paragraph, as the PDF prints it under the fingerprint."""

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def line(number: int | str, receipt: str, name_cell: str, country: str) -> bytes:
    """One signatory's line; ``name_cell`` is the name as the CSV cell has it (already neutralised)."""
    return f"{number}\t{receipt}\t{name_cell.translate(_ESCAPES)}\t{country}\n".encode()


class Fingerprint:
    """The running SHA-256 of the lines so far: fed batch by batch, memory stays flat."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.rows = 0

    def update(self, rows: Iterable[ExportRow]) -> None:
        for row in rows:
            self.add(row.number, receipt_shown(row.receipt), neutralise(row.name), row.country)

    def add(self, number: int | str, receipt: str, name_cell: str, country: str) -> None:
        self._hash.update(line(number, receipt, name_cell, country))
        self.rows += 1

    def hexdigest(self) -> str:
        return self._hash.hexdigest()
