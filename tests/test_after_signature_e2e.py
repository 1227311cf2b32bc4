"""After the signature, end to end through the emulator with the real core: the receipt in the
thank-you, the same code beside the name in the CSV export (never in the delivery PDF), ``/verify`` (typos
forgiven, also in a group) before and after a withdrawal, an organiser's ``/remove``, and a
letter edit that gives new signatures a new version while old ones keep theirs."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from emulator.objects import BotMessage
from emulator.users import SimulatedUser
from handlers import organiser
from handlers.i18n import I18n
from petition.campaign import CAMPAIGNS_DIR
from storage import signatures
from storage.db import Database
from storage.models import Signature
from tests.fixtures.clock import SetClock
from tests.test_exports import _pdf_text
from tests.test_signing_e2e import has, offers_to_sign, sign_as, until, up_to_review

ADMIN = 5101


@pytest.fixture
def exports_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the bot writes its exports, for this test alone."""
    root = tmp_path / "exports"
    monkeypatch.setattr(organiser, "EXPORTS_ROOT", root)
    return root


RECEIPT = re.compile(r"Your receipt: ([0-9A-Z]{4}-[0-9A-Z]{4})\.")


async def sign(user: SimulatedUser, name: str) -> str:
    """Sign as ``name`` (from France); the receipt code shown in the thank-you."""
    await up_to_review(user, name)
    thanks = await sign_as(user, name)
    assert f"Thank you, {name}!" in thanks.text
    found = RECEIPT.search(thanks.text)
    assert found, thanks.text
    assert f"<code>{found[1]}</code>" in thanks.html  # one tap copies it
    return found[1]


async def stored(bot: Any, user_id: int) -> Signature | None:
    db = Database(bot.settings.database_url)
    try:
        return await signatures.get_signature(db, "xinjiang", user_id)
    finally:
        await db.dispose()


async def document(admin: SimulatedUser, command: str) -> bytes:
    """The file an organiser's export sends (after which its progress message says it is ready)."""
    await admin.send(command)
    message: BotMessage = await until(
        admin, lambda m: m.document is not None or "export failed" in m.text or "still running" in m.text, within=60
    )
    assert message.document is not None, message.text
    await until(admin, has("Export ready"))
    return message.document.data


def typo(code: str) -> str:
    """How a person may type a code read aloud: lower case, no dash, O for 0, l for 1."""
    return code.replace("-", "").lower().replace("0", "O").replace("1", "l")


async def after_the_signature(bot: Any, tmp_path: Path) -> None:
    ada = bot.emulator.user(5102, first_name="Ada", language_code="en")
    bo = bot.emulator.user(5103, first_name="Bo", language_code="en")
    admin = bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    code = await sign(ada, "Ada Receipt")
    row = await stored(bot, ada.id)
    assert row is not None and row.receipt == code.replace("-", "")

    # The same code beside the name in the organisers' CSV export; never in the delivery PDF.
    data = await document(admin, "/export")
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert any("receipt" in cell.lower() for cell in lines[0]), lines[0]
    assert [line for line in lines[1:] if "Ada Receipt" in line and code in line], lines
    pdf = tmp_path / "delivered.pdf"
    pdf.write_bytes(await document(admin, "/export pdf"))
    _, text = _pdf_text(pdf)
    assert "Ada Receipt" in text
    assert code.replace("-", "") not in re.sub(r"[^0-9A-Z]", "", text.upper()), "a receipt in the delivery PDF"

    # /verify: typed as a person would, the date only; never the name.
    date = I18n().get("en").date(row.signed_at)
    await bo.send(f"/verify {typo(code)}")
    yes = await until(bo, has("Yes:"))
    assert yes.text == (
        f"Yes: the signature with the receipt {code} is on the list, since {date}. "
        "It has not been delivered to the addressees yet."
    )
    group = bot.emulator.group(-100710, title="Supporters")
    await group.send(bo, f"/verify {code}")
    assert (await group.wait_message(timeout=20)).text == yes.text

    await ada.send("/withdraw")
    await until(ada, has("withdraw your signature"))
    await ada.press("Yes, erase my signature")
    await until(ada, has("erased"))
    await bo.send(f"/verify {code}")
    assert "No signature with the receipt" in (await until(bo, has("receipt"))).text

    # An organiser removes a signature by its receipt, after confirming.
    bo_code = await sign(bo, "Bo Abusive")
    await admin.send(f"/remove {bo_code.lower()}")
    asked = await until(admin, has("Remove this signature"))
    assert "Name: Bo Abusive" in asked.text and "Country: France" in asked.text
    await admin.press("Keep it")
    await until(admin, has("nothing was changed"))
    assert await stored(bot, bo.id) is not None
    await admin.send(f"/remove {bo_code}")
    await until(admin, has("Remove this signature"))
    await admin.press("🗑 Remove")
    await until(admin, has("is no longer on the list"))
    assert await stored(bot, bo.id) is None
    await ada.send(f"/verify {bo_code}")
    assert "No signature with the receipt" in (await until(ada, has("receipt"))).text
    await bo.send(f"/remove {bo_code}")  # not an organiser: an unknown command
    assert "don't know that command" in (await bo.wait_message(timeout=20)).text
    assert bot.emulator.rejected == []


async def test_after_the_signature(start_one_bot: Any, tmp_path: Path, exports_root: Path) -> None:
    bot = await start_one_bot(core="real", admin_ids=frozenset({ADMIN}))
    await after_the_signature(bot, tmp_path)


@pytest.mark.postgres
@pytest.mark.redis
async def test_after_the_signature_on_postgres_and_redis(
    start_one_bot: Any,
    scratch_postgres_url: str,
    redis_url: str,
    state_prefix: str,
    tmp_path: Path,
    exports_root: Path,
) -> None:
    bot = await start_one_bot(
        core="real",
        admin_ids=frozenset({ADMIN}),
        database_url=scratch_postgres_url,
        redis_url=redis_url,
        redis_prefix=state_prefix,
    )
    await after_the_signature(bot, tmp_path)


async def test_a_letter_edit_gives_a_new_version_and_old_signatures_keep_theirs(
    start_one_bot: Any, tmp_path: Path
) -> None:
    first = await start_one_bot(core="real")
    ada = first.emulator.user(5201, first_name="Ada", language_code="en")
    await sign(ada, "Ada First")
    before = await stored(first, ada.id)
    assert before is not None
    await first.app.stop()

    original = (CAMPAIGNS_DIR / "xinjiang.toml").read_text(encoding="utf-8")
    edited = original.replace("I therefore urge you to:", "I therefore urge you, without delay, to:", 1)
    assert edited != original
    letter = tmp_path / "letter.toml"
    letter.write_text(edited, encoding="utf-8")
    second = await start_one_bot(core="real", campaign=str(letter), database_url=first.settings.database_url)
    bo = second.emulator.user(5202, first_name="Bo", language_code="en")
    await sign(bo, "Bo Second")

    ada_now, bo_row = await stored(second, ada.id), await stored(second, bo.id)
    assert ada_now is not None and bo_row is not None
    assert ada_now.letter_version == before.letter_version  # kept what was signed
    assert bo_row.letter_version != before.letter_version
    for user, row in ((ada, ada_now), (bo, bo_row)):
        await user.send("/mysignature")
        shown = (await until(user, has("everything we store"))).text
        assert f"version {row.letter_version[:6]}…" in shown
    assert second.emulator.rejected == []


async def test_a_closed_campaign_collects_no_more_signatures(start_one_bot: Any) -> None:
    """After CAMPAIGN_END: the Sign button, the consent and the review's Sign as (for someone
    mid-flow when it closed) explain that the petition closed, store nothing and forget the
    answers; the letter and the signers' commands keep working."""
    end = datetime.now(UTC).date()
    clock = SetClock(end)
    bot = await start_one_bot(core="real", campaign_end=end, clock=clock)  # the last day: still open
    ada = bot.emulator.user(5301, first_name="Ada", language_code="en")
    bo = bot.emulator.user(5302, first_name="Bo", language_code="en")
    cy = bot.emulator.user(5303, first_name="Cy", language_code="en")
    dee = bot.emulator.user(5304, first_name="Dee", language_code="en")
    code = await sign(ada, "Ada Early")
    await up_to_review(bo, "Bo Late")
    await dee.send("/start")
    await until(dee, offers_to_sign)
    await dee.press("✍️ Sign the letter")
    await until(dee, has("Before you sign"))

    clock.today = end + timedelta(days=1)
    date = I18n().get("en").date(end)
    expected = (
        f"This petition closed on {date}. Signatures are no longer collected. Thank you for caring — you can "
        "still read the letter, and signers can still use /mysignature, /verify and /withdraw."
    )
    await bo.press("✅ Sign as Bo Late")  # mid-flow when it closed
    assert (await bo.wait_message(timeout=20)).text == expected
    await dee.press("✅ I agree and want to sign")
    assert (await dee.wait_message(timeout=20)).text == expected
    await cy.send("/start")
    letter = await until(cy, offers_to_sign)
    assert "mass internment" in letter.text  # reading still works
    await cy.press("✍️ Sign the letter")
    assert (await cy.wait_message(timeout=20)).text == expected
    await bot.core.settle(within=10)
    for user in (bo, cy, dee):
        assert user.conversation.pending() == 0, user.id  # one message, nothing more
        assert await stored(bot, user.id) is None
        state = await bot.core.store.load(f"state:{user.id}")
        assert state is not None and state["name"] is None and state["country"] is None, state
    await bo.send("Bo Again")  # no longer at a signing step: not taken as a name
    assert "Please use the buttons" in (await bo.wait_message(timeout=20)).text
    await bo.press("✅ Sign as Bo Late")  # the old button once more
    assert (await bo.wait_message(timeout=20)).text == expected

    # Signers keep their commands.
    await ada.send("/mysignature")
    assert "Ada Early" in (await until(ada, has("everything we store"))).text
    await ada.send(f"/verify {code}")
    await until(ada, has("Yes:"))
    await ada.send("/updates")
    await until(ada, has("news about this campaign"))
    await ada.send("/withdraw")
    await until(ada, has("withdraw your signature"))
    await ada.press("Yes, erase my signature")
    await until(ada, has("erased"))
    assert await stored(bot, ada.id) is None
    assert bot.emulator.rejected == []
