"""``/start``: where people arrive, often from a shared link carrying its source."""

from __future__ import annotations

from html import escape

from handlers import language, referrals
from handlers.i18n import language_name
from handlers.replies import Keyboard
from handlers.turn import Turn, button
from petition.campaign import Campaign
from storage import signatures

READ = "read"  # callback data of older welcome messages: show the background and the letter
CHOOSE = "camp"  # callback data "camp:<slug>": read that campaign's letter
LABEL_MAX = 40  # characters a phone shows on a full-width button


def campaign_in_link(turn: Turn) -> tuple[str | None, str]:
    """The campaign the /start payload names (``t.me/<bot>?start=<slug>[__<source>]``; the home
    campaign for a payload naming none, None without a payload) and the rest of the payload
    (its source, for ``remember_source``)."""
    payload = turn.event.args.strip()
    others = [c.slug for c in turn.services.all_campaigns() if c.slug != turn.services.campaign.slug]
    slug, rest = referrals.split_campaign(payload, others)
    if slug is None and payload:
        slug = turn.services.campaign.slug  # a link without a campaign: the home one, as always
    return slug, rest


def switch_campaign(turn: Turn, slug: str) -> bool:
    """Make ``slug`` the conversation's campaign; whether it changed. Answers given for another
    campaign are forgotten (nothing was stored), with where they came from; the language
    stays. Where the person goes next is the map's decision (``handlers.conversation``)."""
    state = turn.state
    changed = turn.campaign.slug != slug
    if changed:
        # An organiser's unsent /broadcast draft was written for the other letter's subscribers.
        state.end_draft()
        state.name = state.country = state.name_form = None
        state.opt_in = state.future = False
        state.partners = ()
        state.source = state.referrer = None
        state.source_resolved = False
        state.counted = ()
    state.campaign = slug
    return changed


def needs_choice(turn: Turn) -> bool:
    """A bare /start of someone who has not chosen yet, with several campaigns to choose from
    and none featured: they choose (with one, or a featured one, it simply opens)."""
    if turn.state.campaign is not None or len(turn.services.all_campaigns()) == 1:
        return False
    open_now = turn.services.open_campaigns()
    return not (len(open_now) == 1 or any(c.featured for c in open_now))


def default_campaign(turn: Turn) -> str:
    """What a bare /start opens when there is nothing to choose: the one open (or featured)
    campaign, else the home one."""
    open_now = turn.services.open_campaigns()  # the featured one first
    return open_now[0].slug if open_now else turn.services.campaign.slug


def campaign_choice(turn: Turn) -> tuple[str, Keyboard]:
    """Every live campaign to choose from: the open ones first (the featured one on top), then
    the closed ones, still readable."""
    t, services = turn.t, turn.services
    campaigns = sorted(services.all_campaigns(), key=lambda c: (services.is_closed(c), not c.featured))
    # Translators: above the list of letters (petitions) a person can read and sign here.
    lines = [t.gettext("Which letter would you like to read?")]
    buttons = []
    closed_heading = False
    for number, campaign in enumerate(campaigns, 1):
        title = t.catalog.gettext(campaign.title)
        end = services.end_of(campaign)
        if services.is_closed(campaign) and end is not None:
            if not closed_heading:
                # Translators: heading above petitions that no longer collect signatures but can still be read.
                lines.append(t.gettext("Closed, still readable:"))
                closed_heading = True
            # Translators: after a closed petition's title in the list of letters; {date} in the long format.
            closed_on = t.gettext("closed on {date}", date=end)
            lines.append(f"{number}. <b>{escape(title, quote=False)}</b> ({closed_on})")
        else:
            lines.append(f"{number}. <b>{escape(title, quote=False)}</b>")
        buttons.append((button(label(f"{number}. {title}"), f"{CHOOSE}:{campaign.slug}"),))
    return "\n\n".join(lines), tuple(buttons)


def chosen_campaign(turn: Turn) -> Campaign | None:
    """The live campaign a "camp:<slug>" button names (None: no longer live)."""
    return turn.services.live_campaign(turn.event.argument)


def label(text: str) -> str:
    """``text`` cut to fit a full-width button on a phone."""
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1].rstrip() + "…"


async def remember_source(turn: Turn, payload: str | None = None) -> None:
    """Keep where the first valid deep-link payload says they came from; junk is ignored, never
    an error. A signer's share link leaves ``shared[-<campaign>]`` as the source and the
    sharer's code in the state only (``handlers.referrals``). ``payload``: the /start payload
    without its campaign (``campaign_in_link``)."""
    if turn.state.source is not None:
        return
    arrival = referrals.parse(turn.event.args.strip() if payload is None else payload)
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
    sharer = await signatures.find_by_referral(turn.services.db, turn.campaign.slug, code)
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
            organisation=turn.campaign.organisation,
        ),
        # Translators: {language} is a language's name in itself, e.g. “Deutsch”.
        t.gettext("The letter is shown in {language}.", language=language_name(t.locale)),
    ]
