"""What an operator's monitoring reads at each scrape: totals only, never a person.

The signatures (the kept count, as under the letter), the anonymous funnel's
totals per step (started, signed, withdrawn, removed, ...), and the broadcast
messages still waiting to be sent. A few small queries on one read-only
connection: cheap enough for a scrape every few seconds at any campaign size.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from storage.db import Database
from storage.models import Delivery, FunnelCount
from storage.outbox import OPEN
from storage.signatures import count_signatures


@dataclass(frozen=True, slots=True)
class Operations:
    signatures: int
    funnel: dict[str, int]  # step -> people, all days, languages and sources
    queued_messages: int  # broadcast messages not yet sent


async def operations(db: Database, campaign: str) -> Operations:
    signatures = await count_signatures(db, campaign)
    async with db.reader.connect() as connection:
        steps = await connection.execute(
            select(FunnelCount.step, func.sum(FunnelCount.count))
            .where(FunnelCount.campaign == campaign)
            .group_by(FunnelCount.step)
        )
        funnel = {str(step): int(count or 0) for step, count in steps}
        queued = await connection.scalar(select(func.count()).select_from(Delivery).where(Delivery.status.in_(OPEN)))
    return Operations(signatures, funnel, int(queued or 0))
