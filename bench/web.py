"""The campaign page and the JSON count under a crowd: requests a second on one core, and what the database pays.

Starts ``python -m bot web`` as its own process, pinned to one CPU, on a fresh
PostgreSQL database (127.0.0.1, recreated) with a few signatures, and fires
requests at it from this process, pinned to the other CPU, with ``--concurrency``
requests in flight. Prints, for the JSON count and for the page: requests a second,
the latency's median and p95, the server's CPU per request, and the database
transactions per request (``pg_stat_database``: the kept count reads it every 2 s,
whatever the traffic). Baseline, in the same run: ``GET /healthz`` served the same
way, which reads the kept count too (the least a route of this server can cost).

    .venv/bin/python -m bench.web                       # 10,000 requests per route
    .venv/bin/python -m bench.web --requests 30000 --concurrency 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass

import aiohttp
import asyncpg
import psutil

from bench.botprocess import free_port
from bench.broadcast import _admin_url, _fresh_postgres
from storage.db import Database
from storage.migrate import upgrade
from storage.signatures import add_signature

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/undersign_bench_web"
CAMPAIGN = "xinjiang"
ROUTES = (
    ("baseline: GET /healthz", "/healthz"),
    ("JSON count", f"/api/v1/campaigns/{CAMPAIGN}"),
    ("page", f"/c/{CAMPAIGN}?s=poster"),
)


@dataclass
class Figures:
    what: str
    requests: int
    per_second: float
    median_ms: float
    p95_ms: float
    cpu_ms: float
    transactions: float


async def _transactions(url: str) -> int:
    args, name = _admin_url(url)
    connection = await asyncpg.connect(database=name, **args)
    try:
        # Statistics are sent to the collector when a transaction ends: ask for a fresh view.
        await connection.execute("SELECT pg_stat_clear_snapshot()")
        value = await connection.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await connection.close()
    return int(value)


async def _seed(url: str) -> None:
    await upgrade(url)
    db = Database(url)
    try:
        for user_id in range(1, 26):
            await add_signature(
                db,
                campaign=CAMPAIGN,
                user_id=user_id,
                name=f"Signer {user_id}",
                country="DE",
                language="en",
                source=None,
                opt_in=False,
                letter_version="v",
                consent_version="c",
            )
    finally:
        await db.dispose()


async def _fire(base: str, path: str, requests: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        queue = iter(range(requests))

        async def client() -> None:
            for _ in queue:
                started = time.perf_counter()
                async with http.get(base + path) as response:
                    await response.read()
                    if response.status != 200:
                        raise SystemExit(f"{path}: HTTP {response.status}")
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


async def run(url: str, requests: int, concurrency: int) -> list[Figures]:
    await _fresh_postgres(url)
    await _seed(url)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "CAMPAIGN": CAMPAIGN, "BOT_USERNAME": "undersign_bench_bot"}
    env.pop("BOT_TOKEN", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "web", "--host", "127.0.0.1", "--port", str(port), env=env
    )
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server = psutil.Process(process.pid)
    if len(cpus) >= 2:  # the server on one core, the crowd on another
        server.cpu_affinity([cpus[0]])
        os.sched_setaffinity(0, {cpus[1]})
    base = f"http://127.0.0.1:{port}"
    figures: list[Figures] = []
    try:
        await _fire_until_up(base)
        for what, path in ROUTES:
            await _fire(base, path, min(500, requests), concurrency)  # warm up
            before_cpu, before_xacts = sum(server.cpu_times()[:2]), await _transactions(url)
            seconds, latencies = await _fire(base, path, requests, concurrency)
            cpu = sum(server.cpu_times()[:2]) - before_cpu
            xacts = await _transactions(url) - before_xacts - 1  # the reading of the counter itself
            latencies.sort()
            figures.append(
                Figures(
                    what,
                    requests,
                    requests / seconds,
                    statistics.median(latencies) * 1000,
                    latencies[int(len(latencies) * 0.95)] * 1000,
                    cpu / requests * 1000,
                    max(xacts, 0) / requests,
                )
            )
    finally:
        process.terminate()
        await process.wait()
    return figures


async def _fire_until_up(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise SystemExit("python -m bot web did not start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000, help="requests per route")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight")
    parser.add_argument("--database-url", default=DEFAULT_URL, help="a PostgreSQL database on 127.0.0.1 (recreated)")
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.database_url, args.requests, args.concurrency))
    print(f"\n{args.requests:,} requests per route, {args.concurrency} in flight, server pinned to one CPU\n")
    print(f"{'route':<24} {'req/s':>8} {'median':>9} {'p95':>9} {'CPU/req':>9} {'DB xacts/req':>13}  vs baseline")
    base = figures[0].per_second
    for row in figures:
        print(
            f"{row.what:<24} {row.per_second:>8,.0f} {row.median_ms:>7.1f}ms {row.p95_ms:>7.1f}ms "
            f"{row.cpu_ms:>7.2f}ms {row.transactions:>13.4f}  {row.per_second / base:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
