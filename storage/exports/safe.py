"""Spreadsheet cells that are safe to open: the columns, and formula-injection neutralisation.

A spreadsheet program treats a cell starting with ``=``, ``+``, ``-`` or ``@`` as a
formula (and tab or carriage return can smuggle one past a naive check), so a
signer named ``=HYPERLINK("http://evil")`` could make an organiser's spreadsheet
fetch a URL or run a DDE command. Such cells get a leading apostrophe (the OWASP
CSV-injection advice): spreadsheets show the text as typed, and the change is
documented and exactly reversible (strip one leading ``'`` from a cell whose next
character is one of the dangerous ones). The same neutralisation applies to every
text cell of the CSV and the XLSX, so a file re-saved from one format to the
other stays safe.

A formula can also hide behind a separator: a spreadsheet whose list separator
is ``;`` (most of continental Europe) may split ``Ann;=cmd|' /C calc'!A0`` into a
second cell starting with ``=``, and a paste or a "text to columns" does the same
with commas and tabs. A leading apostrophe would protect only the first of those
cells, so the apostrophe goes where the split would start the formula: after a
``;``, ``,`` or tab and any spaces, before the dangerous character
(``Ann;'=cmd|' /C calc'!A0``). To undo: drop one ``'`` that starts the cell, or
follows such a separator and spaces, and is followed by a dangerous character.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from petition.countries import country_name
from storage.exports.rows import ExportRow
from storage.receipts import display

DANGEROUS_FIRST_CHARACTERS = ("=", "+", "-", "@", "\t", "\r")
NEUTRALISING_PREFIX = "'"
_FORMULA_AFTER_SEPARATOR = re.compile(r"(?P<separator>[;,\t] *)(?=[=+\-@])")

# The receipt sits beside the name (for organisers only: the delivery PDF has none); the
# letter and consent versions tell apart signatures given on different wordings of the letter.
# ``name`` is the name as the signer chose to appear (and as delivered); ``name_form`` says which form.
HEADER = (
    "number",
    "name",
    "name_form",
    "receipt",
    "country_code",
    "country",
    "language",
    "signed_at_utc",
    "source",
    "letter_version",
    "consent_version",
)
ID_HEADER = "telegram_user_id"


def neutralise(cell: str) -> str:
    """The cell as text a spreadsheet will never evaluate, even split at a separator."""
    cell = _FORMULA_AFTER_SEPARATOR.sub(r"\g<separator>" + NEUTRALISING_PREFIX, cell)
    if cell.startswith(DANGEROUS_FIRST_CHARACTERS):
        return NEUTRALISING_PREFIX + cell
    return cell


def iso_utc(moment: datetime) -> str:
    """``2026-03-12T09:15:00Z``: ISO 8601 in UTC to the second, sortable as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def receipt_shown(code: str | None) -> str:
    """The receipt as exports show it: ``K7QF-2M9D``, or empty for a signature older than receipts."""
    return display(code) if code else ""


def header(*, with_ids: bool) -> list[str]:
    return [*HEADER, ID_HEADER] if with_ids else list(HEADER)


def cells(row: ExportRow, *, with_ids: bool) -> list[str]:
    """The row's cells as neutralised strings, in ``header()`` order."""
    values = [
        str(row.number),
        row.name,
        row.name_form,
        receipt_shown(row.receipt),
        row.country,
        country_name(row.country, "en"),
        row.language,
        iso_utc(row.signed_at),
        row.source or "",
        row.letter_version,
        row.consent_version,
    ]
    if with_ids:
        values.append("" if row.telegram_user_id is None else str(row.telegram_user_id))
    return [neutralise(value) for value in values]
