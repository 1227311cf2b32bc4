"""python-telegram-bot's networking on aiohttp (PTB's ``BaseRequest``, its documented way to
bring one's own HTTP client).

PTB's own ``HTTPXRequest`` cost about 1 ms more CPU per call than aiogram's aiohttp session:
httpcore looks over every pooled connection, each through anyio, for every request and every
answer (``bench.signing --profile``: 43 % of the PTB bot's CPU was HTTP). aiohttp is already
the bot's HTTP library (the webhook server, aiogram). PTB still builds the requests, reads the
answers and raises its own errors from them; this class only moves the bytes.
"""

from __future__ import annotations

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

USER_AGENT = BaseRequest.USER_AGENT


class AiohttpRequest(BaseRequest):
    """One aiohttp session with at most ``connections`` connections; a request waits up to
    ``pool_timeout`` s for one of them. Timeouts are PTB's (seconds; None: no limit), per
    call or these defaults. aiohttp has no write timeout of its own (its read timeout runs
    from when the request has been sent), so the whole request is bounded by the sum of the
    four: an upload that stalls (an export's file to a peer that stops reading) ends with
    ``TimedOut`` instead of holding its connection for ever."""

    def __init__(
        self,
        *,
        connections: int,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 60.0,  # an export's file (up to 50 MB) on a slow link
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self._connections = connections
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:  # no await before it is set: one session
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections), headers={"User-Agent": USER_AGENT}
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            await self.initialize()  # as PTB's own HTTPXRequest, usable before initialize()
        assert self._session is not None
        read = _given(read_timeout, self._read_timeout)
        write = _given(write_timeout, self._write_timeout)
        connect = _given(connect_timeout, self._connect_timeout)
        pool = _given(pool_timeout, self._pool_timeout)
        parts = (pool, connect, write, read)
        # aiohttp's ``connect`` covers both the wait for a pooled connection and opening one;
        # ``total`` stands in for the write timeout aiohttp lacks.
        timeout = aiohttp.ClientTimeout(
            total=None if None in parts else sum(p for p in parts if p is not None),
            connect=None if pool is None or connect is None else pool + connect,
            sock_connect=connect,
            sock_read=read,
        )
        fields = request_data.json_parameters if request_data else {}
        files = request_data.multipart_data if request_data else {}
        body: aiohttp.FormData | dict[str, str] | None = fields or None
        if files:
            body = aiohttp.FormData(fields)
            for name, (filename, content, mime_type) in files.items():
                body.add_field(name, content, filename=filename, content_type=mime_type)
        try:
            async with self._session.request(method, url, data=body, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            # The type only: an aiohttp error's text may carry the request's URL, the token in it.
            raise NetworkError(f"aiohttp.{type(error).__name__}") from error


def _given(value: object, default: float | None) -> float | None:
    """A call's own timeout, or the default when the call left it to PTB's DEFAULT_NONE."""
    if value is BaseRequest.DEFAULT_NONE:
        return default
    return None if value is None else float(value)  # type: ignore[arg-type]  # PTB passes float or None
