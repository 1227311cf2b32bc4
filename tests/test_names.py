"""The name rules and the forms a name is shown in, as pure functions."""

from __future__ import annotations

import unicodedata

import pytest

from handlers.i18n import I18n
from handlers.names import (
    MAX_MARKS,
    NameForm,
    NameProblem,
    choices,
    clean_name,
    display,
    initial,
    narrower,
)


@pytest.mark.parametrize(
    "name",
    [
        "Ada Lovelace",
        "Aynur Kadir",
        "مریم رحیمی",  # Persian
        "میرزا\u200cعلی",  # Persian with a zero width non-joiner inside the word (needed for spelling)
        "ئايگۈل ئابدۇرېھىم",  # Uyghur, Arabic script
        "Ayg\u00fcl Abdurehim",
        "王小明",
        "김민준",  # Hangul syllables: letters, not fillers
        "Nguyễn Thị Minh Khai",  # Vietnamese: two marks on a letter once decomposed
        "O'Brien-Smith",
        "Jean-Luc d\u2019Arc",
        "Тимур Ахметов",
        "Ma\u0301\u0302\u0303ria",  # three marks on one letter: still allowed
    ],
)
def test_names_of_every_script_are_accepted(name: str) -> None:
    cleaned, problem = clean_name(name)
    assert problem is None and cleaned == unicodedata.normalize("NFC", name)


def test_names_are_nfc_normalised_and_spaces_made_plain() -> None:
    decomposed = "Ayg" + "u\u0308" + "l\u00a0\u3000 Abdurehim\t"
    assert clean_name(decomposed) == ("Ayg\u00fcl Abdurehim", None)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("   ", NameProblem.EMPTY),
        ("x" * 101, NameProblem.TOO_LONG),
        ("12345", NameProblem.NO_LETTER),
        ("see https://spam.example", NameProblem.LINK),
        ("Ada @spammer_bot", NameProblem.LINK),
        ("Ada\u202eecalevol", NameProblem.INVISIBLE),  # a bidi override
        ("Ada\u2066Lovelace", NameProblem.INVISIBLE),  # an isolate
        ("Ada\u200fLovelace", NameProblem.INVISIBLE),  # a direction mark
        ("Ada\x07Lovelace", NameProblem.INVISIBLE),  # a control character
        ("Ada\U000e0041Lovelace", NameProblem.INVISIBLE),  # a tag character
        ("Ada\u2028Lovelace", NameProblem.LINES),  # LINE SEPARATOR (Zl)
        ("Ada\u2029Lovelace", NameProblem.LINES),  # PARAGRAPH SEPARATOR (Zp)
        ("Ada\nLovelace", NameProblem.LINES),
        ("Ada\rLovelace", NameProblem.LINES),
        ("Ada\x85Lovelace", NameProblem.LINES),  # NEXT LINE
        ("\u3164", NameProblem.BLANK),  # HANGUL FILLER: a "letter" that prints as nothing
        ("Ada\u3164", NameProblem.BLANK),
        ("\u115f\u1160", NameProblem.BLANK),  # Hangul choseong / jungseong fillers
        ("\uffa0Ada", NameProblem.BLANK),  # halfwidth Hangul filler
        ("Ada\u2800Lovelace", NameProblem.BLANK),  # braille pattern blank
        ("Ada\u00adLovelace", NameProblem.BLANK),  # soft hyphen
        ("Ada\u200bLovelace", NameProblem.BLANK),  # zero width space
        ("Ada\u200dLovelace", NameProblem.BLANK),  # zero width joiner
        ("Ada\u2060Lovelace", NameProblem.BLANK),  # word joiner
        ("Ada\ufeffLovelace", NameProblem.BLANK),  # zero width no-break space
        ("Ada\u180eLovelace", NameProblem.BLANK),  # Mongolian vowel separator
        ("Ada\u2063Lovelace", NameProblem.BLANK),  # invisible separator
        ("Ada\u034fLovelace", NameProblem.BLANK),  # combining grapheme joiner
        ("Ada\u17b4Lovelace", NameProblem.BLANK),  # Khmer inherent vowel
        ("A" + "\u0301" * (MAX_MARKS + 1) + "da", NameProblem.MARKS),
        ("Z" + "\u0336\u0337\u0338\u0488" * 25, NameProblem.MARKS),  # "zalgo": 100 marks on one letter
    ],
)
def test_refused_names_name_their_problem(name: str, problem: NameProblem) -> None:
    assert clean_name(name) == (None, problem)


def test_every_problem_has_its_own_explanation() -> None:
    from handlers.ask_name import problem_text

    t = I18n().get("en")
    texts = {problem: problem_text(t, problem) for problem in NameProblem}
    assert len(set(texts.values())) == len(NameProblem)
    assert "one line" in texts[NameProblem.LINES]
    assert "empty space" in texts[NameProblem.BLANK]
    assert "three marks" in texts[NameProblem.MARKS]


@pytest.mark.parametrize(
    ("name", "full", "first_initial", "initials"),
    [
        ("Aynur Kadir", "Aynur Kadir", "Aynur K.", "A. K."),
        ("Maria Fernanda dos Santos Oliveira", "Maria Fernanda dos Santos Oliveira", "Maria O.", "M. O."),
        ("Aynur", "Aynur", "Aynur", "A."),
        ("王小明", "王小明", "王小明", "王."),
        ("محمد علي", "محمد علي", "محمد ع.", "م. ع."),
        ("Ayg\u00fcl \u00d6zt\u00fcrk", "Ayg\u00fcl \u00d6zt\u00fcrk", "Ayg\u00fcl \u00d6.", "A. \u00d6."),
        ("Aynur - Kadir", "Aynur - Kadir", "Aynur K.", "A. K."),  # a lone dash is nobody's initial
        ("'Abd al-Rahman", "'Abd al-Rahman", "'Abd a.", "A. a."),
    ],
)
def test_forms(name: str, full: str, first_initial: str, initials: str) -> None:
    assert display(name, NameForm.FULL) == full
    assert display(name, NameForm.FIRST_INITIAL) == first_initial
    assert display(name, NameForm.INITIALS) == initials


@pytest.mark.parametrize(
    "name", ["Aynur Kadir", "Maria Fernanda dos Santos Oliveira", "Aynur", "王小明", "محمد علي", "'Abd al-Rahman"]
)
def test_a_narrower_form_built_from_a_stored_form_is_the_one_built_from_the_full_name(name: str) -> None:
    """So /mysignature can narrow the form from what is stored, without the full name."""
    for stored in NameForm:
        for target in NameForm:
            if narrower(target, stored):
                assert display(display(name, stored), target) == display(name, target), (stored, target)
        assert display(display(name, stored), stored) == display(name, stored)  # stable


def test_choices_leave_out_forms_that_look_the_same() -> None:
    assert choices("Aynur Kadir") == [
        (NameForm.FULL, "Aynur Kadir"),
        (NameForm.FIRST_INITIAL, "Aynur K."),
        (NameForm.INITIALS, "A. K."),
    ]
    assert choices("Aynur") == [(NameForm.FULL, "Aynur"), (NameForm.INITIALS, "A.")]


def test_an_initial_keeps_the_marks_of_its_letter() -> None:
    assert initial("A\u0301da") == "A\u0301."  # no precomposed form needed
    assert initial("(Ali)") == "A."
