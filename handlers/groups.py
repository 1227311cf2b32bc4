"""Group chats: the bot is quiet there, so nobody can make it flood a group.

It answers only ``/verify`` (anyone may check a receipt shared in a group) and commands
addressed to it by name (``/start@thisbot``, as Telegram writes a command picked from the
menu), the latter with a short pointer to a private chat, where signing happens. All of
that at most ``PER_MINUTE`` times a minute per group; beyond it, and for everything else
(``/start`` without the bot's name, which may be meant for another bot; text, media,
edits, forwards), it says nothing. A pressed button (only old messages can carry one) is
answered with no text: the client's spinner stops, nothing appears. Nothing is stored
about anyone in a group (``handlers.core`` keeps no state there).
"""

from __future__ import annotations

import logging

from handlers import verify
from handlers.events import EventKind
from handlers.replies import Button
from handlers.turn import Turn

log = logging.getLogger(__name__)

WINDOW = 60  # seconds
PER_MINUTE = 5  # answers per group per window, /verify and the pointer together


async def step(turn: Turn) -> None:
    event = turn.event
    if event.kind is EventKind.BUTTON:
        turn.answer()  # no text: the spinner stops and nothing is shown
        return
    if event.kind is not EventKind.COMMAND or event.forwarded:
        return  # text, media, edits, someone else's forwarded words: not for the bot
    if event.command != "verify" and not event.addressed:
        return  # "/start" without "@botname": it may be meant for another bot in the group
    if await turn.services.store.hit(f"group-answers:{event.chat.id}", WINDOW) > PER_MINUTE:
        log.info("update %s: group over %d answers a minute: silent", event.update_id, PER_MINUTE)
        return
    if event.command == "verify":
        await verify.check(turn)  # with its own limits against guessing, as in a private chat
    else:
        point_to_private_chat(turn)


def point_to_private_chat(turn: Turn) -> None:
    """The one answer to a command addressed to the bot in a group: signing is private."""
    link = f"https://t.me/{turn.services.bot_username}?start=group"
    turn.send(
        turn.t.gettext("To read the letter and sign it, please open a private chat with me."),
        # Translators: button label, at most 40 characters (longer labels are cut on phones); shown in group chats.
        ((Button(text=turn.t.gettext("Open a private chat"), url=link),),),
    )
