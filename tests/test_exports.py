"""Signatory exports, on SQLite and PostgreSQL: every file is read back and compared with the database.

The rows are read the same way on both (one snapshot, keyset pages); the documents are
written from those rows whatever the backend. So every format is checked on both
databases, and the tests of the documents' finer points (``ON_SQLITE``: scripts, paging,
the log, memory) run on SQLite only, where they cost least.

Expected cells are computed here from the rows as stored, independently of the
export code; the neutralisation rule is spelled out again so a change to it fails.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import hashlib
import io
import logging
import re
import shutil
import threading
import time
import tracemalloc
import unicodedata
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pypdfium2 as pdfium
import pytest
from click.testing import CliRunner
from openpyxl.utils.escape import unescape
from pypdf import PdfReader
from sqlalchemy import insert, select, text

from bot.cli.export import export
from handlers.i18n import LOCALES_DIR, delivery_letters
from petition.campaign import Campaign, load_campaign
from petition.countries import country_name
from storage.db import Database
from storage.exports import archive
from storage.exports.export import ExportError, ExportFormat, ExportResult, export_signatures
from storage.exports.fonts import MISSING, needs_shaping, printable, shown
from storage.exports.safe import neutralise
from storage.models import Signature
from storage.signatures import add_signature, withdraw_signature

CAMPAIGN = "xinjiang"
FIRST_USER_ID = 7_000_000_001  # large and distinctive, so a leaked id is easy to find in a file

HOSTILE = [
    ('=HYPERLINK("http://x")', "DE", "en", "news"),
    ("+1", "FR", "fr", None),
    ("-2", "US", "en", "-dash"),
    ("@SUM(A1)", "GB", "en", None),
    ("\tTab", "CA", "en", None),
    ("\rCR", "AU", "en", None),
    ('Smith, "Jr"', "IE", "en", "friend_1"),
    ("Anna\nMaria Schmidt", "AT", "de", None),
    ("محمد علي", "EG", "ar", None),
    ("ئەركىن تۇنىياز", "TR", "ug", "uyghur_news"),
    ("Ольга Петрова", "RU", "ru", None),
    ("李小龍", "TW", "zh_Hant", None),
    ("Emoji 😀 Fan", "BA", "en", None),
    ("José Álvarez-Núñez", "MX", "es", None),
    ("Odd_x0041_Name", "NL", "nl", None),  # looks like OOXML's escape: must stay literal
]
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
# A formula a spreadsheet splits off at a list separator (";" in much of Europe, "," or a tab).
SEPARATED_FORMULA = re.compile(r"([;,\t] *)(?=[=+\-@])")
SEPARATED = [
    ("Ann;=cmd|' /C calc'!A0", "DE", "de", None),
    ("Bob, +1", "FR", "fr", "a;-b"),
    ("Eve\t-2", "IT", "it", None),
    ("Zoe ;  @SUM(A1)", "ES", "es", None),
    ("=1;=2", "PT", "pt", None),
    ("Plain; name, here", "BE", "nl", None),
]
CJK_OR_ARABIC = re.compile(r"[\u0600-\u06ff\u4e00-\u9fff]")


async def _seed(db: Database, names: Sequence[tuple[str, str, str, str | None]] = HOSTILE) -> None:
    for offset, (name, country, language, source) in enumerate(names):
        await add_signature(
            db,
            campaign=CAMPAIGN,
            user_id=FIRST_USER_ID + offset,
            name=name,
            country=country,
            language=language,
            source=source,
            opt_in=False,
            letter_version="letter-1",
            consent_version="consent-1",
        )


async def _bulk(db: Database, count: int, *, first_user_id: int = 1, counted: bool = True) -> None:
    """Many plain rows at once (add_signature is one transaction per row).

    ``counted=False`` skips the kept counts' trigger on PostgreSQL (a quarter of a
    millisecond a row), for tests that only read the rows back."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for chunk in range(0, count, 5000):
        rows = [
            {
                "campaign": CAMPAIGN,
                "telegram_user_id": first_user_id + i,
                "name": f"Signer Number {i} Ålesund",
                "country": ("DE", "CN", "KZ", "TR")[i % 4],
                "language": "en",
                "source": None,
                "referral_code": f"b{first_user_id + i}",
                "opt_in": False,
                "signed_at": start + timedelta(seconds=i // 3),  # ties: order falls back to id
                "letter_version": "v",
                "consent_version": "c",
            }
            for i in range(chunk, min(count, chunk + 5000))
        ]
        async with db.transaction() as session:
            if not counted and db.is_postgres:
                await session.execute(text("SET LOCAL session_replication_role = replica"))
            await session.execute(insert(Signature), rows)


async def _stored(db: Database) -> list[Signature]:
    async with db.session() as session:
        result = await session.scalars(
            select(Signature).where(Signature.campaign == CAMPAIGN).order_by(Signature.signed_at, Signature.id)
        )
        return list(result)


def _safe(cell: str) -> str:
    cell = SEPARATED_FORMULA.sub(r"\1'", cell)
    return "'" + cell if cell.startswith(DANGEROUS) else cell


def _no_formula_when_split(cell: str) -> bool:
    """Whether every piece of ``cell`` split at ``;``, ``,`` or a tab is text to a spreadsheet."""
    pieces = re.split(r"[;,\t]", cell)
    return not pieces[0].startswith(DANGEROUS) and not any(p.lstrip(" ").startswith(DANGEROUS) for p in pieces[1:])


def _receipt(row: Signature) -> str:
    """As shown to the signer ("K7QF-2M9D"); empty for a row stored without one (older than receipts)."""
    return f"{row.receipt[:4]}-{row.receipt[4:]}" if row.receipt else ""


def _expected(rows: list[Signature], *, with_ids: bool = False) -> list[list[str]]:
    expected = []
    for number, row in enumerate(rows, 1):
        cells = [
            str(number),
            _safe(row.name),
            row.name_form,
            _receipt(row),
            row.country,
            country_name(row.country, "en"),
            row.language,
            row.signed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            _safe(row.source or ""),
            row.letter_version,
            row.consent_version,
        ]
        if with_ids:
            cells.append(str(row.telegram_user_id))
        expected.append(cells)
    return expected


HEADER = [
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
]
SOURCE = HEADER.index("source")


def _cell_text(value: object) -> str:
    """A cell as the CSV writes it: numbers as digits, the signing time as ISO 8601 UTC.
    xlsxwriter writes control characters with OOXML's ``_xHHHH_`` escape (a literal CR
    would not survive XML parsing); Excel decodes it, openpyxl's inline-string reader
    does not, so decode it here with openpyxl's own function."""
    if isinstance(value, datetime):  # a date cell: UTC without a zone, as the column's name says
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else unescape(str(value))


def _read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM for spreadsheet programs"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _files(directory: Path) -> list[Path]:
    return sorted(directory.iterdir())


@pytest.fixture
def campaign() -> Campaign:
    return load_campaign(CAMPAIGN)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """The export directory: empty, apart from the SQLite database beside it."""
    directory = tmp_path / "exports"
    directory.mkdir()
    return directory


# --- the spreadsheet formats -----------------------------------------------------------


# The documents' finer points do not depend on the backend: checked once, on SQLite.
ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_csv_round_trips_every_name(database: Database, campaign: Campaign, out: Path) -> None:
    await _seed(database)
    result = await export_signatures(database, campaign, "csv", out)

    assert result.rows == len(HOSTILE) and not result.compressed and result.fmt == "csv"
    assert result.filename.startswith("xinjiang-signatures-") and result.filename.endswith(".csv")
    assert result.path.parent == out and result.size == result.path.stat().st_size
    data = result.path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfnumber,name,") and data.endswith(b"\r\n")
    assert b"\r\n" in data.split(b"\n", 1)[0] + b"\n"  # CRLF record ends
    rows = _read_csv(data)
    assert rows[0] == HEADER
    stored = await _stored(database)
    assert rows[1:] == _expected(stored)
    # The neutralisation is exactly the documented one: dangerous cells only.
    names = {row[1] for row in rows[1:]}
    assert {'\'=HYPERLINK("http://x")', "'+1", "'-2", "'@SUM(A1)", "'\tTab", "'\rCR", "'-dash"} <= names | {
        row[SOURCE] for row in rows[1:]
    }
    assert {'Smith, "Jr"', "Anna\nMaria Schmidt", "ئەركىن تۇنىياز", "李小龍", "Emoji 😀 Fan"} <= names
    assert str(FIRST_USER_ID) not in data.decode("utf-8-sig")  # no ids unless asked for


async def test_xlsx_round_trips_every_name(database: Database, campaign: Campaign, out: Path) -> None:
    await _seed(database)
    result = await export_signatures(database, campaign, "xlsx", out)

    assert result.filename.endswith(".xlsx") and result.rows == len(HOSTILE)
    workbook = openpyxl.load_workbook(result.path)
    sheet = workbook["Signatures"]
    assert sheet.freeze_panes == "A2"
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            # Never a formula: the number is a number, the signing time a date, the rest text.
            typed = {"A": "n", "H": "d"}.get(cell.column_letter, "s")
            assert cell.value is None or cell.data_type == typed, (cell.coordinate, cell.data_type)
    assert isinstance(values[1][0], int) and isinstance(values[1][7], datetime)
    assert sheet["H2"].number_format == "yyyy-mm-dd hh:mm:ss"
    got = [[_cell_text(value) for value in row] for row in values]
    assert got[0] == HEADER
    assert got[1:] == _expected(await _stored(database))
    assert [name for name in (row[1] for row in got) if name.startswith("'")] == [
        '\'=HYPERLINK("http://x")',
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tTab",
        "'\rCR",
    ]
    assert _files(out) == [result.path], "xlsxwriter's temporary files are gone"
    # The "About" sheet: the list's fingerprint, the same the CSV and the delivery PDF give.
    about = {row[0]: row[1] for row in workbook["About"].iter_rows(values_only=True)}
    csv_result = await export_signatures(database, campaign, "csv", out)
    assert about["SHA-256 fingerprint of the signatory list"] == result.fingerprint == csv_result.fingerprint
    assert about["Signatories in this workbook"] == str(len(HOSTILE))
    assert "Erased after the retention period" not in about
    assert about["Letter"] == campaign.title and about["Addressees"] == "; ".join(campaign.targets)
    letter = [row[1] for row in workbook["About"].iter_rows(values_only=True) if row[0] is None and row[1]]
    assert letter[0] == campaign.letter.salutation + "," and letter[-1] == campaign.letter.closing
    assert campaign.letter.paragraphs[0] in letter and f"• {campaign.letter.demands[-1]}" in letter
    assert workbook.sheetnames == ["Signatures", "About"]


@ON_SQLITE
async def test_xlsx_goes_on_in_more_sheets_past_the_row_limit(
    database: Database, campaign: Campaign, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage.exports import xlsx_export

    monkeypatch.setattr(xlsx_export, "MAX_ROWS_PER_SHEET", 5)  # Excel's is 1,048,576, header included
    await _bulk(database, 10)
    result = await export_signatures(database, campaign, "xlsx", out, with_ids=True, batch_size=3)

    workbook = openpyxl.load_workbook(result.path, read_only=True)
    assert workbook.sheetnames == ["Signatures", "Signatures 2", "Signatures 3", "About"]
    rows: list[list[str]] = []
    for title in workbook.sheetnames[:3]:
        sheet = [list(row) for row in workbook[title].iter_rows(values_only=True)]
        assert [_cell_text(v) for v in sheet[0]] == [*HEADER, "telegram_user_id"]
        assert all(isinstance(row[0], int) and isinstance(row[-1], int) for row in sheet[1:])
        rows += [[_cell_text(v) for v in row] for row in sheet[1:]]
    assert [len(list(workbook[t].iter_rows())) for t in workbook.sheetnames[:3]] == [5, 5, 3]
    assert rows == _expected(await _stored(database), with_ids=True)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_ids_only_when_asked(database: Database, campaign: Campaign, out: Path, fmt: str) -> None:
    await _seed(database)
    result = await export_signatures(database, campaign, fmt, out, with_ids=True)  # type: ignore[arg-type]
    assert "with-ids" in result.filename
    if fmt == "csv":
        rows = _read_csv(result.path.read_bytes())
    else:
        sheet = openpyxl.load_workbook(result.path, read_only=True)["Signatures"]
        rows = [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == [*HEADER, "telegram_user_id"]
    assert rows[1:] == _expected(await _stored(database), with_ids=True)


async def test_pdf_never_carries_ids(database: Database, campaign: Campaign, out: Path) -> None:
    with pytest.raises(ExportError, match="never carries Telegram ids"):
        await export_signatures(database, campaign, "pdf", out, with_ids=True)
    assert _files(out) == []


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Ann-Marie", "Ann-Marie"),
        (" =1", " =1"),
        ("'quoted", "'quoted"),
        ("", ""),
        ("Ann;=cmd|' /C calc'!A0", "Ann;'=cmd|' /C calc'!A0"),
        ("Bob, +1", "Bob, '+1"),
        ("Eve\t-2", "Eve\t'-2"),
        ("Zoe ;  @SUM(A1)", "Zoe ;  '@SUM(A1)"),
        ("=1;=2", "'=1;'=2"),
        ("\t=1", "'\t'=1"),
        ("Smith, Jr", "Smith, Jr"),
        ("Plain; name", "Plain; name"),
        ("Ann-Marie; Bob", "Ann-Marie; Bob"),
    ],
)
def test_neutralise(cell: str, safe: str) -> None:
    assert neutralise(cell) == safe
    assert _no_formula_when_split(neutralise(cell))


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_formula_behind_a_separator_is_neutralised(
    database: Database, campaign: Campaign, out: Path, fmt: ExportFormat
) -> None:
    """``Ann;=cmd...`` opened where ``;`` separates cells must not leave a cell starting with ``=``."""
    await _seed(database, [*SEPARATED, *HOSTILE])
    result = await export_signatures(database, campaign, fmt, out)
    if fmt == "csv":
        data = result.path.read_bytes()
        rows = _read_csv(data)
        # Every data field quoted: a ";" inside a name stays inside quotes for any reader.
        records = data.decode("utf-8-sig").split("\r\n")[1:-1]
        assert records[0].startswith('"1","') and records[0].endswith('"')
        for line in records:
            if line.startswith('"') and not line.startswith('"Maria'):  # the record a name's newline split
                assert line.count('","') >= len(HEADER) - 1, line
        assert data.decode("utf-8-sig").count('"') % 2 == 0
    else:
        sheet = openpyxl.load_workbook(result.path, read_only=True)["Signatures"]
        rows = [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    assert rows[1:] == _expected(await _stored(database))
    names = [row[1] for row in rows[1:]]
    assert names[: len(SEPARATED)] == [
        "Ann;'=cmd|' /C calc'!A0",
        "Bob, '+1",
        "Eve\t'-2",
        "Zoe ;  '@SUM(A1)",
        "'=1;'=2",
        "Plain; name, here",
    ]
    assert rows[2][SOURCE] == "a;'-b"
    for row in rows[1:]:
        for cell in row:
            assert _no_formula_when_split(cell), cell


# --- the delivery document --------------------------------------------------------------


def _pdf_text(path: Path) -> tuple[list[str], str]:
    """Each page's text (pypdf), and all the text as two common readers get it: PDFium (Chrome's
    and most viewers') and pypdf. Each reader gets something wrong that the other gets right:
    pypdf misreads a font's text map past 254 glyphs (the Chinese letter), PDFium right-to-left
    names in visual order; a word counts as printed when either reads it."""
    pages = [page.extract_text() for page in PdfReader(path).pages]
    document = pdfium.PdfDocument(path)
    try:
        viewer = [page.get_textpage().get_text_range().replace("\r\n", "\n") for page in document]
    finally:
        document.close()
    # Glyphs without a Unicode mapping (Arabic dots drawn as separate glyphs) come out as
    # control characters; they are not part of any word.
    both = "\n".join([*viewer, *pages])
    return pages, "".join(" " if unicodedata.category(c) == "Cc" and c != "\n" else c for c in both)


async def test_pdf_is_the_letter_with_every_name(database: Database, campaign: Campaign, out: Path) -> None:
    await _seed(database)
    result = await export_signatures(database, campaign, "pdf", out)

    assert result.filename.endswith(".pdf") and result.rows == len(HOSTILE)
    assert result.path.read_bytes().startswith(b"%PDF-")
    pages, text = _pdf_text(result.path)
    words = set(text.split())
    compact = "".join(text.split())
    for page_number, page in enumerate(pages, 1):
        assert f"Page {page_number} of {len(pages)}" in page
    total = f"{len(HOSTILE)} people signed this letter."
    assert total in pages[0] and total in pages[-1]
    for part in (campaign.letter_subject, *campaign.targets, campaign.letter.closing, *campaign.letter.demands[:1]):
        assert " ".join(part.split()) in " ".join(text.split()) or all(w in words for w in part.split())
    for name, country, _, _ in HOSTILE:
        shown = printable(name)
        for word in shown.split():
            # Right-to-left names may come out in reversed word order, CJK with spaces
            # between glyphs: compare words, and CJK/Arabic words without spaces.
            assert word in words or (CJK_OR_ARABIC.search(word) and word in compact), (name, word)
        assert country_name(country, "en") in " ".join(text.split())  # a long one wraps in its column
    assert "Emoji 😀 Fan" in text  # drawn in black and white (Noto Emoji), and found by a search
    # Numbered in signing order.
    numbers = [int(n) for n in re.findall(r"^(\d+) (?!people)", "\n".join(pages[1:]), flags=re.MULTILINE)]
    assert numbers == list(range(1, len(HOSTILE) + 1))
    latin = [(n, printable(name).split()[0]) for n, (name, *_) in enumerate(HOSTILE, 1) if name.isascii()]
    for number, first_word in latin:
        assert re.search(rf"^{number} {re.escape(first_word)}", text, flags=re.MULTILINE), (number, first_word)


async def test_the_pdf_reads_as_a_letter_in_the_addressees_language_then_in_english(
    database: Database, campaign: Campaign, out: Path
) -> None:
    # Latin, Chinese, emoji (right-to-left names extract in visual order: a known limit, #16).
    signers = [HOSTILE[i] for i in (0, 11, 12, 13)]
    await _seed(database, signers)
    letters = delivery_letters(campaign)
    assert [version.heading for version in letters] == ["中文 (简体) · Chinese (Simplified)"]
    result = await export_signatures(database, campaign, "pdf", out, translations=letters)

    pages, text = _pdf_text(result.path)
    compact = "".join(text.split())
    chinese = letters[0].campaign
    # Titled with the letter's subject, not the supporters' call to action.
    assert pages[0].lstrip().startswith(campaign.letter_subject)
    assert "".join(campaign.title.split()) not in compact
    metadata = PdfReader(result.path).metadata
    assert metadata is not None and metadata.title == campaign.letter_subject
    assert "The letter in Chinese (Simplified), then in English." in " ".join(pages[0].split())
    # The whole Chinese letter (no space is lost in a language written without them), then the English.
    for part in (
        chinese.letter_subject,
        chinese.letter.salutation,
        *chinese.letter.paragraphs,
        *chinese.letter.demands,
    ):
        assert "".join(part.split()) in compact, part[:20]
    chinese_at = compact.index("".join(chinese.letter.demands[1].split()))
    english_at = compact.index("".join(campaign.letter.demands[1].split()))
    names_at = compact.index("Signatories")
    assert chinese_at < english_at < names_at
    for name, *_ in signers:  # the names, after a letter that used the same fonts, copy as they are
        assert "".join(printable(name).split()) in compact[names_at:], name


def test_a_delivery_language_without_the_whole_letter_is_left_out(
    tmp_path: Path, campaign: Campaign, caplog: pytest.LogCaptureFixture
) -> None:
    locales = tmp_path / "locales"
    shutil.copytree(LOCALES_DIR / "ru", locales / "ru")
    shutil.copytree(LOCALES_DIR / "de", locales / "de")
    po = locales / "de" / "LC_MESSAGES" / "messages.po"
    (locales / "de" / "LC_MESSAGES" / "messages.mo").unlink(missing_ok=True)
    (locales / "ru" / "LC_MESSAGES" / "messages.mo").unlink(missing_ok=True)
    po.write_text(po.read_text(encoding="utf-8").replace('msgstr "Mit freundlichen Grüßen"', 'msgstr ""'), "utf-8")
    asked = dataclasses.replace(campaign, delivery_languages=("de", "ru", "ja"))

    with caplog.at_level(logging.WARNING):
        letters = delivery_letters(asked, locales)

    assert [version.heading for version in letters] == ["Русский · Russian"]
    assert letters[0].campaign.letter.closing == "С уважением,"
    warned = [r.getMessage() for r in caplog.records if "left out of the PDF" in r.getMessage()]
    assert len(warned) == 2 and "de" in warned[0] and "1 of the letter's" in warned[0] and "ja" in warned[1]


@ON_SQLITE
async def test_a_long_list_comes_in_volumes_each_with_the_letter(
    database: Database, campaign: Campaign, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive, "PDF_VOLUME_SIZE", 4)
    await _bulk(database, 10)
    result = await export_signatures(database, campaign, "pdf", out, batch_size=3)

    assert (result.rows, result.volumes, result.compressed) == (10, 3, True)
    stem = result.filename.removesuffix(".zip")
    assert result.filename.endswith(".zip") and stem.startswith("xinjiang-letter-and-signatures-")
    with zipfile.ZipFile(result.path) as volumes:
        names = volumes.namelist()
        assert names == [f"{stem}-volume-{n}-of-3.pdf" for n in (1, 2, 3)]
        directory = out / "volumes"
        volumes.extractall(directory)
    listed: list[int] = []
    for number, name in enumerate(names, 1):
        pages, text = _pdf_text(directory / name)
        flat = " ".join(text.split())
        assert campaign.letter_subject in flat and "10 people signed this letter." in pages[0]
        assert f"Volume {number} of 3" in pages[0] and f"Volume {number} of 3" in pages[-1]  # running title
        first, last = 4 * number - 3, min(4 * number, 10)
        assert f"Volume {number} of 3: the signatories numbered {first} to {last}." in flat
        listed += [int(n) for n in re.findall(r"^(\d+) Signer Number", "\n".join(pages[1:]), flags=re.MULTILINE)]
        if number < 3:
            assert f"The list continues in volume {number + 1} of 3." in flat and result.fingerprint not in flat
        else:
            assert result.fingerprint in flat and "continues" not in flat
    assert listed == list(range(1, 11)), "numbered on across the volumes, each name once"
    assert _files(out) == [result.path, directory]  # no volume left beside the zip


def test_a_volume_that_cannot_start_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from storage.exports import pdf_export

    def no_fonts(*args: object, **kwargs: object) -> None:
        raise MemoryError("no room for the fonts")

    monkeypatch.setattr(pdf_export, "_Volume", no_fonts)
    with pytest.raises(MemoryError):
        pdf_export.PdfWriter(
            tmp_path / "letter.zip",
            campaign=load_campaign(CAMPAIGN),
            total=10,
            generated_at=datetime.now(UTC),
            volume_size=4,
        )
    assert list(tmp_path.iterdir()) == []


@ON_SQLITE
async def test_volumes_written_before_a_failure_are_deleted(
    database: Database, campaign: Campaign, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive, "PDF_VOLUME_SIZE", 2)
    await _bulk(database, 9)

    async def progress(done: int, total: int) -> None:
        if done >= 6:  # two volumes are files by now
            raise RuntimeError("the admin's chat went away")

    with pytest.raises(RuntimeError):
        await export_signatures(database, campaign, "pdf", out, batch_size=3, progress=progress)
    assert _files(out) == []


@ON_SQLITE
async def test_pdf_of_no_signatures(database: Database, campaign: Campaign, out: Path) -> None:
    result = await export_signatures(database, campaign, "pdf", out)
    pages, text = _pdf_text(result.path)
    assert result.rows == 0
    assert "0 people signed this letter." in pages[0]
    assert "No one has signed this letter yet." in text
    # One column's headings, not an empty second column's too.
    assert pages[-1].count("Country") == 1 and pages[-1].count("No.") == 1


@ON_SQLITE
async def test_pdf_pages_many_names(database: Database, campaign: Campaign, out: Path) -> None:
    await _bulk(database, 600)
    result = await export_signatures(database, campaign, "pdf", out, batch_size=250)
    pages, _ = _pdf_text(result.path)
    assert len(pages) >= 4
    assert all(f"Page {n} of {len(pages)}" in page for n, page in enumerate(pages, 1))
    assert "600 people signed this letter." in pages[-1]
    numbers = sorted(int(n) for n in re.findall(r"^(\d+) Signer", "\n".join(pages), flags=re.MULTILINE))
    assert numbers == list(range(1, 601))


# Covered by the fonts: printed exactly. Not covered: printed with a placeholder per letter and counted.
SCRIPTS = [
    ("שרה כהן", "IL", "he", None),  # Hebrew
    ("สมชาย ใจดี", "TH", "th", None),  # Thai
    ("राहुल शर्मा", "IN", "hi", None),  # Devanagari
    ("김민준", "KR", "ko", None),  # Hangul
    ("さくら たなか", "JP", "ja", None),  # hiragana
    ("タナカ ハナコ", "JP", "ja", None),  # katakana
    ("ნინო ბერიძე", "GE", "ka", None),  # Georgian
    ("Արամ Սարգսյան", "AM", "hy", None),  # Armenian
    ("አበበ ቢቂላ", "ET", "am", None),  # Ethiopic
    ("রহিম উদ্দিন", "BD", "bn", None),  # Bengali
    ("தமிழ் செல்வன்", "LK", "ta", None),  # Tamil
    ("សុខ ចាន់", "KH", "km", None),  # Khmer
    ("བཀྲ་ཤིས་ རྡོ་རྗེ", "CN", "bo", None),  # Tibetan (a vendored font)
    ("ދިވެހި", "MV", "dv", None),  # Thaana (vendored)
    ("ᠪᠠᠲᠤ", "CN", "mn", None),  # Mongolian (vendored)
    ("ܐܦܪܝܡ", "SY", "syr", None),  # Syriac (vendored)
]
UNCOVERED = [
    ("ᏣᎳᎩ Smith", "US", "chr", None),  # Cherokee: no font
    ("ߒߞߏ", "GN", "nqo", None),  # N'Ko: no font
]


def test_scripts_are_printed_or_counted() -> None:
    for name, *_ in SCRIPTS:
        assert printable(name) == name and shown(name) == (name, True), name
    assert shown("ᏣᎳᎩ Smith") == (MISSING * 3 + " Smith", False)
    assert shown("ߒߞߏ") == (MISSING * 3, False)
    assert shown("Emoji 😀 Fan") == ("Emoji 😀 Fan", True)  # Noto Emoji draws it
    assert shown("Logo \ue000 Fan") == ("Logo Fan", False)  # private use: no font has it; left out, but counted
    assert shown("👨\u200d👩\u200d👧") == ("👨\u200d👩\u200d👧", True)  # HarfBuzz joins what Noto Emoji can
    assert shown("\ue000\u200d\ue001") == ("", False)  # nothing visible left: the name is empty on paper
    assert shown("Anna\nMaria\t Schmidt") == ("Anna Maria Schmidt", True)
    assert shown("\u202eevil\u202c name") == ("evil name", True)


@ON_SQLITE
async def test_pdf_shows_every_script_or_says_it_cannot(database: Database, campaign: Campaign, out: Path) -> None:
    await _seed(database, [*SCRIPTS, *UNCOVERED, ("Emoji 😀 Fan", "BA", "en", None)])
    result = await export_signatures(database, campaign, "pdf", out)

    assert result.rows == len(SCRIPTS) + 3
    assert result.incomplete_names == 2  # Cherokee and N'Ko; every other script is drawn, the emoji too
    pages, text = _pdf_text(result.path)
    compact = "".join(text.split())
    for name in ("김민준", "さくらたなか", "タナカハナコ", "ნინობერიძე", "ԱրամՍարգսյան", "አበበቢቂላ"):
        assert name in compact, name
    assert "שרה" in compact or "הרש" in compact  # right to left: either order, depending on the extractor
    assert MISSING * 3 + "Smith" in compact and MISSING * 3 in compact.replace(MISSING * 3 + "Smith", "")
    closing = " ".join(pages[-1].split())
    assert f"{len(SCRIPTS) + 3} people signed this letter." in closing
    first = len(SCRIPTS) + 1  # Cherokee, then N'Ko, numbered after every covered script
    # Only their rows show □: Tibetan, Thaana, Mongolian and Syriac are drawn (the vendored fonts).
    marked = {line.split()[0] for line in text.splitlines() if MISSING in line and "are drawn as" not in line}
    assert marked == {str(first), str(first + 1)}
    assert result.incomplete_numbers == (first, first + 1)
    assert f"This document cannot show every character of 2 names (number {first} and {first + 1})" in closing
    assert "every name exactly as signed" in closing
    # The spreadsheets have every name exactly.
    csv_result = await export_signatures(database, campaign, "csv", out)
    assert csv_result.incomplete_names == 0
    names = [row[1] for row in _read_csv(csv_result.path.read_bytes())[1:]]
    assert names == [name for name, *_ in [*SCRIPTS, *UNCOVERED]] + ["Emoji 😀 Fan"]


@ON_SQLITE
async def test_pdf_of_complete_names_has_no_note(database: Database, campaign: Campaign, out: Path) -> None:
    await _seed(database, SCRIPTS)
    result = await export_signatures(database, campaign, "pdf", out)
    _, text = _pdf_text(result.path)
    assert result.incomplete_names == 0 and "cannot show" not in text and MISSING not in text


@ON_SQLITE
async def test_pdf_keeps_names_out_of_the_log(
    database: Database, campaign: Campaign, out: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """fontTools logs the glyph names of every font it subsets: the characters of the names."""
    names = [*SCRIPTS, *HOSTILE, ("Zoë Quigley-Xavier", "GB", "en", None)]
    await _seed(database, names)
    font_loggers = [logging.getLogger(n) for n in ("fontTools", "fontTools.subset", "fontTools.ttLib")]
    levels = [logger.level for logger in font_loggers]
    for logger in font_loggers:  # as for a library user who never called setup_logging
        logger.setLevel(logging.NOTSET)
    try:
        caplog.set_level(logging.INFO)
        await export_signatures(database, campaign, "pdf", out)
    finally:
        for logger, level in zip(font_loggers, levels, strict=True):
            logger.setLevel(level)
    assert caplog.records, "the export's own log line is captured"
    assert not [r for r in caplog.records if r.name.startswith("fontTools")]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "lyph" not in logged
    for name, *_ in names:
        assert name not in logged
        for char in name:
            if not char.isascii():
                assert char not in logged and f"uni{ord(char):04X}" not in logged, char


def test_printable_and_shaping() -> None:
    assert printable("Anna\nMaria\t Schmidt") == "Anna Maria Schmidt"
    assert printable("Emoji 😀 Fan") == "Emoji 😀 Fan" and printable("Logo \ue000 Fan") == "Logo Fan"
    assert printable("\u202eevil\u202c name") == "evil name"
    assert printable("ئەركىن تۇنىياز") == "ئەركىن تۇنىياز"
    assert printable("李小龍") == "李小龍"
    assert not needs_shaping("José Ольга 李小龍")
    assert needs_shaping("محمد") and needs_shaping("ئەركىن")
    assert needs_shaping("e\u0301")  # a combining mark


# --- size, progress, snapshot, cleanup ----------------------------------------------------


async def test_large_export_is_zipped(
    database: Database, campaign: Campaign, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed(database)
    monkeypatch.setattr(archive, "ZIP_THRESHOLD_BYTES", 100)
    result = await export_signatures(database, campaign, "csv", out)

    assert result.compressed and result.filename.endswith(".csv.zip") and result.path.suffix == ".zip"
    assert _files(out) == [result.path], "the uncompressed file is deleted"
    assert result.size == result.path.stat().st_size
    with zipfile.ZipFile(result.path) as archived:
        assert archived.testzip() is None
        (member,) = archived.infolist()
        assert member.filename == result.filename.removesuffix(".zip")
        assert member.compress_type == zipfile.ZIP_DEFLATED
        rows = _read_csv(archived.read(member))
    assert rows[1:] == _expected(await _stored(database))


async def test_small_export_is_not_zipped_without_compress(
    database: Database, campaign: Campaign, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed(database)
    monkeypatch.setattr(archive, "ZIP_THRESHOLD_BYTES", 100)
    result = await export_signatures(database, campaign, "csv", out, compress=False)
    assert not result.compressed and result.filename.endswith(".csv")


async def test_progress_reaches_the_total(database: Database, campaign: Campaign, out: Path) -> None:
    await _bulk(database, 23)
    calls: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        calls.append((done, total))

    result = await export_signatures(database, campaign, "csv", out, batch_size=5, progress=progress)
    assert calls[0] == (0, 23) and calls[-1] == (23, 23)
    done = [done for done, _ in calls]
    assert done == sorted(set(done)), "forward only, never the same figure twice"
    if not database.is_postgres:  # a batch at a time; PostgreSQL's COPY reports as its stream arrives
        assert done == [0, 5, 10, 15, 20, 23]
    rows = _read_csv(result.path.read_bytes())
    assert rows[1:] == _expected(await _stored(database)), "keyset pages neither skip nor repeat ties"


async def test_export_is_one_snapshot(database: Database, campaign: Campaign, out: Path) -> None:
    """Signatures and withdrawals during an export change neither its count nor its rows."""
    await _bulk(database, 12)
    before = await _stored(database)
    seen: list[int] = []
    waited: list[float] = []

    async def progress(done: int, total: int) -> None:
        seen.append(total)
        if done == 0:  # counted, no row read yet
            started = time.monotonic()
            await withdraw_signature(database, CAMPAIGN, before[-1].telegram_user_id)
            waited.append(time.monotonic() - started)
            await _seed(database, [("Late Signer", "DE", "en", None)])

    result = await export_signatures(database, campaign, "csv", out, batch_size=4, progress=progress)
    rows = _read_csv(result.path.read_bytes())
    assert result.rows == 12 and set(seen) == {12}
    assert rows[1:] == _expected(before)
    assert len(await _stored(database)) == 12  # one out, one in: the next export sees them
    # The person withdrawing does not wait for the export (SQLite: its checkpoint gives up soon).
    assert waited[0] < 5, waited


async def test_failure_leaves_no_file(database: Database, campaign: Campaign, out: Path) -> None:
    await _bulk(database, 10)

    async def progress(done: int, total: int) -> None:
        if done:
            raise RuntimeError("the admin's chat went away")

    formats: tuple[ExportFormat, ...] = ("csv", "xlsx", "pdf")
    for fmt in formats:
        with pytest.raises(RuntimeError):
            await export_signatures(database, campaign, fmt, out, batch_size=3, progress=progress)
        assert _files(out) == [], fmt


async def test_unknown_format(database: Database, campaign: Campaign, out: Path) -> None:
    with pytest.raises(ExportError, match="unknown export format"):
        await export_signatures(database, campaign, "ods", out)  # type: ignore[arg-type]


async def _peak(database: Database, campaign: Campaign, fmt: str, directory: Path) -> tuple[int, ExportResult]:
    tracemalloc.start()
    try:
        result = await export_signatures(database, campaign, fmt, directory, batch_size=500)  # type: ignore[arg-type]
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


# --- PostgreSQL: the CSV and the delivery list straight from COPY ----------------------------

# What COPY's text format escapes (backslash, tab, LF, CR, backspace, form feed, vertical
# tab), backslash sequences typed as text, quotes, separators before formulas, and scripts.
COPY_HOSTILE = [
    *HOSTILE,
    *SEPARATED,
    ("Back\\slash \\t \\N \\\\", "DE", "de", None),
    ("bell\b form\f vtab\v nul-ish \x01", "FR", "fr", None),
    ("\\", "US", "en", "s;=x"),
    ('""', "GB", "en", None),
    ("Tab\tinside\r\nand CRLF", "CA", "en", None),
    ("\\N", "AU", "en", None),
]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize(("fmt", "with_ids"), [("csv", False), ("csv", True), ("list", False)])
async def test_copy_writes_the_python_writers_bytes(
    database: Database, campaign: Campaign, out: Path, fmt: str, with_ids: bool
) -> None:
    from storage.exports.csv_export import CsvWriter
    from storage.exports.fingerprint import Fingerprint
    from storage.exports.list_export import ListWriter
    from storage.exports.rows import snapshot

    await _seed(database, COPY_HOSTILE)
    async with database.transaction() as session:  # one signature older than receipts
        await session.execute(
            Signature.__table__.update().where(Signature.name == "+1").values(receipt=None)  # type: ignore[attr-defined]
        )
    chunks: list[int] = []

    async def progress(done: int, total: int) -> None:
        chunks.append(done)

    result = await export_signatures(
        database,
        campaign,
        fmt,  # type: ignore[arg-type]
        out,
        with_ids=with_ids,
        batch_size=3,
        progress=progress,
    )

    # The same rows through the Python writers, which SQLite uses.
    expected_path, fingerprint = out / "python", Fingerprint()
    writer = CsvWriter(expected_path, with_ids=with_ids) if fmt == "csv" else ListWriter(expected_path)
    async with snapshot(database, CAMPAIGN, with_ids=with_ids) as rows:
        async for batch in rows.batches():
            fingerprint.update(batch)
            writer.write(batch)
    writer.finish()
    assert result.path.read_bytes() == expected_path.read_bytes()
    assert result.fingerprint == fingerprint.hexdigest() and result.rows == len(COPY_HOSTILE)
    assert chunks[0] == 0 and chunks[-1] == len(COPY_HOSTILE)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("where", ["progress", "stream"])
async def test_a_failed_or_cancelled_copy_leaves_no_file_and_a_working_pool(
    database: Database, campaign: Campaign, out: Path, where: str
) -> None:
    await _bulk(database, 20000, counted=False)
    streaming = asyncio.Event()

    async def progress(done: int, total: int) -> None:
        if done:
            streaming.set()
            if where == "progress":
                raise RuntimeError("the admin's chat went away")
            await asyncio.sleep(0.01)

    task = asyncio.create_task(export_signatures(database, campaign, "csv", out, batch_size=500, progress=progress))
    if where == "progress":
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(task, 30)
    else:
        await asyncio.wait_for(streaming.wait(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
    assert _files(out) == []
    again = await asyncio.wait_for(export_signatures(database, campaign, "list", out), 30)
    assert again.rows == 20000


def _copy_text(value: str) -> bytes:
    """``value`` as PostgreSQL's COPY text format writes it (CopyAttributeOutText)."""
    escapes = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\b": "\\b", "\f": "\\f", "\v": "\\v"}
    return "".join(escapes.get(char, char) for char in value).encode()


@pytest.mark.parametrize("chunk_size", [1, 7, 1 << 20])
def test_copy_stream_cut_anywhere_gives_the_same_file(tmp_path: Path, chunk_size: int) -> None:
    from storage.exports.fingerprint import Fingerprint
    from storage.exports.pg_copy import _Splitter

    records = ['"1","a\\b"', '"2","Tab\there\r\nCRLF"', '"3","\b\f\v\\N"', '"4","李"']
    lines = ["1\ta\\\\b\tDE", "2\tTab\\there\\r\\nCRLF\tFR", "3\t\b\f\v\\\\N\tUS", "4\t李\tTW"]
    stream = b"".join(
        _copy_text(record) + b"\t" + _copy_text(line) + b"\n" for record, line in zip(records, lines, strict=True)
    )
    fingerprint = Fingerprint()
    with (tmp_path / "out").open("wb") as file:
        splitter = _Splitter("csv", file, fingerprint)
        for start in range(0, len(stream), chunk_size):
            splitter.feed(stream[start : start + chunk_size])
        splitter.finish()
    assert (tmp_path / "out").read_bytes() == "".join(record + "\r\n" for record in records).encode()
    expected = hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()
    assert (splitter.rows, fingerprint.rows, fingerprint.hexdigest()) == (4, 4, expected)


# Each writer once (tracing every allocation is slow), on both databases between them. The
# PostgreSQL CSV comes from COPY, whose chunks (up to what one socket read gives, ~256 KiB)
# only stop growing past several thousand rows: it is compared at 10,000 and 30,000.
@pytest.mark.parametrize(
    ("database_url", "fmt", "small_rows"),
    [("sqlite", "xlsx", 1000), pytest.param("postgres", "csv", 10000, marks=pytest.mark.postgres)],
    indirect=["database_url"],
)
async def test_memory_does_not_grow_with_rows(
    database: Database, campaign: Campaign, out: Path, fmt: str, small_rows: int
) -> None:
    await _bulk(database, small_rows, counted=False)
    await export_signatures(database, campaign, fmt, out, batch_size=500)  # type: ignore[arg-type]  # warm up
    small, small_result = await _peak(database, campaign, fmt, out)
    await _bulk(database, small_rows * 2, first_user_id=100_000, counted=False)
    large, large_result = await _peak(database, campaign, fmt, out)
    assert (small_result.rows, large_result.rows) == (small_rows, small_rows * 3)
    # Three times the rows: the peak stays within a batch's worth of slack, not threefold.
    assert large < small * 1.3 + 256 * 1024, (small, large)


# --- the command line ----------------------------------------------------------------------


def _run(database_url: str, *args: str) -> Any:
    env = {"DATABASE_URL": database_url, "CAMPAIGN": CAMPAIGN}
    return CliRunner().invoke(export, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "pdf"])
async def test_cli_writes_the_file(database: Database, database_url: str, tmp_path: Path, fmt: str) -> None:
    await _seed(database)
    output = tmp_path / "out" / f"signatures.{fmt}"
    output.parent.mkdir()
    result = await _thread(_run, database_url, "--format", fmt, "-o", str(output))
    assert result.exit_code == 0, result.output
    assert f"{len(HOSTILE)} signatures written to {output}" in result.output
    assert output.exists() and output.stat().st_size > 0
    assert (output.stat().st_mode & 0o077) == 0, "personal data: readable by its owner only"
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name], "no temporary file left"
    if fmt == "csv":
        assert _read_csv(output.read_bytes())[1:] == _expected(await _stored(database))


async def test_cli_errors_are_one_line(database_url: str, tmp_path: Path) -> None:
    result = await _thread(_run, database_url, "--format", "pdf", "--with-ids", "-o", str(tmp_path / "x.pdf"))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        "error: the PDF is the delivery document: it never carries Telegram ids (use csv or xlsx)"
    ]
    missing = f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}"
    result = await _thread(_run, missing, "-o", str(tmp_path / "x.csv"))
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "missing.db").exists() and not (tmp_path / "x.csv").exists()
    result = await _thread(_run, database_url, "-o", str(tmp_path / "nowhere" / "x.csv"))
    assert result.exit_code == 1 and "no such directory" in result.output


@ON_SQLITE
async def test_cli_writes_pdf_volumes_as_a_zip_beside_the_name_asked_for(
    database: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive, "PDF_VOLUME_SIZE", 5)
    await _bulk(database, 6)
    output = tmp_path / "out" / "letter.pdf"
    output.parent.mkdir()
    result = await _thread(_run, database_url, "-o", str(output))
    assert result.exit_code == 0, result.output
    assert f"6 signatures written to {output.with_suffix('.zip')}: 2 PDF volumes" in result.output
    assert _files(output.parent) == [output.with_suffix(".zip")]
    assert len(zipfile.ZipFile(output.with_suffix(".zip")).namelist()) == 2


async def test_cli_takes_the_format_from_the_file_name(database: Database, database_url: str, tmp_path: Path) -> None:
    await _seed(database)
    # .pdf maps as these do, and is refused below for a CSV: no PDF is drawn here (seconds of CPU).
    for name, starts in (
        ("list.xlsx", b"PK"),
        ("list.txt", b"1\t"),
        ("list.csv", b"\xef\xbb\xbf"),
    ):
        result = await _thread(_run, database_url, "-q", "-o", str(tmp_path / name))
        assert result.exit_code == 0, result.output
        assert (tmp_path / name).read_bytes().startswith(starts), name
    result = await _thread(_run, database_url, "--format", "csv", "-o", str(tmp_path / "other.pdf"))
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: other.pdf is named as pdf but --format csv was asked for: name the file .csv, or leave --format out"
    )
    assert not (tmp_path / "other.pdf").exists()


async def _thread(function: Any, *args: Any) -> Any:
    """The command runs its own event loop (asyncio.run): give it a thread of its own."""
    import asyncio

    return await asyncio.to_thread(function, *args)


@ON_SQLITE
@pytest.mark.parametrize("fmt", ["xlsx", "pdf"])
async def test_too_large_even_zipped(
    database: Database, campaign: Campaign, out: Path, monkeypatch: pytest.MonkeyPatch, fmt: ExportFormat
) -> None:
    """XLSX and PDF barely shrink when zipped: past the upload limit the organiser is sent to the CLI."""
    await _seed(database)
    monkeypatch.setattr(archive, "ZIP_THRESHOLD_BYTES", 100)
    monkeypatch.setattr(archive, "UPLOAD_LIMIT_BYTES", 100)
    with pytest.raises(ExportError) as raised:
        await export_signatures(database, campaign, fmt, out)
    message = str(raised.value)
    assert "\n" not in message and "python -m bot export" in message and "zipped" in message
    assert _files(out) == [], "neither the export nor its zip is left behind"
    # Without compression (the command line) there is no limit.
    result = await export_signatures(database, campaign, fmt, out, compress=False)
    assert not result.compressed and _files(out) == [result.path]


# PostgreSQL writes the CSV from COPY, with no writer thread (test_a_cancelled_copy_...).
@pytest.mark.parametrize(
    ("database_url", "fmt"),
    [
        ("sqlite", "csv"),
        ("sqlite", "xlsx"),
        ("sqlite", "pdf"),
        pytest.param("postgres", "xlsx", marks=pytest.mark.postgres),
    ],
    indirect=["database_url"],
)
async def test_cancelled_export_waits_for_the_writer(
    database: Database, campaign: Campaign, out: Path, monkeypatch: pytest.MonkeyPatch, fmt: ExportFormat
) -> None:
    """Cancelled while a thread writes a batch: the write ends before the writer is abandoned and deleted."""
    from storage.exports.csv_export import CsvWriter
    from storage.exports.pdf_export import PdfWriter
    from storage.exports.xlsx_export import XlsxWriter

    writer_class: Any = {"csv": CsvWriter, "xlsx": XlsxWriter, "pdf": PdfWriter}[fmt]
    await _bulk(database, 40)
    writing = threading.Event()
    events: list[str] = []
    original_write, original_abandon = writer_class.write, writer_class.abandon

    def slow_write(self: Any, rows: Any) -> None:
        events.append("write")
        writing.set()
        time.sleep(0.3)
        original_write(self, rows)
        events.append("written")

    def abandon(self: Any) -> None:
        events.append("abandon")
        original_abandon(self)

    monkeypatch.setattr(writer_class, "write", slow_write)
    monkeypatch.setattr(writer_class, "abandon", abandon)
    lost: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: lost.append(context))
    try:
        task = asyncio.create_task(export_signatures(database, campaign, fmt, out, batch_size=10))
        assert await asyncio.to_thread(writing.wait, 10)
        await asyncio.sleep(0.05)  # well inside the write
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.5)  # a thread left running would finish (and fail) meanwhile
    finally:
        loop.set_exception_handler(None)
    assert events[-1] == "abandon" and "abandon" not in events[:-1]
    assert events.count("write") == events.count("written"), events
    assert _files(out) == [], fmt
    assert lost == [], "no exception from a thread or task went unretrieved"


def test_export_result_is_frozen(tmp_path: Path) -> None:
    result = ExportResult(path=tmp_path / "x", filename="x.csv", rows=0, compressed=False, size=0, fmt="csv")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.rows = 1  # type: ignore[misc]
    assert result.incomplete_names == 0


# --- the delivery document: no receipts; the fingerprint and the delivery list ---------------


def _list_line(number: int, name: str, country: str) -> str:
    escaped = name.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return f"{number}\t{escaped}\t{country}\n"


def _fingerprint_of(rows: list[Signature]) -> str:
    """The documented rule, written out again here: a change to it must fail this test."""
    import hashlib

    text = "".join(_list_line(number, row.name, row.country) for number, row in enumerate(rows, 1))
    return hashlib.sha256(text.encode()).hexdigest()


def _fingerprint_command(path: Path, *options: str) -> Any:
    from bot.cli.export import fingerprint

    return CliRunner().invoke(fingerprint, [str(path), *options], catch_exceptions=False)


@ON_SQLITE
async def test_the_pdf_prints_number_name_and_country_no_receipt_and_the_fingerprint_last(
    database: Database, campaign: Campaign, out: Path
) -> None:
    await _seed(database)
    await _bulk(database, 3, first_user_id=FIRST_USER_ID + 100)  # stored before receipts existed: none
    stored = await _stored(database)
    assert sum(row.receipt is not None for row in stored) == len(HOSTILE)
    result = await export_signatures(database, campaign, "pdf", out)

    pages, text = _pdf_text(result.path)
    squeezed = re.sub(r"[^0-9A-Z]", "", text.upper())
    for row in stored:
        if row.receipt:  # not even with the dash or spaces taken out
            assert row.receipt not in squeezed, "a receipt code is in the delivery PDF"
    assert "Receipt" not in text
    lines = text.splitlines()
    checked_lines = 0
    for number, row in enumerate(stored, 1):
        if row.name.isascii() and printable(row.name) == row.name:
            line = f"{number} {row.name} {country_name(row.country, 'en')}"
            assert line in lines, line  # "number name country", nothing between
            checked_lines += 1
    assert checked_lines >= 6
    # The last page: the total, the fingerprint and how to check it.
    last = " ".join(pages[-1].split())
    assert f"{len(stored)} people signed this letter." in last
    assert f"SHA-256 fingerprint of the signatory list: {result.fingerprint}" in last
    assert "number TAB name TAB country-code LF" in last and "python -m bot fingerprint FILE" in last
    assert result.fingerprint not in " ".join("\n".join(pages[:-1]).split())
    # The same fingerprint from the rows as stored, and from the delivery list exported at the same moment:
    # the list is exactly the fingerprinted text, so its SHA-256 is the fingerprint.
    assert result.fingerprint == _fingerprint_of(stored)
    listed = await export_signatures(database, campaign, "list", out)
    assert listed.filename.endswith(".txt") and "delivery-list" in listed.filename
    assert listed.fingerprint == result.fingerprint
    data = listed.path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == result.fingerprint
    assert data.decode() == "".join(_list_line(n, row.name, row.country) for n, row in enumerate(stored, 1))
    checked = await _thread(_fingerprint_command, listed.path)
    assert checked.exit_code == 0, checked.output
    assert checked.output.splitlines() == [
        f"{len(stored)} signatories",
        f"SHA-256 fingerprint of the signatory list: {result.fingerprint}",
    ]
    # The organisers' CSV keeps the receipts, beside the name.
    organisers = _read_csv((await export_signatures(database, campaign, "csv", out)).path.read_bytes())
    assert organisers[0][:4] == ["number", "name", "name_form", "receipt"]
    assert {row[3] for row in organisers[1:]} >= {_receipt(row) for row in stored if row.receipt}


async def test_the_delivery_list_never_carries_ids(database: Database, campaign: Campaign, out: Path) -> None:
    await _seed(database)
    with pytest.raises(ExportError, match="never carries Telegram ids"):
        await export_signatures(database, campaign, "list", out, with_ids=True)
    listed = await export_signatures(database, campaign, "list", out)
    assert str(FIRST_USER_ID)[:7] not in listed.path.read_text(encoding="utf-8")


@ON_SQLITE
async def test_the_fingerprint_catches_any_change_to_the_list(
    database: Database, campaign: Campaign, out: Path, tmp_path: Path
) -> None:
    await _seed(database, [*HOSTILE, *SEPARATED])
    result = await export_signatures(database, campaign, "list", out)
    data = result.path.read_bytes().decode("utf-8")
    original = await _thread(_fingerprint_command, result.path)
    assert result.fingerprint in original.output
    # A zipped list (as /export sends a large file) gives the same.
    zipped = tmp_path / "list.txt.zip"
    with zipfile.ZipFile(zipped, "w") as archived:
        archived.writestr("list.txt", result.path.read_bytes())
    assert result.fingerprint in (await _thread(_fingerprint_command, zipped)).output
    lines = data.splitlines(keepends=True)
    first, second = lines[0].split("\t", 1), lines[1].split("\t", 1)
    changes = {
        "a name": data.replace("Ольга Петрова", "Ольга Петровa", 1),  # a Latin "a" for the Cyrillic one
        "a country": data.replace("Ольга Петрова\tRU", "Ольга Петрова\tUA", 1),
        "the order (renumbered)": "".join([f"1\t{second[1]}", f"2\t{first[1]}", *lines[2:]]),
        "a line break inside a name": data.replace("Anna\\nMaria", "Anna Maria", 1),
    }
    for what, changed in changes.items():
        assert changed != data, what
        path = tmp_path / "changed.txt"
        path.write_bytes(changed.encode())
        output = (await _thread(_fingerprint_command, path)).output
        assert "SHA-256 fingerprint" in output and result.fingerprint not in output, what
    # Rows swapped with their numbers, or one left out: not a list the export makes.
    for what, changed in {
        "swapped": "".join([lines[1], lines[0], *lines[2:]]),
        "a row left out": "".join([lines[0], *lines[2:]]),
    }.items():
        path = tmp_path / "changed.txt"
        path.write_bytes(changed.encode())
        checked = await _thread(_fingerprint_command, path)
        assert checked.exit_code == 1 and "numbered" in checked.output, what
        assert result.fingerprint not in checked.output, what


@ON_SQLITE
async def test_the_fingerprint_command_explains_a_wrong_file(
    database: Database, campaign: Campaign, out: Path, tmp_path: Path
) -> None:
    path = tmp_path / "other.txt"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    result = await _thread(_fingerprint_command, path)
    assert result.exit_code == 1 and result.output.startswith("error: not a delivery list")
    await _seed(database)
    organisers = await export_signatures(database, campaign, "csv", out)  # the organisers' CSV: not it
    result = await _thread(_fingerprint_command, organisers.path)
    assert result.exit_code == 1 and "not a delivery list" in result.output and "Traceback" not in result.output
    path.write_bytes(b"1\t\xff\xfe\tDE\n")
    result = await _thread(_fingerprint_command, path)
    assert result.exit_code == 1 and "not a UTF-8 delivery list" in result.output and "Traceback" not in result.output


@ON_SQLITE
async def test_the_fingerprint_command_checks_an_expected_hash_and_names_what_it_reads(
    database: Database, campaign: Campaign, out: Path
) -> None:
    await _seed(database)
    listed = await export_signatures(database, campaign, "list", out)
    matching = await _thread(_fingerprint_command, listed.path, "--expect", listed.fingerprint.upper())
    assert matching.exit_code == 0 and "It matches the fingerprint expected." in matching.output
    other = "0" * 64
    wrong = await _thread(_fingerprint_command, listed.path, "--expect", other)
    assert wrong.exit_code == 1 and f"does NOT match the fingerprint expected ({other})" in wrong.output
    workbook = await export_signatures(database, campaign, "xlsx", out)
    refused = await _thread(_fingerprint_command, workbook.path)
    assert refused.exit_code == 1
    assert "is a spreadsheet (XLSX), not a delivery list" in refused.output
    assert "export --format list" in refused.output and "holds" not in refused.output


@ON_SQLITE
async def test_cli_prints_the_fingerprint(database: Database, database_url: str, tmp_path: Path) -> None:
    await _seed(database)
    output = tmp_path / "list.pdf"
    result = await _thread(_run, database_url, "--format", "pdf", "-o", str(output))
    assert result.exit_code == 0, result.output
    fingerprint = _fingerprint_of(await _stored(database))
    assert f"SHA-256 fingerprint of the signatory list: {fingerprint}" in result.output
    assert "erased" not in result.output  # nothing was purged
    # The delivery list from the command line: the same fingerprint, recomputed from the file.
    listed = tmp_path / "list.txt"
    result = await _thread(_run, database_url, "--format", "list", "-o", str(listed))
    assert result.exit_code == 0, result.output
    assert f"SHA-256 fingerprint of the signatory list: {fingerprint}" in result.output
    assert fingerprint in (await _thread(_fingerprint_command, listed)).output


def test_the_numbers_of_incomplete_names_read_as_a_list() -> None:
    from storage.exports.pdf_export import numbers_list

    assert numbers_list([17], 1, 200) == "17"
    assert numbers_list([17, 342, 9001], 3, 200) == "17, 342 and 9,001"
    assert numbers_list([1, 2, 3], 5003, 3) == "1, 2, 3, … (and 5,000 more)"


def test_shown_and_needs_shaping_agree_with_their_slow_paths() -> None:
    """The regular expressions that skip the per-character loops decide exactly as the loops do."""
    import random

    from storage.exports import fonts

    rng = random.Random(7)
    alphabet = [
        *"abc XYZ-'.",
        "  ",
        "\t",
        "\n",
        "\u00a0",
        "\u200b",
        "\u200d",
        "\u2066",
        "\ufe0f",
        "😀",
        "é",
        "é",
        *"李小龍さくら김민준",
        *"محمدئەركىن",
        *"שרה",
        *"Ольга",
        "\u0301",
        "\u0f40",
        "\u07a5",
        "\x07",
        "\U000e0101",
    ]

    def slow_shaping(text: str) -> bool:
        return not text.isascii() and any(
            unicodedata.combining(char) or not any(low <= ord(char) <= high for low, high in fonts._SIMPLE_RANGES)
            for char in text
        )

    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        assert fonts.needs_shaping(text) == slow_shaping(text), repr(text)
        assert fonts.shown(text) == fonts._shown_char_by_char(text), repr(text)


@ON_SQLITE
async def test_the_xlsx_signing_time_is_the_csv_s_second_never_rounded_up(
    database: Database, campaign: Campaign, out: Path
) -> None:
    await _seed(database, HOSTILE[:1])
    async with database.transaction() as session:  # 0.9 s past the second: rounding would show the next one
        await session.execute(
            Signature.__table__.update().values(signed_at=datetime(2026, 3, 12, 9, 15, 7, 900000, tzinfo=UTC))  # type: ignore[attr-defined]
        )
    result = await export_signatures(database, campaign, "xlsx", out)
    sheet = openpyxl.load_workbook(result.path, read_only=True)["Signatures"]
    (row,) = list(sheet.iter_rows(min_row=2, values_only=True))
    assert row[7] == datetime(2026, 3, 12, 9, 15, 7) and _cell_text(row[7]) == "2026-03-12T09:15:07Z"
