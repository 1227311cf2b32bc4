"""Run the Alembic migrations programmatically (the Procfile's release phase, tests).

No ``alembic.ini`` is needed: the configuration is built here. Upgrading is
idempotent (``head`` to ``head`` does nothing) and, on PostgreSQL, serialised
by an advisory lock so several workers starting at once cannot race.

For writing a new revision by hand::

    python -m storage.migrate revision -m "add receipt code" --url sqlite+aiosqlite:///dev.db
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def make_config(url: str | None = None) -> Config:
    """An Alembic config pointing at ``storage/migrations``; the URL travels in attributes
    (not the ini section) so passwords containing ``%`` need no escaping."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.attributes["url"] = url
    return config


# Alembic keeps its running context in module globals: one migration at a time per process,
# whichever thread or event loop asks. (Across processes, env.py takes a database lock.)
_process_lock = threading.Lock()


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (default: the newest)."""
    await _migrate(url, "upgrade", revision)


async def downgrade(url: str, revision: str) -> None:
    """Step the schema back to ``revision`` (``"base"`` drops everything); for tests and rollbacks."""
    await _migrate(url, "downgrade", revision)


async def _migrate(url: str, action: str, revision: str) -> None:
    # Poll rather than block in a helper thread: a cancelled wait must not leave a
    # thread behind that takes the lock later and never gives it back.
    while not _process_lock.acquire(blocking=False):  # noqa: ASYNC110 - a threading lock shared by event loops
        await asyncio.sleep(0.05)
    try:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(_run, action, revision, url)
                await connection.commit()
        finally:
            await engine.dispose()
    finally:
        _process_lock.release()


def _run(connection: Connection, action: str, revision: str, url: str) -> None:
    config = make_config(url)
    config.attributes["connection"] = connection
    if action == "upgrade":
        command.upgrade(config, revision)
    else:
        command.downgrade(config, revision)


def upgrade_sync(url: str, revision: str = "head") -> None:
    """``upgrade`` for synchronous callers (command line, release phase, sync test fixtures).

    It runs in a thread of its own so that it works whether or not the caller
    is inside an event loop, and leaves the caller's event-loop state untouched.
    """
    _run_in_thread(lambda: asyncio.run(upgrade(url, revision)))


def _run_in_thread(target: Any) -> None:
    errors: list[BaseException] = []

    def runner() -> None:
        try:
            target()
        except BaseException as error:  # handed to the caller's thread below
            errors.append(error)

    thread = threading.Thread(target=runner, name="undersign-migrate")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m storage.migrate")
    parser.add_argument("action", choices=["upgrade", "revision", "current"])
    parser.add_argument("--url", required=True, help="sqlite+aiosqlite:///... or postgresql+asyncpg://...")
    parser.add_argument("-m", "--message", default="change")
    parser.add_argument("--autogenerate", action="store_true")
    args = parser.parse_args(argv)
    if args.action == "upgrade":
        upgrade_sync(args.url)
    elif args.action == "current":
        command.current(make_config(args.url), verbose=True)
    else:
        command.revision(make_config(args.url), message=args.message, autogenerate=args.autogenerate)


if __name__ == "__main__":
    main()
