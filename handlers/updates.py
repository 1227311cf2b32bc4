"""News for signers who asked for it: ``/updates`` turns it on or off, and the one-tap
"Stop updates" button every update carries works from any message, at any step."""

from __future__ import annotations

from handlers.news import STOP_UPDATES as STOP_UPDATES  # the button under every update
from handlers.replies import Keyboard
from handlers.turn import Turn, button, for_campaign, rows
from storage import signatures

TOGGLE = "updates"  # callback data: "updates:on" / "updates:off"


async def show(turn: Turn) -> None:
    services = turn.services
    signature = await signatures.get_signature(services.db, turn.campaign.slug, turn.user_id)
    if signature is None:
        turn.send(_not_signed(turn))
        return
    if signature.unreachable_at is not None:  # marked when an update found the bot blocked; they are back
        await signatures.mark_reachable(services.db, turn.campaign.slug, turn.user_id)
    turn.send(_status(turn, signature.opt_in), _toggle(turn, signature.opt_in))


async def toggle(turn: Turn) -> None:
    """The button under ``/updates``: turn news on or off, then show the new status in its place."""
    argument = turn.event.argument
    if argument not in {"on", "off"}:
        turn.answer()
        return
    on = argument == "on"
    services = turn.services
    changed = await signatures.set_opt_in(services.db, turn.campaign.slug, turn.user_id, on)
    if changed is None:
        turn.answer(_not_signed(turn), alert=True)
        return
    t = turn.t
    turn.answer(
        t.gettext("You will get news about this campaign.")
        if on
        else t.gettext("You will not get news about this campaign.")
    )
    turn.show(_status(turn, on), _toggle(turn, on))


async def stop(turn: Turn) -> None:
    """The "Stop updates" button under an update: off at once, whatever step the person is at."""
    t = turn.t
    services = turn.services
    changed = await signatures.set_opt_in(services.db, turn.campaign.slug, turn.user_id, False)
    if changed is None:
        # Translators: a pop-up, at most 200 characters: someone pressed "Stop updates" after withdrawing.
        turn.answer(t.gettext("You are not on the list of signers, so you get no updates."), alert=True)
        return
    if not changed:
        # Translators: a pop-up, at most 200 characters; keep “/updates”.
        turn.answer(t.gettext("Your updates were already stopped. /updates turns them back on."), alert=True)
        return
    # Translators: a pop-up, at most 200 characters.
    turn.answer(t.gettext("Done: you will get no more updates."))
    turn.send(
        t.gettext(
            "You will get no more updates about this campaign. Your signature stays on the letter. "
            "If you change your mind, /updates turns them back on."
        )
    )


def _not_signed(turn: Turn) -> str:
    return turn.t.gettext(
        "Updates are for people who signed the letter, and you have not signed it. "
        "Send /start to read it; when you sign, you can choose to get news."
    )


def _status(turn: Turn, on: bool) -> str:
    t = turn.t
    if on:
        return t.gettext("You get news about this campaign: its milestones and what happens with the letter.")
    return t.gettext("You do not get news about this campaign.")


def _toggle(turn: Turn, on: bool) -> Keyboard:
    t, services = turn.t, turn.services
    if on:
        # Translators: button label, at most 40 characters (longer labels are cut on phones); turns news off.
        return rows(button(t.gettext("🔕 Stop updates"), for_campaign(services, turn.campaign, f"{TOGGLE}:off")))
    # Translators: button label, at most 40 characters (longer labels are cut on phones); turns news on.
    return rows(button(t.gettext("🔔 Get updates"), for_campaign(services, turn.campaign, f"{TOGGLE}:on")))
