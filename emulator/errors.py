"""The error answers of the Bot API, shaped exactly like Telegram's.

Every refusal travels as an ``ApiError`` up to the HTTP layer, which turns it
into ``{"ok": false, "error_code": ..., "description": ...}``. Keeping the
wording in one place keeps it consistent with what the frameworks expect.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A Bot API error answer (``ok: false``)."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        """The JSON body Telegram sends for this error."""
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


class BadRequest(ApiError):
    """A 400 answer; ``detail`` is the text after ``Bad Request: ``."""

    def __init__(self, detail: str) -> None:
        super().__init__(400, f"Bad Request: {detail}")
        self.detail = detail


class InvalidRequest(BadRequest):
    """A 400 for a request Telegram refuses for its form: shape, types, limits, HTML.

    These are the bot's bugs, unlike state errors (message not modified, query
    too old) that a correct bot meets in normal life; the emulator records them
    separately in ``Emulator.rejected``.
    """


class Forbidden(ApiError):
    """A 403 answer, e.g. when the user blocked the bot."""

    def __init__(self, detail: str) -> None:
        super().__init__(403, f"Forbidden: {detail}")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized")


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


def conflict(detail: str) -> ApiError:
    return ApiError(409, f"Conflict: {detail}")


BLOCKED = "bot was blocked by the user"
CANT_INITIATE = "bot can't initiate conversation with a user"
WEBHOOK_ACTIVE = "can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
TERMINATED = "terminated by other getUpdates request; make sure that only one bot instance is running"
