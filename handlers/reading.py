"""The case: the background, then the letter, split under Telegram's limit."""

from __future__ import annotations

from handlers.turn import Turn, button, rows

SIGN = "sign"  # callback data: go on to sign

# Telegram allows 4,096 characters after parsing; stay well under it so that a
# translation a little longer than English still fits.
MESSAGE_LIMIT = 3500


def split_paragraphs(paragraphs: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Join paragraphs into messages under ``limit``, breaking only between paragraphs.

    A single paragraph longer than the limit is broken between words: never inside a
    word or an HTML tag (paragraphs here hold no tags spanning words).
    """
    pieces = [part for paragraph in paragraphs for part in _pack(paragraph.split(" "), " ", limit)]
    return _pack(pieces, "\n\n", limit)


def _pack(pieces: list[str], separator: str, limit: int) -> list[str]:
    """Greedily join ``pieces`` with ``separator`` into chunks of at most ``limit`` characters."""
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current}{separator}{piece}" if current else piece
        if len(candidate) <= limit or not current:
            current = candidate
        else:
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def letter_messages(turn: Turn, signed_count: int) -> list[str]:
    """The background and the letter in the user's language, ready to send in order."""
    t = turn.t
    campaign = turn.services.campaign
    letter = campaign.letter
    background = [f"<b>{t.plain(campaign.title)}</b>", *(t.plain(p) for p in campaign.background)]
    heading = t.gettext("The letter")
    body = [
        f"<b>{heading}</b>",
        f"<i>{t.plain(letter.salutation)}</i>",
        *(t.plain(p) for p in letter.paragraphs),
        *(f"• {t.plain(d)}" for d in letter.demands),
        t.plain(letter.closing),
        progress(turn, signed_count),
    ]
    return [*split_paragraphs(background), *split_paragraphs(body)]


def progress(turn: Turn, signed_count: int) -> str:
    t = turn.t
    # Translators: {n} is the number of signatures, already formatted (e.g. 12,345); shown in bold, followed by “ — goal …”.
    signed = t.ngettext("{n} person has signed", "{n} people have signed", signed_count)
    # Translators: after “{n} people have signed — ”; {goal} is a number such as 100,000.
    goal = t.gettext("goal {goal}", goal=turn.services.campaign.goal)
    return f"<b>{signed}</b> — {goal}"


def send_letter(turn: Turn, signed_count: int, *, can_sign: bool) -> None:
    """Send the case and the letter; the last message carries the button to sign."""
    messages = letter_messages(turn, signed_count)
    for text in messages[:-1]:
        turn.send(text)
    # Translators: button label, at most 40 characters (longer labels are cut on phones); under the letter, starts signing.
    buttons = rows(button(turn.t.gettext("✍️ Sign the letter"), SIGN)) if can_sign else ()
    turn.send(messages[-1], buttons)
