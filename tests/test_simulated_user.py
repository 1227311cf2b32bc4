"""The in-process simulated user itself: what it shows, how it finds buttons, what it refuses."""

from __future__ import annotations

import pytest

from handlers.core import Core
from handlers.events import Chat
from handlers.replies import EditMessage
from handlers.simulated_user import InProcessUser
from storage.db import Database
from storage.state_memory import MemoryStateStore
from tests.test_conversation import ADA, make_core


@pytest.fixture
def core(db: Database, store: MemoryStateStore) -> Core:
    return make_core(db, store)


async def test_a_press_by_label_is_on_the_message_showing_it_and_edits_apply(core: Core) -> None:
    ada = InProcessUser(core, ADA)
    await ada.send("/start")
    assert ada.last_message is not None and ada.buttons() == ["sign", "langs"]
    await ada.press("✍️ Sign the letter")
    assert ada.exchanges[-1].action == "[presses ✍️ Sign the letter]" and not ada.exchanges[-1].failed
    assert ada.messages[-1] is ada.last_message and ada.buttons() == ["agree", "optin", "notnow"]
    toggled = await ada.press(callback_data="optin")  # edits the consent message in place
    edit = next(reply for reply in toggled if isinstance(reply, EditMessage))
    assert ada.last_message is not None and ada.last_message.text == edit.text
    assert ada.last_message.buttons == edit.buttons


async def test_what_cannot_be_pressed_is_refused_loudly(core: Core) -> None:
    ada = InProcessUser(core, ADA)
    with pytest.raises(ValueError, match="label or callback_data"):
        await ada.press()
    await ada.send("/start")
    with pytest.raises(LookupError, match="no button 'Nonsense'"):
        await ada.press("Nonsense")
    group = InProcessUser(core, ADA, chat=Chat(id=-100, type="supergroup"))
    await group.send("/start@undersign_bot")  # a pointer to the private chat: a URL button only
    with pytest.raises(ValueError, match="has no callback_data"):
        await group.press(callback_data=None, label=group.messages[-1].buttons[0][0].text)
    assert (await ada.press(callback_data="never-shown"))[0]  # a crafted press still reaches the bot
