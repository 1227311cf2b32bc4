"""How every command fails: one error type, one policy, one line on stderr.

A command that cannot do its job raises ``CommandError(message, exit_code)``; the
policy (``Command`` and ``Group``, which every command and group of ``python -m bot``
is) prints ``error: <message>`` and exits with the code. Exit codes: 2 for the
operator's mistake (a setting, an option, a file: fix it and run again), 1 for a
failure of a service or the disk (the database is unreachable, the disk is full),
130 when interrupted; output cut short by its reader (``| head``) ends quietly with 1.
Anything else is a bug and prints its traceback. Whatever is
printed is masked as log records are (``bot.logs.mask_secrets``): registered secrets,
URL passwords and token-shaped text become ``***``.

This module is imported by ``python -m bot --help``: it imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from bot.logs import mask_secrets, mask_url

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

T = TypeVar("T")


class CommandError(Exception):
    """A failure the operator is told in one line, and the exit code to leave with."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@contextlib.contextmanager
def usage_errors() -> Iterator[None]:
    """A bad setting (``SettingsError``) or campaign file (``CampaignError``) as a
    ``CommandError`` with exit 2: the operator's to fix, said in one line."""
    from bot.settings import SettingsError
    from petition.campaign import CampaignError

    try:
        yield
    except (SettingsError, CampaignError) as error:
        raise CommandError(str(error), EXIT_USAGE) from None


def _report(ctx: click.Context, invoke: Callable[[], T], interrupted: str | None) -> T:
    try:
        return invoke()
    except CommandError as error:
        click.echo(f"error: {mask_secrets(str(error))}", err=True)
        ctx.exit(error.exit_code)
    except KeyboardInterrupt:
        if interrupted is not None:
            click.echo(f"interrupted: {interrupted}", err=True)
        ctx.exit(EXIT_INTERRUPTED)
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise  # click's own: usage errors, --help, ctx.exit, and a nested command's exit
    except BrokenPipeError:
        # The reader stopped reading (`| head`): nothing to report. Python would fail again
        # flushing stdout at exit, so stdout goes to /dev/null first.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        ctx.exit(EXIT_FAILURE)
    except Exception:
        # A bug: the traceback helps, but only masked (it can quote URLs and settings).
        click.echo(mask_secrets(traceback.format_exc()), err=True, nl=False)
        ctx.exit(EXIT_FAILURE)


class Command(click.Command):
    """A command under the policy above; ``interrupted`` is what Ctrl-C leaves behind
    (``click.command(cls=Command, interrupted="nothing was written")``)."""

    def __init__(self, *args: Any, interrupted: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.interrupted = interrupted

    def invoke(self, ctx: click.Context) -> Any:
        return _report(ctx, lambda: super(Command, self).invoke(ctx), self.interrupted)


class Group(click.Group):
    """A group under the policy above, whose commands and subgroups are too."""

    command_class = Command
    group_class = type  # subgroups are of this group's class

    def invoke(self, ctx: click.Context) -> Any:
        return _report(ctx, lambda: super(Group, self).invoke(ctx), None)


# --- reasons shared by the commands that read the database ---------------------------------


def reason(error: BaseException) -> str:
    """A short, secret-free reason: the (driver's) exception type and its first line."""
    inner = getattr(error, "orig", None) or error.__cause__ or error
    first = (str(inner).strip().splitlines() or [""])[0][:200]
    return mask_secrets(f"{type(inner).__name__}: {first}" if first else type(inner).__name__)


def check_sqlite_file(database_url: str) -> None:
    """Refuse a ``DATABASE_URL`` naming an SQLite file that does not exist: opening it would
    create an empty one, and a typo must not leave files behind."""
    from sqlalchemy.engine import make_url  # not at import: SQLAlchemy takes a while to load

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        raise CommandError(f"DATABASE_URL {mask_secrets(mask_url(database_url))}: no such database file")
