"""What a simulated user sees: the bot's messages, their buttons, callback answers.

These are plain values handed to tests, the demo and the translators' preview;
they carry text as the user reads it (HTML already rendered to plain text) and
the HTML as the bot sent it, so both can be asserted on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file the bot uploaded (multipart part) or referred to by file_id/URL."""

    filename: str
    data: bytes
    content_type: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class ButtonView:
    """One inline button as the user sees it."""

    text: str
    callback_data: str | None = None
    url: str | None = None
    switch_inline_query: str | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ButtonView:
        return cls(
            text=str(raw.get("text", "")),
            callback_data=raw.get("callback_data"),
            url=raw.get("url"),
            switch_inline_query=raw.get("switch_inline_query"),
        )


@dataclass(slots=True)
class BotMessage:
    """A message the bot sent, with later edits applied.

    ``text`` is what the user reads: the message text, or the caption of a
    document or photo, after HTML parsing. ``html`` is the text as sent.
    """

    message_id: int
    chat_id: int
    text: str
    html: str
    buttons: list[list[ButtonView]] = field(default_factory=list)
    edited: bool = False
    document: UploadedFile | None = None
    photo: bytes | None = None
    caption: str | None = None
    date: int = 0
    deleted: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # the Message object Telegram returned

    @property
    def button_labels(self) -> list[str]:
        return [button.text for row in self.buttons for button in row]

    def button(self, label: str | None = None, *, callback_data: str | None = None) -> ButtonView | None:
        """The first button with this label (or callback data), if any."""
        for row in self.buttons:
            for button in row:
                if (label is not None and button.text == label) or (
                    callback_data is not None and button.callback_data == callback_data
                ):
                    return button
        return None

    def to_json(self) -> dict[str, Any]:
        """A JSON view for the control API."""
        body: dict[str, Any] = {
            "message_id": self.message_id,
            "chat_id": self.chat_id,
            "text": self.text,
            "html": self.html,
            "buttons": [[_button_json(b) for b in row] for row in self.buttons],
            "edited": self.edited,
            "deleted": self.deleted,
        }
        if self.caption is not None:
            body["caption"] = self.caption
        if self.document is not None:
            body["document"] = {"filename": self.document.filename, "size": self.document.size}
        if self.photo is not None:
            body["photo"] = {"size": len(self.photo)}
        return body


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    """One line of a conversation, in order: what the user did or what the bot showed.

    An edit by the bot is a new entry with ``edited=True``; a button press by the
    user is an entry with ``kind="press"`` and the button label as text.
    """

    who: Literal["user", "bot"]
    text: str
    buttons: tuple[tuple[str, ...], ...] = ()
    edited: bool = False
    message_id: int | None = None
    kind: str = "text"

    def to_json(self) -> dict[str, Any]:
        return {
            "who": self.who,
            "text": self.text,
            "buttons": [list(row) for row in self.buttons],
            "edited": self.edited,
            "message_id": self.message_id,
            "kind": self.kind,
        }


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """The bot's answerCallbackQuery: a toast (or alert) shown to the user."""

    text: str | None = None
    show_alert: bool = False
    url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "show_alert": self.show_alert, "url": self.url}


def _button_json(button: ButtonView) -> dict[str, Any]:
    body: dict[str, Any] = {"text": button.text}
    for name in ("callback_data", "url", "switch_inline_query"):
        value = getattr(button, name)
        if value is not None:
            body[name] = value
    return body


def format_transcript(entries: list[TranscriptEntry]) -> str:
    """A transcript as readable text, one entry per paragraph (for previews and failures)."""
    lines: list[str] = []
    for entry in entries:
        if entry.kind == "press":
            lines.append(f"user: [{entry.text}]")
            continue
        marker = " (edited)" if entry.edited else ""
        lines.append(f"{entry.who}{marker}: {entry.text}")
        for row in entry.buttons:
            lines.append("    " + "  ".join(f"[{label}]" for label in row))
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One Bot API call the bot made, with its answer (``result`` or the error)."""

    method: str
    params: dict[str, Any]
    ok: bool
    error_code: int | None = None
    description: str | None = None
    result: Any = None
    at: float = field(default_factory=time.monotonic)  # when the emulator answered (time.monotonic)
    in_webhook_answer: bool = False  # carried in the bot's answer to a webhook delivery, not a request of its own


@dataclass(frozen=True, slots=True)
class Rejection:
    """A call Telegram would refuse for its form (shape, types, limits, HTML): a bot bug."""

    method: str
    params: dict[str, Any]
    description: str
