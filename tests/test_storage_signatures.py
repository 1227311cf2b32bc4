"""Signatures and funnel counts, on SQLite and PostgreSQL (via the ``database`` fixture)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from storage.db import Database
from storage.models import Broadcast, Delivery, Signature
from storage.signatures import (
    AlreadySigned,
    add_signature,
    bump_funnel,
    count_signatures,
    find_by_referral,
    funnel_counts,
    get_signature,
    mark_reachable,
    remove_by_receipt,
    set_opt_in,
    withdraw_signature,
)

CAMPAIGN = "xinjiang"


async def _sign(db: Database, user_id: int, name: str = "Ada Lovelace", **overrides: Any) -> Signature:
    values: dict[str, Any] = {
        "campaign": CAMPAIGN,
        "user_id": user_id,
        "name": name,
        "country": "GB",
        "language": "en",
        "source": None,
        "opt_in": False,
        "letter_version": "letter-1",
        "consent_version": "consent-1",
    }
    values.update(overrides)
    return await add_signature(db, **values)


async def test_add_get_count_withdraw(database: Database) -> None:
    assert await count_signatures(database, CAMPAIGN) == 0
    assert await get_signature(database, CAMPAIGN, 42) is None

    before = datetime.now(UTC)
    signature = await add_signature(
        database,
        campaign=CAMPAIGN,
        user_id=42,
        name="Ada Lovelace",
        country="GB",
        language="pt_BR",
        source="newsletter_2026",
        opt_in=True,
        letter_version="letter-1",
        consent_version="consent-1",
    )
    assert signature.id is not None
    assert re.fullmatch(r"[A-Za-z0-9_-]{8}", signature.referral_code)

    stored = await get_signature(database, CAMPAIGN, 42)
    assert stored is not None
    assert (stored.name, stored.country, stored.language, stored.source) == (
        "Ada Lovelace",
        "GB",
        "pt_BR",
        "newsletter_2026",
    )
    assert stored.opt_in is True
    assert (stored.letter_version, stored.consent_version) == ("letter-1", "consent-1")
    assert stored.signed_at.tzinfo is not None
    assert stored.signed_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= stored.signed_at <= datetime.now(UTC) + timedelta(seconds=1)

    assert await count_signatures(database, CAMPAIGN) == 1
    assert await count_signatures(database, "other-campaign") == 0

    assert await withdraw_signature(database, CAMPAIGN, 42) is True
    assert await withdraw_signature(database, CAMPAIGN, 42) is False
    assert await get_signature(database, CAMPAIGN, 42) is None
    assert await count_signatures(database, CAMPAIGN) == 0


async def test_defaults_and_empty_source(database: Database) -> None:
    await _sign(database, 1, source="")
    stored = await get_signature(database, CAMPAIGN, 1)
    assert stored is not None
    assert stored.source is None
    assert stored.opt_in is False


async def test_same_person_may_sign_another_campaign(database: Database) -> None:
    await _sign(database, 7)
    await _sign(database, 7, campaign="another")
    assert await count_signatures(database, CAMPAIGN) == 1
    assert await count_signatures(database, "another") == 1


async def test_signing_twice_raises_already_signed_with_the_first(database: Database) -> None:
    first = await _sign(database, 5, name="First Name")
    with pytest.raises(AlreadySigned) as raised:
        await _sign(database, 5, name="Second Name")
    assert raised.value.signature.id == first.id
    assert raised.value.signature.name == "First Name"
    assert raised.value.signature.signed_at.tzinfo is not None
    assert await count_signatures(database, CAMPAIGN) == 1


async def test_concurrent_double_taps_store_exactly_one(database: Database) -> None:
    results = await asyncio.gather(*(_sign(database, 99) for _ in range(20)), return_exceptions=True)
    stored = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, AlreadySigned)]
    assert len(stored) == 1, results
    assert len(refused) == 19, results
    assert all(r.signature.id == stored[0].id for r in refused)
    assert await count_signatures(database, CAMPAIGN) == 1


async def test_concurrent_different_people_all_stored(database: Database) -> None:
    await asyncio.gather(*(_sign(database, user_id) for user_id in range(1, 31)))
    assert await count_signatures(database, CAMPAIGN) == 30


async def test_referral_lookup(database: Database) -> None:
    signature = await _sign(database, 11)
    code = signature.referral_code
    found = await find_by_referral(database, CAMPAIGN, code)
    assert found is not None
    assert found.telegram_user_id == 11
    assert await find_by_referral(database, "another", code) is None
    assert await find_by_referral(database, CAMPAIGN, "nope1234") is None

    codes = {code}
    for user_id in range(12, 40):
        codes.add((await _sign(database, user_id)).referral_code)
    assert len(codes) == 29


@pytest.mark.parametrize(
    "name",
    [
        "محمد عبد الله",  # Arabic, right-to-left
        "热依拉·达吾提",  # CJK with a middle dot
        "Zoë 🌍 Ødegård",  # emoji (outside the BMP) and Latin diacritics
        "Мухаммед Ілля",  # Cyrillic
        "x" * 200,  # the column's limit
    ],
)
async def test_unicode_names_round_trip(database: Database, name: str) -> None:
    await _sign(database, 1, name=name)
    stored = await get_signature(database, CAMPAIGN, 1)
    assert stored is not None
    assert stored.name == name


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "x" * 201),
        ("country", "gb"),
        ("country", "GBR"),
        ("source", "s" * 65),
        ("language", "l" * 17),
        ("letter_version", "v" * 65),
        ("campaign", "c" * 65),
    ],
)
async def test_values_the_schema_cannot_hold_are_refused(database: Database, field: str, value: str) -> None:
    with pytest.raises(ValueError, match=field):
        await _sign(database, 1, **{field: value})
    assert await count_signatures(database, CAMPAIGN) == 0


async def test_funnel_upsert_is_atomic_under_concurrency(database: Database) -> None:
    await asyncio.gather(
        *(bump_funnel(database, campaign=CAMPAIGN, step="started", language="en", source="ref_abc") for _ in range(50))
    )
    assert await funnel_counts(database, CAMPAIGN) == {"started": 50}


async def test_funnel_totals_per_step(database: Database) -> None:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    for step, language, source, day in [
        ("started", "en", None, None),
        ("started", "de", "", None),
        ("started", "en", None, yesterday),
        ("started", "en", "flyer", None),
        ("read", "en", None, None),
        ("signed", "ar", None, date(2026, 1, 1)),
    ]:
        await bump_funnel(database, campaign=CAMPAIGN, step=step, language=language, source=source, day=day)
    await bump_funnel(database, campaign="another", step="started", language="en", source=None)
    assert await funnel_counts(database, CAMPAIGN) == {"started": 4, "read": 1, "signed": 1}
    assert await funnel_counts(database, "another") == {"started": 1}
    assert await funnel_counts(database, "nobody") == {}


async def test_funnel_rejects_bad_step(database: Database) -> None:
    with pytest.raises(ValueError, match="step"):
        await bump_funnel(database, campaign=CAMPAIGN, step="Signed!", language="en", source=None)


async def test_set_opt_in_turns_news_on_and_off(database: Database) -> None:
    await _sign(database, 21, opt_in=True)
    assert await set_opt_in(database, CAMPAIGN, 21, False) is True
    assert await set_opt_in(database, CAMPAIGN, 21, False) is False  # already off
    stored = await get_signature(database, CAMPAIGN, 21)
    assert stored is not None and stored.opt_in is False
    assert await set_opt_in(database, CAMPAIGN, 21, True) is True
    assert await set_opt_in(database, CAMPAIGN, 21, True) is False
    stored = await get_signature(database, CAMPAIGN, 21)
    assert stored is not None and stored.opt_in is True
    assert await set_opt_in(database, CAMPAIGN, 22, True) is None  # never signed
    assert await set_opt_in(database, "another", 21, False) is None  # another campaign's list


async def _mark_unreachable(database: Database, user_id: int) -> None:
    async with database.transaction() as session:
        await session.execute(
            update(Signature).where(Signature.telegram_user_id == user_id).values(unreachable_at=datetime.now(UTC))
        )


async def test_mark_reachable_clears_the_unreachable_mark(database: Database) -> None:
    await _sign(database, 31, opt_in=True)
    await _sign(database, 31, opt_in=True, campaign="another")  # the same person on another letter
    await _sign(database, 32, opt_in=True)
    await _mark_unreachable(database, 31)
    await _mark_unreachable(database, 32)
    assert await mark_reachable(database, 31) is True
    assert await mark_reachable(database, 31) is False  # nothing left to clear
    assert await mark_reachable(database, 33) is False  # not signed
    first, second = await get_signature(database, CAMPAIGN, 31), await get_signature(database, CAMPAIGN, 32)
    assert first is not None and first.unreachable_at is None
    other_letter = await get_signature(database, "another", 31)
    assert other_letter is not None and other_letter.unreachable_at is None  # a block is the whole bot's
    assert second is not None and second.unreachable_at is not None  # only that person


async def test_turning_news_on_also_clears_the_unreachable_mark(database: Database) -> None:
    await _sign(database, 34, opt_in=False)
    await _mark_unreachable(database, 34)
    assert await set_opt_in(database, CAMPAIGN, 34, True) is True
    stored = await get_signature(database, CAMPAIGN, 34)
    assert stored is not None and stored.unreachable_at is None


async def test_turning_news_on_when_already_on_still_clears_the_unreachable_mark(database: Database) -> None:
    await _sign(database, 35, opt_in=True)
    await _sign(database, 36, opt_in=True)
    await _mark_unreachable(database, 35)
    await _mark_unreachable(database, 36)
    assert await set_opt_in(database, CAMPAIGN, 35, True) is False  # news was already on
    first, second = await get_signature(database, CAMPAIGN, 35), await get_signature(database, CAMPAIGN, 36)
    assert first is not None and first.opt_in is True and first.unreachable_at is None
    assert second is not None and second.unreachable_at is not None  # only that person


async def test_remove_by_receipt_deletes_the_signature_and_its_deliveries(database: Database) -> None:
    removed = await _sign(database, 41, opt_in=True)
    kept = await _sign(database, 42, opt_in=True)
    assert removed.receipt is not None and kept.receipt is not None
    async with database.transaction() as session:
        broadcast = Broadcast(campaign=CAMPAIGN, kind="message", texts={"": "News"})
        session.add(broadcast)
        await session.flush()
        session.add_all([Delivery(broadcast_id=broadcast.id, signature_id=s.id) for s in (removed, kept)])

    assert await remove_by_receipt(database, "another", removed.receipt) is False  # another campaign's list
    assert await remove_by_receipt(database, CAMPAIGN, removed.receipt) is True
    assert await remove_by_receipt(database, CAMPAIGN, removed.receipt) is False  # already gone
    assert await get_signature(database, CAMPAIGN, 41) is None
    assert await get_signature(database, CAMPAIGN, 42) is not None
    async with database.session() as session:
        left = await session.scalars(select(Delivery.signature_id))
        assert list(left) == [kept.id]
        assert await session.scalar(select(func.count()).select_from(Broadcast)) == 1
