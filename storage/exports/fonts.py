"""Fonts for the delivery PDF, from the font packages the project installs, and what they can print.

Names come in every script, so the document uses Noto Sans (Latin, Greek,
Cyrillic, Devanagari) as its main font with Noto Sans Arabic (Arabic, Persian,
Urdu, Uyghur) and Noto Sans CJK (Chinese, Japanese, Korean) as fallbacks. The
files are found through the packages' own ``__file__``, never a system font
directory, so every machine that installed the project renders the same glyphs.

Characters no font covers (emoji above all: there is no emoji font, and colour
emoji fonts do not embed well in PDF) are dropped by ``printable`` rather than
printed as empty boxes or failing the export; the CSV and XLSX keep names exactly.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cvttf_NotoSansCJK_Regular
import fontpkg_noto_sans
import fontpkg_noto_sans_arabic
from fontTools.ttLib import TTFont


class FontError(Exception):
    """A font package is installed without its font file (reinstall the project)."""


@dataclass(frozen=True, slots=True)
class FontFiles:
    main: Path
    arabic: Path
    cjk: Path

    def all(self) -> tuple[Path, ...]:
        return (self.main, self.arabic, self.cjk)


def _upright_variable_font(package_file: str | None, family: str) -> Path:
    """``<package>/files/<Family>[wdth,wght].ttf``: the upright one, not ``-Italic``."""
    files = Path(package_file or "").resolve().parent / "files"
    found = sorted(files.glob(f"{family}[[]*].ttf"))
    if not found:
        raise FontError(f"no {family} font file in {files}: reinstall the project's dependencies")
    return found[0]


@cache
def font_files() -> FontFiles:
    try:
        cjk = Path(cvttf_NotoSansCJK_Regular.get_TTF_path())
    except FileNotFoundError as error:
        raise FontError(f"Noto Sans CJK: {error}") from None
    return FontFiles(
        main=_upright_variable_font(fontpkg_noto_sans.__file__, "NotoSans"),
        arabic=_upright_variable_font(fontpkg_noto_sans_arabic.__file__, "NotoSansArabic"),
        cjk=cjk,
    )


@cache
def covered_codepoints() -> frozenset[int]:
    """Every code point at least one of the fonts has a glyph for (read once per process)."""
    covered: set[int] = set()
    for path in font_files().all():
        font = TTFont(path, lazy=True)  # reads only the cmap table, not 16 MB of CJK outlines
        try:
            covered.update(font.getBestCmap() or {})
        finally:
            font.close()
    return frozenset(covered)


# Explicit direction marks, embeddings, overrides and isolates: the name validation
# refuses them, and here they could only scramble the layout of a neighbouring column.
_BIDI_CONTROLS = frozenset({0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)})


def printable(text: str) -> str:
    """``text`` on one line, without control characters or characters no font can print."""
    covered = covered_codepoints()
    kept: list[str] = []
    for char in text:
        if char.isspace() or unicodedata.category(char) == "Cc":
            kept.append(" ")  # a newline or tab inside a name reads as a space on paper
        elif ord(char) in _BIDI_CONTROLS or ord(char) not in covered:
            continue  # emoji and other scripts without a font: dropped, see the module docstring
        else:
            kept.append(char)
    return " ".join("".join(kept).split())


# Ranges drawn correctly glyph by glyph, without a shaping engine: precomposed
# Latin/Greek/Cyrillic/Armenian below U+0590, general punctuation, and CJK/Hangul syllables.
_SIMPLE_RANGES = (
    (0x0000, 0x058F),
    (0x1E00, 0x1FFF),
    (0x2000, 0x206F),
    (0x2E80, 0xA4CF),
    (0xAC00, 0xD7AF),
    (0xF900, 0xFAFF),
    (0xFE30, 0xFE4F),
    (0xFF00, 0xFFEF),
    (0x20000, 0x3FFFF),
)


def needs_shaping(text: str) -> bool:
    """Whether ``text`` needs HarfBuzz: right-to-left or joining scripts, combining marks.

    Shaping every cell makes a 100,000-name document several times slower, and
    Latin, Cyrillic and CJK names look the same without it.
    """
    if text.isascii():
        return False
    for char in text:
        code = ord(char)
        if unicodedata.combining(char) or not any(low <= code <= high for low, high in _SIMPLE_RANGES):
            return True
    return False
