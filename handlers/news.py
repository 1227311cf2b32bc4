"""The update an opted-in signer receives: an organiser's message, a milestone, or the news
that their signature has been delivered to the addressees.

Rendered per recipient language by the sender (``bot.broadcasting``) and by the
organiser's preview. The organiser's text is plain text, HTML-escaped here; every
update carries the one-tap "Stop updates" button (``STOP_UPDATES``, handled by
``handlers.updates``).
"""

from __future__ import annotations

import html
from datetime import date
from urllib.parse import quote

from handlers.referrals import start_link
from handlers.replies import Button, Keyboard
from handlers.turn import Services, button, for_campaign
from storage.broadcasts import ORGANISATION_LIST
from storage.models import Broadcast

STOP_UPDATES = "stopnews"  # callback data of the "Stop updates" button
FUTURE_OFF = "futureoff"  # no more news about the organisation's future campaigns (/updates' button)
UNDER_NEWS = "news"  # "futureoff:news": the same, pressed under a message to the organisation's list
SHARE_SOURCE = "news"  # the deep-link source of the share link in milestone messages


def organiser_text(broadcast: Broadcast, language: str) -> str:
    """The organiser's text for ``language``: its own, else the one for everyone ("")."""
    texts = broadcast.texts or {}
    return texts.get(language) or texts.get("", "")


def news_message(services: Services, broadcast: Broadcast, language: str) -> tuple[str, Keyboard]:
    """The HTML text and keyboard a recipient whose signature language is ``language`` gets."""
    if broadcast.campaign == ORGANISATION_LIST:
        return list_message(services, broadcast, language)
    t = services.i18n.get(language)
    campaign = services.campaign_named(broadcast.campaign)
    title = t.catalog.gettext(campaign.title)  # escaped as a value by gettext
    # Translators: shown in italics under every update sent to people who asked for news; keep “/updates”.
    why = t.gettext("You get this because you asked for news when you signed. /updates turns news off.")
    footer = f"<i>{why}</i>"
    stop = button(
        # Translators: button label, at most 40 characters (longer labels are cut on phones); under every update.
        t.gettext("🔕 Stop updates"),
        for_campaign(services, campaign, STOP_UPDATES),
    )
    if broadcast.kind == "milestone":
        count = broadcast.milestone or 0
        if count >= campaign.goal:
            # Translators: {n} is the number of signatures (formatted), {title} the petition's title.
            headline = t.ngettext(
                "🎉 We reached our goal: {n} person has signed the letter “{title}”. Thank you!",
                "🎉 We reached our goal: {n} people have signed the letter “{title}”. Thank you!",
                count,
                title=title,
            )
        else:
            # Translators: {n} is the number of signatures (formatted), {title} the petition's title.
            headline = t.ngettext(
                "🎉 {n} person has now signed the letter “{title}”. Thank you for being one of them!",
                "🎉 {n} people have now signed the letter “{title}”. Thank you for being one of them!",
                count,
                title=title,
            )
        share = t.gettext("Every name counts. Please share the letter with people who care:")
        text = "\n\n".join([f"<b>{headline}</b>", share, footer])
        home = campaign.slug == services.campaign.slug
        link = start_link(services.bot_username, None if home else campaign.slug, SHARE_SOURCE)
        invite = t.gettext("I signed this letter. Will you sign it too?")
        url = f"https://t.me/share/url?url={quote(link, safe='')}&text={quote(invite, safe='')}"
        return text, ((Button(text=t.gettext("📣 Share the letter"), url=url),), (stop,))
    if broadcast.kind == "delivered":
        return delivered_text(services, broadcast, language, footer), ((stop,),)
    # Translators: the first line of an organiser's message to people who asked for news; {title} is the petition's title.
    header = "<b>" + t.gettext("📢 News about the letter “{title}”", title=title) + "</b>"
    body = html.escape(organiser_text(broadcast, language), quote=False)
    return "\n\n".join([header, body, footer]), ((stop,),)


def list_message(services: Services, broadcast: Broadcast, language: str) -> tuple[str, Keyboard]:
    """An organiser's message to the organisation's list: people who asked, when they signed a
    letter, to hear about the organisation's future campaigns. Its "Stop updates" ends that."""
    t = services.i18n.get(language)
    organisation = services.campaign.organisation
    # Translators: the first line of an organiser's message to people who asked for news about the organisation's
    # future campaigns; {organisation} is “Amnesty International”.
    header = "<b>" + t.gettext("📢 News from {organisation}", organisation=organisation) + "</b>"
    body = html.escape(organiser_text(broadcast, language), quote=False)
    # Translators: shown in italics under every message to people who asked for news about future campaigns;
    # {organisation} is “Amnesty International”; keep “/updates”.
    why = t.gettext(
        "You get this because you asked for news about future campaigns of {organisation} when you signed. "
        "/updates turns it off.",
        organisation=organisation,
    )
    stop = button(t.gettext("🔕 Stop updates"), for_campaign(services, services.campaign, f"{FUTURE_OFF}:{UNDER_NEWS}"))
    return "\n\n".join([header, body, f"<i>{why}</i>"]), ((stop,),)


def delivered_on(broadcast: Broadcast) -> date | None:
    """The day of the delivery a ``delivered`` broadcast announces (kept in its ``texts``)."""
    try:
        return date.fromisoformat((broadcast.texts or {}).get("delivered_on", ""))
    except ValueError:
        return None


def delivered_text(services: Services, broadcast: Broadcast, language: str, footer: str) -> str:
    """The news that a signature has been delivered: when and to whom, in the recipient's language.

    The addressee is the organiser's own words (``deliver --to``), shown as written and escaped.
    """
    t = services.i18n.get(language)
    title = t.catalog.gettext(services.campaign_named(broadcast.campaign).title)  # escaped as a value by gettext
    recipient = (broadcast.texts or {}).get("recipient", "")
    day = delivered_on(broadcast)
    # Translators: the heading of the news that the signed letter has been handed over.
    headline = "<b>" + t.gettext("📬 Your signature has been delivered") + "</b>"
    if day is None:  # pragma: no cover - every delivered broadcast records its day
        # Translators: {title} is the petition's title; {recipient} to whom it was handed, as the organisers wrote it.
        body = t.gettext(
            "The letter “{title}”, with your name on it, has been handed to: {recipient}.",
            title=title,
            recipient=recipient,
        )
    else:
        # Translators: {date} is a date in this language's long format; {title} the petition's title; {recipient}
        # to whom it was handed, as the organisers wrote it (often in English).
        body = t.gettext(
            "On {date}, the letter “{title}”, with your name on it, was handed to: {recipient}.",
            date=day,
            title=title,
            recipient=recipient,
        )
    thanks = t.gettext("Thank you for adding your voice. /mysignature shows when your signature was delivered.")
    return "\n\n".join([headline, body, thanks, footer])
