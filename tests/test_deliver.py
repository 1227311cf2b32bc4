"""Recording a delivery of the list (``python -m bot deliver``), on SQLite and PostgreSQL, and what
signers then see, end to end through the real bot and the emulator: ``/verify`` says "delivered on
DATE together with N others", ``/mysignature`` says when, and those who asked for news hear it once,
in their language; a second delivery notifies only the newly delivered. Never a name anywhere."""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.cli.deliver import deliver
from emulator.users import SimulatedUser
from handlers.i18n import I18n
from handlers.news import delivered_text
from handlers.verify import receipt_code
from petition.campaign import Campaign, load_campaign
from storage import signatures
from storage.db import Database
from storage.deliveries import KIND, DeliveryError, record_delivery
from storage.exports.export import export_signatures
from storage.models import Broadcast, Delivery, ListDelivery, Signature
from tests.signers import add_signer, broadcasts_finished
from tests.test_after_signature_e2e import ADMIN, RECEIPT, exports_root, sign  # noqa: F401 - a fixture
from tests.test_exports import _pdf_text
from tests.test_signing_e2e import has, until, up_to_review_with_news

CAMPAIGN = "xinjiang"
TODAY = datetime.now(UTC).date()


@pytest.fixture
def campaign() -> Campaign:
    return load_campaign(CAMPAIGN)


async def _delivered_ids(db: Database) -> dict[int, int | None]:
    """telegram user id → the delivery that first carried the signature."""
    async with db.session() as session:
        rows = await session.execute(select(Signature.telegram_user_id, Signature.list_delivery_id))
        return {int(user): delivery for user, delivery in rows}


async def _news(db: Database) -> list[tuple[int | None, str, int, list[int]]]:
    """(delivery id, status, total, recipients' user ids) of every delivery news."""
    async with db.session() as session:
        found = list(await session.scalars(select(Broadcast).where(Broadcast.kind == KIND).order_by(Broadcast.id)))
        result = []
        for broadcast in found:
            users = await session.scalars(
                select(Signature.telegram_user_id)
                .join(Delivery, Delivery.signature_id == Signature.id)
                .where(Delivery.broadcast_id == broadcast.id)
                .order_by(Signature.telegram_user_id)
            )
            result.append((broadcast.list_delivery_id, broadcast.status, broadcast.total, [int(u) for u in users]))
        return result


async def test_a_delivery_records_the_list_as_the_pdf_prints_it_and_notifies_once(
    database: Database, campaign: Campaign, tmp_path: Path
) -> None:
    await add_signer(database, 1, opt_in=True)
    await add_signer(database, 2, opt_in=False, name="Back\\slash\tTab")
    await add_signer(database, 3, opt_in=True, language="de")
    unreachable = await add_signer(database, 4, opt_in=True)
    async with database.transaction() as session:
        (await session.get_one(Signature, unreachable.id)).unreachable_at = datetime.now(UTC)
    pdf = await export_signatures(database, campaign, "pdf", tmp_path)

    dry = await record_delivery(
        database, CAMPAIGN, recipient="  Embassy   of the PRC ", delivered_on=TODAY, dry_run=True
    )
    assert (dry.id, dry.count, dry.first_time, dry.notified, dry.broadcast_id) == (None, 4, 4, 2, None)
    assert dry.fingerprint == pdf.fingerprint and dry.recipient == "Embassy of the PRC"
    assert set((await _delivered_ids(database)).values()) == {None}  # a dry run records nothing
    assert await _news(database) == []
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(ListDelivery)) == 0

    first = await record_delivery(database, CAMPAIGN, recipient="Embassy of the PRC", delivered_on=TODAY, note="n")
    assert (first.count, first.first_time, first.notified) == (4, 4, 2)
    assert first.fingerprint == pdf.fingerprint  # exactly what the PDF made from the same list prints
    assert await _delivered_ids(database) == {1: first.id, 2: first.id, 3: first.id, 4: first.id}
    assert await _news(database) == [(first.id, "sending", 2, [1, 3])]  # opted in and reachable only

    # Later: one more signer, one withdrawal. The next delivery carries the list as it is then,
    # and its news goes only to the signer it carried first.
    await add_signer(database, 5, opt_in=True)
    await signatures.withdraw_signature(database, CAMPAIGN, 2)
    second = await record_delivery(database, CAMPAIGN, recipient="UN OHCHR", delivered_on=TODAY)
    assert (second.count, second.first_time, second.notified) == (4, 1, 1)
    assert await _delivered_ids(database) == {1: first.id, 3: first.id, 4: first.id, 5: second.id}
    assert await _news(database) == [(first.id, "sending", 2, [1, 3]), (second.id, "sending", 1, [5])]
    assert await signatures.get_signature(database, CAMPAIGN, 2) is None  # withdrawn: on no later list

    # Nobody new: recorded, nobody notified (the news is done at once).
    third = await record_delivery(database, CAMPAIGN, recipient="UN OHCHR", delivered_on=TODAY - timedelta(days=1))
    assert (third.count, third.first_time, third.notified) == (4, 0, 0)
    assert (await _news(database))[-1] == (third.id, "done", 0, [])


async def test_a_delivery_can_be_exactly_the_list_of_an_earlier_pdf(
    database: Database, campaign: Campaign, tmp_path: Path
) -> None:
    for user in (1, 2, 3):
        await add_signer(database, user, opt_in=True)
    pdf = await export_signatures(database, campaign, "pdf", tmp_path)
    await add_signer(database, 4, opt_in=True)  # signed after the PDF was made
    record = await record_delivery(
        database, CAMPAIGN, recipient="Embassy", delivered_on=TODAY, expected=pdf.fingerprint.upper()
    )
    assert (record.count, record.remaining, record.first_time, record.notified) == (3, 1, 3, 3)
    assert record.fingerprint == pdf.fingerprint
    assert (await _delivered_ids(database))[4] is None  # not on the document: not delivered

    # A signature on the document was withdrawn since: no part of the list has its fingerprint.
    await signatures.withdraw_signature(database, CAMPAIGN, 2)
    with pytest.raises(DeliveryError, match="no part of the current list has that fingerprint"):
        await record_delivery(database, CAMPAIGN, recipient="Embassy", delivered_on=TODAY, expected=pdf.fingerprint)
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(ListDelivery)) == 1


async def test_mistakes_record_nothing(database: Database) -> None:
    with pytest.raises(DeliveryError, match="empty"):
        await record_delivery(database, CAMPAIGN, recipient="Embassy", delivered_on=TODAY)
    await add_signer(database, 1)
    for kwargs, message in (
        ({"recipient": " "}, "--to"),
        ({"recipient": "x" * 201}, "at most 200"),
        ({"note": "x" * 501}, "at most 500"),
        ({"delivered_on": TODAY + timedelta(days=2)}, "in the future"),
        ({"expected": "abc"}, "64 hexadecimal"),
    ):
        arguments: dict[str, Any] = {"recipient": "Embassy", "delivered_on": TODAY, **kwargs}
        with pytest.raises(DeliveryError, match=message):
            await record_delivery(database, CAMPAIGN, **arguments)
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(ListDelivery)) == 0


async def test_two_deliveries_at_once_never_notify_anyone_twice(database_url: str) -> None:
    """Like two organisers (or a re-run) recording at the same moment on separate connections."""
    first, second = Database(database_url), Database(database_url)
    try:
        for user in range(1, 21):
            await add_signer(first, user, opt_in=True)
        records = await asyncio.gather(
            *(record_delivery(db, CAMPAIGN, recipient="Embassy", delivered_on=TODAY) for db in (first, second))
        )
        assert sorted(record.first_time for record in records) == [0, 20]
        news = await _news(first)
        assert sorted(len(users) for _, _, _, users in news) == [0, 20]
    finally:
        await first.dispose()
        await second.dispose()


# --- the command line ------------------------------------------------------------------------


def _deliver(database_url: str, *args: str) -> Any:
    env = {"DATABASE_URL": database_url, "CAMPAIGN": CAMPAIGN}
    return CliRunner().invoke(deliver, list(args), env=env, catch_exceptions=False)


async def test_the_command_prints_counts_and_the_fingerprint_never_a_name(
    database: Database, database_url: str, campaign: Campaign, tmp_path: Path
) -> None:
    await add_signer(database, 1, name="Ada Secret-Name", opt_in=True)
    await add_signer(database, 2, name="Bo Hidden", country="KZ")
    listed = await export_signatures(database, campaign, "list", tmp_path)
    fingerprint = hashlib.sha256(listed.path.read_bytes()).hexdigest()
    today = TODAY.isoformat()
    args = ["--to", "Embassy of the PRC, Berlin", "--date", today]
    dry = await asyncio.to_thread(_deliver, database_url, *args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines() == [
        f"Dry run, nothing recorded. Would record: 2 signatures delivered to Embassy of the PRC, Berlin on {today}.",
        f"SHA-256 fingerprint of the signatory list: {fingerprint}",
        "Delivered for the first time: 2; delivered before: 0.",
        "1 signer who asked for news would hear that their signature was delivered.",
    ]
    done = await asyncio.to_thread(_deliver, database_url, *args, "--note", "by hand")
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert re.fullmatch(
        rf"Recorded delivery \d+: 2 signatures delivered to Embassy of the PRC, Berlin on {today}\.", lines[0]
    )
    assert lines[1:4] == [
        "Note: by hand",
        f"SHA-256 fingerprint of the signatory list: {fingerprint}",
        "Delivered for the first time: 2; delivered before: 0.",
    ]
    assert re.fullmatch(
        r"1 signer who asked for news will hear .* \(broadcast \d+, sent by the running bot\)\.", lines[4]
    )
    for output in (dry.output, done.output):
        assert "Ada" not in output and "Bo Hidden" not in output and "Kazakhstan" not in output
    again = await asyncio.to_thread(_deliver, database_url, *args)
    assert "Delivered for the first time: 0; delivered before: 2." in again.output
    assert "Nobody is notified" in again.output

    bad = await asyncio.to_thread(_deliver, database_url, "--to", "x", "--date", "tomorrow")
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    future = (TODAY + timedelta(days=3)).isoformat()
    bad = await asyncio.to_thread(_deliver, database_url, "--to", "x", "--date", future)
    assert bad.exit_code == 2 and bad.output.strip().splitlines() == [
        f"error: --date {future} is in the future: record a delivery once it is made"
    ]
    missing = f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}"
    bad = await asyncio.to_thread(_deliver, missing, *args)
    assert bad.exit_code == 1 and "no such database file" in bad.output
    assert not (tmp_path / "missing.db").exists()


# --- end to end: the real bot, the emulator, the command line between -------------------------


async def verify_answer(user: SimulatedUser, code: str) -> str:
    await user.send(f"/verify {code}")
    return (await until(user, has("receipt"))).text


async def sign_with_news(user: SimulatedUser) -> None:
    await up_to_review_with_news(user)
    await user.press(f"✅ Sign as {user.first_name}")


def _plain(html_text: str) -> str:
    return re.sub(r"<[^>]+>", "", html_text).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")


async def delivered_end_to_end(bot: Any, tmp_path: Path) -> None:
    url = bot.settings.database_url
    i18n = I18n()
    english = i18n.get("en")
    ada = bot.emulator.user(5601, first_name="Ada", language_code="en")
    bo = bot.emulator.user(5602, first_name="Bo", language_code="en")
    asker = bot.emulator.user(5603, first_name="Cy", language_code="en")
    admin = bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    await sign_with_news(ada)
    thanks = await until(ada, has("Thank you, Ada!"))
    ada_code = RECEIPT.search(thanks.text)
    assert ada_code, thanks.text
    # The thank-you says to keep the code private, and why; it never invites posting it.
    assert (
        english.gettext(
            "🔒 Please keep this code to yourself. It is your private key to your own signature: "
            "anyone who saw it together with your Telegram account could link you to this letter. "
            "Do not post it in groups or on social media."
        )
        in thanks.html
    )
    assert "anyone can check" not in thanks.text
    bo_code = await sign(bo, "Bo Quiet")  # no news
    # A German signer who asked for news, stored earlier.
    db = Database(url)
    try:
        await add_signer(db, 5604, language="de", opt_in=True)
    finally:
        await db.dispose()
    dilnur = bot.emulator.user(5604, first_name="Dilnur", language_code="de")
    dilnur.started = True

    before = await verify_answer(asker, ada_code[1])
    assert before.endswith("It has not been delivered to the addressees yet.")
    await ada.send("/mysignature")
    assert "Delivered to the addressees: not yet." in (await until(ada, has("everything we store"))).text

    # The delivery PDF carries no receipt: neither the signers' codes nor a receipt column.
    pdf = tmp_path / "delivered.pdf"
    await admin.send("/export pdf")
    message = await until(admin, lambda m: m.document is not None, within=60)
    assert message.document is not None
    pdf.write_bytes(message.document.data)
    _, text = _pdf_text(pdf)
    assert "Ada" in text and "Bo Quiet" in text
    squeezed = re.sub(r"[^0-9A-Z]", "", text.upper())
    for code in (ada_code[1], bo_code):
        assert code.replace("-", "") not in squeezed
    fingerprint = re.search(r"[0-9a-f]{64}", message.text)
    assert fingerprint, message.text

    # The organiser records the delivery of exactly that document.
    day = TODAY - timedelta(days=1)
    result = await asyncio.to_thread(
        _deliver, url, "--to", "Embassy of the PRC & co", "--date", day.isoformat(), "--fingerprint", fingerprint[0]
    )
    assert result.exit_code == 0, result.output
    assert "3 signatures delivered to Embassy of the PRC & co" in result.output
    assert "2 signers who asked for news will hear" in result.output

    # Those who asked for news hear it, once, each in their language.
    german = i18n.get("de")
    for user, t in ((ada, english), (dilnur, german)):
        news = await until(user, has(_plain(t.gettext("📬 Your signature has been delivered"))), within=30)
        assert t.date(day) in news.text and "Embassy of the PRC & co" in news.text
    assert "Embassy of the PRC &amp; co" in news.html  # escaped in the HTML
    rendered = delivered_text(bot.core.services, _sample(day), "de", "")
    assert _plain(rendered).strip() in _plain(news.html)

    # /verify: on the list, delivered on DATE together with N others; never a name.
    answer = await verify_answer(asker, ada_code[1])
    assert answer == _plain(
        english.ngettext(
            "Yes: the signature with the receipt {code} is on the list. It was delivered to the addressees "
            "on {date}, together with {n} other signature.",
            "Yes: the signature with the receipt {code} is on the list. It was delivered to the addressees "
            "on {date}, together with {n} other signatures.",
            2,
            code=receipt_code(ada_code[1].replace("-", "")),
            date=day,
        )
    )
    assert "Ada" not in answer and "Canada" not in answer
    group = bot.emulator.group(-100760, title="Supporters")
    await group.send(asker, f"/verify {bo_code}")
    assert "delivered to the addressees" in (await group.wait_message(timeout=20)).text
    await ada.send("/mysignature")
    shown = (await until(ada, has("everything we store"))).text
    assert f"Delivered to the addressees: on {english.date(day)}, to Embassy of the PRC & co." in shown

    # A later signer, a second delivery: only the newcomer hears about it.
    eve = bot.emulator.user(5605, first_name="Eve", language_code="en")
    await sign_with_news(eve)
    await until(eve, has("Thank you, Eve!"))
    result = await asyncio.to_thread(_deliver, url, "--to", "UN OHCHR", "--date", TODAY.isoformat())
    assert result.exit_code == 0, result.output
    assert "Delivered for the first time: 1; delivered before: 3." in result.output
    await until(eve, has("Your signature has been delivered"), within=30)
    await broadcasts_finished(url)  # a second message, if any, would have been sent by now
    for user in (ada, eve):
        assert sum("📬 Your signature has been delivered" in m.text for m in user.messages) == 1, user.id
    assert sum(_plain(german.gettext("📬 Your signature has been delivered")) in m.text for m in dilnur.messages) == 1
    assert all("📬 Your signature has been delivered" not in m.text for m in bo.messages)  # asked for no news
    assert bot.emulator.rejected == []


def _sample(day: date) -> Broadcast:
    return Broadcast(
        campaign=CAMPAIGN,
        kind=KIND,
        texts={"delivered_on": day.isoformat(), "recipient": "Embassy of the PRC & co"},
    )


async def test_delivered_end_to_end(start_one_bot: Any, tmp_path: Path, exports_root: Path) -> None:  # noqa: F811
    bot = await start_one_bot(core="real", admin_ids=frozenset({ADMIN}))
    await delivered_end_to_end(bot, tmp_path)


@pytest.mark.postgres
@pytest.mark.redis
async def test_delivered_end_to_end_on_postgres_and_redis(
    start_one_bot: Any,
    scratch_postgres_url: str,
    redis_url: str,
    state_prefix: str,
    tmp_path: Path,
    exports_root: Path,  # noqa: F811
) -> None:
    bot = await start_one_bot(
        core="real",
        admin_ids=frozenset({ADMIN}),
        database_url=scratch_postgres_url,
        redis_url=redis_url,
        redis_prefix=state_prefix,
    )
    await delivered_end_to_end(bot, tmp_path)
