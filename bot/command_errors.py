"""One-line reasons for the server commands (stats, export, purge, broadcast) and the bot's start.

A failure is told to the operator in one line: the exception's type and the first line
of its message, with URLs' passwords and every registered secret masked.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from bot.logs import mask_secrets, mask_url


def reason(error: BaseException) -> str:
    """A short, secret-free reason: the (driver's) exception type and its first line."""
    inner = getattr(error, "orig", None) or error.__cause__ or error
    first = (str(inner).strip().splitlines() or [""])[0][:200]
    return mask_secrets(f"{type(inner).__name__}: {first}" if first else type(inner).__name__)


def missing_sqlite_file(database_url: str) -> str | None:
    """The one-line complaint when ``DATABASE_URL`` names an SQLite file that does not exist:
    opening it would create an empty one, and a typo must not leave files behind."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return f"DATABASE_URL {mask_secrets(mask_url(database_url))}: no such database file"
    return None
