"""/stats numbers, the chart and ``python -m bot stats``, on SQLite and PostgreSQL.

The seeded campaign is small and hand-built so every expected number below is
written out, not recomputed: 28 signatures over 12 countries (top 10 + 2 others),
13 sources (12 named + direct), 4 languages, 2 letter versions, 11 opt-ins, signed
on days chosen around the 7- and 30-day windows' edges, with "now" at midnight UTC.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import matplotlib.image
import pytest
from click.testing import CliRunner
from sqlalchemy import update
from sqlalchemy.engine import make_url

from bot.cli.stats import stats as stats_command
from handlers.chart import signatures_chart
from storage.db import Database
from storage.models import Signature, StatCount
from storage.signatures import add_signature, bump_funnel, withdraw_signature
from storage.stats import CampaignStats, campaign_stats
from tests.fixtures.services import run_async
from tests.signers import add_signer

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN = "xinjiang"
T = TypeVar("T")
NOW = datetime(2026, 3, 10, 0, 0, 0, tzinfo=UTC)  # midnight UTC: the first instant of "today"


def _expand(*counts: tuple[T, int]) -> list[T]:
    return [value for value, count in counts for _ in range(count)]


COUNTRIES: list[str] = _expand(
    ("DE", 5), ("FR", 4), ("US", 4), ("GB", 3), ("TR", 3), ("KZ", 2),
    ("ID", 2), ("PK", 1), ("CA", 1), ("AU", 1), ("NL", 1), ("SE", 1),
)  # fmt: skip
LANGUAGES: list[str] = _expand(("en", 10), ("ar", 8), ("ug", 6), ("zh_Hans", 4))
SOURCES: list[str | None] = _expand(
    (None, 6), ("s01", 4), ("s02", 3), ("s03", 3), ("s04", 2), ("s05", 2), ("s06", 2),
    ("s07", 1), ("s08", 1), ("s09", 1), ("s10", 1), ("s11", 1), ("s12", 1),
)  # fmt: skip
LETTERS: list[str] = _expand(("v2", 18), ("v1", 10))
OPT_INS: list[bool] = _expand((True, 11), (False, 17))
SIGNED_AT: list[datetime] = _expand(
    (datetime(2026, 1, 20, 12, 0, tzinfo=UTC), 2),  # long ago
    (datetime(2026, 2, 8, 23, 59, 59, tzinfo=UTC), 1),  # the last second before the 30-day window
    (datetime(2026, 2, 9, 0, 0, tzinfo=UTC), 3),  # the first instant of the 30-day window
    (datetime(2026, 3, 3, 23, 59, 59, tzinfo=UTC), 2),  # just before the 7-day window
    (datetime(2026, 3, 4, 0, 0, tzinfo=UTC), 4),  # the first instant of the 7-day window
    (datetime(2026, 3, 9, 23, 59, 59, 999000, tzinfo=UTC), 5),  # yesterday, a millisecond before midnight
    (datetime(2026, 3, 10, 0, 0, tzinfo=UTC), 6),  # today, at midnight exactly
    (datetime(2026, 3, 12, 10, 0, tzinfo=UTC), 5),  # after "now": in the total and per day only
)
ROWS = 28
assert {len(COUNTRIES), len(LANGUAGES), len(SOURCES), len(LETTERS), len(OPT_INS), len(SIGNED_AT)} == {ROWS}

EXPECTED_DAYS = {
    date(2026, 1, 20): 2,
    date(2026, 2, 8): 1,
    date(2026, 2, 9): 3,
    date(2026, 3, 3): 2,
    date(2026, 3, 4): 4,
    date(2026, 3, 9): 5,
    date(2026, 3, 10): 6,
    date(2026, 3, 12): 5,
}
FIRST_DAY, LAST_DAY = date(2026, 1, 20), date(2026, 3, 12)


async def _seed(db: Database, campaign: str = CAMPAIGN) -> None:
    for index in range(ROWS):
        await add_signature(
            db,
            campaign=campaign,
            user_id=1000 + index,
            name=f"Signer {index}",
            country=COUNTRIES[index],
            language=LANGUAGES[index],
            source=SOURCES[index],
            opt_in=OPT_INS[index],
            letter_version=LETTERS[index],
            consent_version="consent-1",
        )
    async with db.transaction() as session:
        for index, signed_at in enumerate(SIGNED_AT):
            await session.execute(
                update(Signature)
                .where(Signature.campaign == campaign, Signature.telegram_user_id == 1000 + index)
                .values(signed_at=signed_at)
            )
    # The funnel: counts on several days, languages and sources are summed per step.
    bumps = [
        ("started", "en", None, date(2026, 3, 9)),
        ("started", "en", "s01", date(2026, 3, 9)),
        ("started", "ar", None, date(2026, 3, 10)),
        ("started", "ar", None, date(2026, 3, 10)),
        ("started", "ug", "s02", date(2026, 2, 1)),
        ("read", "en", None, date(2026, 3, 9)),
        ("read", "ar", None, date(2026, 3, 10)),
        ("read", "ug", "s02", date(2026, 2, 1)),
        ("read", "ug", "s02", date(2026, 2, 1)),
        ("consented", "en", None, date(2026, 3, 9)),
        ("consented", "ar", None, date(2026, 3, 10)),
        ("consented", "ug", "s02", date(2026, 2, 1)),
        ("signed", "en", None, date(2026, 3, 9)),
        ("signed", "ar", None, date(2026, 3, 10)),
    ]
    for step, language, source, day in bumps:
        await bump_funnel(db, campaign=campaign, step=step, language=language, source=source, day=day)


def _per_day(days: dict[date, int]) -> list[tuple[date, int]]:
    span = (LAST_DAY - FIRST_DAY).days + 1
    return [(FIRST_DAY + timedelta(days=n), days.get(FIRST_DAY + timedelta(days=n), 0)) for n in range(span)]


async def test_every_field_on_a_hand_built_campaign(database: Database) -> None:
    await _seed(database)
    await _seed(database, campaign="another")  # never counted in xinjiang's numbers

    stats = await campaign_stats(database, CAMPAIGN, now=NOW)

    # fmt: off
    assert stats == CampaignStats(
        total=28,
        today=6,
        last_7_days=4 + 5 + 6,
        last_30_days=3 + 2 + 4 + 5 + 6,
        by_language=[("en", 10), ("ar", 8), ("ug", 6), ("zh_Hans", 4)],
        by_country=[
            ("DE", 5), ("FR", 4), ("US", 4), ("GB", 3), ("TR", 3),
            ("ID", 2), ("KZ", 2), ("AU", 1), ("CA", 1), ("NL", 1),
        ],
        other_countries=2,  # PK and SE, ranked below the equal AU, CA and NL by code
        by_source=[
            ("", 6), ("s01", 4), ("s02", 3), ("s03", 3), ("s04", 2),
            ("s05", 2), ("s06", 2), ("s07", 1), ("s08", 1), ("s09", 1),
        ],
        funnel={"started": 5, "read": 4, "consented": 3, "signed": 2, "withdrew": 0, "removed": 0},
        withdrawals=0,
        opt_ins=11,
        per_day=_per_day(EXPECTED_DAYS),
        by_letter_version=[("v2", 18), ("v1", 10)],
    )
    # fmt: on
    # Days without signatures are there as zeros, oldest first, first and last included.
    assert len(stats.per_day) == 52
    assert stats.per_day[0] == (date(2026, 1, 20), 2)
    assert stats.per_day[1] == (date(2026, 1, 21), 0)
    assert stats.per_day[-2] == (date(2026, 3, 11), 0)
    assert stats.per_day[-1] == (date(2026, 3, 12), 5)
    assert sum(count for _, count in stats.per_day) == stats.total
    assert sum(count for _, count in stats.by_country) + stats.other_countries == stats.total


async def test_a_withdrawal_disappears_from_every_count(database: Database) -> None:
    await _seed(database)
    removed = [17, 27]  # rows are user 1000 + index; what each one was is spelled out here:
    assert [COUNTRIES[i] for i in removed] == ["TR", "SE"]  # SE was the only one
    assert [LANGUAGES[i] for i in removed] == ["ar", "zh_Hans"]
    assert [SOURCES[i] for i in removed] == ["s04", "s12"]
    assert [LETTERS[i] for i in removed] == ["v2", "v1"]
    assert [OPT_INS[i] for i in removed] == [False, False]
    assert [SIGNED_AT[i].date() for i in removed] == [date(2026, 3, 10), date(2026, 3, 12)]  # today, future
    for index in removed:
        assert await withdraw_signature(database, CAMPAIGN, 1000 + index)
        await bump_funnel(
            database, campaign=CAMPAIGN, step="withdrew", language="en", source=None, day=date(2026, 3, 10)
        )

    stats = await campaign_stats(database, CAMPAIGN, now=NOW)

    assert stats.total == 26
    assert (stats.today, stats.last_7_days, stats.last_30_days) == (5, 4 + 5 + 5, 3 + 2 + 4 + 5 + 5)
    assert stats.by_country == [
        ("DE", 5), ("FR", 4), ("US", 4), ("GB", 3), ("ID", 2),
        ("KZ", 2), ("TR", 2), ("AU", 1), ("CA", 1), ("NL", 1),
    ]  # fmt: skip
    assert stats.other_countries == 1  # PK only
    assert stats.by_language == [("en", 10), ("ar", 7), ("ug", 6), ("zh_Hans", 3)]
    assert stats.by_source == [
        ("", 6), ("s01", 4), ("s02", 3), ("s03", 3), ("s05", 2),
        ("s06", 2), ("s04", 1), ("s07", 1), ("s08", 1), ("s09", 1),
    ]  # fmt: skip
    assert stats.by_letter_version == [("v2", 17), ("v1", 9)]
    assert stats.opt_ins == 11
    assert stats.withdrawals == 2
    assert stats.funnel == {"started": 5, "read": 4, "consented": 3, "signed": 2, "withdrew": 2, "removed": 0}
    assert (stats.removals, stats.purged) == (0, 0)
    assert stats.per_day == _per_day({**EXPECTED_DAYS, date(2026, 3, 10): 5, date(2026, 3, 12): 4})


async def test_counts_equal_the_rows_of_an_export(database: Database, tmp_path: Path) -> None:
    """What /stats says and what /export delivers never disagree, after a withdrawal too."""
    from petition.campaign import load_campaign
    from storage.exports.export import export_signatures

    await _seed(database)
    await withdraw_signature(database, CAMPAIGN, 1003)
    stats = await campaign_stats(database, CAMPAIGN, now=NOW)
    result = await export_signatures(
        database, load_campaign(CAMPAIGN), "csv", tmp_path, with_ids=False, batch_size=5, progress=None
    )
    text = await asyncio.to_thread(Path(result.path).read_text, encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert stats.total == result.rows == len(rows) == 27
    exported_countries: dict[str, int] = {}
    for row in rows:
        exported_countries[row["country_code"]] = exported_countries.get(row["country_code"], 0) + 1
    assert dict(stats.by_country) == {code: exported_countries[code] for code, _ in stats.by_country}
    assert stats.other_countries == sum(exported_countries.values()) - sum(n for _, n in stats.by_country)


@pytest.mark.parametrize(
    ("now", "today", "last_7", "last_30"),
    [
        # One microsecond before midnight UTC: still the 9th (the windows start a day earlier too).
        (datetime(2026, 3, 9, 23, 59, 59, 999999, tzinfo=UTC), 5, 2 + 4 + 5, 1 + 3 + 2 + 4 + 5),
        # Midnight UTC given in another zone (01:00 at UTC+1 is midnight UTC on the 10th).
        (datetime(2026, 3, 10, 1, 0, tzinfo=timezone(timedelta(hours=1))), 6, 4 + 5 + 6, 3 + 2 + 4 + 5 + 6),
        # 23:00 on the 9th at UTC-2 is 01:00 UTC on the 10th.
        (datetime(2026, 3, 9, 23, 0, tzinfo=timezone(timedelta(hours=-2))), 6, 4 + 5 + 6, 3 + 2 + 4 + 5 + 6),
        # Two days later: the "future" signatures are today's; the windows start on 6 March / 11 February.
        (datetime(2026, 3, 12, 23, 0, tzinfo=UTC), 5, 5 + 6 + 5, 2 + 4 + 5 + 6 + 5),
        # Long after the campaign: nothing in any window.
        (datetime(2027, 1, 1, tzinfo=UTC), 0, 0, 0),
    ],
)
async def test_today_and_windows_follow_now_in_utc(
    database: Database, now: datetime, today: int, last_7: int, last_30: int
) -> None:
    await _seed(database)
    stats = await campaign_stats(database, CAMPAIGN, now=now)
    assert (stats.today, stats.last_7_days, stats.last_30_days) == (today, last_7, last_30)
    assert stats.total == 28


async def test_default_now_and_a_naive_now(database: Database) -> None:
    await add_signer(database, 1, name="Ada", campaign=CAMPAIGN, country="GB")
    stats = await campaign_stats(database, CAMPAIGN)
    assert (stats.total, stats.today, stats.last_7_days, stats.last_30_days) == (1, 1, 1, 1)
    assert stats.per_day == [(datetime.now(UTC).date(), 1)]
    with pytest.raises(ValueError, match="naive"):
        await campaign_stats(database, CAMPAIGN, now=datetime(2026, 3, 10))


async def test_an_empty_campaign(database: Database) -> None:
    stats = await campaign_stats(database, CAMPAIGN, now=NOW)
    funnel = {"started": 0, "read": 0, "consented": 0, "signed": 0, "withdrew": 0, "removed": 0}
    assert stats == dataclasses.replace(EMPTY_STATS, funnel=funnel)


@pytest.mark.postgres
async def test_one_connection_gives_the_same_numbers(migrated_postgres_url: str) -> None:
    """``parallel=1`` (everything on one connection) and many connections agree exactly."""
    campaign = f"parallel-{uuid.uuid4().hex[:8]}"  # the shared test database is not emptied here
    db = Database(migrated_postgres_url, pool_size=8)
    try:
        await _seed(db, campaign)
        one = await campaign_stats(db, campaign, now=NOW, parallel=1)
        assert one == await campaign_stats(db, campaign, now=NOW, parallel=7)
        assert one.total == 28
    finally:
        await db.dispose()


async def test_numbers_add_up_while_people_keep_signing(database: Database) -> None:
    """Every breakdown comes from one snapshot, so each result is consistent in itself."""
    await _seed(database)
    stop = asyncio.Event()

    async def sign() -> None:
        user = 5000
        while not stop.is_set():
            await add_signature(
                database,
                campaign=CAMPAIGN,
                user_id=user,
                name="Concurrent Signer",
                country=COUNTRIES[user % ROWS],
                language=LANGUAGES[user % ROWS],
                source=SOURCES[user % ROWS],
                opt_in=True,
                letter_version="v3",
                consent_version="c1",
            )
            if user % 3 == 0:
                await withdraw_signature(database, CAMPAIGN, user - 1)
            user += 1
            await asyncio.sleep(0)

    signer = asyncio.create_task(sign())
    try:
        for _ in range(15):
            stats = await campaign_stats(database, CAMPAIGN, now=NOW)
            total = stats.total
            assert sum(n for _, n in stats.per_day) == total
            assert sum(n for _, n in stats.by_country) + stats.other_countries == total
            assert sum(n for _, n in stats.by_language) == total
            assert sum(n for _, n in stats.by_letter_version) == total
            assert stats.opt_ins == 11 + dict(stats.by_letter_version).get("v3", 0)
    finally:
        stop.set()
        await signer


# --- The chart ---------------------------------------------------------------------------------


@pytest.mark.parametrize("days", [0, 1, 400])
def test_the_chart_is_a_photo_sized_png(days: int) -> None:
    per_day = [(date(2026, 1, 1) + timedelta(days=n), (n * 37) % 500) for n in range(days)]
    png = signatures_chart(per_day, title="Signatures", daily_label="per day", total_label="total")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert image.shape[:2] == (720, 1280)


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
def test_the_chart_draws_non_latin_labels_without_failing() -> None:
    """Unsupported glyphs become boxes (documented), never an exception."""
    png = signatures_chart(
        [(date(2026, 1, 1), 3)], title="Подписи — 签名 — التوقيعات", daily_label="в день", total_label="всего"
    )
    assert png.startswith(b"\x89PNG")


# --- python -m bot stats -----------------------------------------------------------------------


def _cli_env(database_url: str) -> dict[str, str | None]:
    """The command's settings; a developer's own token or campaign must not leak in (None unsets)."""
    return {"DATABASE_URL": database_url, "CAMPAIGN": CAMPAIGN, "BOT_TOKEN": None}


def _seed_for_the_command(database_url: str) -> None:
    async def seed() -> None:
        db = Database(database_url, pool_size=2)
        try:
            await _seed(db)
        finally:
            await db.dispose()

    run_async(seed)


def test_the_command_prints_the_numbers_and_writes_the_chart(database_url: str, tmp_path: Path) -> None:
    _seed_for_the_command(database_url)
    chart = tmp_path / "chart.png"
    result = CliRunner().invoke(stats_command, ["--chart", str(chart)], env=_cli_env(database_url))
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.replace("│", " ").split()) for line in result.output.splitlines()]
    assert "Total 28" in lines
    assert "Germany (DE)" in result.output
    assert "All other countries" in result.output
    assert "(direct)" in result.output
    assert "started" in result.output and "withdrew" in result.output
    assert "Goal 100,000 (0.0% reached)" in lines  # 28 of 100,000 rounds to 0.0%, as in the bot
    assert "Opted in to updates 11 (39.3%)" in lines
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_the_command_verifies_the_kept_counts_against_the_rows(database_url: str) -> None:
    async def miscount() -> None:  # what only going around the triggers could do
        db = Database(database_url, pool_size=2)
        try:
            async with db.transaction() as session:
                await session.execute(
                    update(StatCount)
                    .where(StatCount.campaign == CAMPAIGN, StatCount.dimension == "language", StatCount.key == "en")
                    .values(count=0)
                )
        finally:
            await db.dispose()

    _seed_for_the_command(database_url)
    result = CliRunner().invoke(stats_command, ["--verify"], env=_cli_env(database_url))
    assert result.exit_code == 0, result.output
    assert "the kept counts agree with the signatures' rows" in result.output

    run_async(miscount)
    result = CliRunner().invoke(stats_command, ["--verify"], env=_cli_env(database_url))
    assert result.exit_code == 1, result.output
    assert "differ from the signatures' rows in 1 place(s)" in result.output
    assert "language en: kept 0, rows " in result.output

    result = CliRunner().invoke(stats_command, ["--rebuild"], env=_cli_env(database_url))
    assert result.exit_code == 0, result.output  # counted again, then verified
    assert "the kept counts agree with the signatures' rows" in result.output


def test_the_command_fails_in_one_line(tmp_path: Path) -> None:
    missing = f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}"
    result = CliRunner().invoke(stats_command, [], env=_cli_env(missing))
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("error: ")
    assert "Traceback" not in result.output
    assert not (tmp_path / "missing.db").exists()  # read-only: no empty database left behind

    result = CliRunner().invoke(stats_command, [], env={**_cli_env(missing), "CAMPAIGN": "no-such-campaign"})
    assert result.exit_code == 2
    assert result.output.startswith("error: CAMPAIGN is invalid")


# --- The benchmark, tiny -----------------------------------------------------------------------


@pytest.mark.postgres
def test_the_benchmark_runs_small_and_cleans_up(postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m bench.organiser`` end to end with 300 rows (figures are not checked here)."""
    from bench.organiser import main

    name = f"undersign_bench_smoke_{uuid.uuid4().hex[:8]}"
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    exit_code = main(["--rows", "300", "--small-rows", "30", "--runs", "1", "--database-url", url])
    out, err = capsys.readouterr()
    assert exit_code == 0, err
    for figure in (
        "/stats campaign_stats, median",
        "baseline: SELECT count(*)",
        "CSV export (as /export sends it)",
        "CSV export, compress=False",
        "baseline: COPY (...) TO STDOUT WITH CSV",
        "XLSX export",
        "PDF export",
    ):
        assert figure in out
    # The database was dropped.
    code = "import asyncio, asyncpg, sys; asyncio.run(asyncpg.connect(sys.argv[1], timeout=5))"
    probe = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code, url.replace("+asyncpg", "")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert probe.returncode != 0 and "does not exist" in probe.stderr


def test_the_benchmark_refuses_other_hosts() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.organiser", "--database-url", "postgresql+asyncpg://postgres@db.example.org/x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1
    assert "only runs against 127.0.0.1" in completed.stderr


# --- Removals, letter versions and purged signatures in /stats -----------------------------------


async def test_removals_are_counted_apart_from_withdrawals(database: Database) -> None:
    await _seed(database)
    assert await withdraw_signature(database, CAMPAIGN, 1000)  # an organiser's /remove deletes the row too
    await bump_funnel(database, campaign=CAMPAIGN, step="removed", language="en", source=None, day=date(2026, 3, 10))
    stats = await campaign_stats(database, CAMPAIGN, now=NOW)
    assert (stats.total, stats.removals, stats.withdrawals, stats.purged) == (27, 1, 0, 0)
    assert stats.funnel["removed"] == 1


EMPTY_STATS = CampaignStats(
    total=0,
    today=0,
    last_7_days=0,
    last_30_days=0,
    by_language=[],
    by_country=[],
    other_countries=0,
    by_source=[],
    funnel={},
    withdrawals=0,
    opt_ins=0,
    per_day=[],
    by_letter_version=[],
    removals=0,
    purged=0,
)


def test_the_stats_message_shows_letter_versions_removals_and_erased() -> None:
    from babel.support import NullTranslations

    from handlers.i18n import Translator
    from handlers.organiser import stats_text

    t = Translator.for_locale("en", NullTranslations())
    stats = dataclasses.replace(
        EMPTY_STATS,
        total=30,
        by_language=[("en", 30)],
        by_country=[("DE", 30)],
        by_source=[("", 15), ("shared", 8), ("shared-poster_berlin", 5), ("poster_berlin", 2)],
        funnel={"started": 40, "read": 35, "consented": 31, "signed": 30, "withdrew": 1, "removed": 2},
        withdrawals=1,
        opt_ins=3,
        by_letter_version=[("3f9a1c2b7d10", 20), ("<b>x</b>", 10)],
        removals=2,
    )
    text = stats_text(t, stats, 100, {"3f9a1c2b7d10": "Deutsch, Español"})
    assert (
        "<b>By letter version</b>\n<code>3f9a1c2b…</code> (Deutsch, Español): 20\n<code>&lt;b&gt;x&lt;/b&gt;</code>: 10"
        in text
    )
    assert "Removed by organisers: 2" in text
    assert "Erased after the retention period" not in text
    # Signers' share links by what they are; the campaign source they passed on beside it.
    assert (
        "<b>By source (top 10)</b>\ndirect (no link): 15\nshared by signers: 8\n"
        "poster_berlin (shared by signers): 5\nposter_berlin: 2"
    ) in text
    erased = stats_text(t, dataclasses.replace(stats, purged=25), 100)
    assert erased.endswith("Erased after the retention period (counted, no personal data): 25")


def test_the_stats_message_of_an_empty_campaign_has_no_empty_headings() -> None:
    from babel.support import NullTranslations

    from handlers.i18n import Translator
    from handlers.organiser import stats_text

    t = Translator.for_locale("en", NullTranslations())
    text = stats_text(t, EMPTY_STATS, 100)
    assert text.startswith("<b>Signatures: 0 of 100 (0.0%)</b>")
    for heading in ("By language", "By country", "By source", "By letter version"):
        assert heading not in text
    assert "\n\n\n" not in text and "<b>Funnel</b>\nStarted: 0" in text


def test_the_chart_shows_the_goal_once_within_reach() -> None:
    per_day = [(date(2026, 1, 1) + timedelta(days=n), 50) for n in range(10)]  # 500 in all
    plain = signatures_chart(per_day, title="Signatures", daily_label="per day", total_label="total")
    near = signatures_chart(
        per_day, title="Signatures", daily_label="per day", total_label="total", goal=1000, goal_label="goal 1,000"
    )
    far = signatures_chart(
        per_day, title="Signatures", daily_label="per day", total_label="total", goal=10**6, goal_label="goal 1,000,000"
    )
    assert len({plain, near, far}) == 3  # a line at 1,000; for a far goal the legend says it instead
    # The dashed goal line: dark pixels across the plot at the goal's height, none without a goal.
    image = matplotlib.image.imread(io.BytesIO(near), format="png")
    plain_image = matplotlib.image.imread(io.BytesIO(plain), format="png")

    def dark_rows(pixels: Any) -> set[int]:
        return {row for row in range(720) if (pixels[row, 200:1000, :3].mean(axis=1) < 0.3).sum() > 250}

    assert dark_rows(image) - dark_rows(plain_image)  # the axes and dates are dark in both


def test_letter_versions_are_named_by_their_languages() -> None:
    from types import SimpleNamespace

    from handlers.i18n import I18n
    from handlers.organiser import letter_languages
    from petition.campaign import load_campaign

    i18n, campaign = I18n(), load_campaign(CAMPAIGN)
    versions = letter_languages(SimpleNamespace(i18n=i18n), campaign)  # type: ignore[arg-type]
    assert versions[campaign.version()] == "English"
    assert versions[campaign.version(i18n.get("de").catalog.gettext)] == "Deutsch"
    assert len(versions) == len(i18n.locales)  # every catalog translates the letter its own way
