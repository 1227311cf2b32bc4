"""CPU per polled update: getUpdates, the runtime's loop, to the core's handler (a no-op).

The emulator runs in the same process (its getUpdates answers count too, equally before
and after), so compare the figures between checkouts rather than reading them alone.

    .venv/bin/python -m bench.polling_update                    # both runtimes, this checkout
    cd OTHER && PYTHONPATH=. /path/to/.venv/bin/python /path/to/bench/polling_update.py

It uses only ``make_runtime``, ``Runtime.run_polling`` and ``drain``, so it runs against
older checkouts too.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bot.runtimes import RuntimeName, make_runtime
from emulator import Emulator
from handlers.events import Event
from handlers.replies import Deliver


async def one_round(name: RuntimeName, updates: int) -> float:
    """Process CPU seconds per update for ``updates`` /start messages from as many people."""
    emulator = Emulator(record=False)
    await emulator.start(port=0)
    assert emulator.base_url is not None
    runtime = make_runtime(name, token=emulator.token, api_url=emulator.base_url, max_concurrent_updates=64)
    await runtime.start()
    handled = 0
    done = asyncio.Event()

    async def handler(event: Event, deliver: Deliver) -> None:
        nonlocal handled
        handled += 1
        if handled == updates:
            done.set()

    runtime.attach(handler)
    users = [emulator.user(10_000 + n, first_name="Ada", language_code="en") for n in range(updates)]
    for user in users:
        await user.send("/start src_42")
    stop = asyncio.Event()
    started = time.process_time()
    polling = asyncio.create_task(runtime.run_polling(stop))
    await asyncio.wait_for(done.wait(), 120)
    spent = time.process_time() - started
    stop.set()
    await polling
    await runtime.drain(5)
    await runtime.close()
    await emulator.stop()
    return spent / updates


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runtime", choices=["aiogram", "ptb"], action="append")
    args = parser.parse_args()
    names: list[RuntimeName] = args.runtime or ["aiogram", "ptb"]
    for name in names:
        figures = [await one_round(name, args.updates) for _ in range(args.rounds)]
        print(f"{name}: median {statistics.median(figures) * 1e6:.0f} µs per update (min {min(figures) * 1e6:.0f})")


if __name__ == "__main__":
    asyncio.run(main())
