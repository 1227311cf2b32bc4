"""Neutral replies: what the conversation asks a runtime adapter to do.

Texts are Telegram HTML: every user-supplied value must be escaped with
``html.escape`` before it is put into one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Button:
    text: str
    callback_data: str | None = None
    url: str | None = None
    switch_inline_query: str | None = None


Keyboard = tuple[tuple[Button, ...], ...]


def inline_keyboard(keyboard: Keyboard) -> dict[str, Any]:
    """``keyboard`` as the Bot API's ``InlineKeyboardMarkup`` JSON (a button's unset fields left out)."""
    return {
        "inline_keyboard": [
            [
                {
                    "text": b.text,
                    **{
                        name: value
                        for name, value in (
                            ("callback_data", b.callback_data),
                            ("url", b.url),
                            ("switch_inline_query", b.switch_inline_query),
                        )
                        if value is not None
                    },
                }
                for b in row
            ]
            for row in keyboard
        ]
    }


@dataclass(frozen=True, slots=True)
class SendMessage:
    chat_id: int
    text: str
    buttons: Keyboard = ()


@dataclass(frozen=True, slots=True)
class EditMessage:
    chat_id: int
    message_id: int
    text: str
    buttons: Keyboard = ()


@dataclass(frozen=True, slots=True)
class AnswerCallback:
    callback_id: str
    text: str | None = None
    show_alert: bool = False


@dataclass(frozen=True, slots=True)
class SendDocument:
    chat_id: int
    path: Path
    filename: str
    caption: str = ""


@dataclass(frozen=True, slots=True)
class SendPhoto:
    chat_id: int
    photo: bytes
    filename: str = "chart.png"
    caption: str = ""


Reply = SendMessage | EditMessage | AnswerCallback | SendDocument | SendPhoto


@dataclass(slots=True)
class Delivered:
    """What a runtime reports back after delivering one reply."""

    message_id: int | None = None
    ok: bool = True
    error: str | None = None  # short description, never personal data
    extra: dict[str, object] = field(default_factory=dict)


# How the conversation hands a reply to Telegram: the runtime's side of the contract. A
# runtime needs only this module and ``handlers.events``, never the conversation itself.
Deliver = Callable[[Reply], Awaitable[Delivered]]
