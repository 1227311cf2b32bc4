"""Chat with the bot from a terminal, as one simulated user.

Each bot message is printed as plain text with its inline buttons numbered;
typing a number presses that button of the latest message that has buttons,
anything else is sent as text. Input is read in a daemon thread so the event
loop (the emulator and, in the demo, the bot) keeps running while it waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import textwrap
import threading
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bidi import get_display

from emulator.emulator import Emulator
from emulator.objects import BotMessage
from emulator.users import SimulatedUser

HELP = (
    "Type a message or a /command. A number presses that button of the latest message with buttons.\n"
    ":sticker, :photo, :voice, :location, ... send other things; :user N talks as another person\n"
    "(id N: a second signer, say); :help shows this; :quit (or Ctrl-D) leaves."
)
# Direction marks and isolates: the bot wraps names and numbers in them for right-to-left
# languages; a terminal shows some of them as odd characters, so they are left out here.
_INVISIBLE = dict.fromkeys(map(ord, "\u200e\u200f\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d\u202e"))
QUIT = (":quit", ":q", ":exit")


def _has_rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(char) in ("R", "AL") for char in text)


def _right_to_left(text: str) -> bool:
    """Whether the paragraph reads right to left: its first strong character does."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL", "L"):
            return kind != "L"
    return False


def _read_lines(stream: TextIO, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
    """Thread body: forward each line to the loop; ``None`` at end of input."""
    try:
        for line in iter(stream.readline, ""):
            loop.call_soon_threadsafe(lines.put_nowait, line)
    except (OSError, ValueError):
        pass
    with contextlib.suppress(RuntimeError):  # the loop may already be closed
        loop.call_soon_threadsafe(lines.put_nowait, None)


def _size(data: bytes) -> str:
    return f"{len(data) / 1024:.1f} kB" if len(data) >= 1024 else f"{len(data)} bytes"


class TerminalChat:
    """One terminal conversation: prints the bot's messages, turns lines into user actions."""

    def __init__(
        self,
        user: SimulatedUser,
        output: TextIO,
        *,
        reply_wait: float,
        quiet: float,
        files: Path | None = None,
        width: int | None = None,
        emulator: Emulator | None = None,
        visual_order: bool = True,
    ) -> None:
        self.user = user
        # Most terminals print characters left to right as they come: right-to-left text is
        # reordered here (the Unicode Bidirectional Algorithm). A terminal that does it itself
        # (GNOME Terminal, Konsole, mlterm) gets the text as it is (``visual_order=False``).
        self.visual_order = visual_order
        self.emulator = emulator  # for :user N
        self.on_switch: Callable[[], None] | None = None  # set by run_terminal_chat: follow the new person
        self.output = output
        self.reply_wait = reply_wait
        self.quiet = quiet
        self.files = files  # where documents and photos the bot sends are saved
        self.width = width or shutil.get_terminal_size((100, 24)).columns
        self._seen = 0
        self._saved = 0
        self._news = asyncio.Event()

    def say(self, text: str) -> None:
        print(text.translate(_INVISIBLE), file=self.output, flush=True)

    def _say_wrapped(self, first: str, rest: str, text: str) -> None:
        """``text`` wrapped at word boundaries to the terminal's width, after ``first``, then
        indented; a right-to-left paragraph is wrapped as it is read, then each line shown in
        visual order, aligned right."""
        rtl = self.visual_order and _right_to_left(text)
        if not (rtl or (self.visual_order and _has_rtl(text))):
            lines = textwrap.wrap(
                text, self.width, initial_indent=first, subsequent_indent=rest, break_long_words=False
            )
            for line in lines or [first.rstrip()]:
                self.say(line)
            return
        room = max(self.width - len(first), 20)
        for number, line in enumerate(textwrap.wrap(text, room, break_long_words=False) or [""]):
            shown = get_display(line, base_dir="R" if rtl else "L").translate(_INVISIBLE)
            self.say((first if number == 0 else rest) + (shown.rjust(room) if rtl else shown))

    def _save(self, name: str, data: bytes) -> str:
        """Save what the bot sent; the path to show (nothing is saved without a folder)."""
        if self.files is None:
            return ""
        self.files.mkdir(parents=True, exist_ok=True)
        self._saved += 1
        path = self.files / f"{self._saved:02d}-{Path(name).name}"
        path.write_bytes(data)
        return f" saved to {path}"

    def show(self, message: BotMessage) -> None:
        """Print a bot message (or an edit) with its buttons numbered."""
        head = "bot (edited):" if message.edited else "bot:"
        body = message.text
        if message.document is not None:
            saved = self._save(message.document.filename, message.document.data)
            body = f"[document {message.document.filename}, {_size(message.document.data)}{saved}] {body}".rstrip()
        elif message.photo is not None:
            saved = self._save("photo.png", message.photo)
            body = f"[photo, {_size(message.photo)}{saved}] {body}".rstrip()
        indent = " " * (len(head) + 1)
        lines = body.splitlines() or [""]
        self._say_wrapped(f"{head} ", indent, lines[0])
        for line in lines[1:]:
            if line:
                self._say_wrapped(indent, indent, line)
            else:
                self.say("")
        number = 1
        for row in message.buttons:
            labels = []
            for button in row:
                target = f" -> {button.url}" if button.url else ""
                label = button.text
                if self.visual_order and _has_rtl(label):
                    label = get_display(label, base_dir="R" if _right_to_left(label) else "L")
                labels.append(f"[{number}] {label}{target}")
                number += 1
            self.say(indent + "  ".join(labels))

    def switch(self, argument: str) -> bool:
        """``:user N``: talk as person N from now on (created on first use)."""
        if not argument.isdigit():
            self.say("  (:user needs a number: :user 2 talks as a second person)")
            return True
        if self.emulator is None:
            self.say("  (this chat has one person only)")
            return True
        number = int(argument)
        self.user = self.emulator.user(number, first_name=f"Person {number}", language_code=self.user.language_code)
        self._seen = len(self.user.messages)
        self.say(f"  (now talking as Person {number}, id {number}; type /start to begin)")
        if self.on_switch is not None:
            self.on_switch()
        return True

    async def print_messages(self) -> None:
        """Background task: print every new bot message or edit as it arrives."""
        while True:
            message = await self.user.conversation.wait(timeout=3600)
            self.show(message)
            self._seen += 1
            self._news.set()

    async def settle(self) -> None:
        """Wait for the bot's reply to show up, then until it has been quiet for a moment."""
        seen = self._seen
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.reply_wait):
                while self._seen == seen:
                    self._news.clear()
                    await self._news.wait()
        while True:
            seen = self._seen
            await asyncio.sleep(self.quiet)
            if self._seen == seen:
                return

    def _button(self, number: int) -> tuple[BotMessage, str] | None:
        for message in reversed(self.user.messages):
            if message.buttons:
                flat = [button for row in message.buttons for button in row]
                if 1 <= number <= len(flat):
                    return message, flat[number - 1].text
                return None
        return None

    async def press(self, number: int) -> bool:
        """Press button ``number``; False when there was nothing to press."""
        found = self._button(number)
        if found is None:
            self.say(f"  (there is no button {number})")
            return False
        message, label = found
        button = message.button(label)
        if button is not None and button.callback_data is None:
            self.say(f"  (button {number} opens {button.url or 'something outside the chat'})")
            return False
        try:
            answer = await self.user.press(label, message_id=message.message_id, timeout=self.reply_wait + 2)
        except TimeoutError:
            self.say("  (the bot did not answer the button press)")
            return True
        if answer.text:
            self.say(f"  {'alert' if answer.show_alert else 'notice'}: {answer.text}")
        return True

    async def handle(self, line: str) -> bool:
        """Act on one input line; False when the user leaves."""
        text = line.strip()
        if not text:
            return True
        if text.lower() in QUIT:
            return False
        if text == ":help":
            self.say(HELP)
            return True
        if text.startswith(":user"):
            return self.switch(text[len(":user") :].strip())
        if text.isdigit():
            if not await self.press(int(text)):
                return True
        elif text.startswith(":"):
            try:
                await self.user.send_other(text[1:].strip().lower())
            except ValueError as error:
                self.say(f"  ({error})")
                return True
        else:
            await self.user.send(text)
        await self.settle()
        return True


async def run_terminal_chat(
    emu: Emulator,
    *,
    user_id: int = 1001,
    first_name: str = "You",
    last_name: str | None = None,
    username: str | None = None,
    language_code: str | None = "en",
    input_stream: TextIO | None = None,
    output: TextIO | None = None,
    reply_wait: float = 3.0,
    quiet: float | None = None,
    files: Path | None = None,
    width: int | None = None,
    visual_order: bool = True,
) -> None:
    """Chat with the bot as a simulated user until :quit, end of input or Ctrl-C; documents and
    photos the bot sends are saved in ``files``; right-to-left text is shown in visual order
    unless the terminal does that itself (``visual_order=False``).

    After each reply the chat waits until the bot has been ``quiet`` for a moment: 0.3 s for a
    person typing; 1 s for input from a file or a pipe, whose next line comes at once (a chart
    still being drawn would otherwise arrive after the next command, or after ``:user``)."""
    stream = input_stream or sys.stdin
    if quiet is None:
        quiet = 0.3 if stream.isatty() else 1.0
    user = emu.user(user_id, first_name=first_name, last_name=last_name, username=username, language_code=language_code)
    chat = TerminalChat(
        user,
        output or sys.stdout,
        reply_wait=reply_wait,
        quiet=quiet,
        files=files,
        width=width,
        emulator=emu,
        visual_order=visual_order,
    )
    bot_name = emu.bot_user.get("username", "the bot")
    chat.say(f"Chatting with @{bot_name} as {first_name} (id {user_id}, language {language_code or '-'}).")
    chat.say(HELP)
    chat.say("Type /start to begin.")
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    threading.Thread(target=_read_lines, args=(stream, loop, lines), name="terminal-input", daemon=True).start()
    printers = [loop.create_task(chat.print_messages())]

    def follow() -> None:  # a new person: print their messages instead
        printers[0].cancel()
        printers[0] = loop.create_task(chat.print_messages())

    chat.on_switch = follow
    try:
        while (line := await lines.get()) is not None:
            if not await chat.handle(line):
                break
    finally:
        printers[0].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await printers[0]
        chat.say("Bye.")
