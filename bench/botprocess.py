"""The bot under test as separate processes: its settings, its database, its CPU and its log.

``python -m bot run`` runs from the checkout under test (its cwd and
PYTHONPATH), so ``--compare`` measures another checkout's code with this
benchmark's emulator and driver. Each run gets a fresh database: a new SQLite
file, or the PostgreSQL database dropped and created again and the Redis index
emptied (both must be on this machine).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil
from sqlalchemy.engine import make_url

from bench.broadcast import _admin_url, _fresh_postgres
from emulator import Emulator

WEBHOOK_SECRET = "bench-webhook-secret"  # noqa: S105 - only the local emulator sends it
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/undersign_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
GAVE_UP = re.compile(r"gave up after flood control")


@dataclass(frozen=True, slots=True)
class Target:
    """What to run: whose code, which framework, which storage, how updates arrive."""

    checkout: Path
    runtime: str  # aiogram | ptb
    backend: str  # sqlite | pg
    mode: str  # polling | webhook
    workers: int
    concurrency: int  # MAX_CONCURRENT_UPDATES, and the echo bot's limit
    database_url: str
    redis_url: str


def supports_workers(checkout: Path) -> bool:
    """Whether the checkout's ``python -m bot run`` has a ``--workers`` option."""
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--help"],
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": str(checkout)},
        capture_output=True,
        timeout=60,
        check=False,
    )
    return "--workers" in done.stdout.decode()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def fresh_backend(target: Target, tmp: Path) -> str:
    """A new, empty database (and Redis index) for one run; the DATABASE_URL."""
    if target.backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    if (make_url(target.database_url).host or "") not in ("127.0.0.1", "localhost"):
        raise SystemExit("--database-url must be on 127.0.0.1: the benchmark drops and recreates it")
    await _fresh_postgres(target.database_url)
    import redis.asyncio as redis

    client = redis.Redis.from_url(target.redis_url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    return target.database_url


async def backend_counters(target: Target) -> dict[str, float]:
    """Redis commands and PostgreSQL transactions and row writes so far (PostgreSQL + Redis only):
    the round trips a signature costs, whatever the machine's speed."""
    if target.backend != "pg":
        return {}
    import asyncpg
    import redis.asyncio as redis

    client = redis.Redis.from_url(target.redis_url)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    commands = sum(float(value["calls"]) for key, value in stats.items() if key != "cmdstat_info")
    args, name = _admin_url(target.database_url)
    connection = await asyncpg.connect(database=name, **args)
    try:
        row = await connection.fetchrow(
            "SELECT xact_commit + xact_rollback AS xacts, tup_inserted + tup_updated + tup_deleted AS writes"
            " FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await connection.close()
    assert row is not None
    return {
        "Redis commands": commands,
        "PostgreSQL transactions": float(row["xacts"]),
        "PostgreSQL rows written": float(row["writes"]),
    }


def bot_env(target: Target, emulator: Emulator, database_url: str, port: int | None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BOT_", "WEBHOOK_", "REDIS_", "DATABASE_", "BROADCAST_", "CAMPAIGN", "ADMIN_", "PORT"))
    }
    assert emulator.base_url is not None
    env |= {
        "PYTHONPATH": str(target.checkout),
        "BOT_TOKEN": emulator.token,
        "TELEGRAM_API_URL": emulator.base_url,
        "DATABASE_URL": database_url,
        "MAX_CONCURRENT_UPDATES": str(target.concurrency),
        "LOG_LEVEL": "WARNING",
    }
    if target.backend == "pg":
        env["REDIS_URL"] = target.redis_url
    if port is not None:
        env |= {
            "WEBHOOK_URL": f"http://127.0.0.1:{port}",
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "WEBHOOK_LISTEN": "127.0.0.1",
            "PORT": str(port),
        }
    return env


def prepare(checkout: Path, env: dict[str, str]) -> None:
    """Compile the checkout's catalogs and migrate the fresh database with its own code."""
    for command in (["i18n", "compile"], ["migrate"]):
        done = subprocess.run(  # noqa: S603 - our own interpreter and CLI
            [sys.executable, "-m", "bot", *command],
            cwd=checkout,
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            sys.exit(f"`python -m bot {' '.join(command)}` failed in {checkout}:\n{done.stderr.decode()[-2000:]}")


class BotProcesses:
    """``python -m bot run`` (one process, or ``--workers N``), its log and its CPU time."""

    def __init__(self, target: Target, emulator: Emulator, log_path: Path) -> None:
        self.target = target
        self.emulator = emulator
        self.log_path = log_path
        self.processes: list[asyncio.subprocess.Process] = []
        self._log: IO[bytes] | None = None
        self._tree: dict[int, psutil.Process] = {}

    async def start(self, database_url: str) -> None:
        target = self.target
        port = free_port() if target.mode == "webhook" else None
        env = bot_env(target, self.emulator, database_url, port)
        await asyncio.to_thread(prepare, target.checkout, env)
        command = [sys.executable, "-m", "bot", "run", "--mode", target.mode, "--runtime", target.runtime]
        if target.workers > 1:
            command += ["--workers", str(target.workers)]
        self._log = self.log_path.open("wb")
        process = await asyncio.create_subprocess_exec(
            *command, env=env, cwd=target.checkout, stdout=self._log, stderr=self._log
        )
        self.processes.append(process)
        await self._ready()

    async def _ready(self) -> None:
        """Until the bot polls for updates or has set its webhook (startup is not measured)."""
        deadline = time.monotonic() + 90
        ready: Callable[[], bool]
        if self.target.mode == "webhook":
            ready = lambda: self.emulator.webhook is not None  # noqa: E731
        else:
            ready = lambda: any(call.method == "getUpdates" for call in self.emulator.calls)  # noqa: E731
        while not ready():
            for process in self.processes:
                if process.returncode is not None:
                    raise RuntimeError(f"the bot process exited ({process.returncode}) before it was ready")
            if time.monotonic() > deadline:
                raise TimeoutError("the bot was not ready within 90 s")
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # let the workers' startup calls (setMyCommands ...) settle

    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def cpu(self) -> tuple[float, float]:
        """CPU seconds (user, system) of the bot's processes and all their children so far."""
        user = system = 0.0
        for pid in self.pids():
            try:
                root = psutil.Process(pid)
                for process in [root, *root.children(recursive=True)]:
                    known = self._tree.setdefault(process.pid, process)
                    times = known.cpu_times()
                    user += times.user
                    system += times.system
            except psutil.NoSuchProcess:
                continue
        return user, system

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), 40)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []


def errors_in(lines: list[str]) -> list[str]:
    """The ERROR (and CRITICAL) lines of a bot log."""
    return [line for line in lines if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")]


def gave_up_in(lines: list[str]) -> int:
    return sum(1 for line in lines if GAVE_UP.search(line))
