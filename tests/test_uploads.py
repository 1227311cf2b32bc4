"""Uploads and their time limits: python-telegram-bot's requests on aiohttp
(``bot.runtimes.ptb_aiohttp``) end with PTB's ``TimedOut`` when a peer stops reading an upload,
never hold it; and a file gets the time its size needs (``bot.runtimes.bot_calls.upload_time``)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from telegram import InputFile
from telegram.error import TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.runtimes.bot_calls import UPLOAD_FLOOR, upload_time
from bot.runtimes.ptb_aiohttp import AiohttpRequest
from handlers.replies import SendDocument, SendPhoto


async def test_an_upload_to_a_peer_that_stops_reading_times_out() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # the connection stays open; nothing is ever read or answered

    server = await asyncio.start_server(never_read, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    request = AiohttpRequest(connections=1, read_timeout=0.5, write_timeout=0.5, connect_timeout=0.5, pool_timeout=0.5)
    document = InputFile(b"x" * 64_000_000, filename="export.csv")  # more than the sockets' buffers hold
    upload = RequestData([RequestParameter.from_input("document", document)])
    began = time.monotonic()
    try:
        url = f"http://127.0.0.1:{port}/botTOKEN/sendDocument"
        with pytest.raises(TimedOut):  # without a bound on the write it never ends: given up after 10 s
            await asyncio.wait_for(request.do_request(url, "POST", upload), 10)
    finally:
        await request.shutdown()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
    assert time.monotonic() - began < 5  # within the sum of its timeouts (2 s), with room for a slow machine


def test_a_file_gets_the_time_its_size_needs(tmp_path: Path) -> None:
    """An export of 50 MB (Telegram's limit for bots) may take 400 s to upload at 128 KiB/s; a
    small file or a chart gets a minute, as every other call."""
    export = tmp_path / "signatories.pdf"
    with export.open("wb") as file:
        file.truncate(50 * 1024 * 1024)  # sparse: nothing is written
    assert upload_time(SendDocument(1, export, "signatories.pdf")) == 400
    assert upload_time(SendPhoto(1, b"\x89PNG")) == UPLOAD_FLOOR == 60
