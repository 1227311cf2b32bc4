"""CPU per webhook update in the runtime: from the JSON body to the core's handler.

What the webhook server hands a runtime (``Runtime.process_update``), with a handler that
does nothing, so the figure is the adapter's own cost: translation, plus whatever the
framework does on the way. Nothing is sent; the runtime is started (getMe) against the
emulator, as a real bot is.

    .venv/bin/python -m bench.webhook_update                    # both runtimes, this checkout
    cd OTHER && PYTHONPATH=. /path/to/.venv/bin/python /path/to/bench/webhook_update.py
                                                                # the same against another checkout

It uses only ``bot.runtimes.make_runtime`` and ``Runtime.process_update``, so it runs
against older checkouts too.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import statistics
import time
from typing import Any

from bot.runtimes import make_runtime
from emulator import Emulator
from handlers.events import Event
from handlers.replies import Deliver

USER = {"id": 1001, "is_bot": False, "first_name": "Ada", "last_name": "Lovelace", "language_code": "en"}
CHAT = {"id": 1001, "type": "private", "first_name": "Ada", "last_name": "Lovelace"}
TEXT = {
    "update_id": 1,
    "message": {
        "message_id": 10,
        "date": 1_700_000_000,
        "chat": CHAT,
        "from": USER,
        "text": "/start src_42",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    },
}
# A button press: Telegram sends the whole message the button is on, keyboard included.
BUTTON = {
    "update_id": 2,
    "callback_query": {
        "id": "4382bfdwdsb323b2d9",
        "from": USER,
        "chat_instance": "-8100000000000000000",
        "data": "sign:confirm",
        "message": {
            "message_id": 11,
            "date": 1_700_000_000,
            "chat": CHAT,
            "from": {"id": 42, "is_bot": True, "first_name": "Undersign", "username": "undersign_bot"},
            "text": "Please check your signature:\nName: Ada Lovelace\nCountry: United Kingdom\n" * 3,
            "entities": [{"type": "bold", "offset": 0, "length": 28}],
            "reply_markup": {
                "inline_keyboard": [
                    [{"text": "Confirm and sign", "callback_data": "sign:confirm"}],
                    [{"text": "Change name", "callback_data": "sign:name"}],
                    [{"text": "Change country", "callback_data": "sign:country"}],
                    [{"text": "Read the letter", "url": "https://example.org/letter"}],
                ]
            },
        },
    },
}
UPDATES = {"text": TEXT, "button": BUTTON}


async def _nothing(event: Event, deliver: Deliver) -> None:
    return None


async def cpu_per_update(
    emulator: Emulator, runtime_name: str, update: dict[str, Any], count: int, rounds: int
) -> float:
    """The median over ``rounds`` of the CPU seconds per update, ``count`` updates a round."""
    assert emulator.base_url is not None
    runtime = make_runtime(
        runtime_name,  # type: ignore[arg-type]
        token=emulator.token,
        api_url=emulator.base_url,
        max_concurrent_updates=4,
    )
    await runtime.start()
    runtime.attach(_nothing)
    bodies = [copy.deepcopy(update) for _ in range(count)]  # the webhook parses a fresh one each time
    per_round: list[float] = []
    try:
        for _ in range(rounds + 1):  # the first round warms up
            gc.collect()
            started = time.process_time()
            for body in bodies:
                await runtime.process_update(body)
            per_round.append((time.process_time() - started) / count)
    finally:
        await runtime.close()
    return statistics.median(per_round[1:])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="updates per round")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (after one warm-up)")
    args = parser.parse_args()
    emulator = Emulator()
    await emulator.start(host="127.0.0.1", port=0)
    try:
        for runtime_name in ("aiogram", "ptb"):
            for label, update in UPDATES.items():
                seconds = await cpu_per_update(emulator, runtime_name, update, args.count, args.rounds)
                print(f"{runtime_name:8} {label:7} {seconds * 1e6:8.1f} µs CPU per update")
    finally:
        await emulator.stop()


if __name__ == "__main__":
    asyncio.run(main())
