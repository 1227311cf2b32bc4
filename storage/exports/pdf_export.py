"""The delivery document: the letter as signed, in English, then the numbered signatories.

This is what the organisation hands to the addressees, so it reads as a letter:
title, organisation, addressees, the total and the date, salutation, paragraphs,
demands as bullets and the closing; then "Signatories", two newspaper columns of
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
go through HarfBuzz (right-to-left and joining scripts), which keeps a
100,000-name document fast. Names no font can show in full are printed with a
placeholder per missing letter and counted (``incomplete_names``); the document
ends with a note saying how many there are.

Memory: fpdf2 builds the document in memory and writes it on ``finish``, so unlike
the CSV and XLSX, memory grows with the number of pages; most of it is fonts.
Each export loads its own fonts, the fallback ones only when a name needs them,
and releases them with the document (also when abandoned). Peak Python heap
(tracemalloc) of a whole export, measured on SQLite with one Chinese name among
plain Latin ones: 56.5 MiB at 2,001 rows, 57.5 MiB at 20,001 (about 1 MiB more
per 18,000 names: page content; the rest is Noto Sans CJK, 47 MiB to load).
Without a CJK name the CJK font is never loaded: 5.3 MiB at 2,000 rows, where
loading every font up front cost 55.9 MiB. After an export about 0.05 MiB stays
allocated, however many exports ran (the code-point index of ``fonts`` is built
once per process, ~4 MiB). The process's resident size
is larger than the heap (fontTools' subsetting, buffers freed late by the
allocator); a document of several hundred thousand names is for
``python -m bot export`` on a machine with memory to spare.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import MethodReturnValue
from fpdf.fonts import TTFFont

from petition.campaign import Campaign
from petition.countries import country_name
from storage.exports.fingerprint import RULE, Fingerprint
from storage.exports.fonts import MISSING, font_files, font_for_codepoint, needs_shaping, printable, shown
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


def incomplete(count: int) -> str:
    """The closing note on names the document cannot show in full (the CSV and XLSX have them exactly)."""
    names = "1 name" if count == 1 else f"{count:,} names"
    return (
        f"This document cannot show every character of {names}: letters without a font are drawn as {MISSING}, "
        "emoji and symbols are left out. The electronic list of signatures has every name exactly as signed."
    )


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


class PdfWriter:
    """Lays the letter out on creation, the signatories batch by batch, and writes the file on ``finish``."""

    def __init__(
        self,
        path: Path,
        *,
        campaign: Campaign,
        total: int,
        generated_at: datetime,
        fingerprint: Fingerprint | None = None,
        purged: int = 0,
    ) -> None:
        quiet_font_logging()
        self._path = path
        self._total = total
        # Fed the rows by the caller before ``write`` (see ``export._stream``), or here when not given.
        self._own_fingerprint = fingerprint is None
        self._fingerprint = Fingerprint() if fingerprint is None else fingerprint
        self._purged = purged
        self._written = 0
        self._incomplete = 0
        generated = f"{generated_at:%-d %B %Y, %H:%M} UTC"
        running_title = printable(campaign.title)
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
        pdf.set_title(campaign.title)
        pdf.set_author(campaign.organisation)
        pdf.set_subject(f"{people(total)} Generated {generated}.")
        pdf.set_creator("undersign")
        pdf.set_lang("en")
        self._pdf = pdf
        main = pdf.fonts[MAIN.lower()]
        assert isinstance(main, TTFFont)
        self._main_cmap = main.cmap
        self._main_widths = main.cw
        self._country_lines: dict[str, list[str]] = {}
        self._use_fonts(running_title + footer_note)
        self._letter(campaign, generated)
        self._start_list()

    @property
    def incomplete_names(self) -> int:
        """Names written so far that the document cannot show in full."""
        return self._incomplete

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

    def _paragraph(self, text: str, *, size: float = BODY_SIZE, line: float = BODY_LINE, after: float = 3) -> None:
        pdf = self._pdf
        pdf.set_font(MAIN, size=size)
        text = printable(text)
        self._use_fonts(text)
        pdf.multi_cell(0, line, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(after)

    def _letter(self, campaign: Campaign, generated: str) -> None:
        pdf = self._pdf
        pdf.add_page()
        pdf.shaping(True)  # a page or two of prose: kerning and ligatures cost nothing here
        self._paragraph(campaign.title, size=17, line=8, after=4)
        self._paragraph(f"A letter from supporters of {campaign.organisation}", size=11, after=5)
        self._paragraph(f"To: {'; '.join(campaign.targets)}", after=1)
        self._paragraph(f"{people(self._total)} Generated {generated}.", after=8)
        letter = campaign.letter
        self._paragraph(letter.salutation + ",")
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
            pdf.multi_cell(pdf.epw - 7, BODY_LINE, demand_text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        pdf.ln(2)
        self._paragraph(letter.closing, after=1)
        self._paragraph("The signatories listed on the following pages.", after=0)

    # --- the signatories --------------------------------------------------------------

    def _start_list(self) -> None:
        pdf = self._pdf
        pdf.add_page()
        pdf.shaping(False)
        pdf.set_auto_page_break(False)  # the list places every entry itself
        pdf.set_font(MAIN, size=14)
        pdf.cell(0, 8, "Signatories", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(MAIN, size=8.5)
        pdf.set_text_color(GREY)
        pdf.cell(0, 5, f"In the order they signed. {people(self._total)}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0)
        pdf.ln(2)
        self._column_width = (pdf.epw - COLUMN_GAP) / 2
        self._name_width = self._column_width - NUMBER_W - COUNTRY_W
        self._list_page(pdf.get_y())

    def _list_page(self, top: float) -> None:
        """Column headings for both newspaper columns, then entries from ``top`` down."""
        pdf = self._pdf
        pdf.set_font(MAIN, size=7)
        pdf.set_text_color(GREY)
        for column in (0, 1):
            x = MARGIN + column * (self._column_width + COLUMN_GAP)
            pdf.set_xy(x, top)
            pdf.cell(NUMBER_W, 4, "No.", align="R")
            pdf.cell(self._name_width, 4, "Name")
            pdf.cell(COUNTRY_W, 4, "Country")
            pdf.set_draw_color(180)
            pdf.line(x, top + 4.5, x + self._column_width, top + 4.5)
        pdf.set_text_color(0)
        pdf.set_font(MAIN, size=LIST_SIZE)
        self._top = top + 5.5
        self._column = 0
        self._y = self._top
        self._lowest = self._top

    def _plain(self, text: str) -> bool:
        """Whether ``text`` can take the fast path: main font only, no shaping."""
        cmap = self._main_cmap
        return not needs_shaping(text) and all(ord(char) in cmap for char in text)

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
        if plain:
            name_lines = [name]
        else:
            self._use_fonts(name)
            pdf.shaping(needs_shaping(name))
            name_lines = self._fit(name, self._name_width)
        height = max(len(name_lines), len(country_lines)) * LIST_LINE
        if self._y + height > pdf.h - BOTTOM:
            if self._column == 0:
                self._column, self._y = 1, self._top
            else:
                pdf.add_page()
                self._list_page(TOP)
        x = MARGIN + self._column * (self._column_width + COLUMN_GAP)
        y = self._y
        digits = str(number)  # drawn first: text extractors then read "number name country"
        self._text(x + NUMBER_W - margin - self._width(digits), y, digits)
        if plain:
            self._text(x + NUMBER_W + margin, y, name)
        else:
            for index, line in enumerate(name_lines):
                pdf.set_xy(x + NUMBER_W, y + index * LIST_LINE)
                pdf.cell(self._name_width, LIST_LINE, line)
            pdf.shaping(False)
        for index, line in enumerate(country_lines):
            self._text(x + NUMBER_W + self._name_width + margin, y + index * LIST_LINE, line)
        self._y = y + height
        self._lowest = max(self._lowest, self._y)

    def write(self, rows: Sequence[ExportRow]) -> None:
        if self._own_fingerprint:
            self._fingerprint.update(rows)
        for row in rows:
            name, complete = shown(row.name)
            if not complete:
                self._incomplete += 1
            self._entry(row.number, name or NO_PRINTABLE_NAME, row.country)
        self._written += len(rows)

    def _closing_total(self) -> None:
        """The total, the erased and incomplete-name notes and the fingerprint, together on the last page."""
        pdf = self._pdf
        pdf.shaping(False)
        if self._written == 0 and not self._purged:
            pdf.set_xy(MARGIN, self._y + 2)
            pdf.set_font(MAIN, size=BODY_SIZE)
            pdf.cell(0, BODY_LINE, "No one has signed this letter yet.")
            self._lowest = self._y + 2 + BODY_LINE
        # (size, line height, grey, space after, text): measured first, so the block is never split.
        block: list[tuple[float, float, bool, float, str]] = [(12, 8, False, 1, people(self._written))]
        if self._purged:
            block.append((BODY_SIZE, BODY_LINE, False, 2, erased(self._purged)))
        if self._incomplete:
            block.append((BODY_SIZE, BODY_LINE, False, 2, incomplete(self._incomplete)))
        block += [
            (BODY_SIZE, BODY_LINE, False, 0.5, "SHA-256 fingerprint of the signatory list:"),
            (BODY_SIZE, BODY_LINE, False, 1.5, self._fingerprint.hexdigest()),
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

    def finish(self) -> None:
        try:
            self._closing_total()
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
