"""A broadcast's send rate against Telegram's limit: the real bot process and the emulator.

    .venv/bin/python -m bench.broadcast                      # 2,000 recipients at BROADCAST_RATE=25
    .venv/bin/python -m bench.broadcast --recipients 5000 --rate 200
    .venv/bin/python -m bench.broadcast --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/undersign_bench_bc

It seeds opted-in signers (5 languages, one in 40 has blocked the bot) straight
into a fresh database, creates a broadcast with a text per language, starts the
emulator with Telegram's limits set to the SAME rate (and one message per second
per chat), runs ``python -m bot run --mode polling`` as a separate process and
waits until the broadcast is done. It prints the messages per second achieved,
against the configured rate and against Telegram's 30/s, how long it took, and
how many sends the emulator had to refuse (it must be 0).

The helpers are shared with ``tests/test_broadcast_sending.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import make_url

from emulator import Emulator
from storage.db import Database
from storage.models import Lease, Signature

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "123456:BENCH"  # noqa: S105 - a made-up token only the local emulator accepts
CAMPAIGN = "xinjiang"
LANGUAGES = ("en", "de", "ru", "ug", "zh_Hans")
FIRST_USER_ID = 7_000_000
BLOCKED_EVERY = 40  # one signer in 40 has blocked the bot
TELEGRAM_RATE = 30.0  # Telegram's documented bulk limit, messages per second


@dataclass(frozen=True, slots=True)
class Signer:
    signature_id: int
    user_id: int
    language: str
    blocked: bool


def texts() -> dict[str, str]:
    """One organiser's text per language, each recognisable in what a recipient got."""
    return {
        language: f"News #{index} in {language}: the letter was delivered." for index, language in enumerate(LANGUAGES)
    }


async def seed_signers(db: Database, count: int, *, blocked_every: int | None = BLOCKED_EVERY) -> list[Signer]:
    """``count`` opted-in signatures with receipts, inserted in one statement; one in
    ``blocked_every`` is a person who has blocked the bot since (None: nobody)."""
    now = time.time()
    from datetime import UTC, datetime, timedelta

    start = datetime.fromtimestamp(now, UTC) - timedelta(days=3)
    rows = [
        {
            "campaign": CAMPAIGN,
            "telegram_user_id": FIRST_USER_ID + n,
            "name": f"Signer {n}",
            "country": "DE",
            "language": LANGUAGES[n % len(LANGUAGES)],
            "source": None,
            "referral_code": f"r{n:09d}",
            "opt_in": True,
            "signed_at": start + timedelta(seconds=n),
            "letter_version": "bench",
            "consent_version": "bench",
            "receipt": f"{n:08d}",
        }
        for n in range(count)
    ]
    async with db.engine.begin() as connection:
        for first in range(0, len(rows), 1000):
            await connection.execute(insert(Signature), rows[first : first + 1000])
        found = (
            await connection.execute(
                select(Signature.id, Signature.telegram_user_id, Signature.language).where(
                    Signature.campaign == CAMPAIGN
                )
            )
        ).all()
    return [
        Signer(
            row.id,
            int(row.telegram_user_id),
            row.language,
            blocked_every is not None and (row.telegram_user_id - FIRST_USER_ID) % blocked_every == 7,
        )
        for row in sorted(found, key=lambda row: row.telegram_user_id)
    ]


def add_people(emulator: Emulator, signers: list[Signer]) -> None:
    """Each signer as an emulator user who once started the bot; some blocked it since."""
    for signer in signers:
        user = emulator.user(signer.user_id, first_name="Signer", language_code=signer.language.split("_")[0])
        user.started = True
        if signer.blocked:
            user.block()


async def expire_lease(db: Database) -> None:
    """What the passing of the lease's TTL does after a crash, without waiting for it."""
    from datetime import UTC, datetime, timedelta

    async with db.engine.begin() as connection:
        await connection.execute(update(Lease).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))


def bot_env(emulator: Emulator, database_url: str, rate: float, **settings: str) -> dict[str, str]:
    """The environment of a bot process talking to ``emulator`` (no setting of the developer's)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BOT_", "WEBHOOK_", "REDIS_", "DATABASE_", "BROADCAST_", "CAMPAIGN", "ADMIN_"))
    }
    assert emulator.base_url is not None
    return {
        **env,
        "PYTHONPATH": str(ROOT),
        "BOT_TOKEN": emulator.token,
        "TELEGRAM_API_URL": emulator.base_url,
        "DATABASE_URL": database_url,
        "BROADCAST_RATE": str(rate),
        "LOG_LEVEL": "INFO",
        **settings,
    }


async def start_bot(env: dict[str, str], log: IO[bytes]) -> asyncio.subprocess.Process:
    """``python -m bot run --mode polling`` as a separate process, its log into ``log``."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--mode", "polling", env=env, cwd=ROOT, stdout=log, stderr=log
    )


async def stop_bot(process: asyncio.subprocess.Process, sig: int = signal.SIGTERM, within: float = 30.0) -> int:
    if process.returncode is None:
        process.send_signal(sig)
    return await asyncio.wait_for(process.wait(), within)


def sent(emulator: Emulator) -> int:
    """Messages the emulator delivered so far."""
    return sum(1 for call in emulator.calls if call.ok and call.method == "sendMessage")


async def wait_for(
    condition: Any,
    timeout: float,  # noqa: ASYNC109 - polls a condition in another process, not one awaitable
    what: str,
    process: asyncio.subprocess.Process | None = None,
) -> None:
    """Poll an (async) condition every 0.1 s; TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if process is not None and process.returncode is not None:
            raise RuntimeError(f"the bot process exited ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout}s")
        await asyncio.sleep(0.1)


async def broadcast_status(db: Database, broadcast_id: int) -> str | None:
    from storage.broadcasts import get_broadcast

    broadcast = await get_broadcast(db, broadcast_id)
    return None if broadcast is None else broadcast.status


# --- the benchmark -------------------------------------------------------------------------------


async def bench(recipients: int, rate: float, database_url: str | None, runtime: str) -> None:
    from storage.broadcasts import broadcast_counts, create_broadcast
    from storage.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="undersign-bench-broadcast-") as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        if make_url(url).get_backend_name() == "postgresql":
            await _fresh_postgres(url)
        await upgrade(url)
        db = Database(url, pool_size=2)
        emulator = Emulator(TOKEN, rate_limit=rate, chat_rate_limit=1, record=True)
        await emulator.start()
        try:
            signers = await seed_signers(db, recipients)
            add_people(emulator, signers)
            broadcast = await create_broadcast(db, campaign=CAMPAIGN, texts=texts())
            print(f"{recipients:,} recipients in {len(LANGUAGES)} languages, BROADCAST_RATE={rate:g}/s, {runtime}")
            with (Path(tmp) / "bot.log").open("wb") as log:
                began = time.monotonic()
                process = await start_bot(bot_env(emulator, url, rate, BOT_RUNTIME=runtime), log)
                try:
                    await wait_for(
                        lambda: _finished(db, broadcast.id), max(120.0, 3 * recipients / rate), "done", process
                    )
                finally:
                    ended = time.monotonic()
                    await stop_bot(process)
            counts = await broadcast_counts(db, broadcast.id)
        finally:
            await emulator.stop()
            await db.dispose()
            if database_url and make_url(url).get_backend_name() == "postgresql":
                await _drop_postgres(url)
    sends = [call for call in emulator.calls if call.method == "sendMessage"]
    answered = [call.at for call in sends if call.error_code != 429]  # delivered, or refused as blocked
    first, last = answered[0], answered[-1]
    steady = [at for at in answered if at >= first + 1.0]  # after the first second's burst
    average = len(steady) / (last - first - 1.0) if last > first + 1.0 else float("nan")
    busiest = max(_rolling(answered))
    print(f"  sent {counts.sent:,}, blocked {counts.blocked}, failed {counts.failed}, uncertain {counts.uncertain}")
    print(f"  {len(answered):,} requests answered in {last - first:.1f}s (first to last)")
    print(
        f"  achieved: {average:.1f} messages/s after the first second = {average / rate:.0%} of the configured"
        f" {rate:g}/s, {average / TELEGRAM_RATE:.0%} of Telegram's {TELEGRAM_RATE:g}/s"
    )
    print(f"  busiest rolling second: {busiest} requests (limit {rate:g})")
    print(f"  whole run (bot process start to broadcast done): {ended - began:.1f}s")
    print(f"  emulator refused for the rate: {len(emulator.rate_violations)} (must be 0)")


def _rolling(times: list[float]) -> list[int]:
    """For each request, how many arrived in the rolling second ending with it."""
    counts, start = [], 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        counts.append(end - start + 1)
    return counts


async def _finished(db: Database, broadcast_id: int) -> bool:
    return await broadcast_status(db, broadcast_id) != "sending"


def _admin_url(url: str) -> tuple[dict[str, Any], str]:
    parsed = make_url(url)
    host = parsed.host or "127.0.0.1"
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit("--database-url must be on 127.0.0.1: the benchmark drops and recreates it")
    args = {
        "host": host,
        "port": parsed.port or 5432,
        "user": parsed.username or "postgres",
        "password": parsed.password,
    }
    return args, str(parsed.database)


async def _fresh_postgres(url: str) -> None:
    import asyncpg

    args, name = _admin_url(url)
    admin = await asyncpg.connect(database="postgres", **args)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def _drop_postgres(url: str) -> None:
    import asyncpg

    args, name = _admin_url(url)
    admin = await asyncpg.connect(database="postgres", **args)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.broadcast", description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=25.0, help="BROADCAST_RATE, and the emulator's limit")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--runtime", choices=["aiogram", "ptb"], default="aiogram")
    args = parser.parse_args(argv)
    asyncio.run(bench(args.recipients, args.rate, args.database_url, args.runtime))


if __name__ == "__main__":
    main()
