"""``/start``: where people arrive, often from a shared link carrying its source."""

from __future__ import annotations

from handlers import language, referrals
from handlers.i18n import language_name
from handlers.turn import Turn
from storage import signatures

READ = "read"  # callback data of older welcome messages: show the background and the letter


async def remember_source(turn: Turn) -> None:
    """Keep where the first valid deep-link payload says they came from; junk is ignored, never
    an error. A signer's share link leaves ``shared[-<campaign>]`` as the source and the
    sharer's code in the state only (``handlers.referrals``)."""
    if turn.state.source is not None:
        return
    arrival = referrals.parse(turn.event.args.strip())
    if arrival is None:
        return
    if arrival.referrer is None and referrals.is_code(arrival.source):
        arrival = await _old_share_link(turn, arrival.source) or arrival
    turn.state.source, turn.state.referrer = arrival.source, arrival.referrer
    turn.state.source_resolved = True


async def resolve_old_source(turn: Turn) -> None:
    """A state saved before share links were told apart may hold a sharer's bare code as its
    source: turn it into ``shared`` once, so neither the funnel counts nor the signature
    ever see the code."""
    state = turn.state
    if state.source and state.referrer is None and referrals.is_code(state.source):
        arrival = await _old_share_link(turn, state.source)
        if arrival is not None:
            state.source, state.referrer = arrival.source, arrival.referrer
    state.source_resolved = True


async def _old_share_link(turn: Turn, code: str) -> referrals.Arrival | None:
    """A link from before ``r-<code>`` links carried the bare code: if it is a signer's code in
    this campaign, it was a share link (with the sharer's campaign source, as a new link has)."""
    sharer = await signatures.find_by_referral(turn.services.db, turn.services.campaign.slug, code)
    if sharer is None:
        return None
    return referrals.Arrival(referrals.shared_source(referrals.campaign_of(sharer.source)), code)


def detect_language(turn: Turn) -> None:
    if not turn.state.locale_chosen:
        turn.state.locale = language.detected_locale(turn)


def opening(turn: Turn) -> list[str]:
    """The lines above the case and the letter on /start: what this is, and in which language."""
    t = turn.t
    return [
        # Translators: {organisation} is the organisation's name, “Amnesty International”.
        t.gettext(
            "Welcome! Here you can read {organisation}'s letter in your language and add your name to it.",
            organisation=turn.services.campaign.organisation,
        ),
        # Translators: {language} is a language's name in itself, e.g. “Deutsch”.
        t.gettext("The letter is shown in {language}.", language=language_name(t.locale)),
    ]
