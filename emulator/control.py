"""The control API: simulated users driven over HTTP, for tools in another process.

The benchmark and a bot running as a separate process use this to do what
in-process code does through ``Emulator.user(...)``. JSON in, JSON out:

    POST /_emulator/users/{id}            {"first_name", "last_name", "username", "language_code"}
    POST /_emulator/users/{id}/send       {"text"}                         -> {"message_id"}
    POST /_emulator/users/{id}/send_other {"kind": "sticker"}             -> {"message_id"}
    POST /_emulator/users/{id}/edit_last  {"text"}                         -> {"message_id"}
    POST /_emulator/users/{id}/press      {"label" | "callback_data", "message_id"?, "timeout"?}
                                                                           -> {"answer": {...}}
    POST /_emulator/users/{id}/wait       {"n": 1, "timeout": 5}           -> {"messages": [...]}
    GET  /_emulator/users/{id}/messages | /transcript
    POST /_emulator/users/{id}/block | /unblock
    POST /_emulator/groups/{id}           {"title"}
    POST /_emulator/groups/{id}/send      {"user_id", "text"}
    POST /_emulator/faults                {"method", "status", "retry_after", "chat_id", "times",
                                           "description", "delay"};  DELETE clears them
    GET  /_emulator/calls?method=...&since=N | /rejected | /status

A user is created on first use; profile fields may be given with any action.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from aiohttp import web

from emulator.faults import FaultPlan
from emulator.limits import RateViolation
from emulator.objects import CallRecord, Rejection, UploadedFile
from emulator.spec import Spec
from emulator.updates import UpdateQueue
from emulator.users import SimulatedGroup, SimulatedUser
from emulator.webhook import WebhookDelivery


class Controlled(Protocol):
    """What the control API drives and reports on; ``Emulator`` hands itself in."""

    bot_user: dict[str, Any]
    spec: Spec
    queue: UpdateQueue
    webhook: WebhookDelivery | None
    faults: FaultPlan
    calls: list[CallRecord]
    rejected: list[Rejection]

    @property
    def users(self) -> Mapping[int, SimulatedUser]: ...

    @property
    def rate_violations(self) -> list[RateViolation]: ...

    def user(
        self,
        user_id: int,
        first_name: str = ...,
        last_name: str | None = ...,
        username: str | None = ...,
        language_code: str | None = ...,
        *,
        is_premium: bool = ...,
    ) -> SimulatedUser: ...

    def group(self, chat_id: int, title: str = ...) -> SimulatedGroup: ...


PREFIX = "/_emulator"
Route = Callable[[web.Request], Awaitable[web.Response]]
_PROFILE = ("first_name", "last_name", "username", "language_code")


def _ok(body: dict[str, Any] | None = None) -> web.Response:
    return web.json_response({"ok": True, **(body or {})}, dumps=lambda data: json.dumps(data, ensure_ascii=False))


def _fail(status: int, error: str) -> web.Response:
    return web.json_response({"ok": False, "error": error}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


def _jsonable(value: Any) -> Any:
    """Recorded parameters without file bytes, for the calls listing."""
    if isinstance(value, UploadedFile):
        return {"filename": value.filename, "size": value.size}
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def add_control_routes(app: web.Application, emulator: Controlled) -> None:
    def user_of(request: web.Request, body: dict[str, Any]) -> SimulatedUser:
        user_id = int(request.match_info["user_id"])
        profile = {key: body[key] for key in _PROFILE if key in body}
        return emulator.user(user_id, **profile)

    def guarded(handler: Callable[[web.Request, dict[str, Any]], Awaitable[web.Response]]) -> Route:
        """Parse the body and turn the users' errors into JSON answers."""

        async def route(request: web.Request) -> web.Response:
            try:
                return await handler(request, await _body(request))
            except TimeoutError as error:
                return _fail(504, str(error))
            except KeyError as error:
                return _fail(400, f"missing field {error}")
            except (LookupError, ValueError) as error:
                return _fail(404 if isinstance(error, LookupError) else 400, str(error))

        return route

    async def create_user(request: web.Request, body: dict[str, Any]) -> web.Response:
        return _ok({"user": user_of(request, body).to_json()})

    async def send(request: web.Request, body: dict[str, Any]) -> web.Response:
        return _ok({"message_id": await user_of(request, body).send(str(body["text"]))})

    async def send_other(request: web.Request, body: dict[str, Any]) -> web.Response:
        user = user_of(request, body)
        return _ok({"message_id": await user.send_other(str(body.get("kind", "sticker")), caption=body.get("caption"))})

    async def edit_last(request: web.Request, body: dict[str, Any]) -> web.Response:
        return _ok({"message_id": await user_of(request, body).edit_last(str(body["text"]))})

    async def press(request: web.Request, body: dict[str, Any]) -> web.Response:
        answer = await user_of(request, body).press(
            body.get("label"),
            callback_data=body.get("callback_data"),
            message_id=body.get("message_id"),
            timeout=float(body.get("timeout", 5.0)),
        )
        return _ok({"answer": answer.to_json()})

    async def wait(request: web.Request, body: dict[str, Any]) -> web.Response:
        user = user_of(request, body)
        received = await user.wait_messages(int(body.get("n", 1)), timeout=float(body.get("timeout", 5.0)))
        return _ok({"messages": [message.to_json() for message in received]})

    async def messages(request: web.Request, body: dict[str, Any]) -> web.Response:
        return _ok({"messages": [message.to_json() for message in user_of(request, body).messages]})

    async def transcript(request: web.Request, body: dict[str, Any]) -> web.Response:
        return _ok({"transcript": [entry.to_json() for entry in user_of(request, body).transcript]})

    async def block(request: web.Request, body: dict[str, Any]) -> web.Response:
        user_of(request, body).block()
        return _ok()

    async def unblock(request: web.Request, body: dict[str, Any]) -> web.Response:
        user_of(request, body).unblock()
        return _ok()

    async def create_group(request: web.Request, body: dict[str, Any]) -> web.Response:
        group = emulator.group(int(request.match_info["chat_id"]), str(body.get("title", "Group")))
        return _ok({"chat": group.conversation.chat})

    async def group_send(request: web.Request, body: dict[str, Any]) -> web.Response:
        group = emulator.group(int(request.match_info["chat_id"]))
        member = emulator.user(int(body["user_id"]))
        return _ok({"message_id": await group.send(member, str(body["text"]))})

    async def add_fault(request: web.Request, body: dict[str, Any]) -> web.Response:
        emulator.faults.add(  # what Emulator.fail_next does
            body.get("method"),
            status=int(body.get("status", 429)),
            retry_after=int(body.get("retry_after", 1)),
            chat_id=body.get("chat_id"),
            times=int(body.get("times", 1)),
            description=body.get("description"),
            delay=float(body.get("delay", 0.0)),
        )
        return _ok({"faults": len(emulator.faults)})

    async def clear_faults(request: web.Request, body: dict[str, Any]) -> web.Response:
        emulator.faults.clear()
        return _ok()

    async def calls(request: web.Request, body: dict[str, Any]) -> web.Response:
        method = request.query.get("method", "").lower()
        since = int(request.query.get("since", 0))
        listed = [
            {
                "index": index,
                "method": call.method,
                "params": _jsonable(call.params),
                "ok": call.ok,
                "error_code": call.error_code,
                "description": call.description,
            }
            for index, call in enumerate(emulator.calls[since:], start=since)
            if not method or call.method.lower() == method
        ]
        return _ok({"calls": listed})

    async def rejected(request: web.Request, body: dict[str, Any]) -> web.Response:
        listed = [
            {"method": item.method, "params": _jsonable(item.params), "description": item.description}
            for item in emulator.rejected
        ]
        return _ok({"rejected": listed})

    async def status(request: web.Request, body: dict[str, Any]) -> web.Response:
        webhook = emulator.webhook
        return _ok(
            {
                "bot": emulator.bot_user,
                "api_version": emulator.spec.version,
                "webhook": webhook.url if webhook is not None else None,
                "pending_updates": webhook.pending_count if webhook is not None else len(emulator.queue),
                "users": len(emulator.users),
                "calls": len(emulator.calls),
                "rejected": len(emulator.rejected),
                "rate_violations": len(emulator.rate_violations),
            }
        )

    user = PREFIX + "/users/{user_id:-?\\d+}"
    group = PREFIX + "/groups/{chat_id:-?\\d+}"
    routes: list[tuple[str, str, Callable[[web.Request, dict[str, Any]], Awaitable[web.Response]]]] = [
        ("POST", user, create_user),
        ("POST", user + "/send", send),
        ("POST", user + "/send_other", send_other),
        ("POST", user + "/edit_last", edit_last),
        ("POST", user + "/press", press),
        ("POST", user + "/wait", wait),
        ("GET", user + "/messages", messages),
        ("GET", user + "/transcript", transcript),
        ("POST", user + "/block", block),
        ("POST", user + "/unblock", unblock),
        ("POST", group, create_group),
        ("POST", group + "/send", group_send),
        ("POST", PREFIX + "/faults", add_fault),
        ("DELETE", PREFIX + "/faults", clear_faults),
        ("GET", PREFIX + "/calls", calls),
        ("GET", PREFIX + "/rejected", rejected),
        ("GET", PREFIX + "/status", status),
    ]
    for verb, path, handler in routes:
        app.router.add_route(verb, path, guarded(handler))
