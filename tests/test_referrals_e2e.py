"""Referral credit without a social graph, end to end: the real bot process over real HTTP
against the emulator, on SQLite + memory and on PostgreSQL + Redis.

Ada signs from a poster and shares; Bo opens her link and signs with a double tap; Cy opens
Bo's link; Dee signs with no link, Eve opens Dee's. The new signers' source says only
"shared" (with the poster's source where the chain began at one), the sharers' own records
count how many, and nothing anywhere (row, state, funnel, exports) ties one to the other.
"""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.cli.export import export
from emulator.objects import BotMessage
from emulator.users import SimulatedUser
from handlers import organiser
from storage import signatures
from storage.db import Database
from storage.models import FunnelCount, Signature
from tests.test_signing_e2e import has, read_and_agree, review, sign_as, until, up_to_review

ADMIN = 6100
POSTER = "poster_berlin"


@pytest.fixture
def exports_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "exports"
    monkeypatch.setattr(organiser, "EXPORTS_ROOT", root)
    return root


def share_link(message: BotMessage) -> str:
    """The link inside the "Share the letter" button (a t.me/share/url dialog)."""
    url = next(b.url for row in message.buttons for b in row if b.url and "share/url" in b.url)
    return parse_qs(urlsplit(url).query)["url"][0]


def payload(link: str) -> str:
    query = parse_qs(urlsplit(link).query)
    assert link.startswith("https://t.me/undersign_bot?start="), link
    return query["start"][0]


async def sign(user: SimulatedUser, start: str, name: str, *, double_tap: bool = False) -> BotMessage:
    """Sign from ``start`` (France); the thank-you, which carries the share button."""
    await up_to_review(user, name, start=start)
    if not double_tap:
        return await sign_as(user, name)
    # Both presses reach the bot before either is answered.
    label = f"✅ Sign as {name}"
    first, second = await asyncio.gather(user.press(label), user.press(label))
    assert "already signed" in f"{first.text} {second.text}"
    return await until(user, has(f"Thank you, {name}!"))


async def rows(bot: Any) -> dict[int, Signature]:
    db = Database(bot.settings.database_url)
    try:
        async with db.session() as session:
            found = await session.scalars(select(Signature).where(Signature.campaign == "xinjiang"))
            return {row.telegram_user_id: row for row in found}
    finally:
        await db.dispose()


async def funnel_sources(bot: Any) -> set[str]:
    await bot.core.flush_counts()
    db = Database(bot.settings.database_url)
    try:
        async with db.session() as session:
            return set(await session.scalars(select(FunnelCount.source).distinct()))
    finally:
        await db.dispose()


async def cli_export(database_url: str, fmt: str, output: Path) -> bytes:
    """``python -m bot export --with-ids`` (the one way Telegram ids leave the server), in a thread
    of its own: the command runs its own event loop."""
    result = await asyncio.to_thread(
        CliRunner().invoke,
        export,
        ["--format", fmt, "--with-ids", "-q", "-o", str(output)],
        env={"DATABASE_URL": database_url, "CAMPAIGN": "xinjiang"},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return await asyncio.to_thread(output.read_bytes)


def xlsx_cells(data: bytes, path: Path) -> list[str]:
    path.write_bytes(data)
    workbook = openpyxl.load_workbook(path, read_only=True)
    return [str(cell) for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True) for cell in row]


async def referrals_walk(bot: Any, tmp_path: Path) -> None:
    ada = bot.emulator.user(6101, first_name="Ada", language_code="en")
    bo = bot.emulator.user(6102, first_name="Bo", language_code="en")
    cy = bot.emulator.user(6103, first_name="Cy", language_code="en")
    dee = bot.emulator.user(6104, first_name="Dee", language_code="en")
    eve = bot.emulator.user(6105, first_name="Eve", language_code="en")
    admin = bot.emulator.user(ADMIN, first_name="Org", language_code="en")

    # Ada came from a poster: her link carries her code and the poster's source.
    ada_link = share_link(await sign(ada, f"/start {POSTER}", "Ada Sharer"))
    ada_row = (await rows(bot))[ada.id]
    assert ada_row.source == POSTER
    assert payload(ada_link) == f"r-{ada_row.referral_code}-{POSTER}"

    # Bo opens it; before signing the code is in his expiring state only, the source says "shared".
    await bo.send(f"/start {payload(ada_link)}")
    await until(bo, has("mass internment"))
    state = await bot.core.store.load(f"state:{bo.id}")
    assert (state["source"], state["referrer"]) == (f"shared-{POSTER}", ada_row.referral_code)
    bo_link = share_link(await sign(bo, f"/start {payload(ada_link)}", "Bo Friend", double_tap=True))
    state = await bot.core.store.load(f"state:{bo.id}")
    assert state["referrer"] is None and state["source"] == f"shared-{POSTER}"  # the code is gone
    signed = await rows(bot)
    bo_row = signed[bo.id]
    assert bo_row.source == f"shared-{POSTER}"
    assert signed[ada.id].referrals == 1  # the double tap counted once
    # Nothing in Bo's row holds Ada's code or id.
    for column in Signature.__table__.columns:
        value = str(getattr(bo_row, column.key))
        assert ada_row.referral_code not in value and str(ada.id) not in value, column.key
    # The chain keeps the poster, not the people: Bo's link carries his code and the poster.
    assert payload(bo_link) == f"r-{bo_row.referral_code}-{POSTER}"

    # Ada's /mysignature says how many signed through her link; Bo's says how to share.
    await ada.send("/mysignature")
    mine = await until(ada, has("everything we store"))
    assert "1 person signed the letter through your link. Thank you for sharing!" in mine.text
    assert f"Link you came from: {POSTER}" in mine.text
    assert share_link(mine) == ada_link
    await bo.send("/mysignature")
    his = await until(bo, has("everything we store"))
    assert "here you will see how many people signed through your link" in his.text
    assert f"Link you came from: shared by another signer (first from {POSTER}); we do not store who." in his.text

    # Self-referral: Ada opening her own link is told she has signed, and counts nothing.
    await ada.send(f"/start {payload(ada_link)}")
    await until(ada, has("You signed this letter on"))
    assert (await bot.core.store.load(f"state:{ada.id}"))["referrer"] is None

    # Cy through Bo's link; Dee with no link, and Eve through Dee's (no campaign source: "shared").
    await sign(cy, f"/start {payload(bo_link)}", "Cy Third")
    dee_link = share_link(await sign(dee, "/start", "Dee Direct"))
    dee_row = (await rows(bot))[dee.id]
    assert payload(dee_link) == f"r-{dee_row.referral_code}"
    await sign(eve, f"/start {payload(dee_link)}", "Eve Fourth")
    signed = await rows(bot)
    assert {uid: (row.source, row.referrals) for uid, row in signed.items()} == {
        ada.id: (POSTER, 1),
        bo.id: (f"shared-{POSTER}", 1),
        cy.id: (f"shared-{POSTER}", 0),
        dee.id: (None, 1),
        eve.id: ("shared", 0),
    }
    await ada.send("/mysignature")
    assert "1 person signed" in (await until(ada, has("everything we store"))).text  # still one

    # No count, no export holds anyone's code; the funnel only ever saw "shared…".
    codes = {row.referral_code for row in signed.values()}
    assert await funnel_sources(bot) == {"", POSTER, f"shared-{POSTER}", "shared"}
    await admin.send("/stats")
    stats = (await until(admin, has("By source"))).text.splitlines()
    # /stats names the share links for what they are (the campaign source they passed on beside it).
    assert f"{POSTER} (shared by signers): 2" in stats and "shared by signers: 1" in stats and f"{POSTER}: 1" in stats
    await admin.send("/export")
    chat_csv = await until(admin, lambda m: m.document is not None, within=60)
    assert chat_csv.document is not None
    await until(admin, has("Export ready"))
    exports = {
        "chat csv": chat_csv.document.data.decode("utf-8-sig"),
        "cli csv": (await cli_export(bot.settings.database_url, "csv", tmp_path / "ids.csv")).decode("utf-8-sig"),
        "cli xlsx": "\n".join(
            xlsx_cells(await cli_export(bot.settings.database_url, "xlsx", tmp_path / "ids.xlsx"), tmp_path / "r.xlsx")
        ),
    }
    for what, text in exports.items():
        assert "Bo Friend" in text, what
        assert not [code for code in codes if code in text], what
    table = list(csv.reader(io.StringIO(exports["cli csv"], newline="")))
    header = table[0]
    bo_line = next(line for line in table[1:] if "Bo Friend" in line)
    assert str(ada.id) not in bo_line and bo_line[header.index("source")] == f"shared-{POSTER}"
    assert bot.emulator.rejected == []


async def test_referrals_are_counted_for_the_sharer_only(
    start_one_bot: Any, tmp_path: Path, exports_root: Path
) -> None:
    bot = await start_one_bot(core="real", admin_ids=frozenset({ADMIN}))
    await referrals_walk(bot, tmp_path)


@pytest.mark.postgres
@pytest.mark.redis
async def test_referrals_on_postgres_and_redis(
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
    await referrals_walk(bot, tmp_path)


async def test_a_sharer_who_withdrew_is_not_credited_and_the_link_still_says_shared(start_one_bot: Any) -> None:
    bot = await start_one_bot(core="real")
    ada = bot.emulator.user(6201, first_name="Ada", language_code="en")
    bo = bot.emulator.user(6202, first_name="Bo", language_code="en")
    link = share_link(await sign(ada, "/start", "Ada Gone"))
    await read_and_agree(bo, f"/start {payload(link)}")
    await ada.send("/withdraw")
    await until(ada, has("withdraw your signature"))
    await ada.press("Yes, erase my signature")
    await until(ada, has("erased"))
    await bo.send("Bo Stays")
    await until(bo, has("Which country"))
    await bo.send("France")
    await review(bo, "Bo Stays")
    thanks = await sign_as(bo, "Bo Stays")
    assert "Thank you, Bo Stays!" in thanks.text
    assert {uid: (row.source, row.referrals) for uid, row in (await rows(bot)).items()} == {bo.id: ("shared", 0)}
    assert bot.emulator.rejected == []


async def test_an_old_bare_code_link_counts_as_shared(start_one_bot: Any) -> None:
    """Links shared before ``r-<code>`` carried the bare code: still credited, never stored."""
    bot = await start_one_bot(core="real")
    ada = bot.emulator.user(6301, first_name="Ada", language_code="en")
    bo = bot.emulator.user(6302, first_name="Bo", language_code="en")
    await sign(ada, "/start partner_site", "Ada Old")
    code = (await rows(bot))[ada.id].referral_code
    await sign(bo, f"/start {code}", "Bo Old")
    signed = await rows(bot)
    assert (signed[bo.id].source, signed[ada.id].referrals) == ("shared-partner_site", 1)
    db = Database(bot.settings.database_url)
    try:
        assert await signatures.count_signatures(db, "xinjiang") == 2
    finally:
        await db.dispose()
    assert code not in await funnel_sources(bot)
