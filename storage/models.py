"""SQLAlchemy models: the signature rows and the anonymous funnel counts.

The schema is owned by the Alembic migrations in ``storage/migrations``; a test
checks that they produce exactly these models on SQLite and PostgreSQL.

Migration 0003 ("after the signature") added the receipt code, the
``unreachable_at`` mark (the person blocked the bot during an update), the
anonymous ``signature_tallies`` that keep the counts of purged signatures, the
broadcasts with one delivery row per recipient (their progress survives a
restart), the single-sender lease and the generated receipt secret.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
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
        # A person's signatures on every letter (/mysignature's other letters, the organisation's list).
        Index("ix_signatures_telegram_user_id", "telegram_user_id"),
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
    # The signer's receipt, 8 characters of Crockford base32 without the dash ("K7QF2M9D"),
    # derived with the server secret (storage.receipts). Null only for rows older than 0003
    # until the bot assigns theirs at start.
    receipt: Mapped[str | None] = mapped_column(String(8), unique=True, nullable=True)
    # Set when Telegram answered 403 to an update for this person (they blocked the bot):
    # no broadcast is sent to them again until they come back with /start.
    unreachable_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # How the signer chose to appear to the addressees: "full", "first_initial" or "initials".
    # ``name`` holds only that form: nothing more of the name is stored.
    name_form: Mapped[str] = mapped_column(String(16), default="full", server_default="full")
    # How many people signed through this signer's share link (never who).
    referrals: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The first delivery of the list to the addressees that carried this signature.
    list_delivery_id: Mapped[int | None] = mapped_column(ForeignKey("list_deliveries.id"), nullable=True)

    def __repr__(self) -> str:
        # No name here: reprs end up in logs and logs never carry names.
        return f"<Signature id={self.id} campaign={self.campaign!r} signed_at={self.signed_at}>"


class ContactConsent(Base):
    """A signer's consent to be contacted beyond the letter: by the organisation about its
    future campaigns (``scope`` "organisation", ``campaign`` ""), or by a partner organisation
    of one campaign (``scope`` "partner:<key>", ``campaign`` its slug). Never pre-ticked; the
    exact wording agreed to is ``wording_version``; revoking deletes the row."""

    __tablename__ = "contact_consents"
    __table_args__ = (
        UniqueConstraint("telegram_user_id", "scope", "campaign"),
        Index("ix_contact_consents_scope_campaign", "scope", "campaign"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger)
    scope: Mapped[str] = mapped_column(String(40))
    campaign: Mapped[str] = mapped_column(String(64))
    given_in: Mapped[str] = mapped_column(String(64))  # the campaign whose consent screen asked
    language: Mapped[str] = mapped_column(String(16))  # the locale it was given in: what to write in
    wording_version: Mapped[str] = mapped_column(String(64))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<ContactConsent id={self.id} scope={self.scope!r} campaign={self.campaign!r}>"


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


class ListDelivery(Base):
    """One handing of the list to the letter's addressees, recorded by ``python -m bot deliver``.

    The list as of that moment: its count and the fingerprint of what the delivery
    document prints (number, name as printed, country). Signatures it carried point to
    it (``Signature.list_delivery_id``), so ``/verify`` can say "delivered on DATE".
    """

    __tablename__ = "list_deliveries"
    __table_args__ = (Index("ix_list_deliveries_campaign", "campaign"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign: Mapped[str] = mapped_column(String(64))
    delivered_on: Mapped[date] = mapped_column(Date)
    recipient: Mapped[str] = mapped_column(Unicode(200))  # to whom, as the organiser wrote it
    note: Mapped[str | None] = mapped_column(Unicode(500), nullable=True)
    signature_count: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<ListDelivery id={self.id} campaign={self.campaign!r} on={self.delivered_on}>"


class MaintenanceMark(Base):
    """A named housekeeping value (e.g. what the last vacuum after erasures saw); never personal data."""

    __tablename__ = "maintenance_marks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


class StatCount(Base):
    """How many signatures there are, by one thing about them, kept by the database itself.

    For every signature, one count in each ``dimension``: its UTC ``day`` (key
    ``YYYY-MM-DD``), ``country``, ``language``, ``source`` ("" for none), ``letter``
    version and ``opt_in`` ("1" or "0"). Triggers on ``signatures`` (migration 0007) add
    one on every insert, take one away on every delete and move them when a counted column
    changes, in the row's own transaction: the counts agree with the rows at every moment,
    whichever code (or person at a SQL prompt) changed them. ``/stats`` and the total under
    the letter read these few rows (a row per day, country, language, source, letter version
    and slot), however many signatures there are; ``python -m bot stats --verify`` recounts
    the rows and compares (``storage.stat_counts``). ``slot`` (the row's id modulo
    ``SLOTS``) spreads today's signatures over several rows, so a crowd signing at once
    does not queue on one row's lock.
    """

    __tablename__ = "stat_counts"
    SLOTS = 8
    DIMENSIONS = ("day", "country", "language", "source", "letter", "opt_in")

    campaign: Mapped[str] = mapped_column(String(64), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    def __repr__(self) -> str:
        return f"<StatCount {self.campaign}/{self.dimension}/{self.key}#{self.slot}={self.count}>"


class SignatureTally(Base):
    """Anonymous counts of signatures whose personal data was purged after retention.

    ``python -m bot purge`` moves each purged signature into one of these counts
    (per UTC day, country, language, source and letter version) before deleting the
    row, so ``/stats`` totals and history stay right with no person left behind.
    """

    __tablename__ = "signature_tallies"

    campaign: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    language: Mapped[str] = mapped_column(String(16), primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True, default="")  # "" = no source
    letter_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    def __repr__(self) -> str:
        return f"<SignatureTally {self.campaign}/{self.day}/{self.country}/{self.language}={self.count}>"


class Broadcast(Base):
    """One message to every opted-in signer: an organiser's text or a milestone; with
    ``campaign`` "" an organiser's text to the organisation's list (``storage.broadcasts``).

    ``texts`` maps a locale code to the organiser's text, "" meaning "every other
    language". A milestone carries no text (its words are a catalog message) and
    its number is unique per campaign: two workers crossing it at once create it once.
    """

    __tablename__ = "broadcasts"
    __table_args__ = (UniqueConstraint("campaign", "milestone"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # "message" or "milestone"
    milestone: Mapped[int | None] = mapped_column(Integer, nullable=True)
    texts: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)  # only signers of this language
    created_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # the organiser; None: CLI/milestone
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="sending")  # sending, done, cancelled
    total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Where the sender shows its progress (the organiser's chat), edited as it goes.
    progress_chat_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    progress_message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    progress_locale: Mapped[str | None] = mapped_column(String(16), nullable=True)  # the organiser's language
    # Set on the "your signature has been delivered" news: one per delivery of the list.
    list_delivery_id: Mapped[int | None] = mapped_column(ForeignKey("list_deliveries.id"), nullable=True, unique=True)

    def __repr__(self) -> str:
        return f"<Broadcast id={self.id} kind={self.kind} status={self.status}>"


class Delivery(Base):
    """One recipient of one broadcast, and how sending it went.

    The recipient is a signature (a campaign's news: ``signature_id``) or a contact consent
    (the organisation's list of people who asked for news of its future campaigns:
    ``consent_id``), never both.

    Status: ``pending`` (to send; ``next_attempt_at`` after a failure), ``claimed``
    (taken by the sender, not yet handed to Telegram: pending again if the sender
    stops or dies, cancelled with its broadcast), ``sending`` (handed to Telegram,
    answer not yet recorded), ``sent``, ``blocked`` (403: never retried), ``failed``
    (retries exhausted), ``skipped`` (withdrew or opted out meanwhile), ``cancelled``,
    ``uncertain`` (the sender died while sending it: maybe delivered, never repeated).
    Deleting the signature (withdrawal, removal, purge) or revoking the consent deletes its
    deliveries.
    """

    __tablename__ = "broadcast_deliveries"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "signature_id"),
        # Consent first: it also finds a revoked consent's deliveries (ON DELETE CASCADE).
        UniqueConstraint("consent_id", "broadcast_id"),
        CheckConstraint("(signature_id IS NULL) <> (consent_id IS NULL)", name="one_recipient"),
        Index("ix_broadcast_deliveries_broadcast_id_status", "broadcast_id", "status"),
        Index("ix_broadcast_deliveries_signature_id", "signature_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    signature_id: Mapped[int | None] = mapped_column(ForeignKey("signatures.id", ondelete="CASCADE"), nullable=True)
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("contact_consents.id", ondelete="CASCADE"), nullable=True)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(String(64), nullable=True)  # an error kind, never text

    def __repr__(self) -> str:
        return f"<Delivery id={self.id} broadcast={self.broadcast_id} status={self.status}>"


class Lease(Base):
    """A named lease held by one process at a time (the broadcast sender), renewed while alive."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BotSecret(Base):
    """Secrets the bot generates once and shares between workers (the receipt secret when
    ``RECEIPT_SECRET`` is not set)."""

    __tablename__ = "bot_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))

    def __repr__(self) -> str:
        return f"<BotSecret {self.name}>"  # never the value
