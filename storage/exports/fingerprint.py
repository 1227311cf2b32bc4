"""The SHA-256 fingerprint of a signatory list: what makes the delivered PDF tamper-evident.

It covers exactly what the delivery PDF prints of each signatory (number, name as
printed, country) and nothing else: no receipt, no Telegram id, no date. The PDF's
last page prints it with its rule; the delivery list (``python -m bot export
--format list``) is the very text it is computed over, so anyone holding that file
can check a delivered PDF with ``python -m bot fingerprint FILE`` or any SHA-256
tool (``sha256sum FILE``), and a list changed by a single character no longer matches.

The rule, exactly: for each signatory in the document's order, one line

    {number}\\t{name}\\t{country}\\n

where ``number`` is the decimal row number (1, 2, ...), ``name`` the name as the
signer chose to have it printed (the form stored, exactly as signed) with a
backslash, tab, line feed and carriage return written as the two characters
``\\\\``, ``\\t``, ``\\n`` and ``\\r`` (so a name can never fake a line), and
``country`` the ISO 3166-1 code (``DE``) of the country printed beside it. The
fingerprint is the lowercase hex SHA-256 of all lines concatenated, encoded as
UTF-8; an empty list gives the SHA-256 of nothing (``e3b0c442...``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from storage.exports.rows import ExportRow

RULE = (
    "SHA-256 over the UTF-8 lines “number TAB name TAB country-code LF”, one per signatory in this "
    "order, the name exactly as signed, "
    "with backslash, tab, line feed and carriage return written as \\\\, \\t, \\n and \\r. The "
    "delivery list (a text file of exactly these lines) gives the same with "
    "`sha256sum FILE` or `python -m bot fingerprint FILE`."
)
"""The rule in one paragraph, as the PDF prints it under the fingerprint."""

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def line(number: int | str, name: str, country: str) -> bytes:
    """One signatory's line of the delivery list, as UTF-8."""
    return f"{number}\t{name.translate(_ESCAPES)}\t{country}\n".encode()


def row_line(row: ExportRow) -> bytes:
    return line(row.number, row.name, row.country)


class Fingerprint:
    """The running SHA-256 of the lines so far: fed batch by batch, memory stays flat."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.rows = 0

    def update(self, rows: Iterable[ExportRow]) -> None:
        for row in rows:
            self.add_line(row_line(row))

    def add(self, number: int | str, name: str, country: str) -> None:
        self.add_line(line(number, name, country))

    def add_line(self, encoded: bytes) -> None:
        self._hash.update(encoded)
        self.rows += 1

    def add_lines(self, encoded: bytes, rows: int) -> None:
        """``rows`` whole lines at once, already encoded (the PostgreSQL COPY path)."""
        self._hash.update(encoded)
        self.rows += rows

    def hexdigest(self) -> str:
        return self._hash.hexdigest()
