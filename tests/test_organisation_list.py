"""The organisation's list in storage, on SQLite and PostgreSQL (``database`` fixture): who a
message to it reaches, how revoking, withdrawing and blocking the bot act on it, and contact
consents kept in the same transaction as the signature they were given with.

The whole path through the bot (an organiser picks the list, a signer gets the message in
their language and stops it) is ``tests/test_campaigns_e2e.py``.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from storage import broadcasts, consents, outbox, signatures
from storage.consents import ORGANISATION, Given, partner_scope
from storage.db import Database
from storage.models import ContactConsent, Delivery, Signature, utcnow
from tests.signers import add_signer

NEWS = Given(ORGANISATION, "", "w1")
PEN = Given(partner_scope("pen"), "writer", "w1")


async def sign_with(db: Database, user_id: int, campaign: str, given: list[Given], language: str = "en") -> Signature:
    return await add_signer(db, user_id, campaign=campaign, language=language, consents=given)


async def held(db: Database, user_id: int) -> list[tuple[str, str]]:
    return [(c.scope, c.campaign) for c in await consents.of_person(db, user_id)]


async def test_the_list_is_those_who_agreed_and_can_be_reached_in_their_language(database: Database) -> None:
    await sign_with(database, 1, "writer", [NEWS], language="de")
    await sign_with(database, 2, "writer", [NEWS, PEN], language="fr")
    await sign_with(database, 3, "writer", [PEN])  # a partner's consent is not the organisation's list
    await add_signer(database, 4, opt_in=True)  # news about one letter only
    blocked = await sign_with(database, 5, "writer", [NEWS])
    async with database.transaction() as session:
        await session.execute(update(Signature).where(Signature.id == blocked.id).values(unreachable_at=utcnow()))

    assert await broadcasts.recipients_by_language(database, broadcasts.ORGANISATION_LIST) == {"de": 1, "fr": 1}
    assert await broadcasts.recipients_by_language(database, "xinjiang") == {"en": 1}  # unchanged
    message = await broadcasts.create_broadcast(database, campaign=broadcasts.ORGANISATION_LIST, texts={"": "Hi"})
    assert message.total == 2
    by_language = await broadcasts.counts_by_language(database, message.id)
    assert {code: part.total for code, part in by_language.items()} == {"de": 1, "fr": 1}

    # Person 2 revokes before their turn: their delivery goes with the consent (counted skipped).
    await consents.revoke(database, 2, ORGANISATION, "")
    assert await outbox.acquire_lease(database, "a", 10) == 0
    claim = await outbox.claim(database, message.id, "a", 10, 10)
    assert [(r.chat_id, r.language, r.signature_id) for r in claim.recipients] == [(1, "de", None)]
    counts = await broadcasts.broadcast_counts(database, message.id)
    assert (counts.total, counts.pending, counts.skipped) == (2, 1, 1)


async def test_blocking_the_bot_marks_every_signature_and_a_later_list_skips_them(database: Database) -> None:
    await sign_with(database, 1, "writer", [NEWS])
    await add_signer(database, 1, opt_in=True)  # the home letter too
    message = await broadcasts.create_broadcast(database, campaign=broadcasts.ORGANISATION_LIST, texts={"": "Hi"})
    assert await outbox.acquire_lease(database, "a", 10) == 0
    [recipient] = (await outbox.claim(database, message.id, "a", 10, 10)).recipients
    assert await outbox.begin_sending(database, recipient.delivery_id)
    await outbox.record_blocked(database, recipient.delivery_id, recipient.signature_id, recipient.chat_id)
    async with database.session() as session:
        marks = list(await session.scalars(select(Signature.unreachable_at).where(Signature.telegram_user_id == 1)))
        status = await session.scalar(select(Delivery.status).where(Delivery.id == recipient.delivery_id))
    assert len(marks) == 2 and all(mark is not None for mark in marks) and status == "blocked"
    assert await broadcasts.recipients_by_language(database, broadcasts.ORGANISATION_LIST) == {}
    assert await broadcasts.recipients_by_language(database, "xinjiang") == {}


async def test_consents_are_kept_with_their_signature_or_not_at_all(database: Database) -> None:
    await sign_with(database, 1, "writer", [NEWS, PEN])
    assert sorted(await held(database, 1)) == [("organisation", ""), ("partner:pen", "writer")]
    # A second tap (the signature exists): nothing is stored, not even a changed choice.
    with pytest.raises(signatures.AlreadySigned):
        await sign_with(database, 1, "writer", [Given(partner_scope("uhrp"), "writer", "w2")])
    assert sorted(await held(database, 1)) == [("organisation", ""), ("partner:pen", "writer")]
    # A consent whose row cannot be written takes the signature with it: neither is stored.
    too_long = Given("x" * 41, "writer", "w1")  # scope is String(40): PostgreSQL refuses it
    if database.is_postgres:
        with pytest.raises(DBAPIError):
            await sign_with(database, 2, "writer", [too_long])
        assert await signatures.get_signature(database, "writer", 2) is None
    # Withdrawing the signature takes the partner's consent in the same transaction; the
    # organisation's lasts while the person has a signature (handlers.my_signature ends it).
    assert await signatures.withdraw_signature(database, "writer", 1)
    assert await held(database, 1) == [("organisation", "")]


async def test_removing_a_signature_by_its_receipt_drops_its_partner_consents(database: Database) -> None:
    signature = await sign_with(database, 1, "writer", [NEWS, PEN])
    assert signature.receipt is not None
    assert await signatures.remove_by_receipt(database, "writer", signature.receipt)
    async with database.session() as session:
        left = list(await session.scalars(select(ContactConsent.scope)))
    assert left == ["organisation"]
    assert not await signatures.remove_by_receipt(database, "writer", signature.receipt)


async def test_a_member_who_leaves_after_the_snapshot_is_skipped_and_one_who_agrees_again_keeps_their_place(
    database: Database,
) -> None:
    await sign_with(database, 1, "writer", [NEWS])
    await sign_with(database, 2, "writer", [NEWS])
    await sign_with(database, 3, "writer", [NEWS])
    message = await broadcasts.create_broadcast(database, campaign=broadcasts.ORGANISATION_LIST, texts={"": "Hi"})
    assert message.total == 3
    # 1 withdraws their only signature (the consent row stays until the purge or their withdrawal
    # ends it): nothing to reach them by. 2 signs another letter, ticking the news again.
    assert await signatures.withdraw_signature(database, "writer", 1)
    before = {c.telegram_user_id: c.id for c in await consents.of_person(database, 2)}
    await sign_with(database, 2, "xinjiang", [Given(ORGANISATION, "", "w2")], language="de")
    [again] = await consents.of_person(database, 2)
    assert again.id == before[2] and (again.wording_version, again.given_in, again.language) == ("w2", "xinjiang", "de")
    assert await outbox.acquire_lease(database, "a", 10) == 0
    claim = await outbox.claim(database, message.id, "a", 10, 10)
    assert sorted(r.chat_id for r in claim.recipients) == [2, 3] and claim.skipped == 1
    assert [r.language for r in claim.recipients if r.chat_id == 2] == ["de"]  # the language they gave it in last
