"""A simulated person talking to the conversation core in-process: events in, replies out.

``InProcessUser`` is what the tests, ``i18n preview`` and ``i18n check`` drive the real
core with, without Telegram, a runtime or HTTP. Its vocabulary is the emulator's
``SimulatedUser`` (``send`` a text, ``press`` a button by its label, ``send_other``,
``forward``, ``edit_last``, ``last_message``), so a conversation reads the same in-process
and over HTTP; unlike it, each action returns the replies it brought at once, and a press
may name ``callback_data`` no message shows (a stale or crafted button, as a forged client
could send).

It lives beside the core, not in ``bot`` or the tests, so both may import it downward.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from dataclasses import dataclass, field

from handlers.core import Core
from handlers.events import Chat, Event, EventKind, User
from handlers.replies import Button, Delivered, EditMessage, Keyboard, Reply, SendMessage

# Update ids are unique across every simulated person: the core drops an update id it has seen.
_update_ids = itertools.count(1)


def new_update_id() -> int:
    """An update id no simulated person has used (for an update built by hand)."""
    return next(_update_ids)


@dataclass(slots=True)
class Exchange:
    """What the person did, and everything the bot answered to it."""

    action: str
    replies: list[Reply] = field(default_factory=list)
    failed: bool = False  # the core logged an error: the person saw the apology


class _Failures(logging.Handler):
    """Counts the errors the core logs (a failure the person only sees as an apology)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


class InProcessUser:
    """One person in a private chat with the bot (or, given ``chat``, in a group).

    ``settle=True`` waits for each action's follow-ups (an export), so what they deliver is
    part of that action's exchange (the preview's transcript); tests that look at a follow-up
    while it runs leave it False and call ``core.settle()`` themselves.
    """

    def __init__(self, core: Core, user: User, chat: Chat | None = None, *, settle: bool = False) -> None:
        self.core = core
        self.user = user
        self.chat = chat or Chat(id=user.id, type="private")
        self.settle = settle
        self.replies: list[Reply] = []  # everything the bot sent this person, in order
        self.exchanges: list[Exchange] = []  # one per action, when it is handled
        self._shown: dict[int, SendMessage] = {}  # message id -> the message as shown (edits applied)
        self._message_ids = itertools.count(100)
        self._failures = _Failures()

    # --- what the person does -------------------------------------------------------------

    async def send(self, text: str, chat: Chat | None = None) -> list[Reply]:
        """A text message; ``/command args`` (or ``/command@bot`` as groups write it) is a command."""
        if text.startswith("/"):
            command, _, args = text[1:].partition(" ")
            command, _, addressee = command.partition("@")
            event = self.event(
                EventKind.COMMAND, chat=chat, text=text, command=command.lower(), args=args, addressed=bool(addressee)
            )
        else:
            event = self.event(EventKind.TEXT, chat=chat, text=text)
        shown = text if len(text) <= 60 else f"{text[:57]}… ({len(text)} characters)"
        return await self.handle(event, shown)

    async def press(
        self,
        label: str | None = None,
        *,
        callback_data: str | None = None,
        message_id: int | None = None,
        chat: Chat | None = None,
    ) -> list[Reply]:
        """Press an inline button by its label (on the latest message showing it) or by its
        ``callback_data`` (shown or not)."""
        data, on, shown = self._button(label, callback_data)
        event = self.event(
            EventKind.BUTTON,
            chat=chat,
            callback_data=data,
            callback_id=f"cb{new_update_id()}",
            message_id=message_id if message_id is not None else on,
        )
        # Named as the person reads it: the label of a button on screen, else its data (an old button).
        return await self.handle(event, f"[presses {shown if shown is not None else data}]")

    async def send_other(self, kind: str, chat: Chat | None = None) -> list[Reply]:
        """A message that is not text: a sticker, a photo, a voice message…"""
        return await self.handle(self.event(EventKind.OTHER, chat=chat, content_type=kind), f"[sends a {kind}]")

    async def forward(self, text: str) -> list[Reply]:
        """Someone else's text message, forwarded into the chat."""
        return await self.handle(self.event(EventKind.TEXT, text=text, forwarded=True), "[forwards a message]")

    async def edit_last(self, text: str) -> list[Reply]:
        """An edit of one of the person's messages."""
        return await self.handle(self.event(EventKind.EDITED, text=text), "[edits a message]")

    def event(self, kind: EventKind, *, chat: Chat | None = None, **fields: object) -> Event:
        """An update from this person, for what the verbs above do not say (a forwarded command…)."""
        return Event(update_id=new_update_id(), kind=kind, chat=chat or self.chat, user=self.user, **fields)  # type: ignore[arg-type]

    async def handle(self, event: Event, action: str = "") -> list[Reply]:
        """Hand one update to the core; the replies to it (also when several are handled at once)."""
        exchange = Exchange(action or event.kind.value)

        async def deliver(reply: Reply) -> Delivered:
            exchange.replies.append(reply)
            self.replies.append(reply)
            return Delivered(message_id=self._show(reply))

        before = self._failures.count
        logger = logging.getLogger("handlers.core")
        logger.addHandler(self._failures)
        try:
            await self.core.handle(event, deliver)
            if self.settle:
                await self.core.settle()  # follow-ups (an export) deliver into this exchange too
        finally:
            logger.removeHandler(self._failures)
        exchange.failed = self._failures.count > before
        self.exchanges.append(exchange)
        return exchange.replies

    # --- what the person sees -------------------------------------------------------------

    @property
    def messages(self) -> list[SendMessage]:
        """The bot's messages in the chat, edits applied."""
        return list(self._shown.values())

    @property
    def last_message(self) -> SendMessage | None:
        return next(reversed(self._shown.values()), None)

    def buttons(self) -> list[str]:
        """The callback data (or URL) of the buttons on the latest message that has some."""
        for message in reversed(self._shown.values()):
            if message.buttons:
                return [b.callback_data or b.url or "" for row in message.buttons for b in row]
        return []

    def _show(self, reply: Reply) -> int:
        message_id = next(self._message_ids)
        if isinstance(reply, SendMessage):
            self._shown[message_id] = reply
        elif isinstance(reply, EditMessage) and reply.message_id in self._shown:
            shown = self._shown[reply.message_id]
            self._shown[reply.message_id] = dataclasses.replace(shown, text=reply.text, buttons=reply.buttons)
        return message_id

    def _button(self, label: str | None, callback_data: str | None) -> tuple[str, int, str | None]:
        """The callback data to send, the id of the message it is pressed on (1: none shows it)
        and the button's label (None: none shows it)."""
        if label is None and callback_data is None:
            raise ValueError("press() needs a button label or callback_data=")
        for message_id, message in reversed(self._shown.items()):
            for button in _flat(message.buttons):
                if (label is None or button.text == label) and (
                    callback_data is None or button.callback_data == callback_data
                ):
                    if button.callback_data is None:
                        raise ValueError(f"button {button.text!r} has no callback_data (url={button.url!r})")
                    return button.callback_data, message_id, button.text
        if callback_data is None:
            shown = [[b.text for b in _flat(m.buttons)] for m in self._shown.values() if m.buttons]
            raise LookupError(f"no button {label!r} in chat {self.chat.id}; buttons shown: {shown}")
        return callback_data, 1, None


def _flat(keyboard: Keyboard) -> list[Button]:
    return [button for row in keyboard for button in row]
