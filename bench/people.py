"""Simulated people signing: the whole conversation, step by step, as a person taps.

Each step is one action (a message or a button press, i.e. one update) and the
bot message that answers it. A person waits ``patience`` seconds for that
answer; if it does not come, they tap again (a retap: the same message or the
same button once more), as long as ``deadline`` allows. The latency of a step
is from the first action to the answer, retaps included: that is what the
person lived through.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from emulator import BotMessage, SimulatedUser

NAME = "Ada Lovelace"
COUNTRY = "United Kingdom"  # among the likely countries an English reader is offered

Expect = Callable[[BotMessage], bool]
Act = Callable[[float], Awaitable[object]]  # the action, given how long it may wait for a press's answer


class Stuck(Exception):
    """The person ran out of time (the run's deadline) before the bot answered a step."""


@dataclass(slots=True)
class Person:
    """What one person lived through: finished or not, each step's latency, retaps, updates sent."""

    finished: bool = False
    seconds: float = 0.0
    ended_at: float = 0.0  # time.monotonic() of the thank-you
    steps: list[float] = field(default_factory=list)
    retaps: int = 0
    actions: list[float] = field(default_factory=list)  # time.monotonic() of each update sent
    stuck_at: str = ""  # the step they were waiting at when the run ended


def has(*texts: str) -> Expect:
    return lambda message: any(text in message.text for text in texts)


def offers_to_sign(message: BotMessage) -> bool:
    return any(button.callback_data == "sign" for row in message.buttons for button in row)


class Signer:
    """Drives one person through the signing conversation."""

    def __init__(self, user: SimulatedUser, *, patience: float, ends_at: float) -> None:
        self.user = user
        self.patience = patience
        self.ends_at = ends_at  # time.monotonic() after which nobody waits any more
        self.person = Person()

    async def _answer(self, expect: Expect, within: float) -> BotMessage:
        async with asyncio.timeout(within):
            while True:
                message = await self.user.wait_message(timeout=max(within, 0.001))
                if expect(message):
                    return message

    async def step(self, what: str, act: Act, expect: Expect) -> BotMessage:
        """``act`` until the bot answers with a message ``expect`` accepts; its latency is recorded."""
        began = time.monotonic()
        self.person.stuck_at = what
        while True:
            tapped = time.monotonic()
            limit = min(tapped + self.patience, self.ends_at)
            if limit <= tapped:
                raise Stuck(what)
            self.person.actions.append(tapped)
            try:
                await act(limit - tapped)
                message = await self._answer(expect, limit - time.monotonic())
            except TimeoutError:
                self.person.retaps += 1
                continue
            self.person.steps.append(time.monotonic() - began)
            return message

    def send(self, text: str) -> Act:
        async def act(_: float) -> object:
            return await self.user.send(text)

        return act

    def press(self, label: str) -> Act:
        async def act(within: float) -> object:
            return await self.user.press(label, timeout=max(within, 0.001))

        return act

    async def sign(self) -> Person:
        """The whole conversation, /start to the thank-you."""
        began = time.monotonic()
        try:
            letter = await self.step("/start", self.send("/start"), has("mass internment"))
            if not offers_to_sign(letter):  # older code: a welcome, then the letter
                await self.step("read", self.press("📖 Read the letter"), offers_to_sign)
            await self.step("sign", self.press("✍️ Sign the letter"), has("Before you sign"))
            await self.step("agree", self.press("✅ I agree and want to sign"), has("What name should we sign with?"))
            asked = await self.step("name", self.send(NAME), has("addressees see your name", "Which country"))
            if "addressees see your name" in asked.text:  # older code asks how the name is shown here
                label = next(b.text for row in asked.buttons for b in row if b.text.startswith("Full name:"))
                asked = await self.step("name form", self.press(label), has("Which country"))
            review = has("Please check before you sign")
            if any(b.text == COUNTRY for row in asked.buttons for b in row):  # a likely country: one tap
                shown = await self.step("country", self.press(COUNTRY), review)
            else:
                shown = await self.step("country", self.send(COUNTRY), review)
            labels = [b.text for row in shown.buttons for b in row]
            confirm = f"✅ Sign as {NAME}" if f"✅ Sign as {NAME}" in labels else "✅ Confirm and sign"
            await self.step("confirm", self.press(confirm), has("Thank you"))
        except LookupError:  # the button to press again is gone
            self.person.stuck_at += " (button gone)"
            return self.person
        except Stuck:
            return self.person
        self.person.finished = True
        self.person.stuck_at = ""
        self.person.ended_at = time.monotonic()
        self.person.seconds = self.person.ended_at - began
        return self.person


async def echo_chat(user: SimulatedUser, updates: int, patience: float) -> int:
    """The baseline's person: ``updates`` messages, each after the echo of the previous one."""
    for n in range(updates):
        await user.send(f"hello {n}")
        await user.wait_message(timeout=patience)
    return updates
