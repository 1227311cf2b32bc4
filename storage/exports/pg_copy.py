"""The CSV and the delivery list on PostgreSQL, straight from ``COPY ... TO STDOUT``.

Row by row in Python, a CSV of a million signatures spends ten times as long as
the database needs to produce its columns. Here PostgreSQL builds each finished
CSV record itself (formula neutralisation as ``safe.neutralise``, the receipt's
dash, the UTC time, the English country name, every field quoted; the regular
expression that finds the rare row needing neutralisation is most of the cost) together with
the signatory's fingerprint line (``fingerprint.line``), in one ``COPY`` from the
export's snapshot, and Python only splits the stream: CSV records joined with
CRLF into the file, fingerprint lines into the hash. The bytes are those of
``CsvWriter`` and ``ListWriter`` exactly (``tests/test_exports.py`` compares them
on hostile names); memory is one chunk of the stream, whatever the size.

COPY's text format writes each row as its columns separated by a tab and ended
by a line feed, with a backslash, tab, line feed, carriage return, backspace,
form feed and vertical tab inside a value written as a backslash sequence. So a
raw tab and a raw line feed in the stream are always COPY's own, and only a
chunk holding a backslash needs unescaping (names with one are rare).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from petition.countries import country_names
from storage.exports.csv_export import header_line
from storage.exports.fingerprint import Fingerprint
from storage.exports.safe import DANGEROUS_FIRST_CHARACTERS, NEUTRALISING_PREFIX

FORMATS = ("csv", "list")
"""The formats that can come straight from COPY; the others need Python per row."""

Progress = Callable[[int, int], Awaitable[None]]


def _literal(text: str) -> str:
    """``text`` as an SQL string literal (standard_conforming_strings: only quotes double)."""
    return "'" + text.replace("'", "''") + "'"


_SEPARATOR_BEFORE_FORMULA = "([;,\t] *)(?=[-=+@])"  # safe._FORMULA_AFTER_SEPARATOR, as a PostgreSQL ARE
# A row needs care if a field (each follows a chr(1) here) starts with a dangerous
# character, or any field holds a separator or a quote.
_NEEDS_CARE = '\x01[-=+@\t\r]|[;,\t"]'
_DANGEROUS = ", ".join(f"chr({ord(char)})" if char in "\t\r" else _literal(char) for char in DANGEROUS_FIRST_CHARACTERS)


def _prefixed(value: str) -> str:
    """SQL for the apostrophe before a dangerous first character."""
    return (
        f"CASE WHEN left({value}, 1) IN ({_DANGEROUS}) THEN {_literal(NEUTRALISING_PREFIX)} || {value} ELSE {value} END"
    )


def _neutralised(value: str) -> str:
    """SQL for ``safe.neutralise(value)``: the regular expression only runs where a separator is."""
    split = (
        f"regexp_replace({value}, {_literal(_SEPARATOR_BEFORE_FORMULA)}, "
        f"{_literal(chr(92) + '1' + NEUTRALISING_PREFIX)}, 'g')"
    )
    has_separator = f"strpos({value}, ';') + strpos({value}, ',') + strpos({value}, chr(9)) > 0"
    return f"CASE WHEN {has_separator} THEN {_prefixed(split)} ELSE {_prefixed(value)} END"


QUOTE = _literal('"')
DOUBLED_QUOTE = _literal('""')


def _quoted(value: str) -> str:
    """SQL for one CSV field, quoted as the csv module's QUOTE_ALL does."""
    return f"{QUOTE} || replace({value}, {QUOTE}, {DOUBLED_QUOTE}) || {QUOTE}"


def _escaped_for_fingerprint(value: str) -> str:
    """SQL for ``fingerprint.line``'s escapes: backslash first, then tab, line feed, carriage return."""
    for char, escape in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        value = f"replace({value}, chr({ord(char)}), {_literal(escape)})"
    return value


def _query(fmt: str, *, with_ids: bool) -> str:
    """The COPY query: one text column per output (the CSV record, then the fingerprint line).

    Neutralising and quoting each field costs more than producing it. Almost no row
    needs either, so one regular expression over the whole row decides: a row with a
    field that starts with a dangerous character, or holds a separator or a quote
    anywhere, takes the full treatment field by field; every other row is joined as is.
    """
    number = "row_number() OVER (ORDER BY s.signed_at, s.id)::text"
    fingerprint_line = f"{number} || chr(9) || {_escaped_for_fingerprint('s.name')} || chr(9) || s.country"
    if fmt == "list":
        return _select([fingerprint_line])
    receipt = (
        "CASE WHEN coalesce(s.receipt, '') = '' THEN '' ELSE substr(s.receipt, 1, 4) || '-' || substr(s.receipt, 5) END"
    )
    signed_at = "to_char(s.signed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    texts = [  # in header order, with the number before them and the time after the language
        "s.name",
        "s.name_form",
        receipt,
        "s.country",
        "coalesce(c.name, s.country)",
        "s.language",
        "coalesce(s.source, '')",
        "s.letter_version",
        "s.consent_version",
    ]
    if with_ids:
        texts.append("coalesce(s.telegram_user_id::text, '')")
    # The number and the time are digits first, with no separator or quote: never touched.
    careful = [_quoted(_neutralised(text)) for text in texts]
    careful[6:6] = [_quoted(signed_at)]
    careful.insert(0, _quoted(number))
    plain = [*texts[:6], signed_at, *texts[6:]]
    plain.insert(0, number)
    row = " || chr(1) || ".join(texts)
    needs_care = f"(chr(1) || {row}) ~ {_literal(_NEEDS_CARE)}"
    careful_record = " || ',' || ".join(careful)
    plain_record = f"{QUOTE} || " + " || '\",\"' || ".join(plain) + f" || {QUOTE}"
    record = f"CASE WHEN {needs_care} THEN {careful_record} ELSE {plain_record} END"
    return _select([record, fingerprint_line])


def _select(columns: list[str]) -> str:
    return (
        f"SELECT {', '.join(columns)} "  # noqa: S608 - built from this module's constants only
        "FROM signatures AS s LEFT JOIN unnest($2::text[], $3::text[]) AS c(code, name) ON c.code = s.country "
        "WHERE s.campaign = $1 ORDER BY s.signed_at, s.id"
    )


_COPY_ESCAPE = re.compile(rb"\\(.)", re.DOTALL)
_COPY_ESCAPES = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


def _unescape(value: bytes) -> bytes:
    """One value of COPY's text format as it is stored."""
    if b"\\" not in value:
        return value
    return _COPY_ESCAPE.sub(lambda match: _COPY_ESCAPES.get(match[1], match[1]), value)


class _Splitter:
    """Turns COPY's chunks (cut anywhere) into the file's bytes and the fingerprint's lines."""

    def __init__(self, fmt: str, file: Any, fingerprint: Fingerprint) -> None:
        self._csv = fmt == "csv"
        self._file = file
        self._fingerprint = fingerprint
        self._partial = b""
        self.rows = 0

    def feed(self, chunk: bytes) -> int:
        """Handle the whole rows in ``chunk`` (keeping a cut-off one for later); how many there were."""
        data = self._partial + chunk
        end = data.rfind(b"\n")
        if end < 0:
            self._partial = data
            return 0
        self._partial = data[end + 1 :]
        body = data[: end + 1]
        if self._csv:
            # Each row is "record TAB fingerprint-line LF", neither value holding a raw tab or LF.
            values = body.replace(b"\n", b"\t").split(b"\t")[:-1]
            records, lines = values[0::2], values[1::2]
            if b"\\" in body:
                records = [_unescape(value) for value in records]
                lines = [_unescape(value) for value in lines]
            self._file.write(b"\r\n".join(records) + b"\r\n")
            self._fingerprint.add_lines(b"\n".join(lines) + b"\n", len(lines))
            rows = len(lines)
        else:
            if b"\\" in body:
                body = b"\n".join(_unescape(value) for value in body.split(b"\n")[:-1]) + b"\n"
            rows = body.count(b"\n")
            self._file.write(body)
            self._fingerprint.add_lines(body, rows)
        self.rows += rows
        return rows

    def finish(self) -> None:
        if self._partial:  # pragma: no cover - COPY ends every row with a line feed
            raise ValueError("COPY's output ended in the middle of a row")


async def copy_export(
    connection: Any,
    campaign: str,
    fmt: str,
    path: Path,
    *,
    with_ids: bool,
    fingerprint: Fingerprint,
    total: int,
    progress: Progress | None,
    progress_every: int,
) -> int:
    """Write ``campaign``'s CSV or delivery list to ``path`` with COPY on ``connection``
    (an asyncpg connection inside the export's snapshot); the number of rows written."""
    names = country_names("en")
    with path.open("wb") as file:
        if fmt == "csv":
            file.write(codecs.BOM_UTF8 + header_line(with_ids=with_ids).encode())
        splitter = _Splitter(fmt, file, fingerprint)
        reported = 0
        failed: list[Exception] = []

        async def output(chunk: bytes) -> None:
            # An exception raised into asyncpg mid-COPY leaves its connection waiting for
            # the rest of the stream: the first failure is kept, the stream drained unread.
            nonlocal reported
            if failed:
                return
            try:
                splitter.feed(chunk)
                if progress is not None and splitter.rows - reported >= progress_every:
                    reported = splitter.rows
                    await progress(reported, total)
            except Exception as error:  # raised below, once COPY has ended
                failed.append(error)

        if progress is not None:
            await progress(0, total)
        # The query's literals hold backslashes ("\\1'", "\\\\"): read as written, whatever the server's default.
        await connection.execute("SET LOCAL standard_conforming_strings = on")
        await connection.copy_from_query(
            _query(fmt, with_ids=with_ids), campaign, list(names), list(names.values()), output=output
        )
        if failed:
            raise failed[0]
        splitter.finish()
        if progress is not None and splitter.rows != reported:
            await progress(splitter.rows, total)
    return splitter.rows
