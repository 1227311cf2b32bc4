"""Validating the name a supporter signs with.

The name is delivered to the authorities with the letter, so it must be a name a
person would write: normalised (NFC), 1-100 characters, with a letter, and free of
links and of invisible characters that could hide or reorder text.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

MAX_LENGTH = 100

# Zero-width and bidi-control characters. ZERO WIDTH NON-JOINER (U+200C) is allowed:
# Persian and Urdu spelling needs it inside words, so names can contain it.
INVISIBLE = {
    "\u200b",  # zero width space
    "\u200d",  # zero width joiner
    "\u2060",  # word joiner
    "\ufeff",  # zero width no-break space / BOM
    "\u180e",  # Mongolian vowel separator
    "\u200e",  # left-to-right mark
    "\u200f",  # right-to-left mark
    "\u061c",  # Arabic letter mark
    *(chr(c) for c in range(0x202A, 0x202F)),  # embeddings and overrides
    *(chr(c) for c in range(0x2066, 0x206A)),  # isolates
}

LINK = re.compile(
    r"(https?://|www\.|t\.me/|telegram\.me/|@[A-Za-z0-9_]{4,}|"
    r"\b[a-z0-9-]+\.(com|net|org|ru|cn|io|me|info|xyz|app|link|site|top|biz|online|ly|gg)\b)",
    re.IGNORECASE,
)


class NameProblem(StrEnum):
    EMPTY = "empty"
    TOO_LONG = "too_long"
    NO_LETTER = "no_letter"
    LINK = "link"
    INVISIBLE = "invisible"


def clean_name(raw: str) -> tuple[str | None, NameProblem | None]:
    """The name to store, or the reason it cannot be used."""
    name = unicodedata.normalize("NFC", raw).strip()
    name = re.sub(r"[ \t]+", " ", name)
    if not name:
        return None, NameProblem.EMPTY
    if any(
        ch in INVISIBLE or (unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} and ch != "\u200c")
        for ch in name
    ):
        return None, NameProblem.INVISIBLE
    if len(name) > MAX_LENGTH:
        return None, NameProblem.TOO_LONG
    if not any(unicodedata.category(ch).startswith("L") for ch in name):
        return None, NameProblem.NO_LETTER
    if LINK.search(name):
        return None, NameProblem.LINK
    return name, None
