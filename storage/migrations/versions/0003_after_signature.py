"""After the signature: receipts, unreachable signers, purge tallies, broadcasts, leases.

- ``signatures.receipt`` (unique, nullable: rows signed before this revision get
  theirs when the bot starts, from the server secret the migration cannot know)
  and ``signatures.unreachable_at``.
- ``signature_tallies``: anonymous counts that replace purged signatures.
- ``broadcasts`` and ``broadcast_deliveries``: one row per recipient, so sending
  resumes after a restart exactly where it stopped.
- ``leases`` (one broadcast sender among all workers) and ``bot_secrets``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signatures") as batch:
        batch.add_column(sa.Column("receipt", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("unreachable_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_unique_constraint("uq_signatures_receipt", ["receipt"])

    op.create_table(
        "signature_tallies",
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("letter_version", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "campaign", "day", "country", "language", "source", "letter_version", name="pk_signature_tallies"
        ),
    )
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("milestone", sa.Integer(), nullable=True),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("progress_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("progress_message_id", sa.Integer(), nullable=True),
        sa.Column("progress_locale", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_broadcasts"),
        sa.UniqueConstraint("campaign", "milestone", name="uq_broadcasts_campaign_milestone"),
    )
    op.create_table(
        "broadcast_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("signature_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name="fk_broadcast_deliveries_broadcast_id_broadcasts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["signature_id"],
            ["signatures.id"],
            name="fk_broadcast_deliveries_signature_id_signatures",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_broadcast_deliveries"),
        sa.UniqueConstraint("broadcast_id", "signature_id", name="uq_broadcast_deliveries_broadcast_id_signature_id"),
    )
    op.create_index("ix_broadcast_deliveries_broadcast_id_status", "broadcast_deliveries", ["broadcast_id", "status"])
    op.create_index("ix_broadcast_deliveries_signature_id", "broadcast_deliveries", ["signature_id"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )
    op.create_table(
        "bot_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_bot_secrets"),
    )


def downgrade() -> None:
    op.drop_table("bot_secrets")
    op.drop_table("leases")
    op.drop_index("ix_broadcast_deliveries_signature_id", table_name="broadcast_deliveries")
    op.drop_index("ix_broadcast_deliveries_broadcast_id_status", table_name="broadcast_deliveries")
    op.drop_table("broadcast_deliveries")
    op.drop_table("broadcasts")
    op.drop_table("signature_tallies")
    with op.batch_alter_table("signatures") as batch:
        batch.drop_constraint("uq_signatures_receipt", type_="unique")
        batch.drop_column("unreachable_at")
        batch.drop_column("receipt")
