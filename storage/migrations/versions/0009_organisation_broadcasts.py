"""Broadcasts to the organisation's list: a delivery's recipient is a signature (a campaign's
news, as before) or a contact consent (news of the organisation's future campaigns).

``broadcast_deliveries.signature_id`` becomes nullable beside a new ``consent_id`` (revoking
the consent deletes its deliveries, as withdrawing a signature does); a check keeps exactly
one of them set. Existing deliveries all have a signature and stay as they are. An index on
``signatures.telegram_user_id`` answers "does this person have a reachable signature".

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Who can still be reached is asked per person across letters: without it, a seq scan per member.
    op.create_index("ix_signatures_telegram_user_id", "signatures", ["telegram_user_id"])
    with op.batch_alter_table("broadcast_deliveries") as batch:
        batch.alter_column("signature_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("consent_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_broadcast_deliveries_consent_id_contact_consents",
            "contact_consents",
            ["consent_id"],
            ["id"],
            ondelete="CASCADE",
        )
        # Consent first: the same index finds a revoked consent's deliveries (ON DELETE CASCADE).
        batch.create_unique_constraint(
            "uq_broadcast_deliveries_consent_id_broadcast_id", ["consent_id", "broadcast_id"]
        )
        batch.create_check_constraint(
            op.f("ck_broadcast_deliveries_one_recipient"), "(signature_id IS NULL) <> (consent_id IS NULL)"
        )


def downgrade() -> None:
    # Deliveries to the organisation's list have no signature to keep: they go.
    op.execute("DELETE FROM broadcast_deliveries WHERE consent_id IS NOT NULL")
    with op.batch_alter_table("broadcast_deliveries") as batch:
        batch.drop_constraint(op.f("ck_broadcast_deliveries_one_recipient"), type_="check")
        batch.drop_constraint("uq_broadcast_deliveries_consent_id_broadcast_id", type_="unique")
        batch.drop_constraint("fk_broadcast_deliveries_consent_id_contact_consents", type_="foreignkey")
        batch.drop_column("consent_id")
        batch.alter_column("signature_id", existing_type=sa.Integer(), nullable=False)
    op.drop_index("ix_signatures_telegram_user_id", table_name="signatures")
