"""The name to sign with: the Telegram profile name in one tap, or a typed one."""

from __future__ import annotations

from handlers.i18n import Translator
from handlers.names import NameProblem, clean_name
from handlers.state import Step
from handlers.turn import Turn, button, rows

SIGN_AS = "asme"  # callback data: sign with the Telegram profile name


def profile_name(turn: Turn) -> str | None:
    user = turn.event.user
    if user is None:
        return None
    name, problem = clean_name(user.full_name)
    return name if problem is None else None


async def ask(turn: Turn) -> Step:
    turn.answer()
    t = turn.t
    name = profile_name(turn)
    text = t.gettext("What name should we sign with? Your name will be delivered with the letter.")
    # In place of the message whose button was pressed (the consent, the review): one message for the signing.
    if name:
        turn.show(
            text + "\n\n" + t.gettext("Type the name you want to sign with, or use your Telegram name:"),
            # Translators: button label, at most 40 characters (longer labels are cut on phones) with {name} filled in; {name} is the person's Telegram name.
            rows(button(t.gettext_plain("Sign as {name}", name=name), SIGN_AS)),
        )
    else:
        turn.show(text + "\n\n" + t.gettext("Please type the name you want to sign with."))
    return Step.NAME


def problem_text(t: Translator, problem: NameProblem) -> str:
    """Why a name cannot be used, kindly, with what to do instead: one message per reason."""
    return {
        NameProblem.EMPTY: t.gettext("Please type your name."),
        NameProblem.TOO_LONG: t.gettext("That is longer than 100 characters. Please type a shorter name."),
        NameProblem.NO_LETTER: t.gettext("A name needs at least one letter. Please type your name."),
        NameProblem.LINK: t.gettext("A name cannot contain a link or a @username. Please type just your name."),
        NameProblem.INVISIBLE: t.gettext("Please type your name on one line, without special invisible characters."),
        NameProblem.LINES: t.gettext(
            "Your name would be delivered on one line of the list. Please type it on one line, without line breaks."
        ),
        NameProblem.BLANK: t.gettext(
            "Your name contains characters that show as empty space (such as fillers or zero-width characters), "
            "so it could appear blank on the list. Please type it with ordinary letters and spaces."
        ),
        NameProblem.MARKS: t.gettext(
            "Your name has a letter with many accents or marks stacked on it, which would not print legibly. "
            "Please type it with at most three marks on each letter."
        ),
    }[problem]


def typed(turn: Turn) -> str | None:
    """The valid name typed in this turn, or None after explaining kindly what to change."""
    name, problem = clean_name(turn.event.text)
    if problem is not None:
        turn.send(problem_text(turn.t, problem))
        return None
    return name


def from_profile(turn: Turn) -> str | None:
    name = profile_name(turn)
    if name is None:
        turn.answer(turn.t.gettext("Please type the name you want to sign with."), alert=True)
    return name
