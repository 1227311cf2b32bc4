"""Consent: plain words on what is stored and who receives it, then an explicit choice.

Nothing is pre-ticked: "I agree and want to sign" is a button the person presses, and
"keep me informed" is a separate choice that stays off unless they turn it on. A campaign
may also offer news about the organisation's future campaigns (``future_campaigns``) and
contact by each of its partner organisations (``[[partners]]``): each a choice of its own,
off unless ticked, recorded with the exact sentence agreed to (``given``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from handlers import welcome
from handlers.i18n import Translator
from handlers.replies import Keyboard
from handlers.state import Step
from handlers.turn import Turn, button, rows
from petition.campaign import Partner
from storage import consents

AGREE = "agree"
OPT_IN = "optin"  # toggles "keep me informed"
NOT_NOW = "notnow"
FUTURE = "future"  # toggles news about the organisation's future campaigns
PARTNER = "partner"  # "partner:<key>": toggles contact by that partner organisation


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
            *([future_sentence(turn)] if campaign.future_campaigns else []),
            *(partner_sentence(turn, partner) for partner in campaign.partners),
        ]
    )


def future_sentence(turn: Turn) -> str:
    # Translators: on the consent screen, only for campaigns that offer it; {organisation} is “Amnesty International”.
    return turn.t.gettext(
        "Separately, and only if you tick it: {organisation} may write to you here about its future campaigns. "
        "/updates turns this off at any time.",
        organisation=turn.campaign.organisation,
    )


def partner_sentence(turn: Turn, partner: Partner) -> str:
    # Translators: on the consent screen of a coalition petition; {partner} is a partner organisation's name.
    return turn.t.gettext(
        "{partner} runs this campaign with {organisation}. Only if you tick its box, {organisation} gives "
        "{partner} your name, country and Telegram id so that they can contact you. /updates withdraws it.",
        partner=partner.name,
        organisation=turn.campaign.organisation,
    )


def _version(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def given(turn: Turn) -> list[consents.Given]:
    """The contact consents this person ticked, each with the version of its sentence."""
    campaign, state = turn.campaign, turn.state
    found = []
    if state.future and campaign.future_campaigns:
        found.append(consents.Given(consents.ORGANISATION, "", _version(future_sentence(turn))))
    for partner in campaign.partners:
        if partner.key in state.partners:
            scope = consents.partner_scope(partner.key)
            found.append(consents.Given(scope, campaign.slug, _version(partner_sentence(turn, partner))))
    return found


def consent_version(turn: Turn) -> str:
    """A short hash of the consent wording exactly as this person read it."""
    return _version(consent_text(turn))


def consent_buttons(turn: Turn) -> Keyboard:
    t = turn.t
    keep = (
        # Translators: button label, at most 40 characters (longer labels are cut on phones); a ticked box: the person chose to get news.
        t.gettext("☑ Keep me informed about this campaign")
        if turn.state.opt_in
        # Translators: button label, at most 40 characters (longer labels are cut on phones); an empty box: pressing it ticks it.
        else t.gettext("☐ Keep me informed about this campaign")
    )
    state, campaign = turn.state, turn.campaign
    extra = []
    if campaign.future_campaigns:
        future = (
            # Translators: button label, at most 40 characters (longer labels are cut on phones); a ticked box.
            t.gettext("☑ News of future campaigns")
            if state.future
            # Translators: button label, at most 40 characters (longer labels are cut on phones); an empty box.
            else t.gettext("☐ News of future campaigns")
        )
        extra.append(button(future, FUTURE))
    for partner in campaign.partners:
        if partner.key in state.partners:
            # Translators: button label with {partner} (an organisation's name) filled in, cut at 40 characters; ticked.
            label = t.gettext_plain("☑ Contact by {partner}", partner=partner.name)
        else:
            # Translators: button label with {partner} (an organisation's name) filled in, cut at 40 characters; empty.
            label = t.gettext_plain("☐ Contact by {partner}", partner=partner.name)
        extra.append(button(welcome.label(label), f"{PARTNER}:{partner.key}"))
    return rows(
        # Translators: button label, at most 40 characters (longer labels are cut on phones); the explicit consent.
        button(t.gettext("✅ I agree and want to sign"), AGREE),
        button(keep, OPT_IN),
        *extra,
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


async def toggle_future(turn: Turn) -> None:
    """News about the organisation's future campaigns: on or off, before signing."""
    if not turn.campaign.future_campaigns:
        turn.answer()
        return
    turn.state.future = not turn.state.future
    turn.answer()
    turn.show(consent_text(turn), consent_buttons(turn))


async def toggle_partner(turn: Turn) -> None:
    """Contact by one partner organisation: on or off, before signing."""
    key = turn.event.argument
    if key not in {partner.key for partner in turn.campaign.partners}:
        turn.answer()
        return
    chosen = set(turn.state.partners) ^ {key}
    turn.state.partners = tuple(sorted(chosen))
    turn.answer()
    turn.show(consent_text(turn), consent_buttons(turn))


async def not_now(turn: Turn) -> Step:
    turn.answer()
    turn.show(
        turn.t.gettext("No problem. Nothing has been stored. You can come back any time with /start."),
    )
    return Step.WELCOME
