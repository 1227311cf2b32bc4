"""The broadcast sender's database work per delivery, without Telegram: what the outbox costs
once the rate limit is not what bounds a broadcast (a bigger ``BROADCAST_RATE``, many workers).

    .venv/bin/python -m bench.outbox                                   # 20,000 recipients, PostgreSQL
    .venv/bin/python -m bench.outbox --recipients 100000 --compare /work/wt/before
    .venv/bin/python -m bench.outbox --database-url sqlite+aiosqlite:///bench-outbox.db

It seeds opted-in signers straight into a fresh database, creates a broadcast (the
``INSERT … SELECT`` snapshot of its recipients), then walks every delivery through what the
sender does (``claim`` a batch, ``begin_sending`` and ``record_sent`` each, ``finish_if_done``)
with nothing sent anywhere. It prints the snapshot's time and the time per delivery; where
the code has it, it repeats the same for a broadcast to the organisation's list (the same
people, each with the consent to news about future campaigns).

``--compare OLD_DIR`` runs this file first with an older checkout's ``storage`` (its own
``PYTHONPATH``, the same database server) and prints both with their ratio: the old code
needs no copy of this benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/undersign_bench_outbox"
BATCH = 50  # the sender's claim batch (``Broadcaster.batch``)


async def _fresh(url: str) -> None:
    """An empty database at ``url`` (PostgreSQL on 127.0.0.1 only: it is dropped first)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        await asyncio.to_thread(Path(str(parsed.database)).unlink, missing_ok=True)
        return
    if parsed.host not in ("127.0.0.1", "localhost"):
        raise SystemExit("--database-url must be on 127.0.0.1: the benchmark drops and recreates it")
    import asyncpg

    admin = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username or "postgres", database="postgres"
    )
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await admin.close()


async def _seed(db: Any, count: int, *, with_consents: bool) -> None:
    """``count`` opted-in signers (``bench.broadcast``'s, nobody blocked), and with
    ``with_consents`` each one's consent to news about future campaigns."""
    from sqlalchemy import insert

    from bench.broadcast import seed_signers

    signers = await seed_signers(db, count, blocked_every=None)
    if not with_consents:
        return
    from storage.models import ContactConsent

    given_at = datetime.now(UTC) - timedelta(days=3)
    consents = [
        {
            "telegram_user_id": signer.user_id,
            "scope": "organisation",
            "campaign": "",
            "given_in": "xinjiang",
            "language": signer.language,
            "wording_version": "bench",
            "given_at": given_at,
        }
        for signer in signers
    ]
    async with db.engine.begin() as connection:
        for first in range(0, len(consents), 1000):
            await connection.execute(insert(ContactConsent), consents[first : first + 1000])


async def _walk(db: Any, campaign: str) -> dict[str, float]:
    """Create one broadcast to ``campaign`` and take every delivery through the sender's steps."""
    from storage import outbox
    from storage.broadcasts import create_broadcast

    began = time.perf_counter()
    broadcast = await create_broadcast(db, campaign=campaign, texts={"": "Hello"})
    snapshot = time.perf_counter() - began
    assert await outbox.acquire_lease(db, "bench", 600) is not None
    began = time.perf_counter()
    delivered = 0
    while True:
        claim = await outbox.claim(db, broadcast.id, "bench", BATCH, 600)
        if not claim.recipients:
            break
        for recipient in claim.recipients:
            assert await outbox.begin_sending(db, recipient.delivery_id)
            await outbox.record_sent(db, recipient.delivery_id)
            delivered += 1
    assert await outbox.finish_if_done(db, broadcast.id)
    walked = time.perf_counter() - began
    await outbox.release_lease(db, "bench")
    assert delivered == broadcast.total, (delivered, broadcast.total)
    return {"recipients": delivered, "snapshot_s": snapshot, "per_delivery_ms": walked / max(delivered, 1) * 1000}


async def measure(url: str, recipients: int) -> dict[str, Any]:
    """This checkout's figures (``storage`` as imported: see ``--compare``)."""
    from storage.db import Database
    from storage.migrate import upgrade

    await _fresh(url)
    await upgrade(url)
    try:
        import storage.broadcasts as broadcasts

        has_list = hasattr(broadcasts, "ORGANISATION_LIST")
    except ImportError:  # pragma: no cover - every checkout has it
        has_list = False
    db = Database(url)
    try:
        await _seed(db, recipients, with_consents=has_list)
        figures: dict[str, Any] = {"news": await _walk(db, "xinjiang")}
        if has_list:
            figures["list"] = await _walk(db, "")
        return figures
    finally:
        await db.dispose()


def _in(checkout: Path, url: str, recipients: int) -> dict[str, Any]:
    """The figures of another checkout: this file run with that checkout's code first on the path."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--database-url", url]
    result = subprocess.run(  # noqa: S603 - our own interpreter and file
        [*command, "--recipients", str(recipients)], cwd=checkout, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"{checkout}: {result.stderr.strip().splitlines()[-1:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def report(new: dict[str, Any], old: dict[str, Any] | None) -> None:
    for kind, label in (("news", "a letter's news subscribers"), ("list", "the organisation's list")):
        if kind not in new:
            continue
        figures, before = new[kind], (old or {}).get(kind)
        print(f"{label}: {figures['recipients']:,} deliveries")
        for key, name, unit in (("snapshot_s", "snapshot (create)", "s"), ("per_delivery_ms", "per delivery", "ms")):
            line = f"  {name:<18} {figures[key]:8.3f} {unit}"
            if before is not None:
                line += f"   old {before[key]:8.3f} {unit}   new/old {figures[key] / before[key]:.2f}"
            print(line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.outbox", description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--compare", type=Path, default=None, help="an older checkout, run first, shown beside")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # print JSON only
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(measure(args.database_url, args.recipients))))
        return
    old = _in(args.compare.resolve(), args.database_url, args.recipients) if args.compare else None
    new = _in(Path(__file__).resolve().parents[1], args.database_url, args.recipients)
    report(new, old)


if __name__ == "__main__":
    main()
