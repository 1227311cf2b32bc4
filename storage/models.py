"""SQLAlchemy models: the signature rows and the anonymous funnel counts.

The schema is owned by the Alembic migrations in ``storage/migrations``; a test
checks that they produce exactly these models on SQLite and PostgreSQL.

Future needs are planned as plain column additions: a receipt code (nullable,
unique), a ``purged_at`` timestamp once personal data is erased after the
campaign (``name`` then becomes nullable), a removal reason. Rows are keyed by a
surrogate ``id`` so none of these changes touches a key.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Unicode,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names, identical on every dialect, so later migrations
# can drop or alter a constraint by name (SQLite batch mode needs the names too).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every dialect.

    PostgreSQL keeps ``timestamptz``; SQLite keeps no zone at all, so values are
    converted to UTC on the way in and marked UTC on the way out. Naive values
    are refused: they are a bug (local time written as if it were UTC).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware value (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - drivers always give datetime
            raise TypeError(f"unexpected datetime value {value!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Signature(Base):
    """One person's signature under one campaign's letter (exists only after consent)."""

    __tablename__ = "signatures"
    __table_args__ = (
        # One signature per person and campaign: the last defence against double taps
        # and re-delivered updates. Its index also serves counting by campaign.
        UniqueConstraint("campaign", "telegram_user_id"),
        # Totals per day / "today" for the organiser's /stats, and ordered exports.
        Index("ix_signatures_campaign_signed_at", "campaign", "signed_at"),
        # /stats breakdowns (migration 0002): each is an index-only scan of a narrow index
        # (~7 MB per million rows on PostgreSQL) instead of a scan of the whole table.
        Index("ix_signatures_campaign_country", "campaign", "country"),
        Index("ix_signatures_campaign_language", "campaign", "language"),
        Index("ix_signatures_campaign_source", "campaign", "source"),
        Index("ix_signatures_campaign_letter_version", "campaign", "letter_version"),
        Index("ix_signatures_campaign_opt_in", "campaign", "opt_in"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign: Mapped[str] = mapped_column(String(64))
    telegram_user_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(Unicode(200))
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    language: Mapped[str] = mapped_column(String(16))  # locale code, e.g. pt_BR
    source: Mapped[str | None] = mapped_column(String(64), nullable=True)  # deep-link payload
    referral_code: Mapped[str] = mapped_column(String(16), unique=True)  # the signer's own code
    opt_in: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    letter_version: Mapped[str] = mapped_column(String(64))
    consent_version: Mapped[str] = mapped_column(String(64))

    def __repr__(self) -> str:
        # No name here: reprs end up in logs and logs never carry names.
        return f"<Signature id={self.id} campaign={self.campaign!r} signed_at={self.signed_at}>"


class FunnelCount(Base):
    """Anonymous per-day counts of people reaching a step; no user ids, ever."""

    __tablename__ = "funnel_counts"

    campaign: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    step: Mapped[str] = mapped_column(String(16), primary_key=True)
    language: Mapped[str] = mapped_column(String(16), primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True, default="")  # "" = no source
    count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    def __repr__(self) -> str:
        where = f"{self.campaign}/{self.day}/{self.step}/{self.language}/{self.source}"
        return f"<FunnelCount {where}={self.count}>"
