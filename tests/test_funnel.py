"""The funnel counts are gathered in memory and written every few seconds: nothing is lost
between workers, on a failed write, or at shutdown."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest

from bot import app
from emulator import Emulator
from storage.db import Database
from storage.funnel import FunnelBuffer, FunnelKey
from storage.signatures import funnel_counts
from tests.fixtures.botapp import bot_factory

DAY = date(2026, 3, 1)


def key(step: str, language: str = "en", source: str = "") -> FunnelKey:
    return FunnelKey("xinjiang", DAY, step, language, source)


async def test_workers_flushing_at_once_lose_no_count(database: Database) -> None:
    workers = [FunnelBuffer() for _ in range(4)]
    for n, buffer in enumerate(workers):
        for _ in range(25):
            buffer.add(key("started"))
        buffer.add(key("signed", "de", "poster"), n + 1)
    await asyncio.gather(*(buffer.flush(database) for buffer in workers))
    await asyncio.gather(*(buffer.flush(database) for buffer in workers))  # nothing new: nothing added
    assert await funnel_counts(database, "xinjiang") == {"started": 100, "signed": 10}
    assert all(buffer.pending == 0 for buffer in workers)


async def test_a_failed_write_keeps_the_counts_for_the_next(database: Database, tmp_path: Path) -> None:
    buffer = FunnelBuffer()
    buffer.add(key("read"), 3)
    unreachable = Database(f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    try:
        with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the driver raises
            await buffer.flush(unreachable)
    finally:
        await unreachable.dispose()
    buffer.add(key("read"))
    assert buffer.pending == 4
    await buffer.flush(database)
    assert await funnel_counts(database, "xinjiang") == {"read": 4}


def test_a_key_that_does_not_fit_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="step"):
        FunnelBuffer().add(key("Signed!"))
    with pytest.raises(ValueError, match="source"):
        FunnelBuffer().add(key("signed", source="x" * 65))


async def test_the_bot_writes_the_last_counts_when_it_stops(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app, "FUNNEL_FLUSH_EVERY", 3600.0)  # only the stop writes them
    async with bot_factory("aiogram", "polling", emulator, tmp_path) as start:
        bot = await start(core="real")
        ada = emulator.user(4242, first_name="Ada", language_code="en")
        await ada.send("/start")
        await ada.wait_message(timeout=10)
        db = Database(bot.settings.database_url)
        try:
            await bot.core.settle(within=10)
            assert await funnel_counts(db, "xinjiang") == {}  # gathered in memory, not yet written
            await bot.app.stop()
            assert await funnel_counts(db, "xinjiang") == {"started": 1, "read": 1}  # /start shows the letter
        finally:
            await db.dispose()
