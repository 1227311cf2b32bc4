"""One policy for Telegram's answers to our Bot API calls.

The conversation's replies (``bot.delivery.Deliverer``, retrying within one update) and
the broadcasts (``RuntimeBase.send_once``, with the broadcaster's own pacing in
``bot.broadcasting``) read a failed call the same way, from here:

- which failure it is (``Classifier``: a framework's exception → ``ApiError``), including
  whether the request certainly never reached Telegram (``unsent``) or may have
  (``network``: a timeout, a dropped connection, a 5xx);
- what it means for the reply (``failure``): 429 is ``flood``, 403 ``blocked``, 400
  ``bad_request`` — except "message is not modified" on an edit, which is success — and
  anything that is not a Telegram error at all ``internal`` (a bug);
- what may be repeated: a 429 after its ``retry_after``, as long as the update's waits stay
  within ``FLOOD_BUDGET`` seconds (a callback answer never waits: the query expires within
  seconds); a network failure after ``NETWORK_RETRY_DELAYS``, only when repeating
  cannot send a message twice (``repeatable``);
- what is logged: Telegram's own description and the method, never the text we sent, and
  for an internal error only the exception's type (its message may quote the text). Tokens
  never appear: the descriptions are Telegram's, and ``bot.logs`` masks every record.

Who logs how often stays with the caller (once per update; the broadcaster once per kind
of trouble), since only the caller knows what "once" spans.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from handlers.replies import (
    AnswerCallback,
    EditMessage,
    Reply,
    SendDocument,
    SendMessage,
    SendPhoto,
)

FLOOD_BUDGET = 20.0  # seconds of retry_after waited in total for one update, all replies together
NETWORK_RETRY_DELAYS = (0.5, 1.5)

# "unsent": the request certainly did not reach Telegram (no connection could be made).
# "network": it may have (a timeout or a dropped connection after sending, a 5xx answer).
ErrorKind = Literal["flood", "forbidden", "bad_request", "unsent", "network", "other"]


@dataclass(frozen=True, slots=True)
class ApiError:
    """A framework exception reduced to what the policy needs."""

    kind: ErrorKind
    description: str = ""  # Telegram's description, never the text we sent
    retry_after: float = 0.0


Classify = Callable[[Exception], ApiError | None]  # a framework's exception read; None: not a Telegram error

# (framework exception type, kind), checked in order: the first match wins.
ErrorTable = tuple[tuple[type[BaseException], ErrorKind], ...]

METHODS: dict[type, str] = {
    SendMessage: "sendMessage",
    EditMessage: "editMessageText",
    AnswerCallback: "answerCallbackQuery",
    SendDocument: "sendDocument",
    SendPhoto: "sendPhoto",
}

# Calls that change nothing when repeated, so a retry is safe even if the first try arrived.
IDEMPOTENT: tuple[type, ...] = (EditMessage, AnswerCallback)


def method_name(reply: Reply) -> str:
    return METHODS.get(type(reply), type(reply).__name__)


class Classifier:
    """A framework's exceptions as ``ApiError``s: its table of exception types, and the
    low-level errors (the ``__cause__`` of its network error) that prove a request never
    reached Telegram, because no connection could be made."""

    def __init__(self, errors: ErrorTable, unsent_causes: tuple[type[BaseException], ...]) -> None:
        self._errors = errors
        self._unsent_causes = unsent_causes

    def __call__(self, exc: Exception) -> ApiError | None:
        """The exception as an ``ApiError``; None: not a Telegram API error (a bug)."""
        for exc_type, kind in self._errors:
            if isinstance(exc, exc_type):
                description = str(getattr(exc, "message", "") or type(exc).__name__)
                if kind == "flood":
                    return ApiError(kind, description, _seconds(getattr(exc, "retry_after", None)))
                if kind == "network" and self._never_sent(exc):
                    kind = "unsent"
                return ApiError(kind, description)
        return None

    def _never_sent(self, exc: BaseException) -> bool:
        cause = exc.__cause__
        while cause is not None:
            if isinstance(cause, self._unsent_causes):
                return True
            cause = cause.__cause__
        return False


def _seconds(value: object) -> float:
    """``retry_after`` as seconds: aiogram gives an int, PTB an int or a timedelta."""
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value) if isinstance(value, int | float) else 1.0


def failure(error: ApiError | None, reply: Reply) -> str | None:
    """What a call that failed with ``error`` (None: not a Telegram error) and is not repeated
    means, as ``Delivered.error``; None: it is a success after all."""
    if error is None:
        return "internal"
    if error.kind == "forbidden":
        return "blocked"
    if error.kind == "bad_request" and unmodified(error, reply):
        return None
    return error.kind


def unmodified(error: ApiError, reply: Reply) -> bool:
    """An edit to the text the message already has: Telegram refuses it, nothing is wrong."""
    return isinstance(reply, EditMessage) and "message is not modified" in error.description


def may_wait(reply: Reply, waited: float, retry_after: float) -> bool:
    """Whether a 429 (or a pause ``bot.flood_gate`` keeps) is waited out, ``waited`` seconds of
    the update's ``FLOOD_BUDGET`` being spent already: nothing is given up while it allows."""
    if isinstance(reply, AnswerCallback):
        return False  # the query expires within seconds: a late answer is no answer
    return waited + retry_after <= FLOOD_BUDGET


def repeatable(error: ApiError, reply: Reply) -> bool:
    """Whether a network failure may be repeated: only when that cannot send a message twice —
    the request never reached Telegram, or the call changes nothing when repeated."""
    return error.kind == "unsent" or (error.kind == "network" and isinstance(reply, IDEMPOTENT))


def log_internal(log: logging.Logger, where: str, reply: Reply, exc: BaseException) -> None:
    """The one line for a call that failed with something other than a Telegram error: the
    type name only, since exception messages (e.g. validation errors) may quote the text."""
    log.error("%s%s failed: %s", where, method_name(reply), type(exc).__name__)
