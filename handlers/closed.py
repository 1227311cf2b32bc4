"""After a campaign's end (its file's ``ends``; ``CAMPAIGN_END`` for the home campaign) no new
signatures are collected for it.

The letter can still be read, and signers keep /mysignature, /verify, /withdraw and
/updates; only the signing inputs (the Sign button, the consent, a typed name or country,
the review's buttons) are answered with one kind message instead. Answers given before
the end are forgotten: nothing about a person is kept for a closed campaign.
"""

from __future__ import annotations

from datetime import date

from handlers.i18n import Translator
from handlers.turn import Turn


def is_closed(turn: Turn) -> bool:
    """True the day after the conversation's campaign ends (the end day itself still collects)."""
    return turn.services.is_closed(turn.campaign)


def text(t: Translator, end: date) -> str:
    # Translators: {date} is a date in this language's long format; keep “/mysignature”, “/verify” and “/withdraw”.
    return t.gettext(
        "This petition closed on {date}. Signatures are no longer collected. Thank you for caring — you can still "
        "read the letter, and signers can still use /mysignature, /verify and /withdraw.",
        date=end,
    )


def explain(turn: Turn) -> None:
    """Answer a signing input after the end, and forget the answers given so far (where the
    person goes next is the map's decision, ``handlers.conversation``)."""
    state = turn.state
    state.name = state.country = state.name_form = None
    turn.answer()
    end = turn.services.end_of(turn.campaign)
    assert end is not None  # only called when closed
    turn.send(text(turn.t, end))
