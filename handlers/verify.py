"""``/verify CODE``: anyone, in any chat with the bot, can check that a receipt is on the list.

The answer says only whether a signature with that receipt is on the list now,
since which day, and whether it has been delivered to the addressees (on which day,
together with how many others: ``python -m bot deliver``): never a name, a country
or who asked. Withdrawn, removed and unknown receipts all answer "not on the list".
A receipt is its signer's private key to their own record (the delivered PDF carries
none); the bot never invites anyone to post it. Typing slips are forgiven
(``storage.receipts.normalise``); what cannot be a receipt gets an explanation
instead of a lookup. Lookups are rate-limited per person and per group chat, so
guessing receipts stays out of reach. The log says found / not found / limited,
never the code or who asked.
"""

from __future__ import annotations

import logging

from handlers.i18n import Html
from handlers.turn import Services, Turn
from storage import deliveries, receipts
from storage.models import Signature

log = logging.getLogger(__name__)

WINDOW = 600  # seconds: the rate limit's window
PER_PERSON = 10  # checks per person per window, in every chat together
PER_GROUP = 30  # checks per group chat per window, by all its members together
EXAMPLE = "K7QF-2M9D"


def receipt_code(code: str) -> Html:
    """A receipt as shown to people: ``K7QF-2M9D`` in <code>, so one tap copies it."""
    return Html(f"<code>{receipts.display(code)}</code>")


async def check(turn: Turn) -> None:
    t = turn.t
    typed = turn.event.args.strip()
    if not typed:
        turn.send(
            # Translators: {example} is a sample receipt code such as K7QF-2M9D; keep “/verify”.
            t.gettext(
                "To check that a signature is on the list, send /verify followed by its receipt code, "
                "for example: /verify {example}",
                example=Html(f"<code>{EXAMPLE}</code>"),
            )
        )
        return
    code = receipts.normalise(typed)
    if code is None:
        turn.send(
            # Translators: {example} is a sample receipt code such as K7QF-2M9D.
            t.gettext(
                "That does not look like a receipt code. A receipt has 8 letters and digits, like {example}. "
                "Signers get theirs in the thank-you message after signing, and /mysignature shows it again.",
                example=Html(f"<code>{EXAMPLE}</code>"),
            )
        )
        return
    if await _limited(turn):
        log.info("verify: limited")
        minutes = WINDOW // 60
        turn.send(
            t.ngettext(
                "You have checked many receipts in a short time. To protect signers from guessing, "
                "please wait {n} minute and try again.",
                "You have checked many receipts in a short time. To protect signers from guessing, "
                "please wait {n} minutes and try again.",
                minutes,
            )
        )
        return
    services = turn.services
    signature = await find_receipt(services, code)
    if signature is None:
        log.info("verify: not found")
        turn.send(
            # Translators: {code} is a receipt code such as K7QF-2M9D.
            t.gettext(
                "No signature with the receipt {code} is on the list. It may have been withdrawn, or the code "
                "may be mistyped: please check it. Signers see their receipt with /mysignature.",
                code=receipt_code(code),
            )
        )
        return
    on_list = services.campaign_named(signature.campaign)

    def say(text: str) -> None:
        """The answer, under the letter's title when several letters are live (which list it is on)."""
        turn.send(turn.headed(text, on_list))

    delivery = None
    if signature.list_delivery_id is not None:
        delivery = await deliveries.get_delivery(services.db, signature.list_delivery_id)
    log.info("verify: found, %s", "delivered" if delivery is not None else "not yet delivered")
    if delivery is None:
        say(
            # Translators: {code} is a receipt code such as K7QF-2M9D; {date} a date in this language's long format.
            t.gettext(
                "Yes: the signature with the receipt {code} is on the list, since {date}. "
                "It has not been delivered to the addressees yet.",
                code=receipt_code(code),
                date=signature.signed_at,
            )
        )
        return
    others = max(delivery.signature_count - 1, 0)
    if others == 0:  # the list held this one signature
        say(
            # Translators: {code} is a receipt code such as K7QF-2M9D; {date} a date in this language's long format.
            t.gettext(
                "Yes: the signature with the receipt {code} is on the list. It was delivered to the addressees "
                "on {date}.",
                code=receipt_code(code),
                date=delivery.delivered_on,
            )
        )
        return
    say(
        # Translators: {code} is a receipt code such as K7QF-2M9D; {date} a date in this language's long format;
        # {n} the number of other signatures delivered with it.
        t.ngettext(
            "Yes: the signature with the receipt {code} is on the list. It was delivered to the addressees "
            "on {date}, together with {n} other signature.",
            "Yes: the signature with the receipt {code} is on the list. It was delivered to the addressees "
            "on {date}, together with {n} other signatures.",
            others,
            code=receipt_code(code),
            date=delivery.delivered_on,
        )
    )


async def find_receipt(services: Services, code: str) -> Signature | None:
    """The signature with this (normalised) receipt on the list of any live campaign: a receipt
    names no campaign, and a person may have signed several (``/verify``, ``/remove``)."""
    return await receipts.find_in_campaigns(services.db, [c.slug for c in services.all_campaigns()], code)


async def _limited(turn: Turn) -> bool:
    """Count this check against the person and, in a group, against the group."""
    store = turn.services.store
    over = await store.hit(f"verify:user:{turn.user_id}", WINDOW) > PER_PERSON
    if not turn.event.chat.is_private:
        over = await store.hit(f"verify:chat:{turn.event.chat.id}", WINDOW) > PER_GROUP or over
    return over
