"""Chat with the bot from a terminal, as one simulated user.

Each bot message is printed as plain text with its inline buttons numbered;
typing a number presses that button of the latest message that has buttons,
anything else is sent as text. Input is read in a daemon thread so the event
loop (the emulator and, in the demo, the bot) keeps running while it waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from typing import TextIO

from emulator.emulator import Emulator
from emulator.objects import BotMessage
from emulator.users import SimulatedUser

HELP = (
    "Type a message or a /command. A number presses that button of the latest message with buttons.\n"
    ":sticker, :photo, :voice, :location, ... send other things; :help shows this; :quit (or Ctrl-D) leaves."
)
QUIT = (":quit", ":q", ":exit")


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

    def __init__(self, user: SimulatedUser, output: TextIO, *, reply_wait: float, quiet: float) -> None:
        self.user = user
        self.output = output
        self.reply_wait = reply_wait
        self.quiet = quiet
        self._seen = 0
        self._news = asyncio.Event()

    def say(self, text: str) -> None:
        print(text, file=self.output, flush=True)

    def show(self, message: BotMessage) -> None:
        """Print a bot message (or an edit) with its buttons numbered."""
        head = "bot (edited):" if message.edited else "bot:"
        body = message.text
        if message.document is not None:
            body = f"[document {message.document.filename}, {_size(message.document.data)}] {body}".rstrip()
        elif message.photo is not None:
            body = f"[photo, {_size(message.photo)}] {body}".rstrip()
        indent = " " * (len(head) + 1)
        lines = body.splitlines() or [""]
        self.say(f"{head} {lines[0]}")
        for line in lines[1:]:
            self.say(f"{indent}{line}" if line else "")
        number = 1
        for row in message.buttons:
            labels = []
            for button in row:
                target = f" -> {button.url}" if button.url else ""
                labels.append(f"[{number}] {button.text}{target}")
                number += 1
            self.say(indent + "  ".join(labels))

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
    quiet: float = 0.3,
) -> None:
    """Chat with the bot as a simulated user until :quit, end of input or Ctrl-C."""
    user = emu.user(user_id, first_name=first_name, last_name=last_name, username=username, language_code=language_code)
    chat = TerminalChat(user, output or sys.stdout, reply_wait=reply_wait, quiet=quiet)
    bot_name = emu.bot_user.get("username", "the bot")
    chat.say(f"Chatting with @{bot_name} as {first_name} (id {user_id}, language {language_code or '-'}).")
    chat.say(HELP)
    chat.say("Type /start to begin.")
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    threading.Thread(
        target=_read_lines, args=(input_stream or sys.stdin, loop, lines), name="terminal-input", daemon=True
    ).start()
    printer = loop.create_task(chat.print_messages())
    try:
        while (line := await lines.get()) is not None:
            if not await chat.handle(line):
                break
    finally:
        printer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await printer
        chat.say("Bye.")
