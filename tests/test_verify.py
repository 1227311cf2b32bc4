"""``/verify CODE`` through the conversation core: forgiving of typos, kind to junk, silent about
who signed, rate-limited against guessing, in private chats and in groups."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from handlers import groups, verify
from handlers.core import Core
from handlers.events import Chat, EventKind, User
from handlers.i18n import I18n
from handlers.simulated_user import InProcessUser
from storage import signatures
from storage.db import Database
from storage.deliveries import record_delivery
from storage.models import Signature
from storage.state_memory import MemoryStateStore
from tests.signers import add_signer
from tests.test_conversation import make_core, texts

CODE = "A0B1C2D3"  # has a 0 and a 1, so the O/0 and I/L/1 slips can be tried
ASKER = User(id=987_654_321, first_name="Bo", language_code="en")


@pytest.fixture
def core(db: Database, store: MemoryStateStore) -> Core:
    return make_core(db, store)


async def sign(db: Database, user_id: int = 500, code: str = CODE) -> Signature:
    signature = await add_signer(db, user_id, name="Ada Secret-Name", country="KZ")
    async with db.transaction() as session:
        await session.execute(update(Signature).where(Signature.id == signature.id).values(receipt=code))
    return signature


@pytest.mark.parametrize("typed", ["A0B1-C2D3", "a0b1c2d3", "aobi-c2d3", "AOBL C2D3", " a0b1 – c2d3 ", "A0B1_C2D3"])
async def test_a_receipt_on_the_list_is_found_despite_typos(core: Core, db: Database, typed: str) -> None:
    signature = await sign(db)
    answer = texts(await InProcessUser(core, ASKER).send(f"/verify {typed}"))
    date = I18n().get("en").date(signature.signed_at)
    assert answer == (
        f"Yes: the signature with the receipt <code>A0B1-C2D3</code> is on the list, since {date}. "
        "It has not been delivered to the addressees yet."
    )
    assert "Ada" not in answer and "Kazakhstan" not in answer


async def test_unknown_withdrawn_and_junk_receipts(core: Core, db: Database) -> None:
    bo = InProcessUser(core, ASKER)
    assert "send /verify followed by its receipt code" in texts(await bo.send("/verify"))
    for junk in ("hello", "A0B1C2D", "A0B1C2D3E", "ÄÖÜ-1234", "<b>x</b>"):
        answer = texts(await bo.send(f"/verify {junk}"))
        assert "does not look like a receipt code" in answer and "/mysignature" in answer
        assert "<b>" not in answer
    unknown = texts(await bo.send("/verify ZZZZ-ZZZZ"))
    assert "No signature with the receipt <code>ZZZZ-ZZZZ</code> is on the list" in unknown
    assert "withdrawn" in unknown and "mistyped" in unknown

    await sign(db)
    assert "Yes:" in texts(await bo.send(f"/verify {CODE}"))
    await signatures.withdraw_signature(db, "xinjiang", 500)
    assert "No signature with the receipt <code>A0B1-C2D3</code>" in texts(await bo.send(f"/verify {CODE}"))


async def test_verify_in_a_group_answers_in_the_asker_s_language_and_keeps_nothing(
    core: Core, db: Database, store: MemoryStateStore
) -> None:
    signature = await sign(db)
    asker = User(id=502, first_name="Dilnur", language_code="de")
    in_group = InProcessUser(core, asker, chat=Chat(id=-1007, type="supergroup"))
    answer = texts(await in_group.send(f"/verify {CODE.lower()}"))
    german = I18n().get("de")
    assert answer == german.gettext(
        "Yes: the signature with the receipt {code} is on the list, since {date}. "
        "It has not been delivered to the addressees yet.",
        code=verify.receipt_code(CODE),
        date=signature.signed_at,
    )
    assert await store.load(f"state:{asker.id}") is None  # nothing kept about anyone in a group
    pointer = german.gettext("To read the letter and sign it, please open a private chat with me.")
    assert await in_group.send("/start") == []  # in a group only /verify and "/cmd@thisbot" are answered
    addressed = in_group.event(EventKind.COMMAND, text="/start@undersign_bot", command="start", addressed=True)
    assert texts(await in_group.handle(addressed)) == pointer  # other commands addressed to the bot point away


async def test_guessing_is_rate_limited_per_person_and_per_group(
    core: Core, db: Database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    # A group gets only a few answers a minute in all (handlers.groups); lifted here, so that
    # /verify's own limit per group, reached over ten minutes in life, is what is tested.
    monkeypatch.setattr(groups, "PER_MINUTE", 10 * verify.PER_GROUP)
    await sign(db)
    bo = InProcessUser(core, ASKER)
    assert "Yes:" in texts(await bo.send(f"/verify {CODE}"))
    for attempt in range(1, verify.PER_PERSON):
        assert "No signature" in texts(await bo.send(f"/verify ZZZZ-ZZ{attempt:02d}"))
    limited = texts(await bo.send(f"/verify {CODE}"))
    assert "please wait 10 minutes" in limited and "Yes:" not in limited
    assert "please wait" in texts(await bo.send(f"/verify {CODE}"))  # still limited, still answered
    assert "send /verify followed by" in texts(await bo.send("/verify"))  # usage is no look-up: never limited

    # In a group, the members together may check a limited number of receipts.
    group = Chat(id=-1008, type="group")
    for member in range(verify.PER_GROUP):
        who = User(id=600 + member, first_name="M", language_code="en")
        assert "Yes:" in texts(await InProcessUser(core, who, chat=group).send(f"/verify {CODE}"))
    fresh = User(id=700, first_name="N", language_code="en")
    assert "please wait" in texts(await InProcessUser(core, fresh, chat=group).send(f"/verify {CODE}"))
    assert "Yes:" in texts(await InProcessUser(core, fresh).send(f"/verify {CODE}"))  # alone, they still may

    verify_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("verify:")]
    assert set(verify_lines) == {"verify: found, not yet delivered", "verify: not found", "verify: limited"}
    for secret in (CODE, "A0B1-C2D3", "ZZZZ", str(ASKER.id), "Ada"):
        assert secret not in caplog.text


@pytest.mark.parametrize("locale", ["en", "ru", "ar"])
async def test_a_delivered_receipt_says_when_and_with_how_many_others(core: Core, db: Database, locale: str) -> None:
    await sign(db)
    asker = User(id=503, first_name="Dilnur", language_code=locale)
    t = I18n().get(locale)
    day = datetime.now(UTC).date() - timedelta(days=3)
    await record_delivery(db, "xinjiang", recipient="Embassy", delivered_on=day)
    alone = texts(await InProcessUser(core, asker).send(f"/verify {CODE}"))
    assert alone == t.gettext(
        "Yes: the signature with the receipt {code} is on the list. It was delivered to the addressees on {date}.",
        code=verify.receipt_code(CODE),
        date=day,
    )
    for user in range(510, 515):  # five more, in a later delivery: the first one's count stays
        await add_signer(db, user)
    later = await record_delivery(db, "xinjiang", recipient="UN", delivered_on=day + timedelta(days=1))
    assert later.count == 6 and later.first_time == 5
    async with db.session() as session:
        other = await session.scalar(select(Signature.receipt).where(Signature.telegram_user_id == 512))
    assert other is not None
    answer = texts(
        await InProcessUser(core, User(id=504, first_name="E", language_code=locale)).send(f"/verify {other}")
    )
    assert answer == t.ngettext(
        "Yes: the signature with the receipt {code} is on the list. It was delivered to the addressees "
        "on {date}, together with {n} other signature.",
        "Yes: the signature with the receipt {code} is on the list. It was delivered to the addressees "
        "on {date}, together with {n} other signatures.",
        5,
        code=verify.receipt_code(other),
        date=day + timedelta(days=1),
    )
    assert "Signer" not in answer and "Germany" not in answer and "Ada" not in alone
