"""Framework runtimes: aiogram 3 (default) and python-telegram-bot 22.

Each is imported only when chosen, so running one does not load the other.
"""

from __future__ import annotations

from typing import Literal

from bot.runtimes.base import (
    ALLOWED_UPDATES,
    BotCommand,
    BotInfo,
    Handler,
    Runtime,
    UpdateFailed,
    event_from_update,
)

RuntimeName = Literal["aiogram", "ptb"]

__all__ = [
    "ALLOWED_UPDATES",
    "BotCommand",
    "BotInfo",
    "Handler",
    "Runtime",
    "RuntimeName",
    "UpdateFailed",
    "event_from_update",
    "make_runtime",
]


def make_runtime(name: RuntimeName, *, token: str, api_url: str, max_concurrent_updates: int) -> Runtime:
    if name == "ptb":
        from bot.runtimes.ptb_runtime import PtbRuntime

        return PtbRuntime(token=token, api_url=api_url, max_concurrent_updates=max_concurrent_updates)
    from bot.runtimes.aiogram_runtime import AiogramRuntime

    return AiogramRuntime(token=token, api_url=api_url, max_concurrent_updates=max_concurrent_updates)
