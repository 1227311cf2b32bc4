"""The language picker: every catalog by its own name, the detected one first."""

from __future__ import annotations

from handlers.i18n import FSI, PDI, language_name
from handlers.replies import Keyboard
from handlers.turn import Turn, button, rows

PICK = "lang"  # callback data: "lang:<locale>"
OPEN = "langs"  # callback data: open the picker


def detected_locale(turn: Turn) -> str:
    code = turn.event.user.language_code if turn.event.user else None
    return turn.services.i18n.match(code)


def picker(turn: Turn) -> Keyboard:
    """Two languages to a row; the detected language first, the current one marked."""
    first = detected_locale(turn)
    ordered = [first, *(locale for locale in turn.services.i18n.locales if locale != first)]
    current = turn.state.locale or first
    labels = [
        button(("✓ " if locale == current else "") + f"{FSI}{language_name(locale)}{PDI}", f"{PICK}:{locale}")
        for locale in ordered
    ]
    return rows(*labels, width=2)


async def show_picker(turn: Turn) -> None:
    turn.answer()  # no-op if the button was already answered with a message
    turn.show(turn.t.gettext("Choose the language you want to read the letter in:"), picker(turn))


async def choose(turn: Turn, locale: str) -> bool:
    """Switch to ``locale``; False (and the picker again) if it is not a language we have."""
    if locale not in turn.services.i18n.locales:
        turn.answer(turn.t.gettext("This language is not available. Please choose another one."))
        await show_picker(turn)
        return False
    turn.state.locale = locale
    turn.state.locale_chosen = True
    # Translators: {language} is a language's name in itself, e.g. “Deutsch”.
    turn.answer(turn.t.gettext_plain("Language: {language}", language=language_name(locale)))
    return True
