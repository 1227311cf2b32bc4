"""The signing conversation under load: the real bot process, the emulator, N people at once.

    .venv/bin/python -m bench.signing                                   # 100 people, aiogram, SQLite, polling
    .venv/bin/python -m bench.signing --users 300 --runtime ptb --backend pg
    .venv/bin/python -m bench.signing --backend pg --mode webhook
    .venv/bin/python -m bench.signing --backend pg --spike               # 2,000 people over 10 s
    .venv/bin/python -m bench.signing --backend pg --spike --users 500 --telegram-limits   # 429s
    .venv/bin/python -m bench.signing --backend pg --profile             # where the bot's CPU goes
    .venv/bin/python -m bench.signing --users 50 --compare /work/wt/before --json out.json

It starts the Bot API emulator in this process, a fresh database (a SQLite file,
or PostgreSQL + Redis), and ``python -m bot run`` from the checkout as a separate
process (polling, or webhook with the emulator's re-delivery). Once the bot is
ready, ``--users`` simulated people sign, each by the whole conversation (see
``bench.people``), arriving at once or spread over ``--arrival`` seconds, each
waiting ``--patience`` seconds for an answer before tapping again, everyone
stopped at ``--deadline``. In the same run, the smallest aiogram echo bot with the
same concurrency limit (``bench.echo``) answers the same number of updates from
the same number of people on a fresh emulator: the bot's updates/s is reported as
a share of it. ``--compare OLD_DIR`` runs everything first for the old checkout,
then for this one, and prints both side by side (``bench.report``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import psutil

from bench.botprocess import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    BotProcesses,
    Target,
    backend_counters,
    errors_in,
    fresh_backend,
    gave_up_in,
    supports_workers,
)
from bench.cpuprofile import Sampler, read, summary
from bench.people import Person, Signer, echo_chat
from bench.report import Result, details, dump, table
from emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "123456:BENCH"  # noqa: S105 - a made-up token only the local emulator accepts
FIRST_USER_ID = 8_000_000
ECHO_FIRST_USER_ID = 9_000_000
WEBHOOK_TIMEOUT = 60.0  # Telegram waits about a minute for a webhook's answer before it re-delivers
TELEGRAM_RATE_LIMIT = 30.0  # the emulator's defaults: Telegram's 30/s, a private chat's burst of 5
TELEGRAM_CHAT_RATE_LIMIT = 5.0


@dataclass(frozen=True, slots=True)
class Scenario:
    users: int
    arrival: float  # seconds over which people arrive; 0: all at once
    patience: float  # seconds a person waits for an answer before tapping again
    deadline: float  # seconds after which nobody waits any more
    rate_limit: float | None
    chat_rate_limit: float | None
    baseline: bool
    profile: bool
    profile_out: Path | None  # where to keep py-spy's raw stacks


def _own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


async def run(target: Target, scenario: Scenario, label: str) -> Result:
    """One measured run of ``target``: the bot, the people, then the echo baseline."""
    result = Result(label, scenario.users)
    with tempfile.TemporaryDirectory(prefix="undersign-bench-signing-") as directory:
        tmp = Path(directory)
        emulator = Emulator(
            TOKEN,
            rate_limit=scenario.rate_limit,
            chat_rate_limit=scenario.chat_rate_limit,
            record=True,
            webhook_timeout=WEBHOOK_TIMEOUT,
        )
        await emulator.start()
        bots = BotProcesses(target, emulator, tmp / "bot.log")
        sampler: Sampler | None = None
        try:
            await bots.start(await fresh_backend(target, tmp))
            if scenario.profile:
                sampler = Sampler(bots.pids()[0], tmp / "profile.txt")
                await sampler.start()
            began, people = await _sign(emulator, bots, scenario, result)
            if sampler is not None:
                await sampler.stop()
                print(f"\n{label}: where the bot's CPU went while people signed (py-spy)\n")
                print(summary(read(tmp / "profile.txt", target.checkout)), flush=True)
                if scenario.profile_out is not None:
                    await asyncio.to_thread(shutil.copyfile, tmp / "profile.txt", scenario.profile_out)
        except BaseException:
            lines = bots.log_lines()
            print(f"--- the last of the bot log ({label}):\n" + "\n".join(lines[-40:]))
            raise
        finally:
            await bots.stop()
            await emulator.stop()
        result.take_people(people, began)
        lines = bots.log_lines()
        result.errors = errors_in(lines)
        result.gave_up = gave_up_in(lines)
    if scenario.baseline:
        per_person = max(1, round(result.updates / max(scenario.users, 1)))
        result.echo_updates_per_s = await echo_baseline(scenario.users, per_person, target.concurrency)
    return result


async def _sign(
    emulator: Emulator, bots: BotProcesses, scenario: Scenario, result: Result
) -> tuple[float, list[Person]]:
    """Let the people sign; fill in the wall time, CPU and calls of ``result``; when they began."""
    users = [
        emulator.user(FIRST_USER_ID + n, first_name="Ada", last_name="Lovelace", language_code="en")
        for n in range(scenario.users)
    ]
    warm = Signer(
        emulator.user(FIRST_USER_ID - 1, first_name="Warm", language_code="en"),
        patience=60,
        ends_at=time.monotonic() + 60,
    )
    if not (await warm.sign()).finished:  # the first signature imports and caches what the rest reuse
        raise RuntimeError(f"the warm-up signature did not finish (stuck at {warm.person.stuck_at})")
    first_call, first_delivery = len(emulator.calls), len(emulator.deliveries)
    first_violation = len(emulator.rate_violations)
    counters = await backend_counters(bots.target)
    (user_cpu, system_cpu), bench_cpu = bots.cpu(), _own_cpu()
    began = time.monotonic()
    signers = [Signer(user, patience=scenario.patience, ends_at=began + scenario.deadline) for user in users]

    async def arrive(index: int, signer: Signer) -> Person:
        await asyncio.sleep(index * scenario.arrival / max(scenario.users, 1))
        return await signer.sign()

    tasks = [asyncio.create_task(arrive(index, signer)) for index, signer in enumerate(signers)]
    pending = await _until_done_or_stalled(tasks, signers, began + scenario.deadline, scenario.patience + 10)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    # To the last thank-you: people stuck after an error would otherwise stretch it to the deadline.
    ended = [signer.person.ended_at for signer in signers if signer.person.finished]
    result.wall = (max(ended) if ended else time.monotonic()) - began
    user_cpu_after, system_cpu_after = bots.cpu()
    result.cpu = user_cpu_after + system_cpu_after - user_cpu - system_cpu
    result.cpu_system = system_cpu_after - system_cpu
    result.bench_cpu = _own_cpu() - bench_cpu
    result.take_calls(emulator.calls[first_call:], emulator.rate_violations[first_violation:])
    await asyncio.sleep(1.5)  # PostgreSQL publishes a connection's statistics within a second
    result.backend = {key: value - counters[key] for key, value in (await backend_counters(bots.target)).items()}
    result.webhook_retries = sum(1 for attempt in emulator.deliveries[first_delivery:] if attempt.attempt > 1)
    return began, [signer.person for signer in signers]


async def _until_done_or_stalled(
    tasks: list[asyncio.Task[Person]], signers: list[Signer], ends_at: float, quiet: float
) -> set[asyncio.Task[Person]]:
    """Wait for everyone, the deadline, or ``quiet`` seconds without anybody's step answered
    (everyone left has tapped again and nothing came: they are stuck); the tasks left."""
    pending = set(tasks)
    steps, last_progress = 0, time.monotonic()
    while pending and time.monotonic() < ends_at:
        _, pending = await asyncio.wait(pending, timeout=min(2.0, max(ends_at - time.monotonic(), 0)))
        now_steps = sum(len(signer.person.steps) for signer in signers)
        if now_steps != steps:
            steps, last_progress = now_steps, time.monotonic()
        elif time.monotonic() - last_progress > quiet:
            break
    return pending


async def echo_baseline(users: int, per_person: int, concurrency: int) -> float:
    """Updates/s of ``bench.echo`` with ``users`` people sending ``per_person`` messages each."""
    emulator = Emulator(TOKEN, rate_limit=None, chat_rate_limit=None, record=True)
    await emulator.start()
    assert emulator.base_url is not None
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ECHO_API_URL": emulator.base_url,
        "ECHO_TOKEN": emulator.token,
        "ECHO_CONCURRENCY": str(concurrency),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.echo",
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(call.method == "getUpdates" for call in emulator.calls):
            if process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError("the echo bot did not start polling")
            await asyncio.sleep(0.1)
        people = [emulator.user(ECHO_FIRST_USER_ID + n) for n in range(users)]
        began = time.monotonic()
        sent = await asyncio.gather(*(echo_chat(person, per_person, patience=120) for person in people))
        return sum(sent) / (time.monotonic() - began)
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()
        await emulator.stop()


def describe(target: Target, scenario: Scenario) -> str:
    arrival = f"arriving over {scenario.arrival:g} s" if scenario.arrival else "at once"
    limits = (
        "no rate limits"
        if scenario.rate_limit is None and scenario.chat_rate_limit is None
        else f"429 past {scenario.rate_limit or '∞'}/s in all and {scenario.chat_rate_limit or '∞'}/s per chat"
    )
    backend = "SQLite + memory" if target.backend == "sqlite" else "PostgreSQL + Redis"
    workers = f" × {target.workers} workers" if target.workers > 1 else ""
    return (
        f"{scenario.users} people {arrival}, {target.runtime}, {backend}, {target.mode}{workers}, "
        f"MAX_CONCURRENT_UPDATES={target.concurrency}, patience {scenario.patience:g} s, "
        f"deadline {scenario.deadline:g} s, emulator with {limits}"
    )


async def bench(target: Target, scenario: Scenario, compare: Path | None, json_path: Path | None) -> None:
    targets = [target]
    if compare is not None:
        targets.insert(0, replace(target, checkout=compare))
    for one in targets:
        if one.workers > 1 and not supports_workers(one.checkout):
            sys.exit(
                f"\n--workers {one.workers}: not possible with {one.checkout}: its `python -m bot run` has no "
                "--workers, and its webhook server binds without SO_REUSEPORT, so a second process on the "
                "same port fails with 'address already in use'"
            )
    print(describe(target, scenario), flush=True)
    results = []
    for one in targets:
        label = "this" if compare is None else ("old" if one is targets[0] else "new")
        print(f"{label}: {one.checkout} …", flush=True)
        results.append(await run(one, scenario, label))
    print()
    print(table(results))
    for result in results:
        text = details(result)
        if text:
            print(text)
    if json_path is not None:
        config = {
            "target": {**asdict(target), "checkout": str(target.checkout)},
            "scenario": asdict(scenario),
            "compare": str(compare) if compare else None,
            "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }
        await asyncio.to_thread(json_path.write_text, dump(results, config))
        print(f"written {json_path}")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.signing", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--users", type=int, default=None, help="people (default 100; 2,000 with --spike)")
    parser.add_argument("--runtime", choices=["aiogram", "ptb"], default="aiogram")
    parser.add_argument("--backend", choices=["sqlite", "pg"], default="sqlite")
    parser.add_argument("--mode", choices=["polling", "webhook"], default="polling")
    parser.add_argument("--workers", type=int, default=1, help="webhook worker processes (needs bot run --workers)")
    parser.add_argument("--concurrency", type=int, default=64, help="MAX_CONCURRENT_UPDATES, and the echo bot's")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="PostgreSQL for --backend pg, dropped and created again (env BENCH_DATABASE_URL)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        help="Redis for --backend pg, its index emptied (env BENCH_REDIS_URL)",
    )
    parser.add_argument("--spike", action="store_true", help="2,000 people over 10 s, retapping after 60 s")
    parser.add_argument("--arrival", type=float, default=None, help="seconds over which people arrive")
    parser.add_argument("--patience", type=float, default=None, help="seconds before a person taps again")
    parser.add_argument("--deadline", type=float, default=None, help="seconds after which nobody waits")
    parser.add_argument(
        "--telegram-limits", action="store_true", help="the emulator answers 429 past 30/s and 5/s/chat"
    )
    parser.add_argument("--rate-limit", type=float, default=None, help="429 past this many sends/s in all")
    parser.add_argument("--chat-rate-limit", type=float, default=None, help="429 past this many sends/s per chat")
    parser.add_argument("--no-baseline", action="store_true", help="skip the echo bot")
    parser.add_argument("--profile", action="store_true", help="sample the bot process with py-spy")
    parser.add_argument("--profile-out", type=Path, default=None, help="--profile, keeping py-spy's raw stacks here")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the code to run (default: this repository)")
    parser.add_argument("--compare", type=Path, default=None, help="an older checkout, run first, shown beside")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    spike = bool(args.spike)
    limits = args.telegram_limits
    scenario = Scenario(
        users=args.users or (2000 if spike else 100),
        arrival=args.arrival if args.arrival is not None else (10.0 if spike else 0.0),
        patience=args.patience or 60.0,
        deadline=args.deadline or (300.0 if spike else 180.0),
        rate_limit=args.rate_limit or (TELEGRAM_RATE_LIMIT if limits else None),
        chat_rate_limit=args.chat_rate_limit or (TELEGRAM_CHAT_RATE_LIMIT if limits else None),
        baseline=not (args.no_baseline or spike),
        profile=args.profile or args.profile_out is not None,
        profile_out=args.profile_out,
    )
    target = Target(
        checkout=args.checkout.resolve(),
        runtime=args.runtime,
        backend=args.backend,
        mode=args.mode,
        workers=args.workers,
        concurrency=args.concurrency,
        database_url=args.database_url,
        redis_url=args.redis_url,
    )
    compare = args.compare.resolve() if args.compare else None
    if compare is not None and not (compare / "bot").is_dir():
        sys.exit(f"--compare {compare}: not a checkout of the bot")
    asyncio.run(bench(target, scenario, compare, args.json))


if __name__ == "__main__":
    main()
