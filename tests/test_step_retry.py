"""A step is all or nothing, and one transient failure is tried again before anyone sees an
apology: the core on a real SQLite database, with a state store and a signature write that
fail on purpose, driven by the project's in-process simulated user."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from handlers.core import Core, build_services
from handlers.events import EventKind, User
from handlers.replies import AnswerCallback, Reply, SendMessage
from handlers.simulated_user import InProcessUser
from storage import signatures
from storage.db import Database
from storage.errors import StoreUnavailable
from storage.state_memory import MemoryStateStore

ADA = User(id=77, first_name="Ada", last_name="Lovelace", language_code="en")
SIGN = "confirm:full"  # the review's "✅ Sign as Ada Lovelace"


class FlakyStore(MemoryStateStore):
    """The in-memory store, whose next ``fail_saves`` saves fail as a Redis restart would."""

    fail_saves = 0

    async def save(self, key: str, data: dict[str, Any], ttl: int) -> None:
        if self.fail_saves:
            self.fail_saves -= 1
            raise StoreUnavailable("redis SET failed: ConnectionError")
        await super().save(key, data, ttl)


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


@pytest.fixture
def ada(core: Core) -> InProcessUser:
    return InProcessUser(core, ADA)


async def to_review(ada: InProcessUser) -> None:
    await ada.send("/start")
    for data in ("sign", "agree"):
        await ada.press(callback_data=data)
    await ada.send("Ada Lovelace")
    await ada.press(callback_data="cty:DE")


async def test_a_store_that_fails_once_is_tried_again_unnoticed(
    ada: InProcessUser, store: FlakyStore, caplog: pytest.LogCaptureFixture
) -> None:
    await ada.send("/start")
    caplog.clear()
    store.fail_saves = 1
    replies = await ada.press(callback_data="sign")
    assert "Before you sign" in shown(replies) and "Sorry" not in shown(replies)
    assert (await store.load(f"state:{ADA.id}") or {})["step"] == "consent"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "StoreUnavailable" in warnings[0] and warnings[0].endswith("trying once more")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_step_that_fails_twice_leaves_the_person_where_they_were(
    core: Core, ada: InProcessUser, db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await to_review(ada)
    real_add = signatures.add_signature
    calls = 0

    async def down(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        raise OperationalError("INSERT", {}, ConnectionRefusedError("the database is restarting"))

    monkeypatch.setattr(signatures, "add_signature", down)
    apology = await ada.press(callback_data=SIGN)
    assert calls == 2  # tried once more, then the apology
    assert "Sorry, something went wrong" in shown(apology)
    assert [r for r in apology if not isinstance(r, AnswerCallback)] == []  # no message changed: same buttons
    # Logged once, as a warning: a restart met twice is no bug, there is no traceback to read.
    failed = [r for r in caplog.records if "apologised" in r.getMessage()]
    assert [r.levelno for r in failed] == [logging.WARNING]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    state = await core.store.load(f"state:{ADA.id}")
    assert state is not None and state["step"] == "review" and state["name"] == "Ada Lovelace"

    monkeypatch.setattr(signatures, "add_signature", real_add)
    thanks = await ada.press(callback_data=SIGN)  # the same button again, once the database is back
    assert "Thank you, Ada Lovelace!" in "\n".join(getattr(r, "text", "") or "" for r in thanks)
    assert await signatures.get_signature(db, "xinjiang", ADA.id) is not None


async def test_a_failure_that_is_not_transient_is_not_tried_again(
    ada: InProcessUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    await to_review(ada)
    calls = 0

    async def broken(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        raise ValueError("a bug")

    monkeypatch.setattr(signatures, "add_signature", broken)
    assert "Sorry" in shown(await ada.press(callback_data=SIGN))
    assert calls == 1


async def test_a_step_whose_state_is_not_saved_at_first_is_not_run_again(
    core: Core, ada: InProcessUser, store: FlakyStore, db: Database
) -> None:
    """A withdrawal erased the row, then the state store failed once: only the saving is
    tried again, so the person hears that it was erased (not "nothing to withdraw")."""
    await to_review(ada)
    await ada.press(callback_data=SIGN)
    await ada.send("/withdraw")
    store.fail_saves = 1
    erased = await ada.press(callback_data="wdyes")
    assert "Your signature has been erased" in "\n".join(getattr(r, "text", "") or "" for r in erased)
    assert await signatures.get_signature(db, "xinjiang", ADA.id) is None
    assert (await store.load(f"state:{ADA.id}") or {})["step"] == "welcome"
    await core.flush_counts()
    assert (await signatures.funnel_counts(db, "xinjiang"))["withdrew"] == 1


async def test_an_update_left_half_way_is_handled_and_a_finished_one_is_not(ada: InProcessUser) -> None:
    """After kill -9 polling receives again what was not confirmed: an update never marked
    finished is handled; once finished, a second delivery is skipped."""
    event = ada.event(EventKind.COMMAND, text="/start", command="start")
    first = await ada.handle(event)
    assert "mass internment" in shown(first)
    assert await ada.handle(event) == []  # delivered again: it was finished
