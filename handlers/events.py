"""Neutral input events: what a runtime adapter turns a Telegram update into.

Nothing here knows aiogram or python-telegram-bot, so the whole conversation can
be exercised by unit tests without a network.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
    args: str = ""  # what follows the command, stripped
    callback_data: str | None = None  # for BUTTON
    callback_id: str | None = None  # for BUTTON: must always be answered
    message_id: int | None = None  # the user's message, or the message the button is on
    content_type: str = "text"  # "text", "sticker", "photo", "voice", ...
    forwarded: bool = False
