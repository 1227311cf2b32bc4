"""The signatures and funnel counts as the conversation reads and changes them: signing,
withdrawing, opting in and out, an organiser's removal by receipt, a name's correction.

Every function takes the ``Database`` and runs its own short transaction, so a
handler never holds a connection across a Telegram round trip.

The three the signing conversation runs for every signer (``get_signature``,
``count_signatures``, ``add_signature``) use statements built once, on a plain connection
(SQLAlchemy Core): building a statement and an ORM session cost more CPU than the round
trip itself (0.74 -> 0.31 ms a lookup, bench/README.md).
"""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from storage import consents as contact_consents
from storage.db import Database
from storage.funnel import FunnelKey, add_counts
from storage.models import FunnelCount, ListDelivery, Signature, SignatureTally, StatCount
from storage.receipts import derive

FUNNEL_STEPS = ("started", "read", "consented", "signed", "withdrew", "removed")
"""The funnel steps the conversation counts; other ``[a-z_]`` names up to 16 characters are accepted."""

REFERRAL_CODE_BYTES = 6  # -> 8 URL-safe characters, 2**48 codes: collisions are retried, and rare
_MAX_ATTEMPTS = 5
_PROCESS_KEY = secrets.token_bytes(32)  # receipts of signatures added without the server's key
_COUNTRY_RE = re.compile(r"[A-Z]{2}")
NAME_FORMS = ("full", "first_initial", "initials")  # handlers.names.NameForm, widest first


class NameChange(enum.Enum):
    """What ``change_name`` did."""

    CHANGED = "changed"
    DELIVERED = "delivered"  # the list carrying it has been delivered: it stays as delivered
    NOT_SIGNED = "not_signed"
    MOVED = "moved"  # the stored name changed meanwhile (another tap): nothing done


class AlreadySigned(Exception):
    """This person has already signed this campaign; ``signature`` is the existing row."""

    def __init__(self, signature: Signature) -> None:
        when = signature.signed_at.isoformat()
        super().__init__(f"already signed campaign {signature.campaign!r} at {when}")
        self.signature = signature


def new_referral_code() -> str:
    """A short code for share links: 8 characters of ``[A-Za-z0-9_-]`` (Telegram's start-payload alphabet)."""
    return secrets.token_urlsafe(REFERRAL_CODE_BYTES)


def _check_lengths(**values: tuple[str, int]) -> None:
    """Refuse what PostgreSQL would refuse, on SQLite too (it does not enforce lengths)."""
    for field, (value, limit) in values.items():
        if len(value) > limit:
            raise ValueError(f"{field} must be at most {limit} characters")


_signatures = cast("Table", Signature.__table__)
_GET = select(_signatures).where(
    _signatures.c.campaign == bindparam("campaign"), _signatures.c.telegram_user_id == bindparam("user_id")
)
_TOTAL = select(
    select(func.coalesce(func.sum(StatCount.count), 0))
    .where(StatCount.campaign == bindparam("campaign"), StatCount.dimension == "day")
    .scalar_subquery()
    + select(func.coalesce(func.sum(SignatureTally.count), 0))
    .where(SignatureTally.campaign == bindparam("campaign"))
    .scalar_subquery()
)
_ADD = insert(_signatures).returning(_signatures.c.id)
_CREDIT_SHARER = (
    update(_signatures)
    .where(
        _signatures.c.campaign == bindparam("of_campaign"),  # an UPDATE's own names are its columns'
        _signatures.c.referral_code == bindparam("referrer"),
        _signatures.c.telegram_user_id != bindparam("newcomer"),
    )
    .values(referrals=_signatures.c.referrals + 1)
)


async def count_signatures(db: Database, campaign: str) -> int:
    """Everyone who has signed: the current rows (as the database's kept counts have them,
    ``StatCount``'s days: a few rows read, not every signature) plus the anonymous tallies a
    purge left in place of the rows it erased after the retention period (one statement:
    one snapshot)."""
    async with db.reader.connect() as connection:
        total = await connection.scalar(_TOTAL, {"campaign": campaign})
    return int(total or 0)


async def get_signature(db: Database, campaign: str, user_id: int) -> Signature | None:
    """This person's signature under this campaign (detached: read it, change it through
    this module's functions)."""
    async with db.reader.connect() as connection:
        row = (await connection.execute(_GET, {"campaign": campaign, "user_id": user_id})).first()
    return None if row is None else Signature(**row._mapping)


async def campaigns_signed(db: Database, user_id: int) -> list[str]:
    """The campaigns this person has signed (slugs), in the order they signed them."""
    async with db.reader.connect() as connection:
        result = await connection.execute(
            select(Signature.campaign).where(Signature.telegram_user_id == user_id).order_by(Signature.signed_at)
        )
        return [row[0] for row in result]


async def find_by_referral(db: Database, campaign: str, code: str) -> Signature | None:
    async with db.session() as session:
        return await session.scalar(
            select(Signature).where(Signature.campaign == campaign, Signature.referral_code == code)
        )


async def add_signature(
    db: Database,
    *,
    campaign: str,
    user_id: int,
    name: str,
    country: str,
    language: str,
    source: str | None,
    opt_in: bool,
    letter_version: str,
    consent_version: str,
    receipt_key: bytes | None = None,
    referrer: str | None = None,
    name_form: str = "full",
    consents: Sequence[contact_consents.Given] = (),
) -> Signature:
    """Store a signature; raise ``AlreadySigned`` if this person has signed this campaign.

    The unique constraint (campaign, user) decides, not a prior SELECT: two
    concurrent taps (or two workers handling a re-delivered update) produce one
    row and one ``AlreadySigned``. ``referrer`` is the referral code of the signer
    whose share link brought this person: in the same transaction, that signer's
    ``referrals`` count goes up by one (if they still have a signature in this
    campaign and are not this person), so a second tap, which fails on the
    constraint, counts nothing. The code itself is stored nowhere.

    ``consents`` (contact beyond the letter, as ticked on the consent screen) are recorded in
    the same transaction: a signature is never stored without the choices made with it.

    ``receipt_key`` is the receipt secret (``storage.receipts.load_key``); without
    it (tests, seeding) a key of this process only is used. The values are expected
    to be validated by the conversation already; only what the schema cannot hold
    is refused here.
    """
    if not name or len(name) > 200:
        raise ValueError("name must be 1-200 characters")
    if not _COUNTRY_RE.fullmatch(country):
        raise ValueError("country must be an ISO 3166-1 alpha-2 code such as 'DE'")
    if name_form not in NAME_FORMS:
        raise ValueError(f"name_form must be one of {', '.join(NAME_FORMS)}")
    _check_lengths(
        campaign=(campaign, 64),
        language=(language, 16),
        source=(source or "", 64),
        letter_version=(letter_version, 64),
        consent_version=(consent_version, 64),
    )
    for attempt in range(_MAX_ATTEMPTS):
        signed_at = datetime.now(UTC)
        values: dict[str, Any] = {
            "campaign": campaign,
            "telegram_user_id": user_id,
            "name": name,
            "name_form": name_form,
            "country": country,
            "language": language,
            "source": source or None,
            "referral_code": new_referral_code(),
            "opt_in": opt_in,
            "signed_at": signed_at,
            "letter_version": letter_version,
            "consent_version": consent_version,
            "receipt": derive(receipt_key or _PROCESS_KEY, campaign, user_id, signed_at, attempt),
            "referrals": 0,
        }
        try:
            async with db.engine.begin() as connection:
                # The new row first: a second tap fails here, before any credit.
                row_id = await connection.scalar(_ADD, values)
                if referrer:
                    await connection.execute(
                        _CREDIT_SHARER, {"of_campaign": campaign, "referrer": referrer, "newcomer": user_id}
                    )
                for statement in contact_consents.recording(user_id, campaign, consents, language=language):
                    await connection.execute(statement)
            return Signature(id=row_id, **values)
        except IntegrityError:
            # Either this person's row exists (the usual case) or, very rarely, the referral
            # code or the receipt collided or the existing row was withdrawn meanwhile: retry.
            existing = await get_signature(db, campaign, user_id)
            if existing is not None:
                raise AlreadySigned(existing) from None
    raise RuntimeError("could not store the signature after several attempts")


async def withdraw_signature(db: Database, campaign: str, user_id: int) -> bool:
    """Delete this person's signature (right to erasure), and the partner consents given with
    it; True if there was one."""
    async with db.transaction() as session:
        result = await session.execute(
            delete(Signature).where(Signature.campaign == campaign, Signature.telegram_user_id == user_id)
        )
        await session.execute(contact_consents.dropping_with_signature(user_id, campaign))
    erased = bool(cast("CursorResult[Any]", result).rowcount)
    if erased:
        await db.after_erasure()  # SQLite: no older copy of the row left in the write-ahead log
    return erased


async def bump_funnel(
    db: Database,
    *,
    campaign: str,
    step: str,
    language: str,
    source: str | None,
    day: date | None = None,
) -> None:
    """Add one to today's (UTC) anonymous count for this step, language and source, at once
    (the conversation gathers its counts in a ``storage.funnel.FunnelBuffer`` instead)."""
    key = FunnelKey(campaign, day or datetime.now(UTC).date(), step, language, source or "")
    await add_counts(db, {key: 1})


async def funnel_counts(db: Database, campaign: str) -> dict[str, int]:
    """Totals per step over all days, languages and sources."""
    async with db.session() as session:
        rows = await session.execute(
            select(FunnelCount.step, func.sum(FunnelCount.count))
            .where(FunnelCount.campaign == campaign)
            .group_by(FunnelCount.step)
        )
        return {step: int(total or 0) for step, total in rows}


async def set_opt_in(db: Database, campaign: str, user_id: int, on: bool) -> bool | None:
    """Turn this signer's news on or off: True if that changed it, False if it was already so,
    None if they have not signed. Turning news on also clears the unreachable mark, even when
    news was already on: they are talking to the bot, so it can reach them again."""
    mine = (Signature.campaign == campaign, Signature.telegram_user_id == user_id)
    async with db.transaction() as session:
        if on:
            await session.execute(
                update(Signature).where(*mine, Signature.unreachable_at.is_not(None)).values(unreachable_at=None)
            )
        result = await session.execute(update(Signature).where(*mine, Signature.opt_in != on).values(opt_in=on))
        if cast("CursorResult[Any]", result).rowcount:
            return True
        exists = await session.scalar(select(Signature.id).where(*mine))
    return None if exists is None else False


async def mark_reachable(db: Database, user_id: int) -> bool:
    """Clear the unreachable mark (set when an update found the bot blocked) on every signature
    of this person: they came back, and a block is the whole bot's, so updates of every letter
    may reach them again. True if there was a mark."""
    async with db.transaction() as session:
        result = await session.execute(
            update(Signature)
            .where(Signature.telegram_user_id == user_id, Signature.unreachable_at.is_not(None))
            .values(unreachable_at=None)
        )
    return bool(cast("CursorResult[Any]", result).rowcount)


async def remove_by_receipt(db: Database, campaign: str, code: str) -> bool:
    """Delete the signature with this (normalised) receipt: an organiser's removal. Its
    deliveries go with it (ON DELETE CASCADE), and the partner consents given with it. True if
    there was one."""
    async with db.transaction() as session:
        signer = await session.scalar(
            delete(Signature)
            .where(Signature.campaign == campaign, Signature.receipt == code)
            .returning(Signature.telegram_user_id)
        )
        if signer is not None:
            await session.execute(contact_consents.dropping_with_signature(signer, campaign))
    erased = signer is not None
    if erased:
        await db.after_erasure()
    return erased


async def change_name(
    db: Database,
    campaign: str,
    user_id: int,
    *,
    name: str,
    name_form: str,
    was: tuple[str, str] | None = None,
) -> NameChange:
    """Replace how this signer's name appears, only while their signature is not yet delivered.

    ``was`` is the (name, name_form) the new value was built from (a narrower form derived
    from what is stored): the change happens only if the row still holds exactly that, so
    two quick taps cannot narrow an already narrowed name again from a stale menu. One
    UPDATE decides, so a delivery recorded at the same moment either includes the old
    name (and the change is refused) or the new one.
    """
    if name_form not in NAME_FORMS:
        raise ValueError(f"name_form must be one of {', '.join(NAME_FORMS)}")
    if not name or len(name) > 200:
        raise ValueError("name must be 1-200 characters")
    mine = (Signature.campaign == campaign, Signature.telegram_user_id == user_id)
    async with db.transaction() as session:
        query = update(Signature).where(*mine, Signature.list_delivery_id.is_(None))
        if was is not None:
            query = query.where(Signature.name == was[0], Signature.name_form == was[1])
        result = await session.execute(query.values(name=name, name_form=name_form))
        changed = bool(cast("CursorResult[Any]", result).rowcount)
        if not changed:
            delivery = await session.execute(select(Signature.list_delivery_id).where(*mine))
            row = delivery.first()
    if changed:
        await db.after_erasure()  # the name as it was must not linger in SQLite's write-ahead log
        return NameChange.CHANGED
    if row is None:
        return NameChange.NOT_SIGNED
    return NameChange.DELIVERED if row[0] is not None else NameChange.MOVED


async def delivered_on(db: Database, delivery_id: int) -> date | None:
    """The day the list with this delivery id was handed to the addressees."""
    async with db.session() as session:
        return await session.scalar(select(ListDelivery.delivered_on).where(ListDelivery.id == delivery_id))
