"""``/start``: where people arrive, often from a shared link carrying its source."""

from __future__ import annotations

import re

from handlers import language
from handlers.i18n import language_name
from handlers.turn import Turn, button, rows

SOURCE = re.compile(r"[A-Za-z0-9_-]{1,64}")
READ = "read"  # callback data: show the background and the letter


def remember_source(turn: Turn) -> None:
    """Keep the first valid deep-link payload; junk is ignored, never an error."""
    payload = turn.event.args.strip()
    if turn.state.source is None and SOURCE.fullmatch(payload):
        turn.state.source = payload


def detect_language(turn: Turn) -> None:
    if not turn.state.locale_chosen:
        turn.state.locale = language.detected_locale(turn)


async def show(turn: Turn) -> None:
    t = turn.t
    campaign = turn.services.campaign
    text = "\n\n".join(
        [
            f"<b>{t.plain(campaign.title)}</b>",
            # Translators: {organisation} is the organisation's name, “Amnesty International”.
            t.gettext(
                "Welcome! Here you can read {organisation}'s letter in your language and add your name to it.",
                organisation=campaign.organisation,
            ),
            # Translators: {language} is a language's name in itself, e.g. “Deutsch”.
            t.gettext("The letter is shown in {language}.", language=language_name(t.locale)),
        ]
    )
    buttons = rows(
        # Translators: button label, at most 40 characters (longer labels are cut on phones); opens the letter.
        button(t.gettext("📖 Read the letter"), READ),
        # Translators: button label, at most 40 characters (longer labels are cut on phones); opens the language list.
        button(t.gettext("🌐 Change language"), language.OPEN),
    )
    turn.answer()
    turn.show(text, buttons)
