"""Broadcasts from the organiser's side: create one, claim a milestone, follow and cancel it.

A broadcast goes to one campaign's news subscribers or, with campaign ``ORGANISATION_LIST``
(""), to the organisation's list: everyone who agreed to hear about its future campaigns
(``storage.consents``) and can still be reached (a signature not marked unreachable).

A broadcast snapshots its recipients when it is created: one ``Delivery`` row per
opted-in, reachable signer or consent (of one language, if asked), inserted by a single
``INSERT … SELECT`` in the same transaction as the broadcast, so the sender
(``storage.outbox``, ``bot.broadcasting``) never sees a broadcast without its
recipients, and people who sign later are not added to it. Sending itself is
the sender's business; this module only reads its progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, func, insert, literal, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.consents import ORGANISATION
from storage.db import Database
from storage.models import Broadcast, ContactConsent, Delivery, Signature

SENDING, DONE, CANCELLED = "sending", "done", "cancelled"
# The campaign of a broadcast to the organisation's list (the campaign of its consents too).
ORGANISATION_LIST = ""


@dataclass(frozen=True)
class BroadcastCounts:
    """Where a broadcast's recipients stand. ``pending`` includes deliveries claimed and being sent;
    ``skipped`` includes recipients who withdrew meanwhile (their rows are gone)."""

    total: int = 0
    sent: int = 0
    pending: int = 0
    blocked: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0
    uncertain: int = 0

    @property
    def finished(self) -> int:
        return self.total - self.pending


def _counts(total: int, by_status: dict[str, int], *, gone: bool = True) -> BroadcastCounts:
    """Counts from ``{status: n}``; with ``gone``, rows missing from ``total`` count as skipped."""
    known = sum(by_status.values())
    return BroadcastCounts(
        total=total,
        sent=by_status.get("sent", 0),
        pending=by_status.get("pending", 0) + by_status.get("claimed", 0) + by_status.get("sending", 0),
        blocked=by_status.get("blocked", 0),
        failed=by_status.get("failed", 0),
        skipped=by_status.get("skipped", 0) + (max(total - known, 0) if gone else 0),
        cancelled=by_status.get("cancelled", 0),
        uncertain=by_status.get("uncertain", 0),
    )


def _recipients(campaign: str, language: str | None) -> Any:
    """The opted-in, reachable signers of ``campaign`` (of ``language``, if given)."""
    query = select(Signature.id).where(
        Signature.campaign == campaign,
        Signature.opt_in == true(),
        Signature.unreachable_at.is_(None),
    )
    if language is not None:
        query = query.where(Signature.language == language)
    return query


def reachable_giver() -> Any:
    """The consent's giver has a signature not marked unreachable (the organisation's consent
    lasts while its giver has a signature; a block marks them all unreachable)."""
    theirs = aliased(Signature)  # not the outer query's signature, if it has one
    return (
        select(theirs.id)
        .where(theirs.telegram_user_id == ContactConsent.telegram_user_id, theirs.unreachable_at.is_(None))
        .exists()
    )


def _list_members(language: str | None, *columns: Any) -> Any:
    """The organisation's list (``columns`` of it, its ids by default): consents to news of future
    campaigns whose giver can be reached."""
    query = select(*(columns or (ContactConsent.id,))).where(
        ContactConsent.scope == ORGANISATION, ContactConsent.campaign == ORGANISATION_LIST, reachable_giver()
    )
    if language is not None:
        query = query.where(ContactConsent.language == language)
    return query


async def _add_deliveries(session: AsyncSession, broadcast: Broadcast) -> int:
    """``INSERT INTO broadcast_deliveries SELECT …`` the recipients; returns how many."""
    to_list = broadcast.campaign == ORGANISATION_LIST
    if to_list:
        recipients = _list_members(broadcast.language).subquery()
    else:
        recipients = _recipients(broadcast.campaign, broadcast.language).subquery()
    rows = select(
        literal(broadcast.id, Integer),
        recipients.c.id,
        literal("pending", String),
        literal(0, Integer),
    ).order_by(recipients.c.id)
    recipient = "consent_id" if to_list else "signature_id"
    statement = insert(Delivery).from_select(["broadcast_id", recipient, "status", "attempts"], rows)
    await session.execute(statement)
    total = await session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.broadcast_id == broadcast.id)
    )
    return int(total or 0)


async def create_broadcast(
    db: Database,
    *,
    campaign: str,
    texts: dict[str, str],
    language: str | None = None,
    created_by: int | None = None,
    progress_locale: str | None = None,
) -> Broadcast:
    """A new organiser's message, its recipients snapshotted as pending deliveries."""
    async with db.transaction() as session:
        broadcast = Broadcast(
            campaign=campaign,
            kind="message",
            texts=dict(texts),
            language=language,
            created_by=created_by,
            status=SENDING,
            progress_locale=progress_locale,
        )
        session.add(broadcast)
        await session.flush()
        broadcast.total = await _add_deliveries(session, broadcast)
        if broadcast.total == 0:
            broadcast.status, broadcast.finished_at = DONE, datetime.now(UTC)
    return broadcast


async def sent_already(
    db: Database, *, campaign: str, texts: dict[str, str], created_by: int, within: timedelta = timedelta(days=1)
) -> Broadcast | None:
    """This organiser's broadcast of exactly these texts from the last ``within``, if any.

    A worker that dies between creating a broadcast and saving the organiser's cleared
    draft leaves the Send button working: this keeps a second press from sending twice.
    """
    since = datetime.now(UTC) - within
    async with db.session() as session:
        recent = await session.scalars(
            select(Broadcast).where(
                Broadcast.campaign == campaign,
                Broadcast.created_by == created_by,
                Broadcast.kind == "message",
                Broadcast.created_at >= since,
            )
        )
        return next((broadcast for broadcast in recent if broadcast.texts == texts), None)


async def claim_milestone(db: Database, campaign: str, milestone: int, *, announce: bool = True) -> Broadcast | None:
    """Create the broadcast announcing ``milestone``, or None if it exists already.

    The unique constraint (campaign, milestone) decides, through ``INSERT … ON
    CONFLICT DO NOTHING``: however many workers cross the milestone at once, one
    of them creates it (with its deliveries, in the same transaction) and the
    others get None. ``announce=False`` records a milestone that was passed
    without announcing it (a later one was reached at the same time): it is done,
    with no recipients, and never announced later.
    """
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "campaign": campaign,
        "kind": "milestone",
        "milestone": milestone,
        "texts": {},
        "status": SENDING if announce else DONE,
        "total": 0,
        "created_at": now,
        "finished_at": None if announce else now,
    }
    keys = ["campaign", "milestone"]
    if db.is_postgres:
        statement: Any = pg_insert(Broadcast).values(values).on_conflict_do_nothing(index_elements=keys)
    elif db.is_sqlite:
        statement = sqlite_insert(Broadcast).values(values).on_conflict_do_nothing(index_elements=keys)
    else:  # pragma: no cover - only the two supported dialects reach here
        raise NotImplementedError(f"claim_milestone does not support {db.dialect_name}")
    async with db.transaction() as session:
        created = await session.scalar(statement.returning(Broadcast.id))
        if created is None:
            return None
        broadcast = await session.get_one(Broadcast, created)
        if announce:
            broadcast.total = await _add_deliveries(session, broadcast)
            if broadcast.total == 0:
                broadcast.status, broadcast.finished_at = DONE, now
    return broadcast


async def claimed_milestones(db: Database, campaign: str) -> set[int]:
    """The milestones that already have their broadcast (announced or passed)."""
    async with db.session() as session:
        rows = await session.scalars(
            select(Broadcast.milestone).where(Broadcast.campaign == campaign, Broadcast.milestone.is_not(None))
        )
        return {int(m) for m in rows if m is not None}


async def set_progress_message(db: Database, broadcast_id: int, chat_id: int, message_id: int) -> None:
    """Remember the organiser's message the sender edits to show progress."""
    async with db.transaction() as session:
        await session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id)
            .values(progress_chat_id=chat_id, progress_message_id=message_id)
        )


async def get_broadcast(db: Database, broadcast_id: int) -> Broadcast | None:
    async with db.session() as session:
        return await session.get(Broadcast, broadcast_id)


async def broadcast_counts(db: Database, broadcast_id: int) -> BroadcastCounts:
    async with db.session() as session:
        total = await session.scalar(select(Broadcast.total).where(Broadcast.id == broadcast_id))
        rows = await session.execute(
            select(Delivery.status, func.count()).where(Delivery.broadcast_id == broadcast_id).group_by(Delivery.status)
        )
        by_status = {str(status): int(n) for status, n in rows}
    return _counts(int(total or 0), by_status)


async def counts_by_language(db: Database, broadcast_id: int) -> dict[str, BroadcastCounts]:
    """The counts per recipient language (recipients who withdrew meanwhile are in no language)."""
    language = func.coalesce(Signature.language, ContactConsent.language)
    async with db.session() as session:
        rows = await session.execute(
            select(language, Delivery.status, func.count())
            .select_from(Delivery)
            .outerjoin(Signature, Signature.id == Delivery.signature_id)
            .outerjoin(ContactConsent, ContactConsent.id == Delivery.consent_id)
            .where(Delivery.broadcast_id == broadcast_id, language.is_not(None))
            .group_by(language, Delivery.status)
        )
        grouped: dict[str, dict[str, int]] = {}
        for code, status, n in rows:
            grouped.setdefault(str(code), {})[str(status)] = int(n)
    return {
        code: _counts(sum(by_status.values()), by_status, gone=False) for code, by_status in sorted(grouped.items())
    }


async def recipients_by_language(db: Database, campaign: str, language: str | None = None) -> dict[str, int]:
    """How many people a broadcast created now would reach, per language (their signature's, or
    for the organisation's list the one they gave their consent in)."""
    if campaign == ORGANISATION_LIST:
        query = (
            _list_members(language, ContactConsent.language, func.count())
            .group_by(ContactConsent.language)
            .order_by(ContactConsent.language)
        )
    else:
        query = (
            select(Signature.language, func.count())
            .where(Signature.campaign == campaign, Signature.opt_in == true(), Signature.unreachable_at.is_(None))
            .group_by(Signature.language)
            .order_by(Signature.language)
        )
        if language is not None:
            query = query.where(Signature.language == language)
    async with db.session() as session:
        rows = await session.execute(query)
        return {str(code): int(n) for code, n in rows}


async def sending(db: Database) -> list[Broadcast]:
    """Every broadcast still sending, of any campaign or the organisation's list, oldest first."""
    async with db.session() as session:
        return list(await session.scalars(select(Broadcast).where(Broadcast.status == SENDING).order_by(Broadcast.id)))


async def latest_broadcast(db: Database, campaign: str) -> Broadcast | None:
    """The most recently created broadcast (a message or a milestone)."""
    async with db.session() as session:
        return await session.scalar(
            select(Broadcast)
            .where(Broadcast.campaign == campaign, Broadcast.total > 0)
            .order_by(Broadcast.id.desc())
            .limit(1)
        )


async def cancel_broadcast(db: Database, broadcast_id: int) -> Broadcast | None:
    """Cancel a broadcast still sending: it is marked cancelled and its pending and claimed
    deliveries too, so the sender sends none of them. None if it is not sending (any more).

    Only the few requests already handed to Telegram (the sender's concurrency) finish,
    as the sender records them.
    """
    now = datetime.now(UTC)
    async with db.transaction() as session:
        broadcast = await session.scalar(
            select(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.status == SENDING).with_for_update()
        )
        if broadcast is None:
            return None
        broadcast.status, broadcast.finished_at = CANCELLED, now
        await session.execute(
            update(Delivery)
            .where(Delivery.broadcast_id == broadcast.id, Delivery.status.in_(("pending", "claimed")))
            .values(status=CANCELLED)
        )
    return broadcast
