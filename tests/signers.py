"""Signatures stored straight in the database, for tests that need signers but not the conversation.

Everything but the person is an ordinary default (a German signer, English letter,
no source, no news), so a test names only what it is about.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy import select

from storage.consents import Given
from storage.db import Database
from storage.models import Broadcast, Signature
from storage.signatures import add_signature


async def add_signer(
    db: Database,
    user_id: int,
    *,
    name: str | None = None,
    campaign: str = "xinjiang",
    country: str = "DE",
    language: str = "en",
    source: str | None = None,
    opt_in: bool = False,
    letter_version: str = "v1",
    consent_version: str = "c1",
    consents: Sequence[Given] = (),
) -> Signature:
    """Sign as ``user_id`` (named "Signer <id>" unless ``name`` is given), with ``consents``
    ticked on the consent screen."""
    return await add_signature(
        db,
        campaign=campaign,
        user_id=user_id,
        name=name or f"Signer {user_id}",
        country=country,
        language=language,
        source=source,
        opt_in=opt_in,
        letter_version=letter_version,
        consent_version=consent_version,
        consents=consents,
    )


async def broadcasts_finished(database_url: str, *, within: float = 30) -> None:
    """Wait until at least one broadcast exists and none is still sending.

    A finished broadcast has no delivery pending, claimed or in flight: every message it
    sends has reached the emulator. So a test counting messages after this sees the final
    count (a duplicate would already be there), with no fixed sleep to guess how long.
    """
    db = Database(database_url)
    try:
        async with asyncio.timeout(within):
            while True:
                async with db.session() as session:
                    statuses = list(await session.scalars(select(Broadcast.status)))
                if statuses and "sending" not in statuses:
                    return
                await asyncio.sleep(0.05)
    finally:
        await db.dispose()
