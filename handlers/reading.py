"""The case: the background, then the letter, in as few messages as Telegram allows.

On /start everything is one message in most languages (a few opening lines, the
background, the letter, how many have signed), with the buttons to sign and to change
the language under it; it is the one message a signer scrolls back to. A translation
too long for one message goes on in a second, breaking between paragraphs.
"""

from __future__ import annotations

from handlers import language
from handlers.turn import Turn, button, rows

SIGN = "sign"  # callback data: go on to sign

# Telegram allows 4,096 characters after parsing (tags do not count): keep some room so a
# translation a little longer than today's still fits.
MESSAGE_LIMIT = 4000


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


def letter_messages(turn: Turn, signed_count: int, opening: list[str] | None = None) -> list[str]:
    """The background and the letter in the user's language, under ``opening`` (if any),
    ready to send in order."""
    t = turn.t
    campaign = turn.campaign
    letter = campaign.letter
    heading = t.gettext("The letter")
    return split_paragraphs(
        [
            f"<b>{t.plain(campaign.title)}</b>",
            *(opening or []),
            *(t.plain(p) for p in campaign.background),
            f"<b>{heading}</b>",
            f"<i>{t.plain(letter.salutation)}</i>",
            *(t.plain(p) for p in letter.paragraphs),
            *(f"• {t.plain(d)}" for d in letter.demands),
            t.plain(letter.closing),
            progress(turn, signed_count),
        ]
    )


def progress(turn: Turn, signed_count: int) -> str:
    t = turn.t
    # Translators: {n} is the number of signatures, already formatted (e.g. 12,345); shown in bold, followed by “ — goal …”.
    signed = t.ngettext("{n} person has signed", "{n} people have signed", signed_count)
    # Translators: after “{n} people have signed — ”; {goal} is a number such as 100,000.
    goal = t.gettext("goal {goal}", goal=turn.campaign.goal)
    return f"<b>{signed}</b> — {goal}"


def send_letter(turn: Turn, signed_count: int, *, can_sign: bool, opening: list[str] | None = None) -> None:
    """Show the case and the letter: in place of the message whose button was pressed (the
    language picker, an older welcome), else as a new one; the last message carries the
    buttons to sign and to change the language."""
    t = turn.t
    messages = letter_messages(turn, signed_count, opening)
    buttons = rows(
        # Translators: button label, at most 40 characters (longer labels are cut on phones); under the letter, starts signing.
        *([button(t.gettext("✍️ Sign the letter"), SIGN)] if can_sign else []),
        # Translators: button label, at most 40 characters (longer labels are cut on phones); opens the language list.
        button(t.gettext("🌐 Change language"), language.OPEN),
    )
    for index, text in enumerate(messages):
        keyboard = buttons if index == len(messages) - 1 else ()
        if index == 0:
            turn.show(text, keyboard)
        else:
            turn.send(text, keyboard)
