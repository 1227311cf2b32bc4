"""Fonts for the delivery PDF, from the font packages the project installs, and what they can print.

Names come in every script, so the document uses Noto Sans (Latin, Greek,
Cyrillic, Devanagari) as its main font and falls back to Noto Sans Arabic
(Arabic, Persian, Urdu, Uyghur), Noto Sans CJK SC (Chinese in the simplified
forms its addressees read, Japanese kana, Korean Hangul) and the per-script Noto Sans fonts of ``manimgx-fonts`` (Hebrew,
Armenian, Georgian, Ethiopic, Thai, Lao, Khmer, Myanmar, Sinhala, Bengali,
Gujarati, Gurmukhi, Oriya, Tamil, Telugu, Kannada, Malayalam). The files are
found through the packages' own ``__file__``, never a system font directory, so
every machine that installed the project renders the same glyphs. Every one of
these packages states the SIL Open Font License 1.1 in its metadata and ships
its text (``font_sources``; THIRD_PARTY_NOTICES.md; tests/test_font_licences.py).
Four scripts no package provides (Tibetan, Thaana, Mongolian, Syriac) come from Noto
files kept in ``vendored_fonts/`` with the licence text and where they came from
(``SOURCE.toml``, each file's SHA-256).

What no font covers is never dropped silently (``shown``): a letter, mark,
digit or punctuation mark of a script without a font (Cherokee, N'Ko, Tifinagh, ...) is
drawn as ``MISSING`` (□), one per character, so the reader sees that the name is
incomplete; emoji and symbols are drawn in black and white (Noto Emoji, Noto Sans
Symbols: colour emoji do not embed well in PDF), and the few no font has are left out
as decoration. Either way such a name counts as incomplete, and the document says
how many names are and which; the CSV and XLSX keep every name exactly.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import fontpkg_noto_sans
import fontpkg_noto_sans_arabic
import manimgx_fonts
import noto_cjk_sans_otc
from fontTools.ttLib import TTCollection, TTFont


class FontError(Exception):
    """A font package is installed without its font file (reinstall the project)."""


@dataclass(frozen=True, slots=True)
class Font:
    """A font file, the family name the PDF registers it under, and its face in a collection."""

    family: str
    path: Path
    index: int = 0
    """Which font of a ``.ttc`` collection (fontTools' ``fontNumber``, fpdf2's ``collection_font_number``)."""


# Scripts no font package provides: their Noto fonts are kept in ``VENDORED``.
VENDORED_FAMILIES = ("NotoSerifTibetan", "NotoSansThaana", "NotoSansMongolian", "NotoSansSyriac")
# The per-script fonts of manimgx-fonts (and the vendored ones), in fallback order (after Arabic and CJK).
SCRIPT_FAMILIES = (
    "NotoSansHebrew",
    "NotoSansArmenian",
    "NotoSansGeorgian",
    "NotoSansEthiopic",
    "NotoSansThai",
    "NotoSansLao",
    "NotoSansKhmer",
    "NotoSansMyanmar",
    "NotoSansBengali",
    "NotoSansGujarati",
    "NotoSansGurmukhi",
    "NotoSansOriya",
    "NotoSansTamil",
    "NotoSansTelugu",
    "NotoSansKannada",
    "NotoSansMalayalam",
    "NotoSansSinhala",
    *VENDORED_FAMILIES,
    # Last: symbols, and emoji drawn in black and white (a colour emoji font does not embed
    # well in a PDF), so "Emoji 😀 Fan" prints whole instead of losing the face.
    "NotoSansSymbols",
    "NotoEmoji",
)


VENDORED = Path(__file__).resolve().parent / "vendored_fonts"
"""Noto fonts of scripts no package provides, with OFL.txt and SOURCE.toml (where they came from)."""


@dataclass(frozen=True, slots=True)
class FontFiles:
    main: Path
    fallbacks: tuple[Font, ...]
    """Arabic, CJK, then ``SCRIPT_FAMILIES``: the order fpdf2 tries them in."""

    def faces(self) -> tuple[Font, ...]:
        """The main font, then the fallbacks: what ``font_for_codepoint`` indexes into."""
        return (Font("NotoSans", self.main), *self.fallbacks)

    def all(self) -> tuple[Path, ...]:
        return tuple(font.path for font in self.faces())


def _upright_variable_font(directory: Path, family: str) -> Path:
    """``<directory>/<Family>[wdth,wght].ttf``: the upright one, not ``-Italic``."""
    found = sorted(directory.glob(f"{family}[[]*].ttf"))
    if not found:
        raise FontError(f"no {family} font file in {directory}: reinstall the project's dependencies")
    return found[0]


def _script_font(directory: Path, family: str) -> Path:
    """A per-script font: ``manimgx-fonts``' variable one, or a vendored static one."""
    if family not in VENDORED_FAMILIES:
        return _upright_variable_font(directory, family)
    vendored = VENDORED / f"{family}-Regular.ttf"
    if not vendored.is_file():
        raise FontError(f"no {vendored.name} in {VENDORED}: reinstall the project")
    return vendored


def _package_directory(package_file: str | None) -> Path:
    return Path(package_file or "").resolve().parent


CJK_FACE = "Noto Sans CJK SC"
"""The face of the Noto Sans CJK collection the PDF uses: Chinese names in the simplified forms
the addressees read (every face has the same characters; only some glyph shapes differ)."""


def _collection_face(path: Path, full_name: str) -> int:
    """The index of the font called ``full_name`` in the collection at ``path``."""
    try:
        collection = TTCollection(path, lazy=True)
    except OSError as error:
        raise FontError(f"{full_name}: {error}: reinstall the project's dependencies") from None
    try:
        for index, font in enumerate(collection.fonts):
            if font["name"].getDebugName(4) == full_name:
                return index
    finally:
        collection.close()
    raise FontError(f"no {full_name} in {path}: reinstall the project's dependencies")


@cache
def font_files() -> FontFiles:
    cjk = _package_directory(noto_cjk_sans_otc.__file__) / noto_cjk_sans_otc.FONT_FILE
    scripts = _package_directory(manimgx_fonts.__file__)
    return FontFiles(
        main=_upright_variable_font(_package_directory(fontpkg_noto_sans.__file__) / "files", "NotoSans"),
        fallbacks=(
            Font(
                "NotoSansArabic",
                _upright_variable_font(
                    _package_directory(fontpkg_noto_sans_arabic.__file__) / "files", "NotoSansArabic"
                ),
            ),
            Font("NotoSansCJK", cjk, _collection_face(cjk, CJK_FACE)),
            *(Font(family, _script_font(scripts, family)) for family in SCRIPT_FAMILIES),
        ),
    )


@cache
def font_for_codepoint() -> dict[int, int]:
    """Code point -> index into ``font_files().all()`` of the first font with a glyph for it.

    Read once per process, from the cmap tables only (not 16 MB of CJK outlines).
    """
    owner: dict[int, int] = {}
    for index, face in enumerate(font_files().faces()):
        font = TTFont(face.path, lazy=True, fontNumber=face.index)
        try:
            for code in font.getBestCmap() or {}:
                owner.setdefault(code, index)
        finally:
            font.close()
    return owner


# Explicit direction marks, embeddings, overrides and isolates: the name validation
# refuses them, and here they could only scramble the layout of a neighbouring column.
_BIDI_CONTROLS = frozenset({0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)})
# Emoji presentation selectors and the like: they change no letter, so losing them loses nothing.
_VARIATION_SELECTORS = frozenset({*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)})

MISSING = "□"
"""Drawn for each letter, mark, digit or punctuation mark no font has (U+25A1 WHITE SQUARE, in Noto Sans CJK)."""


def char_class(codes: Iterable[int]) -> str:
    """A regular expression's character class body for ``codes``, as ranges (``a-z...``)."""
    ordered = sorted(set(codes))
    parts: list[str] = []
    start = previous = None
    for code in [*ordered, None]:
        if code is not None and previous is not None and code == previous + 1:
            previous = code
            continue
        if start is not None and previous is not None:
            parts.append(
                re.escape(chr(start)) if start == previous else f"{re.escape(chr(start))}-{re.escape(chr(previous))}"
            )
        start = previous = code
    return "".join(parts)


@cache
def _shown_as_is() -> re.Pattern[str]:
    """Texts ``shown`` prints unchanged and complete: every character has a font and is neither
    whitespace other than a space, a control, a format character, a direction control nor a
    variation selector (each of which ``shown`` replaces or drops)."""
    codes = (
        code
        for code in font_for_codepoint()
        if code not in _BIDI_CONTROLS
        and code not in _VARIATION_SELECTORS
        and unicodedata.category(chr(code)) not in ("Cc", "Cf")
        and (code == 0x20 or not chr(code).isspace())
    )
    return re.compile(f"[{char_class(codes)}]*")


def shown(text: str) -> tuple[str, bool]:
    """``text`` as the document prints it, and whether that is the whole of it.

    One line; control characters and whitespace become single spaces; direction
    controls and variation selectors are dropped (nothing visible is lost); a
    letter, mark, digit or punctuation without a font becomes ``MISSING``; other characters
    without a font (emoji, symbols, private use) are left out. The second value is
    False when anything visible was replaced or left out.
    """
    if _shown_as_is().fullmatch(text) and "  " not in text and text == text.strip(" "):
        return text, True  # most names: nothing to replace (a regular expression, not a loop in Python)
    return _shown_char_by_char(text)


def _shown_char_by_char(text: str) -> tuple[str, bool]:
    """``shown``'s rules, applied one character at a time."""
    owner = font_for_codepoint()
    kept: list[str] = []
    complete = True
    for char in text:
        code = ord(char)
        category = unicodedata.category(char)
        if char.isspace() or category == "Cc":
            kept.append(" ")  # a newline or tab inside a name reads as a space on paper
        elif code in _BIDI_CONTROLS or code in _VARIATION_SELECTORS:
            continue
        elif code in owner:
            kept.append(char)
        elif category == "Cf":
            continue  # invisible format characters (a joiner in an emoji sequence)
        else:
            complete = False
            if category[0] in "LMNP":
                kept.append(MISSING)  # a letter of a script without a font: visibly missing
    printed = " ".join("".join(kept).split())
    if all(unicodedata.category(char) == "Cf" for char in printed):
        printed = ""  # nothing visible left (the joiners of an emoji sequence)
    return printed, complete


def faces_for(text: str) -> list[Font]:
    """The main font and the fallbacks ``text`` needs, in fallback order: what a short
    document (a poster) loads, where the delivery PDF loads them name by name."""
    owner, faces = font_for_codepoint(), font_files().faces()
    needed = sorted({owner[ord(char)] for char in text if owner.get(ord(char), 0) > 0})
    return [faces[0], *(faces[index] for index in needed)]


def printable(text: str) -> str:
    """``text`` on one line, as ``shown`` prints it."""
    return shown(text)[0]


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


@cache
def _shapes() -> re.Pattern[str]:
    """A character that needs HarfBuzz: outside ``_SIMPLE_RANGES``, or a combining mark."""
    simple = (
        code
        for low, high in _SIMPLE_RANGES
        for code in range(low, high + 1)
        if not unicodedata.combining(chr(code)) and not 0xD800 <= code <= 0xDFFF
    )
    return re.compile(f"[^{char_class(simple)}]")


def needs_shaping(text: str) -> bool:
    """Whether ``text`` needs HarfBuzz: right-to-left or joining scripts, combining marks.

    Shaping every cell makes a 100,000-name document several times slower, and
    Latin, Cyrillic and CJK names look the same without it.
    """
    if text.isascii():
        return False
    return _shapes().search(text) is not None
