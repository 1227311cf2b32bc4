"""``python -m bot purge``: personal data past retention is erased, the counts stay, on SQLite and PostgreSQL.

Checked: /stats and the "N people have signed" total are the same before and after,
a second run erases nothing, ``--dry-run`` changes nothing, deliveries go with their
signatures, and no name, Telegram id or receipt is left anywhere in the database
(on SQLite, not even in the bytes of the database file and its write-ahead log).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import make_url

from bot.cli.purge import purge as purge_command
from petition.campaign import CAMPAIGNS_DIR, load_campaign
from storage import consents
from storage.db import Database
from storage.exports.export import export_signatures
from storage.models import Base, Broadcast, Delivery, Signature, SignatureTally
from storage.purge import is_due, plan_purge, purge_from, purge_signatures
from storage.signatures import add_signature, bump_funnel, count_signatures
from storage.stats import campaign_stats
from tests.fixtures.services import run_async
from tests.signers import add_signer

CAMPAIGN = "xinjiang"
OTHER = "another"
NOW = datetime(2026, 3, 10, tzinfo=UTC)
FIRST_USER_ID = 8_123_456_701  # distinctive, so a leftover is easy to find
ROWS = 23


def _name(index: int) -> str:
    return f"Purgeable Zqxj {index:02d} Ölçek"  # distinctive, with non-ASCII bytes


async def _seed(db: Database) -> None:
    """23 signatures over several days, countries, languages, sources and letter versions, a
    broadcast that reached some of them, and one signature of another campaign that must stay."""
    countries, languages = ("DE", "TR", "KZ", "US"), ("en", "ug", "ru")
    sources, letters = (None, "s1", "s2"), ("v1", "v2")
    for index in range(ROWS):
        await add_signature(
            db,
            campaign=CAMPAIGN,
            user_id=FIRST_USER_ID + index,
            name=_name(index),
            country=countries[index % 4],
            language=languages[index % 3],
            source=sources[index % 3],
            opt_in=index % 2 == 0,
            letter_version=letters[index % 2],
            consent_version="c1",
        )
    async with db.transaction() as session:
        for index in range(ROWS):
            signed_at = datetime(2026, 2, 20, 23, 59, 59, tzinfo=UTC) + timedelta(days=index % 9, seconds=index)
            await session.execute(
                update(Signature).where(Signature.telegram_user_id == FIRST_USER_ID + index).values(signed_at=signed_at)
            )
    await add_signature(
        db,
        campaign=OTHER,
        user_id=FIRST_USER_ID,
        name="Other Campaign Keeper",
        country="FR",
        language="fr",
        source=None,
        opt_in=True,
        letter_version="o1",
        consent_version="c1",
    )
    async with db.transaction() as session:
        broadcast = Broadcast(campaign=CAMPAIGN, kind="message", texts={"": "News"}, status="done", total=5)
        session.add(broadcast)
        await session.flush()
        ids = (await session.scalars(select(Signature.id).where(Signature.campaign == CAMPAIGN).limit(5))).all()
        await session.execute(
            insert(Delivery), [{"broadcast_id": broadcast.id, "signature_id": i, "status": "sent"} for i in ids]
        )
    await bump_funnel(db, campaign=CAMPAIGN, step="signed", language="en", source=None, day=date(2026, 2, 21))


async def _receipts(db: Database) -> list[str]:
    async with db.session() as session:
        codes = (await session.scalars(select(Signature.receipt).where(Signature.campaign == CAMPAIGN))).all()
    return [code for code in codes if code]


async def _every_value(db: Database) -> str:
    """Every value of every row of every table, as text: where a leftover would show."""
    values: list[str] = []
    async with db.session() as session:
        for table in Base.metadata.sorted_tables:
            for row in await session.execute(select(table)):
                values.extend(str(value) for value in row)
        values.append(str((await session.execute(text("SELECT * FROM alembic_version"))).all()))
    return "\n".join(values)


def _file_bytes(database_url: str) -> bytes:
    path = Path(make_url(database_url).database or "")
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


async def test_purge_keeps_every_count_and_no_personal_data(database: Database, database_url: str) -> None:
    await _seed(database)
    receipts = await _receipts(database)
    assert len(receipts) == ROWS
    before = await campaign_stats(database, CAMPAIGN, now=NOW)
    total_before = await count_signatures(database, CAMPAIGN)
    assert before.total == total_before == ROWS and len(before.per_day) == 10  # across UTC midnights
    if database.is_sqlite:
        assert _name(7).encode() in _file_bytes(database_url), "the check below can see names in the file"
    plan = await plan_purge(database, CAMPAIGN)
    assert (plan.signatures, plan.first_day, plan.last_day, plan.already_purged) == (
        ROWS,
        date(2026, 2, 20),
        date(2026, 3, 1),
        0,
    )

    done: list[int] = []

    async def progress(count: int) -> None:
        done.append(count)

    files_before = await _table_files(database)
    result = await purge_signatures(database, CAMPAIGN, batch_size=5, progress=progress)

    assert result.purged == ROWS and result.reclaimed
    if database.is_postgres:  # VACUUM FULL wrote new files: the old ones, with the names, are gone
        assert not set(await _table_files(database)) & set(files_before)
    assert done == [5, 10, 15, 20, 23]
    after = await campaign_stats(database, CAMPAIGN, now=NOW)
    # Everything /stats shows is unchanged, except the opt-ins (no one is left to send news to).
    assert dataclasses.replace(after, opt_ins=before.opt_ins, purged=0) == before
    assert (after.purged, after.opt_ins) == (ROWS, 0)
    assert await count_signatures(database, CAMPAIGN) == total_before
    async with database.session() as session:
        assert (
            await session.scalar(select(func.count()).select_from(Signature).where(Signature.campaign == CAMPAIGN)) == 0
        )
        assert await session.scalar(select(func.count()).select_from(Delivery)) == 0, "deliveries went with them"
        assert await session.scalar(select(func.sum(SignatureTally.count))) == ROWS
        assert await session.scalar(select(func.count()).select_from(Broadcast)) == 1  # organisers' text, no one's data
    # No name, Telegram id or receipt anywhere in the database; the other campaign untouched.
    everything = await _every_value(database)
    assert "Other Campaign Keeper" in everything
    for index in range(ROWS):
        assert _name(index) not in everything
        assert str(FIRST_USER_ID + index) not in everything.replace(f"{FIRST_USER_ID}\n", "")  # OTHER's signer
    for code in receipts:
        assert code not in everything
    if database.is_sqlite:
        data = _file_bytes(database_url)
        assert b"Other Campaign Keeper" in data
        assert b"Purgeable Zqxj" not in data and "Ölçek".encode() not in data
        for code in receipts:
            assert code.encode() not in data, "receipts are gone from the file too"

    # Idempotent: a second run finds nothing, and changes nothing.
    again = await purge_signatures(database, CAMPAIGN)
    assert (again.purged, again.reclaimed) == (0, False)
    assert await campaign_stats(database, CAMPAIGN, now=NOW) == after
    assert await count_signatures(database, CAMPAIGN) == total_before


async def test_exports_after_a_purge_say_so(database: Database, tmp_path: Path) -> None:
    await _seed(database)
    await purge_signatures(database, CAMPAIGN)
    campaign = load_campaign(CAMPAIGN)
    csv_result = await export_signatures(database, campaign, "csv", tmp_path)
    assert (csv_result.rows, csv_result.purged) == (0, ROWS)
    assert csv_result.path.read_text(encoding="utf-8-sig").count("\n") == 1  # the header only
    pdf_result = await export_signatures(database, campaign, "pdf", tmp_path)

    last = " ".join(PdfReader(pdf_result.path).pages[-1].extract_text().split())
    assert f"{ROWS} signatures were erased after the retention period" in last
    assert "no name or other personal data" in last
    assert "No one has signed" not in last
    assert pdf_result.fingerprint == csv_result.fingerprint
    # The workbook says it too, on its "About" sheet, with the list's fingerprint.
    xlsx_result = await export_signatures(database, campaign, "xlsx", tmp_path)
    about = {row[0]: row[1] for row in openpyxl.load_workbook(xlsx_result.path)["About"].iter_rows(values_only=True)}
    assert f"{ROWS} signatures were erased after the retention period" in about["Erased after the retention period"]
    assert about["SHA-256 fingerprint of the signatory list"] == csv_result.fingerprint
    assert about["Signatories in this workbook"] == "0"


async def test_a_signature_added_after_the_purge_is_purged_by_the_next_run(database: Database) -> None:
    await _seed(database)
    await purge_signatures(database, CAMPAIGN)
    await add_signer(database, 1, name="Late Signer", campaign=CAMPAIGN)
    assert await count_signatures(database, CAMPAIGN) == ROWS + 1
    assert (await purge_signatures(database, CAMPAIGN)).purged == 1
    stats = await campaign_stats(database, CAMPAIGN, now=NOW)
    assert (stats.total, stats.purged) == (ROWS + 1, ROWS + 1)
    assert dict(stats.by_letter_version)["v1"] == 12 + 1


async def _table_files(database: Database) -> list[str]:
    """PostgreSQL: the files holding the signatures table and its indexes (empty on SQLite)."""
    if not database.is_postgres:
        return []
    async with database.session() as session:
        rows = await session.execute(
            text(
                "SELECT pg_relation_filepath(c.oid) FROM pg_class c "
                "WHERE c.relname = 'signatures' OR c.oid IN "
                "(SELECT indexrelid FROM pg_index WHERE indrelid = 'signatures'::regclass)"
            )
        )
        return [str(path) for (path,) in rows]


def test_the_purge_date() -> None:
    end = date(2027, 6, 30)
    assert purge_from(end, 180) == date(2027, 12, 28)
    assert not is_due(end, 180, date(2027, 12, 27))  # the last day of retention
    assert is_due(end, 180, date(2027, 12, 28))
    assert is_due(end, 0, date(2027, 7, 1)) and not is_due(end, 0, end)


# --- python -m bot purge -------------------------------------------------------------------------


def _invoke(database_url: str, *args: str, **env: str | None) -> Any:
    settings: dict[str, str | None] = {
        "DATABASE_URL": database_url,
        "CAMPAIGN": CAMPAIGN,
        "BOT_TOKEN": None,
        "CAMPAIGN_END": None,
        "RETENTION_DAYS": None,
        **env,
    }
    return CliRunner().invoke(purge_command, list(args), env=settings, catch_exceptions=False)


def _rows(database_url: str) -> int:
    async def count() -> int:
        db = Database(database_url, pool_size=1)
        try:
            async with db.session() as session:
                return int(await session.scalar(select(func.count()).select_from(Signature)) or 0)
        finally:
            await db.dispose()

    return run_async(count)


def _seeded(database_url: str) -> None:
    async def seed() -> None:
        db = Database(database_url, pool_size=2)
        try:
            await _seed(db)
        finally:
            await db.dispose()

    run_async(seed)


def _plain(output: str) -> str:
    return " ".join(output.replace("│", " ").split())


def test_the_command_waits_for_the_date_and_then_purges_once(database_url: str) -> None:
    _seeded(database_url)
    total = ROWS + 1

    result = _invoke(database_url)
    assert result.exit_code == 0, result.output
    assert f"Nothing of {CAMPAIGN} can be purged: it has no end date" in _plain(result.output)

    future = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
    result = _invoke(database_url, CAMPAIGN_END=future, RETENTION_DAYS="10")
    assert result.exit_code == 0, result.output
    purge_day = datetime.now(UTC).date() + timedelta(days=14)
    assert f"will be purged on {purge_day:%-d %B %Y} (UTC)" in _plain(result.output)
    assert _rows(database_url) == total

    past = {"CAMPAIGN_END": "2026-01-01", "RETENTION_DAYS": "30"}
    result = _invoke(database_url, "--dry-run", **past)
    assert result.exit_code == 0, result.output
    plain = _plain(result.output)
    assert "Dry run: nothing is changed" in plain
    assert f"Signatures of {CAMPAIGN} to erase {ROWS}" in plain
    assert "Signed between (UTC) 2026-02-20 and 2026-03-01" in plain
    assert "Purgeable" not in result.output and str(FIRST_USER_ID) not in result.output
    assert _rows(database_url) == total

    result = _invoke(database_url, **past)
    assert result.exit_code == 0, result.output
    assert f"Erased {ROWS} signatures of {CAMPAIGN}" in _plain(result.output)
    assert "Purgeable" not in result.output
    assert _rows(database_url) == 1  # the other campaign's

    result = _invoke(database_url, **past)
    assert result.exit_code == 0, result.output
    assert f"Nothing to purge: no personal data of {CAMPAIGN} is left ({ROWS} signatures" in _plain(result.output)


def test_the_command_fails_in_one_line(tmp_path: Path) -> None:
    missing = f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}"
    result = _invoke(missing, CAMPAIGN_END="2020-01-01")
    assert result.exit_code == 1 and result.output.startswith("error: ") and result.output.count("\n") == 1
    assert not (tmp_path / "missing.db").exists()
    result = _invoke(missing, CAMPAIGN_END="not a date")
    assert result.exit_code == 2 and "CAMPAIGN_END" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("batch_size", [0, -1])
async def test_batch_size_must_be_positive(database: Database, batch_size: int) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        await purge_signatures(database, CAMPAIGN, batch_size=batch_size)


def test_every_campaign_is_purged_on_its_own_dates(database_url: str, tmp_path: Path) -> None:
    """The home campaign has no end yet; another campaign file ended long ago: only its
    signatures are erased, by the same daily run."""
    _seeded(database_url)
    folder = tmp_path / "campaigns"
    folder.mkdir()
    home = (CAMPAIGNS_DIR / f"{CAMPAIGN}.toml").read_text(encoding="utf-8")
    (folder / f"{CAMPAIGN}.toml").write_text(home, encoding="utf-8")
    other = home.replace(f'slug = "{CAMPAIGN}"', f'slug = "{OTHER}"\nends = 2026-01-01')
    (folder / f"{OTHER}.toml").write_text(other, encoding="utf-8")

    async def give_consents() -> None:
        db = Database(database_url, pool_size=1)
        try:
            news = consents.Given(consents.ORGANISATION, "", "w1")
            await consents.record(db, FIRST_USER_ID, CAMPAIGN, [news], language="en")  # still signed the home one
            await consents.record(db, 999, OTHER, [news], language="de")  # signed nothing that is left
            partner = consents.Given("partner:pen", OTHER, "w2")
            await consents.record(db, FIRST_USER_ID, OTHER, [partner], language="en")
        finally:
            await db.dispose()

    run_async(give_consents)
    result = _invoke(database_url, CAMPAIGNS_DIR=str(folder), RETENTION_DAYS="30")
    assert result.exit_code == 0, result.output
    plain = _plain(result.output)
    assert f"Nothing of {CAMPAIGN} can be purged: it has no end date" in plain
    assert f"Erased 1 signatures of {OTHER}" in plain
    assert _rows(database_url) == ROWS  # the other campaign's row is gone, kept only as counts

    async def left() -> list[tuple[str, str | None]]:
        db = Database(database_url, pool_size=1)
        try:
            async with db.session() as session:
                return [(row[0], row[1]) for row in await session.execute(select(Signature.campaign, Signature.name))]
        finally:
            await db.dispose()

    names = run_async(left)
    assert len(names) == ROWS and all(campaign == CAMPAIGN and name for campaign, name in names)

    async def consents_left() -> list[tuple[int, str]]:
        db = Database(database_url, pool_size=1)
        try:
            found = [*await consents.of_person(db, FIRST_USER_ID), *await consents.of_person(db, 999)]
            return [(c.telegram_user_id, c.scope) for c in found]
        finally:
            await db.dispose()

    # The purged campaign's partner consent goes; the news about future campaigns stays for the
    # one who still has a signature, and goes for the one who has none left.
    assert run_async(consents_left) == [(FIRST_USER_ID, "organisation")]
