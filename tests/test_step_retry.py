"""A step is all or nothing, and one transient failure is tried again before anyone sees an
apology: the core on a real SQLite database, with a state store and a signature write that
fail on purpose."""

from __future__ import annotations

import itertools
import logging
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from handlers.core import Core, build_services
from handlers.events import Chat, Event, EventKind, User
from handlers.replies import AnswerCallback, Delivered, Reply, SendMessage
from storage import signatures
from storage.db import Database
from storage.errors import StoreUnavailable
from storage.state_memory import MemoryStateStore

ADA = User(id=77, first_name="Ada", last_name="Lovelace", language_code="en")
_ids = itertools.count(1)
SIGN = "confirm:full"  # the review's "Sign as Ada Lovelace": chooses the form and signs


class FlakyStore(MemoryStateStore):
    """The in-memory store, whose next ``fail_saves`` saves fail as a Redis restart would."""

    fail_saves = 0

    async def save(self, key: str, data: dict[str, Any], ttl: int) -> None:
        if self.fail_saves:
            self.fail_saves -= 1
            raise StoreUnavailable("redis SET failed: ConnectionError")
        await super().save(key, data, ttl)


async def say(core: Core, kind: EventKind, **fields: Any) -> list[Reply]:
    replies: list[Reply] = []

    async def deliver(reply: Reply) -> Delivered:
        replies.append(reply)
        return Delivered(message_id=len(replies))

    event = Event(update_id=next(_ids), kind=kind, chat=Chat(id=ADA.id, type="private"), user=ADA, **fields)
    await core.handle(event, deliver)
    return replies


async def press(core: Core, data: str) -> list[Reply]:
    return await say(core, EventKind.BUTTON, callback_data=data, callback_id=f"cb{next(_ids)}", message_id=1)


async def text(core: Core, words: str) -> list[Reply]:
    if words.startswith("/"):
        return await say(core, EventKind.COMMAND, text=words, command=words[1:])
    return await say(core, EventKind.TEXT, text=words)


def shown(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies if isinstance(r, SendMessage)) + "".join(
        r.text or "" for r in replies if isinstance(r, AnswerCallback)
    )


@pytest.fixture
def store() -> FlakyStore:
    return FlakyStore()


@pytest.fixture
def core(db: Database, store: FlakyStore) -> Core:
    services = build_services(
        store=store, db=db, campaign="xinjiang", default_locale="en", admin_ids=frozenset(), bot_username="b"
    )
    return Core(store=store, services=services, state_ttl=3600, retry_pause=0)


async def to_review(core: Core) -> None:
    for step in ("/start", "sign", "agree", "Ada Lovelace", "cty:DE"):
        await (text(core, step) if step.startswith("/") or " " in step else press(core, step))


async def test_a_store_that_fails_once_is_tried_again_unnoticed(
    core: Core, store: FlakyStore, caplog: pytest.LogCaptureFixture
) -> None:
    await text(core, "/start")
    caplog.clear()
    store.fail_saves = 1
    replies = await press(core, "sign")
    assert "Before you sign" in shown(replies) and "Sorry" not in shown(replies)
    assert (await store.load(f"state:{ADA.id}") or {})["step"] == "consent"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].endswith(": StoreUnavailable, trying once more")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_step_that_fails_twice_leaves_the_person_where_they_were(
    core: Core, db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await to_review(core)
    real_add = signatures.add_signature
    calls = 0

    async def down(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        raise OperationalError("INSERT", {}, ConnectionRefusedError("the database is restarting"))

    monkeypatch.setattr(signatures, "add_signature", down)
    apology = await press(core, SIGN)
    assert calls == 2  # tried once more, then the apology
    assert "Sorry, something went wrong" in shown(apology)
    assert [r for r in apology if not isinstance(r, AnswerCallback)] == []  # no message changed: same buttons
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1  # logged once
    state = await core.store.load(f"state:{ADA.id}")
    assert state is not None and state["step"] == "review" and state["name"] == "Ada Lovelace"

    monkeypatch.setattr(signatures, "add_signature", real_add)
    thanks = await press(core, SIGN)  # the same button again, once the database is back
    assert "Thank you, Ada Lovelace!" in "\n".join(getattr(r, "text", "") or "" for r in thanks)
    assert await signatures.get_signature(db, "xinjiang", ADA.id) is not None


async def test_a_failure_that_is_not_transient_is_not_tried_again(core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    await to_review(core)
    calls = 0

    async def broken(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        raise ValueError("a bug")

    monkeypatch.setattr(signatures, "add_signature", broken)
    assert "Sorry" in shown(await press(core, SIGN))
    assert calls == 1


async def test_an_update_a_killed_process_left_half_way_is_handled_and_a_finished_one_is_not(
    core: Core, store: FlakyStore
) -> None:
    """After kill -9 polling receives again what was not confirmed: one whose claim was made
    but whose replies were never finished is handled; one that was finished is skipped."""
    replies: list[Reply] = []

    async def deliver(reply: Reply) -> Delivered:
        replies.append(reply)
        return Delivered(message_id=len(replies))

    event = Event(
        update_id=next(_ids),
        kind=EventKind.COMMAND,
        chat=Chat(id=ADA.id, type="private"),
        user=ADA,
        text="/start",
        command="start",
    )
    assert await store.first_time(f"update:{event.update_id}", 3600)  # the killed process's claim
    await core.handle(event, deliver)
    assert "mass internment" in shown(replies)
    answered = len(replies)
    await core.handle(event, deliver)  # delivered again: it was finished this time
    assert len(replies) == answered
