"""Contact consents: a signer may agree, separately and never pre-ticked, to hear about the
organisation's future campaigns or to be contacted by a partner organisation of a campaign.

Each consent is a row (who, what scope, for which campaign, the wording's version, when);
revoking deletes it. Nothing else changes: existing signatures, receipts and consent records
stay as they are.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contact_consents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("given_in", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("wording_version", sa.String(length=64), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_contact_consents"),
        sa.UniqueConstraint(
            "telegram_user_id", "scope", "campaign", name="uq_contact_consents_telegram_user_id_scope_campaign"
        ),
    )
    op.create_index("ix_contact_consents_scope_campaign", "contact_consents", ["scope", "campaign"])


def downgrade() -> None:
    op.drop_index("ix_contact_consents_scope_campaign", table_name="contact_consents")
    op.drop_table("contact_consents")
