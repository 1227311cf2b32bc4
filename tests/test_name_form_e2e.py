"""How my name appears, refused names, plain button labels and escaped HTML, end to end:
the real bot process over real HTTP against the emulator (which refuses bad HTML)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from emulator.objects import BotMessage
from emulator.users import SimulatedUser
from handlers.ask_name import problem_text
from handlers.i18n import I18n
from handlers.names import NameProblem
from storage import signatures
from storage.db import Database
from storage.exports.export import export_signatures
from storage.models import ListDelivery, Signature
from tests.signers import add_signer
from tests.test_signing_e2e import choose_form, has, labels, read_and_agree, review, until

CHANGE = "✏️ Change how my name appears"


async def stored(bot: Any, user_id: int) -> Signature | None:
    db = Database(bot.settings.database_url)
    try:
        return await signatures.get_signature(db, "xinjiang", user_id)
    finally:
        await db.dispose()


async def sign(user: SimulatedUser, name: str, shown: str) -> BotMessage:
    """Type ``name``, say France, sign with the review's button "✅ Sign as ``shown``"
    (choosing the form is what signs); the review."""
    await read_and_agree(user)
    await user.send(name)
    await until(user, has("Which country"))
    await user.send("France")
    checked = await review(user, shown)
    await user.press(f"✅ Sign as {shown}")
    await until(user, has("Thank you"))
    return checked


@pytest.mark.parametrize(
    ("shown", "form", "described"),
    [
        ("Aynur Kadir", "full", "full name"),
        ("Aynur K.", "first_initial", "first name and initial"),
        ("A. K.", "initials", "initials only"),
    ],
)
async def test_each_form_end_to_end_stores_only_that_form(
    start_one_bot: Any, tmp_path: Path, shown: str, form: str, described: str
) -> None:
    bot = await start_one_bot(core="real")
    user = bot.emulator.user(6001, first_name="Aynur", language_code="en")
    checked = await sign(user, "Aynur Kadir", shown)
    assert "addressees see your name" in checked.text and "Country: France" in checked.text
    assert labels(checked) == [  # every form offered, nothing chosen for the signer
        "✅ Sign as Aynur Kadir",
        "✅ Sign as Aynur K.",
        "✅ Sign as A. K.",
        "✏️ Change name",
        "🌍 Change country",
    ]

    row = await stored(bot, 6001)
    assert row is not None and (row.name, row.name_form) == (shown, form)
    if form != "full":
        assert "Kadir" not in row.name  # nothing more of the name than the choice is kept

    await user.send("/mysignature")
    mine = await until(user, has("everything we store"))
    assert f"Name, as the addressees see it: {shown}\nShown as: {described}" in mine.text
    assert mine.button(CHANGE) is not None

    db = Database(bot.settings.database_url)  # the exports show the name as stored, and its form
    try:
        result = await export_signatures(db, bot.core.services.campaign, "csv", tmp_path)
        rows = list(csv.reader(io.StringIO(result.path.read_text(encoding="utf-8-sig"))))
    finally:
        await db.dispose()
    assert rows[0][:3] == ["number", "name", "name_form"]
    assert rows[1][:3] == ["1", shown, form]
    assert bot.emulator.rejected == []


async def test_narrowing_and_widening_before_delivery(start_one_bot: Any) -> None:
    bot = await start_one_bot(core="real")
    user = bot.emulator.user(6002, first_name="Aynur", language_code="en")
    await sign(user, "Aynur Kadir", "Aynur Kadir")

    # Narrowing: built from what is stored, one tap. Three offers are opened at once.
    await user.send("/mysignature")
    await until(user, has("everything we store"))
    offers: list[BotMessage] = []
    for _ in range(3):
        await user.press(CHANGE)
        offers.append(await until(user, lambda m: "How should it appear?" in m.text and m not in offers))
    assert [b.text for row in offers[2].buttons for b in row] == [
        "First name and initial: Aynur K.",
        "Initials only: A. K.",
        "Keep it as it is",
    ]
    await user.press("First name and initial: Aynur K.", message_id=offers[2].message_id)
    await until(user, has("Done: the addressees will see your name as “Aynur K.” (first name and initial)."))
    row = await stored(bot, 6002)
    assert row is not None and (row.name, row.name_form) == ("Aynur K.", "first_initial")

    # An older offer: narrowing further works from what is stored; it can never widen.
    await user.press("Initials only: A. K.", message_id=offers[1].message_id)
    await until(user, has("“A. K.” (initials only)"))
    answer = await user.press("First name and initial: Aynur K.", message_id=offers[0].message_id)
    assert answer.text is not None and "older message" in answer.text
    row = await stored(bot, 6002)
    assert row is not None and (row.name, row.name_form) == ("A. K.", "initials")

    # Widening: we no longer have the name, so it is typed again, then a form is chosen.
    await user.send("/mysignature")
    await until(user, has("Name, as the addressees see it: A. K."))
    await user.press(CHANGE)
    offer = await until(user, has("How should it appear?"))
    assert [b.text for row in offer.buttons for b in row] == ["✏️ Show more: type my name again", "Keep it as it is"]
    await user.press("✏️ Show more: type my name again")
    await until(user, has("We keep only “A. K.”"))
    await user.send("Aynur\u3164Kadir")  # refused as at signing
    await until(user, has("empty space"))
    await user.send("Aynur Kadir")
    picker = await until(user, has("Nothing changes until you choose"))
    assert picker.button("Keep it as it is") is not None
    await user.send("full please")  # text where a button is expected: the choices again
    await until(user, has("Please choose with a button"))
    await user.press("Full name: Aynur Kadir")
    await until(user, has("Done: the addressees will see your name as “Aynur Kadir” (full name)."))
    row = await stored(bot, 6002)
    assert row is not None and (row.name, row.name_form) == ("Aynur Kadir", "full")

    # Started, then left: /cancel keeps it as it was.
    await user.press(CHANGE)
    await until(user, has("How should it appear?"))
    await user.press("Initials only: A. K.")
    await until(user, has("(initials only)"))
    await user.send("/mysignature")
    await until(user, has("Name, as the addressees see it: A. K."))
    await user.press(CHANGE)
    await until(user, has("How should it appear?"))
    await user.press("✏️ Show more: type my name again")
    await until(user, has("please type your name again"))
    await user.send("/cancel")
    await until(user, has("Nothing changed: your name appears as before."))
    await user.send("Aynur Kadir")  # now just text after signing
    await until(user, has("You have already signed"))
    row = await stored(bot, 6002)
    assert row is not None and row.name == "A. K."
    assert bot.emulator.rejected == []


async def deliver(bot: Any, user_id: int, on: date) -> None:
    """Record a delivery carrying this signature (as the deliver command will)."""
    db = Database(bot.settings.database_url)
    try:
        async with db.transaction() as session:
            delivery = ListDelivery(
                campaign="xinjiang",
                delivered_on=on,
                recipient="Embassy",
                signature_count=1,
                fingerprint="0" * 64,
                recorded_at=datetime.now(UTC),
            )
            session.add(delivery)
            await session.flush()
            await session.execute(
                update(Signature).where(Signature.telegram_user_id == user_id).values(list_delivery_id=delivery.id)
            )
    finally:
        await db.dispose()


async def test_after_delivery_the_form_cannot_change_and_the_signer_is_told_why(start_one_bot: Any) -> None:
    bot = await start_one_bot(core="real")
    user = bot.emulator.user(6003, first_name="Aynur", language_code="en")
    await sign(user, "Aynur Kadir", "Aynur K.")
    await user.send("/mysignature")
    await until(user, has("everything we store"))
    await user.press(CHANGE)
    offer = await until(user, has("How should it appear?"))
    await user.press("✏️ Show more: type my name again")
    await until(user, has("please type your name again"))
    await user.send("Aynur Kadir")
    picker = await until(user, has("Nothing changes until you choose"))

    await deliver(bot, 6003, date(2027, 3, 8))
    refused = "Your signature was delivered with the letter on March 8, 2027, so how your name appears can no longer"
    await user.press("Full name: Aynur Kadir", message_id=picker.message_id)  # chosen just after the delivery
    await until(user, has(refused))
    await user.press("Initials only: A. K.", message_id=offer.message_id)  # narrowing from the old offer
    await until(user, has(refused))
    await user.press(CHANGE)  # the button of an older /mysignature
    await until(user, has(refused))
    row = await stored(bot, 6003)
    assert row is not None and (row.name, row.name_form) == ("Aynur K.", "first_initial")

    await user.send("/mysignature")
    mine = await until(user, has("everything we store"))
    assert "has been delivered with the letter: how your name appears can no longer be changed" in mine.text
    assert all("Change how my name appears" not in b.text for row in mine.buttons for b in row)  # no change offered
    assert bot.emulator.rejected == []


PROBLEMS = {
    "Aynur\u2028Kadir": NameProblem.LINES,
    "Aynur\u2029Kadir": NameProblem.LINES,
    "\u3164": NameProblem.BLANK,
    "Aynur\u3164Kadir": NameProblem.BLANK,
    "\u115f\u1160": NameProblem.BLANK,
    "Aynur\uffa0": NameProblem.BLANK,
    "\u2800\u2800": NameProblem.BLANK,
    "Ay\u00adnur": NameProblem.BLANK,
    "Ay\u200bnur": NameProblem.BLANK,
    "Ay\u180enur": NameProblem.BLANK,
    "A" + "\u0301" * 100 + "ynur": NameProblem.MARKS,
    "Aynur\u202eridaK": NameProblem.INVISIBLE,
    "see https://spam.example": NameProblem.LINK,
    "12345": NameProblem.NO_LETTER,
}


@pytest.mark.parametrize("locale", ["en", "de", "ug"])
async def test_each_refused_name_gets_its_explanation_in_the_signer_s_language(start_one_bot: Any, locale: str) -> None:
    bot = await start_one_bot(core="real")
    t = I18n().get(locale)
    user = bot.emulator.user(6004, first_name="\u3164", language_code=locale)  # a blank Telegram name
    await user.send("/start")
    await until(user, lambda m: bool(m.buttons))  # the letter
    await user.press(t.gettext("✍️ Sign the letter"))
    await user.wait_message(timeout=10)
    await user.press(t.gettext("✅ I agree and want to sign"))
    asked = await user.wait_message(timeout=10)
    assert asked.buttons == []  # the blank profile name is not offered as a "Sign as" button
    for name, problem in PROBLEMS.items():
        await user.send(name)
        reply = await user.wait_message(timeout=10)
        assert reply.html == problem_text(t, problem), (name, problem)
    assert await stored(bot, 6004) is None
    assert bot.emulator.rejected == []


async def test_button_labels_are_plain_text(start_one_bot: Any) -> None:
    """“Sign as Tom & Jerry” is exactly that on the button, never “Tom &amp; Jerry”."""
    bot = await start_one_bot(core="real")
    user = bot.emulator.user(6005, first_name="Tom", last_name="& Jerry <3", language_code="en")
    await read_and_agree(user)
    asked = user.conversation.visible[-1]  # "What name should we sign with?"
    assert asked.buttons[0][0].text == "Sign as Tom & Jerry <3"
    await user.press("Sign as Tom & Jerry <3")
    await until(user, has("Which country"))
    await user.send("Bosnia")
    checked = await review(user, "Tom & Jerry <3")
    assert labels(checked)[:3] == ["✅ Sign as Tom & Jerry <3", "✅ Sign as Tom J.", "✅ Sign as T. J."]
    assert "Country: Bosnia & Herzegovina" in checked.text  # escaped in the HTML
    assert "Bosnia &amp; Herzegovina" in checked.html
    await user.press("✅ Sign as Tom & Jerry <3")
    thanks = await until(user, has("Thank you"))
    assert "Thank you, Tom & Jerry <3!" in thanks.text
    assert "Tom &amp; Jerry &lt;3" in thanks.html
    assert bot.emulator.rejected == []


ADMIN = 6100


async def test_stats_escape_country_names(start_one_bot: Any) -> None:
    """“Bosnia & Herzegovina” in /stats: the emulator refuses a message with a bare “&”."""
    bot = await start_one_bot(core="real", admin_ids=frozenset({ADMIN}))
    db = Database(bot.settings.database_url)
    try:
        await add_signer(db, 6101, name="Amra", country="BA")
        await add_signer(db, 6102, name="Kemal", country="BA")
        await add_signer(db, 6103, name="Ana", country="TT")
    finally:
        await db.dispose()
    admin = bot.emulator.user(ADMIN, first_name="Org", language_code="en")
    await admin.send("/stats")
    figures = await until(admin, has("By country"))
    assert "Bosnia & Herzegovina: 2" in figures.text and "Trinidad & Tobago: 1" in figures.text
    assert "Bosnia &amp; Herzegovina" in figures.html
    assert bot.emulator.rejected == []


@pytest.mark.postgres
@pytest.mark.redis
async def test_choice_change_and_refusal_on_postgres_and_redis(
    start_one_bot: Any, scratch_postgres_url: str, redis_url: str, state_prefix: str
) -> None:
    bot = await start_one_bot(
        core="real", database_url=scratch_postgres_url, redis_url=redis_url, redis_prefix=state_prefix
    )
    user = bot.emulator.user(6200, first_name="Aynur", language_code="en")
    await sign(user, "Aynur Kadir", "Aynur K.")
    row = await stored(bot, 6200)
    assert row is not None and (row.name, row.name_form) == ("Aynur K.", "first_initial")
    await user.send("/mysignature")
    await until(user, has("everything we store"))
    await user.press(CHANGE)
    await until(user, has("How should it appear?"))
    await user.press("✏️ Show more: type my name again")
    await until(user, has("please type your name again"))
    await user.send("Aynur Kadir")
    await choose_form(user, "Full name: Aynur Kadir")
    await until(user, has("(full name)"))
    await user.press(CHANGE)
    await until(user, has("How should it appear?"))
    await user.press("Initials only: A. K.")
    await until(user, has("(initials only)"))
    row = await stored(bot, 6200)
    assert row is not None and (row.name, row.name_form) == ("A. K.", "initials")
    await deliver(bot, 6200, date(2027, 3, 8))
    await user.press(CHANGE)
    await until(user, has("delivered with the letter on March 8, 2027"))
    assert bot.emulator.rejected == []
