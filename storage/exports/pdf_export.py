"""The delivery document: the letter as signed, then the numbered signatories.

This is what the organisation hands to the addressees, so it reads as a letter:
the letter's subject as its title (the campaign file's ``[delivery] subject``, not the
supporters' call to action), organisation, addressees, the total and the date; then the
letter (salutation, paragraphs, demands as bullets and the closing) in each language the
addressees read (``[delivery] languages``: Chinese for this campaign), each on its own
page, and last in English; then "Signatories", two newspaper columns of
number, name (the form each signer chose) and country per page; then, on the last
page, the total once more and the SHA-256 fingerprint of exactly what the list
prints (``fingerprint``: the rule is printed beside it), so the delivered document
is tamper-evident: anyone holding the delivery list can recompute the fingerprint
and compare. It carries no receipt codes: a receipt a signer shows somewhere must
never be linkable, through this document, to a name and a country. When
signatures were erased after the retention period (``python -m bot purge``), the
last page says how many: they count, but no name of theirs is kept or printed.
Every page carries the running title, the generation date and "Page n of N".

Names are printed in their own script (see ``fonts``); only names that need it
go through HarfBuzz (right-to-left and joining scripts) and fpdf2's ``cell``; a
name the main font draws, or one fallback font alone (most Chinese, Japanese and
Korean names), goes through ``FPDF.text``, a tenth of the cost. Right-to-left names
are aligned to the right of their column. Names no font can show in full are printed with a
placeholder per missing letter and counted (``incomplete_names``); the document
ends with a note saying how many there are.

Memory: fpdf2 builds a document in memory and writes it on ``finish``, so a list
longer than ``archive.PDF_VOLUME_SIZE`` (50,000) names comes in volumes
(``PdfWriter``): each volume is written to disk and released before the next one
begins, and the volumes are zipped together. Memory is one volume's document and
its fonts, whatever the size of the list; time grows linearly. Each volume loads
its own fonts, the fallback ones only when a name needs them (Noto Sans CJK alone
is 47 MiB and 1.7 s to load), and releases them with the document (also when
abandoned). Peak Python heap (tracemalloc) of a whole export, measured on SQLite
with one Chinese name among plain Latin ones: 56.5 MiB at 2,001 rows, 57.5 MiB at
20,001; without a CJK name 5.3 MiB at 2,000 rows. The code-point index of
``fonts`` is built once per process (~4 MiB). Figures at 1,000,000 and 5,000,000
names: bench/README.md.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import MethodReturnValue, WrapMode
from fpdf.fonts import TTFFont

from petition.campaign import Campaign, LetterVersion
from petition.countries import country_name
from storage.exports import archive
from storage.exports.fingerprint import RULE, Fingerprint
from storage.exports.fonts import (
    MISSING,
    char_class,
    font_files,
    font_for_codepoint,
    needs_shaping,
    printable,
    shown,
)
from storage.exports.rows import ExportRow

MAIN = "NotoSans"

# Layout, in millimetres on A4 portrait.
MARGIN = 16.0
TOP = 16.0
BOTTOM = 16.0
BODY_SIZE, BODY_LINE = 10.5, 5.2
LIST_SIZE, LIST_LINE = 8.0, 3.8
COLUMN_GAP = 6.0
NUMBER_W, COUNTRY_W = 11.0, 25.0  # the name gets the rest of each newspaper column
GREY = 110
# Scripts written without spaces between words (Chinese, Japanese kana): lines break anywhere.
_UNSPACED = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
NO_PRINTABLE_NAME = "—"  # a name made only of characters no font has (emoji): the row still counts

# fontTools logs every subsetted font's glyph names at INFO: the character set of the
# signers' names. The bot's logging setup quiets it too; this covers any other caller.
_FONT_LOGGERS = ("fontTools", "fontTools.subset")


def people(total: int) -> str:
    return f"{total:,} person signed this letter." if total == 1 else f"{total:,} people signed this letter."


def erased(count: int, document: str = "document") -> str:
    """The closing note after a purge: these signatures count, but nothing about the people is kept."""
    signatures = "1 signature was" if count == 1 else f"{count:,} signatures were"
    return (
        f"{signatures} erased after the retention period: only their number is kept, "
        f"with no name or other personal data, so they are not listed in this {document}."
    )


SHOWN_NUMBERS = 200  # incomplete names listed by number on the last page; the count is always exact


def numbers_list(numbers: Sequence[int], count: int, limit: int) -> str:
    """``17, 342 and 9,001``, or ``17, 342, … (and 5,000 more)`` past ``limit``."""
    shown = [f"{number:,}" for number in numbers[:limit]]
    if count > len(shown):
        return ", ".join(shown) + f", … (and {count - len(shown):,} more)"
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def incomplete(count: int, numbers: Sequence[int] = ()) -> str:
    """The closing note on names the document cannot show in full (the CSV and XLSX have them exactly)."""
    names = "1 name" if count == 1 else f"{count:,} names"
    which = f" (number {numbers_list(numbers, count, SHOWN_NUMBERS)})" if numbers else ""
    return (
        f"This document cannot show every character of {names}{which}: letters without a font are drawn as "
        f"{MISSING}, emoji and symbols are left out. The electronic list of signatures has every name exactly as signed."
    )


_MAIN_FONT_TEXT: dict[str, re.Pattern[str]] = {}


def _main_font_text(path: str, cmap: Mapping[int, object]) -> re.Pattern[str]:
    """Text the main font draws on its own (built once per process and font file)."""
    pattern = _MAIN_FONT_TEXT.get(path)
    if pattern is None:
        pattern = _MAIN_FONT_TEXT[path] = re.compile(f"[{char_class(cmap)}]*")
    return pattern


def right_to_left(text: str) -> bool:
    """Whether ``text``'s first strong character is right-to-left (Arabic, Hebrew, Uyghur, ...)."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False


def quiet_font_logging() -> None:
    """Keep fontTools' subsetting chatter (glyph names, i.e. the names' characters) out of the log."""
    for name in _FONT_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)


class _Document(FPDF):
    """FPDF with the running header and the "Page n of N" footer on every page."""

    def __init__(self, running_title: str, footer_note: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self._running_title = running_title
        self._footer_note = footer_note
        self._shaping = False

    @property
    def shaping_on(self) -> bool:
        return self._shaping

    def shaping(self, on: bool) -> None:
        if on != self._shaping:
            self.set_text_shaping(on)
            self._shaping = on

    def header(self) -> None:
        # Also makes the main font the page's font before any fallback font is used:
        # fpdf2 otherwise leaves a page whose first text is Arabic or CJK without a
        # font selected outside that text's q/Q block.
        shaped = self._shaping
        self.shaping(False)
        self.set_font(MAIN, size=7)
        self.set_text_color(GREY)
        self.set_xy(MARGIN, 7)
        self.cell(0, 4, self._running_title, align="L")
        self.set_text_color(0)
        self.set_xy(self.l_margin, self.t_margin)
        self.shaping(shaped)

    def footer(self) -> None:
        shaped = self._shaping
        self.shaping(False)  # "{pages}" is replaced after layout; it must stay literal text
        self.set_font(MAIN, size=7)
        self.set_text_color(GREY)
        self.set_xy(MARGIN, -11)
        self.cell(self.epw / 2, 4, self._footer_note, align="L")
        self.cell(self.epw / 2, 4, f"Page {self.page_no()} of {{pages}}", align="R")
        self.set_text_color(0)
        self.shaping(shaped)


@dataclass(frozen=True)
class _Part:
    """Which volume a document is, and which signatories it lists (numbers ``first``..``last``)."""

    number: int
    of: int
    first: int
    last: int

    def label(self) -> str:
        return f"Volume {self.number} of {self.of}"


@dataclass(frozen=True)
class _Totals:
    """What the last page says about the whole list."""

    written: int
    purged: int
    incomplete: int
    fingerprint: str
    incomplete_numbers: tuple[int, ...] = ()


class _Volume:
    """One PDF document: the letter laid out on creation, then the signatories batch by batch,
    written to ``path`` by ``finish``. ``part`` is None for a list that fits one document."""

    def __init__(
        self,
        path: Path,
        *,
        campaign: Campaign,
        translations: Sequence[LetterVersion],
        total: int,
        generated: str,
        part: _Part | None,
    ) -> None:
        self._path = path
        self._total = total
        self._part = part
        self.written = 0
        self.incomplete = 0
        self.incomplete_numbers: list[int] = []  # the first SHOWN_NUMBERS of them
        running_title = printable(campaign.letter_subject + (f" · {part.label()}" if part else ""))
        footer_note = printable(f"{campaign.organisation} · generated {generated}")
        pdf = _Document(running_title, footer_note)
        pdf.alias_nb_pages("{pages}")  # reserves room for a 5-digit page count, "{nb}" only for 3
        # The main font now; each fallback font the first time a text needs it (Noto Sans
        # CJK alone costs 47 MiB and 1.7 s to load). All of them belong to this document
        # only and are released with it (``_release``).
        self._fonts = font_files().faces()
        self._font_owner = font_for_codepoint()
        self._fallbacks: dict[int, str] = {}
        pdf.add_font(MAIN, "", self._fonts[0].path)
        pdf.set_margins(MARGIN, TOP, MARGIN)
        pdf.set_auto_page_break(True, margin=BOTTOM)
        pdf.set_title(campaign.letter_subject)
        pdf.set_author(campaign.organisation)
        pdf.set_subject(f"{people(total)} Generated {generated}.")
        pdf.set_creator("undersign")
        pdf.set_lang("en")
        self._pdf = pdf
        main = pdf.fonts[MAIN.lower()]
        assert isinstance(main, TTFFont)
        self._main_cmap = main.cmap
        self._main_only = _main_font_text(str(self._fonts[0].path), main.cmap)
        self._main_widths = main.cw
        self._country_lines: dict[str, list[str]] = {}
        self._use_fonts(running_title + footer_note)
        self._letter(campaign, translations, generated)
        self._start_list()

    def _use_fonts(self, text: str) -> None:
        """Load the fallback fonts ``text`` needs that this document has not loaded yet."""
        owner, main, loaded = self._font_owner, self._main_cmap, self._fallbacks
        added = False
        for char in text:
            code = ord(char)
            if code in main:
                continue
            index = owner.get(code)
            if index and index not in loaded:
                family = f"Fallback{index}"
                font = self._fonts[index]
                self._pdf.add_font(family, "", font.path, collection_font_number=font.index)
                loaded[index] = family
                added = True
        if added:
            self._pdf.set_fallback_fonts([loaded[index] for index in sorted(loaded)])

    # --- the letter -------------------------------------------------------------------

    def _paragraph(
        self, text: str, *, size: float = BODY_SIZE, line: float = BODY_LINE, after: float = 3, align: str = "J"
    ) -> None:
        pdf = self._pdf
        pdf.set_font(MAIN, size=size)
        text = printable(text)
        self._use_fonts(text)
        wrapmode, shaped = WrapMode.WORD, pdf.shaping_on
        if _UNSPACED.search(text):  # Chinese and Japanese break between any two characters
            wrapmode, align = WrapMode.CHAR, "L"
            # and need no shaping: a font drawn both shaped and unshaped (the CJK names of the
            # list are not) gets a muddled text layer in fpdf2, and copied names come out wrong.
            pdf.shaping(False)
        elif right_to_left(text):
            align = "R"
        pdf.multi_cell(0, line, text, new_x="LMARGIN", new_y="NEXT", align=align, wrapmode=wrapmode)
        pdf.shaping(shaped)
        pdf.ln(after)

    def _letter(self, campaign: Campaign, translations: Sequence[LetterVersion], generated: str) -> None:
        """The cover (subject, sender, addressees, the count), then the letter in each of the
        addressees' languages, each on its own page, and last in English."""
        pdf = self._pdf
        pdf.add_page()
        pdf.shaping(True)  # a page or two of prose: kerning and ligatures cost nothing here
        self._paragraph(campaign.letter_subject, size=17, line=8, after=4, align="L")  # a title is not justified
        self._paragraph(f"A letter from supporters of {campaign.organisation}", size=11, after=5)
        self._paragraph(f"To: {'; '.join(campaign.targets)}", after=1)
        self._paragraph(f"{people(self._total)} Generated {generated}.", after=1 if self._part else 8)
        if self._part:
            part = self._part
            self._paragraph(
                f"{part.label()}: the signatories numbered {part.first:,} to {part.last:,}. "
                "Each volume begins with the letter; the last one ends with the fingerprint of the whole list.",
                after=8,
            )
        if translations:
            languages = ", ".join(version.heading.rsplit(" · ", 1)[-1] for version in translations)
            self._paragraph(f"The letter in {languages}, then in English.", after=8)
        for version in translations:
            self._letter_text(version.campaign, heading=version.heading)
            pdf.add_page()
        self._letter_text(campaign, heading="English" if translations else None)
        self._paragraph("The signatories listed on the following pages.", after=0)

    def _letter_text(self, campaign: Campaign, *, heading: str | None) -> None:
        pdf = self._pdf
        if heading:
            pdf.set_text_color(GREY)
            self._paragraph(heading, size=9, after=2, align="L")
            pdf.set_text_color(0)
            self._paragraph(campaign.letter_subject, size=13, line=6.5, after=5, align="L")
        letter = campaign.letter
        self._paragraph(letter.salutation + ("" if _UNSPACED.search(letter.salutation) else ","))
        for paragraph in letter.paragraphs:
            self._paragraph(paragraph)
        for demand in letter.demands:
            pdf.set_font(MAIN, size=BODY_SIZE)
            y = pdf.get_y()
            pdf.set_xy(MARGIN + 2, y)
            pdf.cell(5, BODY_LINE, "•")
            pdf.set_xy(MARGIN + 7, y)
            demand_text = printable(demand)
            self._use_fonts(demand_text)
            unspaced, shaped = _UNSPACED.search(demand_text) is not None, pdf.shaping_on
            pdf.shaping(shaped and not unspaced)  # as in ``_paragraph``
            wrapmode = WrapMode.CHAR if unspaced else WrapMode.WORD
            pdf.multi_cell(pdf.epw - 7, BODY_LINE, demand_text, new_x="LMARGIN", new_y="NEXT", wrapmode=wrapmode)
            pdf.shaping(shaped)
            pdf.ln(2)
        pdf.ln(2)
        self._paragraph(letter.closing, after=1)

    # --- the signatories --------------------------------------------------------------

    def _start_list(self) -> None:
        pdf = self._pdf
        pdf.add_page()
        pdf.shaping(False)
        pdf.set_auto_page_break(False)  # the list places every entry itself
        pdf.set_font(MAIN, size=14)
        heading = f"Signatories, {self._part.first:,} to {self._part.last:,}" if self._part else "Signatories"
        pdf.cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(MAIN, size=8.5)
        pdf.set_text_color(GREY)
        pdf.cell(0, 5, f"In the order they signed. {people(self._total)}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0)
        pdf.ln(2)
        self._column_width = (pdf.epw - COLUMN_GAP) / 2
        self._name_width = self._column_width - NUMBER_W - COUNTRY_W
        self._list_page(pdf.get_y())

    def _list_page(self, top: float) -> None:
        """The first newspaper column's headings, then entries from ``top`` down (the second
        column gets its headings when the list reaches it: never an empty column's)."""
        self._heading_top = top
        self._column_heading(0)
        self._top = top + 5.5
        self._column = 0
        self._y = self._top
        self._lowest = self._top

    def _column_heading(self, column: int) -> None:
        pdf, top = self._pdf, self._heading_top
        shaped = pdf.shaping_on
        pdf.shaping(False)
        pdf.set_font(MAIN, size=7)
        pdf.set_text_color(GREY)
        x = MARGIN + column * (self._column_width + COLUMN_GAP)
        pdf.set_xy(x, top)
        pdf.cell(NUMBER_W, 4, "No.", align="R")
        pdf.cell(self._name_width, 4, "Name")
        pdf.cell(COUNTRY_W, 4, "Country")
        pdf.set_draw_color(180)
        pdf.line(x, top + 4.5, x + self._column_width, top + 4.5)
        pdf.set_text_color(0)
        pdf.set_font(MAIN, size=LIST_SIZE)
        pdf.shaping(shaped)

    def _plain(self, text: str) -> bool:
        """Whether ``text`` can take the fast path: main font only, no shaping."""
        return self._main_only.fullmatch(text) is not None and not needs_shaping(text)

    def _one_fallback_font(self, text: str) -> str | None:
        """The fallback font that draws all of ``text`` alone and unshaped, on one line of the
        name column (most Chinese, Japanese and Korean names): drawn with ``FPDF.text`` like a
        Latin name, a tenth of a ``cell``. None when the name needs more (the cell path)."""
        if needs_shaping(text):
            return None
        owner, main = self._font_owner, self._main_cmap
        index = next((owner.get(ord(char), 0) for char in text if ord(char) not in main), 0)
        if not index:
            return None
        self._use_fonts(text)
        family = self._fallbacks[index]
        font = self._pdf.fonts[family.lower()]
        if not isinstance(font, TTFFont) or not all(ord(char) in font.cmap for char in text):
            return None
        width = sum(font.cw[ord(char)] for char in text) * self._pdf.font_size / 1000
        return family if width <= self._name_width - 2 * self._pdf.c_margin else None

    def _width(self, plain_text: str) -> float:
        """Width of main-font text from the font's advance widths (what fpdf2 computes, minus its overhead)."""
        widths = self._main_widths
        return sum(widths[ord(char)] for char in plain_text) * self._pdf.font_size / 1000

    def _text(self, x: float, y: float, plain_text: str) -> None:
        """Draw main-font text with ``FPDF.text``, on the baseline a ``cell`` at ``y`` would use.

        ``text`` costs a tenth of ``cell`` (no fragments, fallback or bidi machinery):
        numbers, country names and most names in a 100,000-name list go this way.
        """
        pdf = self._pdf
        pdf.text(x, y + 0.5 * LIST_LINE + 0.3 * pdf.font_size, plain_text)

    def _fit(self, text: str, width: float) -> list[str]:
        """``text`` as the lines it takes in a cell ``width`` wide (one line, usually)."""
        pdf = self._pdf
        if pdf.get_string_width(text) <= width - 2 * pdf.c_margin:
            return [text]
        lines = pdf.multi_cell(width, LIST_LINE, text, dry_run=True, output=MethodReturnValue.LINES)
        if not isinstance(lines, list) or not lines:
            return [text]
        return [str(line) for line in lines]

    def _country(self, code: str) -> list[str]:
        lines = self._country_lines.get(code)
        if lines is None:
            self._pdf.shaping(False)
            name = printable(country_name(code, "en"))
            self._use_fonts(name)
            lines = self._country_lines[code] = self._fit(name, COUNTRY_W)
        return lines

    def _entry(self, number: int, name: str, country: str) -> None:
        pdf = self._pdf
        margin = pdf.c_margin
        country_lines = self._country(country)
        plain = self._plain(name) and self._width(name) <= self._name_width - 2 * margin
        alone = None if plain else self._one_fallback_font(name)  # a Chinese name, say: its own font, no shaping
        if plain or alone:
            name_lines = [name]
        else:
            self._use_fonts(name)
            pdf.shaping(needs_shaping(name))
            name_lines = self._fit(name, self._name_width)
        height = max(len(name_lines), len(country_lines)) * LIST_LINE
        if self._y + height > pdf.h - BOTTOM:
            if self._column == 0:
                self._column, self._y = 1, self._top
                self._column_heading(1)
            else:
                pdf.add_page()
                self._list_page(TOP)
        x = MARGIN + self._column * (self._column_width + COLUMN_GAP)
        y = self._y
        digits = str(number)  # drawn first: text extractors then read "number name country"
        self._text(x + NUMBER_W - margin - self._width(digits), y, digits)
        if plain:
            self._text(x + NUMBER_W + margin, y, name)
        elif alone:
            pdf.set_font(alone, size=LIST_SIZE)
            self._text(x + NUMBER_W + margin, y, name)
            pdf.set_font(MAIN, size=LIST_SIZE)
        else:
            align = "R" if right_to_left(name) else "L"  # a right-to-left name starts at the right
            for index, line in enumerate(name_lines):
                pdf.set_xy(x + NUMBER_W, y + index * LIST_LINE)
                pdf.cell(self._name_width, LIST_LINE, line, align=align)
            pdf.shaping(False)
        for index, line in enumerate(country_lines):
            self._text(x + NUMBER_W + self._name_width + margin, y + index * LIST_LINE, line)
        self._y = y + height
        self._lowest = max(self._lowest, self._y)

    def write(self, rows: Sequence[ExportRow]) -> None:
        for row in rows:
            name, complete = shown(row.name)
            if not complete:
                self.incomplete += 1
                if len(self.incomplete_numbers) < SHOWN_NUMBERS:
                    self.incomplete_numbers.append(row.number)
            self._entry(row.number, name or NO_PRINTABLE_NAME, row.country)
        self.written += len(rows)

    def _continued(self) -> None:
        """The foot of a volume before the last: where the list goes on."""
        assert self._part is not None
        pdf = self._pdf
        pdf.shaping(False)
        y = self._lowest + 6
        if y + BODY_LINE > pdf.h - BOTTOM:
            pdf.add_page()
            y = TOP + 4
        pdf.set_xy(MARGIN, y)
        pdf.set_font(MAIN, size=BODY_SIZE)
        pdf.cell(0, BODY_LINE, f"The list continues in volume {self._part.number + 1} of {self._part.of}.")

    def _closing_total(self, totals: _Totals) -> None:
        """The total, the erased and incomplete-name notes and the fingerprint, together on the last page."""
        pdf = self._pdf
        pdf.shaping(False)
        if totals.written == 0 and not totals.purged:
            pdf.set_xy(MARGIN, self._y + 2)
            pdf.set_font(MAIN, size=BODY_SIZE)
            pdf.cell(0, BODY_LINE, "No one has signed this letter yet.")
            self._lowest = self._y + 2 + BODY_LINE
        # (size, line height, grey, space after, text): measured first, so the block is never split.
        block: list[tuple[float, float, bool, float, str]] = [(12, 8, False, 1, people(totals.written))]
        if totals.purged:
            block.append((BODY_SIZE, BODY_LINE, False, 2, erased(totals.purged)))
        if totals.incomplete:
            block.append((BODY_SIZE, BODY_LINE, False, 2, incomplete(totals.incomplete, totals.incomplete_numbers)))
        block += [
            (BODY_SIZE, BODY_LINE, False, 0.5, "SHA-256 fingerprint of the signatory list:"),
            (BODY_SIZE, BODY_LINE, False, 1.5, totals.fingerprint),
            (7.5, 3.6, True, 0, RULE),
        ]
        height = 0.0
        pdf.set_x(MARGIN)  # the measured lines are as wide as the page's text
        for size, line, _, after, text in block:
            pdf.set_font(MAIN, size=size)
            self._use_fonts(text)
            lines = pdf.multi_cell(0, line, text, align="L", dry_run=True, output=MethodReturnValue.LINES)
            height += line * max(1, len(lines) if isinstance(lines, list) else 1) + after
        y = self._lowest + 6
        if y + height > pdf.h - BOTTOM:
            pdf.add_page()
            y = TOP + 4
        pdf.set_xy(MARGIN, y)
        for size, line, grey, after, text in block:
            pdf.set_font(MAIN, size=size)
            pdf.set_text_color(GREY if grey else 0)
            pdf.multi_cell(0, line, text, align="L", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(after)
        pdf.set_text_color(0)

    def finish(self, totals: _Totals | None) -> None:
        """Close with the whole list's totals (the last or only volume) or where it continues; write the file."""
        try:
            if totals is None:
                self._continued()
            else:
                self._closing_total(totals)
            self._pdf.output(str(self._path))
        finally:
            self._release()

    def abandon(self) -> None:
        """Nothing is on disk before ``finish``; the document in memory is simply dropped."""
        self._release()

    def _release(self) -> None:
        """Drop the document, its fonts and fpdf2's caches that would keep them alive.

        fpdf2 memoises glyph lookups with ``functools.cache`` on methods, a cache shared
        by every instance: until it is cleared it holds this document's fonts (fpdf2
        clears it in ``output``, not when a document is dropped unfinished).
        """
        pdf = getattr(self, "_pdf", None)
        if pdf is None:
            return
        for font in pdf.fonts.values():
            if isinstance(font, TTFFont):
                font.subset.pick.cache_clear()
                font.subset.get_glyph.cache_clear()
                font.close()
        del self._pdf, self._main_cmap, self._main_widths


class PdfWriter:
    """The delivery document: one PDF, or past ``volume_size`` names (``archive.PDF_VOLUME_SIZE``) a zip of volumes.

    fpdf2 holds a document in memory until it writes it, so a list of millions is
    cut into volumes of ``volume_size`` names, each written and released before the
    next begins: memory is one volume's, whatever the size, and time grows linearly.
    Each volume begins with the letter and says which one it is ("Volume 3 of 20"),
    the numbering runs on across them, and the last one ends with the count and the
    fingerprint of the whole list. The volumes are stored (not deflated: a PDF's
    content is compressed already) in a zip at ``path``, named ``{name}-volume-03-of-20.pdf``.
    """

    def __init__(
        self,
        path: Path,
        *,
        campaign: Campaign,
        total: int,
        generated_at: datetime,
        translations: Sequence[LetterVersion] = (),
        fingerprint: Fingerprint | None = None,
        purged: int = 0,
        name: str = "letter-and-signatures",
        volume_size: int | None = None,
    ) -> None:
        quiet_font_logging()
        self._path = path
        self._campaign = campaign
        self._translations = tuple(translations)
        self._total = total
        self._generated = f"{generated_at:%-d %B %Y, %H:%M} UTC"
        # Fed the rows by the caller before ``write`` (see ``export._stream``), or here when not given.
        self._own_fingerprint = fingerprint is None
        self._fingerprint = Fingerprint() if fingerprint is None else fingerprint
        self._purged = purged
        self._name = name
        self._volume_size = volume_size or archive.PDF_VOLUME_SIZE  # read now, so tests can change it
        self.volumes = max(1, math.ceil(total / self._volume_size))
        self._files: list[Path] = []  # the volumes written so far (only when there are several)
        self._written = 0
        self._incomplete = 0
        self._incomplete_numbers: list[int] = []
        self._volume: _Volume | None = self._open(1)

    @property
    def incomplete_names(self) -> int:
        """Names written so far that the document cannot show in full."""
        return self._incomplete + (self._volume.incomplete if self._volume else 0)

    @property
    def incomplete_numbers(self) -> tuple[int, ...]:
        """The row numbers of the first ``SHOWN_NUMBERS`` of them."""
        numbers = self._incomplete_numbers + (self._volume.incomplete_numbers if self._volume else [])
        return tuple(numbers[:SHOWN_NUMBERS])

    def _open(self, number: int) -> _Volume:
        part = None
        path = self._path
        if self.volumes > 1:
            first = (number - 1) * self._volume_size + 1
            part = _Part(number, self.volumes, first, min(number * self._volume_size, self._total))
            handle, name = tempfile.mkstemp(dir=self._path.parent, prefix=".undersign-volume-", suffix=".pdf")
            os.close(handle)  # created 0600: it holds personal data
            path = Path(name)
            self._files.append(path)
        try:
            return _Volume(
                path,
                campaign=self._campaign,
                translations=self._translations,
                total=self._total,
                generated=self._generated,
                part=part,
            )
        except BaseException:  # no writer to abandon yet: its file goes now
            if part is not None:
                self._files.remove(path)
                path.unlink(missing_ok=True)
            raise

    def _close(self, volume: _Volume, *, last: bool) -> None:
        self._volume = None
        self._written += volume.written
        self._incomplete += volume.incomplete
        self._incomplete_numbers += volume.incomplete_numbers[: SHOWN_NUMBERS - len(self._incomplete_numbers)]
        totals = None
        if last:
            totals = _Totals(
                self._written,
                self._purged,
                self._incomplete,
                self._fingerprint.hexdigest(),
                tuple(self._incomplete_numbers),
            )
        volume.finish(totals)

    def write(self, rows: Sequence[ExportRow]) -> None:
        if self._own_fingerprint:
            self._fingerprint.update(rows)
        while rows:
            volume = self._volume
            assert volume is not None
            if volume.written == self._volume_size:  # full, and more names follow: the next volume
                self._close(volume, last=False)
                volume = self._volume = self._open(len(self._files) + 1)
            room = self._volume_size - volume.written
            volume.write(rows[:room])
            rows = rows[room:]

    def finish(self) -> None:
        assert self._volume is not None
        self._close(self._volume, last=True)
        if self.volumes == 1:
            return
        if len(self._files) != self.volumes:
            raise ValueError(f"{len(self._files)} volumes were written, {self.volumes} expected")
        width = len(str(self.volumes))
        with zipfile.ZipFile(self._path, "w", compression=zipfile.ZIP_STORED) as archive:
            for number, volume in enumerate(self._files, start=1):
                archive.write(volume, arcname=f"{self._name}-volume-{number:0{width}}-of-{self.volumes}.pdf")
        self._remove_volumes()

    def abandon(self) -> None:
        """Drop the volume in memory and delete the ones already written."""
        if self._volume is not None:
            self._volume.abandon()
            self._volume = None
        self._remove_volumes()

    def _remove_volumes(self) -> None:
        for volume in self._files:
            volume.unlink(missing_ok=True)
        self._files.clear()
