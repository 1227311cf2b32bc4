"""Several campaigns live in one bot, end to end: the real bot process over real HTTP against the
emulator, a campaigns folder with the home campaign, a second open one and a closed one.

A bare /start offers the letters to choose from; a link opens its campaign (with its source);
one person signs two letters, sees both in /mysignature, withdraws one and keeps the other;
a closed letter stays readable; a receipt of any campaign verifies; share links name their
campaign, and links without one still open the home campaign as they always did.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli.export import export as export_command
from bot.cli.purge import purge as purge_command
from handlers import referrals
from petition.campaign import CAMPAIGNS_DIR, CampaignError, load_campaigns
from storage import consents, signatures
from storage.db import Database
from storage.models import Signature
from tests.signers import add_signer
from tests.test_signing_e2e import has, offers_to_sign, until

WRITER = """
slug = "writer"
organisation = "Amnesty International"
goal = 5000
future_campaigns = true
title = "Free the imprisoned writer"
targets = ["The Minister of Justice"]
background = ["A writer is in prison for a poem."]

[letter]
salutation = "Dear Minister"
paragraphs = ["I am writing about a writer imprisoned for a poem."]
demands = ["Release the writer immediately and unconditionally."]
closing = "Yours sincerely,"

[[partners]]
key = "pen"
name = "PEN International"
"""

ARCHIVE = """
slug = "archive"
organisation = "Amnesty International"
goal = 1000
ends = {ends}
title = "Stop the demolition of the old town"
targets = ["The Mayor"]
background = ["The old town was to be demolished."]

[letter]
salutation = "Dear Mayor"
paragraphs = ["I ask you to stop the demolition."]
demands = ["Stop the demolition."]
closing = "Yours sincerely,"
"""


@pytest.fixture
def campaigns_dir(tmp_path: Path) -> Path:
    """The home campaign (xinjiang), a second open one (writer) and one that closed last month."""
    folder = tmp_path / "campaigns"
    folder.mkdir()
    shutil.copy(CAMPAIGNS_DIR / "xinjiang.toml", folder / "xinjiang.toml")
    (folder / "writer.toml").write_text(WRITER, encoding="utf-8")
    ended = date.today() - timedelta(days=30)
    (folder / "archive.toml").write_text(ARCHIVE.format(ends=ended.isoformat()), encoding="utf-8")
    return folder


async def stored(bot: Any, campaign: str, user_id: int) -> Signature | None:
    db = Database(bot.settings.database_url)
    try:
        return await signatures.get_signature(db, campaign, user_id)
    finally:
        await db.dispose()


def buttons(message: Any) -> dict[str, str]:
    """Label -> callback data of a message's buttons."""
    return {b.text: b.callback_data or b.url or "" for row in message.buttons for b in row}


async def sign_here(user: Any, country: str = "Germany") -> Any:
    """From the letter shown (with its Sign button) to the thanks: agree, the Telegram name, the country."""
    await user.press("✍️ Sign the letter")
    await until(user, has("Before you sign"))
    await user.press("✅ I agree and want to sign")
    await until(user, has("What name should we sign with?"))
    await user.press(f"Sign as {user.first_name}")
    await until(user, has("Which country"))
    await user.send(country)
    await until(user, has("Please check before you sign"))
    await user.press(f"✅ Sign as {user.first_name}")
    return await until(user, has("Thank you"))


async def test_one_bot_many_campaigns(start_one_bot: Any, campaigns_dir: Path) -> None:
    bot = await start_one_bot(core="real", campaigns_dir=campaigns_dir)
    ana = bot.emulator.user(7001, first_name="Ana", language_code="en")

    # A bare /start: the open letters to choose from, then the closed one, still readable.
    await ana.send("/start")
    choice = await until(ana, has("Which letter would you like to read?"))
    text = choice.text
    assert text.index("Free the imprisoned writer") < text.index("Closed, still readable:")
    assert text.index("mass internment") < text.index("Closed, still readable:")
    assert text.index("Closed, still readable:") < text.index("Stop the demolition of the old town (closed on")
    assert set(buttons(choice).values()) == {"camp:xinjiang", "camp:writer", "camp:archive"}
    assert all(len(label) <= 40 for label in buttons(choice))

    # She chooses the writer's letter and signs it.
    await ana.press(next(label for label, data in buttons(choice).items() if data == "camp:writer"))
    letter = await until(ana, offers_to_sign)
    assert "Release the writer immediately" in letter.text and "Xi Jinping" not in letter.text
    thanks = await sign_here(ana)
    share = thanks.buttons[0][0].url or ""
    assert "start%3Dr-" in share and "-writer" in share  # her share link opens the writer's letter
    writer = await stored(bot, "writer", 7001)
    assert writer is not None and writer.campaign == "writer"
    assert await stored(bot, "xinjiang", 7001) is None

    # A bare /start later: her letter, already signed.
    await ana.send("/start")
    await until(ana, has("You signed this letter on"))

    # A link without a campaign (an old poster's) opens the home campaign with its source.
    await ana.send("/start poster_berlin")
    letter = await until(ana, offers_to_sign)
    assert "mass internment" in letter.text
    await sign_here(ana, country="France")
    home = await stored(bot, "xinjiang", 7001)
    assert home is not None and home.source == "poster_berlin"

    # /mysignature: this letter's record, and the other letter she signed a button away.
    # The other letters come in a message of their own: a screenshot of one record names no other.
    await ana.send("/mysignature")
    card = await until(ana, has("This is everything we store about your signature"))
    assert card.text.startswith("Protest the Chinese government") and "writer" not in card.text
    assert "mysig:writer" not in buttons(card).values()
    also = await until(ana, has("You have also signed:"))
    assert "Free the imprisoned writer" in also.text
    await ana.press(next(label for label, data in buttons(also).items() if data == "mysig:writer"))
    writer_card = await until(ana, has("This is everything we store about your signature"))
    assert writer_card.text.startswith("Free the imprisoned writer") and "mass internment" not in writer_card.text
    assert "mass internment" in (await until(ana, has("You have also signed:"))).text

    # A button shown for the writer's letter acts on it even after she went back to the other
    # one, and leaves the conversation where it is.
    await ana.send("/updates")
    toggle = await until(ana, has("You do not get news about this campaign"))
    assert toggle.text.startswith("Free the imprisoned writer")
    assert buttons(toggle) == {"🔔 Get updates": "updates:on~writer"}
    await ana.send("/start poster_berlin")  # the home campaign's link: its letter, signed already
    await until(ana, has("You signed this letter on"))
    await ana.press("🔔 Get updates", message_id=toggle.message_id)
    await until(ana, has("You get news about this campaign"))
    writer_now, home_now = await stored(bot, "writer", 7001), await stored(bot, "xinjiang", 7001)
    assert writer_now is not None and writer_now.opt_in and home_now is not None and not home_now.opt_in
    # Withdrawing erases the letter of the conversation, the writer's, and says which.
    await ana.send("/start writer")
    await until(ana, has("You signed this letter on"))
    await ana.send("/withdraw")
    question = await until(ana, has("withdraw your signature"))
    assert question.text.startswith("Free the imprisoned writer")
    await ana.press("Yes, erase my signature")
    await until(ana, has("erased"))
    assert await stored(bot, "writer", 7001) is None
    assert await stored(bot, "xinjiang", 7001) is not None

    # A closed letter opened by its link: readable, not signable.
    bo = bot.emulator.user(7002, first_name="Bo", language_code="en")
    await bo.send("/start archive")
    closed_letter = await until(bo, has("Stop the demolition"))
    assert "Dear Mayor" in closed_letter.text
    await bo.press("✍️ Sign the letter")
    await until(bo, has("This petition closed on"))
    assert await stored(bot, "archive", 7002) is None

    # A link with a campaign and a source; then a receipt of another campaign verifies.
    await bo.send("/start writer__newsletter")
    await until(bo, offers_to_sign)
    await sign_here(bo)
    bo_writer = await stored(bot, "writer", 7002)
    assert bo_writer is not None and bo_writer.source == "newsletter"
    await bo.send(f"/verify {home.receipt}")
    verified = await until(bo, has("is on the list"))
    assert "mass internment" in verified.text  # which letter's list
    assert bot.emulator.rejected == []


async def test_organisers_name_the_campaign_they_mean(start_one_bot: Any, campaigns_dir: Path) -> None:
    admin_id = 7100
    bot = await start_one_bot(core="real", campaigns_dir=campaigns_dir, admin_ids=frozenset({admin_id}))
    cy = bot.emulator.user(7003, first_name="Cy", language_code="en")
    await cy.send("/start writer")
    await until(cy, offers_to_sign)
    await sign_here(cy)
    admin = bot.emulator.user(admin_id, first_name="Org", language_code="en")

    await admin.send("/help")
    assert "Several letters are live (xinjiang, archive, writer)" in (await until(admin, has("/stats"))).text

    # /stats names the campaign first, or asks which letter.
    await admin.send("/stats writer")
    stats = await until(admin, has("Signatures:"))
    assert stats.text.startswith("Free the imprisoned writer") and "Signatures: 1 of 5,000" in stats.text
    await admin.send("/stats")
    choice = await until(admin, has("Several letters are live. Which one?"))
    assert set(buttons(choice).values()) == {"ostats:xinjiang", "ostats:writer", "ostats:archive"}
    await admin.press(next(label for label, data in buttons(choice).items() if data == "ostats:xinjiang"))
    home = await until(admin, has("Signatures:"))
    assert home.text.startswith("Protest the Chinese government") and "Signatures: 0 of 100,000" in home.text

    # /export writer: that campaign's list only; /export xlsx asks which letter, the format kept.
    await admin.send("/export writer")
    sent = await until(admin, lambda m: m.document is not None, within=60)
    assert sent.document is not None and sent.document.filename.startswith("writer-")
    assert b"Cy" in sent.document.data
    await admin.send("/export xlsx")
    choice = await until(admin, has("Several letters are live. Which one?"))
    await admin.press(next(label for label, data in buttons(choice).items() if data == "oexport:xlsx:writer"))
    sheet = await until(admin, lambda m: m.document is not None and m.document.filename.endswith(".xlsx"), within=60)
    assert sheet.document is not None and sheet.document.filename.startswith("writer-")
    # /remove finds a receipt of any campaign and says from which letter's list it removes.
    cy_writer = await stored(bot, "writer", 7003)
    assert cy_writer is not None and cy_writer.receipt is not None
    await admin.send(f"/remove {cy_writer.receipt}")
    asked = await until(admin, has("Remove this signature"))
    assert asked.text.startswith("Free the imprisoned writer")
    await admin.press("🗑 Remove")
    await until(admin, has("Removed:"))
    assert await stored(bot, "writer", 7003) is None
    # /broadcast asks whom to write to: a letter's news subscribers, or the organisation's list
    # (the writer's letter offers news of future campaigns), and says whom it writes to.
    await admin.send("/broadcast")
    choice = await until(admin, has("Who should get your message?"))
    assert set(buttons(choice).values()) == {"bcto:xinjiang", "bcto:archive", "bcto:writer", "bcto:*"}
    assert "People who asked for news about future campaigns of Amnesty International · 0 people" in choice.text
    await admin.press(next(label for label, data in buttons(choice).items() if data == "bcto:xinjiang"))
    assert (await until(admin, has("Write your message"))).text.startswith("Protest the Chinese government")
    await admin.send("/cancel")
    assert bot.emulator.rejected == []


async def test_a_message_to_the_organisations_list_reaches_only_those_who_asked(
    start_one_bot: Any, campaigns_dir: Path
) -> None:
    """News of future campaigns: an organiser writes to the organisation's list; only the signers
    who ticked it get the message, in the language they gave it in, and its "Stop updates" ends it."""
    admin_id = 7100
    bot = await start_one_bot(core="real", campaigns_dir=campaigns_dir, admin_ids=frozenset({admin_id}))
    gil = bot.emulator.user(7006, first_name="Gil", language_code="de")
    hal = bot.emulator.user(7007, first_name="Hal", language_code="en")
    await gil.send("/start writer")
    await until(gil, offers_to_sign)
    await gil.press("✍️ Brief unterschreiben")
    screen = await until(gil, has("Bevor Sie unterschreiben"))
    await gil.press(callback_data="future", message_id=screen.message_id)  # news of future campaigns, in German
    await until(gil, lambda m: any(label.startswith("☑") for label in buttons(m)))
    await gil.press(callback_data="agree")
    await until(gil, has("Mit welchem Namen"))
    await gil.press("Als Gil unterschreiben")
    await until(gil, has("In welchem Land"))
    await gil.send("Deutschland")
    review = await until(gil, has("Bitte prüfen"))
    await gil.press(next(label for label in buttons(review) if label.startswith("✅")))
    await until(gil, has("Danke, Gil!"))
    await hal.send("/start writer")
    await until(hal, offers_to_sign)
    await sign_here(hal)  # ticks nothing

    db = Database(bot.settings.database_url)
    try:
        await add_signer(db, 7009, campaign="writer", opt_in=True)  # news of the writer's letter only
    finally:
        await db.dispose()
    admin = bot.emulator.user(admin_id, first_name="Org", language_code="en")
    # A draft to the writer's news subscribers first, previewed and not sent: its Send button
    # never sends the same text to another audience chosen later.
    await admin.send("/broadcast")
    choice = await until(admin, has("Who should get your message?"))
    await admin.press(next(label for label, data in buttons(choice).items() if data == "bcto:writer"))
    await until(admin, has("Write your message"))
    await admin.send("A new letter opens next week.")
    earlier = await until(admin, has("Who gets what"))
    assert earlier.text.startswith("Free the imprisoned writer")
    await admin.send("/broadcast")
    choice = await until(admin, has("Who should get your message?"))
    assert "People who asked for news about future campaigns of Amnesty International · 1 person" in choice.text
    await admin.press(next(label for label, data in buttons(choice).items() if data == "bcto:*"))
    intro = await until(admin, has("Write your message"))
    assert intro.text.startswith("People who asked for news about future campaigns of Amnesty International")
    assert "Write your message to the 1 person who asked for news." in intro.text
    await admin.send("A new letter opens next week.")
    summary = await until(admin, has("Who gets what"))
    assert "Deutsch: 1 · the text for every other language" in summary.text
    stale = await admin.press(callback_data=buttons(earlier)["📨 Send to 1 person"], message_id=earlier.message_id)
    assert stale.text == "This preview is out of date: please use the latest one."
    await admin.press("📨 Send to 1 person", message_id=summary.message_id)
    await until(admin, lambda m: m.edited and "Done: 1 of 1 received it." in m.text, within=30)
    news = await until(gil, has("A new letter opens next week."))
    assert news.text.startswith("📢 Neuigkeiten von Amnesty International")
    assert not any("A new letter" in m.text for m in hal.messages)  # he did not ask for it
    stop = next(label for label, data in buttons(news).items() if data.startswith("futureoff"))
    await gil.press(stop, message_id=news.message_id)
    await until(gil, has("Sie erhalten keine Neuigkeiten mehr über künftige Kampagnen von Amnesty International."))
    assert "A new letter opens next week." in gil.conversation.bot_messages[news.message_id].text  # kept as it was
    assert await consents_of(bot, 7006) == []
    assert await stored(bot, "writer", 7006) is not None  # the signature stays
    await admin.send("/broadcast status")
    status = await until(admin, has("By language"))
    assert "📢 Message of" in status.text and "to people who asked for news about future campaigns" in status.text
    assert bot.emulator.rejected == []


def test_payloads_name_their_campaign_and_old_links_keep_working() -> None:
    slugs = ["writer", "climate-2027"]
    assert referrals.split_campaign("writer", slugs) == ("writer", "")
    assert referrals.split_campaign("writer__poster_berlin", slugs) == ("writer", "poster_berlin")
    assert referrals.split_campaign("r-AbCdEf12-writer", slugs) == ("writer", "r-AbCdEf12")
    assert referrals.split_campaign("r-AbCdEf12-writer__news", slugs) == ("writer", "r-AbCdEf12-news")
    assert referrals.split_campaign("poster_berlin", slugs) == (None, "poster_berlin")  # the home campaign's
    assert referrals.split_campaign("r-AbCdEf12-poster", slugs) == (None, "r-AbCdEf12-poster")
    assert referrals.split_campaign("writers", slugs) == (None, "writers")
    # A share link names a campaign that is not the home one, and its source when it fits.
    assert referrals.share_payload("AbCdEf12", "poster", None) == "r-AbCdEf12-poster"
    assert referrals.share_payload("AbCdEf12", "poster", "writer") == "r-AbCdEf12-writer__poster"
    long_source = "s" * 50
    payload = referrals.share_payload("AbCdEf12", long_source, "climate-2027")
    assert payload == "r-AbCdEf12-climate-2027" and len(payload) <= 64  # the source does not fit: dropped
    assert referrals.split_campaign(payload, slugs) == ("climate-2027", "r-AbCdEf12")


def test_every_campaign_file_is_live_and_a_bad_one_is_refused(campaigns_dir: Path) -> None:
    campaigns = load_campaigns("xinjiang", campaigns_dir)
    assert [c.slug for c in campaigns] == ["xinjiang", "archive", "writer"]  # the home one first
    today = date.today()
    assert [c.slug for c in campaigns if not c.closed_on(today)] == ["xinjiang", "writer"]
    assert campaigns.named("no-longer-live").slug == "xinjiang"
    (campaigns_dir / "bad.toml").write_text(WRITER.replace('slug = "writer"', 'slug = "two__parts"'), "utf-8")
    with pytest.raises(CampaignError, match="never __"):
        load_campaigns("xinjiang", campaigns_dir)
    (campaigns_dir / "bad.toml").write_text(WRITER, encoding="utf-8")  # a second file with the slug "writer"
    with pytest.raises(CampaignError, match="same slug"):
        load_campaigns("xinjiang", campaigns_dir)
    (campaigns_dir / "bad.toml").write_text(WRITER.replace('slug = "writer"', 'slug = "w2"\nretention_days = -1'))
    with pytest.raises(CampaignError, match="retention_days = -1: a whole number of days, 0 to 3650"):
        load_campaigns("xinjiang", campaigns_dir)
    # Another organisation's letter: its own bot (or a partner here), never a second list of news.
    other = WRITER.replace('slug = "writer"', 'slug = "pen"').replace("Amnesty International", "PEN International")
    (campaigns_dir / "bad.toml").write_text(other, encoding="utf-8")
    with pytest.raises(CampaignError, match="one bot speaks for one organisation"):
        load_campaigns("xinjiang", campaigns_dir)


async def consents_of(bot: Any, user_id: int) -> list[tuple[str, str, str]]:
    db = Database(bot.settings.database_url)
    try:
        return [(c.scope, c.campaign, c.given_in) for c in await consents.of_person(db, user_id)]
    finally:
        await db.dispose()


async def test_hearing_back_is_a_separate_choice_for_each_and_revocable_in_one_tap(
    start_one_bot: Any, campaigns_dir: Path
) -> None:
    """The writer's campaign offers news about future campaigns and contact by a partner: two
    choices of their own, never pre-ticked, recorded with their wording, shown by /mysignature
    and /updates, each withdrawn in one tap; a partner's list holds only those who agreed."""
    bot = await start_one_bot(core="real", campaigns_dir=campaigns_dir)
    dee = bot.emulator.user(7004, first_name="Dee", language_code="en")
    eve = bot.emulator.user(7005, first_name="Eve", language_code="en")
    await eve.send("/start writer")
    await until(eve, offers_to_sign)
    await sign_here(eve)  # ticks nothing
    assert await consents_of(bot, 7005) == []

    await dee.send("/start writer")
    await until(dee, offers_to_sign)
    await dee.press("✍️ Sign the letter")
    screen = await until(dee, has("Before you sign"))
    assert "may write to you here about its future campaigns" in screen.text
    assert "PEN International runs this campaign with Amnesty International" in screen.text
    assert {"☐ News of future campaigns", "☐ Contact by PEN International"} <= set(buttons(screen))  # never pre-ticked
    await dee.press("☐ News of future campaigns", message_id=screen.message_id)
    await until(dee, lambda m: "☑ News of future campaigns" in buttons(m))
    await dee.press("☐ Contact by PEN International", message_id=screen.message_id)
    await until(dee, lambda m: "☑ Contact by PEN International" in buttons(m))
    await dee.press("✅ I agree and want to sign")
    await until(dee, has("What name should we sign with?"))
    await dee.press("Sign as Dee")
    await until(dee, has("Which country"))
    await dee.send("Germany")
    await until(dee, has("Please check before you sign"))
    await dee.press("✅ Sign as Dee")
    await until(dee, has("Thank you"))
    assert sorted(await consents_of(bot, 7004)) == [("organisation", "", "writer"), ("partner:pen", "writer", "writer")]

    await dee.send("/mysignature")
    card = await until(dee, has("This is everything we store"))
    assert "You get news about future campaigns of Amnesty International." in card.text
    assert "PEN International may contact you" in card.text

    # The partner's list: only the signers who agreed to it.
    server = {"DATABASE_URL": bot.settings.database_url, "CAMPAIGNS_DIR": str(campaigns_dir), "CAMPAIGN": None}
    result = await asyncio.to_thread(  # the command runs its own event loop
        CliRunner().invoke,
        export_command,
        ["--campaign", "writer", "--partner", "pen", "-o", str(campaigns_dir.parent / "pen.csv"), "-q"],
        env=server,
    )
    assert result.exit_code == 0, result.output
    listed = (campaigns_dir.parent / "pen.csv").read_text(encoding="utf-8")
    assert "Dee" in listed and "Eve" not in listed
    refused = await asyncio.to_thread(
        CliRunner().invoke,
        export_command,
        ["--campaign", "writer", "--partner", "nobody", "-o", str(campaigns_dir.parent / "x.csv")],
        env=server,
    )
    assert refused.exit_code == 2 and "no partner 'nobody' (its partners: pen)" in refused.output
    unknown = await asyncio.to_thread(
        CliRunner().invoke,
        export_command,
        ["--campaign", "nowhere", "-o", str(campaigns_dir.parent / "y.csv")],
        env=server,
    )
    assert unknown.exit_code == 2 and "no campaign file" in unknown.output

    # /updates: each consent withdrawn in one tap.
    await dee.send("/updates")
    shown = await until(dee, has("You get news about future campaigns"))
    await dee.press("✖ Withdraw: PEN International", message_id=shown.message_id)
    await until(dee, lambda m: m.edited and "PEN International may contact you" not in m.text)
    assert await consents_of(bot, 7004) == [("organisation", "", "writer")]
    await dee.press("🔕 No news of future campaigns", message_id=shown.message_id)
    await until(dee, lambda m: m.edited and "future campaigns" not in m.text)
    assert await consents_of(bot, 7004) == []
    assert bot.emulator.rejected == []


async def test_a_button_from_before_a_second_campaign_acts_on_the_home_one(
    campaigns_dir: Path, migrated_sqlite: Path, tmp_path: Path
) -> None:
    """Buttons shown while one campaign was live carry no campaign: once a second one is live,
    such a button (an old "Stop updates", say) is the home campaign's, whatever the
    conversation is about, and a broadcast draft does not survive a change of letter."""
    from handlers.core import build_core
    from handlers.events import User
    from handlers.simulated_user import InProcessUser
    from storage.state_memory import MemoryStateStore
    from tests.fixtures.services import fresh_sqlite

    db = Database(fresh_sqlite(migrated_sqlite, tmp_path / "one.db"))
    try:
        core = build_core(
            store=MemoryStateStore(),
            db=db,
            campaign="xinjiang",
            campaigns_dir=campaigns_dir,
            default_locale="en",
            admin_ids=frozenset({7009}),
            state_ttl=3600,
            bot_username="undersign_bot",
        )
        fay = InProcessUser(core, User(id=7009, first_name="Fay", language_code="en"))
        for slug in ("xinjiang", "writer"):  # she signs both, asking for news about future campaigns
            await fay.send(f"/start {slug}")
            for action in ("sign", *(["future"] if slug == "writer" else []), "agree", "asme"):
                await fay.press(callback_data=action)
            await fay.send("Germany")
            await fay.press(callback_data="confirm:full")
        assert [c.scope for c in await consents.of_person(db, 7009)] == ["organisation"]
        await fay.send("/broadcast")  # an organiser starts a draft for the writer's subscribers
        await fay.send("/start")  # ... and the conversation is about the writer's letter
        await fay.press(callback_data="updates:on")  # an old, untagged button
        home, writer = (
            await signatures.get_signature(db, "xinjiang", 7009),
            await signatures.get_signature(db, "writer", 7009),
        )
        assert home is not None and home.opt_in and writer is not None and not writer.opt_in
        await fay.send("/start xinjiang")  # another letter: the unsent draft ends with the switch
        replies = await fay.send("Hello everyone")
        assert not any("preview" in (getattr(reply, "text", "") or "").lower() for reply in replies)

        # News about future campaigns lasts while she has a signature on any letter.
        await fay.send("/withdraw")
        erased = await fay.press(callback_data="wdyes")
        assert "You still get news about future campaigns" in str(erased)
        await fay.send("/start writer")
        await fay.send("/withdraw")
        erased = await fay.press(callback_data="wdyes")
        assert "News about future campaigns has ended with it." in str(erased)
        assert await consents.of_person(db, 7009) == []
    finally:
        await db.dispose()


async def test_a_purged_campaign_beside_an_open_one(start_one_bot: Any, campaigns_dir: Path) -> None:
    """A closed letter is purged on its own dates (its end, its retention) by ``python -m bot purge``: its names
    are gone (its count stays), the letter stays readable, and the same person's signature and
    news of future campaigns on an open letter are untouched."""
    # It ended 40 days ago and keeps names 30 days (its own retention_days; RETENTION_DAYS is 180).
    ended = date.today() - timedelta(days=40)
    archive = ARCHIVE.format(ends=ended.isoformat()).replace("goal = 1000", "goal = 1000\nretention_days = 30")
    (campaigns_dir / "archive.toml").write_text(archive, encoding="utf-8")
    admin_id = 7100
    bot = await start_one_bot(core="real", campaigns_dir=campaigns_dir, admin_ids=frozenset({admin_id}))
    db = Database(bot.settings.database_url)
    try:
        await add_signer(db, 7008, campaign="archive", name="Ida Archive")  # signed while it was open
        await add_signer(db, 7008, campaign="writer", consents=[consents.Given(consents.ORGANISATION, "", "w1")])
    finally:
        await db.dispose()

    server = {"DATABASE_URL": bot.settings.database_url, "CAMPAIGNS_DIR": str(campaigns_dir), "CAMPAIGN": None}
    result = await asyncio.to_thread(CliRunner().invoke, purge_command, [], env=server)
    assert result.exit_code == 0, result.output
    assert await stored(bot, "archive", 7008) is None
    assert await stored(bot, "writer", 7008) is not None
    assert await consents_of(bot, 7008) == [("organisation", "", "writer")]

    ida = bot.emulator.user(7008, first_name="Ida", language_code="en")
    await ida.send("/start archive")
    letter = await until(ida, has("Stop the demolition"))
    assert "Dear Mayor" in letter.text  # still readable
    await ida.send("/mysignature")
    record = await until(ida, has("You have no signature on this letter. It closed on"))
    assert "Ida Archive" not in record.text
    admin = bot.emulator.user(admin_id, first_name="Org", language_code="en")
    await admin.send("/stats archive")
    figures = await until(admin, has("Signatures:"))
    assert figures.text.startswith("Stop the demolition") and "Signatures: 1 of 1,000" in figures.text
    await admin.send("/export archive")
    emptied = await until(admin, lambda m: m.document is not None, within=60)
    assert emptied.document is not None and b"Ida" not in emptied.document.data
    assert "1 signature was erased after the retention period" in (emptied.caption or emptied.text)
    assert bot.emulator.rejected == []
