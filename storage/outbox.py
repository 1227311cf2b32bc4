"""The sending side of broadcasts: one sender at a time, and every outcome kept.

Several bot workers may run; only the one holding the ``broadcast-sender`` lease
sends (``acquire_lease`` takes it when it is free or expired and renews it while
held); a process first checks with a read (``has_work``) that there is anything to
send, so an idle bot writes nothing. Progress lives in the delivery rows, each moved
through short transactions so a crash loses at most what was in flight:

    pending --claim--> claimed --begin_sending--> sending --Telegram answers--> sent | blocked | failed | uncertain
       ^                  |                                                  \\-> pending again (retry later)
       \\--takeover/stop--/

``claim`` marks a few rows ``claimed`` inside the same transaction that checks and
extends the lease: a worker that lost the lease can claim nothing. Each row becomes
``sending`` (attempts + 1) in its own tiny transaction right before its request
(``begin_sending``); a row cancelled or taken back meanwhile is not sent. Whoever
takes the lease over puts the rows a dead holder left ``claimed`` back to
``pending`` (never handed to Telegram) and marks those left ``sending`` as
``uncertain`` (Telegram may or may not have delivered them): they are reported, never
sent again, so nobody gets a message twice, and at most the sender's concurrency
(a few requests) can end up uncertain. A graceful stop puts its claims back to
``pending`` too, so nobody is skipped.

Signers who opted out or became unreachable after the broadcast was created are
``skipped`` when their turn comes (on the organisation's list: people with no reachable
signature left); a withdrawn signature's or a revoked consent's rows are already gone
(ON DELETE CASCADE). A cancelled broadcast (``storage.broadcasts``) is never
claimed from again. Nothing here logs: the broadcaster logs by delivery and
broadcast ids, never names or Telegram ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, case, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.broadcasts import reachable_giver
from storage.db import Database
from storage.models import Broadcast, ContactConsent, Delivery, Lease, Signature, utcnow

LEASE_NAME = "broadcast-sender"
# Delivery statuses whose outcome is still open; a broadcast is done when none is left.
OPEN = ("pending", "claimed", "sending")
# A row may be recorded while ``sending``, or after a new lease holder marked it
# ``uncertain``: the answer that finally came is the truth.
RECORDABLE = ("sending", "uncertain")


@dataclass(frozen=True, slots=True)
class Recipient:
    """One claimed delivery: who gets it (a private chat) and in which language; its signature,
    or None for a member of the organisation's list."""

    delivery_id: int
    signature_id: int | None
    chat_id: int
    language: str
    attempts: int  # including the one about to be made


@dataclass(frozen=True, slots=True)
class Claim:
    """What ``claim`` got: ``held`` False when the lease is no longer ours; ``status`` the
    broadcast's (nothing is claimed unless it is ``sending``); ``skipped`` rows passed over."""

    held: bool
    status: str | None
    recipients: list[Recipient]
    skipped: int = 0


# --- the lease -------------------------------------------------------------------------------


async def acquire_lease(db: Database, holder: str, ttl: float, *, now: datetime | None = None) -> int | None:
    """Hold the sender lease for ``ttl`` more seconds: renew it if ours, take it if free or
    expired. None: another process holds it. Otherwise the number of deliveries that a
    previous holder left ``sending`` and that are now ``uncertain`` (0 on a renewal); its
    claims never handed to Telegram are pending again."""
    now = now or utcnow()
    until = now + timedelta(seconds=ttl)
    async with db.engine.begin() as session:
        renewed = await session.execute(
            update(Lease)
            .where(Lease.name == LEASE_NAME, Lease.holder == holder, Lease.expires_at > now)
            .values(expires_at=until)
        )
        if renewed.rowcount:
            return 0
        taken = await session.execute(
            update(Lease)
            .where(Lease.name == LEASE_NAME, Lease.expires_at <= now)
            .values(holder=holder, expires_at=until)
        )
        if not taken.rowcount:
            if await session.scalar(select(Lease.name).where(Lease.name == LEASE_NAME)) is not None:
                return None
            try:
                async with session.begin_nested():
                    await session.execute(insert(Lease).values(name=LEASE_NAME, holder=holder, expires_at=until))
            except IntegrityError:
                return None  # another worker created it at the same moment
        return await _take_over(session)


async def _take_over(session: AsyncConnection) -> int:
    """What the previous holder left: claims go back to pending (or cancelled, if the
    broadcast was), and rows ``sending`` become ``uncertain``: maybe delivered, so never
    sent again. Returns how many are uncertain."""
    for status, back in (("sending", "pending"), ("cancelled", "cancelled")):
        of = select(Broadcast.id).where(Broadcast.status == status)
        await session.execute(
            update(Delivery).where(Delivery.broadcast_id.in_(of), Delivery.status == "claimed").values(status=back)
        )
    unfinished = select(Broadcast.id).where(Broadcast.status != "done")
    result = await session.execute(
        update(Delivery)
        .where(Delivery.broadcast_id.in_(unfinished), Delivery.status == "sending")
        .values(status="uncertain", error="sender_stopped")
    )
    return int(result.rowcount)


async def release_lease(db: Database, holder: str) -> None:
    """Give the lease up (graceful stop), so another worker takes over at once."""
    async with db.engine.begin() as session:
        await session.execute(delete(Lease).where(Lease.name == LEASE_NAME, Lease.holder == holder))


async def lease_holder(db: Database, *, now: datetime | None = None) -> str | None:
    """Who holds an unexpired lease, if anyone."""
    now = now or utcnow()
    async with db.engine.connect() as session:
        return await session.scalar(select(Lease.holder).where(Lease.name == LEASE_NAME, Lease.expires_at > now))


# --- what to send ----------------------------------------------------------------------------


async def has_work(db: Database) -> bool:
    """Whether a sender is needed: a broadcast is sending, or a cancelled one still has rows
    ``sending`` (a dead holder's, to be marked uncertain). A read, cheap enough to run every
    second: an idle bot never writes the lease."""
    async with db.engine.connect() as session:
        sending = select(Broadcast.id).where(Broadcast.status == "sending").limit(1).exists()
        cancelled = select(Broadcast.id).where(Broadcast.status == "cancelled")
        left = (
            select(Delivery.id)
            .where(Delivery.broadcast_id.in_(cancelled), Delivery.status == "sending")
            .limit(1)
            .exists()
        )
        return bool(await session.scalar(select(or_(sending, left))))


async def next_broadcast(db: Database) -> Broadcast | None:
    """The oldest broadcast still sending."""
    async with db.session() as session:
        return await session.scalar(
            select(Broadcast).where(Broadcast.status == "sending").order_by(Broadcast.id).limit(1)
        )


async def claim(
    db: Database, broadcast_id: int, holder: str, limit: int, ttl: float, *, now: datetime | None = None
) -> Claim:
    """The next due pending deliveries of a broadcast (oldest first), marked ``claimed``, if
    the lease is still ours (it is extended by ``ttl`` meanwhile). ``begin_sending`` moves
    each to ``sending`` right before its request.

    The lease row is written first, so on PostgreSQL a takeover and a claim are serialised
    by its row lock and on SQLite by the write lock: a claim never lands after a new holder
    took the old claims back.
    """
    now = now or utcnow()
    async with db.engine.begin() as session:
        renewed = await session.execute(
            update(Lease)
            .where(Lease.name == LEASE_NAME, Lease.holder == holder, Lease.expires_at > now)
            .values(expires_at=now + timedelta(seconds=ttl))
        )
        if not renewed.rowcount:
            return Claim(held=False, status=None, recipients=[])
        status = await session.scalar(select(Broadcast.status).where(Broadcast.id == broadcast_id))
        if status != "sending":
            return Claim(held=True, status=status, recipients=[])
        rows = (
            await session.execute(
                select(
                    Delivery.id,
                    Delivery.attempts,
                    Delivery.signature_id,
                    func.coalesce(Signature.telegram_user_id, ContactConsent.telegram_user_id).label("chat_id"),
                    func.coalesce(Signature.language, ContactConsent.language).label("language"),
                    Signature.opt_in,
                    Signature.unreachable_at,
                    # Asked for members of the organisation's list only (a signature's row has no giver).
                    case((Delivery.consent_id.is_not(None), reachable_giver()), else_=False).label("giver_reachable"),
                )
                .select_from(Delivery)
                .outerjoin(Signature, Signature.id == Delivery.signature_id)
                .outerjoin(ContactConsent, ContactConsent.id == Delivery.consent_id)
                .where(
                    Delivery.broadcast_id == broadcast_id,
                    Delivery.status == "pending",
                    or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
                )
                .order_by(Delivery.id)
                .limit(limit)
            )
        ).all()
        skipped = [row.id for row in rows if not _reachable(row)]
        if skipped:
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(skipped), Delivery.status == "pending")
                .values(status="skipped", error="opted_out_or_unreachable")
            )
        wanted = {row.id: row for row in rows if row.id not in set(skipped)}
        if not wanted:
            return Claim(held=True, status=status, recipients=[], skipped=len(skipped))
        # ``status == "pending"`` again: a cancel may have landed since the select.
        claimed = (
            await session.scalars(
                update(Delivery)
                .where(Delivery.id.in_(list(wanted)), Delivery.status == "pending")
                .values(status="claimed")
                .returning(Delivery.id)
            )
        ).all()
    recipients = [
        Recipient(
            delivery_id=row.id,
            signature_id=row.signature_id,
            chat_id=int(row.chat_id),
            language=row.language,
            attempts=row.attempts + 1,
        )
        for row in (wanted[delivery_id] for delivery_id in sorted(claimed))
    ]
    return Claim(held=True, status=status, recipients=recipients, skipped=len(skipped))


def _reachable(row: Row[Any]) -> bool:
    """Still wants it and can get it: a signer still opted in and not marked unreachable; a
    member of the organisation's list with a reachable signature left."""
    if row.signature_id is None:
        return bool(row.giver_reachable)
    return bool(row.opt_in) and row.unreachable_at is None


async def begin_sending(db: Database, delivery_id: int) -> bool:
    """Right before its request: the claimed row becomes ``sending`` (attempts + 1). False if
    it is no longer claimed (the broadcast was cancelled, or a new lease holder took it
    back): then it must not be sent."""
    async with db.engine.begin() as session:
        result = await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == "claimed")
            .values(status="sending", attempts=Delivery.attempts + 1)
        )
        return bool(result.rowcount)


async def unclaim(db: Database, delivery_ids: list[int]) -> None:
    """Claimed but never handed to Telegram (a graceful stop): pending again."""
    if not delivery_ids:
        return
    async with db.engine.begin() as session:
        await session.execute(
            update(Delivery).where(Delivery.id.in_(delivery_ids), Delivery.status == "claimed").values(status="pending")
        )


async def cancel_claimed(db: Database, broadcast_id: int, delivery_ids: list[int]) -> None:
    """The broadcast was cancelled: its claimed-but-unsent rows and any pending left are cancelled."""
    async with db.engine.begin() as session:
        if delivery_ids:
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(delivery_ids), Delivery.status == "claimed")
                .values(status="cancelled")
            )
        await session.execute(
            update(Delivery)
            .where(Delivery.broadcast_id == broadcast_id, Delivery.status == "pending")
            .values(status="cancelled")
        )


# --- outcomes, one short transaction each, right after Telegram answered ---------------------


async def record_sent(db: Database, delivery_id: int, *, now: datetime | None = None) -> None:
    await _record(db, delivery_id, status="sent", sent_at=now or utcnow(), error=None, next_attempt_at=None)


async def record_blocked(
    db: Database, delivery_id: int, signature_id: int | None, chat_id: int, *, now: datetime | None = None
) -> None:
    """403: the person blocked the bot. Never retried; the signature is marked unreachable (for
    a member of the organisation's list, every signature of theirs: the block is the bot's)."""
    now = now or utcnow()
    whose = Signature.id == signature_id if signature_id is not None else Signature.telegram_user_id == chat_id
    async with db.engine.begin() as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status.in_(RECORDABLE))
            .values(status="blocked", error="blocked", next_attempt_at=None)
        )
        await session.execute(
            update(Signature).where(whose, Signature.unreachable_at.is_(None)).values(unreachable_at=now)
        )


async def record_retry(
    db: Database, delivery_id: int, delay: float, error: str, *, count_attempt: bool = True, now: datetime | None = None
) -> None:
    """Pending again, due after ``delay`` seconds. A flood wait does not count as an attempt."""
    values: dict[str, object] = {
        "status": "pending",
        "error": error[:64],
        "next_attempt_at": (now or utcnow()) + timedelta(seconds=delay),
    }
    if not count_attempt:
        values["attempts"] = Delivery.attempts - 1
    async with db.engine.begin() as session:
        await session.execute(
            update(Delivery).where(Delivery.id == delivery_id, Delivery.status.in_(RECORDABLE)).values(**values)
        )


async def record_failed(db: Database, delivery_id: int, error: str) -> None:
    """Retries exhausted: reported as failed."""
    await _record(db, delivery_id, status="failed", error=error[:64], next_attempt_at=None)


async def record_uncertain(db: Database, delivery_id: int, error: str) -> None:
    """The request may have reached Telegram (a timeout, a dropped connection): not repeated."""
    await _record(db, delivery_id, status="uncertain", error=error[:64], next_attempt_at=None)


async def _record(db: Database, delivery_id: int, **values: object) -> None:
    async with db.engine.begin() as session:
        await session.execute(
            update(Delivery).where(Delivery.id == delivery_id, Delivery.status.in_(RECORDABLE)).values(**values)
        )


# --- the end of a broadcast ------------------------------------------------------------------


async def finish_if_done(db: Database, broadcast_id: int, *, now: datetime | None = None) -> bool:
    """Mark the broadcast ``done`` when no delivery is pending, claimed or sending; whether it is done now."""
    async with db.engine.begin() as session:
        still_open = (
            select(Delivery.id)
            .where(Delivery.broadcast_id == broadcast_id, Delivery.status.in_(OPEN))
            .limit(1)
            .exists()
        )
        result = await session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id, Broadcast.status == "sending", ~still_open)
            .values(status="done", finished_at=now or utcnow())
        )
        return bool(result.rowcount)


async def next_due(db: Database, broadcast_id: int) -> datetime | None:
    """When the earliest pending delivery waiting for a retry becomes due (None: none waits)."""
    async with db.engine.connect() as session:
        return await session.scalar(
            select(func.min(Delivery.next_attempt_at)).where(
                Delivery.broadcast_id == broadcast_id, Delivery.status == "pending"
            )
        )
