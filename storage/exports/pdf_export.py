"""The delivery document: the letter as signed, in English, then the numbered signatories.

This is what the organisation hands to the addressees, so it reads as a letter:
title, organisation, addressees, the total and the date, salutation, paragraphs,
demands as bullets and the closing; then "Signatories", two newspaper columns of
number, name and country per page; then the total once more. Every page carries
the running title, the generation date and "Page n of N".

Names are printed in their own script (see ``fonts``); only names that need it
go through HarfBuzz (right-to-left and joining scripts), which keeps a
100,000-name document fast. fpdf2 builds the document in memory and writes it on
``finish``: unlike the CSV and XLSX, memory grows with the number of pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import MethodReturnValue
from fpdf.fonts import TTFFont

from handlers.campaign import Campaign
from handlers.countries import country_name
from storage.exports.fonts import font_files, needs_shaping, printable
from storage.exports.rows import ExportRow

MAIN, ARABIC, CJK = "NotoSans", "NotoSansArabic", "NotoSansCJK"

# Layout, in millimetres on A4 portrait.
MARGIN = 16.0
TOP = 16.0
BOTTOM = 16.0
BODY_SIZE, BODY_LINE = 10.5, 5.2
LIST_SIZE, LIST_LINE = 8.0, 3.8
COLUMN_GAP = 6.0
NUMBER_W, COUNTRY_W = 11.0, 33.0  # the name gets the rest of each newspaper column
GREY = 110
NO_PRINTABLE_NAME = "—"  # a name made only of characters no font has (emoji): the row still counts


def people(total: int) -> str:
    return f"{total:,} person signed this letter." if total == 1 else f"{total:,} people signed this letter."


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

    def __init__(self, path: Path, *, campaign: Campaign, total: int, generated_at: datetime) -> None:
        self._path = path
        self._total = total
        self._written = 0
        generated = f"{generated_at:%-d %B %Y, %H:%M} UTC"
        pdf = _Document(campaign.title, f"{campaign.organisation} · generated {generated}")
        pdf.alias_nb_pages("{pages}")  # reserves room for a 5-digit page count, "{nb}" only for 3
        fonts = font_files()
        pdf.add_font(MAIN, "", fonts.main)
        pdf.add_font(ARABIC, "", fonts.arabic)
        pdf.add_font(CJK, "", fonts.cjk)
        pdf.set_fallback_fonts([ARABIC, CJK])
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
        self._letter(campaign, generated)
        self._start_list()

    # --- the letter -------------------------------------------------------------------

    def _paragraph(self, text: str, *, size: float = BODY_SIZE, line: float = BODY_LINE, after: float = 3) -> None:
        pdf = self._pdf
        pdf.set_font(MAIN, size=size)
        pdf.multi_cell(0, line, printable(text), new_x="LMARGIN", new_y="NEXT")
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
            pdf.multi_cell(pdf.epw - 7, BODY_LINE, printable(demand), new_x="LMARGIN", new_y="NEXT")
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
            lines = self._country_lines[code] = self._fit(printable(country_name(code, "en")), COUNTRY_W)
        return lines

    def _entry(self, number: int, name: str, country: str) -> None:
        pdf = self._pdf
        margin = pdf.c_margin
        country_lines = self._country(country)
        plain = self._plain(name) and self._width(name) <= self._name_width - 2 * margin
        if plain:
            name_lines = [name]
        else:
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
        for row in rows:
            self._entry(row.number, printable(row.name) or NO_PRINTABLE_NAME, row.country)
        self._written += len(rows)

    def _closing_total(self) -> None:
        pdf = self._pdf
        pdf.shaping(False)
        if self._written == 0:
            pdf.set_xy(MARGIN, self._y + 2)
            pdf.set_font(MAIN, size=BODY_SIZE)
            pdf.cell(0, BODY_LINE, "No one has signed this letter yet.")
            self._lowest = self._y + 2 + BODY_LINE
        y = self._lowest + 6
        if y + 8 > pdf.h - BOTTOM:
            pdf.add_page()
            y = TOP + 4
        pdf.set_font(MAIN, size=12)
        pdf.set_xy(MARGIN, y)
        pdf.cell(0, 8, people(self._written))

    def finish(self) -> None:
        self._closing_total()
        self._pdf.output(str(self._path))

    def abandon(self) -> None:
        """Nothing is on disk before ``finish``; the document in memory is simply dropped."""
