"""The HTTP face of the emulator: ``/bot<token>/<method>`` as Telegram serves it.

Requests are read the way Telegram reads them: query string, JSON body,
urlencoded or multipart form (file parts become ``UploadedFile``). The answer
is Telegram's envelope, ``{"ok": true, "result": ...}`` or the error object
with the same HTTP status. The control API is mounted under ``/_emulator``.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from aiohttp import BodyPartReader, web

from emulator.control import Controlled, add_control_routes
from emulator.errors import ApiError, InvalidRequest, unauthorized
from emulator.objects import UploadedFile

log = logging.getLogger(__name__)

MAX_REQUEST = 52 * 1024 * 1024  # Telegram takes uploads up to 50 MB


class Served(Controlled, Protocol):
    """What the HTTP face needs on top of the control API: the token and the calls themselves.

    ``Emulator`` builds the app around itself; this module never imports it, so imports run one way.
    """

    token: str

    async def call(self, name: str, params: dict[str, Any], files: dict[str, UploadedFile] | None = None) -> Any: ...


def build_app(emulator: Served) -> web.Application:
    app = web.Application(client_max_size=MAX_REQUEST)

    async def bot_api(request: web.Request) -> web.Response:
        return await _handle(emulator, request)

    app.router.add_route("*", "/bot{token}/{method}", bot_api)
    add_control_routes(app, emulator)
    return app


def _answer(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda data: json.dumps(data, ensure_ascii=False))


async def _handle(emulator: Served, request: web.Request) -> web.Response:
    if request.match_info["token"] != emulator.token:
        return _answer(unauthorized().payload(), 401)
    method = request.match_info["method"]
    try:
        params, files = await read_params(request)
        result = await emulator.call(method, params, files)
    except ApiError as error:
        if isinstance(error, InvalidRequest):
            log.warning("emulator refused %s: %s", method, error.description)
        return _answer(error.payload(), error.status)
    return _answer({"ok": True, "result": result})


async def read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """The call's parameters and uploaded files, from any encoding Telegram accepts."""
    params: dict[str, Any] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.method != "POST" or not request.can_read_body:
        return params, files
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            raise InvalidRequest("can't parse JSON request body") from None
        if not isinstance(body, dict):
            raise InvalidRequest("JSON request body must be an object")
        params.update(body)
    elif content_type == "multipart/form-data":
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.filename is not None:
                data = await part.read(decode=False)
                files[part.name] = UploadedFile(part.filename, bytes(data), part.headers.get("Content-Type"))
            else:
                params[part.name] = await part.text()
    elif content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        params.update({key: value for key, value in form.items() if isinstance(value, str)})
    return params, files
