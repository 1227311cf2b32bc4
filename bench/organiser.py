"""Organiser tools at scale: ``/stats`` latency and export time/memory at 1,000,000 signatures.

    python -m bench.organiser [--rows 1000000] [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/undersign_bench]

Every figure is printed next to a baseline measured in the same run on the same
rows, so the ratio stays meaningful on any machine (see bench/README.md):

* ``/stats`` (``storage.stats.campaign_stats``, median and p95 of 10 runs; and the whole
  reply an organiser waits for: figures, message text and chart)
  against ``SELECT count(*)`` of the campaign, the cheapest question one can
  ask about all of its rows;
* the CSV export (``storage.exports.export_signatures``) against PostgreSQL's
  ``COPY (SELECT the same columns in the same order) TO STDOUT WITH CSV``,
  the database's own limit for writing those rows to a file;
* XLSX and PDF exports of a second campaign of 100,000 rows.

The benchmark only ever connects to 127.0.0.1, creates its own database (and
drops it at the end unless ``--keep``), and stops by itself: each step has a
time limit.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import sys
import tempfile
import time
import zipfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.engine import URL, make_url

from bench.measure import Measured, measure, median, p95, timings
from handlers.chart import signatures_chart
from handlers.i18n import I18n
from handlers.organiser import stats_text
from petition.campaign import Campaign, load_campaign
from petition.countries import country_names
from storage import stat_counts
from storage.db import Database
from storage.exports.export import ExportError, ExportFormat, ExportResult, export_signatures
from storage.migrate import upgrade
from storage.models import Signature
from storage.stats import campaign_stats

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/undersign_bench"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
CAMPAIGN = "xinjiang"
SMALL_CAMPAIGN = "bench_100k"  # a second campaign for the XLSX and PDF exports
EXPORTS = ("csv", "xlsx", "pdf")
STEP_TIMEOUT_S = 900.0
"""Every step's limit, and per million rows for the steps that grow with the list (the PDF of
5,000,000 names takes over a quarter of an hour on 2 cores)."""
ROOT = Path(__file__).resolve().parent.parent

# The CSV export's columns, in its order (storage/exports/safe.py), produced by the database
# itself: number, name, receipt, country code, English country name, language, ISO 8601 UTC,
# source, letter and consent versions.
BASELINE_QUERY = """
SELECT row_number() OVER (ORDER BY s.signed_at, s.id) AS number,
       s.name,
       s.name_form,
       substr(s.receipt, 1, 4) || '-' || substr(s.receipt, 5) AS receipt,
       s.country AS country_code,
       coalesce(c.name, s.country) AS country,
       s.language,
       to_char(s.signed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS signed_at_utc,
       s.source,  -- NULL (direct) is written as an empty field, as the export does
       s.letter_version,
       s.consent_version
FROM signatures s
LEFT JOIN unnest($2::text[], $3::text[]) AS c(code, name) ON c.code = s.country
WHERE s.campaign = $1
ORDER BY s.signed_at, s.id
"""


class BenchError(Exception):
    """One line for the person running the benchmark."""


@dataclasses.dataclass
class Line:
    what: str
    rows: int | None = None
    seconds: str = ""
    memory: str = ""
    size: str = ""
    ratio: str = ""


# --- Database set-up -----------------------------------------------------------------------------


def _local_url(url: str) -> URL:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise BenchError("the benchmark needs PostgreSQL (postgresql+asyncpg://...)")
    if (parsed.host or "127.0.0.1") not in LOCAL_HOSTS:
        raise BenchError(f"refusing to touch {parsed.host}: the benchmark only runs against 127.0.0.1")
    if not parsed.database or parsed.database in {"postgres", "template0", "template1"}:
        raise BenchError("give the benchmark a database of its own (it is dropped at the end)")
    return parsed.set(drivername="postgresql+asyncpg")


async def _admin(url: URL) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database="postgres",
        timeout=10,
    )


async def _recreate_database(url: URL) -> None:
    admin = await _admin(url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{url.database}"')
    finally:
        await admin.close()


async def _drop_database(url: URL) -> None:
    admin = await _admin(url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    finally:
        await admin.close()


async def _connect(url: URL) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database,
        timeout=10,
    )


async def _seed(url: URL, campaign: str, rows: int, *, code_offset: int, first_user_id: int, seed: int) -> None:
    """``python -m bench.seed`` in a child process (see bench/measure.py for why)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.seed",
        "--database-url",
        url.render_as_string(hide_password=False),
        "--campaign",
        campaign,
        "--rows",
        str(rows),
        "--code-offset",
        str(code_offset),
        "--first-user-id",
        str(first_user_id),
        "--seed",
        str(seed),
        cwd=ROOT,
    )
    try:
        code = await asyncio.wait_for(process.wait(), STEP_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise BenchError(f"seeding {campaign} took longer than {STEP_TIMEOUT_S:.0f} s") from None
    if code != 0:
        raise BenchError(f"seeding {campaign} failed (exit {code})")


# --- The steps ----------------------------------------------------------------------------------


async def _copy_baseline(url: URL, campaign: str, path: Path) -> None:
    names = country_names("en")
    connection = await _connect(url)
    try:
        await connection.copy_from_query(
            BASELINE_QUERY,
            campaign,
            list(names),
            list(names.values()),
            output=str(path),
            format="csv",
            header=True,
        )
    finally:
        await connection.close()


def _zip(path: Path) -> Path:
    target = path.with_suffix(".zip")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(path, arcname=path.name)
    return target


async def _remove(path: Path | str) -> None:
    """Delete a written file at once: a million rows in three formats need not all sit in /tmp."""
    await asyncio.to_thread(Path(path).unlink, missing_ok=True)


def _seconds(value: float) -> str:
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def _mib(value: int) -> str:
    return f"{value / 2**20:.1f} MiB"


def _print(lines: list[Line]) -> None:
    headings = Line("step", None, "time", "peak RSS +", "file size", "vs baseline")
    table = [headings, *lines]
    cells = [
        [line.what, "" if line.rows is None else f"{line.rows:,}", line.seconds, line.memory, line.size, line.ratio]
        for line in table
    ]
    cells[0][1] = "rows"
    widths = [max(len(row[column]) for row in cells) for column in range(6)]
    for index, row in enumerate(cells):
        left = row[0].ljust(widths[0])
        rest = "  ".join(cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))
        print(f"{left}  {rest}".rstrip())
        if index == 0:
            print("-" * (sum(widths) + 2 * 5))


async def _step(what: str, step: Callable[[], Awaitable[Any]], rows: int = 0) -> tuple[Any, Measured]:
    print(f"  {what} ...", flush=True)
    limit = STEP_TIMEOUT_S * max(1.0, rows / 1_000_000)
    try:
        return await asyncio.wait_for(measure(step), limit)
    except TimeoutError:
        raise BenchError(f"{what} took longer than {limit:.0f} s") from None


async def run(
    url: URL, rows: int, small_rows: int, runs: int, *, stats_only: bool = False, formats: Sequence[str] = EXPORTS
) -> list[Line]:
    lines: list[Line] = []
    print(
        f"Seeding {rows:,} + {small_rows:,} signatures into {url.render_as_string(hide_password=True)} ...", flush=True
    )
    await _recreate_database(url)
    await upgrade(url.render_as_string(hide_password=False))
    started = time.perf_counter()
    # A bulk load as an operator would make one: the kept counts' trigger off during COPY (a
    # trigger per row takes many times longer), then everything counted once (``rebuild``).
    connection = await _connect(url)
    try:
        await connection.execute("ALTER TABLE signatures DISABLE TRIGGER stat_counts_track")
        await asyncio.gather(
            _seed(url, CAMPAIGN, rows, code_offset=0, first_user_id=10_000_000, seed=2026),
            *(
                [_seed(url, SMALL_CAMPAIGN, small_rows, code_offset=rows, first_user_id=500_000_000, seed=7)]
                if small_rows
                else []
            ),
        )
        await connection.execute("ALTER TABLE signatures ENABLE TRIGGER stat_counts_track")
        seeded = time.perf_counter() - started
        counting = Database(url.render_as_string(hide_password=False), pool_size=1)
        try:
            await stat_counts.rebuild(counting)
        finally:
            await counting.dispose()
        counted = time.perf_counter() - started
        # What autovacuum does after a bulk load: statistics for the planner and the
        # visibility map that makes index-only scans possible.
        await connection.execute("VACUUM (ANALYZE) signatures")
        await connection.execute("VACUUM (ANALYZE) stat_counts")
        server = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    vacuumed = time.perf_counter() - started
    lines.append(Line("seed (COPY) + counts + VACUUM", rows + small_rows, _seconds(vacuumed)))
    print(
        f"  seeded in {seeded:.1f} s, counted in {counted - seeded:.1f} s, vacuumed in {vacuumed - counted:.1f} s",
        flush=True,
    )

    db = Database(url.render_as_string(hide_password=False), pool_size=5)
    try:
        # /stats and its baseline.
        print("Measuring /stats ...", flush=True)

        async def count() -> int:
            async with db.session() as session:
                return int(
                    await session.scalar(
                        select(func.count()).select_from(Signature).where(Signature.campaign == CAMPAIGN)
                    )
                    or 0
                )

        stats_times = await asyncio.wait_for(timings(lambda: campaign_stats(db, CAMPAIGN), runs), STEP_TIMEOUT_S)
        count_times = await asyncio.wait_for(timings(count, runs), STEP_TIMEOUT_S)
        stats = await campaign_stats(db, CAMPAIGN)
        if stats.total != rows:
            raise BenchError(f"campaign_stats counted {stats.total:,} signatures, expected {rows:,}")
        base = median(count_times)
        lines.append(
            Line(
                f"/stats campaign_stats, median of {runs}",
                rows,
                _seconds(median(stats_times)),
                ratio=f"{median(stats_times) / base:.1f}x",
            )
        )
        lines.append(Line(f"/stats campaign_stats, p95 of {runs}", rows, _seconds(p95(stats_times))))
        english = I18n().get("en")

        async def whole_reply() -> bytes:
            """What an organiser waits for: the figures, the message text and the chart."""
            figures = await campaign_stats(db, CAMPAIGN)
            stats_text(english, figures, load_campaign(CAMPAIGN).goal)
            return await asyncio.to_thread(
                signatures_chart,
                figures.per_day,
                title="Signatures per day",
                daily_label="per day",
                total_label="total",
            )

        reply_times = await asyncio.wait_for(timings(whole_reply, runs), STEP_TIMEOUT_S)
        lines.append(
            Line(
                f"/stats whole reply (figures, text, chart), median of {runs}",
                rows,
                _seconds(median(reply_times)),
                ratio=f"{median(reply_times) / base:.1f}x",
            )
        )
        lines.append(Line("  baseline: SELECT count(*), median", rows, _seconds(base), ratio="1.0x"))

        if not stats_only:
            with tempfile.TemporaryDirectory(prefix="undersign-bench-") as scratch:
                lines += await _exports(db, url, Path(scratch), rows, small_rows, formats)
    finally:
        await db.dispose()
    print(f"\nPostgreSQL {server}, Python {platform.python_version()}, {os.cpu_count()} CPUs\n")
    return lines


async def _export(
    db: Database, campaign: Campaign, fmt: ExportFormat, directory: Path, rows: int, *, compress: bool = True
) -> tuple[ExportResult, Measured]:
    """One export as ``/export`` runs it (batches of 5,000, no ids); the file is deleted at once."""
    what = f"{fmt.upper()} export" + ("" if compress else " (compress=False)")
    result, measured = await _step(
        what,
        lambda: export_signatures(
            db, campaign, fmt, directory, with_ids=False, batch_size=5000, progress=None, compress=compress
        ),
        rows,
    )
    await _remove(result.path)
    if result.rows != rows:
        raise BenchError(f"the {fmt} export wrote {result.rows:,} rows, expected {rows:,}")
    return result, measured


def _size(result: ExportResult) -> str:
    if result.volumes > 1:
        return f"{_mib(result.size)} ({result.volumes} vol.)"
    return _mib(result.size) + (" (zip)" if result.compressed else "")


async def _exports(
    db: Database, url: URL, directory: Path, rows: int, small_rows: int, formats: Sequence[str]
) -> list[Line]:
    print("Measuring exports ...", flush=True)
    campaign = load_campaign(CAMPAIGN)
    lines: list[Line] = []
    if "csv" in formats:
        lines += await _csv_exports(db, url, campaign, directory, rows)
    # The documents of a second, smaller campaign, or (--small-rows 0) of the whole list.
    documents = dataclasses.replace(campaign, slug=SMALL_CAMPAIGN) if small_rows else campaign
    for fmt in ("xlsx", "pdf"):
        if fmt not in formats:
            continue
        document_rows = small_rows or rows
        # As the command line writes them: a whole list of a million may be past Telegram's limit.
        result, measured = await _export(db, documents, fmt, directory, document_rows, compress=False)
        lines.append(
            Line(
                f"{fmt.upper()} export",
                document_rows,
                _seconds(measured.seconds),
                _mib(measured.peak_rss_delta),
                _size(result),
            )
        )
    return lines


async def _csv_exports(db: Database, url: URL, campaign: Campaign, directory: Path, rows: int) -> list[Line]:
    copy_path = directory / "copy.csv"
    _, copy = await _step("COPY TO STDOUT", lambda: _copy_baseline(url, CAMPAIGN, copy_path))
    copy_size = (await asyncio.to_thread(copy_path.stat)).st_size
    plain, plain_measured = await _export(db, campaign, "csv", directory, rows, compress=False)
    sent: ExportResult | None = None
    try:
        sent, sent_measured = await _export(db, campaign, "csv", directory, rows)
        shown = Line(
            "CSV export (as /export sends it)",
            rows,
            _seconds(sent_measured.seconds),
            _mib(sent_measured.peak_rss_delta),
            _size(sent),
        )
    except ExportError:  # too large for Telegram even zipped: the bot says to use the command line
        shown = Line("CSV export (as /export sends it)", rows, "refused", size="> 50 MB zipped")

    lines = [
        shown,
        Line(
            "CSV export, compress=False",
            rows,
            _seconds(plain_measured.seconds),
            _mib(plain_measured.peak_rss_delta),
            _size(plain),
            f"{plain_measured.seconds / copy.seconds:.1f}x",
        ),
        Line(
            "  baseline: COPY (...) TO STDOUT WITH CSV",
            rows,
            _seconds(copy.seconds),
            _mib(copy.peak_rss_delta),
            _mib(copy_size),
            "1.0x",
        ),
    ]
    if sent is None or sent.compressed:
        archive, zipped = await _step("COPY output zipped", lambda: asyncio.to_thread(_zip, copy_path))
        total = copy.seconds + zipped.seconds
        archive_size = (await asyncio.to_thread(archive.stat)).st_size
        await _remove(archive)
        if sent is not None:
            lines[0].ratio = f"{sent_measured.seconds / total:.1f}x"
        lines.append(
            Line(
                "  baseline: COPY + zip (the export zips > 50 MB)",
                rows,
                _seconds(total),
                _mib(max(copy.peak_rss_delta, zipped.peak_rss_delta)),
                _mib(archive_size),
                "1.0x",
            )
        )
    else:
        lines[0].ratio = f"{sent_measured.seconds / copy.seconds:.1f}x"
    await _remove(copy_path)
    return lines


async def main_async(args: argparse.Namespace) -> int:
    url = _local_url(args.database_url)
    try:
        formats = [fmt.strip() for fmt in args.formats.split(",") if fmt.strip()]
        lines = await run(url, args.rows, args.small_rows, args.runs, stats_only=args.stats_only, formats=formats)
        _print(lines)
    finally:
        if args.keep:
            print(f"kept database {url.database}")
        else:
            try:
                await _drop_database(url)
            except (OSError, asyncpg.PostgresError) as error:
                print(f"warning: could not drop {url.database}: {error}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.organiser", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="signatures in the main campaign")
    parser.add_argument("--small-rows", type=int, default=100_000, help="signatures for the XLSX and PDF exports")
    parser.add_argument("--runs", type=int, default=10, help="measured /stats runs")
    parser.add_argument("--database-url", default=DEFAULT_URL, help="a PostgreSQL database on 127.0.0.1 (recreated)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("--stats-only", action="store_true", help="measure /stats only, no exports")
    parser.add_argument("--formats", default=",".join(EXPORTS), help="the exports to measure (csv,xlsx,pdf)")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.small_rows < 0 or args.runs < 1:
        parser.error("--rows and --runs must be at least 1, --small-rows at least 0 (0: the whole list)")
    if not set(args.formats.split(",")) <= set(EXPORTS):
        parser.error(f"--formats: choose from {','.join(EXPORTS)}")
    try:
        return asyncio.run(main_async(args))
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError) as error:
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
