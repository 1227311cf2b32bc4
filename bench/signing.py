"""The signing conversation under load: the real bot process, the emulator, N people at once.

    .venv/bin/python -m bench.signing                                  # 100 people, this checkout
    .venv/bin/python -m bench.signing --users 50 --compare /work/wt/before

It starts the Bot API emulator in this process (no rate limits: the bot is what is
measured), compiles the catalogs and migrates a fresh SQLite file for the checkout,
runs ``python -m bot run --mode polling`` from the checkout (its cwd and PYTHONPATH)
as a separate process, and lets ``--users`` simulated people sign at the same time:
/start, read, sign, agree, a name, the name form if the bot asks for one, France,
confirm, the thank-you. It prints the wall time from the first /start to the last
thank-you, signatures per second, the median and 95th percentile of one person's
time, the Bot API calls per signature by method and the bot process's CPU time
(user + system) per signature. ``--compare OLD_DIR`` runs the old checkout first
with the same emulator code and driver, and prints both side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from emulator import BotMessage, Emulator, SimulatedUser

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "123456:BENCH"  # noqa: S105 - a made-up token only the local emulator accepts
FIRST_USER_ID = 8_000_000
NAME = "Ada Lovelace"
STEP = 120.0  # seconds any one step may take before the run is called stuck


@dataclass(slots=True)
class Result:
    label: str
    users: int
    completed: int = 0
    wall: float = 0.0
    per_user: list[float] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    cpu: float = 0.0

    def rows(self) -> dict[str, float]:
        done = max(self.completed, 1)
        ordered = sorted(self.per_user)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else float("nan")
        rows = {
            "signatures completed": float(self.completed),
            "wall time, first /start to last thank-you (s)": self.wall,
            "signatures/s": self.completed / self.wall if self.wall else float("nan"),
            "per person, median (s)": statistics.median(ordered) if ordered else float("nan"),
            "per person, p95 (s)": p95,
            "bot CPU per signature (ms)": 1000 * self.cpu / done,
            "Bot API calls per signature (all but getUpdates)": sum(
                n for method, n in self.calls.items() if method != "getUpdates"
            )
            / done,
        }
        for method, n in sorted(self.calls.items()):
            rows[f"  {method} per signature"] = n / done
        return rows


async def until(user: SimulatedUser, predicate: Callable[[BotMessage], bool]) -> BotMessage:
    """The next bot message (or edit) in this chat for which ``predicate`` holds, within STEP."""
    async with asyncio.timeout(STEP):
        while True:
            message = await user.wait_message(timeout=STEP)
            if predicate(message):
                return message


def has(*texts: str) -> Callable[[BotMessage], bool]:
    return lambda message: any(text in message.text for text in texts)


def offers_to_sign(message: BotMessage) -> bool:
    return any(button.callback_data == "sign" for row in message.buttons for button in row)


async def sign(user: SimulatedUser) -> float:
    """One person's whole conversation; the seconds it took."""
    began = time.monotonic()
    await user.send("/start")
    await until(user, has("mass internment"))
    await user.press("📖 Read the letter", timeout=STEP)
    await until(user, offers_to_sign)
    await user.press("✍️ Sign the letter", timeout=STEP)
    await until(user, has("Before you sign"))
    await user.press("✅ I agree and want to sign", timeout=STEP)
    await until(user, has("What name should we sign with?"))
    await user.send(NAME)
    asked = await until(user, has("addressees see your name", "Which country"))
    if "addressees see your name" in asked.text:  # the new code asks for the name's form
        label = next(button.text for row in asked.buttons for button in row if button.text.startswith("Full name:"))
        await user.press(label, timeout=STEP)
        await until(user, has("Which country"))
    await user.send("France")
    await until(user, has("You are signing as"))
    await user.press("✅ Confirm and sign", timeout=STEP)
    await until(user, has("Thank you"))
    return time.monotonic() - began


def bot_env(checkout: Path, emulator: Emulator, database_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BOT_", "WEBHOOK_", "REDIS_", "DATABASE_", "BROADCAST_", "CAMPAIGN", "ADMIN_"))
    }
    assert emulator.base_url is not None
    return {
        **env,
        "PYTHONPATH": str(checkout),
        "BOT_TOKEN": emulator.token,
        "TELEGRAM_API_URL": emulator.base_url,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
    }


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


async def run(checkout: Path, label: str, users: int) -> Result:
    result = Result(label, users)
    with tempfile.TemporaryDirectory(prefix="undersign-bench-signing-") as tmp:
        emulator = Emulator(TOKEN, rate_limit=None, chat_rate_limit=None, record=True)
        await emulator.start()
        log_path = Path(tmp) / "bot.log"
        try:
            env = bot_env(checkout, emulator, f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
            await asyncio.to_thread(prepare, checkout, env)
            people = [
                emulator.user(FIRST_USER_ID + n, first_name="Ada", last_name="Lovelace", language_code="en")
                for n in range(users)
            ]
            with log_path.open("wb") as log:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bot",
                    "run",
                    "--mode",
                    "polling",
                    env=env,
                    cwd=checkout,
                    stdout=log,
                    stderr=log,
                )
                try:
                    await _ready(emulator, process)
                    watched = psutil.Process(process.pid)
                    cpu_before = _cpu(watched)
                    first_call = len(emulator.calls)
                    began = time.monotonic()
                    try:
                        async with asyncio.timeout(STEP * 3 + users):
                            result.per_user = list(await asyncio.gather(*(sign(person) for person in people)))
                    except TimeoutError:
                        sys.exit(f"{label}: the signing did not finish in time (stuck?); bot log: {log_path}")
                    result.wall = time.monotonic() - began
                    result.cpu = _cpu(watched) - cpu_before
                    result.completed = len(result.per_user)
                    result.calls = Counter(call.method for call in emulator.calls[first_call:])
                finally:
                    if process.returncode is None:
                        process.send_signal(signal.SIGTERM)
                    try:
                        await asyncio.wait_for(process.wait(), 30)
                    except TimeoutError:
                        process.kill()
                        await process.wait()
        except BaseException:
            if log_path.exists():
                print(f"--- the last of the bot log ({label}):\n{log_path.read_text(errors='replace')[-3000:]}")
            raise
        finally:
            await emulator.stop()
    return result


async def _ready(emulator: Emulator, process: asyncio.subprocess.Process) -> None:
    """Until the bot polls for updates (its startup is not measured)."""
    deadline = time.monotonic() + 60
    while not any(call.method == "getUpdates" for call in emulator.calls):
        if process.returncode is not None:
            raise RuntimeError(f"the bot process exited ({process.returncode}) before it polled")
        if time.monotonic() > deadline:
            raise TimeoutError("the bot did not poll within 60s")
        await asyncio.sleep(0.1)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def table(results: list[Result]) -> str:
    rows = [result.rows() for result in results]
    names = list(dict.fromkeys(name for row in rows for name in row))
    width = max(len(name) for name in names)
    header = f"{'':<{width}}" + "".join(f"{result.label:>12}" for result in results)
    if len(results) == 2:
        header += f"{'new/old':>10}"
    lines = [header]
    for name in names:
        values = [row.get(name, 0.0) for row in rows]
        line = f"{name:<{width}}" + "".join(f"{value:>12.2f}" for value in values)
        if len(values) == 2:
            line += f"{values[1] / values[0]:>10.2f}" if values[0] else f"{'-':>10}"
        lines.append(line)
    return "\n".join(lines)


async def bench(checkout: Path, users: int, compare: Path | None) -> None:
    results = []
    if compare is not None:
        print(f"old: {compare}, {users} people …", flush=True)
        results.append(await run(compare, "old", users))
    print(f"new: {checkout}, {users} people …", flush=True)
    results.append(await run(checkout, "new" if compare is not None else "this", users))
    print(f"\n{users} people signing at once, polling, SQLite, emulator without rate limits\n")
    print(table(results))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.signing", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the code to run (default: this repository)")
    parser.add_argument("--compare", type=Path, default=None, help="an older checkout, run first, shown beside")
    args = parser.parse_args(argv)
    asyncio.run(bench(args.checkout.resolve(), args.users, args.compare.resolve() if args.compare else None))


if __name__ == "__main__":
    main()
