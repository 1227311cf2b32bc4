"""``/broadcast``: an organiser writes to everyone who asked for news, each in their language.

``/broadcast`` → whom it goes to, when there is a choice (``bcto:<slug>`` a letter's news
subscribers, ``bcto:*`` the organisation's list of people who asked for news of its future
campaigns) → the organiser sends the text (one for everyone, or one per language
with ``[de]``, ``[fr]``, … ``[all]`` tags on lines of their own; every later message
adds or replaces sections) → a preview per language with the number of recipients
→ [Send to N people] creates the broadcast, and the preview's last message becomes
the progress message the sender (``bot.broadcasting``) keeps editing.
``/broadcast status`` and ``/broadcast cancel`` follow and stop it (``bcstop:<id>`` picks which,
when several are sending).

Admins only, in their own private chat (the map's ``organiser`` routes, also for the draft
and the buttons: ``handlers.conversation``); to anyone else it answers exactly as an unknown
command. The draft lives in the
organiser's conversation state (``composing``, ``draft``, ``broadcast_to``), apart from the
signing ``step``.
Logs name the admin and what was done, never the text nor anything about a signer.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
from dataclasses import dataclass

from handlers import fallback
from handlers.i18n import Translator, language_name, normalise_locale
from handlers.news import delivered_on, news_message
from handlers.replies import Deliver, EditMessage, Keyboard
from handlers.turn import Services, Turn, button, rows
from handlers.welcome import label
from storage import broadcasts
from storage.broadcasts import ORGANISATION_LIST, BroadcastCounts
from storage.models import Broadcast

log = logging.getLogger(__name__)

TO = "bcto"  # callback data: write to "bcto:<slug>" (a letter's news subscribers) or "bcto:*"
LIST = "*"  # ... the organisation's list
SEND = "bcsend"  # callback data: send the previewed draft (":<digest>" of that draft)
STOP = "bcstop"  # callback data: cancel broadcast ":<id>" (several are sending)
RESTART = "bcredo"  # start the draft over
DISCARD = "bcdrop"  # stop composing, nothing sent

# The organiser's text per language, in UTF-16 code units as Telegram counts them: with the
# header (the petition's title) and the footer in any language it stays under 4,096.
TEXT_LIMIT = 3500
ALL = "all"
_TAG = re.compile(r"^[ \t]*\[[ \t]*([A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})*)[ \t]*\][ \t]*$")


def _length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# --- parsing the organiser's text --------------------------------------------------------------


@dataclass(frozen=True)
class DraftProblem(Exception):
    """What is wrong with the text the organiser sent (``kind``: unknown, twice, empty, long)."""

    kind: str
    tag: str = ""
    length: int = 0


def resolve_tag(tag: str, locales: tuple[str, ...]) -> str | None:
    """``de``/``pt-br``/``zh_hans``/``all`` → the locale code ("" for all); None if unknown."""
    if tag.lower() == ALL:
        return ""
    code = normalise_locale(tag)
    if code in locales:
        return code
    variants = [locale for locale in locales if locale.split("_")[0] == code]
    return variants[0] if len(variants) == 1 else None


def parse_sections(text: str, locales: tuple[str, ...]) -> dict[str, str]:
    """The sections of one message: ``{locale: text}``, "" for everyone else.

    Text before the first tag (if any) is for everyone else, like ``[all]``. A tag
    counts only on a line of its own, so "[1]" inside a sentence is just text.
    Raises ``DraftProblem`` for an unknown or repeated tag, an empty section or a
    text longer than ``TEXT_LIMIT``.
    """
    chunks: list[tuple[str | None, str, list[str]]] = [(None, ALL, [])]  # None: before the first tag
    for line in text.replace("\r\n", "\n").split("\n"):
        match = _TAG.match(line)
        if match is None:
            chunks[-1][2].append(line)
            continue
        tag = match.group(1)
        code = resolve_tag(tag, locales)
        if code is None:
            raise DraftProblem("unknown", tag)
        chunks.append((code, tag, []))
    result: dict[str, str] = {}
    for code, tag, body in chunks:
        value = "\n".join(body).strip()
        if code is None:
            if not value:
                continue  # nothing before the first tag
            code = ""
        elif not value:
            raise DraftProblem("empty", tag)
        if code in result:
            raise DraftProblem("twice", tag)
        if _length(value) > TEXT_LIMIT:
            raise DraftProblem("long", tag, _length(value))
        result[code] = value
    return result


def problem_text(t: Translator, problem: DraftProblem, locales: tuple[str, ...]) -> str:
    tag = f"[{problem.tag}]"
    match problem.kind:
        case "unknown":
            # Translators: {tag} is what the organiser wrote, e.g. “[xx]”; {tags} lists the known ones, e.g. “[de], [fr]”.
            return t.gettext(
                "I don't know the language {tag}. Use one of these tags on a line of its own: {tags}, or [all].",
                tag=tag,
                tags=", ".join(f"[{code}]" for code in locales),
            )
        case "twice":
            # Translators: {tag} is a language tag such as “[de]”.
            return t.gettext("{tag} appears twice in your message. Please give each language one text.", tag=tag)
        case "empty":
            # Translators: {tag} is a language tag such as “[de]”.
            return t.gettext("The text after {tag} is empty. Please write it, or leave the tag out.", tag=tag)
        case _:
            # Translators: {tag} is a language tag such as “[de]”; {length} and {limit} are numbers of characters.
            return t.gettext(
                "The text for {tag} is too long: {length} characters, at most {limit}. Please shorten it.",
                tag=tag,
                length=problem.length,
                limit=TEXT_LIMIT,
            )


def digest(draft: dict[str, str], audience: str) -> str:
    """A short fingerprint of a draft and whom it goes to: a Send button only sends the draft it
    previewed, to the people it previewed it for."""
    return hashlib.sha256(json.dumps([audience, draft], sort_keys=True).encode("utf-8")).hexdigest()[:12]


# --- the command ---------------------------------------------------------------------------


async def command(turn: Turn) -> None:
    """``/broadcast``, ``/broadcast status``, ``/broadcast cancel``."""
    match turn.event.args.strip().lower():
        case "":
            await start(turn)
        case "status":
            await status(turn)
        case "cancel":
            await cancel(turn)
        case _:
            log.info("admin %s: /broadcast with unknown arguments", turn.user_id)
            turn.send(
                turn.t.gettext(
                    "Usage: /broadcast to write a message to everyone who asked for news, "
                    "/broadcast status to see how sending goes, /broadcast cancel to stop it."
                )
            )


# --- whom it goes to ------------------------------------------------------------------------


def audiences(services: Services) -> list[str]:
    """Whom an organiser may write to: each live letter's news subscribers (by slug), and the
    organisation's list ("") when a letter offers news of future campaigns."""
    live = services.all_campaigns()
    offered = [ORGANISATION_LIST] if any(campaign.future_campaigns for campaign in live) else []
    return [campaign.slug for campaign in live] + offered


def audience(turn: Turn) -> str:
    """Whom the draft goes to (a draft begun before organisers chose: the conversation's letter)."""
    chosen = turn.state.broadcast_to
    return chosen if chosen is not None else turn.campaign.slug


def still_offered(turn: Turn) -> bool:
    """Whether the draft's people may still be written to (its letter may have been taken down,
    or stopped offering the list, since the draft began): if not, the draft ends."""
    if audience(turn) in audiences(turn.services):
        return True
    log.info("admin %s: /broadcast draft ended: its audience is no longer offered", turn.user_id)
    turn.state.end_draft()
    return False


def audience_heading(turn: Turn, key: str) -> str:
    """Whom a reply is about, in bold; "" when there is nobody else to write to."""
    services = turn.services
    if len(audiences(services)) == 1:
        return ""
    if key == ORGANISATION_LIST:
        name = list_name(turn.t, services)
    else:
        name = turn.t.catalog.gettext(services.campaign_named(key).title)
    return "<b>" + html.escape(name, quote=False) + "</b>"


def list_name(t: Translator, services: Services) -> str:
    # Translators: whom an organiser's message goes to: people who asked, when they signed, to hear about the
    # organisation's future campaigns; {organisation} is “Amnesty International”.
    return t.gettext_plain(
        "People who asked for news about future campaigns of {organisation}",
        organisation=services.campaign.organisation,
    )


async def start(turn: Turn) -> None:
    log.info("admin %s: /broadcast", turn.user_id)
    choices = audiences(turn.services)
    if len(choices) == 1:
        await compose(turn, choices[0])
        return
    # A draft begun earlier ends: a text typed now instead of choosing must not join it.
    turn.state.end_draft()
    t = turn.t
    # Translators: an organiser sent /broadcast; the letters' news subscribers and the organisation's list follow.
    lines = ["<b>" + t.gettext("Who should get your message?") + "</b>"]
    buttons = []
    for number, key in enumerate(choices, 1):
        waiting = sum((await broadcasts.recipients_by_language(turn.services.db, key)).values())
        if key == ORGANISATION_LIST:
            name = list_name(t, turn.services)
        else:
            # Translators: one choice of whom an organiser's message goes to; {title} is a petition's title.
            name = t.gettext_plain(
                "News about “{title}”", title=t.catalog.gettext(turn.services.campaign_named(key).title)
            )
        # Translators: a number of people, after whom a message would go to, e.g. “News about … · 1,234 people”.
        people = t.ngettext("{n} person", "{n} people", waiting)
        lines.append(f"{number}. {html.escape(name, quote=False)} · {people}")
        buttons.append(button(label(f"{number}. {name}"), f"{TO}:{key or LIST}"))
    turn.send("\n\n".join(lines), rows(*buttons))


async def on_audience(turn: Turn) -> None:
    """The organiser chose whom to write to."""
    key = ORGANISATION_LIST if turn.event.argument == LIST else turn.event.argument
    if key not in audiences(turn.services):  # a letter no longer live, or no longer offering news
        fallback.stale_button(turn)
        return
    turn.answer()
    await compose(turn, key)


async def compose(turn: Turn, key: str) -> None:
    """Writing to ``key``'s people begins: how to write, and how many will get it."""
    services = turn.services
    t = turn.t
    turn.state.composing = True
    turn.state.draft = {}
    turn.state.broadcast_to = key
    waiting = sum((await broadcasts.recipients_by_language(services.db, key)).values())
    tags = ", ".join(f"[{code}]" for code in services.i18n.locales)
    example = "\n".join(["[de]", "Hallo …", "[fr]", "Bonjour …", "[all]", "Hello …"])
    heading = [which] if (which := audience_heading(turn, key)) else []  # several choices: whose
    turn.send(
        "\n\n".join(
            [
                *heading,
                # Translators: {n} is a number of people.
                "<b>"
                + t.ngettext(
                    "Write your message to the {n} person who asked for news.",
                    "Write your message to the {n} people who asked for news.",
                    waiting,
                )
                + "</b>",
                t.gettext(
                    "Send it as your next message, as plain text. Each person gets it with a short heading, "
                    "a “Stop updates” button and the rest in their own language."
                ),
                # Translators: keep “[all]” as it is: it is the tag organisers type.
                t.gettext(
                    "One text for everyone: just send it. A text per language: put each language's tag "
                    "on a line of its own before its text; [all] is for every other language:"
                ),
                f"<code>{example}</code>",
                # Translators: {tags} lists language tags, e.g. “[en], [de], [fr]”.
                t.gettext("Language tags: {tags}.", tags=tags),
                # Translators: {limit} is a number of characters, e.g. 3,500.
                t.gettext(
                    "At most {limit} characters per language. You will see a preview before anything is sent; "
                    "/cancel stops.",
                    limit=TEXT_LIMIT,
                ),
            ]
        )
    )


async def draft_text(turn: Turn) -> None:
    """A text while composing: its sections are added to the draft, then the preview."""
    services = turn.services
    t = turn.t
    if not still_offered(turn):
        turn.send(t.gettext("This draft is closed. Send /broadcast to write a new message."))
        return
    try:
        sections = parse_sections(turn.event.text, services.i18n.locales)
    except DraftProblem as problem:
        log.info("admin %s: /broadcast draft refused (%s)", turn.user_id, problem.kind)
        turn.send(problem_text(t, problem, services.i18n.locales))
        return
    if not sections:
        turn.send(t.gettext("Please send the text of your message."))
        return
    draft = {**(turn.state.draft or {}), **sections}
    turn.state.draft = draft
    log.info("admin %s: /broadcast draft with %d text(s)", turn.user_id, len(draft))
    await preview(turn, draft)


async def preview(turn: Turn, draft: dict[str, str]) -> None:
    """Each text as its recipients will see it, then who gets what and the buttons."""
    services = turn.services
    t = turn.t
    for code in sorted(draft, key=lambda c: (c == "", c)):
        if code:
            # Translators: {language} is a language's name in itself, e.g. “Deutsch”.
            label = t.gettext("Preview for {language}:", language=language_name(code))
        else:
            # Translators: {language} is a language's name in itself; the heading and footer are shown in it here.
            label = t.gettext(
                "Preview for every other language (shown here in {language}):", language=language_name(t.locale)
            )
        sample = Broadcast(campaign=audience(turn), kind="message", texts={code: draft[code]})
        text, _ = news_message(services, sample, code or t.locale)
        turn.send(f"<i>{label}</i>\n\n{text}")
    summary, keyboard, _ = await summary_message(turn, draft)
    turn.send(summary, keyboard)


async def summary_message(turn: Turn, draft: dict[str, str]) -> tuple[str, Keyboard, bool]:
    """Who gets which text, and the buttons; the bool says whether it can be sent as it is."""
    services = turn.services
    t = turn.t
    recipients = await broadcasts.recipients_by_language(services.db, audience(turn))
    total = sum(recipients.values())
    lines = [which] if (which := audience_heading(turn, audience(turn))) else []  # several choices: whose
    lines.append("<b>" + t.gettext("Who gets what") + "</b>")
    missing = []
    for code in sorted({*recipients, *(c for c in draft if c)}):
        count = recipients.get(code, 0)
        if code in draft:
            which = t.gettext("its own text")
        elif "" in draft:
            which = t.gettext("the text for every other language")
        else:
            which = t.gettext("no text yet")
            missing.append(code)
        # Translators: {count} is a number of people, {which} says which text they get, e.g. “its own text”.
        lines.append(
            html.escape(language_name(code), quote=False)
            + ": "
            + t.gettext("{count} · {which}", count=count, which=which)
        )
    lines.append(t.ngettext("In total: {n} person.", "In total: {n} people.", total))
    restart = button(
        # Translators: button label, at most 40 characters (longer labels are cut on phones); clears the draft.
        t.gettext("✏️ Start over"),
        RESTART,
    )
    # Translators: button label, at most 40 characters (longer labels are cut on phones); nothing is sent.
    drop = button(t.gettext("✖️ Cancel"), DISCARD)
    if missing:
        names = ", ".join(f"{language_name(code)} [{code}]" for code in missing)
        lines += [
            "",
            # Translators: {languages} lists languages with their tags, e.g. “Deutsch [de], Türkçe [tr]”; keep “[all]”.
            t.gettext(
                "Nobody will receive it in: {languages}. Send a text for each of them with its tag, "
                "or one for everyone else with [all], before sending.",
                languages=names,
            ),
        ]
        return "\n".join(lines), rows(restart, drop), False
    if total == 0:
        lines += ["", t.gettext("Nobody has asked for news yet, so there is no one to send it to.")]
        return "\n".join(lines), rows(restart, drop), False
    lines += ["", t.gettext("To change a text, send it again with its tag. Nothing is sent before you confirm.")]
    send = button(
        # Translators: button label, at most 40 characters (longer labels are cut on phones); {n} is a number.
        t.ngettext("📨 Send to {n} person", "📨 Send to {n} people", total),
        f"{SEND}:{digest(draft, audience(turn))}",
    )
    return "\n".join(lines), rows(send, restart, drop), True


# --- the buttons ---------------------------------------------------------------------------


async def on_button(turn: Turn) -> None:
    """The preview's buttons: send, start over, drop."""
    t = turn.t
    action = turn.event.action
    state = turn.state
    if not state.composing or state.draft is None or not still_offered(turn):
        # Translators: a pop-up, at most 200 characters.
        turn.answer(t.gettext("This draft is closed. Send /broadcast to write a new message."), alert=True)
        return
    if action == RESTART:
        log.info("admin %s: /broadcast draft started over", turn.user_id)
        turn.answer()
        state.draft = {}
        turn.show(t.gettext("The draft is empty again. Send the text of your message."))
    elif action == DISCARD:
        await discard(turn)
    else:
        await confirm(turn, turn.event.argument)


async def discard(turn: Turn) -> None:
    """End composing (the Cancel button, or /cancel while composing); nothing is sent."""
    log.info("admin %s: /broadcast draft discarded", turn.user_id)
    turn.state.end_draft()
    turn.answer()
    turn.show(turn.t.gettext("Stopped. Nothing was sent. Send /broadcast to write a new message."))


async def confirm(turn: Turn, previewed: str) -> None:
    services = turn.services
    t = turn.t
    state = turn.state
    draft = state.draft or {}
    if not draft or previewed != digest(draft, audience(turn)):
        # Translators: a pop-up, at most 200 characters.
        turn.answer(t.gettext("This preview is out of date: please use the latest one."), alert=True)
        return
    summary, keyboard, sendable = await summary_message(turn, draft)
    if not sendable:
        # Someone signed meanwhile in a language without a text: show the new summary instead.
        turn.answer()
        turn.show(summary, keyboard)
        return
    key = audience(turn)
    twice = await broadcasts.sent_already(services.db, campaign=key, texts=draft, created_by=turn.user_id)
    if twice is not None:  # the draft survived a crash right after it was sent: never twice
        state.end_draft()
        log.info("admin %s: /broadcast %s pressed again: not sent twice", turn.user_id, twice.id)
        # Translators: a pop-up, at most 200 characters.
        already = t.gettext("You already sent exactly this message in the last 24 hours: it is not sent twice.")
        turn.answer(already, alert=True)
        return
    queued = await broadcasts.sending(services.db)  # the sender goes oldest first, whoever they are for
    broadcast = await broadcasts.create_broadcast(
        services.db,
        campaign=key,
        texts=draft,
        created_by=turn.user_id,
        progress_locale=t.locale,
    )
    state.end_draft()
    log.info("admin %s: /broadcast %s confirmed for %d recipient(s)", turn.user_id, broadcast.id, broadcast.total)
    turn.answer()
    counts = BroadcastCounts(total=broadcast.total, pending=broadcast.total if broadcast.status == "sending" else 0)
    turn.show(progress_text(services, broadcast, counts))
    chat, message = turn.event.chat.id, turn.event.message_id
    if message is not None:
        await broadcasts.set_progress_message(services.db, broadcast.id, chat, message)
        turn.followups.append(lambda deliver: _refresh(services, broadcast.id, deliver))
    if queued:
        turn.send(t.gettext("Another broadcast is still being sent; this one starts as soon as it has finished."))


async def _refresh(services: Services, broadcast_id: int, deliver: Deliver) -> None:
    """After "Sending… 0 of N" is shown: if the sender got ahead of it (a small broadcast
    finished before the message was known), show where it is now."""
    broadcast = await broadcasts.get_broadcast(services.db, broadcast_id)
    if broadcast is None or broadcast.progress_chat_id is None or broadcast.progress_message_id is None:
        return
    counts = await broadcasts.broadcast_counts(services.db, broadcast_id)
    if counts.finished or broadcast.status != "sending":
        text = progress_text(services, broadcast, counts)
        await deliver(EditMessage(broadcast.progress_chat_id, broadcast.progress_message_id, text))


# --- progress, status, cancel --------------------------------------------------------------


def progress_text(services: Services, broadcast: Broadcast, counts: BroadcastCounts, locale: str | None = None) -> str:
    """The organiser's progress message, in ``locale`` or else the language they sent it in."""
    t = services.i18n.get(locale or broadcast.progress_locale)
    if broadcast.kind == "milestone":
        # Translators: the heading of a milestone's progress for organisers; {n} is a number of signatures, e.g. 10,000.
        title = t.ngettext(
            "🎉 Milestone message: {n} signature", "🎉 Milestone message: {n} signatures", broadcast.milestone or 0
        )
    elif broadcast.kind == "delivered":
        # Translators: the heading of the progress of the “your signature has been delivered” news, for organisers;
        # {date} is the day of the delivery in this language's long format.
        title = t.gettext(
            "📬 News of the delivery of {date} to the signers it carried",
            date=delivered_on(broadcast) or broadcast.created_at,
        )
    elif broadcast.campaign == ORGANISATION_LIST:
        # Translators: {date} is a date in this language's long format.
        title = t.gettext(
            "📢 Message of {date} to people who asked for news about future campaigns", date=broadcast.created_at
        )
    else:
        # Translators: {date} is a date in this language's long format.
        title = t.gettext("📢 Message of {date} to people who asked for news", date=broadcast.created_at)
    match broadcast.status:
        case "done":
            # Translators: {sent} and {total} are numbers of people.
            state = t.gettext("Done: {sent} of {total} received it.", sent=counts.sent, total=counts.total)
        case "cancelled":
            # Translators: {sent} and {total} are numbers of people.
            state = t.gettext(
                "Cancelled: {sent} of {total} had received it; nobody else will.", sent=counts.sent, total=counts.total
            )
        case _:
            # Translators: {done} and {total} are numbers of people; shown while sending, edited as it goes.
            state = t.gettext("Sending… {done} of {total}", done=counts.finished, total=counts.total)
    details = [
        # Translators: one part of a broadcast's progress, e.g. “received: 950”.
        t.gettext("received: {n}", n=counts.sent),
    ]
    optional = [
        # Translators: one part of a broadcast's progress; these people blocked the bot and are not written to again.
        (counts.blocked, t.gettext("blocked the bot: {n}", n=counts.blocked)),
        # Translators: one part of a broadcast's progress; Telegram refused these messages even after retries.
        (counts.failed, t.gettext("failed: {n}", n=counts.failed)),
        # Translators: one part of a broadcast's progress; the bot stopped while sending these, they are not repeated.
        (counts.uncertain, t.gettext("not sure if received: {n}", n=counts.uncertain)),
        # Translators: one part of a broadcast's progress; these people withdrew or stopped updates meanwhile.
        (counts.skipped, t.gettext("skipped: {n}", n=counts.skipped)),
        # Translators: one part of a broadcast's progress; not sent because the broadcast was cancelled.
        (counts.cancelled, t.gettext("not sent (cancelled): {n}", n=counts.cancelled)),
    ]
    details += [text for count, text in optional if count]
    return "\n".join([f"<b>{title}</b>", state, " · ".join(details)])


async def status(turn: Turn) -> None:
    """The broadcasts sending now and the latest one of every letter and of the organisation's
    list, a message each (with its languages, several would outgrow Telegram's limit)."""
    log.info("admin %s: /broadcast status", turn.user_id)
    services = turn.services
    t = turn.t
    shown: list[Broadcast] = list(await broadcasts.sending(services.db))
    for key in audiences(services):
        latest = await broadcasts.latest_broadcast(services.db, key)
        if latest is not None and all(latest.id != b.id for b in shown):
            shown.append(latest)
    if not shown:
        turn.send(t.gettext("No message has been sent to the people who asked for news yet. /broadcast writes one."))
        return
    for broadcast in shown:
        counts = await broadcasts.broadcast_counts(services.db, broadcast.id)
        by_language = await broadcasts.counts_by_language(services.db, broadcast.id)
        # Status in the asker's language, whoever started it.
        text = progress_text(services, broadcast, counts, t.locale)
        heading = [which] if (which := audience_heading(turn, broadcast.campaign)) else []
        lines = [*heading, text, "", "<b>" + t.gettext("By language") + "</b>"]
        for code, part in by_language.items():
            # Translators: {sent} and {total} are numbers of people, per language in a broadcast's status.
            lines.append(
                html.escape(language_name(code), quote=False)
                + ": "
                + t.gettext("{sent} of {total}", sent=part.sent, total=part.total)
            )
        turn.send("\n".join(lines))


async def cancel(turn: Turn) -> None:
    """``/broadcast cancel``: the one sending stops; when several are, the organiser picks one."""
    services = turn.services
    t = turn.t
    sending = await broadcasts.sending(services.db)
    if len(sending) > 1:
        log.info("admin %s: /broadcast cancel: %d are sending, asked which", turn.user_id, len(sending))
        # Translators: an organiser sent /broadcast cancel while several messages are being sent; a list follows.
        lines = ["<b>" + t.gettext("Several messages are being sent. Which one should stop?") + "</b>"]
        buttons = []
        for number, broadcast in enumerate(sending, 1):
            counts = await broadcasts.broadcast_counts(services.db, broadcast.id)
            heading = audience_heading(turn, broadcast.campaign)
            lines.append(
                f"{number}. " + "\n".join(filter(None, [heading, progress_text(services, broadcast, counts, t.locale)]))
            )
            buttons.append(button(f"✖️ {number}", f"{STOP}:{broadcast.id}"))
        turn.send("\n\n".join(lines), rows(*buttons, width=4))
        return
    await stop(turn, sending[0].id if sending else None)


async def on_stop(turn: Turn) -> None:
    """The organiser picked which broadcast to cancel (its button may be older than its end)."""
    chosen = int(turn.event.argument) if turn.event.argument.isdigit() else None
    found = await broadcasts.get_broadcast(turn.services.db, chosen) if chosen is not None else None
    if found is None or found.status != broadcasts.SENDING:
        # Translators: a pop-up, at most 200 characters: an organiser chose to stop a message that has ended since.
        turn.answer(turn.t.gettext("This message is no longer being sent."), alert=True)
        return
    turn.answer()
    await stop(turn, found.id)


async def stop(turn: Turn, broadcast_id: int | None) -> None:
    services = turn.services
    t = turn.t
    broadcast = await broadcasts.cancel_broadcast(services.db, broadcast_id) if broadcast_id is not None else None
    if broadcast is None:
        log.info("admin %s: /broadcast cancel: nothing is sending", turn.user_id)
        turn.send(t.gettext("Nothing is being sent right now, so there is nothing to cancel."))
        return
    log.info("admin %s: /broadcast %s cancelled", turn.user_id, broadcast.id)
    counts = await broadcasts.broadcast_counts(services.db, broadcast.id)
    turn.send(
        t.gettext("Stopped. Nobody else will receive this message.")
        + "\n\n"
        + progress_text(services, broadcast, counts, t.locale)
    )
    if broadcast.progress_chat_id is not None and broadcast.progress_message_id is not None:
        turn.replies.append(
            EditMessage(
                broadcast.progress_chat_id, broadcast.progress_message_id, progress_text(services, broadcast, counts)
            )
        )
