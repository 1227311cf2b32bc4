"""``python -m emulator``: run the emulator on its own until Ctrl-C.

Point the bot at the printed URL (``TELEGRAM_API_URL``) with the same token.
With ``--chat`` the terminal becomes a simulated user chatting with that bot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from emulator.emulator import DEFAULT_TOKEN, Emulator
from emulator.terminal import run_terminal_chat


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="A local Telegram Bot API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--chat", action="store_true", help="chat with the bot from this terminal")
    parser.add_argument("--user-id", type=int, default=1001)
    parser.add_argument("--first-name", default="You")
    parser.add_argument("--language", default="en", help="the simulated user's Telegram language_code")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every refused request")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    emulator = Emulator(args.token)
    base_url = await emulator.start(args.host, args.port)
    print(f"Telegram Bot API emulator at {base_url} (token {args.token}); Ctrl-C stops it.", flush=True)
    print(f"Run the bot with TELEGRAM_API_URL={base_url} BOT_TOKEN={args.token}", flush=True)
    try:
        if args.chat:
            await run_terminal_chat(
                emulator, user_id=args.user_id, first_name=args.first_name, language_code=args.language
            )
        else:
            stopped = asyncio.Event()
            with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
            await stopped.wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR, format="%(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
