"""``python -m bot broadcast``'s sender: one broadcast sent from the command line, watched until done.

It runs the same ``Broadcaster`` as every bot process, on a Telegram connection of its
own (no polling); if a running bot holds the sender lease, that bot sends and this only
watches the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from storage.broadcasts import broadcast_counts, get_broadcast

if TYPE_CHECKING:
    from bot.broadcasting.sender import Broadcaster
    from bot.settings import Settings
    from storage.broadcasts import BroadcastCounts

WATCH_EVERY = 0.5  # seconds between progress reports of ``send_until_done``

Progress = Callable[["BroadcastCounts"], Awaitable[None] | None]


class TelegramUnreachable(Exception):
    """``send_until_done`` could not connect to Telegram (a bad token, the network): one
    secret-free line saying why; the broadcast stays queued for a running bot."""


async def send_until_done(settings: Settings, broadcast_id: int, on_progress: Progress) -> BroadcastCounts:
    """Send one broadcast from the command line and report its progress until it is finished.

    Opens its own connection to Telegram (no polling: a running bot keeps its updates) and
    runs a ``Broadcaster``; if a running bot holds the sender lease, that bot sends and this
    only watches the database. Returns the final counts (``done`` or ``cancelled``).
    Raises ``TelegramUnreachable`` if the connection to Telegram cannot be opened.
    """
    from bot.broadcasting.sender import Broadcaster
    from bot.runtimes import make_runtime
    from bot.services import load_receipt_key, make_database, make_services

    db = make_database(settings)
    runtime = make_runtime(
        settings.bot_runtime,
        token=settings.token,
        api_url=settings.telegram_api_url,
        max_concurrent_updates=settings.max_concurrent_updates,
    )
    broadcaster: Broadcaster | None = None
    try:
        try:
            info = await runtime.start()
        except Exception as error:
            from bot.logs import mask_secrets, mask_url

            first = (str(error).strip().splitlines() or [""])[0][:200]
            reason = f"{type(error).__name__}: {first}" if first else type(error).__name__
            raise TelegramUnreachable(
                mask_secrets(
                    f"getMe failed at TELEGRAM_API_URL {mask_url(settings.telegram_api_url)}: "
                    f"check BOT_TOKEN and the network ({reason})"
                )
            ) from None
        receipt_key = await load_receipt_key(settings, db)
        services = make_services(settings, db, bot_username=info.username, receipt_key=receipt_key)
        broadcaster = Broadcaster(services, runtime, rate=settings.broadcast_rate)
        broadcaster.start()
        while True:
            counts = await broadcast_counts(db, broadcast_id)
            reported = on_progress(counts)
            if inspect.isawaitable(reported):
                await reported
            current = await get_broadcast(db, broadcast_id)
            if current is None or current.status != "sending":
                counts = await broadcast_counts(db, broadcast_id)
                return counts
            await asyncio.sleep(WATCH_EVERY)
    finally:
        if broadcaster is not None:
            await broadcaster.stop(within=10.0)
        with contextlib.suppress(Exception):
            await runtime.close()
        await db.dispose()
