"""Validating the name a supporter signs with, and the forms it can be shown in.

The name is delivered to the authorities with the letter, so it must be a name a
person would write: normalised (NFC), 1-100 characters, with a letter, on one line,
and free of links and of characters that could hide, blank out or reorder text —
a name that prints as an empty row in the delivery document, or as a smear of
stacked accents, is refused with an explanation, never silently changed.

Each signer chooses how the letter's addressees see them (``NameForm``): the full
name, the first name and the initial of the last ("Aynur K."), or the initials
("A. K."). Only the chosen form is stored, and the forms narrow consistently:
a narrower form built from a stored form equals the one built from the full name,
so a signer can narrow their form later from what is stored alone.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

MAX_LENGTH = 100
MAX_MARKS = 3  # combining marks on one base character: real scripts need at most about this many

# Line breaks typed inside a name: they would split a row of the list (and fake a new one).
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")

# Characters that show as nothing or as a blank but are not spaces: a name made of them
# prints as an empty row. Hangul fillers and the braille blank are "letters" and
# "symbols" to Unicode, so the letter check alone would let them through.
BLANK = frozenset(
    {
        "\u00ad",  # soft hyphen
        "\u034f",  # combining grapheme joiner
        "\u115f",  # Hangul choseong filler
        "\u1160",  # Hangul jungseong filler
        "\u17b4",  # Khmer vowel inherent aq
        "\u17b5",  # Khmer vowel inherent aa
        "\u180e",  # Mongolian vowel separator
        "\u200b",  # zero width space
        "\u200d",  # zero width joiner
        "\u2060",  # word joiner
        "\u2061",  # function application
        "\u2062",  # invisible times
        "\u2063",  # invisible separator
        "\u2064",  # invisible plus
        "\u2800",  # braille pattern blank
        "\u3164",  # Hangul filler
        "\ufeff",  # zero width no-break space / BOM
        "\uffa0",  # halfwidth Hangul filler
        *(chr(c) for c in range(0x180B, 0x1810)),  # Mongolian free variation selectors
        *(chr(c) for c in range(0x1D173, 0x1D17B)),  # musical formatting (begin/end beam…)
    }
)

# Direction marks, embeddings, overrides and isolates: they could reorder what is shown.
# ZERO WIDTH NON-JOINER (U+200C) is allowed: Persian and Urdu spelling needs it inside
# words. Every other control, format, surrogate, private-use or unassigned character is
# refused too (``_invisible``).
INVISIBLE = frozenset(
    {
        "\u200e",  # left-to-right mark
        "\u200f",  # right-to-left mark
        "\u061c",  # Arabic letter mark
        *(chr(c) for c in range(0x202A, 0x202F)),  # embeddings and overrides
        *(chr(c) for c in range(0x2066, 0x206A)),  # isolates
    }
)
ALLOWED_FORMAT = frozenset({"\u200c"})  # zero width non-joiner

LINK = re.compile(
    r"(https?://|www\.|t\.me/|telegram\.me/|@[A-Za-z0-9_]{4,}|"
    r"\b[a-z0-9-]+\.(com|net|org|ru|cn|io|me|info|xyz|app|link|site|top|biz|online|ly|gg)\b)",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")


class NameProblem(StrEnum):
    EMPTY = "empty"
    TOO_LONG = "too_long"
    NO_LETTER = "no_letter"
    LINK = "link"
    INVISIBLE = "invisible"
    LINES = "lines"  # a line or paragraph break inside the name
    BLANK = "blank"  # fillers and characters that show as nothing
    MARKS = "marks"  # more than MAX_MARKS combining marks on one character


def _invisible(ch: str) -> bool:
    return ch in INVISIBLE or (unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} and ch not in ALLOWED_FORMAT)


def _too_many_marks(name: str) -> bool:
    run = 0
    for ch in name:
        run = run + 1 if unicodedata.category(ch) in {"Mn", "Me"} else 0
        if run > MAX_MARKS:
            return True
    return False


def clean_name(raw: str) -> tuple[str | None, NameProblem | None]:
    """The name to store, or the reason it cannot be used (the first one found)."""
    name = unicodedata.normalize("NFC", raw).strip()
    if not name:
        return None, NameProblem.EMPTY
    if any(ch in LINE_BREAKS or unicodedata.category(ch) in {"Zl", "Zp"} for ch in name):
        return None, NameProblem.LINES
    if any(ch in BLANK for ch in name):
        return None, NameProblem.BLANK
    if any(_invisible(ch) for ch in name):
        return None, NameProblem.INVISIBLE
    if _too_many_marks(unicodedata.normalize("NFD", name)):  # counted decomposed: "Á" is A + one mark
        return None, NameProblem.MARKS
    name = _SPACES.sub(" ", name)  # tabs, no-break and ideographic spaces: one plain space
    if len(name) > MAX_LENGTH:
        return None, NameProblem.TOO_LONG
    if not any(unicodedata.category(ch).startswith("L") for ch in name):
        return None, NameProblem.NO_LETTER
    if LINK.search(name):
        return None, NameProblem.LINK
    return name, None


# --- how the addressees see the name ---------------------------------------------------------


class NameForm(StrEnum):
    """From the widest to the narrowest (the order matters: ``narrower``)."""

    FULL = "full"  # "Aynur Kadir"
    FIRST_INITIAL = "first_initial"  # "Aynur K."
    INITIALS = "initials"  # "A. K."


FORMS: tuple[NameForm, ...] = tuple(NameForm)


def parse_form(value: str) -> NameForm | None:
    try:
        return NameForm(value)
    except ValueError:
        return None


def offered_form(name: str, value: str) -> NameForm | None:
    """``value`` as a form, if it is one that ``choices(name)`` offers (a button's data can be old or forged)."""
    form = parse_form(value)
    return form if form is not None and form in {f for f, _ in choices(name)} else None


def _words(name: str) -> list[str]:
    """The words of a name that carry a letter (a lone dash or "&" is no one's initial)."""
    return [word for word in name.split() if any(unicodedata.category(ch).startswith("L") for ch in word)]


def initial(word: str) -> str:
    """The first letter of ``word`` (with its combining marks) and a full stop: "Kadir" → "K."."""
    for index, ch in enumerate(word):
        if unicodedata.category(ch).startswith("L"):
            end = index + 1
            while end < len(word) and unicodedata.category(word[end]) in {"Mn", "Mc", "Me"}:
                end += 1
            return word[index:end] + "."
    return word


def display(name: str, form: NameForm) -> str:
    """``name`` as the addressees see it in ``form``.

    The first word and the last word count (middle names go in the narrower forms):
    "Maria Fernanda Oliveira" → "Maria O." → "M. O.". A one-word name has no
    initial to add: its "first name and initial" is the name itself.
    """
    words = _words(name)
    if form is NameForm.FULL or not words:
        return name
    first, last = words[0], words[-1]
    if form is NameForm.FIRST_INITIAL:
        return first if len(words) == 1 else f"{first} {initial(last)}"
    return initial(first) if len(words) == 1 else f"{initial(first)} {initial(last)}"


def choices(name: str) -> list[tuple[NameForm, str]]:
    """Each form with its preview, widest first; a form that looks the same as a wider one is left out."""
    seen: set[str] = set()
    found: list[tuple[NameForm, str]] = []
    for form in FORMS:
        shown = display(name, form)
        if shown not in seen:
            seen.add(shown)
            found.append((form, shown))
    return found


def narrower(form: NameForm, than: NameForm) -> bool:
    """True if ``form`` shows less of a name than ``than`` (it can be built from it)."""
    return FORMS.index(form) > FORMS.index(than)
