"""Receipt codes: what a signer can read aloud, type, and check with ``/verify``.

A receipt is 8 characters of Crockford's base32 (digits and capitals without
I, L, O, U), shown as ``K7QF-2M9D`` and stored without the dash. It is the
HMAC-SHA256 of the campaign, the person's Telegram id and the moment of signing
under a server secret: without the secret it reveals nothing about the person
and cannot be predicted, and 40 bits (about 10¹² codes) make a guess land on one
of a million signatures about once per million tries, which ``/verify``'s rate
limit keeps out of reach. The unique constraint on the column settles the rare
collision: the next ``attempt`` derives another code.

The secret is ``RECEIPT_SECRET`` when set; otherwise one is generated on first
use and kept in the ``bot_secrets`` table, so every worker derives alike.

That generated secret is deleted by ``python -m bot purge`` once no signature
of any campaign is left (``forget_unused_key``): with it and an old list, a
receipt could be tied to a Telegram id by trying ids, and there is nothing left
to derive for. Receipts are stored, never derived again, so nothing needs it
afterwards. A new signature later (the bot still running, or a new campaign)
gets a receipt from a new secret, generated when the bot next starts; a bot
already running keeps its copy in memory (never on disk) until it restarts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, exists, select, update
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.models import BotSecret, Signature

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
LENGTH = 8
SECRET_NAME = "receipt_secret"  # noqa: S105 - the row's name, not a secret
# Crockford's decoding rules: the look-alikes a person may type for what they read.
_TYPOS = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = str.maketrans("", "", " -_.\u2010\u2011\u2012\u2013\u2014\u2212")
_BASE32_TO_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET)


def derive(key: bytes, campaign: str, user_id: int, signed_at: datetime, attempt: int = 0) -> str:
    """The receipt (no dash) for one signature; ``attempt`` > 0 after a collision."""
    message = f"{campaign}\x1f{user_id}\x1f{signed_at.isoformat()}\x1f{attempt}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.b32encode(digest[:5]).decode("ascii").translate(_BASE32_TO_CROCKFORD)


def display(code: str) -> str:
    """``K7QF2M9D`` → ``K7QF-2M9D``."""
    return f"{code[:4]}-{code[4:]}"


def normalise(typed: str) -> str | None:
    """What a person typed as a stored receipt, forgiving case, dashes, spaces, O/0 and I/L/1;
    None when it cannot be one (wrong length, other characters)."""
    code = typed.strip().upper().translate(_SEPARATORS).translate(_TYPOS)
    if len(code) != LENGTH or any(char not in ALPHABET for char in code):
        return None
    return code


async def load_key(db: Database, configured: str | None) -> bytes:
    """The receipt secret: ``RECEIPT_SECRET``, or the one generated once and kept in the database."""
    if configured:
        return configured.encode("utf-8")
    async with db.session() as session:
        stored = await session.scalar(select(BotSecret.value).where(BotSecret.name == SECRET_NAME))
    if stored is None:
        try:
            async with db.transaction() as session:
                session.add(BotSecret(name=SECRET_NAME, value=secrets.token_hex(32)))
        except IntegrityError:
            pass  # another worker generated it at the same moment: use theirs
        async with db.session() as session:
            stored = await session.scalar(select(BotSecret.value).where(BotSecret.name == SECRET_NAME))
    if stored is None:  # pragma: no cover - just inserted or found
        raise RuntimeError("the receipt secret could not be stored")
    return stored.encode("utf-8")


async def forget_unused_key(db: Database, *, dry_run: bool = False) -> bool:
    """Delete the generated secret if no signature of any campaign is left; True if it was
    (with ``dry_run``: would be) deleted. One statement, so a signature stored at the same
    moment either keeps it or was stored after it was gone (its receipt is then simply tied
    to no stored secret, which is the point)."""
    unused = BotSecret.name == SECRET_NAME, ~exists().where(Signature.id.is_not(None))
    if dry_run:
        async with db.session() as session:
            return await session.scalar(select(BotSecret.name).where(*unused)) is not None
    async with db.transaction() as session:
        result = await session.execute(delete(BotSecret).where(*unused))
    return bool(cast("CursorResult[Any]", result).rowcount)


async def backfill(db: Database, key: bytes, *, batch: int = 1000) -> int:
    """Give a receipt to every signature stored before receipts existed; how many got one."""
    done = 0
    while True:
        async with db.session() as session:
            rows = (
                await session.execute(
                    select(Signature.id, Signature.campaign, Signature.telegram_user_id, Signature.signed_at)
                    .where(Signature.receipt.is_(None))
                    .limit(batch)
                )
            ).all()
        if not rows:
            return done
        before = done
        for row in rows:
            for attempt in range(5):
                code = derive(key, row.campaign, row.telegram_user_id, row.signed_at, attempt)
                try:
                    async with db.transaction() as session:
                        await session.execute(update(Signature).where(Signature.id == row.id).values(receipt=code))
                    done += 1
                    break
                except IntegrityError:
                    continue
        if done == before:  # pragma: no cover - five collisions in a row for every row left
            raise RuntimeError("could not assign receipts to the remaining signatures")


async def find_in_campaigns(db: Database, campaigns: Iterable[str], code: str) -> Signature | None:
    """The current signature with this (normalised) receipt on the list of any of ``campaigns``
    (the live ones: a receipt names no campaign, and a person may have signed several)."""
    async with db.session() as session:
        return await session.scalar(
            select(Signature).where(Signature.campaign.in_(list(campaigns)), Signature.receipt == code).limit(1)
        )
