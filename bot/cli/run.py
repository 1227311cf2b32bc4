"""``python -m bot run | demo | migrate``: the bot itself, its terminal demo, and its database.

A bad or missing setting exits with 2, an unreachable service (database, Redis,
Telegram) with 1, each in one line (``bot.cli.errors``). The bot's modules load
when a command runs, so that ``run --help`` is quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from bot.cli.errors import Command, CommandError, usage_errors

if TYPE_CHECKING:
    from bot.app import BotApp, Mode
    from bot.runtimes import RuntimeName
    from bot.settings import Settings

log = logging.getLogger("bot.cli")

RUNTIMES = click.Choice(["aiogram", "ptb"])


@contextlib.contextmanager
def _bot_errors() -> Iterator[None]:
    """The bot's one-line errors as ``CommandError``: a bad setting exits 2, a service the
    bot could not start with (``StartupError``: database, Redis, Telegram) exits 1."""
    from bot.app import StartupError

    try:
        with usage_errors():
            yield
    except StartupError as error:
        raise CommandError(str(error)) from None


def _secrets(settings: Settings) -> list[str | None]:
    """Everything secret in the settings, for the log filter and what the CLI prints."""
    from bot.logs import url_passwords

    return [
        settings.bot_token.get_secret_value() if settings.bot_token else None,
        settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
        *url_passwords(settings.database_url),
        *url_passwords(settings.redis_url),
        *url_passwords(settings.telegram_api_url),
        *url_passwords(settings.webhook_url),
    ]


@click.command(cls=Command)
@click.option(
    "--mode",
    type=click.Choice(["polling", "webhook"]),
    default="polling",
    show_default=True,
    help="polling: one process calls getUpdates. webhook: Telegram calls WEBHOOK_URL (several workers).",
)
@click.option("--runtime", type=RUNTIMES, default=None, help="Framework runtime [default: BOT_RUNTIME or aiogram].")
@click.option(
    "--demo-without-token",
    is_flag=True,
    help="With no BOT_TOKEN, start the terminal demo instead of failing (the README's first command).",
)
@click.pass_context
def run(ctx: click.Context, mode: Mode, runtime: RuntimeName | None, demo_without_token: bool) -> None:
    """Run the bot until SIGTERM or SIGINT (Ctrl-C), then shut down gracefully."""
    from bot.app import BotApp
    from bot.logs import protect, setup_logging
    from bot.settings import load_settings

    with _bot_errors():
        settings = load_settings()
        protect(*_secrets(settings))  # before anything is printed, even by the demo fallback
        if demo_without_token and settings.bot_token is None:
            click.echo("No BOT_TOKEN: starting the local Telegram emulator and a terminal chat.", err=True)
            ctx.invoke(demo, runtime=runtime)
            return
        setup_logging(settings.log_level, _secrets(settings))
        settings.token  # noqa: B018 - fail now, with the one-line error, if BOT_TOKEN is missing
        if mode == "webhook":
            settings.require_webhook()
        asyncio.run(_serve(BotApp(settings, mode=mode, runtime=runtime)))


async def _serve(app: BotApp) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        log.info("%s received: shutting down", sig.name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    await app.run(stop)


@click.command(cls=Command)
@click.option("--runtime", type=RUNTIMES, default=None, help="Framework runtime [default: BOT_RUNTIME or aiogram].")
@click.option("--lang", default="en", show_default=True, help="Your simulated Telegram language_code.")
@click.option("--user-id", type=int, default=1001, show_default=True, help="Your simulated Telegram user id.")
@click.option("--name", "first_name", default="Demo", show_default=True, help="Your simulated first name.")
def demo(runtime: RuntimeName | None, lang: str, user_id: int, first_name: str) -> None:
    """Chat with the bot in this terminal: no token, no database server, no Telegram.

    The real bot runs against the built-in Bot API emulator, with a temporary
    SQLite database and in-memory state.
    """
    from bot.app import run_demo
    from bot.logs import setup_logging

    setup_logging("WARNING")  # keep the chat readable
    with _bot_errors():
        asyncio.run(run_demo(runtime=runtime, lang=lang, user_id=user_id, first_name=first_name))


@click.command("migrate", cls=Command)
def migrate() -> None:
    """Apply the database migrations (DATABASE_URL) and print the revision."""
    from bot.app import migrate as upgrade
    from bot.logs import setup_logging
    from bot.settings import load_settings

    with _bot_errors():
        settings = load_settings()
        setup_logging(settings.log_level, _secrets(settings))
        revision = asyncio.run(upgrade(settings.database_url))
    click.echo(f"database is at revision {revision}")
