"""Settings → services: the database and the conversation-state store, built one way.

The running bot (``bot.app``) and the command line's sender (``bot.broadcasting``)
both build their services here, so neither has to import the other to get them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from storage.db import Database

if TYPE_CHECKING:
    from bot.settings import Settings
    from storage.state import StateStore


def make_store(settings: Settings) -> StateStore:
    """Redis when ``REDIS_URL`` is set (shared by every worker), else memory (one process)."""
    if settings.redis_url:
        from storage.state_redis import RedisStateStore

        return RedisStateStore(
            settings.redis_url,
            prefix=settings.redis_prefix,
            max_connections=settings.max_concurrent_updates + 16,  # + health checks and bursts
        )
    from storage.state_memory import MemoryStateStore

    return MemoryStateStore()


def make_database(settings: Settings) -> Database:
    """One connection per update that may run at once."""
    return Database(settings.database_url, pool_size=settings.max_concurrent_updates)
