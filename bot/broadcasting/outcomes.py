"""What Telegram's answer to one delivery means, and how the outcome is recorded.

- sent: recorded as sent;
- 429 (``flood``): ALL sending pauses for ``retry_after``; the delivery is retried after
  it without counting as a failed attempt;
- 403 (``blocked``): the signer is marked unreachable and never retried;
- a network error after the request may have reached Telegram (a timeout, a dropped
  connection, a 5xx): ``uncertain``, never repeated (nobody gets a message twice);
- any other error (400, no connection could be made, ...): retried after the next of
  ``retry_delays`` and ``failed`` after ``max_attempts``.

``judge`` decides (pure); ``recording`` is the database write, kept as a callable so a
write that fails can be retried later (the outcome is the truth).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from storage import outbox

if TYPE_CHECKING:
    from handlers.replies import Delivered
    from storage.db import Database

Kind = Literal["sent", "flood", "blocked", "uncertain", "retry", "failed"]


@dataclass(frozen=True)
class Verdict:
    """What one answer means for its delivery."""

    kind: Kind
    error: str = ""
    seconds: float = 0.0  # flood: the pause Telegram asked for; retry: the wait before the next attempt


def retry_after(extra: Mapping[str, object]) -> float:
    """The pause a 429 asks for (one second if Telegram did not say)."""
    value = extra.get("retry_after")
    return float(value) if isinstance(value, int | float) else 1.0


def judge(outcome: Delivered, attempts: int, *, max_attempts: int, retry_delays: tuple[float, ...]) -> Verdict:
    """The verdict on a delivery's ``attempts``-th try (counted from 1)."""
    if outcome.ok:
        return Verdict("sent")
    if outcome.error == "flood":
        return Verdict("flood", "flood", retry_after(outcome.extra))
    if outcome.error == "blocked":
        return Verdict("blocked", "blocked")
    if outcome.error == "network":
        return Verdict("uncertain", "network")
    error = outcome.error or "other"
    if attempts >= max_attempts:
        return Verdict("failed", error)
    return Verdict("retry", error, retry_delays[min(attempts, len(retry_delays)) - 1])


def recording(db: Database, recipient: outbox.Recipient, verdict: Verdict) -> Callable[[], Awaitable[None]]:
    """The write that records ``verdict`` for ``recipient``'s delivery, to run (and rerun)."""
    delivery = recipient.delivery_id
    match verdict.kind:
        case "sent":
            return lambda: outbox.record_sent(db, delivery)
        case "flood":
            return lambda: outbox.record_retry(db, delivery, verdict.seconds, "flood", count_attempt=False)
        case "blocked":
            return lambda: outbox.record_blocked(db, delivery, recipient.signature_id, recipient.chat_id)
        case "uncertain":
            return lambda: outbox.record_uncertain(db, delivery, verdict.error)
        case "failed":
            return lambda: outbox.record_failed(db, delivery, verdict.error)
        case "retry":
            return lambda: outbox.record_retry(db, delivery, verdict.seconds, verdict.error)
