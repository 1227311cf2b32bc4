"""Bot API update JSON → the neutral ``handlers.events.Event``: pure functions, no framework.

Both runtimes and both modes end here: the webhook hands over the JSON body as it came,
polling the raw JSON of each update getUpdates answered. So what makes an update *malformed*
(it can never be handled: logged once by ``update_id`` and dropped) is decided here too,
not by whichever framework happened to parse it: a field we read with the wrong type, or a
message whose ``date`` is no point in time (both frameworks refuse those when they parse).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from handlers.events import Chat, Event, EventKind, User


class Malformed(ValueError):
    """An update that can never become an event (its message names no field's content)."""


_COMMAND = re.compile(r"/(?P<name>[A-Za-z0-9_]{1,32})(?:@(?P<bot>[A-Za-z0-9_]{1,64}))?(?:\s+(?P<args>.*))?", re.S)

# Checked in this order: an animation also carries "document", a venue also "location".
_MEDIA = (
    "animation",
    "sticker",
    "photo",
    "video_note",
    "video",
    "voice",
    "audio",
    "document",
    "paid_media",
    "venue",
    "location",
    "contact",
    "poll",
    "dice",
    "game",
    "story",
    "invoice",
    "checklist",
)
_SERVICE = (
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "pinned_message",
    "successful_payment",
    "users_shared",
    "chat_shared",
    "write_access_allowed",
    "web_app_data",
    "video_chat_started",
    "video_chat_ended",
    "forum_topic_created",
)


def content_type(message: Mapping[str, Any]) -> str:
    """What a message carries, as the Bot API names it ("text", "sticker", "photo", ...)."""
    for key in _MEDIA:
        if message.get(key):
            return key
    if message.get("text") is not None:
        return "text"
    for key in _SERVICE:
        if message.get(key):
            return key
    return "unknown"


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise Malformed(f"{key} is missing or not an integer")
    return value


# The seconds a message's ``date`` may be: what a datetime holds (years 1 to 9999, a day's
# margin for time zones), as both frameworks make one of it when they parse.
_DATES = range(-62_135_596_800 + 86_400, 253_402_300_800 - 86_400)


def _date(message: Mapping[str, Any]) -> None:
    """A message's ``date`` is a point in time; we do not use it, but an update without one was
    never sent by Telegram."""
    if _int(message, "date") not in _DATES:
        raise Malformed("date out of range")


def _mapping(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise Malformed(f"{key} is not an object")
    return value


def _text(data: Mapping[str, Any], key: str) -> str | None:
    """A string field or None; anything else makes the update malformed.

    Without this check a ``first_name`` sent as an object would reach the core as its ``str()``.
    """
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise Malformed(f"{key} is not a string")
    return value


def _user(value: object) -> User | None:
    if not value:
        return None
    data = _mapping(value, "from")
    return User(
        id=_int(data, "id"),
        first_name=_text(data, "first_name") or "",
        last_name=_text(data, "last_name"),
        username=_text(data, "username"),
        language_code=_text(data, "language_code"),
    )


def _required_text(data: Mapping[str, Any], key: str) -> str:
    value = _text(data, key)
    if value is None:
        raise Malformed(f"{key} is missing")
    return value


def _chat(value: object) -> Chat:
    data = _mapping(value, "chat")
    return Chat(id=_int(data, "id"), type=_text(data, "type") or "private")


def event_from_update(data: Mapping[str, Any], bot_username: str | None = None) -> Event | None:
    """The neutral event for one update, or None for updates the core does not see.

    ``bot_username`` lets ``/cmd@otherbot`` (a command for another bot in a group)
    arrive as plain text instead of as our command, and marks ``/cmd@thisbot`` as
    ``addressed`` (compared case-insensitively): in groups the bot answers only those
    and ``/verify``. Without a username nothing counts as addressed to us.

    Raises ``Malformed`` for an update that can never be handled.
    """
    update_id = _int(data, "update_id")
    if "callback_query" in data:
        return _button(update_id, _mapping(data["callback_query"], "callback_query"))
    for key, edited in (
        ("message", False),
        ("channel_post", False),
        ("edited_message", True),
        ("edited_channel_post", True),
    ):
        if key in data:
            return _message(update_id, _mapping(data[key], key), edited, bot_username)
    return None


def _button(update_id: int, query: Mapping[str, Any]) -> Event:
    user = _user(query.get("from"))
    message = _mapping(query.get("message") or {}, "message")
    # A button on an inline-mode message has no chat: answer privately.
    private = Chat(id=user.id if user else 0, type="private")
    chat = _chat(message["chat"]) if "chat" in message else private
    return Event(
        update_id=update_id,
        kind=EventKind.BUTTON,
        chat=chat,
        user=user,
        callback_data=_text(query, "data") or "",
        callback_id=_required_text(query, "id"),
        message_id=message.get("message_id"),
        content_type="callback_query",
    )


def _message(update_id: int, message: Mapping[str, Any], edited: bool, bot_username: str | None) -> Event:
    _date(message)
    ctype = content_type(message)
    text = _text(message, "text" if ctype == "text" else "caption") or ""
    common: dict[str, Any] = {
        "update_id": update_id,
        "chat": _chat(message.get("chat")),
        "user": _user(message.get("from")),
        "text": text,
        "message_id": _int(message, "message_id"),
        "content_type": ctype,
        "forwarded": bool(message.get("forward_origin") or message.get("forward_date")),
    }
    if edited:
        return Event(kind=EventKind.EDITED, **common)
    if ctype != "text":
        return Event(kind=EventKind.OTHER, **common)
    match = _COMMAND.fullmatch(text)
    if match is None:
        return Event(kind=EventKind.TEXT, **common)
    addressee = match["bot"]
    addressed = bool(addressee and bot_username and addressee.lower() == bot_username.lower())
    if addressee and bot_username and not addressed:
        return Event(kind=EventKind.TEXT, **common)  # another bot's command: only text to us
    return Event(
        kind=EventKind.COMMAND,
        command=match["name"].lower(),
        args=(match["args"] or "").strip(),
        addressed=addressed,
        **common,
    )
