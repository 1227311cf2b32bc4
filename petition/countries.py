"""Countries: ISO 3166-1 alpha-2 codes with names from Babel's CLDR data.

Search matches the names in the user's language and in English first, then in every
language we have a catalog for, ignoring case and accents ("deutschland", "Germany",
"germ" and "ALLEMAGNE" all find DE).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import cache

from babel import Locale
from babel.core import get_global
from babel.languages import get_territory_language_info

# CLDR "territories" that are not countries a person lives in.
NOT_COUNTRIES = {
    "EU",
    "EZ",
    "UN",
    "QO",
    "XA",
    "XB",
    "ZZ",
    "AQ",
    "BV",
    "HM",
    "CP",
    "DG",
    "EA",
    "IC",
    "TA",
    "AC",
    "CQ",
}


def _fold(text: str) -> str:
    """Lower case without accents, for matching what people type."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).strip()


@cache
def country_codes() -> tuple[str, ...]:
    codes = [str(code) for code in Locale("en").territories]
    return tuple(sorted(code for code in codes if len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES))


@cache
def country_names(locale: str) -> dict[str, str]:
    territories = Locale.parse(locale).territories
    english = Locale("en").territories
    return {code: territories.get(code) or english[code] for code in country_codes()}


def country_name(code: str, locale: str) -> str:
    return country_names(locale).get(code, code)


@cache
def _folded(locale: str) -> dict[str, str]:
    return {code: _fold(name) for code, name in country_names(locale).items()}


# Where readers of each supported language mostly live, largest first (CLDR has no
# populations to rank by). Names always come from CLDR; only the order is ours.
LIKELY = {
    "en": ("US", "GB", "CA", "AU", "IE", "NZ"),
    "fr": ("FR", "BE", "CA", "CH", "SN", "CI"),
    "es": ("ES", "MX", "AR", "CO", "US", "CL"),
    "ar": ("EG", "SA", "MA", "DZ", "IQ", "JO"),
    "ug": ("CN", "KZ", "TR", "KG", "DE", "US"),
    "kk": ("KZ", "CN", "RU", "UZ", "TR", "DE"),
    "uz": ("UZ", "AF", "KZ", "KG", "TR", "RU"),
    "ky": ("KG", "KZ", "RU", "TR", "CN", "UZ"),
    "tr": ("TR", "DE", "NL", "AT", "FR", "AZ"),
    "ru": ("RU", "KZ", "KG", "UZ", "BY", "DE"),
    "zh_Hans": ("CN", "SG", "MY", "US", "CA", "AU"),
    "zh_Hant": ("TW", "HK", "MO", "US", "CA", "AU"),
    "de": ("DE", "AT", "CH", "LU", "LI", "BE"),
    "fa": ("IR", "AF", "TJ", "DE", "US", "CA"),
    "id": ("ID", "MY", "SG", "NL", "AU", "US"),
    "ur": ("PK", "IN", "GB", "AE", "SA", "US"),
    "pt_BR": ("BR", "PT", "AO", "MZ", "US", "JP"),
    "it": ("IT", "CH", "SM", "VA", "DE", "AR"),
}


def search(query: str, locale: str, all_locales: Iterable[str] = ()) -> list[str]:
    """Codes whose name matches ``query``: exact name first, then word starts, then substrings."""
    wanted = _fold(query)
    if len(wanted) < 2:
        return []
    everywhere = tuple(dict.fromkeys([*all_locales, *LIKELY]))
    for locales in ((locale, "en"), everywhere):
        exact: list[str] = []
        starts: list[str] = []
        contains: list[str] = []
        for loc in locales:
            for code, name in _folded(loc).items():
                if wanted == name or wanted == code.casefold():
                    exact.append(code)
                elif name.startswith(wanted) or any(w.startswith(wanted) for w in name.replace("-", " ").split()):
                    starts.append(code)
                elif len(wanted) >= 3 and wanted in name:
                    contains.append(code)
        found = list(dict.fromkeys(exact or [*starts, *contains]))
        if found:
            return found
    return []


def likely_countries(locale: str, limit: int = 6) -> list[str]:
    """Countries people reading in ``locale`` most likely live in.

    Our own order for the supported languages; otherwise CLDR's likely territory and
    the countries where the language is official.
    """
    if locale in LIKELY:
        return list(LIKELY[locale][:limit])
    parsed = Locale.parse(locale)
    first: list[str] = []
    if parsed.territory:
        first.append(parsed.territory)
    likely = get_global("likely_subtags").get(str(parsed)) or get_global("likely_subtags").get(parsed.language)
    if likely:
        territory = likely.split("_")[-1]
        if territory in country_codes():
            first.append(territory)
    official = [
        code
        for code in country_codes()
        if (info := get_territory_language_info(code).get(parsed.language))
        and info.get("official_status") == "official"
        and float(info.get("population_percent") or 0) >= 50
    ]
    names = country_names(locale)
    ranked = list(dict.fromkeys([*first, *sorted(official, key=lambda c: _fold(names[c]))]))
    return ranked[:limit]
