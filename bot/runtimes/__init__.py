"""Framework runtimes: aiogram 3 (default) and python-telegram-bot 22.

Each is imported only when chosen, so running one does not load the other.
"""

from __future__ import annotations

from typing import Any, Literal

from bot.runtimes.contract import (
    ALLOWED_UPDATES,
    BotCommand,
    BotInfo,
    Handler,
    Runtime,
    UpdateFailed,
)
from bot.runtimes.translation import event_from_update

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


def make_runtime(
    name: RuntimeName,
    *,
    token: str,
    api_url: str,
    max_concurrent_updates: int,
    request_timeout: float | None = None,
) -> Runtime:
    """The chosen runtime; ``request_timeout`` (seconds per Bot API call) defaults to the framework's."""
    options: dict[str, Any] = {
        "token": token,
        "api_url": api_url,
        "max_concurrent_updates": max_concurrent_updates,
        "request_timeout": request_timeout,
    }
    if name == "ptb":
        from bot.runtimes.ptb_runtime import PtbRuntime

        return PtbRuntime(**options)
    from bot.runtimes.aiogram_runtime import AiogramRuntime

    return AiogramRuntime(**options)
