"""Signatures stored straight in the database, for tests that need signers but not the conversation.

Everything but the person is an ordinary default (a German signer, English letter,
no source, no news), so a test names only what it is about.
"""

from __future__ import annotations

from storage.db import Database
from storage.models import Signature
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
) -> Signature:
    """Sign as ``user_id`` (named "Signer <id>" unless ``name`` is given)."""
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
    )
