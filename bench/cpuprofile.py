"""Where the bot process's CPU goes: py-spy samples it from outside, we group the stacks.

py-spy (a dev dependency) attaches to the running bot once it is ready, so
startup is not in the profile, and samples only threads that are running (not
waiting in ``select``), so the samples are CPU time. Each sample is charged to
the innermost frame that belongs to a group we can name (the standard library's
helpers count for whoever called them, except json, logging and asyncio, which
are groups of their own); the top functions are by samples spent in the
function itself.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]*):?(?P<line>\d*)\)$")

# (group, substrings of a frame's file path), checked in this order.
SOCKET_IO = "socket reads and writes (system calls)"
_SOCKET_FUNCTIONS = ("_SelectorSocketTransport.write", "_read_ready", "sock_sendall", "sock_recv", "_sock_connect")
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("JSON / parsing (json, pydantic)", ("/json/", "orjson", "/pydantic/", "/pydantic_core/", "msgspec")),
    ("framework (aiogram / python-telegram-bot)", ("/aiogram/", "/telegram/", "magic_filter")),
    ("SQLAlchemy + DB driver", ("/sqlalchemy/", "/asyncpg/", "/aiosqlite/", "/sqlite3/", "/alembic/")),
    ("Redis", ("/redis/",)),
    ("logging", ("/logging/",)),
    (
        "HTTP (aiohttp, httpx, yarl, multidict)",
        ("/aiohttp/", "/httpx/", "/httpcore/", "/h11/", "/yarl/", "/multidict/", "/anyio/"),
    ),
    ("i18n (babel, gettext)", ("/babel/", "gettext.py")),
    ("asyncio event loop", ("/asyncio/", "selectors.py", "uvloop")),
)
OURS: tuple[tuple[str, str], ...] = (
    ("our handlers (handlers/, petition/)", "handlers/"),
    ("our handlers (handlers/, petition/)", "petition/"),
    ("our storage (storage/)", "storage/"),
    ("our bot/ (runtimes, delivery, webhook)", "bot/"),
)


@dataclass(slots=True)
class Profile:
    samples: int
    groups: Counter[str]
    functions: Counter[str]  # "function (file)" by self samples


class Sampler:
    """``py-spy record`` attached to a running process, until ``stop``."""

    def __init__(self, pid: int, out: Path, rate: int = 100) -> None:
        self.pid = pid
        self.out = out
        self.rate = rate
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self._process = await asyncio.create_subprocess_exec(
            py_spy,
            "record",
            "--pid",
            str(self.pid),
            "--format",
            "raw",
            "--full-filenames",
            "--nonblocking",
            "--rate",
            str(self.rate),
            "--output",
            str(self.out),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        await asyncio.sleep(1.0)  # attached before the load starts
        if self._process.returncode is not None:
            stderr = await self._process.stderr.read() if self._process.stderr else b""
            raise RuntimeError(f"py-spy could not attach: {stderr.decode(errors='replace')[-500:]}")

    async def stop(self) -> None:
        if self._process is None:
            return
        if self._process.returncode is None:
            self._process.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        try:
            await asyncio.wait_for(self._process.communicate(), 60)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()


def group_of(function: str, file: str, checkout: Path) -> str | None:
    if "/asyncio/" in file and any(name in function for name in _SOCKET_FUNCTIONS):
        return SOCKET_IO
    root = str(checkout) + "/"
    if file.startswith(root) and "/site-packages/" not in file and "/.venv/" not in file:
        relative = file[len(root) :]
        for name, prefix in OURS:
            if relative.startswith(prefix):
                return name
        return "our other code"
    for name, needles in GROUPS:
        if any(needle in file for needle in needles):
            return name
    return None


def read(path: Path, checkout: Path) -> Profile:
    """Group py-spy's raw output (``frame;frame;... count``, outermost frame first)."""
    groups: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_FRAME.match(frame) for frame in stack.split(";")]
        parsed = [(m.group("function"), m.group("file")) for m in frames if m is not None]
        parsed = [(function, file) for function, file in parsed if file]  # drop the thread's name
        if not parsed:
            continue
        total += count
        function, file = parsed[-1]
        functions[f"{function} ({_short(file)})"] += count
        owner = next((g for fn, f in reversed(parsed) if (g := group_of(fn, f, checkout)) is not None), None)
        groups[owner or "other (standard library)"] += count
    return Profile(total, groups, functions)


def _short(file: str) -> str:
    for marker in ("/site-packages/", "/lib/python3.11/", "/wt/", "/work/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def summary(profile: Profile, top: int = 25) -> str:
    if not profile.samples:
        return "no samples (did py-spy attach?)"
    # A send on a loopback socket wakes the emulator, which may take the CPU there and then: samples
    # in a socket write are largely the bot waiting to run again (psutil's kernel time is the real cost).
    rest = profile.samples - profile.groups.get(SOCKET_IO, 0)
    lines = [
        f"{profile.samples} samples of the bot process running; by group (innermost frame we can name),"
        " of all samples and of those outside socket writes:"
    ]
    for name, count in profile.groups.most_common():
        without = "" if name == SOCKET_IO or not rest else f"{100 * count / rest:6.1f} %"
        lines.append(f"  {100 * count / profile.samples:5.1f} % {without:>8}  {name}")
    lines.append(f"top {top} functions by own samples:")
    for name, count in profile.functions.most_common(top):
        lines.append(f"  {100 * count / profile.samples:5.1f} %  {name}")
    return "\n".join(lines)
