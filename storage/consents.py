"""Contact consents beyond the letter (``models.ContactConsent``): given at signing, shown by
/updates and /mysignature, revoked in one tap (the row is deleted), and gone with what they
depend on: a partner's with the signature of its campaign (withdrawal, removal, purge), the
organisation's once its giver has no signature left on any letter (purge)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Executable,
    ScalarSelect,
    String,
    and_,
    delete,
    exists,
    insert,
    literal,
    select,
    update,
)

from storage.db import Database
from storage.models import ContactConsent, Signature, UTCDateTime, utcnow

ORGANISATION = "organisation"  # news about the organisation's future campaigns
PARTNER = "partner:"  # "partner:<key>": a partner organisation of one campaign may contact the signer


def partner_scope(key: str) -> str:
    return PARTNER + key


@dataclass(frozen=True, slots=True)
class Given:
    """One consent as given: its scope, the campaign it belongs to ("" for the organisation's),
    and the version of the sentence agreed to."""

    scope: str
    campaign: str
    wording_version: str


def recording(user_id: int, given_in: str, consents: Sequence[Given], *, language: str) -> list[Executable]:
    """The statements that record ``consents`` (given on ``given_in``'s consent screen, in
    ``language``): one given again keeps its row (and so its place in a message to the list
    being sent) with the wording agreed to now. Run inside the transaction that stores the
    signature (``signatures.add_signature``): both are kept, or neither."""
    statements: list[Executable] = []
    for consent in consents:
        same = (
            ContactConsent.telegram_user_id == user_id,
            ContactConsent.scope == consent.scope,
            ContactConsent.campaign == consent.campaign,
        )
        now = utcnow()
        agreed = {"given_in": given_in, "language": language, "wording_version": consent.wording_version}
        statements.append(update(ContactConsent).where(*same).values(**agreed, given_at=now))
        new_row = select(
            literal(user_id, BigInteger),
            literal(consent.scope, String),
            literal(consent.campaign, String),
            literal(given_in, String),
            literal(language, String),
            literal(consent.wording_version, String),
            literal(now, UTCDateTime()),
        ).where(~exists().where(*same))
        columns = ["telegram_user_id", "scope", "campaign", "given_in", "language", "wording_version", "given_at"]
        statements.append(insert(ContactConsent).from_select(columns, new_row))
    return statements


async def record(db: Database, user_id: int, given_in: str, consents: Sequence[Given], *, language: str) -> None:
    """Record ``consents`` on their own, outside a signature's transaction (``recording``)."""
    async with db.transaction() as session:
        for statement in recording(user_id, given_in, consents, language=language):
            await session.execute(statement)


async def of_person(db: Database, user_id: int) -> list[ContactConsent]:
    """This person's consents, oldest first."""
    async with db.session() as session:
        found = await session.scalars(
            select(ContactConsent).where(ContactConsent.telegram_user_id == user_id).order_by(ContactConsent.id)
        )
        return list(found)


async def revoke(db: Database, user_id: int, scope: str, campaign: str) -> bool:
    """Delete one consent; whether there was one."""
    async with db.transaction() as session:
        result = await session.execute(
            delete(ContactConsent).where(
                ContactConsent.telegram_user_id == user_id,
                ContactConsent.scope == scope,
                ContactConsent.campaign == campaign,
            )
        )
        return bool(getattr(result, "rowcount", 0))


def dropping_with_signature(user_id: int, campaign: str) -> Executable:
    """A signature withdrawn or removed: the partner consents given with it go too (run in the
    transaction that deletes it: ``signatures.withdraw_signature``, ``remove_by_receipt``)."""
    return delete(ContactConsent).where(
        ContactConsent.telegram_user_id == user_id,
        ContactConsent.campaign == campaign,
        ContactConsent.scope.startswith(PARTNER),
    )


async def drop_after_purge(db: Database, campaign: str) -> int:
    """After ``campaign``'s personal data was purged: its partner consents, and the organisation's
    consents of people with no signature left on any letter (``drop_orphans``); how many."""
    async with db.transaction() as session:
        partners = await session.execute(
            delete(ContactConsent).where(
                and_(ContactConsent.campaign == campaign, ContactConsent.scope.startswith(PARTNER))
            )
        )
    return int(getattr(partners, "rowcount", 0) or 0) + await drop_orphans(db)


async def drop_orphans(db: Database) -> int:
    """The organisation's consents of people with no signature left on any letter: news about
    future campaigns lasts while its giver has a signature (``purge`` runs this every day)."""
    has_signature = exists().where(Signature.telegram_user_id == ContactConsent.telegram_user_id)
    async with db.transaction() as session:
        orphans = await session.execute(
            delete(ContactConsent).where(ContactConsent.scope == ORGANISATION, ~has_signature)
        )
    return int(getattr(orphans, "rowcount", 0) or 0)


async def campaigns_with_data(db: Database) -> set[str]:
    """Every campaign some signature or partner consent belongs to (live or not)."""
    async with db.session() as session:
        signed = set(await session.scalars(select(Signature.campaign).distinct()))
        consented = set(
            await session.scalars(
                select(ContactConsent.campaign).where(ContactConsent.scope.startswith(PARTNER)).distinct()
            )
        )
    return signed | consented


def partner_user_ids(campaign: str, key: str) -> ScalarSelect[int]:
    """The Telegram ids who agreed that ``key`` may contact them about ``campaign``: a subquery
    for a partner's export (``storage.exports.rows.snapshot``)."""
    return (
        select(ContactConsent.telegram_user_id)
        .where(ContactConsent.scope == partner_scope(key), ContactConsent.campaign == campaign)
        .scalar_subquery()
    )
