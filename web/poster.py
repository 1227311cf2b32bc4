"""A printable poster: the campaign's title, "Sign the letter", a large QR code and the link.

One A4 page in the language chosen, its QR code leading into the bot with the
poster's own source (``/start <source>``), so ``/stats`` shows how many signed from
this poster run. The QR code is drawn as vector squares (sharp at any print size);
the text uses the delivery PDF's fonts, with text shaping for right-to-left and
joining scripts.
"""

from __future__ import annotations

from pathlib import Path

import qrcode
from fpdf import FPDF

from handlers.i18n import Translator
from petition.campaign import Campaign
from storage.exports.fonts import faces_for, printable
from storage.exports.pdf_export import quiet_font_logging
from web.page import language_tag

QR_SIZE = 130.0  # millimetres: scannable from a few metres away
MARGIN = 20.0


def _modules(link: str) -> list[list[bool]]:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(link)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]


def poster_pdf(path: Path, t: Translator, campaign: Campaign, link: str) -> None:
    """Write the poster to ``path``."""
    quiet_font_logging()
    title = printable(t.catalog.gettext(campaign.title))
    sign = printable(t.gettext_plain("✍️ Sign the letter"))
    shown_link = link.removeprefix("https://")
    organisation = printable(campaign.organisation)
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    faces = faces_for(title + sign + shown_link + organisation)
    for face in faces:
        pdf.add_font(face.family, "", str(face.path), collection_font_number=face.index)
    pdf.set_fallback_fonts([face.family for face in faces[1:]])
    main = faces[0].family
    pdf.set_title(title)
    pdf.set_author(organisation)
    pdf.set_lang(language_tag(t.locale))
    pdf.set_creator("undersign")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_text_shaping(True)  # Arabic, Uyghur and others join and run right to left

    pdf.set_font(main, size=24)
    pdf.multi_cell(0, 11, title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font(main, size=20)
    pdf.multi_cell(0, 10, sign, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)

    # The QR code, row by row, each run of dark modules one rectangle.
    modules = _modules(link)
    size = QR_SIZE / len(modules)
    left, top = (pdf.w - QR_SIZE) / 2, pdf.get_y()
    pdf.set_fill_color(0)
    for row, dark in enumerate(modules):
        column = 0
        while column < len(dark):
            if not dark[column]:
                column += 1
                continue
            start = column
            while column < len(dark) and dark[column]:
                column += 1
            pdf.rect(left + start * size, top + row * size, (column - start) * size, size * 1.02, style="F")
    pdf.set_y(top + QR_SIZE + 8)

    pdf.set_text_shaping(False)  # the link is ASCII, left to right, whatever the language
    pdf.set_font(main, size=15)
    pdf.cell(0, 8, shown_link, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_text_shaping(True)
    pdf.set_font(main, size=11)
    pdf.set_text_color(90)
    pdf.multi_cell(0, 6, organisation, align="C")
    pdf.output(str(path))
