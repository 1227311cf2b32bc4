"""Signer safety: how a name appears, delivery records, referral counts, erasure marks.

- ``signatures.name_form``: how the signer chose to appear to the letter's addressees
  (``full``, ``first_initial`` or ``initials``); ``signatures.name`` holds only that form.
- ``signatures.referrals``: how many people signed through this signer's share link
  (a count on the sharer's own record, never who).
- ``list_deliveries``: each time organisers hand the list to the addressees (to whom,
  when, how many, the fingerprint of what was printed); ``signatures.list_delivery_id``
  is the first delivery that carried the signature (set in the same transaction as the
  list is read, so it is exactly the delivered rows). ``broadcasts.list_delivery_id``
  marks the "your signature has been delivered" news, once per delivery.
- ``maintenance_marks``: small named values for housekeeping (what the last vacuum after
  erasures saw), never personal data.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "list_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("delivered_on", sa.Date(), nullable=False),
        sa.Column("recipient", sa.Unicode(length=200), nullable=False),
        sa.Column("note", sa.Unicode(length=500), nullable=True),
        sa.Column("signature_count", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_list_deliveries"),
    )
    op.create_index("ix_list_deliveries_campaign", "list_deliveries", ["campaign"])
    with op.batch_alter_table("signatures") as batch:
        batch.add_column(sa.Column("name_form", sa.String(length=16), server_default="full", nullable=False))
        batch.add_column(sa.Column("referrals", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("list_delivery_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_signatures_list_delivery_id_list_deliveries", "list_deliveries", ["list_delivery_id"], ["id"]
        )
    with op.batch_alter_table("broadcasts") as batch:
        batch.add_column(sa.Column("list_delivery_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_broadcasts_list_delivery_id_list_deliveries", "list_deliveries", ["list_delivery_id"], ["id"]
        )
        batch.create_unique_constraint("uq_broadcasts_list_delivery_id", ["list_delivery_id"])
    op.create_table(
        "maintenance_marks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_maintenance_marks"),
    )


def downgrade() -> None:
    op.drop_table("maintenance_marks")
    with op.batch_alter_table("broadcasts") as batch:
        batch.drop_constraint("uq_broadcasts_list_delivery_id", type_="unique")
        batch.drop_constraint("fk_broadcasts_list_delivery_id_list_deliveries", type_="foreignkey")
        batch.drop_column("list_delivery_id")
    with op.batch_alter_table("signatures") as batch:
        batch.drop_constraint("fk_signatures_list_delivery_id_list_deliveries", type_="foreignkey")
        batch.drop_column("list_delivery_id")
        batch.drop_column("referrals")
        batch.drop_column("name_form")
    op.drop_index("ix_list_deliveries_campaign", table_name="list_deliveries")
    op.drop_table("list_deliveries")
