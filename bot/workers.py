"""Several webhook workers on one port: ``python -m bot run --mode webhook --workers N``.

One Python process uses one core; a spike of signers needs them all. N worker processes
listen on the same port with ``SO_REUSEPORT``, and the Linux kernel spreads the incoming
connections among them (by a hash of each connection's addresses: even, and no process
wakes up for a connection another takes). A process manager such as gunicorn would do the
same job but not the rest of it: the work done once per start before any worker serves,
``setWebhook`` only once they all listen, and this bot's shutdown deadline.

This process (the supervisor) does, in order:

1. takes the port (a bound socket it keeps, not listening, so no other program takes the
   port while a worker restarts), failing at once in one line if it cannot;
2. the work done once per start (``BotApp`` role "setup"): migrations, the receipts'
   backfill, the sweep of stale exports, the command menus;
3. starts the workers, each a fresh interpreter (``python -m bot run --mode webhook
   --worker-ready-fd FD``, ``BotApp`` role "worker"), which says it listens by writing to
   a pipe; a worker that exits before it listens stops them all (exit 1: its own error line
   says why);
4. once all listen: ``setWebhook``; it then closes its own connections and watches.

Each worker runs the broadcast sender (only the lease holder sends) and its own funnel timer
(its counts are added, never overwritten). Its database pool is its share of
``MAX_CONCURRENT_UPDATES``: N workers together hold no more PostgreSQL connections than one
process did (the server allows 100 by default), and queue for one rather than be refused. A worker that dies (exit code other than 0, or
killed by a signal: a crash, the out-of-memory killer) is restarted at once, since its siblings
keep serving (Telegram re-delivers what it had in hand, and the update ids' de-duplication in
Redis keeps every update handled once); more than ``MAX_RESTARTS`` deaths within
``RESTART_WINDOW`` is a crash loop: everything stops and the exit is 1, for the platform to
restart it and show it. A worker that exits 0 was told to stop (by its own SIGTERM) and stays
stopped. SIGTERM or SIGINT here sends SIGTERM to every worker; each stops gracefully within
``SHUTDOWN_DEADLINE`` and one still running after that is killed. A worker whose supervisor
disappears (``kill -9``) stops by itself within a second (``watch_parent``).

Log lines carry the process id, so it is clear which worker handled what.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from bot.app import SHUTDOWN_DEADLINE, BotApp, StartupError, listen_error
from bot.runtimes import RuntimeName
from bot.settings import Settings, SettingsError

log = logging.getLogger("bot.workers")

WORKER_READY_OPTION = "--worker-ready-fd"
STARTUP_TIMEOUT = 120.0  # seconds for every worker to listen (imports, getMe, pools)
MAX_RESTARTS = 5  # deaths of workers within RESTART_WINDOW before the whole thing gives up
RESTART_WINDOW = 60.0
PARENT_CHECK_EVERY = 1.0  # seconds between a worker's checks that its supervisor is still there


def require_workers(settings: Settings, workers: int) -> None:
    """Refuse, in one line, settings with which ``workers`` processes cannot share the work."""
    settings.require_shared_state(workers)
    if workers > 1 and (sys.platform != "linux" or not hasattr(socket, "SO_REUSEPORT")):
        raise SettingsError(
            f"{workers} workers need Linux, where SO_REUSEPORT spreads connections among processes: "
            "run one worker per machine or container behind a load balancer instead"
        )


def _died(code: int) -> str:
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"


def _wait_ready(read_fd: int) -> bool:
    """Block until the worker writes to its pipe (it listens) or exits (end of file)."""
    try:
        return bool(os.read(read_fd, 1))
    finally:
        os.close(read_fd)


@dataclass
class _Worker:
    number: int
    process: asyncio.subprocess.Process
    ready: asyncio.Future[bool]
    exited: asyncio.Future[int]

    @property
    def pid(self) -> int:
        return self.process.pid


class Supervisor:
    """Starts ``count`` webhook workers on one port and keeps them running until stopped."""

    def __init__(self, settings: Settings, count: int, runtime: RuntimeName | None = None) -> None:
        self.settings = settings
        self.count = count
        self.runtime: RuntimeName = runtime or settings.bot_runtime
        self.workers: dict[int, _Worker] = {}
        self._deaths: deque[float] = deque()
        self._port: socket.socket | None = None
        # The workers' metrics files, added up by whichever worker a scrape reaches (``bot.metrics``).
        self._metrics = tempfile.TemporaryDirectory(prefix="undersign-metrics-")

    async def run(self, stop: asyncio.Event) -> int:
        """Start everything, serve until ``stop`` is set; the exit code (0: stopped cleanly)."""
        code = 0
        try:
            self._take_port()
            if await self._start(stop):
                log.info("%d workers serving port %d", self.count, self.settings.port)
                code = await self._watch(stop)
        finally:
            clean = await self._stop_workers()
            if self._port is not None:
                self._port.close()
            self._metrics.cleanup()
        if not clean:
            log.error("a worker did not stop cleanly (see above)")
        return code if clean else 1

    def _take_port(self) -> None:
        """Bind the port (SO_REUSEPORT, not listening): the workers bind it too; nobody else can."""
        host, port = self.settings.webhook_listen, self.settings.port
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
            sock = socket.socket(family, kind, proto)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                sock.bind(address)
            except OSError:
                sock.close()
                raise
        except OSError as error:
            raise StartupError(listen_error(self.settings, error)) from None
        self._port = sock

    async def _start(self, stop: asyncio.Event) -> bool:
        """The work done once, then the workers, then setWebhook; False if stopped meanwhile."""
        setup = BotApp(self.settings, mode="webhook", runtime=self.runtime, role="setup")
        try:
            await setup.start()
            if stop.is_set():
                return False
            for number in range(1, self.count + 1):
                await self._spawn(number)
            if not await self._until_ready(stop):
                return False
            await setup.set_webhook()
        finally:
            await setup.stop()
        return True

    async def _spawn(self, number: int) -> None:
        read_fd, write_fd = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "bot", "run", "--mode", "webhook", "--runtime", self.runtime),
                *(WORKER_READY_OPTION, str(write_fd)),
                pass_fds=(write_fd,),
                stdin=subprocess.DEVNULL,
                env={
                    **os.environ,
                    "WORKERS": str(self.count),  # a worker's share of the database pool
                    "PROMETHEUS_MULTIPROC_DIR": self._metrics.name,  # fresh: no earlier run's counts
                },
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)  # the worker has its copy: its exit ends the pipe
        loop = asyncio.get_running_loop()
        ready = loop.run_in_executor(None, _wait_ready, read_fd)
        self.workers[number] = _Worker(number, process, ready, asyncio.ensure_future(process.wait()))
        log.info("worker %d started (pid %d)", number, process.pid)

    async def _until_ready(self, stop: asyncio.Event) -> bool:
        """Wait until every worker listens; one that exits first is a failure to start."""
        stopped = asyncio.ensure_future(stop.wait())
        try:
            async with asyncio.timeout(STARTUP_TIMEOUT):
                for worker in self.workers.values():
                    waiting: set[asyncio.Future[Any]] = {worker.ready, worker.exited, stopped}
                    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                    if stop.is_set():
                        return False
                    if worker.exited.done() or not worker.ready.result():
                        code = await worker.exited
                        raise StartupError(f"worker {worker.number} {_died(code)} while starting (see above)")
        except TimeoutError:
            raise StartupError(f"the workers did not all listen within {STARTUP_TIMEOUT:g} s") from None
        finally:
            stopped.cancel()
        return True

    async def _watch(self, stop: asyncio.Event) -> int:
        """Restart a worker that dies until ``stop`` is set; 1 on a crash loop."""
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                exits = {worker.exited: worker for worker in self.workers.values()}
                if not exits:
                    log.info("every worker has stopped")
                    return 0
                waiting: set[asyncio.Future[Any]] = {stopped, *exits}
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                for finished, worker in exits.items():
                    if finished not in done:
                        continue
                    del self.workers[worker.number]
                    code = finished.result()
                    if code == 0:
                        log.info("worker %d (pid %d) stopped; it is not restarted", worker.number, worker.pid)
                        continue
                    if self._crash_loop():
                        log.error(
                            "worker %d (pid %d) %s: more than %d deaths within %g s; stopping all",
                            *(worker.number, worker.pid, _died(code), MAX_RESTARTS, RESTART_WINDOW),
                        )
                        return 1
                    log.warning("worker %d (pid %d) %s; restarting it", worker.number, worker.pid, _died(code))
                    await self._spawn(worker.number)
            return 0
        finally:
            stopped.cancel()

    def _crash_loop(self) -> bool:
        now = time.monotonic()
        self._deaths.append(now)
        while self._deaths and self._deaths[0] < now - RESTART_WINDOW:
            self._deaths.popleft()
        return len(self._deaths) > MAX_RESTARTS

    async def _stop_workers(self) -> bool:
        """SIGTERM to every worker, SIGKILL to those still running after the deadline; whether
        all stopped with exit code 0."""
        workers = list(self.workers.values())
        self.workers.clear()
        for worker in workers:
            if not worker.exited.done():
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGTERM)
        exits = [worker.exited for worker in workers]
        if not exits:
            return True
        _, running = await asyncio.wait(exits, timeout=SHUTDOWN_DEADLINE)
        for worker in workers:
            if worker.exited in running:
                log.error(
                    "worker %d (pid %d) still running after %g s: killed", worker.number, worker.pid, SHUTDOWN_DEADLINE
                )
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()
        codes = await asyncio.gather(*exits)
        for worker in workers:
            if not worker.ready.done():
                worker.ready.cancel()
        return all(code == 0 for code in codes)


async def watch_parent(stop: asyncio.Event, parent: int) -> None:
    """Set ``stop`` when this worker's supervisor is gone (killed without a chance to stop us):
    an orphaned worker would keep serving the port, out of anyone's control."""
    while not stop.is_set():
        if os.getppid() != parent:
            log.warning("the supervisor (pid %d) is gone: stopping", parent)
            stop.set()
            return
        await asyncio.sleep(PARENT_CHECK_EVERY)
