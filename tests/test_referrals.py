"""Referral credit without a social graph: the share-link payload, the credit at signing (in
the signature's own transaction, on SQLite and PostgreSQL) and the conversation states saved
by an older version, whose source may still be a sharer's bare code."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
from sqlalchemy import select

from bot.translations.preview import plain
from handlers import referrals
from handlers.core import Core
from handlers.events import User
from handlers.i18n import I18n
from handlers.referrals import Arrival, campaign_of, parse, share_payload, shared_source
from handlers.simulated_user import InProcessUser
from handlers.state import ConversationState, Step
from storage import signatures
from storage.db import Database
from storage.models import FunnelCount
from storage.state_memory import MemoryStateStore
from tests.signers import add_signer
from tests.test_conversation import ADA, TELEGRAM_CODES, make_core, seen

CODES = ["AbCd1234", "-_-_-_-_", "ab-cd_ef", "--------", "r-r-r-r-", "xyz_123-"]


# --- the payload -------------------------------------------------------------------------


@pytest.mark.parametrize("source", [None, "", "shared", "poster", "shared-poster", "a-b_c--r", "x" * 53])
def test_every_code_and_source_round_trips(source: str | None) -> None:
    """Codes may hold ``-`` and ``_``: the fixed length keeps the payload unambiguous."""
    for code in [*CODES, *(secrets.token_urlsafe(6) for _ in range(500))]:
        payload = share_payload(code, source)
        assert payload is not None and referrals.PAYLOAD.fullmatch(payload) and len(payload) <= 64
        assert parse(payload) == Arrival(shared_source(campaign_of(source)), code), (code, source)


def test_the_campaign_passes_along_a_chain_but_never_the_code() -> None:
    assert shared_source(campaign_of("poster")) == "shared-poster"
    assert shared_source(campaign_of("shared-poster")) == "shared-poster"
    assert shared_source(campaign_of("shared")) == "shared"
    assert shared_source(campaign_of(None)) == "shared"
    assert share_payload("AbCd1234", "shared-poster") == "r-AbCd1234-poster"
    assert share_payload("AbCd1234", None) == "r-AbCd1234"


def test_a_campaign_source_too_long_for_the_link_is_dropped() -> None:
    assert share_payload("AbCd1234", "x" * 53) == "r-AbCd1234-" + "x" * 53  # exactly 64
    assert share_payload("AbCd1234", "x" * 54) == "r-AbCd1234"
    assert share_payload("AbCd1234", "shared-" + "x" * 57) == "r-AbCd1234"
    assert shared_source("x" * 54) == "shared"  # an old link's sharer with a long source


def test_other_payloads() -> None:
    assert parse("poster_berlin") == Arrival("poster_berlin")  # a campaign source
    assert parse("r-short") == Arrival("r-short")  # too short for a code: a campaign source
    assert parse("r-AbCd1234x") == Arrival("r-AbCd1234x")  # no separator after the code
    assert parse("r-AbCd1234-") == Arrival("r-AbCd1234-")  # an empty campaign
    assert parse("AbCd1234") == Arrival("AbCd1234")  # code-shaped: the bot looks it up (old links)
    for junk in ("", "x" * 65, "has space", "ünï", "a.b", "r-AbCd1234-poster/x"):
        assert parse(junk) is None, junk
    assert share_payload("b42", "poster") is None  # not a referral code: no payload at all


def test_states_saved_before_referrers_are_read() -> None:
    old = ConversationState.from_dict({"step": "consent", "source": "AbCd1234"})
    assert (old.source, old.referrer, old.source_resolved) == ("AbCd1234", None, False)
    new = ConversationState(source="shared", referrer="AbCd1234", source_resolved=True)
    assert ConversationState.from_dict(new.to_dict()) == new
    assert ConversationState.from_dict({"referrer": 12}).referrer is None


# --- the credit --------------------------------------------------------------------------


async def _sign(db: Database, user_id: int, referrer: str | None = None, campaign: str = "xinjiang") -> Any:
    return await signatures.add_signature(
        db,
        campaign=campaign,
        user_id=user_id,
        name=f"Signer {user_id}",
        country="DE",
        language="en",
        source="shared" if referrer else None,
        opt_in=False,
        letter_version="v1",
        consent_version="c1",
        referrer=referrer,
    )


async def _referrals(db: Database, user_id: int, campaign: str = "xinjiang") -> int | None:
    row = await signatures.get_signature(db, campaign, user_id)
    return None if row is None else row.referrals


async def test_the_sharer_is_credited_once_per_new_signature(database: Database) -> None:
    ada = await _sign(database, 1)
    await _sign(database, 2, ada.referral_code)
    await _sign(database, 3, ada.referral_code)
    assert await _referrals(database, 1) == 2
    with pytest.raises(signatures.AlreadySigned):  # a re-delivered update: no second credit
        await _sign(database, 3, ada.referral_code)
    assert await _referrals(database, 1) == 2
    # Ten concurrent taps of one person: one row, one credit.
    results = await asyncio.gather(*(_sign(database, 4, ada.referral_code) for _ in range(10)), return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, signatures.AlreadySigned) for r in results if isinstance(r, BaseException))
    assert await _referrals(database, 1) == 3
    assert (await _referrals(database, 2), await _referrals(database, 3)) == (0, 0)


async def test_no_credit_for_nobody_another_campaign_or_oneself(database: Database) -> None:
    ada = await _sign(database, 1)
    await _sign(database, 2, "NoOne123")  # an unknown (or withdrawn) sharer
    await _sign(database, 1, ada.referral_code, campaign="other")  # Ada's code means nothing there
    assert await _referrals(database, 1) == 0
    assert await _referrals(database, 1, "other") == 0
    # Ada's own code, as if her state still held it after withdrawing and signing again.
    await signatures.withdraw_signature(database, "xinjiang", 1)
    again = await _sign(database, 1, ada.referral_code)
    assert again.referral_code != ada.referral_code and await _referrals(database, 1) == 0
    bo = await _sign(database, 5)
    await signatures.withdraw_signature(database, "xinjiang", 5)
    await _sign(database, 6, bo.referral_code)  # Bo withdrew before Cy signed
    assert await _referrals(database, 6) == 0


# --- the conversation --------------------------------------------------------------------


async def _sign_in_core(chatter: InProcessUser) -> None:
    await chatter.press(callback_data="sign")
    await chatter.press(callback_data="agree")
    await chatter.press(callback_data="asme")
    await chatter.send("Germany")
    await chatter.press(callback_data="confirm:full")


async def test_a_state_saved_by_an_older_version_is_resolved_once(
    db: Database, store: MemoryStateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mid-signing when the bot was upgraded, with a sharer's bare code as source: the code
    becomes "shared" before anything is counted, the sharer is credited, and the lookup runs once."""
    ada = await add_signer(db, 1, source="poster")
    await store.save("state:42", {"step": Step.READING.value, "locale": "en", "source": ada.referral_code}, 3600)
    core: Core = make_core(db, store)
    lookups: list[str] = []
    find = signatures.find_by_referral

    async def counting(db_: Database, campaign: str, code: str) -> Any:
        lookups.append(code)
        return await find(db_, campaign, code)

    monkeypatch.setattr(signatures, "find_by_referral", counting)
    await _sign_in_core(InProcessUser(core, ADA))
    assert lookups == [ada.referral_code]
    row = await signatures.get_signature(db, "xinjiang", 42)
    assert row is not None and row.source == "shared-poster"
    assert await _referrals(db, 1) == 1
    state = await store.load("state:42")
    assert state is not None and state["referrer"] is None and state["source"] == "shared-poster"
    await core.flush_counts()
    async with db.session() as session:
        assert set(await session.scalars(select(FunnelCount.source))) == {"shared-poster"}


async def test_an_older_state_with_a_campaign_source_keeps_it(db: Database, store: MemoryStateStore) -> None:
    await store.save("state:42", {"step": Step.READING.value, "locale": "en", "source": "poster01"}, 3600)
    await _sign_in_core(InProcessUser(make_core(db, store), ADA))
    row = await signatures.get_signature(db, "xinjiang", 42)
    assert row is not None and row.source == "poster01"


async def test_a_signer_opening_a_share_link_keeps_no_code(db: Database, store: MemoryStateStore) -> None:
    core = make_core(db, store)
    ada = InProcessUser(core, ADA)
    await ada.send("/start")
    await _sign_in_core(ada)
    bo = await add_signer(db, 7)
    await ada.send(f"/start r-{bo.referral_code}")  # signed already: nobody is credited
    state = await store.load("state:42")
    assert state is not None and state["referrer"] is None
    assert await _referrals(db, 7) == 0


POSTER = "poster_berlin"


@pytest.mark.parametrize("locale", sorted(TELEGRAM_CODES))
async def test_mysignature_counts_referrals_in_every_language(
    db: Database, store: MemoryStateStore, locale: str
) -> None:
    """The count (plural forms of the language), the nudge and where the signer came from, as the
    catalog words them (English until the translations land, theirs afterwards)."""
    core = make_core(db, store)
    t = I18n().get(locale)
    ada = await add_signer(db, 6401, source=f"shared-{POSTER}")
    bo = await add_signer(db, 6402, source="shared")
    for user_id in (6403, 6404):
        await signatures.add_signature(
            db,
            campaign="xinjiang",
            user_id=user_id,
            name="Friend",
            country="FR",
            language="en",
            source=f"shared-{POSTER}",
            opt_in=False,
            letter_version="v1",
            consent_version="c1",
            referrer=ada.referral_code,
        )
    expected = {
        ada.telegram_user_id: [
            t.ngettext(
                "{n} person signed the letter through your link. Thank you for sharing!",
                "{n} people signed the letter through your link. Thank you for sharing!",
                2,
            ),
            t.gettext(
                "Link you came from: shared by another signer (first from {source}); we do not store who.",
                source=POSTER,
            ),
        ],
        bo.telegram_user_id: [
            t.gettext(
                "Share the letter with the button below: here you will see how many people signed through "
                "your link (only the number, never who)."
            ),
            t.gettext("Link you came from: shared by another signer; we do not store who."),
        ],
    }
    for user_id, lines in expected.items():
        signer = InProcessUser(core, User(id=user_id, first_name="Signer", language_code=TELEGRAM_CODES[locale]))
        shown = seen(await signer.send("/mysignature"))
        for line in lines:
            assert plain(line) in shown, (locale, line)
        assert signer.last_message is not None
        assert signer.last_message.buttons[-1][0].text == t.gettext("📣 Share the letter")
