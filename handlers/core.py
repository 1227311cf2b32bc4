"""The conversation core: the one entry point both runtimes call.

``Core.handle(event, deliver)``:

0. an update that is nobody's (``Event.sender``: no ``from``, or a private chat that is
   not its sender's) is dropped at once: no state, no step, no answer but an empty one to
   a pressed button;
1. flood control, before anything else: an account sending more than ``flood_limit``
   updates a minute gets one "please slow down" and its extra updates are dropped
   at the cost of one counter increment each, so it cannot slow the bot for
   everyone; signing itself (the inputs the map marks ``signing``) goes on, up to
   a ceiling of ``EXEMPT_CEILING`` times the limit a minute (no signer needs more);
2. serialises each user's events with the state store's lock (two quick taps are
   handled one after the other, also across worker processes sharing Redis);
3. de-duplicates the update by ``update_id`` (Telegram re-delivers webhooks, and polled
   updates not yet confirmed after a crash): an update is skipped only if it was marked
   finished after its replies; one a killed process left half-way is handled again;
4. loads the user's state, runs one step of ``handlers.conversation``, saves the state
   (private chats only) and bumps the anonymous funnel counts (a day by ``Services.clock``);
5. delivers the replies in order through ``deliver`` (the runtime's API calls),
   inside the lock, so a user's messages never interleave;
6. starts the turn's follow-ups (an export) in the background, outside the lock;
   ``settle`` waits for them (tests, shutdown).

A step is all or nothing: the state is saved only when the step succeeded, the replies go
out only after that, and a transient failure of the database or the state store (a
restart, a dropped connection) is tried once more before anything is sent. A failure that
remains is logged once (the error's type and traceback lines, never its message, message
text or names) and answered with a kind apology; the person's step and buttons stay as
they were, so pressing again continues.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import traceback
from collections.abc import Callable, Coroutine
from datetime import date, datetime
from pathlib import Path
from typing import Any

from handlers import conversation, fallback, organiser
from handlers.events import Event, EventKind
from handlers.i18n import LOCALES_DIR, MIN_COMPLETE, I18n, Translator
from handlers.replies import AnswerCallback, Deliver, Reply, SendMessage
from handlers.state import ConversationState
from handlers.turn import Services, Turn, utc_now
from petition.campaign import CAMPAIGNS_DIR, load_campaigns
from storage.db import Database
from storage.errors import StateStoreError, StoreUnavailable, is_transient
from storage.funnel import FunnelKey
from storage.state import StateStore

log = logging.getLogger(__name__)

DEDUP_TTL = 24 * 3600  # Telegram gives up re-delivering long before this
RETRY_PAUSE = 1.0  # seconds before a step that met a transient failure is tried once more
CANCEL_WAIT = 2.0  # seconds ``settle(cancel=True)`` gives cancelled follow-ups to clean up (delete files)
FLOOD_WINDOW = 60  # seconds: flood control counts each account's updates per minute
# Signing input goes on past the limit, but not without end: at most this many times the
# limit a minute in all (a typed "name" or "country" is otherwise a way around the limit).
EXEMPT_CEILING = 3


class Core:
    def __init__(
        self, *, store: StateStore, services: Services, state_ttl: int, retry_pause: float = RETRY_PAUSE
    ) -> None:
        self.store = store
        self.services = services
        self.state_ttl = state_ttl
        self.retry_pause = retry_pause
        self._background: set[asyncio.Task[None]] = set()
        self._handling = 0  # ``handle`` calls in progress (they may still start follow-ups)

    async def handle(self, event: Event, deliver: Deliver) -> None:
        self._handling += 1
        try:
            await self._handle(event, deliver)
        finally:
            self._handling -= 1

    async def _handle(self, event: Event, deliver: Deliver) -> None:
        sender = event.sender
        if sender is None:
            await self._nobody(event, deliver)
            return
        owner = sender.id
        try:
            if await self._flooding(event, owner, deliver):
                return
            turn = await self._step_once(event, owner, deliver)
            if turn is None:
                return
            for followup in turn.followups:  # long work (exports) runs outside the user's lock
                self._start(followup(deliver), event.update_id)
        except Exception as error:
            if is_transient(error):  # a restart or a dropped connection, met twice: no bug to trace
                log.warning("update %s failed: %s (apologised)", event.update_id, type(error).__name__)
            else:
                log.error(
                    "update %s failed: %s\n%s",
                    event.update_id,
                    type(error).__name__,
                    "".join(traceback.format_tb(error.__traceback__)),
                )
            await self._deliver_all(self._apology(event), deliver)
            await self._mark_finished(event)  # answered: a re-delivery would only surprise them

    async def _step_once(self, event: Event, owner: int, deliver: Deliver) -> Turn | None:
        """Run the person's step under their lock, once per update, all or nothing.

        The state is saved only when the step succeeded, and the replies are sent only after
        that: a step that fails leaves the person where they were, with the same buttons, so
        pressing again continues. A transient failure (``storage.errors.is_transient``: Redis
        or the database restarting, a dropped connection, SQLite busy) is tried once more
        after ``retry_pause`` seconds: the whole step if it met it before the step had run
        (the lock, the state), else only the saving of the state, so a write the step made
        (a withdrawal, say) is never made twice. Only a second failure reaches the person as
        an apology. None: a duplicate, already handled.

        An update is skipped only when it was marked finished after its replies (Telegram
        re-delivers webhooks, and polled updates not yet confirmed after a crash); under
        the person's lock that mark is the whole answer, so one a killed process left
        half-way is handled again.
        """
        stepped = False
        for attempt in (1, 2):
            try:
                finished = f"handled:{event.update_id}"
                async with self.store.lock(f"lock:{owner}", read=(finished, f"state:{owner}")) as held:
                    handled, saved = held.values
                    if handled is not None:
                        log.info("update %s: duplicate, skipped", event.update_id)
                        return None
                    turn = await self._step(event, saved)
                    stepped = True
                    await self._save(turn, owner)
                    await self._deliver_all(turn.replies, deliver)
                    held.save_on_release(finished, {}, DEDUP_TTL)  # marked finished as the lock is released
                    return turn
            except Exception as error:
                if attempt == 1 and not stepped and is_transient(error):
                    log.warning("update %s: %s, trying once more", event.update_id, type(error).__name__)
                    await asyncio.sleep(self.retry_pause)
                    continue
                raise
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _mark_finished(self, event: Event) -> None:
        """Mark the update finished (see ``_finished``); the person has their answer already,
        so a failure here is only logged."""
        try:
            await self.store.save(f"handled:{event.update_id}", {}, DEDUP_TTL)
        except StateStoreError as error:
            log.warning("update %s: could not mark it finished (%s)", event.update_id, type(error).__name__)

    async def _nobody(self, event: Event, deliver: Deliver) -> None:
        """An update that is nobody's (``Event.sender`` is None: no ``from``, or a private chat
        that is not its sender's; only a forgery looks like that): no state is read or kept,
        no step runs, nothing is sent to the chat. A pressed button is answered, empty, so a
        client's spinner would stop."""
        # Worth a warning: Telegram never sends such an update, so the webhook secret may have leaked.
        log.warning("update %s: nobody's (no sender, or a private chat not its sender's): ignored", event.update_id)
        if event.callback_id:
            await self._deliver_all([AnswerCallback(event.callback_id, None)], deliver)

    async def _flooding(self, event: Event, owner: int, deliver: Deliver) -> bool:
        """True if this update is one too many this minute and is dropped (before the lock
        and the state: a flooder costs one counter increment per update). The first one over
        the limit brings one "please slow down"; signing input is let through up to
        ``EXEMPT_CEILING`` times the limit (counted apart, so junk sent before cannot
        use up a signer's allowance), and dropped beyond it without another message."""
        limit = self.services.flood_limit
        try:
            count = await self.store.hit(f"flood:{owner}", FLOOD_WINDOW)
        except StoreUnavailable:
            # Flood control protects; it must not turn a state-store blip into an apology
            # before the step had its retry (``_step_once``). Let the update through.
            log.warning("update %s: flood control skipped (state store unavailable)", event.update_id)
            return False
        if count <= limit:
            return False
        typed = event.kind is EventKind.TEXT and event.chat.is_private and not event.forwarded
        state: ConversationState | None = None
        if count == limit + 1 or typed:  # the state is read only when needed
            state = ConversationState.from_dict(await self.store.load(f"state:{owner}"))
        signing = (event.kind is EventKind.BUTTON and event.action in conversation.SIGNING_BUTTONS) or (
            typed and state is not None and state.step in conversation.SIGNING_TEXT
        )
        if count == limit + 1:
            log.info(
                "update %s: more than %d updates a minute from one account: slowing it down", event.update_id, limit
            )
            await self._deliver_all(self._slow_down(event, state, answer_button=not signing), deliver)
        if not signing:
            return True
        exempt = await self.store.hit(f"flood-signing:{owner}", FLOOD_WINDOW)
        return exempt > (EXEMPT_CEILING - 1) * limit

    def _slow_down(self, event: Event, state: ConversationState | None, *, answer_button: bool) -> list[Reply]:
        """The one "please slow down" of a minute: in the private chat, and on a pressed button."""
        i18n = self.services.i18n
        locale = (
            state.locale if state and state.locale else i18n.match(event.user.language_code if event.user else None)
        )
        # Translators: sent once when someone sends very many messages or taps within a minute; at most 200 characters.
        text = i18n.get(locale).gettext(
            "You are sending messages very fast, so I will pause for a minute. Please slow down, then try again."
        )
        replies: list[Reply] = []
        if event.callback_id and answer_button:
            replies.append(AnswerCallback(event.callback_id, text, show_alert=False))
        if event.chat.is_private:
            replies.append(SendMessage(event.chat.id, text))
        return replies

    def _start(self, work: Coroutine[Any, Any, None], update_id: int) -> None:
        """Run a follow-up in the background; ``settle`` waits for it (tests, shutdown)."""

        async def guarded() -> None:
            try:
                await work
            except Exception as error:  # logged once, like a failed step
                log.error("update %s: follow-up failed: %s", update_id, type(error).__name__)

        task = asyncio.create_task(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def settle(self, within: float | None = None, *, cancel: bool = False) -> None:
        """Wait (at most ``within`` seconds) until no update is being handled and no follow-up
        runs, including follow-ups started meanwhile (in tests, and at shutdown).

        With ``cancel`` the follow-ups still running then are cancelled and given
        ``CANCEL_WAIT`` seconds to end: an export's ``finally`` deletes its files.
        """
        try:
            async with asyncio.timeout(within):
                while self._handling or self._background:
                    if self._background:
                        # A handle still running may start another follow-up: look again soon.
                        await asyncio.wait(set(self._background), timeout=0.05 if self._handling else None)
                    else:
                        await asyncio.sleep(0.01)
        except TimeoutError:
            pass
        if cancel and self._background:
            left = list(self._background)
            log.warning("%d follow-up(s) still running; cancelling them", len(left))
            for task in left:
                task.cancel()
            await asyncio.wait(left, timeout=CANCEL_WAIT)

    async def _step(self, event: Event, saved: dict[str, Any] | None) -> Turn:
        state = ConversationState.from_dict(saved)
        if state.locale is None:  # someone new, or back after their answers expired: their Telegram language
            state.locale = self.services.i18n.match(event.user.language_code if event.user else None)
        turn = Turn(event=event, state=state, services=self.services)
        await conversation.step(turn)
        turn.answer()  # a pressed button is always answered, so the client's spinner stops
        log.info("update %s: %s -> %s", event.update_id, event.kind.value, turn.state.step.value)
        return turn

    async def _save(self, turn: Turn, owner: int) -> None:
        """Keep the state the step left (tried once more on a transient failure: the step
        itself is not run again) and count the funnel steps it reached."""
        if turn.event.chat.is_private:  # groups never hold a conversation: nothing to keep about anyone
            key, data = f"state:{owner}", turn.state.to_dict()
            try:
                await self.store.save(key, data, self.state_ttl)
            except Exception as error:
                if not is_transient(error):
                    raise
                log.warning(
                    "update %s: %s saving the state, trying once more", turn.event.update_id, type(error).__name__
                )
                await asyncio.sleep(self.retry_pause)
                await self.store.save(key, data, self.state_ttl)
        self._count(turn)

    def _count(self, turn: Turn) -> None:
        """Anonymous funnel counts: a day, a language, a source; never who. Gathered in
        memory and written every few seconds (``flush_counts``), not one write per step."""
        today = self.services.clock().date()
        campaign, language, source = turn.campaign.slug, turn.t.locale, turn.state.source or ""
        for step_name in turn.funnel:
            self.services.funnel.add(FunnelKey(campaign, today, step_name, language, source))

    async def flush_counts(self) -> None:
        """Write the gathered funnel counts (the bot's timer, and at shutdown); a failure is
        logged once and the counts wait for the next flush."""
        try:
            await self.services.funnel.flush(self.services.db)
        except Exception as error:
            log.warning("funnel counts not written yet (%s): kept for the next flush", type(error).__name__)

    @staticmethod
    async def _deliver_all(replies: list[Reply], deliver: Deliver) -> None:
        for reply in replies:
            result = await deliver(reply)
            if not result.ok and result.error == "blocked":
                return  # the user blocked the bot: nothing more can reach them

    def menu_commands(self) -> dict[str | None, list[tuple[str, str]]]:
        """Telegram's command menu per language (``setMyCommands`` takes ISO 639-1 codes)."""
        return self._menus(fallback.command_lines)

    def admin_menu_commands(self) -> dict[str | None, list[tuple[str, str]]]:
        """The organisers' menu: everyone's commands plus /stats and /export."""
        return self._menus(lambda t: [*fallback.command_lines(t), *organiser.command_lines(t)])

    def _menus(self, lines: Callable[[Translator], list[str]]) -> dict[str | None, list[tuple[str, str]]]:
        i18n = self.services.i18n
        menus: dict[str | None, list[tuple[str, str]]] = {}
        for locale in i18n.locales:
            language = None if locale == i18n.default_locale else locale.split("_")[0]
            if language in menus:
                continue  # zh_Hans and zh_Hant share "zh": the first catalog wins
            entries = []
            for line in lines(i18n.get(locale)):
                command, _, description = line.partition(" ")
                entries.append((command.lstrip("/"), description.lstrip(" —–-:").strip()[:256] or command))
            menus[language] = entries
        return menus

    def _apology(self, event: Event) -> list[Reply]:
        i18n = self.services.i18n
        t = i18n.get(i18n.match(event.user.language_code if event.user else None))
        # Translators: shown when the database or the bot fails; at most 200 characters (it may appear as a pop-up).
        text = t.gettext("Sorry, something went wrong on our side. Please try again in a minute.")
        replies: list[Reply] = []
        if event.callback_id:
            replies.append(AnswerCallback(event.callback_id, text, show_alert=True))
        elif event.chat.is_private:
            replies.append(SendMessage(event.chat.id, text))
        return replies


def build_services(
    *,
    store: StateStore,
    db: Database,
    campaign: str,
    default_locale: str,
    admin_ids: frozenset[int],
    bot_username: str,
    locales_dir: Path = LOCALES_DIR,
    receipt_key: bytes | None = None,
    campaign_end: date | None = None,
    retention_days: int = 180,
    milestones: tuple[int, ...] | None = None,
    flood_limit: int = 30,
    translation_threshold: float = MIN_COMPLETE,
    clock: Callable[[], datetime] = utc_now,
    campaigns_dir: Path = CAMPAIGNS_DIR,
) -> Services:
    """What every step may use, from plain arguments (for ``build_core`` and for the
    broadcast sender, ``bot.broadcasting``).

    ``receipt_key`` is the receipt secret (``storage.receipts.load_key``); without it
    (tests, the i18n rehearsal) a key of this process only is used. ``milestones``
    default to the campaign file's; the campaign's goal is always one. ``campaign`` is the
    home campaign; every other file of ``campaigns_dir`` is live beside it.
    """
    campaigns = load_campaigns(campaign, campaigns_dir, home_ends=campaign_end)
    loaded = campaigns.home
    chosen = loaded.milestones if milestones is None else (*milestones, loaded.goal)
    return Services(
        db=db,
        campaign=loaded,
        campaigns=campaigns,
        i18n=I18n(locales_dir, default_locale=default_locale, min_complete=translation_threshold),
        bot_username=bot_username,
        store=store,
        receipt_key=receipt_key or secrets.token_bytes(32),
        admin_ids=admin_ids,
        retention_days=retention_days,
        milestones=tuple(sorted(set(chosen))),
        flood_limit=flood_limit,
        clock=clock,
    )


def build_core(*, state_ttl: int, **services: Any) -> Core:
    """Assemble the core (for the bot ``bot.app``, for the i18n rehearsal ``bot.preview``,
    and tests); ``services`` are ``build_services``' arguments. Removing what a killed
    export left on disk is the bot's startup's job (``bot.app``), not this one's."""
    return Core(store=services["store"], services=build_services(**services), state_ttl=state_ttl)
