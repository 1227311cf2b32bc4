"""The whole conversation, top to bottom: which input, at which step, leads where.

    /start ─► READING ─[sign]─► CONSENT ─[agree]─► NAME ─► COUNTRY ─► REVIEW ─[confirm:FORM]─► SIGNED
                                                                                                │
    /withdraw ◄─────────────────────────────────────────────────────────────────────────────────┘
        └─► WITHDRAWING ─[yes]─► (erased) / [no]─► SIGNED

Few messages, for a crowd's sake: /start shows the letter itself (the language can be
changed under it); the consent is a new message below it, and the name question takes
its place; the country question follows a typed name, and the review and the thank-you
take its place. The review's [confirm:full|first_initial|initials] buttons ("Sign as Aynur
Kadir", "Sign as Aynur K.", "Sign as A. K.") choose how the addressees see the name and
sign in the same tap (nothing is preselected); [chname], [chcountry] go back to NAME or
COUNTRY, and from there straight back to the review. (WELCOME and NAME_FORM remain for
conversations begun before this flow: [read], [nf:FORM] and [nfname] still answer them.)
After signing, until the signature is delivered: /mysignature's [nfchange] offers
[nfset:FORM] (a narrower form, built from what is stored: changed at once) or [nfwide]
─► RENAMING (the name typed again) ─► RENAME_FORM [nf:FORM] ─► SIGNED; [nfkeep] or
/cancel leaves it. After delivery every one of them is refused with the reason.

This module is the state machine. Its three tables (``COMMANDS``, ``BUTTONS``, ``TEXT``)
say, for each input, which ``Route``s may take it; the first route that admits the person
at their step runs, and returns the step they are at next (``None``: where they were).
Step functions never set the step themselves. Every guard is declared here, on the route:

* ``at``: the steps an input belongs to; a button pressed at another step is stale;
* ``organiser``: only an organiser, in their own private chat (``organiser.is_admin``);
  to anyone else the input is exactly like an unknown command or a stale button;
* ``drafting``: only while that organiser is writing a /broadcast (kept apart from the
  step, so an organiser who is also signing loses nothing);
* ``signing``: the input collects the signature. After CAMPAIGN_END it is answered by
  ``closed.explain`` (reading and the signer's commands go on), and flood control lets it
  through (``SIGNING_BUTTONS``, ``SIGNING_TEXT``: a signer may tap quickly).

Every input at every step has an answer: no route means an unknown command, a stale
button, or a pointer to the buttons; media, edits and forwards are answered in ``step``.
Groups (``handlers.groups``): only /verify and commands addressed "/cmd@thisbot" (a
pointer to the private chat) are answered, at most a few times a minute per group.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

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
from handlers.state import Step
from handlers.turn import Turn
from storage import signatures
from storage.models import Signature

Go = Callable[[Turn], Awaitable[Step | None]]  # runs one step; returns the next (None: stay)


@dataclass(frozen=True, slots=True)
class Route:
    go: Go
    at: frozenset[Step] | None = None  # the steps this input belongs to (None: any step)
    signing: bool = False  # collects the signature: closed campaigns refuse it, flood control lets it through
    organiser: bool = False  # an organiser in their own private chat only
    drafting: bool = False  # only while an organiser writes a /broadcast

    def admits(self, turn: Turn) -> bool:
        return (
            (self.at is None or turn.state.step in self.at)
            and (not self.drafting or turn.state.composing)
            and (not self.organiser or organiser.is_admin(turn))
        )


def at(*steps: Step) -> frozenset[Step]:
    return frozenset(steps)


# --- the steps that join the step modules -------------------------------------------------------


async def start(turn: Turn) -> Step | None:
    slug, payload = welcome.campaign_in_link(turn)  # a link opens its campaign
    if slug is None and turn.state.campaign is None and welcome.needs_choice(turn):
        welcome.detect_language(turn)
        turn.send(*welcome.campaign_choice(turn))  # several open campaigns: the person chooses
        return Step.WELCOME
    if slug is not None or turn.state.campaign is None:
        enter(turn, slug or welcome.default_campaign(turn))
    await welcome.remember_source(turn, payload)
    return await open_letter(turn)


def enter(turn: Turn, slug: str) -> None:
    """The conversation is about campaign ``slug`` from now on; another campaign's steps end."""
    if welcome.switch_campaign(turn, slug):
        turn.state.step = Step.WELCOME


async def pick_campaign(turn: Turn) -> Step | None:
    """A campaign chosen from the list (``welcome.campaign_choice``)."""
    campaign = welcome.chosen_campaign(turn)
    if campaign is None:
        return stale_button(turn)  # a campaign no longer live
    turn.answer()
    enter(turn, campaign.slug)
    return await open_letter(turn)


async def other_signature(turn: Turn) -> Step | None:
    """/mysignature's button for another letter this person signed: that letter's record."""
    campaign = welcome.chosen_campaign(turn)
    turn.answer()
    if campaign is None:
        return None  # no longer live
    enter(turn, campaign.slug)
    await my_signature.show(turn)
    return Step.SIGNED if await signed(turn) is not None else Step.WELCOME


async def open_letter(turn: Turn) -> Step | None:
    """The conversation's campaign opened: the letter, or for a signer their signature."""
    welcome.detect_language(turn)
    turn.count("started")
    existing = await signed(turn)
    if existing is not None:
        turn.state.referrer = None  # a signer opening a share link (even their own) credits nobody
        if existing.unreachable_at is not None:  # blocked the bot during an update, and is back
            await signatures.mark_reachable(turn.services.db, turn.user_id)
        turn.state.name = turn.state.name_form = None  # a name typed again to change its form, unused
        await review.already_signed(turn, existing)
        return Step.SIGNED
    return await show_letter(turn, opening=welcome.opening(turn))


async def show_letter(turn: Turn, opening: list[str] | None = None) -> Step | None:
    turn.answer()
    total = await signatures.count_signatures(turn.services.db, turn.campaign.slug)
    reading.send_letter(turn, total, can_sign=turn.state.step is not Step.SIGNED, opening=opening)
    turn.count("read")
    return Step.READING if turn.state.step is not Step.SIGNED else None


async def pick_language(turn: Turn) -> Step | None:
    if await language.choose(turn, turn.event.argument):
        return await show_letter(turn)  # the letter again, in its place, in the language chosen
    return None


async def start_signing(turn: Turn) -> Step:
    existing = await signed(turn)
    if existing is not None:
        turn.answer()
        turn.state.referrer = None
        await review.already_signed(turn, existing)
        return Step.SIGNED
    return await consent.ask(turn)


async def agreed(turn: Turn) -> Step:
    turn.count("consented")
    return await ask_name.ask(turn)


async def sign_as_profile_name(turn: Turn) -> Step | None:
    name = ask_name.from_profile(turn)
    return await name_given(turn, name) if name else None


async def name_typed(turn: Turn) -> Step | None:
    name = ask_name.typed(turn)
    return await name_given(turn, name) if name else None


async def name_given(turn: Turn, name: str) -> Step:
    turn.state.name = name
    turn.state.name_form = None  # a new name: its forms look different, so the signer chooses again
    if turn.state.country:  # the name changed from the review
        return await review.ask(turn)
    return await ask_country.ask(turn)


async def form_picked(turn: Turn) -> Step | None:
    """The form picker of a conversation begun before the review offered the forms."""
    form = name_form.picked(turn, turn.event.argument)
    if form is None:
        return None
    turn.state.name_form = form.value
    return await (review.ask(turn) if turn.state.country else ask_country.ask(turn))


async def country_picked(turn: Turn) -> Step | None:
    code = ask_country.picked(turn, turn.event.argument)
    return await country_given(turn, code) if code else None


async def country_typed(turn: Turn) -> Step | None:
    code = ask_country.typed(turn)
    return await country_given(turn, code) if code else None


async def country_given(turn: Turn, code: str) -> Step:
    turn.state.country = code
    return await review.ask(turn)


async def renamed_form_picked(turn: Turn) -> Step | None:
    form = name_form.picked(turn, turn.event.argument)
    return await name_form.save_renamed(turn, form) if form else None


async def name_retyped(turn: Turn) -> Step | None:
    name = ask_name.typed(turn)
    return name_form.renamed(turn, name) if name else None


async def signed(turn: Turn) -> Signature | None:
    return await signatures.get_signature(turn.services.db, turn.campaign.slug, turn.user_id)


# --- the map --------------------------------------------------------------------------------------

COMMANDS: dict[str, tuple[Route, ...]] = {
    "start": (Route(start),),
    "language": (Route(language.show_picker),),
    "help": (Route(organiser.help_text, organiser=True), Route(fallback.help_text)),
    "mysignature": (Route(my_signature.show),),
    "withdraw": (Route(my_signature.ask_withdraw),),
    "privacy": (Route(my_signature.privacy),),
    "verify": (Route(verify.check),),
    "updates": (Route(updates.show),),
    "cancel": (
        Route(broadcast.discard, organiser=True, drafting=True),  # the organiser's draft only; a signing stays
        Route(fallback.cancel),
    ),
    "stats": (Route(organiser.stats, organiser=True),),
    "export": (Route(organiser.export, organiser=True),),
    "broadcast": (Route(broadcast.command, organiser=True),),
    "remove": (Route(moderation.ask, organiser=True),),
}

BUTTONS: dict[str, tuple[Route, ...]] = {
    # From any message: reading, languages, starting to sign, news, an organiser's buttons.
    welcome.READ: (Route(show_letter),),
    welcome.CHOOSE: (Route(pick_campaign),),
    language.OPEN: (Route(language.show_picker),),
    language.PICK: (Route(pick_language),),
    reading.SIGN: (Route(start_signing, signing=True),),
    updates.STOP_UPDATES: (Route(updates.stop),),
    updates.TOGGLE: (Route(updates.toggle),),
    updates.FUTURE_OFF: (Route(updates.stop_future),),
    updates.PARTNER_OFF: (Route(updates.stop_partner),),
    broadcast.TO: (Route(broadcast.on_audience, organiser=True),),
    broadcast.SEND: (Route(broadcast.on_button, organiser=True),),
    broadcast.RESTART: (Route(broadcast.on_button, organiser=True),),
    broadcast.DISCARD: (Route(broadcast.on_button, organiser=True),),
    broadcast.STOP: (Route(broadcast.on_stop, organiser=True),),
    organiser.STATS_OF: (Route(organiser.stats_of, organiser=True),),
    organiser.EXPORT_OF: (Route(organiser.export_of, organiser=True),),
    moderation.REMOVE: (Route(moderation.remove, organiser=True),),
    moderation.KEEP: (Route(moderation.keep, organiser=True),),
    # Signing, one step each.
    consent.AGREE: (Route(agreed, at(Step.CONSENT), signing=True),),
    consent.OPT_IN: (Route(consent.toggle_opt_in, at(Step.CONSENT), signing=True),),
    consent.FUTURE: (Route(consent.toggle_future, at(Step.CONSENT), signing=True),),
    consent.PARTNER: (Route(consent.toggle_partner, at(Step.CONSENT), signing=True),),
    consent.NOT_NOW: (Route(consent.not_now, at(Step.CONSENT)),),
    ask_name.SIGN_AS: (Route(sign_as_profile_name, at(Step.NAME), signing=True),),
    name_form.PICK: (
        Route(form_picked, at(Step.NAME_FORM), signing=True),
        Route(renamed_form_picked, at(Step.RENAME_FORM)),  # after signing, the name typed again
    ),
    name_form.OTHER_NAME: (Route(ask_name.ask, at(Step.NAME_FORM), signing=True),),
    ask_country.PICK: (Route(country_picked, at(Step.COUNTRY), signing=True),),
    ask_country.OTHER: (Route(ask_country.other, at(Step.COUNTRY), signing=True),),
    review.CONFIRM: (Route(review.confirm, at(Step.REVIEW), signing=True),),
    review.CHANGE_NAME: (Route(ask_name.ask, at(Step.REVIEW), signing=True),),
    review.CHANGE_COUNTRY: (Route(ask_country.ask, at(Step.REVIEW), signing=True),),
    review.CHANGE_FORM: (Route(review.ask, at(Step.REVIEW), signing=True),),  # an older review's button
    # After signing: withdrawing, and how the name appears (until it is delivered).
    my_signature.SHOW: (Route(other_signature),),  # another letter this person signed
    my_signature.WITHDRAW_YES: (Route(my_signature.withdraw, at(Step.WITHDRAWING)),),
    my_signature.WITHDRAW_NO: (Route(my_signature.keep, at(Step.WITHDRAWING)),),
    name_form.CHANGE: (Route(name_form.offer_change),),
    name_form.NARROW: (Route(name_form.narrow),),
    name_form.WIDEN: (Route(name_form.widen),),
    name_form.KEEP: (Route(name_form.keep),),
}

TEXT: tuple[Route, ...] = (
    Route(broadcast.draft_text, organiser=True, drafting=True),  # an organiser's /broadcast text, at any step
    # Words typed before /start (the very first message, or after "not now"): no message of
    # the bot has buttons to point to, so they get the letter, as /start shows it.
    Route(start, at(Step.WELCOME)),
    Route(name_typed, at(Step.NAME), signing=True),
    Route(name_form.typed_instead, at(Step.NAME_FORM), signing=True),
    Route(country_typed, at(Step.COUNTRY), signing=True),
    Route(name_form.typed_instead, at(Step.RENAME_FORM)),
    Route(name_retyped, at(Step.RENAMING)),
    Route(fallback.already_signed_text, at(Step.SIGNED)),
)

# Buttons shown for one letter, which act on it whatever the conversation is about when pressed
# (``handlers.turn.for_campaign`` tags them while several campaigns are live); the detached ones
# do so without moving the conversation to that letter.
DETACHED = frozenset({updates.STOP_UPDATES, updates.TOGGLE, updates.FUTURE_OFF, updates.PARTNER_OFF})
BOUND_TO_A_LETTER = DETACHED | {name_form.CHANGE, name_form.NARROW, name_form.WIDEN, name_form.KEEP}

# Derived from the map, for flood control (``handlers.core``) and the closed campaign.
SIGNING_BUTTONS = frozenset(action for action, routes in BUTTONS.items() if any(r.signing for r in routes))
SIGNING_TEXT = frozenset(step for route in TEXT if route.signing and route.at for step in route.at)
SIGNING_STEPS = frozenset(
    step for routes in (*BUTTONS.values(), TEXT) for route in routes if route.signing and route.at for step in route.at
)


# --- following the map ------------------------------------------------------------------------------


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
            await follow(turn, COMMANDS.get(event.command or "", ()), otherwise=fallback.unknown_command)
        case EventKind.BUTTON if event.action in BOUND_TO_A_LETTER and (
            event.campaign is not None or len(turn.services.all_campaigns()) > 1
        ):
            # Shown for one letter (untagged: from before a second campaign went live, the home one's).
            slug = event.campaign or turn.services.campaign.slug
            if turn.services.live_campaign(slug) is None:
                stale_button(turn)  # a button of a campaign no longer live
                return
            if event.action in DETACHED:
                turn.acting_on = slug  # acts on that letter, the conversation stays where it is
            else:
                enter(turn, slug)  # the steps that follow (the name typed again) are about that letter
            await follow(turn, BUTTONS.get(event.action, ()), otherwise=stale_button)
        case EventKind.BUTTON:
            await follow(turn, BUTTONS.get(turn.event.action, ()), otherwise=stale_button)
        case EventKind.TEXT:
            await follow(turn, TEXT, otherwise=fallback.text_where_button_expected)
        case EventKind.EDITED:
            fallback.edited_message(turn)
        case EventKind.OTHER:
            fallback.not_text(turn)


async def follow(turn: Turn, routes: Iterable[Route], *, otherwise: Callable[[Turn], Step | None]) -> None:
    """Run the first route that admits this person at their step, and move them on."""
    route = next((r for r in routes if r.admits(turn)), None)
    if route is None:
        next_step = otherwise(turn)
    elif route.signing and closed.is_closed(turn):
        next_step = refuse_closed(turn)
    else:
        next_step = await route.go(turn)
    if next_step is not None:
        turn.state.step = next_step


def refuse_closed(turn: Turn) -> Step | None:
    """The campaign has ended: nothing more is collected, and a signing in progress ends."""
    closed.explain(turn)
    return Step.READING if turn.state.step in SIGNING_STEPS else None


def stale_button(turn: Turn) -> Step | None:
    """A button from an older message; after the end, a signing one says why nothing happens."""
    if turn.event.action in SIGNING_BUTTONS and closed.is_closed(turn):
        return refuse_closed(turn)
    fallback.stale_button(turn)
    return None
