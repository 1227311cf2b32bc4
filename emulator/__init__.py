"""A local Telegram Bot API: a bot talks to it over HTTP as to api.telegram.org.

It validates every call against Telegram's published API (``api.json``) and
HTML rules, and simulates the users on the other side. undersign's tests, the
benchmark and the demo run the bot against it, and the translators' tools apply
its text rules, but it imports nothing of the bot: it is a program of its own
(``python -m emulator [--chat]``).

The public API is what this package exports (``Emulator``, the simulated
people and the records of what the bot did, ``run_terminal_chat``) and
``emulator.telegram_rules``, Telegram's text rules for tools that check text
without running the emulator. The other modules are its insides, importing
one way, top to bottom:

    __main__, terminal   the command line; a person chatting from a terminal
    emulator             ``Emulator``: owns the state and runs each call
                         (validate, faults, limits, dispatch, record)
    server, control      HTTP: the Bot API at /bot<token>/<method>, the control API at /_emulator
    botapi               the Bot API methods, acting on the chats and queues
    rules, html          Telegram's value and HTML rules (public face: telegram_rules)
    spec                 api.json: the shape of every method and type
    users                simulated people and chats
    updates, webhook     the getUpdates queue, webhook delivery with retries
    faults, limits       injected failures, Telegram's sending limits
    objects, errors      plain records, Telegram's error answers

A lower module that needs the emulator declares just what it needs as a
Protocol (``users.Hub``, ``botapi.State``, ``control.Controlled``,
``server.Served``) and ``Emulator`` hands itself in, so nothing imports upward.
"""

from emulator.emulator import BOT_USERNAME, DEFAULT_TOKEN, Emulator
from emulator.errors import ApiError
from emulator.limits import RateViolation
from emulator.objects import (
    BotMessage,
    ButtonView,
    CallbackAnswer,
    CallRecord,
    Rejection,
    TranscriptEntry,
    UploadedFile,
    format_transcript,
)
from emulator.terminal import run_terminal_chat
from emulator.users import SimulatedGroup, SimulatedUser

__all__ = [
    "BOT_USERNAME",
    "DEFAULT_TOKEN",
    "ApiError",
    "BotMessage",
    "ButtonView",
    "CallRecord",
    "CallbackAnswer",
    "Emulator",
    "RateViolation",
    "Rejection",
    "SimulatedGroup",
    "SimulatedUser",
    "TranscriptEntry",
    "UploadedFile",
    "format_transcript",
    "run_terminal_chat",
]
