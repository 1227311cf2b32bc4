"""Deliveries of the list to the letter's addressees: recorded once, checkable without a name.

``record_delivery`` (``python -m bot deliver``) does everything in ONE transaction:
it reads the list exactly as the delivery PDF prints it (signing order, the same
rows), computes its count and fingerprint (``storage.exports.fingerprint``),
inserts the ``list_deliveries`` row, marks every signature of that list that had
not been delivered before as carried by it (``signatures.list_delivery_id``: the
first delivery that carried it), and creates the "your signature has been
delivered" news (a broadcast of kind ``delivered`` with ``list_delivery_id`` set,
unique: once per delivery) for the opted-in, reachable signers it carried for the
first time. So a second delivery never notifies anyone twice, and a signature
withdrawn or added meanwhile is either wholly in it or wholly out.

Consistency: on PostgreSQL the transaction is REPEATABLE READ (the reads and the
updates see one snapshot; a concurrent withdrawal of a row just read makes it
fail, and it is retried); on SQLite it starts with ``BEGIN IMMEDIATE`` (no other
writer until it ends). With ``expected`` (the fingerprint printed on a PDF made a
little earlier) the delivery covers exactly the first rows whose fingerprint is
that one: signatures added since the PDF was made come after them and are not
recorded as delivered; if no prefix matches (a signature in it was withdrawn),
nothing is recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Integer, String, func, insert, literal, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Database
from storage.exports.fingerprint import line
from storage.exports.rows import signing_order_page
from storage.models import Broadcast, Delivery, ListDelivery, Signature

KIND = "delivered"  # the broadcast kind of the delivery news
BATCH = 5000  # rows read per query (keyset pagination, as the exports)
UPDATE_CHUNK = 900  # ids per UPDATE … WHERE id IN (…): under every driver's parameter limit
RETRIES = 5  # serialization failures on PostgreSQL before giving up
MAX_RECIPIENT = 200
MAX_NOTE = 500


class DeliveryError(Exception):
    """The delivery cannot be recorded as asked; one line for the organiser."""


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """What was recorded (or, on a dry run, would be): never a name.

    ``count`` signatures (``fingerprint``) went to ``recipient`` on ``delivered_on``;
    ``first_time`` of them had never been delivered before; ``notified`` opted-in,
    reachable signers among those get the news (broadcast ``broadcast_id``). ``id``
    and ``broadcast_id`` are None on a dry run. ``remaining`` counts signatures on
    the list now that this delivery does not carry (signed after the PDF was made).
    """

    id: int | None
    campaign: str
    delivered_on: date
    recipient: str
    note: str | None
    count: int
    fingerprint: str
    first_time: int
    notified: int
    broadcast_id: int | None
    remaining: int = 0


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""

    def __init__(self, record: DeliveryRecord) -> None:
        super().__init__("dry run")
        self.record = record


def _check(recipient: str, note: str | None, delivered_on: date) -> tuple[str, str | None]:
    recipient = " ".join(recipient.split())
    if not recipient:
        raise DeliveryError("--to must say to whom the list was delivered")
    if len(recipient) > MAX_RECIPIENT:
        raise DeliveryError(f"--to must be at most {MAX_RECIPIENT} characters")
    note = " ".join(note.split()) if note else None
    if note and len(note) > MAX_NOTE:
        raise DeliveryError(f"--note must be at most {MAX_NOTE} characters")
    if delivered_on > datetime.now(UTC).date():
        raise DeliveryError(f"--date {delivered_on.isoformat()} is in the future: record a delivery once it is made")
    return recipient, note


@asynccontextmanager
async def _write_transaction(db: Database) -> AsyncIterator[AsyncConnection]:
    """One transaction that reads and writes a consistent list (see the module's docstring)."""
    async with db.engine.connect() as connection:
        if db.is_postgres:
            snapshot = await connection.execution_options(isolation_level="REPEATABLE READ")
            async with snapshot.begin():
                yield snapshot
        else:
            async with connection.begin():
                # The sqlite3 driver would begin only at the first write; take the write lock now,
                # so the list cannot change between reading it and marking it.
                await connection.exec_driver_sql("BEGIN IMMEDIATE")
                yield connection


async def _read_list(
    connection: AsyncConnection, campaign: str, expected: str | None
) -> tuple[int, str, list[int], int]:
    """(count, fingerprint, ids of its signatures never delivered, rows on the list beyond it).

    The same query, order and lines as the delivery PDF (``storage.exports.rows``).
    With ``expected``, the count is that of the first rows whose fingerprint it is.
    """
    digest = hashlib.sha256()
    number = 0
    undelivered: list[tuple[int, int]] = []  # (number, id)
    matched: int | None = 0 if expected == digest.hexdigest() else None
    after: tuple[datetime, int] | None = None
    while True:
        columns = (Signature.id, Signature.signed_at, Signature.name, Signature.country, Signature.list_delivery_id)
        rows: Sequence[Any] = (await connection.execute(signing_order_page(columns, campaign, after, BATCH))).all()
        for row in rows:
            number += 1
            after = (row.signed_at, row.id)
            digest.update(line(number, row.name, row.country))
            if row.list_delivery_id is None:
                undelivered.append((number, row.id))
            if expected is not None and digest.copy().hexdigest() == expected:
                matched = number
        if len(rows) < BATCH:
            break
    if expected is None:
        return number, digest.hexdigest(), [row_id for _, row_id in undelivered], 0
    if matched is None:
        raise DeliveryError(
            "no part of the current list has that fingerprint: a signature on the delivered document was "
            "withdrawn or changed since it was made, or the fingerprint is mistyped. Nothing was recorded."
        )
    return matched, expected, [row_id for n, row_id in undelivered if n <= matched], number - matched


async def _add_news(
    connection: AsyncConnection, db: Database, delivery: ListDelivery, now: datetime
) -> tuple[int, int]:
    """Create the delivery news for the signers this delivery carried first: (broadcast id, recipients)."""
    values: dict[str, Any] = {
        "campaign": delivery.campaign,
        "kind": KIND,
        "milestone": None,
        # The words are catalog messages (handlers.news); these are the facts they need.
        "texts": {"delivered_on": delivery.delivered_on.isoformat(), "recipient": delivery.recipient},
        "status": "sending",
        "total": 0,
        "created_at": now,
        "list_delivery_id": delivery.id,
    }
    keys = ["list_delivery_id"]
    if db.is_postgres:
        statement: Any = pg_insert(Broadcast).values(values).on_conflict_do_nothing(index_elements=keys)
    else:
        statement = sqlite_insert(Broadcast).values(values).on_conflict_do_nothing(index_elements=keys)
    broadcast_id = await connection.scalar(statement.returning(Broadcast.id))
    if broadcast_id is None:  # pragma: no cover - a delivery id is fresh: nothing can hold it yet
        raise DeliveryError("this delivery's news exists already")
    recipients = select(
        literal(broadcast_id, Integer), Signature.id, literal("pending", String), literal(0, Integer)
    ).where(
        Signature.campaign == delivery.campaign,
        Signature.list_delivery_id == delivery.id,
        Signature.opt_in == true(),
        Signature.unreachable_at.is_(None),
    )
    await connection.execute(
        insert(Delivery).from_select(
            ["broadcast_id", "signature_id", "status", "attempts"], recipients.order_by(Signature.id)
        )
    )
    total = int(
        await connection.scalar(select(func.count()).select_from(Delivery).where(Delivery.broadcast_id == broadcast_id))
        or 0
    )
    finished: dict[str, Any] = {"status": "done", "finished_at": now} if total == 0 else {}
    await connection.execute(update(Broadcast).where(Broadcast.id == broadcast_id).values(total=total, **finished))
    return int(broadcast_id), total


async def _record(
    db: Database,
    campaign: str,
    *,
    recipient: str,
    delivered_on: date,
    note: str | None,
    dry_run: bool,
    expected: str | None,
) -> DeliveryRecord:
    now = datetime.now(UTC)
    async with _write_transaction(db) as connection:
        count, fingerprint, first_time, remaining = await _read_list(connection, campaign, expected)
        if count == 0:
            raise DeliveryError("the list is empty: there is nothing to deliver")
        delivery_id = await connection.scalar(
            insert(ListDelivery)
            .values(
                campaign=campaign,
                delivered_on=delivered_on,
                recipient=recipient,
                note=note,
                signature_count=count,
                fingerprint=fingerprint,
                recorded_at=now,
            )
            .returning(ListDelivery.id)
        )
        if delivery_id is None:  # pragma: no cover - RETURNING always gives the new id
            raise DeliveryError("the delivery could not be recorded")
        delivery = ListDelivery(
            id=int(delivery_id), campaign=campaign, delivered_on=delivered_on, recipient=recipient
        )  # the facts the news needs, not attached to any session
        for start in range(0, len(first_time), UPDATE_CHUNK):
            chunk = first_time[start : start + UPDATE_CHUNK]
            await connection.execute(
                update(Signature)
                .where(Signature.id.in_(chunk), Signature.list_delivery_id.is_(None))
                .values(list_delivery_id=delivery.id)
            )
        broadcast_id, notified = await _add_news(connection, db, delivery, now)
        record = DeliveryRecord(
            id=None if dry_run else delivery.id,
            campaign=campaign,
            delivered_on=delivered_on,
            recipient=recipient,
            note=note,
            count=count,
            fingerprint=fingerprint,
            first_time=len(first_time),
            notified=notified,
            broadcast_id=None if dry_run else broadcast_id,
            remaining=remaining,
        )
        if dry_run:
            raise _DryRun(record)  # rolls everything back: exactly what would have been recorded
    return record


def _serialization_failure(error: DBAPIError) -> bool:
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code in ("40001", "40P01") or "could not serialize" in str(error.orig)


async def record_delivery(
    db: Database,
    campaign: str,
    *,
    recipient: str,
    delivered_on: date,
    note: str | None = None,
    dry_run: bool = False,
    expected: str | None = None,
) -> DeliveryRecord:
    """Record that the list went to ``recipient`` on ``delivered_on`` (see the module's docstring).

    ``dry_run`` does all of it and rolls it back: the record says what would be recorded.
    """
    recipient, note = _check(recipient, note, delivered_on)
    if expected is not None:
        expected = expected.strip().lower()
        if len(expected) != 64 or any(char not in "0123456789abcdef" for char in expected):
            raise DeliveryError("--fingerprint must be the 64 hexadecimal characters the PDF prints")
    for attempt in range(RETRIES):
        try:
            return await _record(
                db,
                campaign,
                recipient=recipient,
                delivered_on=delivered_on,
                note=note,
                dry_run=dry_run,
                expected=expected,
            )
        except _DryRun as dry:
            return dry.record
        except DBAPIError as error:
            if not (db.is_postgres and _serialization_failure(error)) or attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def get_delivery(db: Database, delivery_id: int) -> ListDelivery | None:
    """One recorded delivery (for ``/verify`` and ``/mysignature``)."""
    async with db.session() as session:
        return await session.get(ListDelivery, delivery_id)


async def deliveries(db: Database, campaign: str) -> list[ListDelivery]:
    """Every recorded delivery of ``campaign``'s list, oldest first."""
    async with db.session() as session:
        found = await session.scalars(
            select(ListDelivery).where(ListDelivery.campaign == campaign).order_by(ListDelivery.id)
        )
        return list(found)
