"""Initial schema: signatures and anonymous funnel counts.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signatures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Unicode(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("referral_code", sa.String(length=16), nullable=False),
        sa.Column("opt_in", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("letter_version", sa.String(length=64), nullable=False),
        sa.Column("consent_version", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_signatures"),
        sa.UniqueConstraint("campaign", "telegram_user_id", name="uq_signatures_campaign_telegram_user_id"),
        sa.UniqueConstraint("referral_code", name="uq_signatures_referral_code"),
    )
    op.create_index("ix_signatures_campaign_signed_at", "signatures", ["campaign", "signed_at"])

    op.create_table(
        "funnel_counts",
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("campaign", "day", "step", "language", "source", name="pk_funnel_counts"),
    )


def downgrade() -> None:
    op.drop_table("funnel_counts")
    op.drop_index("ix_signatures_campaign_signed_at", table_name="signatures")
    op.drop_table("signatures")
