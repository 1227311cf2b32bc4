"""Kept counts by dimension: ``stat_counts`` replaces ``signature_counts``.

``signature_counts`` kept one count per combination of day, country, language, source and
letter version: few rows for the total, but ``/stats``' breakdowns still counted the
signatures themselves (218 ms at a million rows, growing with every signature), and the
combinations themselves grow with a campaign's long tail. ``stat_counts`` keeps, for every
signature, one count in each dimension (day, country, language, source, letter version,
opt-in): a breakdown reads a row per value and slot, whatever the number of signatures.

- ``AFTER INSERT``: one more for each of the new row's six keys;
- ``AFTER DELETE`` (withdrawal, removal, purge): one less for each of the old row's;
- ``AFTER UPDATE OF`` a counted column: one less for the old keys, one more for the new.

The slot (``id % 8``) spreads a crowd's signatures over eight rows per key. The triggers
run in the row's own transaction; the existing rows are counted once here.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLOTS = 8  # storage.models.StatCount.SLOTS, written out: a migration must not change with the code
COUNTED = "campaign, signed_at, country, language, source, letter_version, opt_in"


def _keys(row: str, postgres: bool) -> list[tuple[str, str]]:
    """(dimension, the SQL of ``row``'s key in it), for ``row`` NEW, OLD or a table's name."""
    day = f"to_char(({row}.signed_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD')" if postgres else f"date({row}.signed_at)"
    opt_in = f"CASE WHEN {row}.opt_in THEN '1' ELSE '0' END"
    return [
        ("day", day),
        ("country", f"{row}.country"),
        ("language", f"{row}.language"),
        ("source", f"coalesce({row}.source, '')"),
        ("letter", f"{row}.letter_version"),
        ("opt_in", opt_in),
    ]


def _add(row: str, postgres: bool) -> str:
    values = ", ".join(
        f"({row}.campaign, '{dimension}', {key}, {row}.id % {SLOTS}, 1)" for dimension, key in _keys(row, postgres)
    )
    return (
        f"INSERT INTO stat_counts (campaign, dimension, key, slot, count) VALUES {values} "  # noqa: S608 - constants only
        "ON CONFLICT (campaign, dimension, key, slot) DO UPDATE SET count = stat_counts.count + 1"
    )


def _take(row: str, postgres: bool) -> str:
    # One statement per dimension, in the same order as ``_add``'s rows: inserts and deletes
    # lock the count rows in one order. An update takes the old keys, then adds the new ones,
    # so two opposite updates can (rarely) deadlock: PostgreSQL undoes one, and the step is
    # tried once more (``storage.errors.is_transient``).
    return "; ".join(
        f"UPDATE stat_counts SET count = count - 1 WHERE campaign = {row}.campaign "  # noqa: S608 - constants only
        f"AND dimension = '{dimension}' AND key = {key} AND slot = {row}.id % {SLOTS}"
        for dimension, key in _keys(row, postgres)
    )


def _count_existing(postgres: bool) -> None:
    """The rows already there, counted once, in the same transaction as the triggers' creation."""
    for dimension, key in _keys("signatures", postgres):
        op.execute(
            "INSERT INTO stat_counts (campaign, dimension, key, slot, count) "  # noqa: S608 - constants only
            f"SELECT campaign, '{dimension}', {key}, id % {SLOTS}, count(*) FROM signatures "
            f"GROUP BY campaign, {key}, id % {SLOTS}"
        )


def _postgres() -> None:
    op.execute(f"""
        CREATE FUNCTION stat_counts_track() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('DELETE', 'UPDATE') THEN
                {_take("OLD", True)};
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                {_add("NEW", True)};
            END IF;
            RETURN NULL;
        END
        $$
    """)
    op.execute(
        "CREATE TRIGGER stat_counts_track AFTER INSERT OR DELETE OR UPDATE OF "
        f"{COUNTED} ON signatures FOR EACH ROW EXECUTE FUNCTION stat_counts_track()"
    )


def _sqlite() -> None:
    op.execute(f"CREATE TRIGGER stat_counts_add AFTER INSERT ON signatures BEGIN {_add('NEW', False)}; END")
    op.execute(f"CREATE TRIGGER stat_counts_take AFTER DELETE ON signatures BEGIN {_take('OLD', False)}; END")
    op.execute(
        f"CREATE TRIGGER stat_counts_move AFTER UPDATE OF {COUNTED} ON signatures "
        f"BEGIN {_take('OLD', False)}; {_add('NEW', False)}; END"
    )


def _drop_counts(table: str, postgres: bool) -> None:
    """Drop ``table`` and the triggers that keep it (0006's ``signature_counts`` or this one's)."""
    if postgres:
        op.execute(f"DROP TRIGGER {table}_track ON signatures")
        op.execute(f"DROP FUNCTION {table}_track()")
    else:
        for name in ("add", "take", "move"):
            op.execute(f"DROP TRIGGER {table}_{name}")
    op.drop_table(table)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "stat_counts",
        sa.Column("campaign", sa.String(64), primary_key=True),
        sa.Column("dimension", sa.String(16), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("slot", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("count", sa.Integer(), nullable=False, server_default="0"),
    )
    if postgres:  # no signature may commit between the count and the trigger (SQLite: one writer anyway)
        op.execute("LOCK TABLE signatures IN SHARE ROW EXCLUSIVE MODE")
    _count_existing(postgres)
    if postgres:
        _postgres()
    else:
        _sqlite()
    _drop_counts("signature_counts", postgres)


def downgrade() -> None:
    _drop_counts("stat_counts", op.get_bind().dialect.name == "postgresql")
    # 0006's table and triggers, as 0006 made them (it counts the rows again).
    importlib.import_module("storage.migrations.versions.0006_signature_counts").upgrade()
