"""The command line: ``python -m bot run | demo | migrate``.

Operator mistakes end with one line on stderr, never a traceback: a bad or
missing setting exits with 2, an unreachable service (database, Redis,
Telegram) with 1. What the command line prints itself (not through logging) is
masked as log records are: the token, the webhook secret, the passwords in
``DATABASE_URL`` and ``REDIS_URL`` and anything shaped like a token or a URL
password become ``***``; so is the traceback of an unexpected error.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import traceback
from typing import Any

import click

from bot.app import BotApp, Mode, StartupError, migrate, run_demo
from bot.broadcast_command import broadcast
from bot.deliver_command import deliver
from bot.export_command import export, fingerprint
from bot.i18n_commands import i18n
from bot.logs import mask_secrets, protect, setup_logging, url_passwords
from bot.purge_command import purge
from bot.runtimes import RuntimeName
from bot.settings import Settings, SettingsError, load_settings
from bot.stats_command import stats

log = logging.getLogger("bot.cli")

RUNTIMES = click.Choice(["aiogram", "ptb"])


class _Group(click.Group):
    """Turns our operator-facing errors into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SettingsError as error:
            click.echo(f"error: {mask_secrets(str(error))}", err=True)
            ctx.exit(2)
        except StartupError as error:
            click.echo(f"error: {mask_secrets(str(error))}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise  # click's own: usage errors, --help, ctx.exit
        except Exception:
            # A bug: the traceback helps, but only masked (it can quote URLs and settings).
            click.echo(mask_secrets(traceback.format_exc()), err=True, nl=False)
            ctx.exit(1)


def _secrets(settings: Settings) -> list[str | None]:
    """Everything secret in the settings, for the log filter and what the CLI prints."""
    return [
        settings.bot_token.get_secret_value() if settings.bot_token else None,
        settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
        *url_passwords(settings.database_url),
        *url_passwords(settings.redis_url),
        *url_passwords(settings.telegram_api_url),
        *url_passwords(settings.webhook_url),
    ]


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """undersign: a Telegram bot through which supporters sign a petition letter.

    Settings come from the environment or a .env file (see .env.example).
    """


@main.command(short_help="Run the bot (polling or webhook).")
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


@main.command(short_help="Try the bot in this terminal, without a token.")
@click.option("--runtime", type=RUNTIMES, default=None, help="Framework runtime [default: BOT_RUNTIME or aiogram].")
@click.option("--lang", default="en", show_default=True, help="Your simulated Telegram language_code.")
@click.option("--user-id", type=int, default=1001, show_default=True, help="Your simulated Telegram user id.")
@click.option("--name", "first_name", default="Demo", show_default=True, help="Your simulated first name.")
def demo(runtime: RuntimeName | None, lang: str, user_id: int, first_name: str) -> None:
    """Chat with the bot in this terminal: no token, no database server, no Telegram.

    The real bot runs against the built-in Bot API emulator, with a temporary
    SQLite database and in-memory state.
    """
    setup_logging("WARNING")  # keep the chat readable
    asyncio.run(run_demo(runtime=runtime, lang=lang, user_id=user_id, first_name=first_name))


@main.command("migrate", short_help="Apply database migrations.")
def migrate_command() -> None:
    """Apply the database migrations (DATABASE_URL) and print the revision."""
    settings = load_settings()
    setup_logging(settings.log_level, _secrets(settings))
    revision = asyncio.run(migrate(settings.database_url))
    click.echo(f"database is at revision {revision}")


main.add_command(i18n)
main.add_command(stats)
main.add_command(export)
main.add_command(fingerprint)
main.add_command(purge)
main.add_command(broadcast)
main.add_command(deliver)
