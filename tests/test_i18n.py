"""Locale matching, CLDR numbers and plurals, and right-to-left isolation."""

from __future__ import annotations

import pytest

from emulator.telegram_rules import MAX_CALLBACK_ANSWER
from handlers.i18n import FSI, PDI, I18n, best_locale, language_name, normalise_locale

CATALOGS = I18n().locales


@pytest.mark.parametrize(
    ("telegram", "expected"),
    [
        ("en", "en"),
        ("en-US", "en"),
        ("pt-br", "pt_BR"),
        ("pt", "pt_BR"),  # the only Portuguese catalog
        ("zh-hans", "zh_Hans"),
        ("zh-hant", "zh_Hant"),
        ("zh", "zh_Hans"),
        ("zh-TW", "zh_Hant"),
        ("zh-Hant-TW", "zh_Hant"),
        ("zh-Hans-SG", "zh_Hans"),
        ("ug", "ug"),
        ("uz-latn", "uz"),
        ("sr-latn", "en"),  # no Serbian catalog: the default
        ("", "en"),
        (None, "en"),
        ("xx-unknown", "en"),
    ],
)
def test_telegram_language_codes_map_to_the_best_catalog(telegram: str | None, expected: str) -> None:
    assert best_locale(telegram, CATALOGS, "en") == expected


def test_normalised_forms() -> None:
    assert [normalise_locale(c) for c in ("pt-br", "zh-hans", "sr-latn", "EN_us")] == [
        "pt_BR",
        "zh_Hans",
        "sr_Latn",
        "en_US",
    ]


def test_all_eighteen_languages_are_there_with_their_own_names() -> None:
    assert len(CATALOGS) == 18
    names = {locale: language_name(locale) for locale in CATALOGS}
    assert names["de"] == "Deutsch"
    assert names["ug"] == "ئۇيغۇرچە"
    assert names["zh_Hans"] == "中文 (简体)"


def test_numbers_follow_the_language() -> None:
    i18n = I18n()
    assert (
        i18n.get("en").ngettext("{n} person has signed", "{n} people have signed", 12345) == "12,345 people have signed"
    )
    assert i18n.get("en").ngettext("{n} person has signed", "{n} people have signed", 1) == "1 person has signed"
    assert "12\u202f345" in i18n.get("fr").ngettext("{n} person has signed", "{n} people have signed", 12345)
    assert "12.345" in i18n.get("de").ngettext("{n} person has signed", "{n} people have signed", 12345)


def test_arabic_uses_its_plural_classes() -> None:
    t = I18n().get("ar")

    def wording(n: int) -> str:
        return t.ngettext("{n} person has signed", "{n} people have signed", n).replace(t.number(n), "#")

    # few (3-10), many (11-99) and other (100+) are three different grammatical forms in Arabic.
    assert len({wording(3), wording(11), wording(100)}) == 3
    assert "people have signed" not in wording(100)


def test_right_to_left_text_isolates_what_is_filled_in() -> None:
    ug = I18n().get("ug")
    text = ug.gettext("Thank you, {name}! Your signature has been added to the letter.", name="Ada <Lovelace>")
    assert f"{FSI}Ada &lt;Lovelace&gt;{PDI}" in text  # isolated and escaped
    assert "\u202e" not in text and "\u202d" not in text  # isolates, never overrides
    en = I18n().get("en")
    assert FSI not in en.gettext("Thank you, {name}! Your signature has been added to the letter.", name="Ada")


def test_the_not_signed_answer_fits_a_pop_up_in_every_language() -> None:
    """An old "🔔 Get updates" button pressed by someone who has not signed gets this text as a
    pop-up (handlers/updates.py): Telegram refuses a callback answer over 200 characters, and
    behind a webhook the refusal is not even heard (German had 223)."""
    message = (
        "Updates are for people who signed the letter, and you have not signed it. "
        "Send /start to read it; when you sign, you can choose to get news."
    )
    i18n = I18n()
    for locale in CATALOGS:
        text = i18n.get(locale).gettext(message)
        assert text != message or locale == "en", locale  # translated
        assert len(text.encode("utf-16-le")) // 2 <= MAX_CALLBACK_ANSWER, (locale, len(text))


@pytest.mark.parametrize(
    ("locale", "separator"),
    [("en", ", "), ("de", ", "), ("zh_Hans", "、"), ("zh_Hant", "、"), ("ar", "، "), ("ug", "، "), ("fa", "، ")],
)
def test_the_addressees_are_listed_with_the_language_s_own_separator(locale: str, separator: str) -> None:
    from handlers.consent import addressees
    from petition.campaign import load_campaign

    t = I18n().get(locale)
    targets = load_campaign("xinjiang").targets
    listed = addressees(t, targets).replace(FSI, "").replace(PDI, "")
    assert listed == separator.join(t.plain(target) for target in targets)
    assert listed.count(separator) == len(targets) - 1 > 0
    if separator != ", ":
        assert ", " not in listed  # no Latin comma between them


@pytest.mark.parametrize(("locale", "shown"), [("en", "0.4%"), ("de", "0,4\xa0%"), ("tr", "%0,4"), ("zh_Hans", "0.4%")])
def test_a_small_share_shows_one_decimal_in_the_locale_s_pattern(locale: str, shown: str) -> None:
    from babel import Locale

    from handlers.i18n import share

    assert share(4, 1000, Locale.parse(locale)) == shown
    assert share(0, 0, Locale.parse(locale)).startswith(("0", "%0"))  # nothing of nothing: 0, not an error


def test_numbers_and_dates_in_the_language_s_own_digits() -> None:
    """Persian writes ۱۲۳ (CLDR's default numbering system for fa); Arabic catalogs here use 0-9."""
    from datetime import date

    from handlers.i18n import I18n

    i18n = I18n()
    persian = i18n.get("fa")
    assert persian.number(100000) == "۱۰۰٬۰۰۰" and persian.date(date(2026, 12, 5)) == "۵ دسامبر ۲۰۲۶"
    assert "۱٬۲۳۴" in persian.ngettext("{n} person has signed", "{n} people have signed", 1234)
    assert i18n.get("ar").number(1234) == "1,234" and i18n.get("de").number(1234) == "1.234"
