"""Review and confirm: the one place a signature is stored, then thanks and a share link."""

from __future__ import annotations

import logging
from urllib.parse import quote

from handlers import ask_name, milestones, name_form, reading, referrals
from handlers.consent import consent_version, given
from handlers.names import NameForm, choices, display, offered_form
from handlers.replies import Button, Keyboard
from handlers.state import Step
from handlers.turn import Turn, button, rows
from handlers.verify import receipt_code
from petition import countries
from storage import signatures
from storage.models import Signature

CONFIRM = "confirm"
CHANGE_NAME = "chname"
CHANGE_COUNTRY = "chcountry"
CHANGE_FORM = "chform"

log = logging.getLogger(__name__)


async def ask(turn: Turn) -> Step:
    """The last check, where choosing how the name appears is what signs: one "Sign as …"
    button per form of the name, each showing exactly what the addressees will read
    (nothing is chosen for the signer), and buttons to change the name or the country."""
    turn.answer()
    t = turn.t
    name = turn.state.name
    if not name:  # a state record without the name (expired, or an old record): ask for it
        return await ask_name.ask(turn)
    country = countries.country_name(turn.state.country or "", t.locale)
    lines = [
        t.gettext("Please check before you sign:"),
        name_form.question(turn),
        t.gettext("Country: {country}", country=country),
        t.gettext("You will get news about this campaign.")
        if turn.state.opt_in
        else t.gettext("You will not get news about this campaign."),
    ]
    signs = [
        # Translators: button label, at most 40 characters (longer labels are cut on phones) with {name} filled in; {name} is the person's Telegram name.
        button("✅ " + t.gettext_plain("Sign as {name}", name=shown), f"{CONFIRM}:{form}")
        for form, shown in choices(name)
    ]
    turn.show(
        "\n\n".join(lines),
        rows(
            *signs,
            # Translators: button label, at most 40 characters (longer labels are cut on phones).
            button(t.gettext("✏️ Change name"), CHANGE_NAME),
            # Translators: button label, at most 40 characters (longer labels are cut on phones).
            button(t.gettext("🌍 Change country"), CHANGE_COUNTRY),
        ),
    )
    return Step.REVIEW


def chosen_form(turn: Turn) -> NameForm | None:
    """The form on the pressed "Sign as …" button, if it is one of this name's; a button of an
    older review (no form on it) counts with the form chosen then, if there was one."""
    return offered_form(turn.state.name or "", turn.event.argument or turn.state.name_form or "")


async def confirm(turn: Turn) -> Step:
    """Store the signature in one transaction; a second tap or a second worker finds it signed."""
    state = turn.state
    services = turn.services
    if not state.name or not state.country:  # a state record without answers: ask again
        return await ask_name.ask(turn)
    form = chosen_form(turn)
    if form is None:  # the choice is the signer's: never assumed
        return await ask(turn)
    try:
        signature = await signatures.add_signature(
            services.db,
            campaign=turn.campaign.slug,
            user_id=turn.user_id,
            name=display(state.name, form),
            name_form=form.value,
            country=state.country,
            language=turn.t.locale,
            source=state.source,
            opt_in=state.opt_in,
            letter_version=turn.campaign.version(turn.t.catalog.gettext),
            consent_version=consent_version(turn),
            receipt_key=services.receipt_key,
            referrer=state.referrer,  # credits the sharer's count in the same transaction
            consents=given(turn),  # contact beyond the letter, each as ticked: kept with it, or neither
        )
    except signatures.AlreadySigned as already:
        state.referrer = None
        turn.answer()
        await already_signed(turn, already.signature)
        return Step.SIGNED
    # The database holds the chosen form now; the full name and the rest are forgotten.
    state.name = state.country = state.name_form = None
    state.future, state.partners = False, ()
    state.referrer = None  # the sharer is credited: nothing keeps who shared with whom
    turn.funnel.append("signed")
    turn.answer(turn.t.gettext("Thank you!"))
    total = await signatures.count_signatures(services.db, turn.campaign.slug)
    # Claiming a milestone snapshots every opted-in signer (seconds at 100k): after the
    # thank-you, outside this signer's lock. It never raises (a failure is logged once).
    campaign = turn.campaign
    turn.followups.append(lambda deliver: milestones.after_signing(services, campaign, total))
    t = turn.t
    turn.show(
        "\n\n".join(
            [
                # Translators: {name} is the name the person signed with.
                t.gettext("Thank you, {name}! Your signature has been added to the letter.", name=signature.name),
                *receipt_lines(turn, signature),
                reading.progress(turn, total),
                t.gettext("Every name counts. Please share the letter with people who care:"),
            ]
        ),
        share_buttons(turn, signature),
    )
    return Step.SIGNED


def receipt_lines(turn: Turn, signature: Signature) -> list[str]:
    """The signer's receipt, what it is for, and why to keep it to themselves (none for a row
    older than receipts).

    The code is the signer's private key to their own record: the delivered PDF carries no
    receipts, but whoever sees a code posted beside a Telegram account could still tie that
    person to the list (through ``/verify``, or a leaked copy of the organisers' files).
    So the wording never invites sharing it, and says plainly why not.
    """
    if not signature.receipt:
        return []
    t = turn.t
    return [
        # Translators: {code} is a receipt code such as K7QF-2M9D; keep “/verify”.
        t.gettext(
            "Your receipt: {code}. With /verify {code} you can check that your signature is on the list "
            "and whether it has been delivered.",
            code=receipt_code(signature.receipt),
        ),
        # Translators: under the receipt code (thank-you, /mysignature): why the code stays private. Plain and kind,
        # not alarming; “link you to this letter” = someone could find out that you signed.
        t.gettext(
            "🔒 Please keep this code to yourself. It is your private key to your own signature: "
            "anyone who saw it together with your Telegram account could link you to this letter. "
            "Do not post it in groups or on social media."
        ),
    ]


def share_link(turn: Turn, signature: Signature) -> str:
    """The signer's own share link: their referral code (and campaign source), ``handlers.referrals``."""
    link = f"https://t.me/{turn.services.bot_username}"
    home = turn.services.campaign.slug
    campaign = None if signature.campaign == home else signature.campaign
    payload = referrals.share_payload(signature.referral_code, signature.source, campaign)
    return f"{link}?start={payload}" if payload else link


def share_buttons(turn: Turn, signature: Signature) -> Keyboard:
    """A Telegram share dialog with the signer's referral link (works without inline mode)."""
    link = share_link(turn, signature)
    text = turn.t.gettext("I signed this letter. Will you sign it too?")
    url = f"https://t.me/share/url?url={quote(link, safe='')}&text={quote(text, safe='')}"
    # Translators: button label, at most 40 characters (longer labels are cut on phones); opens Telegram's share dialog.
    return ((Button(text=turn.t.gettext("📣 Share the letter"), url=url),),)


async def already_signed(turn: Turn, signature: Signature) -> None:
    t = turn.t
    turn.send(
        "\n\n".join(
            [
                # Translators: {date} is a date in this language's long format.
                t.gettext("You signed this letter on {date}. Thank you!", date=signature.signed_at),
                *receipt_lines(turn, signature),
                t.gettext("/mysignature shows what is stored; /withdraw erases your signature."),
                t.gettext("Every name counts. Please share the letter with people who care:"),
            ]
        ),
        share_buttons(turn, signature),
    )
