"""The conversation core without any network: events in, replies out.

Runs on a real SQLite database and the in-memory state store, through
``handlers.simulated_user.InProcessUser`` (the driver ``i18n preview`` and ``i18n check``
use too, with the emulator's ``SimulatedUser`` vocabulary); the end-to-end tests through
the emulator cover the runtimes and the other backends.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.translations.preview import plain
from handlers import groups, organiser
from handlers.core import Core, build_core
from handlers.events import Chat, Event, EventKind, User
from handlers.i18n import Html, I18n
from handlers.replies import AnswerCallback, Delivered, EditMessage, Reply, SendDocument, SendMessage
from handlers.simulated_user import InProcessUser, new_update_id
from handlers.state import ConversationState
from handlers.turn import Turn
from petition.campaign import load_campaign
from petition.countries import country_name, likely_countries
from storage import broadcasts, receipts, signatures
from storage.db import Database
from storage.exports.export import ExportError, ExportResult, export_signatures
from storage.models import Signature
from storage.state_memory import MemoryStateStore
from tests.fixtures.clock import SetClock
from tests.signers import add_signer

ADA = User(id=42, first_name="Ada", last_name="Lovelace", language_code="en")


def texts(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies if isinstance(r, SendMessage | EditMessage))


def answers(replies: list[Reply]) -> list[AnswerCallback]:
    return [r for r in replies if isinstance(r, AnswerCallback)]


def make_core(db: Database, store: MemoryStateStore, **overrides: Any) -> Core:
    """The real core on ``db`` and ``store``; ``overrides`` are more of ``build_core``'s arguments."""
    arguments: dict[str, Any] = {
        "campaign": "xinjiang",
        "default_locale": "en",
        "admin_ids": frozenset(),
        "state_ttl": 3600,
        "bot_username": "undersign_bot",
    }
    return build_core(store=store, db=db, **{**arguments, **overrides})


@pytest.fixture
def core(db: Database, store: MemoryStateStore) -> Core:
    return make_core(db, store)


async def sign_up_to_review(ada: InProcessUser) -> None:
    """/start shows the letter; consent, "Sign as" the Telegram name, the country: the review."""
    await ada.send("/start")
    await ada.press(callback_data="sign")
    await ada.press(callback_data="agree")
    await ada.press(callback_data="asme")
    await ada.send("Germany")


async def sign(ada: InProcessUser) -> list[Reply]:
    """The review's "Sign as <full name>" button: chooses the form and signs."""
    return await ada.press(callback_data="confirm:full")


async def test_full_signature(core: Core, db: Database) -> None:
    ada = InProcessUser(core, ADA)
    letter = await ada.send("/start campaign_x")
    assert "mass internment" in texts(letter)
    assert "Dear President Xi Jinping" in texts(letter)
    assert "0 people have signed" in texts(letter)
    assert all(len(r.text) <= 4096 for r in letter if isinstance(r, SendMessage))
    assert ada.buttons() == ["sign", "langs"]

    consent = await ada.press(callback_data="sign")
    assert "Telegram user id" in texts(consent) and "/withdraw" in texts(consent)
    assert ada.buttons() == ["agree", "optin", "notnow"]
    toggled = await ada.press(callback_data="optin")
    assert "☑" in str(next(r for r in toggled if isinstance(r, EditMessage)).buttons)

    name_prompt = await ada.press(callback_data="agree")
    assert "Sign as Ada Lovelace" in str(name_prompt)
    await ada.press(callback_data="asme")
    review = await ada.send("deutschland")
    assert "Country: Germany" in texts(review)
    assert "✅ Sign as Ada Lovelace" in str(review)
    assert ada.buttons()[:3] == ["confirm:full", "confirm:first_initial", "confirm:initials"]

    thanks = await sign(ada)
    assert "Thank you, Ada Lovelace!" in texts(thanks)
    assert "1 person has signed" in texts(thanks)
    share = ada.buttons()[0]
    assert share.startswith("https://t.me/share/url?url=https%3A%2F%2Ft.me%2Fundersign_bot%3Fstart%3D")

    stored = await signatures.get_signature(db, "xinjiang", ADA.id)
    assert stored is not None
    assert (stored.name, stored.country, stored.language, stored.source, stored.opt_in) == (
        "Ada Lovelace",
        "DE",
        "en",
        "campaign_x",
        True,
    )
    assert len(stored.letter_version) == 12 and len(stored.consent_version) == 12


async def test_a_first_message_typed_instead_of_start_gets_the_letter(core: Core) -> None:
    ada = InProcessUser(core, ADA)
    letter = await ada.send("hello?")
    assert "Dear President Xi Jinping" in texts(letter) and ada.buttons() == ["sign", "langs"]
    assert "buttons under my last message" not in texts(letter)
    # Later, words where a button is expected are pointed to the buttons.
    assert "buttons under my last message" in texts(await ada.send("what now?"))
    # After "not now" there is no button to point to: the letter again.
    await ada.press(callback_data="sign")
    await ada.press(callback_data="notnow")
    assert "Dear President Xi Jinping" in texts(await ada.send("ok, I am back"))


async def test_double_confirm_is_one_signature(core: Core, db: Database) -> None:
    ada = InProcessUser(core, ADA)
    await sign_up_to_review(ada)
    first, second = await asyncio.gather(sign(ada), sign(ada))
    assert await signatures.count_signatures(db, "xinjiang") == 1
    assert texts(first + second).count("Thank you, Ada Lovelace!") == 1
    assert len(answers(first)) == 1 and len(answers(second)) == 1  # both spinners stopped


async def test_typed_name_is_validated_kindly(core: Core) -> None:
    ada = InProcessUser(core, ADA)
    await ada.send("/start")
    await ada.press(callback_data="sign")
    await ada.press(callback_data="agree")
    assert "longer than 100" in texts(await ada.send("x" * 10_000))
    assert "at least one letter" in texts(await ada.send("12345"))
    assert "link" in texts(await ada.send("visit https://spam.example"))
    assert "invisible" in texts(await ada.send("Ada\u202eecalevol"))
    assert "Which country" in texts(await ada.send("  مریم  <b>Rahimi</b> "))
    review = await ada.send("Deutschland")
    assert "addressees see your name" in texts(review)
    assert "✅ Sign as مریم <b>Rahimi</b>" in str(review)  # a button's label is plain text, never markup
    thanks = await sign(ada)
    assert "&lt;b&gt;Rahimi&lt;/b&gt;" in texts(thanks) and "<b>Rahimi" not in texts(thanks)  # escaped


async def test_country_search_pick_list_and_not_found(core: Core) -> None:
    ada = InProcessUser(core, ADA)
    await ada.send("/start")
    await ada.press(callback_data="sign")
    await ada.press(callback_data="agree")
    await ada.send("Ada")
    assert "could not find" in texts(await ada.send("Atlantis"))
    picks = await ada.send("united")
    assert "Which one do you mean?" in texts(picks)
    assert {"cty:GB", "cty:US", "cty:AE"} <= set(ada.buttons())
    review = await ada.press(callback_data="cty:GB")
    assert "United Kingdom" in texts(review)


async def test_withdraw_erases(core: Core, db: Database) -> None:
    ada = InProcessUser(core, ADA)
    await sign_up_to_review(ada)
    await sign(ada)
    shown = await ada.send("/mysignature")
    assert "Ada Lovelace" in texts(shown) and "Germany" in texts(shown)
    # Stored, said so, never printed: a screenshot would carry it. (As a number of its own: the
    # random receipt code, "1D42-4DPW" say, may hold the same digits.)
    assert not re.search(rf"(?<![0-9A-Za-z-]){ADA.id}(?![0-9A-Za-z-])", texts(shown))
    await ada.send("/withdraw")
    assert ada.buttons() == ["wdyes", "wdno"]
    erased = await ada.press(callback_data="wdyes")
    assert "erased" in texts(erased)
    assert await signatures.get_signature(db, "xinjiang", ADA.id) is None
    assert "not signed" in texts(await ada.send("/mysignature"))
    assert await signatures.funnel_counts(db, "xinjiang") == {}  # gathered in memory, written every few seconds
    await core.flush_counts()
    counts = await signatures.funnel_counts(db, "xinjiang")
    assert counts == {"started": 1, "read": 1, "consented": 1, "signed": 1, "withdrew": 1}


async def test_signing_twice_is_answered_with_the_date(core: Core) -> None:
    ada = InProcessUser(core, ADA)
    await sign_up_to_review(ada)
    await sign(ada)
    again = await ada.send("/start")
    assert "You signed this letter on" in texts(again)


async def test_every_other_input_has_an_answer(core: Core) -> None:
    ada = InProcessUser(core, ADA)
    assert "don't know that command" in texts(await ada.send("/nonsense"))
    assert "only read text" in texts(await ada.send_other("sticker"))
    assert "not edits" in texts(await ada.edit_last("x"))
    assert "Dear President" in texts(await ada.send("hello"))  # nothing shown yet: the letter
    assert "buttons" in texts(await ada.send("hello"))
    stale = await ada.press(callback_data="confirm")
    assert answers(stale) and answers(stale)[0].show_alert
    forwarded = await ada.forward("hi")
    assert "forwarded" in texts(forwarded)
    assert "/withdraw" in texts(await ada.send("/help"))
    assert "Privacy notice" in texts(await ada.send("/privacy"))


async def test_in_a_group_only_verify_and_commands_addressed_to_the_bot_are_answered(
    core: Core, store: MemoryStateStore
) -> None:
    ada = InProcessUser(core, ADA, chat=Chat(id=-100, type="supergroup"))
    assert await ada.send("/start") == []  # maybe meant for another bot in the group
    assert await ada.send("/stats") == []
    assert await ada.send("just chatting") == []
    assert await ada.send_other("sticker") == []
    assert await ada.edit_last("/start") == []
    forwarded = ada.event(EventKind.COMMAND, text="/verify K7QF2M9D", command="verify", args="K7QF2M9D", forwarded=True)
    assert await ada.handle(forwarded) == []
    pressed = await ada.press(callback_data="sign")  # a button on an old message: answered, without a word
    assert pressed == [AnswerCallback(pressed[0].callback_id, None)]  # type: ignore[union-attr]

    addressed = ada.event(EventKind.COMMAND, text="/start@undersign_bot", command="start", addressed=True)
    replies = await ada.handle(addressed)
    assert "private chat" in texts(replies)
    assert ada.buttons() == ["https://t.me/undersign_bot?start=group"]
    assert "/verify followed by its receipt code" in texts(await ada.send("/verify"))
    assert await store.load(f"state:{ADA.id}") is None  # nothing kept about anyone in a group


async def test_a_group_gets_a_few_answers_a_minute_at_most(core: Core) -> None:
    members = [
        InProcessUser(core, User(id=500 + n, first_name="M"), chat=Chat(id=-200, type="group")) for n in range(6)
    ]
    answered = 0
    for n in range(30):
        member = members[n % len(members)]
        if n % 2:
            event = member.event(EventKind.COMMAND, text="/help@UnderSign_Bot", command="help", addressed=True)
        else:
            event = member.event(EventKind.COMMAND, text="/verify", command="verify")
        answered += bool(await member.handle(event))
    assert answered == groups.PER_MINUTE
    other = InProcessUser(core, User(id=600, first_name="O"), chat=Chat(id=-201, type="group"))
    assert await other.send("/verify")  # another group has its own allowance


async def test_an_update_that_is_nobody_s_gets_no_state_no_power_and_no_answer(
    organiser_core: Core, store: MemoryStateStore, exports_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    replies: list[Reply] = []

    async def deliver(reply: Reply) -> Delivered:
        replies.append(reply)
        return Delivered(message_id=1)

    admin_chat = Chat(id=ORGANISER.id, type="private")
    for command in ("stats", "export", "broadcast", "start"):  # no "from", in the organiser's own chat
        event = Event(update_id=new_update_id(), kind=EventKind.COMMAND, chat=admin_chat, user=None, command=command)
        await organiser_core.handle(event, deliver)
    someone = Chat(id=4242, type="private")  # "from" an organiser, in someone else's private chat
    for command in ("stats", "export", "broadcast", "cancel", "start"):
        event = Event(update_id=new_update_id(), kind=EventKind.COMMAND, chat=someone, user=ORGANISER, command=command)
        await organiser_core.handle(event, deliver)
    await organiser_core.handle(
        Event(update_id=new_update_id(), kind=EventKind.TEXT, chat=someone, user=ORGANISER, text="a draft"), deliver
    )
    assert replies == []
    button = Event(
        update_id=new_update_id(),
        kind=EventKind.BUTTON,
        chat=someone,
        user=ORGANISER,
        callback_data="bcsend:0",
        callback_id="cb-forged",
        message_id=1,
    )
    await organiser_core.handle(button, deliver)
    assert replies == [AnswerCallback("cb-forged", None)]  # the button answered, empty; nothing else
    await organiser_core.settle(within=5)
    for key in (f"state:{ORGANISER.id}", f"state:{someone.id}"):
        assert await store.load(key) is None
    assert "admin 77" not in caplog.text  # no organiser action was taken
    assert leftovers(exports_root) == []


async def test_the_organiser_guard_wants_the_organiser_in_their_own_private_chat(organiser_core: Core) -> None:
    def guard(chat: Chat, user: User | None) -> bool:
        event = Event(update_id=1, kind=EventKind.COMMAND, chat=chat, user=user, command="stats")
        turn = Turn(event=event, state=ConversationState(), services=organiser_core.services)
        return organiser.is_admin(turn)

    assert guard(Chat(ORGANISER.id, "private"), ORGANISER)
    assert not guard(Chat(ORGANISER.id, "private"), None)
    assert not guard(Chat(4242, "private"), ORGANISER)
    assert not guard(Chat(-100, "supergroup"), ORGANISER)
    assert not guard(Chat(ORGANISER.id, "group"), ORGANISER)
    assert not guard(Chat(ADA.id, "private"), ADA)


async def test_restart_mid_conversation_continues(db: Database, store: MemoryStateStore) -> None:
    ada = InProcessUser(make_core(db, store), ADA)
    await ada.send("/start")
    await ada.press(callback_data="sign")
    await ada.press(callback_data="agree")
    await ada.send("Ada")
    ada.core = make_core(db, store)  # the bot process restarted; the state store kept the state
    review = await ada.send("France")
    assert "Country: France" in texts(review) and "✅ Sign as Ada" in str(review)


async def test_duplicate_update_is_handled_once(core: Core) -> None:
    ada = InProcessUser(core, ADA)
    event = ada.event(EventKind.COMMAND, text="/start", command="start")
    assert await ada.handle(event)
    assert await ada.handle(event) == []


async def test_a_failing_database_gets_a_kind_apology(core: Core, db: Database) -> None:
    ada = InProcessUser(core, ADA)
    async with db.transaction() as session:
        await session.execute(text("DROP TABLE stat_counts"))  # what the total under the letter is read from
    replies = await ada.press(callback_data="read")
    assert answers(replies) and "something went wrong" in (answers(replies)[0].text or "")


# --- organiser exports: failures, one at a time, cleanup --------------------------------

ORGANISER = User(id=77, first_name="Org", language_code="en")
CO_ORGANISER = User(id=78, first_name="Co", language_code="en")
EXPORT_FAILED = "The export failed. Nothing was sent; the reason is in the bot's log."


@pytest.fixture
def exports_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "exports"
    monkeypatch.setattr(organiser, "EXPORTS_ROOT", root)
    return root


@pytest.fixture
def organiser_core(db: Database, store: MemoryStateStore, exports_root: Path) -> Core:
    return make_core(db, store, admin_ids=frozenset({ORGANISER.id, CO_ORGANISER.id}))


def leftovers(root: Path) -> list[Path]:
    return sorted(root.iterdir()) if root.exists() else []


@pytest.mark.parametrize(
    ("error", "logged", "not_logged"),
    [
        (ExportError("the export read 3 rows but counted 4: nothing was sent"), "read 3 rows but counted 4", None),
        (RuntimeError("row of Ada Lovelace cannot be encoded"), "/export csv failed: RuntimeError", "Ada"),
    ],
)
async def test_a_failed_export_tells_the_organiser_and_logs_its_reason_without_names(
    organiser_core: Core,
    exports_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    logged: str,
    not_logged: str | None,
) -> None:
    caplog.set_level(logging.INFO)

    async def failing(db: Database, campaign: object, fmt: str, directory: Path, **kwargs: object) -> ExportResult:
        (directory / "partial.csv").write_text("Ada Lovelace\r\n")
        raise error

    monkeypatch.setattr(organiser, "export_signatures", failing)
    org = InProcessUser(organiser_core, ORGANISER)
    replies = await org.send("/export")
    await organiser_core.settle()
    assert texts(replies).startswith("Exporting…")
    assert isinstance(replies[-1], EditMessage) and replies[-1].text == EXPORT_FAILED
    assert not any(isinstance(r, SendDocument) for r in replies)
    assert logged in caplog.text  # "the reason is in the bot's log"
    if not_logged:
        assert not_logged not in caplog.text  # other exceptions' messages may quote names: type only
    assert leftovers(exports_root) == []


async def test_a_refused_upload_is_a_failure_not_export_ready(
    organiser_core: Core, db: Database, exports_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await add_signer(db, 9000, name="Ada Lovelace")
    sent: list[Reply] = []

    async def deliver(reply: Reply) -> Delivered:
        sent.append(reply)
        if isinstance(reply, SendDocument):
            assert reply.path.exists()
            return Delivered(ok=False, error="bad_request")
        return Delivered(message_id=len(sent))

    await organiser_core.handle(
        Event(
            update_id=new_update_id(),
            kind=EventKind.COMMAND,
            chat=Chat(id=ORGANISER.id, type="private"),
            user=ORGANISER,
            text="/export",
            command="export",
        ),
        deliver,
    )
    await organiser_core.settle()
    assert [type(r).__name__ for r in sent] == ["SendMessage", "SendDocument", "EditMessage"]
    assert isinstance(sent[-1], EditMessage) and sent[-1].text == EXPORT_FAILED
    assert "Export ready" not in texts(sent)
    assert "not delivered: sendDocument failed (bad_request)" in caplog.text
    assert "Ada" not in caplog.text
    assert leftovers(exports_root) == []


async def test_one_export_at_a_time(organiser_core: Core, exports_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_export = export_signatures
    release, running = asyncio.Event(), asyncio.Event()

    async def slow(*args: Any, **kwargs: Any) -> ExportResult:
        running.set()
        await release.wait()
        return await real_export(*args, **kwargs)

    monkeypatch.setattr(organiser, "export_signatures", slow)
    busy = "Another export is still running. Please try again when it has finished."
    org, co = InProcessUser(organiser_core, ORGANISER), InProcessUser(organiser_core, CO_ORGANISER)

    await org.send("/export pdf")
    await asyncio.wait_for(running.wait(), 5)
    assert texts(await co.send("/export")) == busy  # answered at once, nothing started
    assert texts(await org.send("/export xlsx")) == busy
    release.set()
    await organiser_core.settle()
    assert [r.filename for r in org.replies + co.replies if isinstance(r, SendDocument)] == [
        next(r.filename for r in org.replies if isinstance(r, SendDocument))
    ]

    # Both asked at the same moment: both commands pass, but only one export runs.
    release.clear()
    running.clear()
    before = len(org.replies), len(co.replies)
    await asyncio.gather(org.send("/export"), co.send("/export"))
    await asyncio.wait_for(running.wait(), 5)
    release.set()
    await organiser_core.settle()
    new = org.replies[before[0] :] + co.replies[before[1] :]
    assert sum(isinstance(r, SendDocument) for r in new) == 1
    assert texts(new).count(busy) == 1
    assert leftovers(exports_root) == []


async def test_settle_waits_for_the_update_being_handled_and_its_follow_ups(
    organiser_core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = InProcessUser(organiser_core, ORGANISER)
    handling = asyncio.create_task(org.send("/export"))
    await asyncio.sleep(0)  # the update is being handled; its export is not started yet
    await organiser_core.settle()
    assert handling.done()
    assert any(isinstance(r, SendDocument) for r in org.replies)


async def test_settle_with_cancel_stops_an_export_and_deletes_its_file(
    organiser_core: Core, exports_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_export = export_signatures
    writing = asyncio.Event()

    async def never_ending(*args: Any, progress: Any, **kwargs: Any) -> ExportResult:
        async def stuck(done: int, total: int) -> None:
            writing.set()
            await asyncio.Event().wait()

        return await real_export(*args, progress=stuck, **kwargs)

    monkeypatch.setattr(organiser, "export_signatures", never_ending)
    org = InProcessUser(organiser_core, ORGANISER)
    await org.send("/export xlsx")
    await asyncio.wait_for(writing.wait(), 5)
    assert leftovers(exports_root)
    await organiser_core.settle(within=0.1, cancel=True)
    assert leftovers(exports_root) == []
    assert texts(org.replies).endswith(EXPORT_FAILED)
    # and the next export is not refused: the cancelled one let go of its turn
    monkeypatch.setattr(organiser, "export_signatures", real_export)
    await org.send("/export")
    await organiser_core.settle()
    assert any(isinstance(r, SendDocument) for r in org.replies)


# --- after the signature: receipt, what was agreed to, news, retention, removal ---------------


async def signed_ada(core: Core, db: Database, *, opt_in: bool = False) -> tuple[InProcessUser, Signature]:
    ada = InProcessUser(core, ADA)
    await ada.send("/start")
    await ada.press(callback_data="sign")
    if opt_in:
        await ada.press(callback_data="optin")
    await ada.press(callback_data="agree")
    await ada.press(callback_data="asme")
    await ada.send("Germany")
    thanks = await sign(ada)
    stored = await signatures.get_signature(db, "xinjiang", ADA.id)
    assert stored is not None and stored.receipt is not None
    assert f"Your receipt: <code>{receipts.display(stored.receipt)}</code>." in texts(thanks)
    return ada, stored


async def test_the_receipt_and_the_versions_agreed_to_are_shown(core: Core, db: Database) -> None:
    ada, stored = await signed_ada(core, db)
    assert stored.receipt is not None
    code = f"<code>{receipts.display(stored.receipt)}</code>"
    shown = texts(await ada.send("/mysignature"))
    assert "Name, as the addressees see it: Ada Lovelace\nShown as: full name" in shown
    assert f"You signed the letter in English, version {stored.letter_version[:6]}…, on " in shown
    assert f"version {stored.consent_version[:6]}…" in shown
    assert f"Your receipt: {code}. With /verify {code}" in shown
    assert "/updates" in shown
    again = texts(await ada.send("/start"))  # the already-signed answer repeats the receipt
    assert "You signed this letter on" in again and code in again


async def test_my_signature_names_the_language_in_the_reader_s_language(core: Core, db: Database) -> None:
    await add_signer(db, ADA.id, name="Ada", country="KZ", language="ug", letter_version="3f9a2b7c1d0e")
    shown = texts(await InProcessUser(core, ADA).send("/mysignature"))
    assert "You signed the letter in Uyghur, version 3f9a2b…, on " in shown
    assert "Consent text you agreed to: version c1\n" in shown  # short versions are shown whole


async def test_updates_are_turned_off_and_on(core: Core, db: Database) -> None:
    ada = InProcessUser(core, ADA)
    assert "you have not signed it" in texts(await ada.send("/updates"))
    refused = await ada.press(callback_data="updates:on")
    assert "you have not signed it" in (answers(refused)[0].text or "")
    ada, _ = await signed_ada(core, db, opt_in=True)
    assert "You get news" in texts(await ada.send("/updates"))
    assert ada.buttons() == ["updates:off"]
    off = await ada.press(callback_data="updates:off")
    assert answers(off)[0].text == "You will not get news about this campaign."
    assert "You do not get news" in texts(off) and isinstance(off[-1], EditMessage)
    assert ada.buttons() == ["updates:on"]
    stored = await signatures.get_signature(db, "xinjiang", ADA.id)
    assert stored is not None and stored.opt_in is False
    await ada.press(callback_data="updates:on")
    stored = await signatures.get_signature(db, "xinjiang", ADA.id)
    assert stored is not None and stored.opt_in is True
    assert "News about this campaign: yes" in texts(await ada.send("/mysignature"))


async def test_stop_updates_works_at_any_step_from_any_message(core: Core, db: Database) -> None:
    ada, _ = await signed_ada(core, db, opt_in=True)
    await ada.send("/withdraw")  # in the middle of another question: the button still works
    stopped = await ada.press(callback_data="stopnews", message_id=3)
    assert answers(stopped)[0].text == "Done: you will get no more updates."
    assert "/updates turns them back on" in texts(stopped)
    stored = await signatures.get_signature(db, "xinjiang", ADA.id)
    assert stored is not None and stored.opt_in is False
    again = await ada.press(callback_data="stopnews", message_id=3)
    assert "already stopped" in (answers(again)[0].text or "") and texts(again) == ""
    await ada.press(callback_data="wdyes")
    gone = await ada.press(callback_data="stopnews", message_id=3)
    assert "not on the list of signers" in (answers(gone)[0].text or "")


async def test_start_makes_a_signer_who_blocked_the_bot_reachable_again(core: Core, db: Database) -> None:
    ada, _ = await signed_ada(core, db, opt_in=True)
    async with db.transaction() as session:
        await session.execute(text("UPDATE signatures SET unreachable_at = CURRENT_TIMESTAMP"))
    await ada.send("/start")
    stored_again = await signatures.get_signature(db, "xinjiang", ADA.id)
    assert stored_again is not None and stored_again.unreachable_at is None


async def test_updates_makes_a_signer_who_blocked_the_bot_reachable_again(core: Core, db: Database) -> None:
    ada, _ = await signed_ada(core, db, opt_in=True)
    async with db.transaction() as session:
        await session.execute(text("UPDATE signatures SET unreachable_at = CURRENT_TIMESTAMP"))
    assert "You get news" in texts(await ada.send("/updates"))
    stored = await signatures.get_signature(db, "xinjiang", ADA.id)
    assert stored is not None and stored.unreachable_at is None
    async with db.transaction() as session:
        await session.execute(text("UPDATE signatures SET unreachable_at = CURRENT_TIMESTAMP"))
    await ada.press(callback_data="updates:on")  # news already on: the tap still says they are back
    stored = await signatures.get_signature(db, "xinjiang", ADA.id)
    assert stored is not None and stored.opt_in is True and stored.unreachable_at is None


async def test_a_milestone_is_claimed_after_the_thank_you_outside_the_signer_s_lock(
    db: Database, store: MemoryStateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claiming a milestone snapshots every opted-in signer (seconds at 100k): the thank-you
    must not wait for it, nor the signer's next tap."""
    release = asyncio.Event()
    claimed: list[int] = []

    async def slow_claim(db: Database, campaign: str, milestone: int, **kwargs: Any) -> None:
        await release.wait()
        claimed.append(milestone)

    monkeypatch.setattr(broadcasts, "claim_milestone", slow_claim)
    core = make_core(db, store, milestones=(1,))
    ada = InProcessUser(core, ADA)
    await sign_up_to_review(ada)
    thanks = await asyncio.wait_for(sign(ada), timeout=5)
    assert "Thank you, Ada Lovelace!" in texts(thanks)
    shown = await asyncio.wait_for(ada.send("/mysignature"), timeout=5)  # the lock is free
    assert "everything we store" in texts(shown)
    assert claimed == []
    release.set()
    await core.settle(within=5)
    assert claimed == [1]


async def test_a_name_or_country_typed_after_the_campaign_closed_is_not_kept(
    db: Database, store: MemoryStateStore
) -> None:
    end = date(2026, 3, 1)
    clock = SetClock(end)
    core = make_core(db, store, campaign_end=end, clock=clock)
    ada, bo = InProcessUser(core, ADA), InProcessUser(core, User(id=43, first_name="Bo", language_code="en"))
    for person in (ada, bo):
        await person.send("/start")
        await person.press(callback_data="sign")
        await person.press(callback_data="agree")
    await bo.press(callback_data="asme")  # Bo is asked for the country
    clock.today = date(2026, 3, 2)
    for person, typed in ((ada, "Ada Late"), (bo, "Germany")):
        shown = texts(await person.send(typed))
        assert shown.startswith("This petition closed on March 1, 2026."), shown
        state = await store.load(f"state:{person.user.id}")
        assert state is not None and state["name"] is None and state["country"] is None
        assert state["step"] == "reading"
    assert await signatures.count_signatures(db, "xinjiang") == 0


@pytest.mark.parametrize(
    ("end", "expected"),
    [
        (
            date(2026, 12, 31),
            "Your signature and name are kept until June 29, 2027, 180 days after the campaign ends on "
            "December 31, 2026, then erased; only anonymous counts remain.",
        ),
        (None, "Your signature and name are kept until 180 days after the campaign ends, then erased;"),
    ],
)
async def test_the_privacy_notice_says_when_personal_data_is_erased(
    db: Database, store: MemoryStateStore, end: date | None, expected: str
) -> None:
    core = make_core(db, store, campaign_end=end)
    assert expected in texts(await InProcessUser(core, ADA).send("/privacy"))


async def test_help_lists_verify_and_updates(core: Core) -> None:
    shown = texts(await InProcessUser(core, ADA).send("/help"))
    assert "/verify — " in shown and "/updates — " in shown
    menu = core.menu_commands()[None]
    assert {"verify", "updates"} <= {command for command, _ in menu}
    assert "remove" not in {command for command, _ in menu}
    assert "remove" in {command for command, _ in core.admin_menu_commands()[None]}


async def test_an_organiser_s_help_lists_their_commands_too(organiser_core: Core) -> None:
    mine = texts(await InProcessUser(organiser_core, ORGANISER).send("/help"))
    assert "/verify — " in mine
    assert all(f"/{command} — " in mine for command in ("stats", "export", "broadcast", "remove"))
    in_a_group = Chat(id=-100, type="group")  # organisers are organisers only in their own chat
    everyone = texts(await InProcessUser(organiser_core, ADA).send("/help"))
    grouped = texts(await InProcessUser(organiser_core, ORGANISER, in_a_group).send("/help@undersign_bot"))
    assert "/verify — " in everyone and "/stats" not in everyone and "/remove" not in everyone
    assert "/stats" not in grouped and "/remove" not in grouped  # a group gets the pointer to a private chat


async def test_remove_is_an_unknown_command_to_everyone_but_organisers(core: Core, db: Database) -> None:
    _, stored = await signed_ada(core, db)
    bo = InProcessUser(core, User(id=43, first_name="Bo", language_code="en"))
    unknown = texts(await bo.send("/nonsense"))
    assert texts(await bo.send(f"/remove {stored.receipt}")) == unknown
    assert texts(await bo.send("/remove")) == unknown
    pressed = await bo.press(callback_data=f"rm:{stored.receipt}")  # a crafted press acts on nothing
    assert answers(pressed) and texts(pressed) == ""
    assert await signatures.get_signature(db, "xinjiang", ADA.id) is not None


async def test_an_organiser_removes_a_signature_by_its_receipt(
    organiser_core: Core, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    _, stored = await signed_ada(organiser_core, db)
    assert stored.receipt is not None
    org = InProcessUser(organiser_core, ORGANISER)
    assert "Usage: /remove" in texts(await org.send("/remove"))
    assert "Usage: /remove" in texts(await org.send("/remove hello!"))
    assert "No signature with the receipt <code>ZZZZ-ZZZZ</code>" in texts(await org.send("/remove zzzz zzzz"))

    typed = receipts.display(stored.receipt).lower()
    asked = texts(await org.send(f"/remove {typed}"))
    assert "Remove this signature" in asked and "Name: Ada Lovelace" in asked and "Country: Germany" in asked
    assert org.buttons() == [f"rm:{stored.receipt}", "rmno"]
    kept = await org.press(callback_data="rmno")
    assert "nothing was changed" in texts(kept)
    assert await signatures.get_signature(db, "xinjiang", ADA.id) is not None

    await org.send(f"/remove {stored.receipt}")
    removed = await org.press(callback_data=f"rm:{stored.receipt}")
    assert "is no longer on the list" in texts(removed) and isinstance(removed[-1], EditMessage)
    assert await signatures.get_signature(db, "xinjiang", ADA.id) is None
    await organiser_core.flush_counts()  # counted in memory, like every funnel step
    assert (await signatures.funnel_counts(db, "xinjiang"))["removed"] == 1
    twice = await org.press(callback_data=f"rm:{stored.receipt}")  # pressed again: already gone
    assert "No signature with the receipt" in texts(twice)
    await organiser_core.flush_counts()
    assert (await signatures.funnel_counts(db, "xinjiang"))["removed"] == 1
    assert f"admin {ORGANISER.id}: /remove signature {stored.id}" in caplog.text
    assert "Ada" not in caplog.text and stored.receipt not in caplog.text
    assert receipts.display(stored.receipt) not in caplog.text


@pytest.mark.parametrize("locale", ["en", "de", "ug", "zh_Hant"])
async def test_export_with_ids_is_refused_in_the_organiser_s_language(
    db: Database, store: MemoryStateStore, exports_root: Path, locale: str
) -> None:
    core = make_core(db, store, admin_ids=frozenset({ORGANISER.id}))
    org = InProcessUser(core, User(id=ORGANISER.id, first_name="Org", language_code=locale.replace("_", "-")))
    t = core.services.i18n.get(core.services.i18n.match(locale.replace("_", "-")))
    expected = t.gettext(
        "Telegram ids are never sent through a chat: Telegram keeps every message and file, and the ids would "
        "lead straight to the signers' accounts. On the server, {command} writes them to a file. Here, "
        "/export and /export xlsx send the list without them.",
        command=Html("<code>python -m bot export --format csv --with-ids -o signatories.csv</code>"),
    )
    for command in ("/export csv ids", "/export ids xlsx", "/export IDS"):
        replies = await org.send(command)
        assert texts(replies) == expected
        assert not any(isinstance(reply, SendDocument) for reply in replies)
    await core.settle(within=5)
    assert leftovers(exports_root) == []


# --- how my name appears: every input at the new steps ------------------------------------------


async def test_the_name_s_form_is_chosen_never_assumed(core: Core, db: Database, store: MemoryStateStore) -> None:
    ada = InProcessUser(core, ADA)
    await ada.send("/start")
    await ada.press(callback_data="sign")
    await ada.press(callback_data="agree")
    await ada.send("Aynur Kadir")
    review = await ada.send("Germany")
    assert "addressees see your name" in texts(review) and "Country: Germany" in texts(review)
    assert ada.buttons() == ["confirm:full", "confirm:first_initial", "confirm:initials", "chname", "chcountry"]
    assert all(f"✅ Sign as {shown}" in str(review) for shown in ("Aynur Kadir", "Aynur K.", "A. K."))
    state = await store.load(f"state:{ADA.id}")
    assert state is not None and (state["name"], state["name_form"]) == ("Aynur Kadir", None)
    assert "only read text" in texts(await ada.send_other("sticker"))
    assert "not edits" in texts(await ada.edit_last("x"))
    stale = await ada.press(callback_data="nf:full")  # a button of another step
    assert answers(stale) and answers(stale)[0].show_alert
    for unchosen in ("confirm:nonsense", "confirm", "chform"):  # no form on the button: the review again
        assert "addressees see your name" in texts(await ada.press(callback_data=unchosen))
    assert await signatures.get_signature(db, "xinjiang", ADA.id) is None
    assert "What name should" in texts(await ada.press(callback_data="chname"))
    again = await ada.send("Bo Bright")  # a new name: its own forms, chosen again
    assert "addressees see your name" in texts(again) and "✅ Sign as B. B." in str(again)
    state = await store.load(f"state:{ADA.id}")
    assert state is not None and (state["name"], state["name_form"]) == ("Bo Bright", None)
    assert "Stopped" in texts(await ada.send("/cancel"))
    state = await store.load(f"state:{ADA.id}")
    assert state is not None and (state["name"], state["name_form"], state["step"]) == (None, None, "welcome")
    assert await signatures.get_signature(db, "xinjiang", ADA.id) is None


async def test_a_state_without_a_chosen_form_is_asked_for_it_at_confirm(
    core: Core, db: Database, store: MemoryStateStore
) -> None:
    """A conversation state written before the choice existed (an update mid-signing)."""
    ada = InProcessUser(core, ADA)
    await sign_up_to_review(ada)
    state = await store.load(f"state:{ADA.id}")
    assert state is not None
    await store.save(f"state:{ADA.id}", {**state, "name_form": None}, ttl=3600)
    assert "addressees see your name" in texts(await ada.press(callback_data="confirm"))
    assert await signatures.get_signature(db, "xinjiang", ADA.id) is None


async def test_only_the_chosen_form_outlives_the_confirmation(
    core: Core, db: Database, store: MemoryStateStore
) -> None:
    ada = InProcessUser(core, ADA)
    await ada.send("/start")
    await ada.press(callback_data="sign")
    await ada.press(callback_data="agree")
    await ada.send("Aynur Kadir")
    await ada.send("Germany")
    await ada.press(callback_data="confirm:first_initial")
    stored = await signatures.get_signature(db, "xinjiang", ADA.id)
    assert stored is not None and (stored.name, stored.name_form) == ("Aynur K.", "first_initial")
    state = await store.load(f"state:{ADA.id}")
    assert state is not None and "Kadir" not in str(state)
    # Widening started, then /start: the retyped name is dropped from the state too.
    await ada.press(callback_data="nfchange")
    await ada.press(callback_data="nfwide")
    assert "Please type your name as a text message." in texts(await ada.send_other("photo"))
    await ada.send("Aynur Kadir")
    await ada.send("/start")
    state = await store.load(f"state:{ADA.id}")
    assert state is not None and "Kadir" not in str(state) and state["step"] == "signed"
    stale = await ada.press(callback_data="nf:full")
    assert answers(stale)[0].text == "You have already signed. Thank you!"


async def test_choosing_the_form_after_the_campaign_closed_is_not_kept(db: Database, store: MemoryStateStore) -> None:
    end = date(2026, 3, 1)
    clock = SetClock(end)
    ada = InProcessUser(make_core(db, store, campaign_end=end, clock=clock), ADA)
    await ada.send("/start")
    await ada.press(callback_data="sign")
    await ada.press(callback_data="agree")
    await ada.press(callback_data="asme")
    await ada.send("Germany")
    clock.today = date(2026, 3, 2)
    assert texts(await ada.press(callback_data="confirm:full")).startswith("This petition closed")
    assert await signatures.get_signature(db, "xinjiang", ADA.id) is None
    state = await store.load(f"state:{ADA.id}")
    assert state is not None and (state["name"], state["name_form"], state["step"]) == (None, None, "reading")


# --- every language: the signing conversation as Telegram reports each one -----------------------

# Telegram's language_code for each catalog, in the forms Telegram sends.
TELEGRAM_CODES = {
    "en": "en", "fr": "fr", "es": "es", "ar": "ar", "ug": "ug", "kk": "kk", "uz": "uz", "ky": "ky",
    "tr": "tr", "ru": "ru", "zh_Hans": "zh-hans", "zh_Hant": "zh-hant", "de": "de", "fa": "fa",
    "id": "id", "ur": "ur", "pt_BR": "pt-br", "it": "it",
}  # fmt: skip


def seen(replies: list[Reply]) -> str:
    """The messages as the person reads them (Telegram HTML rendered)."""
    return "\n".join(plain(r.text) for r in replies if isinstance(r, SendMessage | EditMessage))


@pytest.mark.parametrize("locale", sorted(TELEGRAM_CODES))
async def test_signing_in_every_language(core: Core, locale: str) -> None:
    """Letter, buttons, numbers and the thanks in the language Telegram reports, never English
    fallbacks; every button pressed by the label the person reads."""
    t = I18n().get(locale)
    campaign = load_campaign("xinjiang")
    user = User(id=2004, first_name="Dilnur", last_name="Smith", language_code=TELEGRAM_CODES[locale])
    dilnur = InProcessUser(core, user)
    letter = seen(await dilnur.send("/start"))
    assert t.plain(campaign.title) in letter
    assert t.plain(campaign.letter.demands[0]) in letter
    assert plain(t.gettext("goal {goal}", goal=campaign.goal)) in letter  # 100,000 / 100 000 / ١٠٠٬٠٠٠ …
    sign = t.gettext("✍️ Sign the letter")
    assert dilnur.last_message is not None and dilnur.last_message.buttons[0][0].text == sign
    if locale != "en":  # really translated, not the English fallback
        assert campaign.letter.demands[0] not in letter
        assert sign != "✍️ Sign the letter"

    await dilnur.press(sign)
    await dilnur.press(t.gettext("✅ I agree and want to sign"))
    await dilnur.press(t.gettext_plain("Sign as {name}", name="Dilnur Smith"))  # the name isolated in RTL text
    await dilnur.press(country_name(likely_countries(locale)[0], locale))
    thanks = seen(await dilnur.press("✅ " + t.gettext_plain("Sign as {name}", name="Dilnur Smith")))
    assert plain(t.gettext("Thank you, {name}! Your signature has been added to the letter.", name="Dilnur Smith")) in (
        thanks
    )
    assert plain(t.ngettext("{n} person has signed", "{n} people have signed", 1)) in thanks
    assert dilnur.last_message is not None
    assert dilnur.last_message.buttons[0][0].text == t.gettext("📣 Share the letter")
