"""The signatories, read in signing order as a consistent snapshot, one bounded batch at a time.

Exports must never disagree with themselves: the count printed on the PDF's first
page (and shown as progress) must equal the rows that follow. So the count and
every batch are read inside one snapshot: a read-only REPEATABLE READ transaction
on PostgreSQL, one read transaction on SQLite (WAL readers see the database as of
their first read). Signatures and withdrawals arriving meanwhile are simply not in
this export.

Batches use keyset pagination on (signed_at, id), never OFFSET: each batch is an
index range scan that starts where the previous one ended, so the cost per batch
stays flat and memory holds one batch at a time, whatever the campaign's size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import consents
from storage.db import Database
from storage.models import Signature, SignatureTally


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One signatory as exported; ``telegram_user_id`` is None unless ids were asked for."""

    number: int
    name: str
    country: str
    language: str
    signed_at: datetime
    source: str | None
    receipt: str | None = None  # stored form, no dash ("K7QF2M9D"); None only for a signature older than receipts
    letter_version: str = ""
    consent_version: str = ""
    telegram_user_id: int | None = None
    name_form: str = "full"  # how the signer chose to appear; ``name`` is already in that form


def signing_order_page(
    columns: Sequence[Any],
    campaign: str,
    after: tuple[datetime, int] | None,
    limit: int,
    only: Sequence[ColumnElement[bool]] = (),
) -> Select[Any]:
    """One batch of ``columns`` in signing order, after the row ``after`` (its signed_at and id):
    the order of every list (the exports, the delivery PDF, and the list ``deliver`` records).
    ``columns`` must include ``Signature.signed_at`` and ``Signature.id`` for the next page;
    ``only`` narrows the list (a partner's: the signers who agreed to it)."""
    query = select(*columns).where(Signature.campaign == campaign, *only)
    if after is not None:
        signed_at, row_id = after
        # Spelled out rather than a row-value comparison so that ``signed_at >= ...``
        # is an index condition on (campaign, signed_at) on both databases.
        query = query.where(
            and_(
                Signature.signed_at >= signed_at,
                or_(Signature.signed_at > signed_at, Signature.id > row_id),
            )
        )
    return query.order_by(Signature.signed_at, Signature.id).limit(limit)


class SignatorySnapshot:
    """Count and batches of one campaign's signatures, all from the same snapshot."""

    def __init__(
        self,
        connection: AsyncConnection,
        campaign: str,
        *,
        with_ids: bool,
        batch_size: int,
        only: Sequence[ColumnElement[bool]] = (),
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._connection = connection
        self._campaign = campaign
        self._only = tuple(only)
        self._with_ids = with_ids
        self._batch_size = batch_size

    async def driver_connection(self) -> Any:
        """The database driver's own connection (asyncpg's, on PostgreSQL), in this snapshot's transaction."""
        raw = await self._connection.get_raw_connection()
        return raw.driver_connection

    async def count(self) -> int:
        total = await self._connection.scalar(
            select(func.count()).select_from(Signature).where(Signature.campaign == self._campaign, *self._only)
        )
        return int(total or 0)

    async def purged(self) -> int:
        """Signatures erased after the retention period (only counted now), from the same snapshot."""
        if self._only:  # a narrowed list (a partner's) says nothing about the erased ones
            return 0
        erased = await self._connection.scalar(
            select(func.coalesce(func.sum(SignatureTally.count), 0)).where(SignatureTally.campaign == self._campaign)
        )
        return int(erased or 0)

    def _page(self, after: tuple[datetime, int] | None) -> Select[Any]:
        columns: list[Any] = [
            Signature.id,
            Signature.signed_at,
            Signature.name,
            Signature.name_form,
            Signature.country,
            Signature.language,
            Signature.source,
            Signature.receipt,
            Signature.letter_version,
            Signature.consent_version,
        ]
        if self._with_ids:  # data minimisation: the ids are not even read unless asked for
            columns.append(Signature.telegram_user_id)
        return signing_order_page(columns, self._campaign, after, self._batch_size, self._only)

    async def batches(self) -> AsyncIterator[Sequence[ExportRow]]:
        """Rows numbered 1..N in signing order, ``batch_size`` at a time."""
        after: tuple[datetime, int] | None = None
        number = 0
        while True:
            result = await self._connection.execute(self._page(after))
            batch: list[ExportRow] = []
            for row in result:
                number += 1
                after = (row.signed_at, row.id)
                batch.append(
                    ExportRow(
                        number=number,
                        name=row.name,
                        name_form=row.name_form,
                        country=row.country,
                        language=row.language,
                        signed_at=row.signed_at,
                        source=row.source,
                        receipt=row.receipt,
                        letter_version=row.letter_version,
                        consent_version=row.consent_version,
                        telegram_user_id=row.telegram_user_id if self._with_ids else None,
                    )
                )
            if not batch:
                return
            yield batch
            if len(batch) < self._batch_size:
                return


@asynccontextmanager
async def snapshot(
    db: Database, campaign: str, *, with_ids: bool = False, batch_size: int = 5000, partner: str | None = None
) -> AsyncIterator[SignatorySnapshot]:
    """Open a read-only snapshot of ``campaign``'s signatures for as long as the block runs;
    with ``partner``, only of the signers who agreed that this partner may contact them."""
    only = () if partner is None else (Signature.telegram_user_id.in_(consents.partner_user_ids(campaign, partner)),)
    async with db.engine.connect() as connection:
        if db.is_postgres:
            snapshot_connection = await connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            async with snapshot_connection.begin():
                yield SignatorySnapshot(
                    snapshot_connection, campaign, with_ids=with_ids, batch_size=batch_size, only=only
                )
        else:
            async with connection.begin():
                # The sqlite3 driver opens a transaction only before writes; without this
                # BEGIN each SELECT would see a different state of the database.
                await connection.exec_driver_sql("BEGIN")
                yield SignatorySnapshot(connection, campaign, with_ids=with_ids, batch_size=batch_size, only=only)
