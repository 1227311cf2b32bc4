"""Errors the state stores raise, so callers catch one type whatever the backend, and which
failures of the stores and the database are worth one more try."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError


class StateStoreError(Exception):
    """The state store failed (Redis unreachable, pool exhausted, corrupt value).

    Nothing was half-written: every write is a single command. The caller logs
    it (without user data) and answers the user with a "try again" message.
    """


class LockTimeout(StateStoreError):
    """The per-key lock was not obtained within its timeout (another event is still running)."""


class StoreUnavailable(StateStoreError):
    """The store could not be reached or did not answer (Redis restarting, a dropped connection)."""


def is_transient(error: BaseException) -> bool:
    """A failure that the same work, tried again a moment later, may well not meet: the state
    store or the database was briefly unreachable (a restart, a dropped connection, a
    failover) or SQLite's one writer kept the others waiting past ``busy_timeout``.

    Not transient: a corrupt stored value, a lock held by a long-running update
    (``LockTimeout``), a constraint violated, a bug. The caller retries at most once.
    """
    if isinstance(error, StoreUnavailable):
        return True
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)
    return isinstance(error, ConnectionError | TimeoutError)
