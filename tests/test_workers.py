"""``python -m bot run --mode webhook --workers N``: real processes, one port, the emulator's
webhook delivery, PostgreSQL and Redis shared by the workers."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio

from emulator import Emulator
from tests.fixtures.botapp import free_port
from tests.test_cli import ROOT, bot_env, python_m_bot

USERS = 16  # people writing at once: enough connections that both workers get some
STARTED = re.compile(r"worker (\d+) started \(pid (\d+)\)")
HANDLED = re.compile(r"\[(\d+)\] handlers\.core: update (\d+): \w+ -> ")


class Log:
    """A process's stderr, read line by line as it comes; ``wait_for`` a line."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.lines: list[str] = []
        self._stream = stream
        self._changed = asyncio.Condition()
        self._reading = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for raw in self._stream:
            async with self._changed:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._changed.notify_all()
        async with self._changed:
            self.lines.append("")  # the end: wakes whoever waits for a line that never comes
            self._changed.notify_all()

    async def wait_for(self, pattern: str, count: int = 1, within: float = 60) -> list[re.Match[str]]:
        """The first ``count`` matches of ``pattern`` once they are all there."""

        def found() -> list[re.Match[str]]:
            return [match for line in self.lines if (match := re.search(pattern, line))]

        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(found()) >= count or self._reading.done())
        matches = found()
        assert len(matches) >= count, "\n".join(self.lines)
        return matches[:count]

    async def rest(self) -> str:
        await self._reading
        return "\n".join(self.lines)


@pytest.fixture
async def redis_prefix(redis_url: str, state_prefix: str) -> AsyncIterator[str]:
    yield state_prefix
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{state_prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


class Workers:
    """The supervisor process, its log, and its workers' pids once they have started."""

    def __init__(self, process: asyncio.subprocess.Process, log: Log) -> None:
        self.process = process
        self.log = log
        self.pids: dict[int, int] = {}  # worker number: pid
        self.port = 0

    async def started(self, count: int) -> None:
        for match in await self.log.wait_for(STARTED.pattern, count):
            self.pids[int(match[1])] = int(match[2])

    async def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(40):
            await self.process.wait()
            return await self.log.rest()


@pytest.fixture
async def two_workers(
    emulator: Emulator, tmp_path: Path, scratch_postgres_url: str, redis_url: str, redis_prefix: str
) -> AsyncIterator[Workers]:
    """``--workers 2`` on a fresh PostgreSQL database (the supervisor migrates it) and Redis;
    yielded once both workers listen and the webhook is set."""
    port = free_port()
    assert emulator.base_url is not None
    env = bot_env(
        BOT_TOKEN=emulator.token,
        TELEGRAM_API_URL=emulator.base_url,
        DATABASE_URL=scratch_postgres_url,
        REDIS_URL=redis_url,
        REDIS_PREFIX=redis_prefix,
        WEBHOOK_URL=f"http://127.0.0.1:{port}",
        WEBHOOK_SECRET="workers-test-secret",
        WEBHOOK_LISTEN="127.0.0.1",
        PORT=str(port),
        LOG_LEVEL="INFO",
        METRICS_TOKEN="workers-metrics-token",
    )
    process = await asyncio.create_subprocess_exec(
        # python-telegram-bot: it loads in a second where aiogram takes several (pydantic's models),
        # and the workers' machinery is the same for both runtimes.
        *(sys.executable, "-m", "bot", "run", "--mode", "webhook", "--workers", "2", "--runtime", "ptb"),
        env=env,
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    workers = Workers(process, Log(process.stderr))
    workers.port = port
    try:
        await workers.started(2)
        await workers.log.wait_for("2 workers serving port")
        assert emulator.webhook is not None
        yield workers
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _exits(pid: int, within: float = 10) -> bool:
    """Whether process ``pid`` has exited or does within ``within`` seconds (a pidfd turns
    readable when its process ends, whoever its parent is)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    loop = asyncio.get_running_loop()
    ended = asyncio.Event()
    loop.add_reader(pidfd, ended.set)
    try:
        async with asyncio.timeout(within):
            await ended.wait()
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    return True


async def _everyone_starts(emulator: Emulator, first_id: int) -> None:
    users = [emulator.user(first_id + n, first_name="Ada", language_code="en") for n in range(USERS)]
    await asyncio.gather(*(user.send("/start") for user in users))
    await asyncio.gather(*(user.wait_message(timeout=30) for user in users))


@pytest.mark.postgres
@pytest.mark.redis
async def test_two_workers_share_the_port_and_handle_each_update_once(two_workers: Workers, emulator: Emulator) -> None:
    await _everyone_starts(emulator, 5000)
    # Whichever worker a scrape reaches, /metrics adds up both workers' counts (each handled
    # some of the updates, asserted below: a worker counting only its own would show fewer).
    headers = {"Authorization": "Bearer workers-metrics-token"}
    metrics = f"http://127.0.0.1:{two_workers.port}/metrics"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        for _ in range(6):  # a new connection each time: the kernel spreads them over the workers
            async with http.get(metrics, headers=headers) as response:
                assert response.status == 200
                text = await response.text()
            updates = sum(float(n) for n in re.findall(r"^undersign_updates_total\{[^}]*\} (\S+)$", text, re.M))
            assert updates == USERS, text
            assert re.search(r'^undersign_bot_api_calls_total\{method="sendMessage",result="ok"\} ', text, re.M)
            # The database's figures once, not once per worker (Prometheus refuses a repeated TYPE).
            types = re.findall(r"^# TYPE (\S+) ", text, re.M)
            assert len(types) == len(set(types)) and 'pid="' not in text, text
            assert "# TYPE undersign_signatures gauge" in text
        async with http.get(metrics) as response:
            assert response.status == 401  # METRICS_TOKEN is set: not without it
    log = await two_workers.stop()

    assert two_workers.process.returncode == 0, log
    assert "Traceback" not in log
    handled = [(int(pid), int(update)) for pid, update in HANDLED.findall(log)]
    delivered = [attempt.update_id for attempt in emulator.deliveries if attempt.status == 200]
    assert len(delivered) == USERS
    # Every update handled exactly once, by one of the two workers, and each worker had some.
    assert Counter(update for _, update in handled) == Counter(delivered)
    assert {pid for pid, _ in handled} == set(two_workers.pids.values()), log
    # The work done once per start was done once, by the supervisor, not by the workers.
    migrations = [line for line in log.splitlines() if "Running upgrade" in line]
    assert migrations and all(f"[{two_workers.process.pid}] " in line for line in migrations), log
    assert len(emulator.calls_to("setWebhook")) == 1
    assert log.count("ptb, webhook mode, setup") == 1 and log.count("ptb, webhook mode, worker") == 2, log
    # SIGTERM to the supervisor stopped every worker.
    assert all([await _exits(pid) for pid in two_workers.pids.values()])
    assert log.count("SIGTERM received") >= 3, log  # the supervisor and both workers


@pytest.mark.postgres
@pytest.mark.redis
async def test_a_worker_that_dies_is_restarted_and_the_other_keeps_serving(
    two_workers: Workers, emulator: Emulator
) -> None:
    victim = two_workers.pids[1]
    os.kill(victim, signal.SIGKILL)
    await two_workers.log.wait_for(r"worker 1 \(pid \d+\) killed by SIGKILL; restarting it")
    await two_workers.started(3)  # the two first ones and the replacement
    replacement = two_workers.pids[1]
    assert replacement != victim
    await two_workers.log.wait_for(rf"\[{replacement}\] bot.webhook: webhook server listening")

    await _everyone_starts(emulator, 6000)
    log = await two_workers.stop()
    assert two_workers.process.returncode == 0, log
    handled = Counter(int(update) for _, update in HANDLED.findall(log))
    assert sorted(handled.values()) == [1] * USERS
    assert await _exits(replacement) and await _exits(two_workers.pids[2])


@pytest.mark.postgres
@pytest.mark.redis
async def test_workers_stop_by_themselves_when_the_supervisor_is_killed(two_workers: Workers) -> None:
    os.kill(two_workers.process.pid, signal.SIGKILL)
    async with asyncio.timeout(20):
        log = await two_workers.log.rest()  # the end of stderr: every worker has exited
    assert log.count(f"the supervisor (pid {two_workers.process.pid}) is gone: stopping") == 2, log
    assert all([await _exits(pid) for pid in two_workers.pids.values()])


async def test_a_port_in_use_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            "BOT_TOKEN": "123:abc",
            "DATABASE_URL": "postgresql://bot@127.0.0.1:1/undersign",  # never reached
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "WEBHOOK_URL": f"http://127.0.0.1:{port}",
            "WEBHOOK_SECRET": "workers-test-secret",
            "WEBHOOK_LISTEN": "127.0.0.1",
            "PORT": str(port),
        }
        result = python_m_bot("run", "--mode", "webhook", "--workers", "2", env=env, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: cannot listen on WEBHOOK_LISTEN:PORT 127.0.0.1:{port} ")
    assert "in use" in lines[0]


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({}, "REDIS_URL"),
        ({"REDIS_URL": "redis://127.0.0.1:1/0"}, "PostgreSQL"),
    ],
    ids=["memory-state", "sqlite"],
)
def test_several_workers_without_shared_state_are_refused(tmp_path: Path, settings: dict[str, str], named: str) -> None:
    env = {
        "BOT_TOKEN": "123:abc",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        "WEBHOOK_URL": "https://example.org",
        "WEBHOOK_SECRET": "workers-test-secret",
        **settings,
    }
    result = python_m_bot("run", "--mode", "webhook", "--workers", "2", env=env, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: 2 workers need ") and named in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == []  # refused before anything was touched


def test_workers_from_the_setting_are_refused_the_same_way(tmp_path: Path) -> None:
    env = {
        "BOT_TOKEN": "123:abc",
        "WORKERS": "3",
        "WEBHOOK_URL": "https://example.org",
        "WEBHOOK_SECRET": "workers-test-secret",
    }
    result = python_m_bot("run", "--mode", "webhook", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: 3 workers need REDIS_URL"), result.stderr


def test_polling_refuses_several_workers(tmp_path: Path) -> None:
    result = python_m_bot("run", "--workers", "2", env={"BOT_TOKEN": "123:abc"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --workers is for webhook mode: Telegram lets one process call getUpdates"
    ]


def test_polling_ignores_the_web_processes_setting(tmp_path: Path) -> None:
    """The Procfile's `worker` (polling) runs beside `web` with the same WORKERS in its environment."""
    env = {
        "BOT_TOKEN": "123:abc",
        "WORKERS": "2",
        "TELEGRAM_API_URL": f"http://127.0.0.1:{free_port()}",
        "BOT_RUNTIME": "ptb",  # loads in a second, aiogram in several; the check is the same
    }
    result = python_m_bot("run", env=env, cwd=tmp_path)
    assert result.returncode == 1  # got past the workers' check, to Telegram, which is not there
    assert result.stderr.strip().splitlines()[-1].startswith("error: getMe failed"), result.stderr


def test_the_procfile_web_process_takes_workers_from_the_setting(tmp_path: Path) -> None:
    """The Procfile's `web` line as a platform's shell runs it, with WORKERS=2 and no Redis."""
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    command = web.removeprefix("web:").strip().replace("python ", f"{sys.executable} ", 1)
    env = bot_env(BOT_TOKEN="123:abc", WORKERS="2", WEBHOOK_URL="https://example.org", WEBHOOK_SECRET="procfile-secret")
    result = subprocess.run(  # noqa: S603 - our own Procfile's line
        ["/bin/sh", "-c", command], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: 2 workers need REDIS_URL"), result.stderr
