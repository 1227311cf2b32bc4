"""A broadcast to 300 opted-in signers, sent by the real bot process through the emulator.

The bot runs as a separate process (``python -m bot run --mode polling``) with
``BROADCAST_RATE=200`` against an emulator enforcing the same limit (and one message
per second per chat). Telegram answers 429 three times, some people have blocked the
bot, and the process is stopped midway and started again:

- SIGTERM (graceful, SQLite and PostgreSQL): every recipient gets exactly one message
  in their language, nobody is skipped, nothing is uncertain;
- SIGKILL: nobody gets two; everyone else exactly one, except the few requests the
  killed process had made (at most its concurrency, 4), which are reported as
  uncertain (and got at most one); what it had only claimed is sent after the restart.

Always: blocked people are marked unreachable and got nothing, the emulator never had
to refuse a send for the rate, and the injected 429s were met and honoured.
"""

from __future__ import annotations

import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bench.broadcast import (
    FIRST_USER_ID,
    TOKEN,
    Signer,
    add_people,
    bot_env,
    broadcast_status,
    expire_lease,
    seed_signers,
    sent,
    start_bot,
    stop_bot,
    texts,
    wait_for,
)
from bot.broadcasting.sender import CONCURRENCY
from emulator import Emulator
from storage.broadcasts import BroadcastCounts, broadcast_counts, create_broadcast
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Delivery, Signature

RATE = 200.0  # BROADCAST_RATE, and the emulator's limit: the test is fast, the bot must still keep it
RECIPIENTS = 300
KILL_AFTER = 100  # messages delivered before the first process is stopped
INJECTED_429 = 3


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """The emulator with Telegram's limits at the bot's configured rate (not the suite's generous one)."""
    emu = Emulator(TOKEN, rate_limit=RATE, chat_rate_limit=1)
    await emu.start(host="127.0.0.1", port=0)
    try:
        yield emu
    finally:
        await emu.stop()


class Outcome:
    def __init__(self, signers: list[Signer], counts: BroadcastCounts, statuses: dict[int, str], log: str) -> None:
        self.signers = signers
        self.counts = counts
        self.statuses = statuses  # signature id -> delivery status
        self.log = log


async def _broadcast_with_restart(
    emulator: Emulator, database_url: str, tmp_path: Path, stop_signal: signal.Signals, runtime: str
) -> Outcome:
    db = Database(database_url, pool_size=2)
    log_path = tmp_path / "bot.log"
    try:
        signers = await seed_signers(db, RECIPIENTS)
        add_people(emulator, signers)
        broadcast = await create_broadcast(db, campaign="xinjiang", texts=texts())
        assert broadcast.total == RECIPIENTS
        emulator.fail_next("sendMessage", status=429, retry_after=1, times=INJECTED_429)
        env = bot_env(emulator, database_url, RATE, BOT_RUNTIME=runtime)
        with log_path.open("wb") as log:
            first = await start_bot(env, log)
            try:
                # Bounds for a stuck sender, not a speed test: 300 messages at 200/s take ~1.5 s alone,
                # several times that while the parallel suite's other workers share the 2 cores.
                await wait_for(lambda: sent(emulator) >= KILL_AFTER, 120, "the first messages", first)
            finally:
                code = await stop_bot(first, stop_signal)
            before = sent(emulator)
            assert before < RECIPIENTS - 100, "the first process was not stopped midway"
            if stop_signal == signal.SIGTERM:
                assert code == 0
            else:
                await expire_lease(db)  # what waiting out the lease's TTL would do
            second = await start_bot(env, log)
            try:
                await wait_for(
                    lambda: _finished(db, broadcast.id), 180, "the broadcast to finish after the restart", second
                )
            finally:
                assert await stop_bot(second) == 0
        counts = await broadcast_counts(db, broadcast.id)
        async with db.session() as session:
            rows = await session.execute(
                select(Delivery.signature_id, Delivery.status).where(Delivery.broadcast_id == broadcast.id)
            )
            statuses = {int(signature_id or 0): str(status) for signature_id, status in rows}
            unreachable = set(
                (await session.scalars(select(Signature.id).where(Signature.unreachable_at.is_not(None)))).all()
            )
    finally:
        await db.dispose()
    log_text = log_path.read_text(errors="replace")
    print(log_text[-4000:])  # shown when the test fails
    blocked = {s.signature_id for s in signers if s.blocked}
    marked = {sid for sid in blocked if statuses[sid] != "uncertain"}  # a killed process may not have recorded
    assert marked <= unreachable <= blocked
    _check_limits(emulator)
    return Outcome(signers, counts, statuses, log_text)


async def _finished(db: Database, broadcast_id: int) -> bool:
    return await broadcast_status(db, broadcast_id) == "done"


def _check_limits(emulator: Emulator) -> None:
    assert emulator.rate_violations == [], "the bot sent faster than Telegram allows"
    refused = [call for call in emulator.calls if call.error_code == 429]
    assert len(refused) == INJECTED_429 and len(emulator.faults) == 0, "the injected 429s were not all met"


def _received(emulator: Emulator, signer: Signer) -> list[str]:
    return [message.text for message in emulator.user(signer.user_id).messages]


def _no_personal_data(log: str) -> None:
    assert "Signer " not in log
    assert not re.search(rf"\b{FIRST_USER_ID // 1000}\d{{3}}\b", log), "a signer's Telegram id was logged"


def _check_exactly_once(emulator: Emulator, outcome: Outcome) -> None:
    wanted = texts()
    for signer in outcome.signers:
        received = _received(emulator, signer)
        if signer.blocked:
            assert received == [], signer
            assert outcome.statuses[signer.signature_id] == "blocked"
            continue
        assert len(received) == 1, (signer, received)
        assert wanted[signer.language] in received[0], (signer, received)
        assert all(other not in received[0] for lang, other in wanted.items() if lang != signer.language)
        assert outcome.statuses[signer.signature_id] == "sent"


# On PostgreSQL, where several processes share the broadcast (the crash below runs on SQLite).
# Both on python-telegram-bot, which loads in a second where aiogram takes several: the sender
# is shared, each runtime's one send is tests/test_broadcast_cli.py's (aiogram) and test_runtimes.py's.
@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_a_graceful_restart_midway_sends_everyone_exactly_one_message_in_their_language(
    emulator: Emulator, database_url: str, tmp_path: Path
) -> None:
    outcome = await _broadcast_with_restart(emulator, database_url, tmp_path, signal.SIGTERM, "ptb")
    _check_exactly_once(emulator, outcome)
    blocked = sum(1 for s in outcome.signers if s.blocked)
    assert outcome.counts == BroadcastCounts(total=RECIPIENTS, sent=RECIPIENTS - blocked, blocked=blocked)
    assert outcome.counts.finished == RECIPIENTS
    assert "SIGTERM received" in outcome.log
    _no_personal_data(outcome.log)


async def test_a_crash_midway_sends_nobody_two_messages_and_reports_the_uncertain(
    emulator: Emulator, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    await upgrade(url)
    outcome = await _broadcast_with_restart(emulator, url, tmp_path, signal.SIGKILL, "ptb")
    wanted = texts()
    uncertain = 0
    for signer in outcome.signers:
        received = _received(emulator, signer)
        status = outcome.statuses[signer.signature_id]
        assert len(received) <= 1, (signer, received)  # nobody gets a message twice
        if status == "uncertain":  # a request the killed process had made: maybe delivered, never repeated
            uncertain += 1
            continue
        if signer.blocked:
            assert (received, status) == ([], "blocked"), signer
            continue
        # Not uncertain: exactly one message, also those the killed process had only claimed.
        assert status == "sent" and len(received) == 1 and wanted[signer.language] in received[0], signer
    counts = outcome.counts
    assert counts.uncertain == uncertain
    assert counts.sent + counts.blocked + counts.uncertain == RECIPIENTS
    assert counts.pending == counts.failed == counts.skipped == 0
    assert uncertain <= CONCURRENCY, "more were uncertain than the requests the killed process had made"
    _no_personal_data(outcome.log)
