"""Neutral input events: what a runtime adapter turns a Telegram update into.

Nothing here knows aiogram or python-telegram-bot, so the whole conversation can
be exercised by unit tests without a network.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

CAMPAIGN_TAG = "~"  # in a button's data, before the slug of the campaign it acts on


class EventKind(StrEnum):
    COMMAND = "command"  # a message starting with "/": command + args
    TEXT = "text"  # a plain text message
    BUTTON = "button"  # an inline button press (callback query)
    EDITED = "edited"  # an edited message (we never re-process edits)
    OTHER = "other"  # sticker, photo, voice, location, contact, ...: see content_type


@dataclass(frozen=True, slots=True)
class User:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclass(frozen=True, slots=True)
class Chat:
    id: int
    type: str  # "private", "group", "supergroup" or "channel"

    @property
    def is_private(self) -> bool:
        return self.type == "private"


@dataclass(frozen=True, slots=True)
class Event:
    update_id: int
    kind: EventKind
    chat: Chat
    user: User | None  # None for channel posts
    text: str = ""  # message text or caption; empty for buttons
    command: str | None = None  # lower case, without "/" and "@botname"
    # True when the command was written "/cmd@thisbot" (Telegram does so in groups when a member
    # picks a command from the menu). "/cmd@otherbot" never arrives as a command: it is TEXT.
    addressed: bool = False
    args: str = ""  # what follows the command, stripped
    callback_data: str | None = None  # for BUTTON
    callback_id: str | None = None  # for BUTTON: must always be answered
    message_id: int | None = None  # the user's message, or the message the button is on
    content_type: str = "text"  # "text", "sticker", "photo", "voice", ...
    forwarded: bool = False

    @property
    def action(self) -> str:
        """A pressed button's action: its data up to the first ":" ("cty:DE" -> "cty")."""
        return (self.callback_data or "").partition(CAMPAIGN_TAG)[0].partition(":")[0]

    @property
    def argument(self) -> str:
        """What a pressed button carries after its action ("cty:DE" -> "DE"); "" for none."""
        return (self.callback_data or "").partition(CAMPAIGN_TAG)[0].partition(":")[2]

    @property
    def campaign(self) -> str | None:
        """The campaign a button acts on whatever the conversation is about by then
        ("stopnews~writer" -> "writer"; ``handlers.turn.for_campaign``); None for the home one."""
        return (self.callback_data or "").partition(CAMPAIGN_TAG)[2] or None

    @property
    def sender(self) -> User | None:
        """Who this update is from, or None when it is nobody's.

        Telegram always sends ``from`` in a private chat, and a private chat's id is its user's
        id. An update without ``from``, or a private one whose chat is not its sender's, can only
        be forged (a leaked webhook secret is enough): it gets no state, no power and no answer.
        """
        if self.user is None:
            return None
        if self.chat.is_private and self.chat.id != self.user.id:
            return None
        return self.user
