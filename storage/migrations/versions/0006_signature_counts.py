"""Kept signature counts: ``signature_counts``, maintained by triggers on ``signatures``.

Counting every row on every view of the letter grows with the campaign (25 ms at a
million rows on PostgreSQL). Instead the database keeps the counts itself, per campaign,
UTC day, country, language, source, letter version and slot (``id % 8``, so a crowd
signing through one link spreads over eight rows instead of queueing on one):

- ``AFTER INSERT``: one more in the new row's key;
- ``AFTER DELETE`` (withdrawal, removal, purge): one less in the old row's key;
- ``AFTER UPDATE OF`` a counted column: one less in the old key, one more in the new.

The triggers run in the row's own transaction, so the counts agree with the rows at
every moment whatever changed them. The existing rows are counted once here.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLOTS = 8  # storage.models.SignatureCount.SLOTS, written out: a migration must not change with the code
KEY = "campaign, day, country, language, source, letter_version, slot"


def _values(row: str, day: str) -> str:
    """The counted key of ``row`` (NEW or OLD) as SQL values, in KEY's order."""
    return (
        f"{row}.campaign, {day}, {row}.country, {row}.language, coalesce({row}.source, ''), "
        f"{row}.letter_version, {row}.id % {SLOTS}"
    )


def _match(row: str, day: str) -> str:
    return (
        f"campaign = {row}.campaign AND day = {day} AND country = {row}.country AND language = {row}.language "
        f"AND source = coalesce({row}.source, '') AND letter_version = {row}.letter_version "
        f"AND slot = {row}.id % {SLOTS}"
    )


def _add(row: str, day: str) -> str:
    return (
        f"INSERT INTO signature_counts ({KEY}, count) VALUES ({_values(row, day)}, 1) "  # noqa: S608 - constants only
        f"ON CONFLICT ({KEY}) DO UPDATE SET count = signature_counts.count + 1"
    )


def _take(row: str, day: str) -> str:
    return f"UPDATE signature_counts SET count = count - 1 WHERE {_match(row, day)}"  # noqa: S608 - constants only


COUNTED = "campaign, signed_at, country, language, source, letter_version"


def _postgres() -> None:
    new, old = "(NEW.signed_at AT TIME ZONE 'UTC')::date", "(OLD.signed_at AT TIME ZONE 'UTC')::date"
    op.execute(f"""
        CREATE FUNCTION signature_counts_track() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('DELETE', 'UPDATE') THEN
                {_take("OLD", old)};
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                {_add("NEW", new)};
            END IF;
            RETURN NULL;
        END
        $$
    """)
    op.execute(
        "CREATE TRIGGER signature_counts_track AFTER INSERT OR DELETE OR UPDATE OF "
        f"{COUNTED} ON signatures FOR EACH ROW EXECUTE FUNCTION signature_counts_track()"
    )


def _sqlite() -> None:
    new, old = "date(NEW.signed_at)", "date(OLD.signed_at)"
    op.execute(f"CREATE TRIGGER signature_counts_add AFTER INSERT ON signatures BEGIN {_add('NEW', new)}; END")
    op.execute(f"CREATE TRIGGER signature_counts_take AFTER DELETE ON signatures BEGIN {_take('OLD', old)}; END")
    op.execute(
        f"CREATE TRIGGER signature_counts_move AFTER UPDATE OF {COUNTED} ON signatures "
        f"BEGIN {_take('OLD', old)}; {_add('NEW', new)}; END"
    )


def upgrade() -> None:
    op.create_table(
        "signature_counts",
        sa.Column("campaign", sa.String(64), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("country", sa.String(2), primary_key=True),
        sa.Column("language", sa.String(16), primary_key=True),
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("letter_version", sa.String(64), primary_key=True),
        sa.Column("slot", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("count", sa.Integer(), nullable=False, server_default="0"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    day = "(signed_at AT TIME ZONE 'UTC')::date" if postgres else "date(signed_at)"
    # The rows already there, counted once, in the same transaction as the triggers' creation.
    op.execute(
        f"INSERT INTO signature_counts ({KEY}, count) "  # noqa: S608 - constants only
        f"SELECT campaign, {day}, country, language, coalesce(source, ''), letter_version, id % {SLOTS}, count(*) "
        f"FROM signatures GROUP BY campaign, {day}, country, language, coalesce(source, ''), letter_version, "
        f"id % {SLOTS}"
    )
    if postgres:
        _postgres()
    else:
        _sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER signature_counts_track ON signatures")
        op.execute("DROP FUNCTION signature_counts_track()")
    else:
        for name in ("add", "take", "move"):
            op.execute(f"DROP TRIGGER signature_counts_{name}")
    op.drop_table("signature_counts")
