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


RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


def is_transient(error: BaseException) -> bool:
    """A failure that the same work, tried again a moment later, may well not meet: the state
    store or the database was briefly unreachable (a restart, a dropped connection, a
    failover), SQLite's one writer kept the others waiting past ``busy_timeout``, or
    PostgreSQL rolled the transaction back to settle a deadlock or a serialisation conflict
    with another (``RETRYABLE_SQLSTATES``: the work is undone, trying it again is what they ask).

    Not transient: a corrupt stored value, a lock held by a long-running update
    (``LockTimeout``), a constraint violated, a bug. The caller retries at most once.
    """
    if isinstance(error, StoreUnavailable):
        return True
    if isinstance(error, DBAPIError):
        if getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
            return True
        return error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)
    return isinstance(error, ConnectionError | TimeoutError)
