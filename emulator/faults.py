"""Injected failures, so tests can check how the bot copes with Telegram having a bad day.

A fault matches a method (or any) and optionally a chat, fires ``times`` times,
and answers what Telegram would: 429 with ``retry_after``, 403 blocked, a 400
with a given description, 5xx. It is applied after validation, so a malformed
request is still reported as malformed.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from emulator.errors import BLOCKED, ApiError, too_many_requests


@dataclass(slots=True)
class Fault:
    method: str | None
    status: int
    retry_after: int
    chat_id: int | str | None
    times: int
    description: str | None
    delay: float

    def matches(self, method: str, params: dict[str, Any]) -> bool:
        if self.method is not None and self.method != method.lower():
            return False
        return self.chat_id is None or str(params.get("chat_id")) == str(self.chat_id)

    def error(self) -> ApiError:
        if self.status == 429:
            return too_many_requests(self.retry_after)
        if self.description is not None:
            prefix = HTTPStatus(self.status).phrase if self.status in HTTPStatus._value2member_map_ else "Error"
            if self.status == 400:
                prefix = "Bad Request"
            description = self.description if ":" in self.description else f"{prefix}: {self.description}"
            return ApiError(self.status, description)
        if self.status == 403:
            return ApiError(403, f"Forbidden: {BLOCKED}")
        if self.status == 400:
            return ApiError(400, "Bad Request: injected fault")
        phrase = HTTPStatus(self.status).phrase if self.status in HTTPStatus._value2member_map_ else "Error"
        return ApiError(self.status, phrase)


class FaultPlan:
    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(
        self,
        method: str | None = None,
        *,
        status: int = 429,
        retry_after: int = 1,
        chat_id: int | str | None = None,
        times: int = 1,
        description: str | None = None,
        delay: float = 0.0,
    ) -> Fault:
        fault = Fault(method.lower() if method else None, status, retry_after, chat_id, times, description, delay)
        self._faults.append(fault)
        return fault

    def take(self, method: str, params: dict[str, Any]) -> Fault | None:
        """The first fault matching this call, used up by one; None when the call goes through."""
        for fault in self._faults:
            if fault.matches(method, params):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        self._faults.clear()

    def __len__(self) -> int:
        return len(self._faults)
