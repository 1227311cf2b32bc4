"""``python -m bot run | demo | migrate``: the bot itself, its terminal demo, and its database.

A bad or missing setting exits with 2, an unreachable service (database, Redis,
Telegram) with 1, each in one line (``bot.cli.errors``). The bot's modules load
when a command runs, so that ``run --help`` is quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from bot.cli.errors import EXIT_USAGE, Command, CommandError, usage_errors

if TYPE_CHECKING:
    from bot.app import BotApp, Mode
    from bot.runtimes import RuntimeName
    from bot.settings import Settings

log = logging.getLogger("bot.cli")

RUNTIMES = click.Choice(["aiogram", "ptb"])
T = TypeVar("T")


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
        settings.metrics_token.get_secret_value() if settings.metrics_token else None,
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
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Webhook mode: worker processes serving one port; more than 1 needs REDIS_URL and "
    "PostgreSQL [default: WORKERS or 1].",
)
@click.option(
    "--demo-without-token",
    is_flag=True,
    help="With no BOT_TOKEN, start the terminal demo instead of failing (the README's first command).",
)
@click.option("--worker-ready-fd", type=int, default=None, hidden=True)  # set by bot.workers for its workers
@click.pass_context
def run(
    ctx: click.Context,
    mode: Mode,
    runtime: RuntimeName | None,
    workers: int | None,
    demo_without_token: bool,
    worker_ready_fd: int | None,
) -> None:
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
        if mode == "polling" and (workers or 1) > 1:
            raise CommandError("--workers is for webhook mode: Telegram lets one process call getUpdates", EXIT_USAGE)
        # WORKERS is the web process's setting: the polling process (the Procfile's `worker`) ignores it.
        count = 1 if mode == "polling" else workers or settings.workers
        several = count > 1 or worker_ready_fd is not None
        setup_logging(
            settings.log_level, _secrets(settings), with_pid=several, json_lines=settings.log_format == "json"
        )
        settings.token  # noqa: B018 - fail now, with the one-line error, if BOT_TOKEN is missing
        if mode == "webhook":
            settings.require_webhook()
        if worker_ready_fd is not None:
            _run_loop(
                _until_signalled(
                    lambda stop: _serve_as_worker(
                        BotApp(settings, runtime=runtime, mode=mode, role="worker"), worker_ready_fd, stop
                    )
                )
            )
            return
        if count > 1:
            from bot.workers import Supervisor, require_workers

            require_workers(settings, count)
            code = _run_loop(_until_signalled(Supervisor(settings, count, runtime).run))
            if code:
                raise CommandError("the workers did not all stop cleanly, or kept dying (see the log above)")
            return
        _run_loop(_until_signalled(BotApp(settings, mode=mode, runtime=runtime).run))


def _run_loop(main: Coroutine[Any, Any, T]) -> T:
    """The running bot's event loop: uvloop where it is installed (libuv; about 10 % less CPU
    per signature in bench.signing), asyncio's own elsewhere (Windows)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - installed on every platform but Windows
        return asyncio.run(main)
    return uvloop.run(main)


async def _until_signalled(main: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    """``main(stop)``, with ``stop`` set by SIGTERM or SIGINT (Ctrl-C)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        log.info("%s received: shutting down", sig.name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    return await main(stop)


async def _serve_as_worker(app: BotApp, ready_fd: int, stop: asyncio.Event) -> None:
    """One of ``bot.workers``' processes: tell the supervisor once listening (a byte on
    ``ready_fd``), and stop if the supervisor disappears."""
    from bot.workers import watch_parent

    def ready() -> None:
        os.write(ready_fd, b"1")
        os.close(ready_fd)

    watching = asyncio.create_task(watch_parent(stop, os.getppid()))
    try:
        await app.run(stop, on_started=ready)
    finally:
        watching.cancel()


@click.command(cls=Command)
@click.option("--runtime", type=RUNTIMES, default=None, help="Framework runtime [default: BOT_RUNTIME or aiogram].")
@click.option("--lang", default="en", show_default=True, help="Your simulated Telegram language_code.")
@click.option("--user-id", type=int, default=1001, show_default=True, help="Your simulated Telegram user id.")
@click.option("--name", "first_name", default="Demo", show_default=True, help="Your simulated first name.")
@click.option(
    "--files",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-files"),
    show_default=True,
    help="Folder where the documents and charts the bot sends you are saved.",
)
@click.option(
    "--keep-db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Keep the demo's SQLite database in this file (for `stats` and `export` afterwards; reused next time).",
)
@click.option(
    "--terminal-bidi",
    is_flag=True,
    help="Your terminal lays out right-to-left text itself (GNOME Terminal, Konsole, mlterm): print it as it is.",
)
def demo(
    runtime: RuntimeName | None,
    lang: str,
    user_id: int,
    first_name: str,
    files: Path,
    keep_db: Path | None,
    terminal_bidi: bool,
) -> None:
    """Chat with the bot in this terminal: no token, no database server, no Telegram.

    The real bot runs against the built-in Bot API emulator, with a temporary
    SQLite database and in-memory state.
    """
    from bot.app import run_demo
    from bot.logs import setup_logging

    setup_logging("WARNING")  # keep the chat readable
    with _bot_errors():
        asyncio.run(
            run_demo(
                runtime=runtime,
                lang=lang,
                user_id=user_id,
                first_name=first_name,
                files=files,
                keep_db=keep_db.absolute() if keep_db else None,
                visual_order=not terminal_bidi,
            )
        )


@click.command("migrate", cls=Command)
def migrate() -> None:
    """Apply the database migrations (DATABASE_URL) and print the revision."""
    from bot.app import migrate as upgrade
    from bot.logs import setup_logging
    from bot.settings import load_settings

    with _bot_errors():
        settings = load_settings()
        setup_logging(settings.log_level, _secrets(settings), json_lines=settings.log_format == "json")
        revision = asyncio.run(upgrade(settings.database_url))
    click.echo(f"database is at revision {revision}")
