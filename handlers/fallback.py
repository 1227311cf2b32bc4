"""Answers for everything that is not the expected next input."""

from __future__ import annotations

from handlers.i18n import Translator
from handlers.state import Step
from handlers.turn import Turn


def command_lines(t: Translator) -> list[str]:
    """One line per command, "/command — what it does", in the user's language."""
    return [
        # Translators: one line of /help and of Telegram's command menu: keep “/start” and the dash, then a short description.
        t.gettext("/start — read the letter and sign it"),
        t.gettext("/mysignature — see what is stored about your signature"),
        t.gettext("/withdraw — erase your signature"),
        t.gettext("/verify — check that a receipt code is on the list"),
        t.gettext("/updates — turn news about this campaign on or off"),
        t.gettext("/privacy — how your data is used"),
        t.gettext("/language — choose your language"),
        t.gettext("/cancel — stop signing; nothing is stored"),
        t.gettext("/help — this list"),
    ]


async def help_text(turn: Turn) -> None:
    turn.send("\n".join([turn.t.gettext("Here is what you can do:"), *command_lines(turn.t)]))


def unknown_command(turn: Turn) -> None:
    turn.send(turn.t.gettext("I don't know that command. /help lists what I can do."))


def text_where_button_expected(turn: Turn) -> None:
    turn.send(turn.t.gettext("Please use the buttons under my last message, or send /start to begin again."))


def not_text(turn: Turn) -> None:
    """Stickers, photos, voice, locations, contacts: kindly ask for what the step needs."""
    t = turn.t
    match turn.state.step:
        case Step.NAME | Step.RENAMING:
            turn.send(t.gettext("Please type your name as a text message."))
        case Step.COUNTRY:
            turn.send(t.gettext("Please type the name of your country as a text message, or choose it above."))
        case _:
            turn.send(
                t.gettext("Thank you, but I can only read text messages and button presses. /help lists what I can do.")
            )


def forwarded(turn: Turn) -> None:
    turn.send(turn.t.gettext("I can only use what you type yourself, not forwarded messages. Please type it."))


async def already_signed_text(turn: Turn) -> None:
    turn.send(turn.t.gettext("You have already signed: thank you! /mysignature shows what is stored, /help the rest."))


async def cancel(turn: Turn) -> Step:
    """Forget the answers given so far (nothing was stored); keep the language and a signature."""
    if turn.state.step in {Step.RENAMING, Step.RENAME_FORM}:
        turn.state.name = None
        turn.send(turn.t.gettext("Nothing changed: your name appears as before."))
        return Step.SIGNED
    if turn.state.step in {Step.SIGNED, Step.WITHDRAWING}:
        turn.send(turn.t.gettext("Nothing to cancel. Your signature stays on the letter."))
        return Step.SIGNED
    turn.state.name = turn.state.country = turn.state.name_form = None
    turn.state.opt_in = False
    turn.send(turn.t.gettext("Stopped. Nothing has been stored. Send /start whenever you want to continue."))
    return Step.WELCOME


def edited_message(turn: Turn) -> None:
    turn.send(turn.t.gettext("I only read new messages, not edits. Please send your message again."))


def stale_button(turn: Turn) -> None:
    """A button from an older message, or pressed twice: answer it, change nothing."""
    if turn.state.step is Step.SIGNED:
        # Translators: a pop-up, at most 200 characters.
        turn.answer(turn.t.gettext("You have already signed. Thank you!"))
    else:
        turn.answer(
            # Translators: a pop-up, at most 200 characters.
            turn.t.gettext("This button is from an older message. Please use the latest one, or send /start."),
            alert=True,
        )
