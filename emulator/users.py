"""Simulated people and chats: what they send to the bot and what they see of it.

A ``Conversation`` is one chat as its members see it: the bot's messages (edits
applied), a transcript of everything in order, and an inbox of new bot messages
and edits that ``wait_message`` consumes in order. ``SimulatedUser`` and
``SimulatedGroup`` turn user actions into realistic updates and hand them to
the emulator through the small ``Hub`` protocol.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import re
import time
from dataclasses import replace
from typing import Any, Protocol

from emulator.objects import BotMessage, CallbackAnswer, TranscriptEntry

_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,64}(@[A-Za-z0-9_]{3,32})?")
_file_ids = itertools.count(1)


class Hub(Protocol):
    """What users need from the emulator: a way to post updates and to await answers."""

    def post_update(self, kind: str, payload: dict[str, Any], chat_id: int) -> int: ...

    def open_callback(self) -> tuple[str, asyncio.Future[CallbackAnswer]]: ...

    def expire_callback(self, query_id: str) -> None: ...


class Conversation:
    """One chat: the bot's messages as shown, the transcript, and the inbox of news."""

    def __init__(self, chat: dict[str, Any]) -> None:
        self.chat = chat
        self.id: int = chat["id"]
        self.bot_messages: dict[int, BotMessage] = {}
        self.message_ids: set[int] = set()
        self.transcript: list[TranscriptEntry] = []
        self.last_user_message: dict[str, Any] | None = None
        self._next_id = itertools.count(1)
        self._inbox: list[BotMessage] = []
        self._cursor = 0
        self._arrived = asyncio.Event()

    def next_message_id(self) -> int:
        message_id = next(self._next_id)
        self.message_ids.add(message_id)
        return message_id

    def record_user(self, text: str, message_id: int | None, *, kind: str = "text", edited: bool = False) -> None:
        self.transcript.append(TranscriptEntry("user", text, (), edited, message_id, kind))

    def bot_sent(self, message: BotMessage) -> None:
        self.bot_messages[message.message_id] = message
        self._notify(message, kind=_kind(message))

    def bot_edited(self, message: BotMessage) -> None:
        self._notify(message, kind=_kind(message))

    def bot_deleted(self, message_id: int) -> None:
        message = self.bot_messages.get(message_id)
        if message is not None:
            message.deleted = True
        self.message_ids.discard(message_id)

    def _notify(self, message: BotMessage, *, kind: str) -> None:
        labels = tuple(tuple(b.text for b in row) for row in message.buttons)
        self.transcript.append(TranscriptEntry("bot", message.text, labels, message.edited, message.message_id, kind))
        self._inbox.append(replace(message, buttons=[list(row) for row in message.buttons]))
        self._arrived.set()

    @property
    def visible(self) -> list[BotMessage]:
        return [message for message in self.bot_messages.values() if not message.deleted]

    def pending(self) -> int:
        """How many bot messages and edits arrived that nobody has waited for yet."""
        return len(self._inbox) - self._cursor

    async def wait(self, timeout: float) -> BotMessage:  # noqa: ASYNC109 - the contract's API
        """The next new bot message or edit, in order; ``TimeoutError`` after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while self._cursor >= len(self._inbox):
                self._arrived.clear()
                await self._arrived.wait()
        message = self._inbox[self._cursor]
        self._cursor += 1
        return message


def _kind(message: BotMessage) -> str:
    if message.document is not None:
        return "document"
    if message.photo is not None:
        return "photo"
    return "text"


def _file(prefix: str) -> dict[str, Any]:
    number = next(_file_ids)
    return {"file_id": f"{prefix}{number:08d}", "file_unique_id": f"U{prefix}{number}"}


def _content(kind: str, sender: dict[str, Any]) -> dict[str, Any]:
    """The message fields of a non-text message of ``kind`` (as a Telegram client would send)."""
    photo = [{**_file("AgAC"), "width": 320, "height": 240, "file_size": 10_000}]
    contents: dict[str, dict[str, Any]] = {
        "sticker": {
            "sticker": {
                **_file("CAAC"),
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": "👍",
            }
        },
        "photo": {"photo": photo},
        "voice": {"voice": {**_file("AwAC"), "duration": 3, "mime_type": "audio/ogg"}},
        "audio": {"audio": {**_file("CQAC"), "duration": 60}},
        "video": {"video": {**_file("BAAC"), "width": 640, "height": 480, "duration": 5}},
        "video_note": {"video_note": {**_file("DQAC"), "length": 240, "duration": 5}},
        "animation": {
            "animation": {**_file("CgAC"), "width": 320, "height": 240, "duration": 2},
            "document": {**_file("CgAC"), "file_name": "animation.mp4"},
        },
        "document": {"document": {**_file("BQAC"), "file_name": "file.pdf", "mime_type": "application/pdf"}},
        "location": {"location": {"latitude": 48.8566, "longitude": 2.3522}},
        "venue": {
            "venue": {
                "location": {"latitude": 48.8566, "longitude": 2.3522},
                "title": "Somewhere",
                "address": "1 Main Street",
            }
        },
        "contact": {
            "contact": {
                "phone_number": "+15550100",
                "first_name": sender["first_name"],
                "user_id": sender["id"],
            }
        },
        "dice": {"dice": {"emoji": "🎲", "value": 4}},
    }
    if kind not in contents:
        raise ValueError(f"unknown message kind {kind!r}; one of: {', '.join(sorted(contents))}")
    return contents[kind]


def command_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command entity Telegram adds to a message starting with /command."""
    match = _COMMAND.match(text)
    if match is None:
        return []
    return [{"type": "bot_command", "offset": 0, "length": len(match.group(0).encode("utf-16-le")) // 2}]


class _ChatMember:
    """What people in one conversation can do there: send, edit, wait, press."""

    def __init__(self, hub: Hub, conversation: Conversation) -> None:
        self._hub = hub
        self.conversation = conversation

    @property
    def chat_id(self) -> int:
        return self.conversation.id

    @property
    def messages(self) -> list[BotMessage]:
        """The bot's messages currently in the chat (deleted ones gone, edits applied)."""
        return self.conversation.visible

    @property
    def last_message(self) -> BotMessage | None:
        visible = self.conversation.visible
        return visible[-1] if visible else None

    @property
    def transcript(self) -> list[TranscriptEntry]:
        return list(self.conversation.transcript)

    async def wait_message(self, timeout: float = 5.0) -> BotMessage:  # noqa: ASYNC109 - the contract's API
        """The next new bot message or edit in this chat (``TimeoutError`` if none comes)."""
        try:
            return await self.conversation.wait(timeout)
        except TimeoutError:
            raise TimeoutError(f"no message from the bot in chat {self.chat_id} within {timeout}s") from None

    async def wait_messages(self, n: int, timeout: float = 5.0) -> list[BotMessage]:  # noqa: ASYNC109
        """The next ``n`` bot messages or edits, within ``timeout`` seconds in total."""
        received: list[BotMessage] = []
        deadline = time.monotonic() + timeout
        while len(received) < n:
            remaining = deadline - time.monotonic()
            try:
                received.append(await self.conversation.wait(max(remaining, 0)))
            except TimeoutError:
                raise TimeoutError(
                    f"only {len(received)} of {n} bot messages arrived in chat {self.chat_id} within {timeout}s"
                ) from None
        return received

    def _message(self, sender: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        message_id = self.conversation.next_message_id()
        return {
            "message_id": message_id,
            "from": sender,
            "chat": self.conversation.chat,
            "date": int(time.time()),
            **fields,
        }

    def _post_message(self, sender: dict[str, Any], fields: dict[str, Any], *, label: str, kind: str) -> int:
        message = self._message(sender, fields)
        self.conversation.last_user_message = message
        self.conversation.record_user(label, message["message_id"], kind=kind)
        self._hub.post_update("message", message, self.chat_id)
        return int(message["message_id"])

    def _send_text(self, sender: dict[str, Any], text: str) -> int:
        fields: dict[str, Any] = {"text": text}
        entities = command_entities(text)
        if entities:
            fields["entities"] = entities
        return self._post_message(sender, fields, label=text, kind="text")

    def _send_other(self, sender: dict[str, Any], kind: str, caption: str | None = None) -> int:
        fields = _content(kind, sender)
        if caption is not None:
            fields["caption"] = caption
        return self._post_message(sender, fields, label=f"[{kind}]", kind=kind)

    def _forward(self, sender: dict[str, Any], text: str) -> int:
        origin = {
            "type": "user",
            "date": int(time.time()) - 3600,
            "sender_user": {"id": 777, "is_bot": False, "first_name": "Someone"},
        }
        return self._post_message(
            sender, {"text": text, "forward_origin": origin}, label=f"[forwarded] {text}", kind="forward"
        )

    def _edit_last(self, text: str) -> int:
        last = self.conversation.last_user_message
        if last is None or "text" not in last:
            raise LookupError("there is no text message of the user to edit")
        edited = {**last, "text": text, "edit_date": int(time.time())}
        edited.pop("entities", None)
        entities = command_entities(text)
        if entities:
            edited["entities"] = entities
        self.conversation.last_user_message = edited
        self.conversation.record_user(text, last["message_id"], edited=True)
        self._hub.post_update("edited_message", edited, self.chat_id)
        return int(last["message_id"])

    def _find_button(
        self, label: str | None, callback_data: str | None, message_id: int | None
    ) -> tuple[BotMessage, str, str]:
        """The message, label and callback data of the button to press."""
        if label is None and callback_data is None:
            raise ValueError("press() needs a button label or callback_data=")
        if message_id is not None:
            message = self.conversation.bot_messages.get(message_id)
            candidates = [message] if message is not None and not message.deleted else []
        else:
            candidates = list(reversed(self.conversation.visible))
        for message in candidates:
            button = message.button(label, callback_data=callback_data)
            if button is None:
                continue
            if button.callback_data is None:
                raise ValueError(f"button {button.text!r} has no callback_data (url={button.url!r})")
            return message, button.text, button.callback_data
        shown = [m.button_labels for m in candidates if m.buttons]
        wanted = repr(label) if label is not None else f"callback_data={callback_data!r}"
        raise LookupError(f"no button {wanted} in chat {self.chat_id}; buttons shown: {shown}")

    async def _press(
        self,
        sender: dict[str, Any],
        label: str | None,
        callback_data: str | None,
        message_id: int | None,
        timeout: float,  # noqa: ASYNC109 - a bound on the bot's answer, part of the contract
    ) -> CallbackAnswer:
        message, text, data = self._find_button(label, callback_data, message_id)
        query_id, answered = self._hub.open_callback()
        query = {
            "id": query_id,
            "from": sender,
            "message": copy.deepcopy(message.raw),
            "chat_instance": str(abs(self.chat_id) * 7919 + 4_000_000_000),
            "data": data,
        }
        self.conversation.record_user(text, message.message_id, kind="press")
        self._hub.post_update("callback_query", query, self.chat_id)
        try:
            return await asyncio.wait_for(answered, timeout)
        except TimeoutError:
            self._hub.expire_callback(query_id)
            raise TimeoutError(f"the bot did not answer the press on {text!r} within {timeout}s") from None


class SimulatedUser(_ChatMember):
    """A Telegram user in a private chat with the bot (chat id == user id)."""

    def __init__(
        self,
        hub: Hub,
        conversation: Conversation,
        user_id: int,
        *,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        is_premium: bool = False,
    ) -> None:
        super().__init__(hub, conversation)
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.is_premium = is_premium
        self.blocked = False
        self.started = False

    def to_json(self) -> dict[str, Any]:
        """The Telegram User object of this person."""
        body: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            body["last_name"] = self.last_name
        if self.username:
            body["username"] = self.username
        if self.language_code:
            body["language_code"] = self.language_code
        if self.is_premium:
            body["is_premium"] = True
        return body

    def block(self) -> None:
        """Block the bot: every send to this user answers 403 until ``unblock``."""
        self.blocked = True

    def unblock(self) -> None:
        self.blocked = False

    async def send(self, text: str) -> int:
        """Send a text message (a /command gets its bot_command entity); the message id."""
        self.started = True
        return self._send_text(self.to_json(), text)

    async def send_sticker(self) -> int:
        return await self.send_other("sticker")

    async def send_photo(self, caption: str | None = None) -> int:
        return await self.send_other("photo", caption=caption)

    async def send_other(self, kind: str, *, caption: str | None = None) -> int:
        """Send a non-text message: sticker, photo, voice, audio, video, video_note,
        animation, document, location, venue, contact or dice."""
        self.started = True
        return self._send_other(self.to_json(), kind, caption)

    async def forward(self, text: str) -> int:
        """Forward someone else's text message into the chat (``forward_origin`` set)."""
        self.started = True
        return self._forward(self.to_json(), text)

    async def edit_last(self, text: str) -> int:
        """Edit the user's last text message (an ``edited_message`` update)."""
        return self._edit_last(text)

    async def press(
        self,
        label: str | None = None,
        *,
        callback_data: str | None = None,
        message_id: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a bound on the bot's answer, part of the contract
    ) -> CallbackAnswer:
        """Press an inline button, by label or callback data, on the latest bot message that
        has it (or on ``message_id``); wait for the bot's answerCallbackQuery and return it."""
        return await self._press(self.to_json(), label, callback_data, message_id, timeout)


class SimulatedGroup(_ChatMember):
    """A group or supergroup with the bot in it; members act through ``send(user, ...)``."""

    def __init__(self, hub: Hub, conversation: Conversation, chat_id: int, title: str) -> None:
        super().__init__(hub, conversation)
        self.id = chat_id
        self.title = title

    async def send(self, user: SimulatedUser, text: str) -> int:
        return self._send_text(user.to_json(), text)

    async def send_other(self, user: SimulatedUser, kind: str) -> int:
        return self._send_other(user.to_json(), kind)

    async def press(
        self,
        user: SimulatedUser,
        label: str | None = None,
        *,
        callback_data: str | None = None,
        message_id: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a bound on the bot's answer, part of the contract
    ) -> CallbackAnswer:
        return await self._press(user.to_json(), label, callback_data, message_id, timeout)
