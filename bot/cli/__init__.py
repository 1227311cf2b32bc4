"""The command line: ``python -m bot COMMAND`` (the ``undersign`` script is the same).

One module per command in this package, each imported only when its command runs or
shows its help: the bot's own modules take seconds to load (aiogram, SQLAlchemy,
matplotlib), and ``python -m bot --help`` should answer at once. ``COMMANDS`` lists
them with the one line ``--help`` shows, so listing them imports none.

How commands fail (one line on stderr and an exit code, never a traceback for the
operator's mistakes, secrets masked) is ``bot.cli.errors``.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from bot.cli.errors import Group

# name: (where the command is, "module:attribute"; the one line `python -m bot --help` shows).
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("bot.cli.run:run", "Run the bot (polling or webhook)."),
    "demo": ("bot.cli.run:demo", "Try the bot in this terminal, without a token."),
    "migrate": ("bot.cli.run:migrate", "Apply database migrations."),
    "web": ("bot.cli.web:web", "Serve the campaign's web page and JSON count (for a bot that polls)."),
    "poster": ("bot.cli.poster:poster", "Write a printable poster with a QR code for one source."),
    "stats": ("bot.cli.stats:stats", "Show the campaign's numbers."),
    "export": ("bot.cli.export:export", "Export the signatories (CSV, XLSX or the PDF delivery document)."),
    "fingerprint": (
        "bot.cli.export:fingerprint",
        "Recompute the delivery PDF's fingerprint from the delivery list.",
    ),
    "deliver": ("bot.cli.deliver:deliver", "Record that the list was delivered to the addressees."),
    "broadcast": ("bot.cli.broadcast:broadcast", "Send a message to every signer who asked for news."),
    "purge": ("bot.cli.purge:purge", "Erase personal data past retention and withdrawn rows' traces (run daily)."),
    "i18n": ("bot.cli.i18n:i18n", "Extract, update, compile, check and preview the translation catalogs."),
}


class LazyGroup(Group):
    """A group whose commands are imported when used (click's "Lazily Loading Subcommands")."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        where, summary = self.lazy[cmd_name]
        module, attribute = where.split(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{where} is not a click command")
        command.short_help = summary
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from ``lazy``'s summaries, importing no command."""
        summaries = {name: summary for name, (_, summary) in self.lazy.items()}
        summaries |= {name: command.get_short_help_str() for name, command in self.commands.items()}
        rows = sorted(summaries.items())
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """undersign: a Telegram bot through which supporters sign a petition letter.

    Settings come from the environment or a .env file (see .env.example).
    """
