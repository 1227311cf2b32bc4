"""News for signers who asked for it: ``/updates`` turns it on or off, and the one-tap
"Stop updates" button every update carries works from any message, at any step."""

from __future__ import annotations

from handlers import welcome
from handlers.news import FUTURE_OFF as FUTURE_OFF  # under the organisation's news, and in /updates
from handlers.news import STOP_UPDATES as STOP_UPDATES  # the button under every update
from handlers.news import UNDER_NEWS
from handlers.replies import Button, Keyboard
from handlers.turn import Turn, button, for_campaign, rows
from storage import consents, signatures
from storage.models import ContactConsent, Signature

TOGGLE = "updates"  # callback data: "updates:on" / "updates:off"
PARTNER_OFF = "partneroff"  # "partneroff:<key>": that partner may no longer contact the person


async def show(turn: Turn) -> None:
    """News about this campaign (for a signer), and every contact consent this person gave,
    each revocable in one tap, even after their signatures are gone."""
    services = turn.services
    signature = await signatures.get_signature(services.db, turn.campaign.slug, turn.user_id)
    if signature is not None and signature.unreachable_at is not None:
        await signatures.mark_reachable(services.db, turn.user_id)  # an update found the bot blocked; they are back
    turn.send(*await _as_now(turn, signature))


async def _refresh(turn: Turn) -> None:
    """The /updates message again, in its place, as it is now."""
    signature = await signatures.get_signature(turn.services.db, turn.campaign.slug, turn.user_id)
    turn.show(*await _as_now(turn, signature))


async def _as_now(turn: Turn, signature: Signature | None) -> tuple[str, Keyboard]:
    """The /updates text and buttons: this letter's news (for its signer) and the consents."""
    held = of_this_letter(turn, await consents.of_person(turn.services.db, turn.user_id))
    if signature is None and not held:
        return turn.headed(_not_signed(turn)), ()
    parts = [_status(turn, signature.opt_in)] if signature is not None else []
    keyboard = _toggle(turn, signature.opt_in) if signature is not None else ()
    lines, buttons = contact_lines(turn, held, revocable=True)
    return turn.headed("\n\n".join([*parts, *lines])), keyboard + buttons


def of_this_letter(turn: Turn, held: list[ContactConsent]) -> list[ContactConsent]:
    """The organisation's consent and this letter's partners': a screenshot of /updates names
    no other letter (each shows its own)."""
    return [c for c in held if c.scope == consents.ORGANISATION or c.campaign == turn.campaign.slug]


def contact_lines(turn: Turn, held: list[ContactConsent], *, revocable: bool) -> tuple[list[str], Keyboard]:
    """A line for each contact consent, and (``revocable``) a button that withdraws it."""
    t, services = turn.t, turn.services
    lines: list[str] = []
    buttons: list[Button] = []
    for consent in held:
        if consent.scope == consents.ORGANISATION:
            organisation = services.campaign.organisation  # one bot, one organisation (petition.campaign)
            # Translators: in /updates and /mysignature; {organisation} is “Amnesty International”.
            lines.append(t.gettext("You get news about future campaigns of {organisation}.", organisation=organisation))
            if revocable:
                # Translators: button label, at most 40 characters (longer labels are cut on phones).
                buttons.append(
                    button(
                        t.gettext("🔕 No news of future campaigns"), for_campaign(services, turn.campaign, FUTURE_OFF)
                    )
                )
            continue
        key = consent.scope.removeprefix(consents.PARTNER)
        campaign = services.campaign_named(consent.campaign)
        name = next((p.name for p in campaign.partners if p.key == key), key)
        title = t.catalog.gettext(campaign.title)
        # Translators: in /updates and /mysignature; {partner} is an organisation's name, {title} a petition's title.
        lines.append(t.gettext("{partner} may contact you (letter “{title}”).", partner=name, title=title))
        if revocable:
            # Translators: button label with {partner} filled in, cut at 40 characters; withdraws that consent.
            label = welcome.label(t.gettext_plain("✖ Withdraw: {partner}", partner=name))
            buttons.append(button(label, for_campaign(services, campaign, f"{PARTNER_OFF}:{key}")))
    return lines, rows(*buttons)


async def stop_future(turn: Turn) -> None:
    """No more news about the organisation's future campaigns: the /updates button (its message
    shows the new state), or "Stop updates" under such news (the news stays as it is, and a
    new message says what changed; a second press says it again)."""
    await consents.revoke(turn.services.db, turn.user_id, consents.ORGANISATION, "")
    t = turn.t
    # Translators: a pop-up, at most 200 characters.
    turn.answer(t.gettext("Done: no news about future campaigns."))
    if turn.event.argument != UNDER_NEWS:
        await _refresh(turn)
        return
    organisation = turn.services.campaign.organisation
    # Translators: after “Stop updates” under a message to people who asked for news about future campaigns;
    # {organisation} is “Amnesty International”.
    turn.send(
        t.gettext(
            "You will get no more news about future campaigns of {organisation}. Nothing else changes.",
            organisation=organisation,
        )
    )


async def stop_partner(turn: Turn) -> None:
    """The /updates button: this partner may no longer contact the person."""
    scope = consents.partner_scope(turn.event.argument)
    if await consents.revoke(turn.services.db, turn.user_id, scope, turn.campaign.slug):
        # Translators: a pop-up, at most 200 characters.
        turn.answer(turn.t.gettext("Done: your consent is withdrawn."))
    else:
        turn.answer()  # withdrawn already (a second tap, an older message)
    await _refresh(turn)


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
    stopped = t.gettext(
        "You will get no more updates about this campaign. Your signature stays on the letter. "
        "If you change your mind, /updates turns them back on."
    )
    turn.send(turn.headed(stopped))  # several letters are live: which one's updates


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
