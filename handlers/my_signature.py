"""After signing: see exactly what is stored, withdraw it, read the privacy notice."""

from __future__ import annotations

from handlers import countries
from handlers.i18n import language_name
from handlers.state import ConversationState, Step
from handlers.turn import Turn, button, rows
from storage import signatures

WITHDRAW_YES = "wdyes"
WITHDRAW_NO = "wdno"


async def show(turn: Turn) -> None:
    t = turn.t
    services = turn.services
    signature = await signatures.get_signature(services.db, services.campaign.slug, turn.user_id)
    if signature is None:
        turn.send(t.gettext("You have not signed this letter. Send /start to read it and sign."))
        return
    lines = [
        "<b>" + t.gettext("This is everything we store about your signature:") + "</b>",
        # Translators: {name} is the signer's name as stored.
        t.gettext("Name: {name}", name=signature.name),
        # Translators: {country} is a country's name in this language.
        t.gettext("Country: {country}", country=countries.country_name(signature.country, t.locale)),
        # Translators: {language} is a language's name in itself, e.g. “Deutsch”.
        t.gettext("Language: {language}", language=language_name(signature.language)),
        # Translators: {date} is a date in this language's long format.
        t.gettext("Signed on: {date}", date=signature.signed_at),
        # Translators: {id} is a number such as 123456789.
        t.gettext("Telegram user id: {id}", id=str(signature.telegram_user_id)),
        t.gettext("News about this campaign: yes") if signature.opt_in else t.gettext("News about this campaign: no"),
    ]
    if signature.source:
        # Translators: {source} is the code of the shared link the person opened, e.g. “campaign_x”.
        lines.append(t.gettext("Link you came from: {source}", source=signature.source))
    lines.append("")
    lines.append(t.gettext("/withdraw erases your signature."))
    turn.send("\n".join(lines))


async def ask_withdraw(turn: Turn) -> None:
    t = turn.t
    services = turn.services
    signature = await signatures.get_signature(services.db, services.campaign.slug, turn.user_id)
    if signature is None:
        turn.send(t.gettext("There is no signature to withdraw: you have not signed this letter."))
        return
    turn.state.step = Step.WITHDRAWING
    turn.send(
        t.gettext(
            "Do you want to withdraw your signature? Your name will be erased and will not be delivered "
            "with the letter."
        ),
        rows(
            # Translators: button label, at most 40 characters (longer labels are cut on phones); confirms the withdrawal.
            button(t.gettext("Yes, erase my signature"), WITHDRAW_YES),
            # Translators: button label, at most 40 characters (longer labels are cut on phones); cancels the withdrawal.
            button(t.gettext("No, keep it"), WITHDRAW_NO),
        ),
    )


async def withdraw(turn: Turn) -> None:
    services = turn.services
    erased = await signatures.withdraw_signature(services.db, services.campaign.slug, turn.user_id)
    locale, chosen = turn.state.locale, turn.state.locale_chosen
    turn.state = ConversationState(locale=locale, locale_chosen=chosen)  # forget everything else too
    turn.answer()
    if erased:
        turn.funnel.append("withdrew")
        turn.show(
            turn.t.gettext(
                "Your signature has been erased. Thank you for having supported the letter. "
                "You can sign again at any time with /start."
            )
        )
    else:
        turn.show(turn.t.gettext("There is no signature to withdraw: you have not signed this letter."))


async def keep(turn: Turn) -> None:
    turn.answer()
    turn.state.step = Step.SIGNED
    turn.show(turn.t.gettext("Good: your signature stays on the letter."))


async def privacy(turn: Turn) -> None:
    t = turn.t
    campaign = turn.services.campaign
    paragraphs = [
        "<b>" + t.gettext("Privacy notice") + "</b>",
        # Translators: {organisation} is “Amnesty International”.
        t.gettext(
            "Who: {organisation} runs this petition and is responsible for your data.",
            organisation=campaign.organisation,
        ),
        t.gettext(
            "What we store when you sign: the name you give, your country, your Telegram user id, "
            "the date, the language you read the letter in, the link you came from if any, and "
            "whether you want news about this campaign."
        ),
        t.gettext(
            "Why: to deliver the letter with the names and countries of its signers, and to make sure "
            "each person signs once. Your Telegram id is never delivered or published."
        ),
        t.gettext(
            "If you do not sign, we store nothing about you except anonymous daily counts; your "
            "answers in this chat are forgotten after 7 days."
        ),
        t.gettext(
            "Your rights: /mysignature shows everything stored about your signature, and /withdraw erases it at once."
        ),
    ]
    turn.send("\n\n".join(paragraphs))
