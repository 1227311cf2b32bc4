"""One turn of the conversation: the event, the user's state and the replies being built.

Step functions receive a ``Turn`` and append replies to it; they never talk to
Telegram themselves, which keeps them testable without a network.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from handlers.events import CAMPAIGN_TAG, Event, EventKind
from handlers.replies import AnswerCallback, Button, Deliver, EditMessage, Keyboard, Reply, SendMessage
from handlers.state import ConversationState
from storage.funnel import FunnelBuffer

if TYPE_CHECKING:
    from datetime import date

    from handlers.i18n import I18n, Translator
    from petition.campaign import Campaign, Campaigns
    from storage.db import Database
    from storage.state import StateStore


def utc_now() -> datetime:
    """The real clock: an aware datetime in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Services:
    """What every step may use: built once per core (``handlers.core.build_services``, which
    ``bot.app`` reaches through ``build_core``) and once by the broadcast sender."""

    db: Database
    campaign: Campaign  # the home campaign (CAMPAIGN): links without a campaign open it
    i18n: I18n
    bot_username: str
    store: StateStore  # rate limits (flood control, /verify) shared by every worker
    receipt_key: bytes  # the receipt secret (storage.receipts)
    admin_ids: frozenset[int] = frozenset()
    retention_days: int = 180  # RETENTION_DAYS after CAMPAIGN_END, personal data is purged
    milestones: tuple[int, ...] = ()  # totals that send a message to opted-in signers, ascending
    flood_limit: int = 30  # updates per minute per person before "please slow down"
    # What "now" is for decisions (is the campaign closed, the funnel's day): tests pass a fixed one.
    clock: Callable[[], datetime] = utc_now
    # One /export at a time: a PDF holds about 130 MB per 100,000 names while it is written.
    # Never awaited while held (a second /export is refused instead), so it never binds to an
    # event loop; one per core, so the handlers keep no process-wide state.
    exporting: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
    # The anonymous funnel counts of this process, written every few seconds (``bot.app``), not per step.
    funnel: FunnelBuffer = field(default_factory=FunnelBuffer)
    # Every live campaign, the home one first (``campaigns/*.toml``); None: the home one alone.
    campaigns: Campaigns | None = None

    def all_campaigns(self) -> tuple[Campaign, ...]:
        return self.campaigns.all if self.campaigns is not None else (self.campaign,)

    def live_campaign(self, slug: str | None) -> Campaign | None:
        """The live campaign ``slug`` (a link's, a button's, an organiser's argument), or None."""
        if self.campaigns is None:
            return self.campaign if slug == self.campaign.slug else None
        return self.campaigns.get(slug)

    def open_campaigns(self) -> list[Campaign]:
        """The campaigns collecting signatures today, the featured one first."""
        return sorted((c for c in self.all_campaigns() if not self.is_closed(c)), key=lambda c: not c.featured)

    def campaign_named(self, slug: str | None) -> Campaign:
        """The campaign ``slug`` (a conversation's, a broadcast's, a signature's); the home one
        for none, or for one no longer live."""
        if slug == self.campaign.slug or self.campaigns is None:
            return self.campaign
        return self.campaigns.named(slug)

    def end_of(self, campaign: Campaign) -> date | None:
        """The last day ``campaign`` collects signatures (for the home one ``CAMPAIGN_END``, which
        ``load_campaigns`` has put in its ``ends``)."""
        return campaign.ends

    def is_closed(self, campaign: Campaign) -> bool:
        """True the day after its end (the end day itself still collects)."""
        return campaign.closed_on(self.clock().date())

    def retention_of(self, campaign: Campaign) -> int:
        """Days ``campaign``'s personal data is kept after its end: its file's ``retention_days``,
        else ``RETENTION_DAYS``."""
        return campaign.kept_for(self.retention_days)

    def milestones_of(self, campaign: Campaign) -> tuple[int, ...]:
        """The totals announced to its news subscribers: ``MILESTONES`` for the home campaign."""
        return self.milestones if campaign.slug == self.campaign.slug else campaign.milestones


@dataclass(slots=True)
class Turn:
    event: Event
    state: ConversationState
    services: Services
    replies: list[Reply] = field(default_factory=list)
    funnel: list[str] = field(default_factory=list)  # anonymous funnel steps reached in this turn
    # Long work (an export) that runs after the replies, outside the user's lock, with the
    # runtime's deliver function so it can send and edit messages as it goes.
    followups: list[Callable[[Deliver], Coroutine[Any, Any, None]]] = field(default_factory=list)
    # The campaign a button shown for one letter acts on in this turn only ("Stop updates"
    # under its news), without moving the conversation (``handlers.conversation.step``).
    acting_on: str | None = None

    @property
    def t(self) -> Translator:
        return self.services.i18n.get(self.state.locale)

    @property
    def campaign(self) -> Campaign:
        """The campaign this turn is about: the conversation's (opened by its link or chosen; the
        home one until then), or the one a pressed button was shown for (``acting_on``)."""
        return self.services.campaign_named(self.acting_on or self.state.campaign)

    def which_letter(self, campaign: Campaign | None = None) -> str:
        """``campaign``'s title in bold (the conversation's by default), to head a reply that must
        say which letter it is about when several are live; "" when there is one."""
        if len(self.services.all_campaigns()) == 1:
            return ""
        title = self.t.catalog.gettext((campaign or self.campaign).title)
        return f"<b>{html.escape(title, quote=False)}</b>"

    def headed(self, text: str, campaign: Campaign | None = None) -> str:
        """``text`` under ``which_letter(campaign)`` when several letters are live."""
        heading = self.which_letter(campaign)
        return f"{heading}\n\n{text}" if heading else text

    @property
    def user_id(self) -> int:
        """The sender's Telegram id. The core runs no step for an update that is nobody's
        (``Event.sender``), so a chat's id never stands in for a person."""
        sender = self.event.sender
        if sender is None:
            raise LookupError(f"update {self.event.update_id} has no sender of its own")
        return sender.id

    def count(self, funnel_step: str) -> None:
        """Count this person reaching a funnel step, once (the count itself is anonymous)."""
        if funnel_step not in self.state.counted:
            self.state.counted = (*self.state.counted, funnel_step)
            self.funnel.append(funnel_step)

    def send(self, text: str, buttons: Keyboard = ()) -> None:
        self.replies.append(SendMessage(self.event.chat.id, text, buttons))

    def show(self, text: str, buttons: Keyboard = ()) -> None:
        """Replace the message whose button was pressed, or send a new one."""
        if self.event.kind is EventKind.BUTTON and self.event.message_id is not None:
            self.replies.append(EditMessage(self.event.chat.id, self.event.message_id, text, buttons))
        else:
            self.send(text, buttons)

    def answer(self, text: str | None = None, *, alert: bool = False) -> None:
        """Answer the pressed button (stops the client's spinner); at most once per turn."""
        if self.event.callback_id and not any(isinstance(r, AnswerCallback) for r in self.replies):
            self.replies.append(AnswerCallback(self.event.callback_id, text, alert))


def for_campaign(services: Services, campaign: Campaign, data: str) -> str:
    """``data`` for a button that must act on ``campaign`` whatever the conversation is about when
    it is pressed (a "Stop updates" under an older letter's news): ``<data>~<slug>`` while several
    campaigns are live. With one, buttons stay as they always were; such a button without a tag
    acts on the home campaign (``handlers.conversation.step``)."""
    if len(services.all_campaigns()) == 1:
        return data
    return f"{data}{CAMPAIGN_TAG}{campaign.slug}"


def button(text: str, data: str) -> Button:
    """An inline button; ``data`` must stay within Telegram's 64 bytes."""
    assert len(data.encode("utf-8")) <= 64, data
    return Button(text=text, callback_data=data)


def rows(*buttons: Button, width: int = 1) -> Keyboard:
    """Lay out buttons ``width`` to a row."""
    items = list(buttons)
    return tuple(tuple(items[i : i + width]) for i in range(0, len(items), width))
