"""Errors the state stores raise, so callers catch one type whatever the backend."""

from __future__ import annotations


class StateStoreError(Exception):
    """The state store failed (Redis unreachable, pool exhausted, corrupt value).

    Nothing was half-written: every write is a single command. The caller logs
    it (without user data) and answers the user with a "try again" message.
    """


class LockTimeout(StateStoreError):
    """The per-key lock was not obtained within its timeout (another event is still running)."""
