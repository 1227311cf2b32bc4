"""Wiring: the one place that picks the runtime, the state store and the database.

``BotApp(settings, mode=...)`` connects to the state store and the database
(failing with one line naming ``REDIS_URL`` or ``DATABASE_URL`` if they do not
answer), applies migrations, calls getMe, builds the core and then either polls
or serves the webhook. ``run(stop)`` does all of it until ``stop`` is set and
shuts down gracefully within one deadline (``SHUTDOWN_DEADLINE``): no new
updates, in-flight ones finish with whatever time is left, follow-ups (an export
being made) get a short grace and are then cancelled so their temporary files are
deleted, and the database and state-store pools are always closed at the end.

Error messages name the setting at fault with URLs masked (``mask_url``) and every
registered secret (``bot.logs.secret_filter``) replaced by ``***``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy import text

from bot.broadcasting.sender import Broadcaster
from bot.flood_gate import share as share_flood_pauses
from bot.logs import mask_secrets, mask_url
from bot.metrics import count_errors, instrument
from bot.metrics_http import metrics_route
from bot.runtimes import BotCommand, BotInfo, Runtime, RuntimeName, make_runtime
from bot.services import load_receipt_key, make_database, make_store
from bot.settings import Settings, load_settings
from bot.webhook import WebhookServer, webhook_url
from handlers.events import Event
from handlers.replies import Deliver
from storage.db import Database
from storage.state import StateStore

if TYPE_CHECKING:
    from handlers.turn import Services

log = logging.getLogger("bot.app")

Mode = Literal["polling", "webhook"]
# What one process does (``python -m bot run --workers N``, ``bot.workers``): "single" everything,
# as one process always did; "setup" the once-per-start work (migrations, receipts' backfill, the
# stale exports' sweep, the command menus, then ``set_webhook`` once the workers listen) and no
# serving; "worker" serves the shared port and runs the broadcast sender and the funnel timer.
Role = Literal["single", "setup", "worker"]
# Platforms usually allow ~30 s between SIGTERM and SIGKILL: the whole stop fits in this, each
# phase getting what the ones before it left. The last CLOSE_RESERVE seconds (at most a tenth of
# the deadline) are kept for closing the HTTP session and the pools.
SHUTDOWN_DEADLINE = 30.0
CLOSE_RESERVE = 2.0
# Follow-ups (an export being made and sent) get at most this long once the updates are done,
# and never more than what the deadline leaves; the rest are cancelled and their files deleted.
FOLLOWUP_GRACE = 10.0
FOLLOWUP_CANCEL = 2.0  # kept within the deadline for cancelled follow-ups to clean up
FUNNEL_FLUSH_EVERY = 5.0  # seconds between writes of the anonymous funnel counts (storage.funnel)
DEMO_TOKEN = "123456:DEMO"  # noqa: S105 - a throwaway token only the local emulator accepts


class StartupError(Exception):
    """A service the bot needs is unreachable; the message is one line for the operator."""


class CoreLike(Protocol):
    """What the app needs of a core (``handlers.core.Core``; tests' stand-ins implement it too)."""

    @property
    def services(self) -> Services | None:
        """What the broadcast sender sends with; None for a stand-in core: no sender runs."""

    async def handle(self, event: Event, deliver: Deliver) -> None: ...

    def menu_commands(self) -> dict[str | None, list[tuple[str, str]]]:
        """Telegram's command menu per language code (None: the default), may be empty."""

    def admin_menu_commands(self) -> dict[str | None, list[tuple[str, str]]]:
        """The organisers' menu, the same shape."""

    async def settle(self, within: float | None = None, *, cancel: bool = False) -> None:
        """Wait for follow-ups (exports) to end; with ``cancel``, cancel what is left then."""

    async def flush_counts(self) -> None:
        """Write the anonymous funnel counts gathered since the last time (never raises)."""


CoreFactory = Callable[..., CoreLike]  # keyword arguments as ``handlers.core.build_core``


def _reason(error: BaseException) -> str:
    """A short, secret-free reason: the exception type and the first line of its message."""
    inner = getattr(error, "orig", None) or error.__cause__ or error
    first = (str(inner).strip().splitlines() or [""])[0][:200]
    return mask_secrets(f"{type(inner).__name__}: {first}" if first else type(inner).__name__)


def _shown(url: str) -> str:
    """A URL fit for an error message: its password and every registered secret masked."""
    return mask_secrets(mask_url(url))


async def migrate(database_url: str) -> str:
    """Apply every migration and return the revision the database is now at."""
    from storage.migrate import upgrade

    try:
        await upgrade(database_url)
        db = Database(database_url, pool_size=1)
        try:
            async with db.engine.connect() as connection:
                revision = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        finally:
            await db.dispose()
    except Exception as error:
        raise StartupError(
            f"DATABASE_URL {_shown(database_url)} cannot be reached or migrated ({_reason(error)})"
        ) from None
    return str(revision or "base")


def listen_error(settings: Settings, error: OSError) -> str:
    """The one line for a port the bot cannot listen on (taken, or not allowed)."""
    return f"cannot listen on WEBHOOK_LISTEN:PORT {settings.webhook_listen}:{settings.port} ({_reason(error)})"


def _default_core_factory(**kwargs: Any) -> CoreLike:
    from handlers.core import build_core

    return build_core(**kwargs)


class BotApp:
    def __init__(
        self,
        settings: Settings,
        *,
        mode: Mode = "polling",
        runtime: RuntimeName | None = None,
        core_factory: CoreFactory | None = None,
        role: Role = "single",
    ) -> None:
        self.settings = settings
        self.mode = mode
        self.role: Role = role
        self.runtime_name: RuntimeName = runtime or settings.bot_runtime
        self._core_factory = core_factory
        self.runtime: Runtime | None = None
        self.core: CoreLike | None = None
        self.store: StateStore | None = None
        self.db: Database | None = None
        self.server: WebhookServer | None = None
        self.info: BotInfo | None = None
        self.port: int | None = None
        self._stop_polling = asyncio.Event()
        self._polling: asyncio.Task[None] | None = None
        self._flushing: asyncio.Task[None] | None = None  # the funnel counts' timer
        self._sharing_pauses: asyncio.Task[None] | None = None  # bot.flood_gate.share, with Redis
        self.broadcaster: Broadcaster | None = None

    async def start(self) -> BotInfo:
        """Connect, migrate, getMe, build the core and start receiving updates."""
        settings = self.settings
        token = settings.token  # SettingsError before we touch anything
        if self.mode == "webhook":
            _, secret = settings.require_webhook()
        self.store = make_store(settings)
        try:
            await self.store.ping()
        except Exception as error:
            raise StartupError(
                f"REDIS_URL {_shown(settings.redis_url or '')} is unreachable ({_reason(error)})"
            ) from None
        if self.role != "worker":  # the setup process has migrated before any worker starts
            await migrate(settings.database_url)
        # Workers share the database server's connections: together as many as one process uses.
        pool = math.ceil(settings.max_concurrent_updates / settings.workers) if self.role == "worker" else None
        self.db = make_database(settings, pool_size=pool)

        self.runtime = make_runtime(
            self.runtime_name,
            token=token,
            api_url=settings.telegram_api_url,
            max_concurrent_updates=settings.max_concurrent_updates,
        )
        try:
            self.info = await self.runtime.start()
        except Exception as error:
            raise StartupError(
                f"getMe failed at TELEGRAM_API_URL {_shown(settings.telegram_api_url)}: "
                f"check BOT_TOKEN and the network ({_reason(error)})"
            ) from None
        receipt_key = await self._receipt_key()
        if self.role != "worker":  # a worker's sibling may be making an export right now
            from handlers.organiser import sweep_stale_exports

            # What exports left on disk (names) when an earlier run stopped mid-export; before
            # the core is built, so no export of this process is running yet.
            sweep_stale_exports()
        factory = self._core_factory or _default_core_factory
        try:
            core = factory(
                store=self.store,
                db=self.db,
                campaign=settings.campaign,
                campaigns_dir=settings.campaigns_dir,
                default_locale=settings.default_locale,
                admin_ids=settings.admin_ids,
                state_ttl=settings.state_ttl,
                bot_username=self.info.username,
                receipt_key=receipt_key,
                campaign_end=settings.campaign_end,
                retention_days=settings.retention_days,
                milestones=settings.milestones,
                flood_limit=settings.flood_limit,
                translation_threshold=settings.translation_threshold,
            )
        except Exception as error:
            log.debug("building the core failed", exc_info=True)
            raise StartupError(
                f"cannot build the conversation for CAMPAIGN={settings.campaign!r}, "
                f"DEFAULT_LOCALE={settings.default_locale!r} ({_reason(error)})"
            ) from None
        self.core = core
        if core.services is not None and core.services.i18n.not_yet:
            log.info(
                "not offered to signers yet (under %d%% translated): %s",
                settings.translation_threshold,
                ", ".join(core.services.i18n.not_yet),
            )
        count_errors()
        self.runtime.attach(instrument(core.handle))
        if self.role != "worker":
            await self._publish_commands(core)
        if self.role != "setup":
            self._start_broadcaster(core)
            self._flushing = asyncio.create_task(self._flush_counts_every(core, FUNNEL_FLUSH_EVERY))
            if settings.redis_url:  # other workers may share this bot: tell them of 429s, hear theirs
                self._sharing_pauses = asyncio.create_task(share_flood_pauses(self.runtime.flood_gate, self.store))
        log.info(
            "bot @%s starting: runtime %s, %s mode%s",
            self.info.username,
            self.runtime_name,
            self.mode,
            "" if self.role == "single" else f", {self.role}",
        )

        if self.mode == "polling":
            try:
                await self.runtime.delete_webhook()  # getUpdates is refused while a webhook is set
            except Exception as error:
                raise StartupError(f"deleteWebhook failed before polling ({_reason(error)})") from None
            self._stop_polling.clear()
            self._polling = asyncio.create_task(self.runtime.run_polling(self._stop_polling))
            return self.info
        if self.role == "setup":
            return self.info  # the workers serve; ``set_webhook`` once they listen

        self.server = WebhookServer(
            self.runtime,
            secret=secret,
            max_concurrent_updates=settings.max_concurrent_updates,
            health=self.healthy,
        )
        if core.services is not None:  # the campaign's page, count and metrics share the webhook's port
            from bot.site import campaign_site

            campaign_site(core.services).add_to(self.server.app)
            secret_for_metrics = settings.metrics_token.get_secret_value() if settings.metrics_token else None
            metrics = metrics_route(self.db, core.services.campaign.slug, secret_for_metrics)
            self.server.app.router.add_get("/metrics", metrics)
        try:
            self.port = await self.server.start(
                settings.webhook_listen, settings.port, grace=SHUTDOWN_DEADLINE, reuse_port=self.role == "worker"
            )
        except OSError as error:
            raise StartupError(listen_error(settings, error)) from None
        if self.role == "single":
            await self.set_webhook()
        return self.info

    async def set_webhook(self) -> None:
        """Tell Telegram where to deliver (``WEBHOOK_URL``), once something listens there."""
        assert self.runtime is not None, "start() first"
        url, secret = self.settings.require_webhook()
        try:
            await self.runtime.set_webhook(webhook_url(url), secret)
        except Exception as error:
            raise StartupError(
                f"setWebhook refused WEBHOOK_URL {_shown(webhook_url(url))} ({_reason(error)})"
            ) from None

    def _start_broadcaster(self, core: CoreLike) -> None:
        """Every process runs the broadcast sender; only the lease holder sends (bot.broadcasting)."""
        services = core.services
        if services is None or self.runtime is None:
            return  # a stand-in core (tests) has no services to send with
        self.broadcaster = Broadcaster(services, self.runtime, rate=self.settings.broadcast_rate)
        self.broadcaster.start()

    async def _receipt_key(self) -> bytes:
        """The receipt secret (``RECEIPT_SECRET`` or the generated one in the database), and a
        receipt for every signature stored before receipts existed."""
        from storage import receipts

        assert self.db is not None
        try:
            key = await load_receipt_key(self.settings, self.db)
            # Once per start, not once per worker: the setup process has done it.
            assigned = 0 if self.role == "worker" else await receipts.backfill(self.db, key)
        except Exception as error:
            raise StartupError(f"DATABASE_URL: cannot read the receipt secret ({_reason(error)})") from None
        if assigned:
            log.info("gave receipts to %d signature(s) stored before receipts existed", assigned)
        return key

    async def _publish_commands(self, core: CoreLike) -> None:
        """Fill Telegram's command menu: ``menu_commands()`` for everyone and
        ``admin_menu_commands()`` for each ``ADMIN_IDS`` chat (``{language_code or None:
        [(command, description)]}``, empty for a stand-in core); a failure
        here is logged and does not stop the bot (Telegram refuses a chat scope for an
        organiser who has never opened the bot: the menu appears after the next start).
        """
        if self.runtime is None:
            return
        menus: list[tuple[int | None, dict[str | None, list[tuple[str, str]]]]] = [(None, core.menu_commands())]
        # Organisers see their commands in their own menu only (a per-chat scope).
        menus += [(admin, core.admin_menu_commands()) for admin in sorted(self.settings.admin_ids)]
        for chat_id, by_language in menus:
            for language, commands in by_language.items():
                try:
                    await self.runtime.set_commands(
                        [BotCommand(c, d) for c, d in commands], language_code=language, chat_id=chat_id
                    )
                except Exception as error:
                    where = "an organiser's chat" if chat_id else "everyone"
                    log.warning("setMyCommands (%s, %s) failed (%s)", where, language or "default", _reason(error))

    async def run(self, stop: asyncio.Event, on_started: Callable[[], None] | None = None) -> None:
        """Start, call ``on_started`` (a worker tells its parent it listens), serve until
        ``stop`` is set, then shut down.

        If polling ends by itself (an unexpected error), the bot shuts down and
        ``StartupError`` tells the caller to exit non-zero, so the platform restarts it.
        """
        polling_died = False
        try:
            await self.start()
            if on_started is not None:
                on_started()
            stopped = asyncio.ensure_future(stop.wait())
            waiters: set[asyncio.Future[Any]] = {stopped}
            if self._polling is not None:
                waiters.add(self._polling)
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            polling_died = stopped not in done
        finally:
            await self.stop()
        if polling_died:
            raise StartupError("polling stopped unexpectedly (see the log above); exiting so the bot is restarted")

    async def stop(self, deadline: float = SHUTDOWN_DEADLINE) -> None:
        """Stop receiving, let in-flight updates finish, close everything, all within
        ``deadline`` seconds. The pools are closed whatever happens before. Idempotent."""
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline - min(CLOSE_RESERVE, deadline / 10)  # kept for closing

        def remaining() -> float:
            return max(end - loop.time(), 0.0)

        if self._flushing is not None:
            self._flushing.cancel()  # the last flush follows the last update (_settle_followups)
            self._flushing = None
        if self._sharing_pauses is not None:
            self._sharing_pauses.cancel()
            self._sharing_pauses = None
        if self.broadcaster is not None:
            self.broadcaster.request_stop()  # no new claims from now on
        try:
            if self._polling is not None:
                self._stop_polling.set()
                polling, self._polling = self._polling, None
                try:
                    await asyncio.wait_for(polling, remaining())
                except Exception as error:
                    log.error("polling stopped with an error (%s)", _reason(error))
            if self.server is not None:
                server, self.server = self.server, None
                await server.stop(grace=remaining())
            if self.runtime is not None:
                runtime, self.runtime = self.runtime, None
                try:
                    # In-flight broadcast messages are answered and recorded while the runtime is open.
                    await self._stop_broadcaster(remaining())
                    await runtime.drain(remaining())
                    # Follow-ups still deliver through the runtime: settle them before closing it.
                    await self._settle_followups(remaining)
                finally:
                    try:
                        await runtime.close()
                    except Exception as error:
                        log.warning("closing the %s runtime failed (%s)", self.runtime_name, _reason(error))
        finally:
            await self._close_pools()

    @staticmethod
    async def _flush_counts_every(core: CoreLike, seconds: float) -> None:
        """Write the funnel counts every few seconds, so every worker's reach ``/stats`` soon."""
        while True:
            await asyncio.sleep(seconds)
            await core.flush_counts()

    async def _stop_broadcaster(self, within: float) -> None:
        broadcaster, self.broadcaster = self.broadcaster, None
        if broadcaster is None:
            return
        try:
            await broadcaster.stop(within=within)
        except Exception as error:
            log.warning("stopping the broadcast sender failed (%s)", _reason(error))

    async def _settle_followups(self, remaining: Callable[[], float]) -> None:
        """Let the core's follow-ups (exports) finish briefly, then cancel the rest: an
        export's cleanup deletes its temporary files, which hold names."""
        core, self.core = self.core, None
        if core is None:
            return
        cancel_wait = min(FOLLOWUP_CANCEL, remaining() / 2)
        try:
            await core.settle(within=min(FOLLOWUP_GRACE, max(remaining() - cancel_wait, 0.0)), cancel=True)
        except Exception as error:
            log.warning("waiting for the follow-ups failed (%s)", _reason(error))
        await core.flush_counts()  # the last updates' counts, now that none is handled any more

    async def _close_pools(self) -> None:
        if self.store is not None:
            store, self.store = self.store, None
            try:
                await store.close()
            except Exception as error:
                log.warning("closing the state store failed (%s)", _reason(error))
        if self.db is not None:
            db, self.db = self.db, None
            try:
                await db.dispose()
            except Exception as error:
                log.warning("closing the database pool failed (%s)", _reason(error))

    async def healthy(self) -> bool:
        """True when the state store and the database both answer (for ``/healthz``)."""
        if self.store is None or self.db is None:
            return False
        try:
            await self.store.ping()
            async with self.db.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as error:
            log.warning("health check failed (%s)", _reason(error))
            return False
        return True


async def run_demo(
    *,
    runtime: RuntimeName | None = None,
    lang: str = "en",
    user_id: int = 1001,
    first_name: str = "Demo",
    core_factory: CoreFactory | None = None,
    files: Path | None = None,
    keep_db: Path | None = None,
    visual_order: bool = True,
) -> None:
    """The real bot, polling the in-process emulator, with a terminal chat in the foreground.

    No token and no services: a throwaway token, a temporary SQLite file (or ``keep_db``,
    kept afterwards for ``stats`` and ``export``) and the in-memory state store. The
    simulated person is also an organiser, so the organisers' commands can be tried too;
    the documents and the chart they send are saved in ``files``.
    """
    from emulator import Emulator, run_terminal_chat

    emulator = Emulator(token=DEMO_TOKEN)
    api_url = await emulator.start(port=0)
    with tempfile.TemporaryDirectory(prefix="undersign-demo-") as tmp:
        database = keep_db or Path(tmp) / "demo.db"  # the command line made it absolute
        settings = load_settings(
            bot_token=DEMO_TOKEN,
            telegram_api_url=api_url,
            database_url=f"sqlite+aiosqlite:///{database}",
            redis_url=None,
            admin_ids=frozenset({user_id}),  # the demo's person is an organiser too: /stats, /broadcast, ...
            _env_file=None,
        )
        app = BotApp(settings, mode="polling", runtime=runtime, core_factory=core_factory)
        try:
            await app.start()
            await run_terminal_chat(
                emulator,
                user_id=user_id,
                first_name=first_name,
                language_code=lang,
                files=files,
                visual_order=visual_order,
            )
        finally:
            await app.stop()
            await emulator.stop()
            if keep_db:
                print(f"The database is kept: DATABASE_URL=sqlite+aiosqlite:///{database} python -m bot stats")
