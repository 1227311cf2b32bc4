"""What a signing run measured, as table rows, side by side, and as JSON.

The figures come from three places: the people (finished or not, each step's
latency), the emulator's record of every Bot API call (calls per signature,
429s, whether a ``retry_after`` was waited out), and the bot's processes (CPU
time, the log's ERROR and "gave up" lines).
"""

from __future__ import annotations

import json
import math
import re
import statistics
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.people import Person
from emulator import CallRecord, RateViolation

BULK = 0.9  # the share of people whose signatures make "the bulk" of a run
_RETRY_AFTER = re.compile(r"retry after (\d+)")


@dataclass(slots=True)
class Result:
    label: str
    users: int
    finished: int = 0
    wall: float = 0.0  # first action to the last thank-you (to the deadline if nobody finished)
    updates: int = 0  # actions of the people, retaps included: one update each
    bulk_wall: float = float("nan")  # first action until BULK of the people had signed
    bulk_updates: int = 0  # updates sent by then
    steps: list[float] = field(default_factory=list)
    per_person: list[float] = field(default_factory=list)
    retaps: int = 0
    stuck_at: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    in_webhook_answers: int = 0  # calls Telegram made from the bot's webhook answers, not requests of its own
    cpu: float = 0.0  # bot processes, seconds (user + system)
    cpu_system: float = 0.0  # of which in the kernel (sockets, mostly)
    bench_cpu: float = 0.0  # this process: the emulator and the people
    errors: list[str] = field(default_factory=list)
    gave_up: int = 0
    received_429: int = 0
    violations: dict[str, int] = field(default_factory=dict)  # the emulator's refusals by scope
    retry_after_ignored: int = 0
    webhook_retries: int = 0
    backend: dict[str, float] = field(default_factory=dict)  # Redis commands, PostgreSQL transactions ...
    echo_updates_per_s: float = float("nan")

    def take_people(self, people: list[Person], began: float) -> None:
        self.finished = sum(person.finished for person in people)
        self.updates = sum(len(person.actions) for person in people)
        ended = sorted(person.ended_at for person in people if person.finished)
        rank = math.ceil(BULK * len(people))
        if rank and len(ended) >= rank:  # the bulk: until 90 % had signed, the tail of stuck people apart
            self.bulk_wall = ended[rank - 1] - began
            self.bulk_updates = sum(at <= ended[rank - 1] for person in people for at in person.actions)
        self.steps = [latency for person in people for latency in person.steps]
        self.per_person = [person.seconds for person in people if person.finished]
        self.retaps = sum(person.retaps for person in people)
        self.stuck_at = dict(Counter(person.stuck_at for person in people if not person.finished))

    def take_calls(self, calls: list[CallRecord], violations: list[RateViolation]) -> None:
        self.calls = dict(Counter(call.method for call in calls))
        self.in_webhook_answers = sum(1 for call in calls if call.in_webhook_answer)
        self.received_429 = sum(1 for call in calls if call.error_code == 429)
        self.violations = dict(Counter(violation.scope for violation in violations))
        self.retry_after_ignored = retry_after_ignored(calls)

    def rows(self) -> dict[str, float]:
        done = max(self.finished, 1)
        updates_per_s = self.updates / self.wall if self.wall else float("nan")
        rows = {
            "signatures completed": float(self.finished),
            "people not finished": float(self.users - self.finished),
            "wall time, first action to last thank-you (s)": self.wall,
            "signatures/s": self.finished / self.wall if self.wall else float("nan"),
            "updates/s (people's actions)": updates_per_s,
            "echo bot updates/s (same people, same count)": self.echo_updates_per_s,
            "bot / echo updates/s": updates_per_s / self.echo_updates_per_s,
            "time until 90 % had signed (s)": self.bulk_wall,
            "  signatures/s until then": BULK * self.users / self.bulk_wall,
            "  updates/s until then": self.bulk_updates / self.bulk_wall,
            "  bot / echo updates/s until then": self.bulk_updates / self.bulk_wall / self.echo_updates_per_s,
            "step latency p50 (s)": _quantile(self.steps, 0.50),
            "step latency p95 (s)": _quantile(self.steps, 0.95),
            "step latency max (s)": max(self.steps, default=float("nan")),
            "per person, median (s)": _quantile(self.per_person, 0.50),
            "per person, p95 (s)": _quantile(self.per_person, 0.95),
            "retaps (no answer within patience)": float(self.retaps),
            "bot CPU per signature (ms)": 1000 * self.cpu / done,
            "  of which in the kernel (ms)": 1000 * self.cpu_system / done,
            "emulator + people CPU per signature (ms)": 1000 * self.bench_cpu / done,
            "Bot API calls per signature (all but getUpdates)": sum(
                n for method, n in self.calls.items() if method != "getUpdates"
            )
            / done,
            "  of which the bot's own requests": (
                sum(n for method, n in self.calls.items() if method != "getUpdates") - self.in_webhook_answers
            )
            / done,
            "  of which in webhook answers": self.in_webhook_answers / done,
        }
        for method, n in sorted(self.calls.items()):
            rows[f"  {method} per signature"] = n / done
        for what, count in self.backend.items():
            rows[f"{what} per signature"] = count / done
        rows |= {
            "ERROR lines in the bot's log": float(len(self.errors)),
            '"gave up after flood control" lines': float(self.gave_up),
            "429s the bot received": float(self.received_429),
            "  refused past the global limit": float(self.violations.get("bot", 0)),
            "  refused past the per-chat limit": float(self.violations.get("chat", 0)),
            "calls before retry_after had passed": float(self.retry_after_ignored),
            "webhook deliveries retried": float(self.webhook_retries),
        }
        return rows

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["rows"] = self.rows()
        return body


def retry_after_ignored(calls: list[CallRecord]) -> int:
    """Calls of the same method to the same chat that arrived within a 429's ``retry_after``."""
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    for call in calls:
        times[(call.method, str(call.params.get("chat_id")))].append(call.at)
    early: set[tuple[tuple[str, str], int]] = set()
    for call in calls:
        match = _RETRY_AFTER.search(call.description or "") if call.error_code == 429 else None
        if match is None:
            continue
        key = (call.method, str(call.params.get("chat_id")))
        ordered = times[key]  # calls are recorded in order, so already sorted
        first = bisect_right(ordered, call.at)
        last = bisect_left(ordered, call.at + int(match.group(1)))
        early.update((key, index) for index in range(first, last))
    return len(early)


def _quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile; NaN for no values."""
    if not values:
        return float("nan")
    if q == 0.5:
        return statistics.median(values)
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-int(q * 100) * len(ordered) // 100) - 1))]


def table(results: list[Result]) -> str:
    rows = [result.rows() for result in results]
    names = list(dict.fromkeys(name for row in rows for name in row))
    width = max(len(name) for name in names)
    header = f"{'':<{width}}" + "".join(f"{result.label:>12}" for result in results)
    if len(results) == 2:
        header += f"{'new/old':>10}"
    lines = [header]
    for name in names:
        values = [row.get(name, float("nan")) for row in rows]
        line = f"{name:<{width}}" + "".join(f"{value:>12.2f}" for value in values)
        if len(values) == 2:
            line += f"{values[1] / values[0]:>10.2f}" if values[0] else f"{'-':>10}"
        lines.append(line)
    return "\n".join(lines)


def details(result: Result) -> str:
    """What the table cannot show: where people got stuck, the first ERROR lines."""
    lines = []
    if result.stuck_at:
        lines.append(f"{result.label}: not finished, by the step they were waiting at: {result.stuck_at}")
    for line in result.errors[:5]:
        lines.append(f"{result.label}: bot log: {line[:300]}")
    if len(result.errors) > 5:
        lines.append(f"{result.label}: … {len(result.errors) - 5} more ERROR lines")
    return "\n".join(lines)


def dump(results: list[Result], config: dict[str, Any]) -> str:
    return json.dumps({"config": config, "results": [result.to_json() for result in results]}, indent=1)
