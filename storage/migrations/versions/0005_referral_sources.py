"""Referral credit without a social graph: sources that were a sharer's code become "shared".

Before this revision the share link was ``?start=<referral_code>`` and the new signer's
``source`` kept the sharer's code: the database, the funnel counts, the purge tallies
and every export held who brought whom. Now (``handlers.referrals``):

- every signature whose source is the referral code of a signature in the same
  campaign gets source ``shared``, and that sharer's ``referrals`` count goes up by one
  for each (a source equal to the row's own code becomes ``shared`` and credits nobody);
- ``funnel_counts`` and ``signature_tallies`` rows whose source is such a code are
  merged into the ``shared`` row of the same key (counts summed, added to a ``shared``
  row that exists already).

A code of a signer who has since withdrawn or been purged matches no row and cannot be
told from a campaign source: it stays as it is (it leads to no one in the database).

SQLAlchemy core only, so it runs the same on SQLite and PostgreSQL. Irreversible on
purpose: the downgrade does not bring the graph back.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARED = "shared"  # handlers.referrals.SHARED, written out: a migration must not change with the code

signatures = sa.table(
    "signatures",
    sa.column("id", sa.Integer()),
    sa.column("campaign", sa.String()),
    sa.column("source", sa.String()),
    sa.column("referral_code", sa.String()),
    sa.column("referrals", sa.Integer()),
)
funnel_counts = sa.table(
    "funnel_counts",
    sa.column("campaign", sa.String()),
    sa.column("day", sa.Date()),
    sa.column("step", sa.String()),
    sa.column("language", sa.String()),
    sa.column("source", sa.String()),
    sa.column("count", sa.Integer()),
)
signature_tallies = sa.table(
    "signature_tallies",
    sa.column("campaign", sa.String()),
    sa.column("day", sa.Date()),
    sa.column("country", sa.String()),
    sa.column("language", sa.String()),
    sa.column("source", sa.String()),
    sa.column("letter_version", sa.String()),
    sa.column("count", sa.Integer()),
)


def upgrade() -> None:
    bind = op.get_bind()
    _credit_sharers(bind)
    _merge_counts(bind, funnel_counts, ("campaign", "day", "step", "language"))
    _merge_counts(bind, signature_tallies, ("campaign", "day", "country", "language", "letter_version"))


def downgrade() -> None:
    """Nothing: who brought whom is not restored."""


def _credit_sharers(bind: sa.Connection) -> None:
    """Count each sharer's recruits on the sharer's row, then forget which rows they were."""
    recruit = signatures.alias("recruit")
    brought = (
        recruit.c.campaign == signatures.c.campaign,
        recruit.c.source == signatures.c.referral_code,
        recruit.c.id != signatures.c.id,
    )
    recruits = sa.select(sa.func.count()).select_from(recruit).where(*brought).scalar_subquery()
    bind.execute(
        sa.update(signatures)
        .where(sa.exists(sa.select(recruit.c.id).where(*brought)))
        .values(referrals=signatures.c.referrals + recruits)
    )
    sharer = signatures.alias("sharer")
    bind.execute(
        sa.update(signatures)
        .where(
            sa.exists(
                sa.select(sharer.c.id).where(
                    sharer.c.campaign == signatures.c.campaign, sharer.c.referral_code == signatures.c.source
                )
            )
        )
        .values(source=SHARED)
    )


def _merge_counts(bind: sa.Connection, table: sa.TableClause, keys: tuple[str, ...]) -> None:
    """Move the counts of rows whose source is a referral code into the ``shared`` row of their key."""
    sharer = signatures.alias("sharer")
    is_code = sa.exists(
        sa.select(sharer.c.id).where(sharer.c.campaign == table.c.campaign, sharer.c.referral_code == table.c.source)
    )
    columns = [table.c[key] for key in keys]
    moved = bind.execute(sa.select(*columns, sa.func.sum(table.c.count)).where(is_code).group_by(*columns)).all()
    if not moved:
        return
    bind.execute(sa.delete(table).where(is_code))
    existing = {tuple(row) for row in bind.execute(sa.select(*columns).where(table.c.source == SHARED)).all()}
    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    for row in moved:
        key, count = tuple(row[: len(keys)]), int(row[len(keys)] or 0)
        values = dict(zip(keys, key, strict=True))
        if key in existing:
            updates.append({**{f"k_{name}": value for name, value in values.items()}, "k_count": count})
        else:
            inserts.append({**values, "source": SHARED, "count": count})
    if updates:
        bind.execute(
            sa.update(table)
            .where(*(table.c[name] == sa.bindparam(f"k_{name}") for name in keys), table.c.source == SHARED)
            .values(count=table.c.count + sa.bindparam("k_count")),
            updates,
        )
    if inserts:
        bind.execute(sa.insert(table), inserts)
