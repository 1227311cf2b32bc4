"""Contact consents beyond the letter (``models.ContactConsent``): given at signing, shown by
/updates and /mysignature, revoked in one tap (the row is deleted), and gone with what they
depend on: a partner's with the signature of its campaign (withdrawal, removal, purge), the
organisation's once its giver has no signature left on any letter (purge)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ScalarSelect, and_, delete, exists, select

from storage.db import Database
from storage.models import ContactConsent, Signature

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


async def record(db: Database, user_id: int, given_in: str, consents: Sequence[Given], *, language: str) -> None:
    """Record ``consents`` (given on ``given_in``'s consent screen, in ``language``); one given
    again replaces the earlier record, with the wording agreed to now."""
    if not consents:
        return
    async with db.transaction() as session:
        for consent in consents:
            await session.execute(
                delete(ContactConsent).where(
                    ContactConsent.telegram_user_id == user_id,
                    ContactConsent.scope == consent.scope,
                    ContactConsent.campaign == consent.campaign,
                )
            )
            session.add(
                ContactConsent(
                    telegram_user_id=user_id,
                    scope=consent.scope,
                    campaign=consent.campaign,
                    given_in=given_in,
                    language=language,
                    wording_version=consent.wording_version,
                )
            )


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


async def drop_with_signature(db: Database, user_id: int, campaign: str) -> None:
    """A signature withdrawn or removed: the partner consents given with it go too."""
    async with db.transaction() as session:
        await session.execute(
            delete(ContactConsent).where(
                ContactConsent.telegram_user_id == user_id,
                ContactConsent.campaign == campaign,
                ContactConsent.scope.startswith(PARTNER),
            )
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
