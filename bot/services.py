"""Settings → services: the database and the conversation-state store, built one way.

The running bot (``bot.app``) and the command line's sender (``bot.broadcasting``)
both build their services here, so neither has to import the other to get them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from storage.db import Database

if TYPE_CHECKING:
    from bot.settings import Settings
    from handlers.turn import Services
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


def make_database(settings: Settings, *, pool_size: int | None = None) -> Database:
    """One connection per update that may run at once (the bot); a command line needs fewer."""
    return Database(settings.database_url, pool_size=pool_size or settings.max_concurrent_updates)


async def load_receipt_key(settings: Settings, db: Database) -> bytes:
    """The receipt secret: ``RECEIPT_SECRET``, else the one generated into the database."""
    from storage import receipts

    secret = settings.receipt_secret
    return await receipts.load_key(db, secret.get_secret_value() if secret else None)


def make_services(settings: Settings, db: Database, *, bot_username: str, receipt_key: bytes | None = None) -> Services:
    """The ``Services`` the steps use, built from settings as the bot's core builds them, for
    work outside the conversation (the sender, the command line): a memory state store, since
    no conversation runs there. Without ``receipt_key`` a key of this process only is used
    (fine for rendering messages, never for issuing receipts)."""
    from handlers.core import build_services
    from storage.state_memory import MemoryStateStore

    return build_services(
        store=MemoryStateStore(),
        db=db,
        campaign=settings.campaign,
        campaigns_dir=settings.campaigns_dir,
        default_locale=settings.default_locale,
        admin_ids=settings.admin_ids,
        bot_username=bot_username,
        receipt_key=receipt_key,
        campaign_end=settings.campaign_end,
        retention_days=settings.retention_days,
        milestones=settings.milestones,
        flood_limit=settings.flood_limit,
        translation_threshold=settings.translation_threshold,
    )
