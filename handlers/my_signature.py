"""After signing: see exactly what is stored, withdraw it, read the privacy notice."""

from __future__ import annotations

from datetime import timedelta
from html import escape

from babel import Locale, UnknownLocaleError

from handlers import name_form, referrals, review, updates, welcome
from handlers.i18n import Translator, language_name
from handlers.replies import Keyboard
from handlers.state import ConversationState, Step
from handlers.turn import Turn, button, rows
from petition import countries
from storage import consents, deliveries, signatures
from storage.models import Signature

WITHDRAW_YES = "wdyes"
WITHDRAW_NO = "wdno"
VERSION_SHOWN = 6  # hex characters of a letter or consent version shown to the signer


SHOW = "mysig"  # callback data "mysig:<slug>": /mysignature for that campaign


async def show(turn: Turn) -> None:
    """Everything stored about the signature under the conversation's campaign; then, in a
    message of its own, the other letters this person signed, each a button away (its own
    receipt, consent and withdrawal). Apart, so that a screenshot of one letter's record, shown
    to prove signing, never tells which other letters its signer signed."""
    t = turn.t
    services = turn.services
    signature = await signatures.get_signature(services.db, turn.campaign.slug, turn.user_id)
    other_lines, other_buttons = await _other_signatures(turn)
    if signature is None:
        end = services.end_of(turn.campaign)
        if end is not None and services.is_closed(turn.campaign):
            # Translators: /mysignature of someone with no signature on a petition that has ended (they may have
            # signed it and seen their name erased after the retention period); {date} in the long format.
            turn.send(
                t.gettext(
                    "You have no signature on this letter. It closed on {date}; its signers' names are erased some "
                    "time after the end, and only their number is kept.",
                    date=end,
                )
            )
        else:
            turn.send(t.gettext("You have not signed this letter. Send /start to read it and sign."))
        if other_lines:
            turn.send("\n".join(other_lines), other_buttons)
        return
    lines = [
        "<b>" + t.gettext("This is everything we store about your signature:") + "</b>",
        *name_form.shown_as(t, signature),
        # Translators: {country} is a country's name in this language.
        t.gettext("Country: {country}", country=countries.country_name(signature.country, t.locale)),
        # Translators: {language} is a language's name in itself, e.g. “Deutsch”.
        t.gettext("Language: {language}", language=language_name(signature.language)),
        # Translators: {date} is a date in this language's long format.
        t.gettext("Signed on: {date}", date=signature.signed_at),
        # The number itself is not shown: a screenshot shared to prove signing would carry it.
        t.gettext("Your Telegram user id (a number, not shown here), so that only you can see or withdraw this."),
        t.gettext("News about this campaign: yes") if signature.opt_in else t.gettext("News about this campaign: no"),
    ]
    held = await consents.of_person(services.db, turn.user_id)
    mine = updates.of_this_letter(turn, held)
    lines += updates.contact_lines(turn, mine, revocable=False)[0]  # /updates withdraws them
    if signature.source:
        lines.append(source_line(t, signature.source))
    lines += [
        "",
        # Translators: {language} is a language's name in this language, e.g. “Uyghur”; {version} a short code
        # such as “3f9a2b…”; {date} a date in this language's long format.
        t.gettext(
            "You signed the letter in {language}, version {version}, on {date}.",
            language=language_in(t, signature.language),
            version=short_version(signature.letter_version),
            date=signature.signed_at,
        ),
        # Translators: {version} is a short code such as “3f9a2b…” identifying the exact consent text.
        t.gettext(
            "Consent text you agreed to: version {version}",
            version=short_version(signature.consent_version),
        ),
    ]
    lines.append(await delivery_line(turn, signature))
    lines += review.receipt_lines(turn, signature)
    lines += ["", referrals_line(t, signature.referrals)]
    lines.append("")
    if signature.list_delivery_id is not None:
        lines.append(
            t.gettext(
                "Your signature has been delivered with the letter: how your name appears can no longer be changed."
            )
        )
    lines.append(t.gettext("/withdraw erases your signature."))
    # Translators: keep “/updates”.
    lines.append(t.gettext("/updates turns news about this campaign on or off."))
    if heading := turn.which_letter():  # several letters are live: which one this is
        lines.insert(0, heading + "\n")
    turn.send("\n".join(lines), name_form.change_button(turn, signature) + review.share_buttons(turn, signature))
    if other_lines:
        turn.send("\n".join(other_lines), other_buttons)


async def _other_signatures(turn: Turn) -> tuple[list[str], Keyboard]:
    """The other live campaigns this person signed: a line and a button ("mysig:<slug>") each."""
    services, t = turn.services, turn.t
    if len(services.all_campaigns()) == 1:
        return [], ()
    slugs = await signatures.campaigns_signed(services.db, turn.user_id)
    others = [c for c in services.all_campaigns() if c.slug in slugs and c.slug != turn.campaign.slug]
    if not others:
        return [], ()
    # Translators: in /mysignature, above the titles of the other letters (petitions) this person signed.
    lines = [t.gettext("You have also signed:")]
    buttons = []
    for campaign in others:
        title = t.catalog.gettext(campaign.title)
        lines.append(f"• {escape(title, quote=False)}")
        buttons.append((button(welcome.label(title), f"{SHOW}:{campaign.slug}"),))
    return lines, tuple(buttons)


def source_line(t: Translator, source: str) -> str:
    """Where the signer came from, as stored: a campaign link, or "a signer's link" (never whose)."""
    if source == referrals.SHARED or source.startswith(referrals.SHARED_PREFIX):
        campaign = referrals.campaign_of(source)
        if campaign:
            # Translators: {source} is the code of the campaign link the sharer came from, e.g. “poster_berlin”.
            return t.gettext(
                "Link you came from: shared by another signer (first from {source}); we do not store who.",
                source=campaign,
            )
        return t.gettext("Link you came from: shared by another signer; we do not store who.")
    # Translators: {source} is the code of the shared link the person opened, e.g. “campaign_x”.
    return t.gettext("Link you came from: {source}", source=source)


def referrals_line(t: Translator, count: int) -> str:
    """How many signed through this signer's share link: only a number is kept, never who."""
    if count <= 0:
        return t.gettext(
            "Share the letter with the button below: here you will see how many people signed through "
            "your link (only the number, never who)."
        )
    # Translators: {n} is a number of people; only the number is stored, never who they are.
    return t.ngettext(
        "{n} person signed the letter through your link. Thank you for sharing!",
        "{n} people signed the letter through your link. Thank you for sharing!",
        count,
    )


async def delivery_line(turn: Turn, signature: Signature) -> str:
    """Whether (and when, to whom) the signature has gone to the letter's addressees."""
    t = turn.t
    delivery = None
    if signature.list_delivery_id is not None:
        delivery = await deliveries.get_delivery(turn.services.db, signature.list_delivery_id)
    if delivery is None:
        return t.gettext("Delivered to the addressees: not yet.")
    # Translators: {date} is a date in this language's long format; {recipient} to whom the letter was handed,
    # as the organisers wrote it (often in English).
    return t.gettext(
        "Delivered to the addressees: on {date}, to {recipient}.",
        date=delivery.delivered_on,
        recipient=delivery.recipient,
    )


def short_version(version: str) -> str:
    """The first characters of a version hash, enough to tell versions apart: “3f9a2b…”."""
    return version if len(version) <= VERSION_SHOWN else version[:VERSION_SHOWN] + "…"


def language_in(t: Translator, locale: str) -> str:
    """A language's name in the reader's language (“Uyghur”, “Uigurisch”)."""
    try:
        name = Locale.parse(locale).get_display_name(t.babel_locale)
    except (ValueError, UnknownLocaleError):
        return locale
    return name or locale


async def ask_withdraw(turn: Turn) -> Step | None:
    t = turn.t
    services = turn.services
    signature = await signatures.get_signature(services.db, turn.campaign.slug, turn.user_id)
    if signature is None:
        turn.send(t.gettext("There is no signature to withdraw: you have not signed this letter."))
        return None
    question = t.gettext(
        "Do you want to withdraw your signature? Your name will be erased and will not be delivered with the letter."
    )
    turn.send(
        turn.headed(question),  # several letters are live: which one this erases
        rows(
            # Translators: button label, at most 40 characters (longer labels are cut on phones); confirms the withdrawal.
            button(t.gettext("Yes, erase my signature"), WITHDRAW_YES),
            # Translators: button label, at most 40 characters (longer labels are cut on phones); cancels the withdrawal.
            button(t.gettext("No, keep it"), WITHDRAW_NO),
        ),
    )
    return Step.WITHDRAWING


async def withdraw(turn: Turn) -> Step:
    services = turn.services
    erased = await signatures.withdraw_signature(services.db, turn.campaign.slug, turn.user_id)
    state = turn.state
    # Forget everything else too; the language and the letter this is about stay.
    turn.state = ConversationState(locale=state.locale, locale_chosen=state.locale_chosen, campaign=state.campaign)
    turn.answer()
    if erased:
        turn.funnel.append("withdrew")
        text = turn.t.gettext(
            "Your signature has been erased. Thank you for having supported the letter. "
            "You can sign again at any time with /start."
        )
        held = await consents.of_person(services.db, turn.user_id)
        if any(consent.scope == consents.ORGANISATION for consent in held):
            # News about future campaigns lasts while the person has a signature on any letter.
            if await signatures.campaigns_signed(services.db, turn.user_id):
                # Translators: after a withdrawal, for someone who also asked for news about future campaigns.
                text += "\n\n" + turn.t.gettext("You still get news about future campaigns: /updates turns it off.")
            else:
                await consents.revoke(services.db, turn.user_id, consents.ORGANISATION, "")
                # Translators: after withdrawing one's last signature, for someone who had asked for news about
                # future campaigns.
                text += "\n\n" + turn.t.gettext("News about future campaigns has ended with it.")
        turn.show(text)
    else:
        turn.show(turn.t.gettext("There is no signature to withdraw: you have not signed this letter."))
    return Step.WELCOME


async def keep(turn: Turn) -> Step:
    turn.answer()
    turn.show(turn.t.gettext("Good: your signature stays on the letter."))
    return Step.SIGNED


async def privacy(turn: Turn) -> None:
    t = turn.t
    campaign = turn.campaign
    paragraphs = [
        "<b>" + t.gettext("Privacy notice") + "</b>",
        # Translators: {organisation} is “Amnesty International”.
        t.gettext(
            "Who: {organisation} runs this petition and is responsible for your data.",
            organisation=campaign.organisation,
        ),
        t.gettext(
            "What we store when you sign: your name in the form you choose, your country, your Telegram user id, "
            "the date, the language you read the letter in, the link you came from if any, and "
            "whether you want news about this campaign."
        ),
        t.gettext(
            "With your signature we also keep its receipt code, the versions of the letter and of the "
            "consent text you were shown, and whether our last update could reach you."
        ),
        t.gettext(
            "If you share the letter, we count on your signature how many people signed through your link, "
            "never who they are; for them we note only that they came through a link shared by a signer."
        ),
        t.gettext(
            "Why: to deliver the letter with the names and countries of its signers, and to make sure "
            "each person signs once. Your Telegram id is never delivered or published."
        ),
        t.gettext(
            "Who sees what: the addressees receive only your name in the form you chose and your country, "
            "never your receipt code, your Telegram id or the link you came from. The organisers see the full "
            "list. Other users see nothing about you."
        ),
        t.gettext(
            "If you do not sign, we store nothing about you except anonymous daily counts; your "
            "answers in this chat are forgotten after 7 days."
        ),
        retention(turn),
        t.gettext(
            "Your rights: /mysignature shows everything stored about your signature, and /withdraw erases it: "
            "at once from the list, within a day from the database files, and from backups when they expire."
        ),
    ]
    turn.send("\n\n".join(paragraphs))


def retention(turn: Turn) -> str:
    """When the personal data is erased: a date once the campaign's end is known."""
    t = turn.t
    services = turn.services
    days = services.retention_of(turn.campaign)
    end = services.end_of(turn.campaign)
    if end is None:
        # Translators: {n} is a number of days.
        return t.ngettext(
            "Your signature and name are kept until {n} day after the campaign ends, then erased; "
            "only anonymous counts remain.",
            "Your signature and name are kept until {n} days after the campaign ends, then erased; "
            "only anonymous counts remain.",
            days,
        )
    # Translators: {date} and {end} are dates in this language's long format; {n} a number of days.
    return t.ngettext(
        "Your signature and name are kept until {date}, {n} day after the campaign ends on {end}, then erased; "
        "only anonymous counts remain.",
        "Your signature and name are kept until {date}, {n} days after the campaign ends on {end}, then erased; "
        "only anonymous counts remain.",
        days,
        date=end + timedelta(days=days),
        end=end,
    )
