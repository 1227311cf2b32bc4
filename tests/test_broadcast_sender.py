"""The broadcast sender in-process: the lease, claiming, outcomes, pacing, cancel and stop.

The bot's real runtime (aiogram) talks to the emulator over HTTP; the database is
SQLite and PostgreSQL (``database`` fixture). The end-to-end run with a real bot
process, 2,000 recipients and a restart is ``tests/test_broadcast_sending.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bench.broadcast import TOKEN, Signer, add_people, seed_signers, texts
from bot.broadcasting.command_line import send_until_done
from bot.broadcasting.outcomes import Verdict, judge
from bot.broadcasting.pacing import ChatSpacing, SendWindow
from bot.broadcasting.sender import Broadcaster
from bot.runtimes import make_runtime
from bot.services import load_receipt_key, make_services
from bot.settings import load_settings
from emulator import Emulator
from handlers.replies import Delivered
from handlers.turn import Services
from storage import outbox
from storage.broadcasts import (
    BroadcastCounts,
    broadcast_counts,
    cancel_broadcast,
    create_broadcast,
    get_broadcast,
    sending,
    set_progress_message,
)
from storage.db import Database
from storage.models import Delivery, Lease, Signature, utcnow


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    emu = Emulator(TOKEN, rate_limit=50, chat_rate_limit=1)
    await emu.start(host="127.0.0.1", port=0)
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def runtime(emulator: Emulator) -> AsyncIterator[Any]:
    assert emulator.base_url is not None
    rt = make_runtime("aiogram", token=TOKEN, api_url=emulator.base_url, max_concurrent_updates=8)
    await rt.start()
    try:
        yield rt
    finally:
        await rt.close()


@pytest.fixture
async def services(database: Database, emulator: Emulator) -> Services:
    settings = load_settings(
        bot_token=TOKEN,
        telegram_api_url=emulator.base_url,
        database_url=database.url.render_as_string(hide_password=False),
        _env_file=None,
    )
    receipt_key = await load_receipt_key(settings, database)
    return make_services(settings, database, bot_username="undersign_bot", receipt_key=receipt_key)


async def _people(database: Database, emulator: Emulator, count: int) -> list[Signer]:
    signers = await seed_signers(database, count, blocked_every=None)
    add_people(emulator, signers)
    return signers


def _sender(services: Services, runtime: Any, **options: Any) -> Broadcaster:
    options.setdefault("rate", 50)
    options.setdefault("retry_delays", (0.05,))
    options.setdefault("lease_poll", 0.05)
    return Broadcaster(services, runtime, **options)


async def _until(condition: Any, within: float = 15.0) -> None:
    async with asyncio.timeout(within):
        while True:
            if await condition():
                return
            await asyncio.sleep(0.05)


async def _statuses(db: Database, broadcast_id: int) -> dict[int, str]:
    async with db.session() as session:
        rows = await session.execute(
            select(Delivery.signature_id, Delivery.status).where(Delivery.broadcast_id == broadcast_id)
        )
        return {int(sid or 0): str(status) for sid, status in rows}


# --- the lease and claiming (storage.outbox) ------------------------------------------------


async def test_one_sender_at_a_time_and_a_takeover_marks_only_the_dead_holders_requests_uncertain(
    database: Database, emulator: Emulator
) -> None:
    await _people(database, emulator, 5)
    broadcast = await create_broadcast(database, campaign="xinjiang", texts={"": "hi"})
    assert await outbox.acquire_lease(database, "a", 10) == 0
    assert await outbox.acquire_lease(database, "b", 10) is None
    assert await outbox.acquire_lease(database, "a", 10) == 0  # renewed
    claim = await outbox.claim(database, broadcast.id, "a", 3, 10)
    assert claim.held and [r.attempts for r in claim.recipients] == [1, 1, 1]
    assert (await outbox.claim(database, broadcast.id, "b", 2, 10)).held is False  # not b's lease
    # "a" hands one to Telegram, then dies with two more claimed but never sent.
    in_flight, *unsent = claim.recipients
    assert await outbox.begin_sending(database, in_flight.delivery_id)
    assert not await outbox.begin_sending(database, in_flight.delivery_id)  # once only
    # Its lease runs out; "b" takes over: what "a" never sent is pending again, and only
    # the request "a" had made is uncertain (never re-sent).
    later = utcnow() + timedelta(seconds=11)
    assert await outbox.acquire_lease(database, "b", 10, now=later) == 1
    assert (await outbox.claim(database, broadcast.id, "a", 2, 10, now=later)).held is False
    counts = await broadcast_counts(database, broadcast.id)
    assert (counts.uncertain, counts.pending) == (1, 4)
    assert not await outbox.begin_sending(database, unsent[0].delivery_id)  # "a" woke up: too late
    retaken = await outbox.claim(database, broadcast.id, "b", 10, 10, now=later)
    assert len(retaken.recipients) == 4 and {r.delivery_id for r in unsent} <= {
        r.delivery_id for r in retaken.recipients
    }
    assert all(r.attempts == 1 for r in retaken.recipients)  # never tried: not counted
    await outbox.unclaim(database, [r.delivery_id for r in retaken.recipients])
    # An answer that comes in after all is the truth.
    await outbox.record_sent(database, in_flight.delivery_id)
    assert (await broadcast_counts(database, broadcast.id)).uncertain == 0
    await outbox.release_lease(database, "b")
    assert await outbox.lease_holder(database) is None
    assert await outbox.acquire_lease(database, "a", 10) == 0  # free again: nothing left sending


async def test_opted_out_and_unreachable_signers_are_skipped_and_a_cancelled_broadcast_is_not_claimed(
    database: Database, emulator: Emulator
) -> None:
    signers = await _people(database, emulator, 4)
    broadcast = await create_broadcast(database, campaign="xinjiang", texts={"": "hi"})
    async with database.transaction() as session:
        await session.execute(update(Signature).where(Signature.id == signers[0].signature_id).values(opt_in=False))
        await session.execute(
            update(Signature).where(Signature.id == signers[1].signature_id).values(unreachable_at=utcnow())
        )
    assert await outbox.acquire_lease(database, "a", 10) == 0
    claim = await outbox.claim(database, broadcast.id, "a", 10, 10)
    assert claim.skipped == 2 and [r.signature_id for r in claim.recipients] == [s.signature_id for s in signers[2:]]
    await outbox.unclaim(database, [r.delivery_id for r in claim.recipients])
    assert await cancel_broadcast(database, broadcast.id) is not None
    assert await cancel_broadcast(database, broadcast.id) is None  # no longer sending
    claim = await outbox.claim(database, broadcast.id, "a", 10, 10)
    assert (claim.status, claim.recipients) == ("cancelled", [])
    counts = await broadcast_counts(database, broadcast.id)
    assert (counts.skipped, counts.cancelled, counts.pending) == (2, 2, 0)


async def test_cancel_stops_the_broadcast_being_sent_and_its_claims(database: Database, emulator: Emulator) -> None:
    await _people(database, emulator, 5)
    first = await create_broadcast(database, campaign="xinjiang", texts={"": "first"})
    second = await create_broadcast(database, campaign="xinjiang", texts={"": "second"})
    assert [b.id for b in await sending(database)] == [first.id, second.id]  # oldest first, as the sender sends
    assert await outbox.acquire_lease(database, "a", 10) == 0
    claim = await outbox.claim(database, first.id, "a", 2, 10)
    cancelled = await cancel_broadcast(database, first.id)
    assert cancelled is not None and cancelled.id == first.id
    # The sender's claims are cancelled too: it hands none of them to Telegram.
    assert [await outbox.begin_sending(database, r.delivery_id) for r in claim.recipients] == [False, False]
    assert await broadcast_counts(database, first.id) == BroadcastCounts(total=5, cancelled=5)
    assert await get_broadcast(database, second.id) is not None
    assert (await get_broadcast(database, second.id)).status == "sending"  # type: ignore[union-attr]


def test_the_send_window_holds_each_slot_a_second_after_the_answer() -> None:
    now = [0.0]
    window = SendWindow(2, margin=0.0, clock=lambda: now[0])
    window.begin()
    window.begin()
    assert window.delay() > 0  # both slots in flight
    now[0] = 0.3
    window.end()  # answered at 0.3: its slot is free again at 1.3
    assert window.delay() == pytest.approx(1.0)
    now[0] = 1.3
    assert window.delay() == 0.0


def test_one_chat_gets_one_message_at_a_time_a_second_apart() -> None:
    now = [0.0]
    chats = ChatSpacing(1.0, keep=1, clock=lambda: now[0])
    assert chats.delay(5) == 0.0  # never written to
    previous = chats.begin(5)
    assert chats.delay(5) > 0  # in flight: check again soon
    chats.cancel(5, previous)  # not sent after all
    assert chats.delay(5) == 0.0
    chats.begin(5)
    now[0] = 0.4
    chats.end(5)  # answered at 0.4: the next may start at 1.4
    assert chats.delay(5) == pytest.approx(1.0)
    assert chats.delay(6) == 0.0  # other chats are not held up
    now[0] = 1.4
    assert chats.delay(5) == pytest.approx(0.0)
    chats.begin(6)
    chats.end(6)  # beyond ``keep``: chat 5, whose second has passed, is forgotten
    assert chats.delay(5) == 0.0 and chats.delay(6) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("answer", "attempts", "verdict"),
    [
        (Delivered(message_id=7), 1, Verdict("sent")),
        (Delivered(ok=False, error="flood", extra={"retry_after": 12}), 3, Verdict("flood", "flood", 12.0)),
        (Delivered(ok=False, error="flood"), 1, Verdict("flood", "flood", 1.0)),  # Telegram did not say
        (Delivered(ok=False, error="blocked"), 1, Verdict("blocked", "blocked")),
        (Delivered(ok=False, error="network"), 1, Verdict("uncertain", "network")),  # never repeated
        (Delivered(ok=False, error="bad_request"), 1, Verdict("retry", "bad_request", 5.0)),
        (Delivered(ok=False, error="bad_request"), 2, Verdict("retry", "bad_request", 30.0)),
        (Delivered(ok=False, error="bad_request"), 3, Verdict("failed", "bad_request")),
        (Delivered(ok=False), 1, Verdict("retry", "other", 5.0)),
    ],
)
def test_each_answer_has_one_verdict(answer: Delivered, attempts: int, verdict: Verdict) -> None:
    """429 waits without counting an attempt, 403 and network errors are final, the rest retried."""
    assert judge(answer, attempts, max_attempts=3, retry_delays=(5.0, 30.0)) == verdict


# --- the sender ------------------------------------------------------------------------------


async def test_the_sender_honours_429_marks_blocked_retries_errors_and_shows_progress(
    database: Database, emulator: Emulator, runtime: Any, services: Services
) -> None:
    signers = await _people(database, emulator, 30)
    organiser = emulator.user(42, language_code="en")
    await organiser.send("/start")  # the organiser's chat, where the progress message lives
    progress = await runtime.send_once(_plain(42, "progress"))
    broadcast = await create_broadcast(
        database, campaign="xinjiang", texts=texts(), created_by=42, progress_locale="en"
    )
    from storage.broadcasts import set_progress_message

    await set_progress_message(database, broadcast.id, 42, progress.message_id)
    blocked, flaky, broken, lost = signers[3], signers[5], signers[7], signers[9]
    emulator.user(blocked.user_id).block()
    emulator.fail_next("sendMessage", status=429, retry_after=1, times=2)
    emulator.fail_next("sendMessage", status=400, description="injected", chat_id=flaky.user_id, times=1)
    emulator.fail_next("sendMessage", status=400, description="injected", chat_id=broken.user_id, times=5)
    emulator.fail_next("sendMessage", status=502, chat_id=lost.user_id, times=1)
    sender = _sender(services, runtime, rate=50, max_attempts=3)
    sender.start()
    try:
        await _until(lambda: _is(database, broadcast.id, "done"))
    finally:
        await sender.stop(5)
    statuses = await _statuses(database, broadcast.id)
    assert statuses[blocked.signature_id] == "blocked"
    assert statuses[flaky.signature_id] == "sent"  # retried after a 400
    assert statuses[broken.signature_id] == "failed"  # 3 attempts, then reported
    assert statuses[lost.signature_id] == "uncertain"  # a 5xx may have been delivered: not repeated
    counts = await broadcast_counts(database, broadcast.id)
    assert counts == BroadcastCounts(total=30, sent=27, blocked=1, failed=1, uncertain=1)
    for signer in signers:
        received = emulator.user(signer.user_id).messages
        expected = 0 if signer in (blocked, broken) else 1  # the 502 was not delivered, nor repeated
        assert len(received) == (0 if signer == lost else expected), signer
    async with database.session() as session:
        unreachable = (await session.scalars(select(Signature.id).where(Signature.unreachable_at.is_not(None)))).all()
    assert unreachable == [blocked.signature_id]
    assert emulator.rate_violations == []
    assert len([c for c in emulator.calls if c.error_code == 429]) == 2
    # The organiser's message was edited as it went, and shows the end.
    assert "Done" in organiser.messages[-1].text and "27" in organiser.messages[-1].text
    assert await outbox.lease_holder(database) is None  # released on stop


async def test_cancelling_stops_sending_at_once(
    database: Database, emulator: Emulator, runtime: Any, services: Services
) -> None:
    await _people(database, emulator, 120)
    broadcast = await create_broadcast(database, campaign="xinjiang", texts={"": "hi"})
    sender = _sender(services, runtime, rate=20)
    sender.batch = 40  # many claimed ahead: none of them may go out after the cancel
    sender.start()
    try:
        await _until(lambda: _sent_at_least(database, broadcast.id, 5))
        await cancel_broadcast(database, broadcast.id)
        at_cancel = _delivered(emulator)
        await _until(lambda: _no_open(database, broadcast.id))
        await asyncio.sleep(0.5)
    finally:
        await sender.stop(5)
    counts = await broadcast_counts(database, broadcast.id)
    assert counts.pending == 0 and counts.sent + counts.cancelled == 120 and counts.cancelled >= 90
    assert _delivered(emulator) - at_cancel <= sender.concurrency  # only the requests already made
    assert _delivered(emulator) == counts.sent


async def test_progress_edits_keep_the_429_pause_and_the_organiser_s_chat_spacing(
    database: Database, emulator: Emulator, runtime: Any, services: Services
) -> None:
    signers = await _people(database, emulator, 3)
    organiser = signers[0]  # who signed too and asked for news: their chat gets both
    progress = await runtime.send_once(_plain(organiser.user_id, "progress"))
    started = time.monotonic()
    broadcast = await create_broadcast(database, campaign="xinjiang", texts={"": "hi"}, progress_locale="en")
    await set_progress_message(database, broadcast.id, organiser.user_id, progress.message_id)
    emulator.fail_next("sendMessage", status=429, retry_after=1, times=1)
    sender = _sender(services, runtime, progress_every=0.05)  # it would edit all the time if it could
    sender.start()
    try:
        await _until(lambda: _is(database, broadcast.id, "done"))
    finally:
        await sender.stop(5)
    [refused] = [call for call in emulator.calls if call.error_code == 429]
    edits = emulator.calls_to("editMessageText")
    assert edits and "Done" in edits[-1].params["text"]
    assert [edit.at - refused.at for edit in edits if refused.at + 0.2 < edit.at < refused.at + 1.0] == []
    to_organiser = [
        call.at for call in emulator.calls if call.at > started and call.params.get("chat_id") == organiser.user_id
    ]
    assert len(to_organiser) >= 2  # the news and the edits
    assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(to_organiser))
    assert await broadcast_counts(database, broadcast.id) == BroadcastCounts(total=3, sent=3)


async def test_an_idle_sender_writes_nothing_and_lets_the_lease_go_when_done(
    database: Database, emulator: Emulator, runtime: Any, services: Services
) -> None:
    sender = _sender(services, runtime)
    sender.start()
    try:
        await asyncio.sleep(0.5)  # about ten polls
        assert await _leases(database) == []
        await _people(database, emulator, 3)
        broadcast = await create_broadcast(database, campaign="xinjiang", texts={"": "hi"})
        await _until(lambda: _is(database, broadcast.id, "done"))
        await _until(lambda: _no_lease(database))  # released once nothing is left to send
        await asyncio.sleep(0.3)
        assert await _leases(database) == []
    finally:
        await sender.stop(5)
    assert _delivered(emulator) == 3


async def test_a_graceful_stop_puts_unsent_claims_back_and_releases_the_lease(
    database: Database, emulator: Emulator, runtime: Any, services: Services
) -> None:
    await _people(database, emulator, 60)
    broadcast = await create_broadcast(database, campaign="xinjiang", texts={"": "hi"})
    sender = _sender(services, runtime, rate=20)
    sender.start()
    await _until(lambda: _sent_at_least(database, broadcast.id, 3))
    await sender.stop(5)
    statuses = await _statuses(database, broadcast.id)
    assert not {"claimed", "sending", "uncertain"} & set(statuses.values())
    assert list(statuses.values()).count("sent") == _delivered(emulator)
    async with database.session() as session:
        attempts = (await session.scalars(select(Delivery.attempts).where(Delivery.status == "pending"))).all()
    assert set(attempts) == {0}  # put back as never tried
    assert await outbox.lease_holder(database) is None


async def test_send_until_done_sends_and_reports_progress(database: Database, emulator: Emulator) -> None:
    signers = await _people(database, emulator, 12)
    broadcast = await create_broadcast(database, campaign="xinjiang", texts=texts())
    settings = load_settings(
        bot_token=TOKEN,
        telegram_api_url=emulator.base_url,
        database_url=database.url.render_as_string(hide_password=False),
        broadcast_rate=50,
        _env_file=None,
    )
    reports: list[BroadcastCounts] = []

    async def on_progress(counts: BroadcastCounts) -> None:
        reports.append(counts)

    counts = await send_until_done(settings, broadcast.id, on_progress)
    assert counts == BroadcastCounts(total=12, sent=12)
    assert reports and reports[0].total == 12
    assert all(len(emulator.user(s.user_id).messages) == 1 for s in signers)


async def test_send_until_done_only_watches_while_a_running_bot_holds_the_lease(
    database: Database, emulator: Emulator
) -> None:
    await _people(database, emulator, 3)
    broadcast = await create_broadcast(database, campaign="xinjiang", texts={"": "hi"})
    assert await outbox.acquire_lease(database, "running-bot", 60) == 0
    settings = load_settings(
        bot_token=TOKEN,
        telegram_api_url=emulator.base_url,
        database_url=database.url.render_as_string(hide_password=False),
        _env_file=None,
    )
    seen: list[int] = []

    def on_progress(counts: BroadcastCounts) -> None:
        seen.append(counts.sent)

    async def the_running_bot_finishes() -> None:
        await asyncio.sleep(1.5)
        async with database.transaction() as session:
            await session.execute(update(Delivery).values(status="sent", sent_at=utcnow()))
        await outbox.finish_if_done(database, broadcast.id)

    finishing = asyncio.create_task(the_running_bot_finishes())
    counts = await send_until_done(settings, broadcast.id, on_progress)
    await finishing
    assert counts.sent == 3 and seen[0] == 0
    assert _delivered(emulator) == 0  # it did not send itself
    assert await outbox.lease_holder(database) == "running-bot"


# --- helpers -----------------------------------------------------------------------------------


def _plain(chat_id: int, text: str) -> Any:
    from handlers.replies import SendMessage

    return SendMessage(chat_id, text)


def _delivered(emulator: Emulator) -> int:
    return sum(
        1 for call in emulator.calls if call.ok and call.method == "sendMessage" and call.params["chat_id"] != 42
    )


async def _is(db: Database, broadcast_id: int, status: str) -> bool:
    found = await get_broadcast(db, broadcast_id)
    return found is not None and found.status == status


async def _sent_at_least(db: Database, broadcast_id: int, n: int) -> bool:
    return (await broadcast_counts(db, broadcast_id)).sent >= n


async def _leases(db: Database) -> list[str]:
    async with db.session() as session:
        return list((await session.scalars(select(Lease.holder))).all())


async def _no_lease(db: Database) -> bool:
    return await _leases(db) == []


async def _no_open(db: Database, broadcast_id: int) -> bool:
    return (await broadcast_counts(db, broadcast_id)).pending == 0
