"""The conversation core: one entry point shared by both runtimes.

``Core.handle(event, deliver)`` de-duplicates the update, serialises each user's
events with the state store's lock, runs the conversation step and delivers its
replies in order through ``deliver`` (supplied by the runtime adapter).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from handlers.events import Event
from handlers.replies import Delivered, Reply

Deliver = Callable[[Reply], Awaitable[Delivered]]


class Core:
    async def handle(self, event: Event, deliver: Deliver) -> None:  # pragma: no cover - contract
        raise NotImplementedError
