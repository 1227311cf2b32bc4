"""Consent: plain words on what is stored and who receives it, then an explicit choice.

Nothing is pre-ticked: "I agree and want to sign" is a button the person presses, and
"keep me informed" is a separate choice that stays off unless they turn it on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from handlers.i18n import Translator
from handlers.replies import Keyboard
from handlers.state import Step
from handlers.turn import Turn, button, rows

AGREE = "agree"
OPT_IN = "optin"  # toggles "keep me informed"
NOT_NOW = "notnow"


def addressees(t: Translator, targets: Sequence[str]) -> str:
    """The letter's addressees in one line, with the language's own list separator."""
    listed = t.plain(targets[0]) if targets else ""
    for target in targets[1:]:
        # Translators: lists the letter's addressees one after the other ("President Xi Jinping, Ma Xingrui"):
        # your language's list separator between them (Chinese 、, Arabic script ، ). Keep both placeholders.
        listed = t.gettext_plain("{first}, {second}", first=listed, second=t.plain(target))
    return listed


def consent_text(turn: Turn) -> str:
    t = turn.t
    campaign = turn.campaign
    targets = addressees(t, campaign.targets)
    return "\n\n".join(
        [
            "<b>" + t.gettext("Before you sign") + "</b>",
            t.gettext(
                "If you sign, we store your name in the form you choose, your country, your Telegram user id, "
                "the date and the language you read the letter in."
            ),
            # Translators: {organisation} is “Amnesty International”; {targets} the addressees' names, listed.
            t.gettext(
                "{organisation} will deliver with the letter to {targets} only your name, in the form you choose "
                "next (full name, first name and initial, or initials only), and your country. "
                "Your Telegram id is never delivered or shown to anyone.",
                organisation=campaign.organisation,
                targets=targets,
            ),
            t.gettext(
                "You can see what is stored with /mysignature and withdraw your signature at any time "
                "with /withdraw: it is then erased. The full privacy notice: /privacy"
            ),
        ]
    )


def consent_version(turn: Turn) -> str:
    """A short hash of the consent wording exactly as this person read it."""
    return hashlib.sha256(consent_text(turn).encode("utf-8")).hexdigest()[:12]


def consent_buttons(turn: Turn) -> Keyboard:
    t = turn.t
    keep = (
        # Translators: button label, at most 40 characters (longer labels are cut on phones); a ticked box: the person chose to get news.
        t.gettext("☑ Keep me informed about this campaign")
        if turn.state.opt_in
        # Translators: button label, at most 40 characters (longer labels are cut on phones); an empty box: pressing it ticks it.
        else t.gettext("☐ Keep me informed about this campaign")
    )
    return rows(
        # Translators: button label, at most 40 characters (longer labels are cut on phones); the explicit consent.
        button(t.gettext("✅ I agree and want to sign"), AGREE),
        button(keep, OPT_IN),
        # Translators: button label, at most 40 characters (longer labels are cut on phones); leaves without signing.
        button(t.gettext("Not now"), NOT_NOW),
    )


async def ask(turn: Turn) -> Step:
    turn.answer()
    turn.send(consent_text(turn), consent_buttons(turn))
    return Step.CONSENT


async def toggle_opt_in(turn: Turn) -> None:
    turn.state.opt_in = not turn.state.opt_in
    t = turn.t
    turn.answer(
        t.gettext("You will get news about this campaign.")
        if turn.state.opt_in
        else t.gettext("You will not get news about this campaign.")
    )
    turn.show(consent_text(turn), consent_buttons(turn))


async def not_now(turn: Turn) -> Step:
    turn.answer()
    turn.show(
        turn.t.gettext("No problem. Nothing has been stored. You can come back any time with /start."),
    )
    return Step.WELCOME
