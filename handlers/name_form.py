"""How the letter's addressees see a signer's name: chosen before confirming, changeable until delivery.

Signing: the review offers one "Sign as …" button per form of the name (``handlers.review``):
the full name, the first name and initial ("Aynur K.") and the initials ("A. K."), each
shown exactly as the addressees will read it; the button pressed is the choice, and it
signs. Nothing is chosen for the signer.

Decision — store no more of the name than the choice requires: ``signatures.name`` holds
only the form shown to the addressees, ``signatures.name_form`` the choice. The full name
lives only in the expiring conversation state until the signature is confirmed.

Afterwards, while the signature has not been delivered (``list_delivery_id`` is null),
``/mysignature`` offers to change it: a narrower form is built from what is stored (one
tap); a wider one needs the name typed again, since we no longer have it, and the signer
then chooses among the previews of the retyped name. Once delivered, a change is refused
with the reason: the addressees already have the name as it was.
"""

from __future__ import annotations

from handlers.i18n import Translator
from handlers.names import FORMS, NameForm, choices, display, narrower, offered_form, parse_form
from handlers.replies import Button, Keyboard
from handlers.state import Step
from handlers.turn import Turn, button, for_campaign, rows
from storage import signatures
from storage.models import Signature

PICK = "nf"  # "nf:initials": a form from the picker (while signing, or after retyping the name)
OTHER_NAME = "nfname"  # while signing: type a different name
CHANGE = "nfchange"  # under /mysignature: change how my name appears
NARROW = "nfset"  # "nfset:initials": a narrower form, built from what is stored
WIDEN = "nfwide"  # show more of my name: type it again
KEEP = "nfkeep"  # leave it as it is


def form_name(t: Translator, form: NameForm) -> str:
    """What a form is called, in a sentence: "first name and initial"."""
    match form:
        case NameForm.FULL:
            # Translators: how a name appears to the letter's addressees, e.g. in “Shown as: full name”.
            return t.gettext("full name")
        case NameForm.FIRST_INITIAL:
            # Translators: how a name appears to the letter's addressees: “Aynur K.”.
            return t.gettext("first name and initial")
        case NameForm.INITIALS:
            # Translators: how a name appears to the letter's addressees: “A. K.”.
            return t.gettext("initials only")


def option_label(t: Translator, form: NameForm, shown: str) -> str:
    """A picker button: the form and its preview (plain text: shown exactly as the name is)."""
    match form:
        case NameForm.FULL:
            # Translators: button label, at most 40 characters (longer labels are cut on phones) with {name} filled in; {name} is the signer's full name.
            return t.gettext_plain("Full name: {name}", name=shown)
        case NameForm.FIRST_INITIAL:
            # Translators: button label, at most 40 characters (longer labels are cut on phones) with {name} filled in; {name} is e.g. “Aynur K.”.
            return t.gettext_plain("First name and initial: {name}", name=shown)
        case NameForm.INITIALS:
            # Translators: button label, at most 40 characters (longer labels are cut on phones) with {name} filled in; {name} is e.g. “A. K.”.
            return t.gettext_plain("Initials only: {name}", name=shown)


def picker(turn: Turn, name: str, *, signing: bool) -> Keyboard:
    t = turn.t
    options: list[Button] = [button(option_label(t, form, shown), f"{PICK}:{form}") for form, shown in choices(name)]
    if signing:
        # Translators: button label, at most 40 characters (longer labels are cut on phones); goes back to typing the name.
        options.append(button(t.gettext("✏️ Use a different name"), OTHER_NAME))
    else:
        # Translators: button label, at most 40 characters (longer labels are cut on phones); changes nothing.
        options.append(button(t.gettext("Keep it as it is"), _tagged(turn, KEEP)))
    return rows(*options)


def question(turn: Turn) -> str:
    return turn.t.gettext(
        "How should the letter's addressees see your name? They will read it exactly as on the button "
        "you choose, next to your country. We store only the form you choose."
    )


def picked(turn: Turn, argument: str) -> NameForm | None:
    """The chosen form, if it is one of the picker's (else a pop-up and None)."""
    form = offered_form(turn.state.name or "", argument)
    if form is None:
        # Translators: a pop-up, at most 200 characters.
        turn.answer(turn.t.gettext("Please choose one of the buttons under my last message."), alert=True)
        return None
    return form


async def typed_instead(turn: Turn) -> None:
    """Text where a form is expected: say so, and show the choices again under the hint."""
    t = turn.t
    name = turn.state.name
    if not name:
        turn.send(t.gettext("Please use the buttons under my last message, or send /start to begin again."))
        return
    signing = turn.state.step is Step.NAME_FORM
    hint = t.gettext("Please choose with a button how your name should appear.")
    if signing:
        hint += " " + t.gettext("To sign with a different name, press “✏️ Use a different name”.")
    turn.send(hint, picker(turn, name, signing=signing))


# --- after signing: /mysignature ---------------------------------------------------------------


def shown_as(t: Translator, signature: Signature) -> list[str]:
    """The /mysignature lines: the name as delivered and its form."""
    form = parse_form(signature.name_form) or NameForm.FULL
    return [
        # Translators: {name} is the signer's name exactly as the letter's addressees see it.
        t.gettext("Name, as the addressees see it: {name}", name=signature.name),
        shown_line(t, form),
    ]


def shown_line(t: Translator, form: NameForm) -> str:
    # Translators: {form} is “full name”, “first name and initial” or “initials only”.
    return t.gettext("Shown as: {form}", form=form_name(t, form))


def _tagged(turn: Turn, data: str) -> str:
    """A button after signing acts on the letter it was shown for, whatever the conversation is
    about when it is pressed (``handlers.turn.for_campaign``)."""
    return for_campaign(turn.services, turn.campaign, data)


def change_button(turn: Turn, signature: Signature) -> Keyboard:
    """The /mysignature button, while the signature is not yet delivered."""
    if signature.list_delivery_id is not None:
        return ()
    # Translators: button label, at most 40 characters (longer labels are cut on phones).
    return rows(button(turn.t.gettext("✏️ Change how my name appears"), _tagged(turn, CHANGE)))


async def _undelivered(turn: Turn) -> Signature | Step | None:
    """This person's signature if its name may still change; otherwise, after explaining why
    not, where they go next (``Step.SIGNED`` once delivered; ``None``, stay, if not signed)."""
    services = turn.services
    signature = await signatures.get_signature(services.db, turn.campaign.slug, turn.user_id)
    if signature is None:
        # Translators: a pop-up, at most 200 characters.
        turn.answer(turn.t.gettext("You have not signed this letter. Send /start to read it and sign."), alert=True)
        return None
    if signature.list_delivery_id is not None:
        return await refuse_delivered(turn, signature)
    return signature


async def refuse_delivered(turn: Turn, signature: Signature) -> Step:
    turn.answer()
    turn.state.name = None
    t = turn.t
    day = None
    if signature.list_delivery_id is not None:
        day = await signatures.delivered_on(turn.services.db, signature.list_delivery_id)
    if day is None:
        turn.send(
            t.gettext(
                "Your signature has already been delivered with the letter, so how your name appears can no "
                "longer be changed: the addressees have it as “{name}”.",
                name=signature.name,
            )
        )
        return Step.SIGNED
    # Translators: {date} is a date in this language's long format; {name} the name as delivered.
    turn.send(
        t.gettext(
            "Your signature was delivered with the letter on {date}, so how your name appears can no longer be "
            "changed: the addressees have it as “{name}”.",
            date=day,
            name=signature.name,
        )
    )
    return Step.SIGNED


async def offer_change(turn: Turn) -> Step | None:
    """The /mysignature button: narrower forms from what is stored, or type the name again."""
    signature = await _undelivered(turn)
    if not isinstance(signature, Signature):
        return signature
    turn.answer()
    t = turn.t
    stored = parse_form(signature.name_form) or NameForm.FULL
    options = [
        button(option_label(t, form, shown), _tagged(turn, f"{NARROW}:{form}"))
        for form in FORMS
        if narrower(form, stored) and (shown := display(signature.name, form)) != signature.name
    ]
    if stored is not NameForm.FULL:
        # Translators: button label, at most 40 characters (longer labels are cut on phones); asks to type the name again.
        options.append(button(t.gettext("✏️ Show more: type my name again"), _tagged(turn, WIDEN)))
    options.append(button(t.gettext("Keep it as it is"), _tagged(turn, KEEP)))
    turn.send(
        # Translators: {name} is the signer's name as the addressees see it; {form} e.g. “first name and initial”.
        t.gettext(
            "The addressees will see your name as “{name}” ({form}). How should it appear?",
            name=signature.name,
            form=form_name(t, stored),
        ),
        rows(*options),
    )
    return None


async def narrow(turn: Turn) -> Step | None:
    """Show less of the name: built from the stored form alone, in one tap."""
    form = parse_form(turn.event.argument)
    signature = await _undelivered(turn)
    if not isinstance(signature, Signature):
        return signature
    stored = parse_form(signature.name_form) or NameForm.FULL
    if form is None or not narrower(form, stored):
        # Translators: a pop-up, at most 200 characters.
        turn.answer(
            turn.t.gettext("This button is from an older message. Please use the latest one, or send /start."),
            alert=True,
        )
        return None
    new_name = display(signature.name, form)
    result = await signatures.change_name(
        turn.services.db,
        turn.campaign.slug,
        turn.user_id,
        name=new_name,
        name_form=form.value,
        was=(signature.name, signature.name_form),
    )
    return await _changed(turn, result, new_name, form)


async def widen(turn: Turn) -> Step | None:
    """Show more of the name: only the chosen form is stored, so it must be typed again."""
    signature = await _undelivered(turn)
    if not isinstance(signature, Signature):
        return signature
    turn.answer()
    turn.state.name = None
    turn.send(
        # Translators: {name} is the name as stored now, e.g. “A. K.”.
        turn.t.gettext(
            "We keep only “{name}”, not more of your name, so please type your name again. You will then see "
            "how each form of it looks, and nothing changes until you choose one.",
            name=signature.name,
        )
    )
    return Step.RENAMING


def renamed(turn: Turn, name: str) -> Step:
    """The name typed again: show the forms built from it."""
    turn.state.name = name  # in the expiring state only, until a form is chosen
    turn.send(
        turn.t.gettext("How should the addressees see your name? Nothing changes until you choose."),
        picker(turn, name, signing=False),
    )
    return Step.RENAME_FORM


async def save_renamed(turn: Turn, form: NameForm) -> Step | None:
    name = turn.state.name or ""
    new_name = display(name, form)
    result = await signatures.change_name(
        turn.services.db, turn.campaign.slug, turn.user_id, name=new_name, name_form=form.value
    )
    turn.state.name = None  # the full name is forgotten once the form is chosen
    return await _changed(turn, result, new_name, form)


async def _changed(turn: Turn, result: signatures.NameChange, new_name: str, form: NameForm) -> Step | None:
    """Tell the signer what became of the change, and where that leaves them."""
    t = turn.t
    match result:
        case signatures.NameChange.CHANGED:
            turn.answer()
            # Translators: {name} is the signer's name as the addressees will now see it; {form} e.g. “initials only”.
            turn.show(
                t.gettext(
                    "Done: the addressees will see your name as “{name}” ({form}).",
                    name=new_name,
                    form=form_name(t, form),
                )
            )
            return Step.SIGNED
        case signatures.NameChange.DELIVERED:
            signature = await signatures.get_signature(turn.services.db, turn.campaign.slug, turn.user_id)
            if signature is not None:
                return await refuse_delivered(turn, signature)
            # Delivered, then withdrawn meanwhile.
            turn.answer(t.gettext("You have not signed this letter. Send /start to read it and sign."), alert=True)
            return Step.WELCOME
        case signatures.NameChange.NOT_SIGNED:
            turn.answer(t.gettext("You have not signed this letter. Send /start to read it and sign."), alert=True)
            return Step.WELCOME
        case signatures.NameChange.MOVED:
            turn.answer(
                t.gettext("This button is from an older message. Please use the latest one, or send /start."),
                alert=True,
            )
            return None


async def keep(turn: Turn) -> Step | None:
    turn.answer()
    turn.show(turn.t.gettext("Nothing changed: your name appears as before."))
    if turn.state.step in {Step.RENAMING, Step.RENAME_FORM}:  # a retyped name is forgotten
        turn.state.name = None
        return Step.SIGNED
    return None
