"""The country: likely countries as buttons, or a typed search in any of our languages."""

from __future__ import annotations

from handlers.state import Step
from handlers.turn import Turn, button, rows
from petition import countries

PICK = "cty"  # callback data: "cty:DE"
OTHER = "ctyother"
MAX_CHOICES = 8  # more matches than this: ask for a more precise name


async def ask(turn: Turn) -> Step:
    turn.answer()
    t = turn.t
    likely = countries.likely_countries(t.locale)
    turn.show(  # in place of the message whose button was pressed; after a typed name, a new one
        t.gettext("Which country do you live in? Choose below, or type its name."),
        rows(
            *(button(countries.country_name(c, t.locale), f"{PICK}:{c}") for c in likely),
            # Translators: button label, at most 40 characters (longer labels are cut on phones); asks the person to type their country.
            button(t.gettext("Other country…"), OTHER),
            width=2,
        ),
    )
    return Step.COUNTRY


async def other(turn: Turn) -> None:
    turn.answer()
    turn.show(turn.t.gettext("Please type the name of your country, in your language or in English."))


def picked(turn: Turn, code: str) -> str | None:
    """The chosen code if it is a real country."""
    if code in countries.country_codes():
        return code
    # Translators: a pop-up, at most 200 characters.
    turn.answer(turn.t.gettext("Please choose a country from the list, or type its name."), alert=True)
    return None


def typed(turn: Turn) -> str | None:
    """One country found by the typed text, or None after offering a pick-list or a hint."""
    t = turn.t
    query = turn.event.text.strip()[:100]
    found = countries.search(query, t.locale, turn.services.i18n.locales)
    if len(found) == 1:
        return found[0]
    if not found:
        turn.send(
            # Translators: {query} is what the person typed.
            t.gettext(
                "I could not find a country called “{query}”. Please check the spelling, or type the name in English.",
                query=query,
            )
        )
    elif len(found) > MAX_CHOICES:
        # Translators: {query} is what the person typed.
        turn.send(t.gettext("Many countries match “{query}”. Please type more of the name.", query=query))
    else:
        turn.send(
            t.gettext("Which one do you mean?"),
            rows(*(button(countries.country_name(c, t.locale), f"{PICK}:{c}") for c in found), width=2),
        )
    return None
