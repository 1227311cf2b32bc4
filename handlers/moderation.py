"""``/remove CODE``: an organiser removes one signature by its receipt (an abusive name, a
request received by mail), after seeing it and confirming.

For the ``ADMIN_IDS`` only, in their own private chat (the map's ``organiser`` routes,
``handlers.conversation``); to anyone else it answers exactly as an unknown command does,
and its buttons as stale ones. The
log says which admin removed which row, never a name or a receipt; the removal is
counted, anonymously, in the funnel (``/stats``).
"""

from __future__ import annotations

import logging

from handlers.turn import Turn, button, rows
from handlers.verify import EXAMPLE, find_receipt, receipt_code
from petition import countries
from storage import receipts, signatures
from storage.funnel import FunnelKey

log = logging.getLogger(__name__)

REMOVE = "rm"  # callback data: "rm:K7QF2M9D" (the normalised receipt)
KEEP = "rmno"


async def ask(turn: Turn) -> None:
    t = turn.t
    code = receipts.normalise(turn.event.args)
    if code is None:
        turn.send(
            # Translators: an organiser's command; {example} is a sample receipt code such as K7QF-2M9D.
            t.gettext(
                "Usage: /remove followed by the receipt code of the signature to remove, for example: "
                "/remove {example}",
                example=receipt_code(EXAMPLE.replace("-", "")),
            )
        )
        return
    services = turn.services
    signature = await find_receipt(services, code)
    if signature is None:
        turn.send(_not_on_list(turn, code))
        return
    heading = turn.which_letter(services.campaign_named(signature.campaign))  # several letters: from which list
    lines = [
        *([heading] if heading else []),
        "<b>" + t.gettext("Remove this signature from the list? This cannot be undone.") + "</b>",
        t.gettext("Name: {name}", name=signature.name),
        t.gettext("Country: {country}", country=countries.country_name(signature.country, t.locale)),
        t.gettext("Signed on: {date}", date=signature.signed_at),
        # Translators: {code} is a receipt code such as K7QF-2M9D.
        t.gettext("Receipt: {code}", code=receipt_code(code)),
    ]
    turn.send(
        "\n".join(lines),
        rows(
            # Translators: button label, at most 40 characters (longer labels are cut on phones); an organiser removes a signature.
            button(t.gettext("🗑 Remove"), f"{REMOVE}:{code}"),
            # Translators: button label, at most 40 characters (longer labels are cut on phones); keeps the signature.
            button(t.gettext("Keep it"), KEEP),
            width=2,
        ),
    )


async def remove(turn: Turn) -> None:
    """The organiser confirmed: delete the signature (its deliveries go with it) and count it."""
    turn.answer()
    services = turn.services
    normalised = receipts.normalise(turn.event.argument) or ""
    signature = await find_receipt(services, normalised)
    # Gone meanwhile (withdrawn, removed by another organiser): nothing to remove.
    if signature is None or not await signatures.remove_by_receipt(services.db, signature.campaign, normalised):
        turn.show(_not_on_list(turn, normalised))
        return
    log.info("admin %s: /remove signature %s", turn.user_id, signature.id)
    # Counted under the removed signature's own campaign, language and source, like its signing was.
    key = FunnelKey(signature.campaign, services.clock().date(), "removed", signature.language, signature.source or "")
    services.funnel.add(key)
    # Translators: {code} is a receipt code such as K7QF-2M9D.
    turn.show(
        turn.t.gettext(
            "Removed: the signature with the receipt {code} is no longer on the list.", code=receipt_code(normalised)
        )
    )


async def keep(turn: Turn) -> None:
    turn.answer()
    turn.show(turn.t.gettext("Kept: nothing was changed."))


def _not_on_list(turn: Turn, code: str) -> str:
    if not code:
        return turn.t.gettext("This signature is no longer on the list.")
    # Translators: an organiser's message; {code} is a receipt code such as K7QF-2M9D.
    return turn.t.gettext(
        "No signature with the receipt {code} is on the list (it may have been withdrawn or removed already).",
        code=receipt_code(code),
    )
