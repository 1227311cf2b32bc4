"""A local Telegram Bot API for undersign: the real bot talks to it over HTTP.

It validates every call against Telegram's published API (``api.json``) and
HTML rules, and simulates the users on the other side. Tests, the benchmark,
the demo and the translators' preview all run the bot against it.
"""

from emulator.emulator import Emulator
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
from emulator.users import SimulatedGroup, SimulatedUser

__all__ = [
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
]
