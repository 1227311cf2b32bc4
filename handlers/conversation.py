"""The whole conversation, top to bottom: which input, at which step, leads where.

    /start ─► WELCOME ─[read]─► READING ─[sign]─► CONSENT ─[agree]─► NAME ─► NAME_FORM ─► COUNTRY ─► REVIEW
                                                                                                  │ [confirm]
    /withdraw ◄──────────── SIGNED ◄──────────────────────────────────────────────────────────────┘
        └─► WITHDRAWING ─[yes]─► (erased) / [no]─► SIGNED

NAME_FORM: [nf:full|first_initial|initials] chooses how the addressees see the name (each
button previews it; none is preselected), [nfname] goes back to NAME. The review's
[chname], [chform], [chcountry] go back to NAME (then NAME_FORM), NAME_FORM, COUNTRY.
After signing, until the signature is delivered: /mysignature's [nfchange] offers
[nfset:FORM] (a narrower form, built from what is stored: changed at once) or [nfwide]
─► RENAMING (the name typed again) ─► RENAME_FORM [nf:FORM] ─► SIGNED; [nfkeep] or
/cancel leaves it. After delivery every one of them is refused with the reason.

Every input at every step has an answer here: commands (any time), buttons (only at
the step that showed them; older ones are answered as stale), typed text (a name, a
country, or a pointer to the buttons), media, edits, forwards and group chats.

Groups (``handlers.groups``): only /verify and commands addressed "/cmd@thisbot" (a pointer
to the private chat) are answered, at most a few times a minute per group; all else is silent.
Organiser commands and buttons work only in an organiser's own private chat
(``organiser.is_admin``).
At any step: /verify CODE (anyone, also in groups) checks a receipt; a signer's /updates
and its buttons [updates:on|off] turn news on or off, and the [stopnews] button under every
update stops it. Organisers: /remove CODE ─► [rm:CODE] removes the signature / [rmno] keeps it.
Organisers: /broadcast ─► their text (the draft, whatever the signing step) ─► preview ─►
[bcsend] sends it / [bcredo] starts over / [bcdrop] or /cancel drops it; /broadcast status|cancel.
After CAMPAIGN_END every signing input ([sign], the consent, a typed name or country, the
review's buttons) is answered by ``closed.explain``: no new signatures; reading and the
signer's commands go on.

The step functions live in one module per concern; this file is the map (which input,
at which step, goes to which function) and holds the few steps that join them (``start``,
``show_letter``, ``start_signing``, ``name_given``, ``form_given``, ``country_given``,
``signed``). Some step modules still set the next step themselves (``name_form``,
``review``, ``consent``, ``fallback``, ``my_signature``, ``ask_name``, ``ask_country``,
``closed``).
"""

from __future__ import annotations

from handlers import (
    ask_country,
    ask_name,
    broadcast,
    closed,
    consent,
    fallback,
    groups,
    language,
    moderation,
    my_signature,
    name_form,
    organiser,
    reading,
    review,
    updates,
    verify,
    welcome,
)
from handlers.events import EventKind
from handlers.names import NameForm
from handlers.state import Step
from handlers.turn import Turn
from storage import signatures
from storage.models import Signature


async def step(turn: Turn) -> None:
    event = turn.event
    if not event.chat.is_private:
        await groups.step(turn)  # only /verify and "/cmd@thisbot", a few times a minute; else silent
        return
    if turn.state.source and not turn.state.source_resolved:
        await welcome.resolve_old_source(turn)  # a state saved by an older version (at most once)
    match event.kind:
        case EventKind.COMMAND | EventKind.TEXT if event.forwarded:
            fallback.forwarded(turn)  # someone else's words, even a command: only what they type counts
        case EventKind.COMMAND:
            await on_command(turn, event.command or "")
        case EventKind.BUTTON:
            await on_button(turn, event.callback_data or "")
        case EventKind.TEXT:
            await on_text(turn)
        case EventKind.EDITED:
            fallback.edited_message(turn)
        case EventKind.OTHER:
            fallback.not_text(turn)


async def on_command(turn: Turn, command: str) -> None:
    match command:
        case "start":
            await start(turn)
        case "language":
            language.show_picker(turn)
        case "help":
            fallback.help_text(turn)
        case "mysignature":
            await my_signature.show(turn)
        case "withdraw":
            await my_signature.ask_withdraw(turn)
        case "privacy":
            await my_signature.privacy(turn)
        case "cancel" if turn.state.composing and organiser.is_admin(turn):
            broadcast.discard(turn)  # stops the organiser's draft only; a signing in progress stays
        case "cancel":
            fallback.cancel(turn)
        case "verify":
            await verify.check(turn)
        case "updates":
            await updates.show(turn)
        # Organiser commands: to anyone but an admin, exactly like an unknown command.
        case "stats":
            await organiser.stats(turn)
        case "export":
            await organiser.export(turn)
        case "broadcast":
            await broadcast.command(turn)
        case "remove":
            await moderation.ask(turn)
        case _:
            fallback.unknown_command(turn)


async def on_button(turn: Turn, data: str) -> None:
    action, _, argument = data.partition(":")
    step = turn.state.step
    match action:
        # Buttons that work from any message: reading, languages, starting to sign.
        case welcome.READ:
            await show_letter(turn)
        case language.OPEN:
            language.show_picker(turn)
        case language.PICK:
            if language.choose(turn, argument):
                await welcome.show(turn)
        case reading.SIGN:
            await start_signing(turn)
        case broadcast.SEND | broadcast.RESTART | broadcast.DISCARD:
            await broadcast.on_button(turn, action, argument)  # an organiser's draft: admins only
        case updates.STOP_UPDATES:
            await updates.stop(turn)
        case updates.TOGGLE:
            await updates.toggle(turn, argument)
        case moderation.REMOVE:
            await moderation.remove(turn, argument)
        case moderation.KEEP:
            await moderation.keep(turn)
        # After signing, from /mysignature: how the name appears, until it is delivered.
        case name_form.CHANGE:
            await name_form.offer_change(turn)
        case name_form.NARROW:
            await name_form.narrow(turn, argument)
        case name_form.WIDEN:
            await name_form.widen(turn)
        case name_form.KEEP:
            name_form.keep(turn)
        case name_form.PICK if step is Step.RENAME_FORM:
            if form := name_form.picked(turn, argument):
                await name_form.save_renamed(turn, form)
        # Buttons that belong to one step.
        case (
            consent.AGREE
            | consent.OPT_IN
            | ask_name.SIGN_AS
            | name_form.OTHER_NAME
            | ask_country.PICK
            | ask_country.OTHER
            | review.CONFIRM
            | review.CHANGE_NAME
            | review.CHANGE_COUNTRY
            | review.CHANGE_FORM
        ) if closed.is_closed(turn.services):
            closed.explain(turn)  # the campaign has ended: nothing more is collected
        case name_form.PICK if step is Step.NAME_FORM and closed.is_closed(turn.services):
            closed.explain(turn)
        case consent.AGREE if step is Step.CONSENT:
            turn.count("consented")
            await ask_name.ask(turn)
        case consent.OPT_IN if step is Step.CONSENT:
            await consent.toggle_opt_in(turn)
        case consent.NOT_NOW if step is Step.CONSENT:
            await consent.not_now(turn)
        case ask_name.SIGN_AS if step is Step.NAME:
            if name := ask_name.from_profile(turn):
                await name_given(turn, name)
        case name_form.PICK if step is Step.NAME_FORM:
            if form := name_form.picked(turn, argument):
                await form_given(turn, form)
        case name_form.OTHER_NAME if step is Step.NAME_FORM:
            await ask_name.ask(turn)
        case ask_country.PICK if step is Step.COUNTRY:
            if code := ask_country.picked(turn, argument):
                await country_given(turn, code)
        case ask_country.OTHER if step is Step.COUNTRY:
            await ask_country.other(turn)
        case review.CONFIRM if step is Step.REVIEW:
            await review.confirm(turn)
        case review.CHANGE_NAME if step is Step.REVIEW:
            await ask_name.ask(turn)
        case review.CHANGE_COUNTRY if step is Step.REVIEW:
            await ask_country.ask(turn)
        case review.CHANGE_FORM if step is Step.REVIEW:
            await name_form.ask(turn)
        case my_signature.WITHDRAW_YES if step is Step.WITHDRAWING:
            await my_signature.withdraw(turn)
        case my_signature.WITHDRAW_NO if step is Step.WITHDRAWING:
            await my_signature.keep(turn)
        case _:
            fallback.stale_button(turn)


async def on_text(turn: Turn) -> None:
    if turn.state.composing and organiser.is_admin(turn):
        await broadcast.draft_text(turn)  # an organiser's /broadcast text, whatever the signing step
        return
    match turn.state.step:
        case Step.NAME | Step.NAME_FORM | Step.COUNTRY if closed.is_closed(turn.services):
            closed.explain(turn)
        case Step.NAME:
            if name := ask_name.typed(turn):
                await name_given(turn, name)
        case Step.NAME_FORM | Step.RENAME_FORM:
            name_form.typed_instead(turn)
        case Step.RENAMING:
            if name := ask_name.typed(turn):
                name_form.renamed(turn, name)
        case Step.COUNTRY:
            if code := ask_country.typed(turn):
                await country_given(turn, code)
        case Step.SIGNED:
            fallback.already_signed_text(turn)
        case _:
            fallback.text_where_button_expected(turn)


async def start(turn: Turn) -> None:
    await welcome.remember_source(turn)
    welcome.detect_language(turn)
    turn.count("started")
    existing = await signed(turn)
    if existing is not None:
        turn.state.referrer = None  # a signer opening a share link (even their own) credits nobody
        if existing.unreachable_at is not None:  # blocked the bot during an update, and is back
            await signatures.mark_reachable(turn.services.db, turn.services.campaign.slug, turn.user_id)
        turn.state.step = Step.SIGNED
        turn.state.name = turn.state.name_form = None  # a name typed again to change its form, unused
        await review.already_signed(turn, existing)
        return
    turn.state.step = Step.WELCOME
    await welcome.show(turn)


async def show_letter(turn: Turn) -> None:
    turn.answer()
    total = await signatures.count_signatures(turn.services.db, turn.services.campaign.slug)
    reading.send_letter(turn, total, can_sign=turn.state.step is not Step.SIGNED)
    if turn.state.step is Step.WELCOME:
        turn.state.step = Step.READING
    turn.count("read")


async def start_signing(turn: Turn) -> None:
    existing = await signed(turn)
    if existing is not None:
        turn.answer()
        turn.state.step = Step.SIGNED
        turn.state.referrer = None
        await review.already_signed(turn, existing)
        return
    if closed.is_closed(turn.services):
        closed.explain(turn)
        return
    await consent.ask(turn)


async def name_given(turn: Turn, name: str) -> None:
    turn.state.name = name
    turn.state.name_form = None  # a new name: its forms look different, so the signer chooses again
    await name_form.ask(turn)


async def form_given(turn: Turn, form: NameForm) -> None:
    turn.state.name_form = form.value
    if turn.state.country:  # changing the name or its form from the review
        await review.ask(turn)
    else:
        await ask_country.ask(turn)


async def country_given(turn: Turn, code: str) -> None:
    turn.state.country = code
    await review.ask(turn)


async def signed(turn: Turn) -> Signature | None:
    return await signatures.get_signature(turn.services.db, turn.services.campaign.slug, turn.user_id)
