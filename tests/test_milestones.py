"""Milestones are announced once, however many workers cross them at the same moment.

The claim itself on SQLite and PostgreSQL (two ``Database`` objects racing, like two
worker processes), ``after_signing``'s choices, and the whole thing end to end: two
bot workers behind one webhook URL (a small round-robin proxy), sharing PostgreSQL
and Redis, while two people sign at once and cross a milestone.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from emulator import Emulator
from handlers import milestones
from handlers.i18n import I18n
from handlers.news import STOP_UPDATES, news_message
from handlers.turn import Services
from petition.campaign import load_campaign
from storage import broadcasts, signatures
from storage.db import Database
from storage.models import Broadcast, Delivery
from storage.state_memory import MemoryStateStore
from tests.fixtures.botapp import bot_factory, free_port
from tests.signers import add_signer, broadcasts_finished
from tests.test_signing_e2e import has, until, up_to_review_with_news

CAMPAIGN = "xinjiang"


async def add(db: Database, user_id: int, *, opt_in: bool = True, language: str = "en") -> None:
    await add_signer(db, user_id, campaign=CAMPAIGN, language=language, opt_in=opt_in)


async def milestone_rows(db: Database) -> list[tuple[int | None, str, int, int]]:
    """(milestone, status, total, deliveries) of every milestone broadcast."""
    async with db.session() as session:
        found = list(
            await session.scalars(select(Broadcast).where(Broadcast.kind == "milestone").order_by(Broadcast.milestone))
        )
        rows = []
        for broadcast in found:
            deliveries = len(
                list(await session.scalars(select(Delivery.id).where(Delivery.broadcast_id == broadcast.id)))
            )
            rows.append((broadcast.milestone, broadcast.status, broadcast.total, deliveries))
        return rows


async def test_two_workers_claiming_a_milestone_at_once_create_it_once(database_url: str) -> None:
    first, second = Database(database_url), Database(database_url)
    try:
        for user_id in range(100, 104):
            await add(first, user_id, opt_in=user_id != 103)
        claims = await asyncio.gather(
            *(broadcasts.claim_milestone(db, CAMPAIGN, 1000) for db in [first, second] * 5), return_exceptions=True
        )
        assert [c for c in claims if isinstance(c, BaseException)] == []
        won = [c for c in claims if isinstance(c, Broadcast)]
        assert len(won) == 1
        assert (won[0].kind, won[0].milestone, won[0].total, won[0].status) == ("milestone", 1000, 3, "sending")
        assert await milestone_rows(first) == [(1000, "sending", 3, 3)]
        assert await broadcasts.claim_milestone(second, CAMPAIGN, 1000) is None  # and later, too
        assert await broadcasts.claim_milestone(second, "another-campaign", 1000) is not None
    finally:
        await first.dispose()
        await second.dispose()


def services_for(db: Database, marks: tuple[int, ...]) -> Services:
    return Services(
        db=db,
        campaign=load_campaign(CAMPAIGN),
        i18n=I18n(),
        bot_username="undersign_bot",
        store=MemoryStateStore(),
        receipt_key=b"k" * 32,
        milestones=marks,
    )


async def test_only_the_highest_of_milestones_reached_together_is_announced(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for user_id in range(200, 204):
        await add(database, user_id)
    services = services_for(database, (2, 3, 10))
    await milestones.after_signing(services, services.campaign, 1)
    assert await milestone_rows(database) == []
    await milestones.after_signing(services, services.campaign, 4)  # 2 and 3 at once: 3 is announced, 2 only recorded
    assert await milestone_rows(database) == [(2, "done", 0, 0), (3, "sending", 4, 4)]
    await milestones.after_signing(services, services.campaign, 5)
    await milestones.after_signing(milestones_again := services_for(database, (2, 3, 10)), services.campaign, 4)
    assert milestones_again is not services
    assert await milestone_rows(database) == [(2, "done", 0, 0), (3, "sending", 4, 4)]
    await milestones.after_signing(services, services.campaign, 10)
    assert [row[0] for row in await milestone_rows(database)] == [2, 3, 10]
    assert caplog.text.count("milestone 3 reached") == 1
    assert caplog.text.count("milestone 10 reached") == 1


async def test_a_failure_never_reaches_the_signer(
    database: Database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("database went away")

    monkeypatch.setattr(broadcasts, "claim_milestone", broken)
    await milestones.after_signing(failing := services_for(database, (1,)), failing.campaign, 1)  # no exception
    assert caplog.text.count("claiming milestones at 1 signatures failed: ConnectionError") == 1


# --- end to end: two workers behind one webhook URL --------------------------------------------


@pytest.fixture
async def round_robin() -> AsyncIterator[tuple[str, list[str]]]:
    """A tiny webhook load balancer: each update goes to the next worker in turn.

    Yields its URL and the list to fill with the workers' webhook URLs.
    """
    targets: list[str] = []
    turn = itertools.count()
    client = aiohttp.ClientSession()

    async def forward(request: web.Request) -> web.Response:
        target = targets[next(turn) % len(targets)]
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith(("x-telegram", "content-type"))}
        async with client.post(target, data=await request.read(), headers=headers) as answer:
            return web.Response(status=answer.status, body=await answer.read(), content_type=answer.content_type)

    app = web.Application()
    app.router.add_post("/webhook", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/webhook", targets
    finally:
        await runner.cleanup()
        await client.close()


@pytest.mark.postgres
@pytest.mark.redis
async def test_a_milestone_crossed_on_two_workers_at_once_reaches_everyone_once(
    emulator: Emulator,
    tmp_path: Path,
    scratch_postgres_url: str,
    redis_url: str,
    state_prefix: str,
    round_robin: tuple[str, list[str]],
) -> None:
    proxy, targets = round_robin
    shared: dict[str, Any] = {
        "core": "real",
        "database_url": scratch_postgres_url,
        "redis_url": redis_url,
        "redis_prefix": state_prefix,
        "webhook_url": proxy,  # Telegram (the emulator) only knows the balancer
        "milestones": (3,),
    }
    async with bot_factory("aiogram", "webhook", emulator, tmp_path) as start:
        workers = [await start(**shared), await start(**shared)]
        targets.extend(f"{worker.webhook_base}/webhook" for worker in workers)
        db = Database(scratch_postgres_url)
        try:
            await add(db, 9100)  # signed earlier and asked for news
            early = emulator.user(9100, first_name="Early", language_code="en")
            early.started = True
            signers = [emulator.user(9200 + i, first_name=f"Signer{i}", language_code="en") for i in range(2)]
            await asyncio.gather(*(up_to_review_with_news(user) for user in signers))
            # Both confirm at the same moment: the updates go to different workers.
            await asyncio.gather(*(user.press(f"✅ Sign as {user.first_name}") for user in signers))
            for user in signers:
                await until(user, has("Thank you, Signer"))
            for user in [early, *signers]:
                news = await until(user, has("3 people have now signed the letter"), within=30)
                assert news.buttons[-1][0].callback_data == STOP_UPDATES
            await broadcasts_finished(scratch_postgres_url)  # a second announcement would be sent by now
            for user in [early, *signers]:
                assert sum("have now signed" in m.text for m in user.messages) == 1, user.id
            assert await milestone_rows(db) == [(3, "done", 3, 3)]
            assert await signatures.count_signatures(db, CAMPAIGN) == 3
        finally:
            await db.dispose()
    assert len({call.params.get("url") for call in emulator.calls_to("setWebhook")}) == 1
    assert emulator.rejected == []


def test_the_milestone_message_counts_in_the_reader_s_language() -> None:
    services = services_for(None, ())  # type: ignore[arg-type]  # rendering needs no database
    lower = Broadcast(campaign=CAMPAIGN, kind="milestone", milestone=10000, texts={})
    text, keyboard = news_message(services, lower, "en")
    assert "10,000 people have now signed the letter" in text
    share = keyboard[0][0].url or ""
    assert share.startswith("https://t.me/share/url?url=") and "undersign_bot%3Fstart%3Dnews" in share
    assert keyboard[-1][0].callback_data == STOP_UPDATES
    german, _ = news_message(services, lower, "de")
    assert "10.000" in german  # the number as German readers write it
    goal = Broadcast(campaign=CAMPAIGN, kind="milestone", milestone=services.campaign.goal, texts={})
    assert "We reached our goal: 100,000 people" in news_message(services, goal, "en")[0]
