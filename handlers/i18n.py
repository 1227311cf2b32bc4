"""Translations, locale matching and CLDR formatting for the conversation.

Catalogs are the Babel/gettext files in ``locales/<locale>/LC_MESSAGES/messages.po``,
compiled to ``.mo`` by the install/run step. Every interpolated value is HTML-escaped
here (secure by default); a fragment that is already HTML must be wrapped in ``Html``.
Button labels and pop-ups are plain text, not HTML: they use ``Translator.gettext_plain``, which
fills values in as they are.
"""

from __future__ import annotations

import copy
import html
import io
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

from petition.campaign import Campaign, LetterVersion

logger = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
SOURCE_LOCALE = "en"

# Unicode "first strong isolate" and "pop directional isolate": keep a Latin name or
# a number inside an Arabic-script sentence from scrambling it (isolates, never overrides).
FSI, PDI = "\u2068", "\u2069"

# Script subtags Telegram sends in lower case that must keep their title case.
_SCRIPTS = {"hans": "Hans", "hant": "Hant", "latn": "Latn", "cyrl": "Cyrl", "arab": "Arab"}


class Html(str):
    """A string that is already valid Telegram HTML and must not be escaped again."""


def normalise_locale(code: str) -> str:
    """Telegram's ``pt-br``/``zh-hans``/``sr-latn``/``en_US`` → ``pt_BR``/``zh_Hans``/``sr_Latn``/``en_US``."""
    parts = [p for p in code.replace("-", "_").split("_") if p]
    if not parts:
        return ""
    result = [parts[0].lower()]
    for part in parts[1:]:
        lowered = part.lower()
        if lowered in _SCRIPTS:
            result.append(_SCRIPTS[lowered])
        elif len(part) == 2 and part.isalpha():
            result.append(part.upper())
        else:
            result.append(part)
    return "_".join(result)


def best_locale(language_code: str | None, available: Iterable[str], default: str) -> str:
    """Exact match, then the base language, then any variant of it, then the default."""
    available = list(available)
    if language_code:
        wanted = normalise_locale(language_code)
        if wanted in available:
            return wanted
        if "_".join(wanted.split("_")[:2]) in available:  # zh_Hant_TW: the script's catalog
            return "_".join(wanted.split("_")[:2])
        base = wanted.split("_")[0]
        if base in available:
            return base
        # Chinese: a bare "zh" (or zh_CN / zh_TW) is closest to a script variant.
        aliases = {
            "zh": "zh_Hans",
            "zh_CN": "zh_Hans",
            "zh_SG": "zh_Hans",
            "zh_TW": "zh_Hant",
            "zh_HK": "zh_Hant",
        }
        if aliases.get(wanted) in available:
            return aliases[wanted]
        if aliases.get(base) in available:
            return aliases[base]
        for candidate in available:
            if candidate.split("_")[0] == base:
                return candidate
    return default if default in available else SOURCE_LOCALE


def _load_catalog(directory: Path, locale: str) -> NullTranslations:
    """The compiled catalog; compiled in memory from the ``.po`` if the ``.mo`` was not built."""
    messages = directory / locale / "LC_MESSAGES"
    mo_path, po_path = messages / f"{DOMAIN}.mo", messages / f"{DOMAIN}.po"
    if mo_path.exists() and (not po_path.exists() or mo_path.stat().st_mtime >= po_path.stat().st_mtime):
        with mo_path.open("rb") as handle:
            return Translations(handle, domain=DOMAIN)
    if po_path.exists():
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        buffer.seek(0)
        return Translations(buffer, domain=DOMAIN)
    return NullTranslations()


@dataclass(frozen=True, slots=True)
class Translator:
    """The words, numbers and dates of one locale (built once per locale at start)."""

    locale: str
    catalog: NullTranslations
    babel_locale: Locale
    rtl: bool
    native_digits: dict[int, int] | None = None  # 0-9 -> the language's own digits, where it has them

    @classmethod
    def for_locale(cls, locale: str, catalog: NullTranslations) -> Translator:
        parsed = Locale.parse(locale)
        digits = NATIVE_DIGITS.get(parsed.default_numbering_system)
        return cls(locale, catalog, parsed, parsed.character_order == "right-to-left", digits)

    @property
    def language_name(self) -> str:
        return language_name(self.locale)

    def _values(self, values: Mapping[str, object], *, escape: bool = True) -> dict[str, str]:
        formatted: dict[str, str] = {}
        for key, value in values.items():
            if isinstance(value, bool):
                text = str(value)
            elif isinstance(value, int | float):
                text = self.number(value)
            elif isinstance(value, datetime | date):
                text = self.date(value)
            else:
                text = str(value)
            if escape and not isinstance(value, Html):
                text = html.escape(text, quote=False)
            formatted[key] = f"{FSI}{text}{PDI}" if self.rtl else text
        return formatted

    def gettext(self, message: str, **values: object) -> str:
        """The translation of ``message`` with ``{placeholders}`` filled in (escaped)."""
        text = self.catalog.gettext(message)
        return text.format(**self._values(values)) if values else text

    def gettext_plain(self, message: str, **values: object) -> str:
        """Like ``gettext``, for plain text (a button label, a pop-up): values are not HTML-escaped,
        so "Sign as Tom & Jerry" shows exactly that. Never put the result into message HTML."""
        text = self.catalog.gettext(message)
        return text.format(**self._values(values, escape=False)) if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        """The plural form for ``n`` (CLDR plural rules of the catalog); ``{n}`` is available."""
        text = self.catalog.ngettext(singular, plural, n)
        return text.format(**self._values({"n": n, **values}))

    def plain(self, message: str) -> str:
        """The translation of a text that is data (the letter), escaped for HTML."""
        return html.escape(self.catalog.gettext(message), quote=False)

    def number(self, value: float) -> str:
        return self.digits(format_decimal(value, locale=self.babel_locale, numbering_system="default"))

    def date(self, value: date | datetime) -> str:
        return self.digits(format_date(value, format="long", locale=self.babel_locale))

    def digits(self, text: str) -> str:
        """``text`` with the language's own digits where it writes numbers with them (Persian:
        ۱۲۳), as CLDR's default numbering system says; Babel formats with 0-9 only."""
        return text.translate(self.native_digits) if self.native_digits else text

    def percent(self, part: int, whole: int) -> str:
        """``share`` in this language, its own digits included."""
        return self.digits(share(part, whole, self.babel_locale))


# CLDR numbering systems that are not 0-9, for the languages we have catalogs for (or may soon).
NATIVE_DIGITS = {
    system: str.maketrans("0123456789", digits)
    for system, digits in {
        "arab": "٠١٢٣٤٥٦٧٨٩",  # Arabic-Indic
        "arabext": "۰۱۲۳۴۵۶۷۸۹",  # Persian (and Urdu, Pashto where that is the default)
        "beng": "০১২৩৪৫৬৭৮৯",
        "deva": "०१२३४५६७८९",
        "mymr": "၀၁၂၃၄၅၆၇၈၉",
    }.items()
}


def share(part: int, whole: int, locale: Locale) -> str:
    """``part`` of ``whole`` as a percentage with one decimal, in the locale's own pattern
    ("0.4%", "0,4 %", "%0,4"): a small share of a large campaign does not show as 0 %.
    ``/stats`` in the bot and ``python -m bot stats`` both use it."""
    pattern = copy.copy(locale.percent_formats[None])
    pattern.frac_prec = (1, 1)
    return str(pattern.apply(part / whole if whole else 0, locale))


def language_name(locale: str) -> str:
    """The language's name in itself ("Deutsch", "中文 (简体)"), capitalised for a button."""
    try:
        parsed = Locale.parse(locale)
    except (ValueError, UnknownLocaleError):
        return locale
    name = parsed.get_display_name(parsed) or locale
    return name[:1].upper() + name[1:]


def _english_name(locale: str) -> str:
    try:
        return Locale.parse(locale).get_display_name("en") or ""
    except (ValueError, UnknownLocaleError):
        return ""


MIN_COMPLETE = 90
"""Percent of a catalog's messages translated (not fuzzy) before signers are offered the
language (``TRANSLATION_THRESHOLD``). Below it, translators can commit their work as it
goes: ``i18n check`` warns, the picker leaves the language out, ``i18n status`` says so."""


@cache
def _completeness(po_path: Path, modified: float) -> float:
    """Percent of the messages of ``po_path`` translated and not fuzzy (read once per version of the file)."""
    with po_path.open("rb") as handle:
        catalog = read_po(handle)
    messages = [message for message in catalog if message.id]
    done = sum(
        1
        for message in messages
        if not message.fuzzy and (all(message.string) if isinstance(message.string, tuple | list) else message.string)
    )
    return 100.0 * done / len(messages) if messages else 0.0


def completeness(directory: Path, locale: str) -> float:
    """How much of ``locale``'s catalog is translated, in percent (English: 100)."""
    po_path = directory / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if locale == SOURCE_LOCALE or not po_path.exists():
        return 100.0 if locale == SOURCE_LOCALE else 0.0
    return _completeness(po_path, po_path.stat().st_mtime)


class I18n:
    """Every catalog complete enough to offer (``min_complete`` percent), loaded once at start."""

    def __init__(
        self, directory: Path = LOCALES_DIR, default_locale: str = SOURCE_LOCALE, min_complete: float = MIN_COMPLETE
    ) -> None:
        self.directory = directory
        found = (
            sorted(p.name for p in directory.iterdir() if (p / "LC_MESSAGES").is_dir()) if directory.is_dir() else []
        )
        offered = [locale for locale in found if completeness(directory, locale) >= min_complete]
        self.not_yet: tuple[str, ...] = tuple(locale for locale in found if locale not in offered)
        self.locales: tuple[str, ...] = tuple(dict.fromkeys([SOURCE_LOCALE, *offered]))
        self.default_locale = best_locale(default_locale, self.locales, SOURCE_LOCALE)
        self._translators = {
            locale: Translator.for_locale(locale, _load_catalog(directory, locale)) for locale in self.locales
        }

    def match(self, language_code: str | None) -> str:
        return best_locale(language_code, self.locales, self.default_locale)

    def get(self, locale: str | None) -> Translator:
        return self._translators.get(locale or "", self._translators[self.default_locale])


def delivery_letters(campaign: Campaign, directory: Path = LOCALES_DIR) -> tuple[LetterVersion, ...]:
    """The letter in each language its addressees read (the campaign file's ``[delivery]
    languages``), for the delivery document. A language is printed only when its catalog
    translates every text of the letter (whether or not signers are offered it yet):
    the addressees never get half a letter. The others are logged and left out."""
    versions = []
    for code in campaign.delivery_languages:
        locale = normalise_locale(code)
        catalog = _load_catalog(directory, locale)
        texts = (*campaign.letter.texts(), *((campaign.subject,) if campaign.subject else ()))
        missing = sum(1 for text in texts if catalog.gettext(text) == text)
        if missing:
            logger.warning(
                "delivery language %s left out of the PDF: %d of the letter's %d texts are not translated",
                locale,
                missing,
                len(texts),
            )
            continue
        english = _english_name(locale)
        heading = language_name(locale) + (f" · {english}" if english else "")
        versions.append(LetterVersion(heading, campaign.translated(catalog.gettext)))
    return tuple(versions)
