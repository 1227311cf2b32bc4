"""Organiser commands: ``/stats`` and ``/export``, for the ``ADMIN_IDS`` only.

To anyone else, in any chat, they answer exactly as an unknown command does, so
their existence is not revealed. Every use is logged: who (the admin's Telegram
id), what and when — never a signer's data.
"""

from __future__ import annotations

import asyncio
import html
import logging
import shutil
import tempfile
import time
from pathlib import Path

from babel.numbers import format_percent

from handlers import fallback
from handlers.chart import drawable, signatures_chart
from handlers.countries import country_name
from handlers.i18n import Translator, language_name
from handlers.replies import EditMessage, SendDocument, SendMessage, SendPhoto
from handlers.turn import Deliver, Turn
from storage.exports import ExportFormat, export_signatures
from storage.stats import CampaignStats, campaign_stats

log = logging.getLogger(__name__)

FORMATS: tuple[ExportFormat, ...] = ("csv", "xlsx", "pdf")
PROGRESS_EVERY = 2.0  # seconds between progress edits: Telegram allows about one edit a second per chat


def command_lines(t: Translator) -> list[str]:
    """The organisers' lines of the command menu, "/command — what it does"."""
    return [
        # Translators: a line of the organisers' command menu: keep “/stats” and the dash.
        t.gettext("/stats — campaign figures and a chart"),
        # Translators: a line of the organisers' command menu: keep “/export” and the dash.
        t.gettext("/export — the signatory list (csv, xlsx or pdf)"),
    ]


def is_admin(turn: Turn) -> bool:
    return turn.event.chat.is_private and turn.user_id in turn.services.admin_ids


async def stats(turn: Turn) -> None:
    if not is_admin(turn):
        fallback.unknown_command(turn)
        return
    log.info("admin %s: /stats", turn.user_id)
    services = turn.services
    figures = await campaign_stats(services.db, services.campaign.slug)
    turn.send(stats_text(turn.t, figures, services.campaign.goal))
    t = turn.t

    def label(english: str, translated: str) -> str:
        """The chart's own font draws Latin and Cyrillic; other scripts keep the English label."""
        return translated if drawable(translated) else english

    photo = await asyncio.to_thread(
        signatures_chart,
        figures.per_day,
        # Translators: the chart's title (drawn without Arabic shaping: Arabic-script and CJK languages see English).
        title=label("Signatures per day", t.gettext("Signatures per day")),
        # Translators: the chart's legend for the daily bars.
        daily_label=label("per day", t.gettext("per day")),
        # Translators: the chart's legend for the cumulative line.
        total_label=label("total", t.gettext("total")),
    )
    turn.replies.append(SendPhoto(turn.event.chat.id, photo, caption=t.gettext("Signatures per day and in total")))


def _percent(t: Translator, part: int, whole: int) -> str:
    return format_percent(part / whole if whole else 0, locale=t.babel_locale)


def stats_text(t: Translator, s: CampaignStats, goal: int) -> str:
    n = t.number
    lines = [
        "<b>"
        + t.gettext(
            "Signatures: {total} of {goal} ({percent})", total=s.total, goal=goal, percent=_percent(t, s.total, goal)
        )
        + "</b>",
        t.gettext(
            "Today: {today} · last 7 days: {week} · last 30 days: {month}",
            today=s.today,
            week=s.last_7_days,
            month=s.last_30_days,
        ),
        "",
        "<b>" + t.gettext("By language") + "</b>",
        *(f"{language_name(code)}: {n(count)}" for code, count in s.by_language),
        "",
        "<b>" + t.gettext("By country (top 10)") + "</b>",
        *(f"{country_name(code, t.locale)}: {n(count)}" for code, count in s.by_country),
    ]
    if s.other_countries:
        lines.append(t.gettext("Other countries: {count}", count=s.other_countries))
    direct = t.gettext("direct (no link)")
    lines += [
        "",
        "<b>" + t.gettext("By source (top 10)") + "</b>",
        *(f"{html.escape(source, quote=False) if source else direct}: {n(count)}" for source, count in s.by_source),
        "",
        "<b>" + t.gettext("Funnel") + "</b>",
        t.gettext("Started: {n}", n=s.funnel.get("started", 0)),
        t.gettext(
            "Read the letter: {n} ({rate})",
            n=s.funnel.get("read", 0),
            rate=_percent(t, s.funnel.get("read", 0), s.funnel.get("started", 0)),
        ),
        t.gettext(
            "Consented: {n} ({rate})",
            n=s.funnel.get("consented", 0),
            rate=_percent(t, s.funnel.get("consented", 0), s.funnel.get("read", 0)),
        ),
        t.gettext(
            "Signed: {n} ({rate})",
            n=s.funnel.get("signed", 0),
            rate=_percent(t, s.funnel.get("signed", 0), s.funnel.get("consented", 0)),
        ),
        "",
        t.gettext("Withdrawals: {n}", n=s.withdrawals),
        t.gettext("Want news about the campaign: {n}", n=s.opt_ins),
    ]
    return "\n".join(lines)


def parse_export_args(args: str) -> tuple[ExportFormat, bool] | None:
    """``csv``/``xlsx``/``pdf`` (default csv), optionally ``ids``; None if anything else."""
    words = args.lower().split()
    fmt: ExportFormat = "csv"
    with_ids = False
    for word in words:
        if word in FORMATS:
            fmt = word
        elif word == "ids":
            with_ids = True
        else:
            return None
    if with_ids and fmt == "pdf":
        return None  # the delivery document never carries Telegram ids
    return fmt, with_ids


async def export(turn: Turn) -> None:
    if not is_admin(turn):
        fallback.unknown_command(turn)
        return
    parsed = parse_export_args(turn.event.args)
    if parsed is None:
        turn.send(
            turn.t.gettext(
                "Usage: /export, /export xlsx or /export pdf; add “ids” to a CSV or XLSX export to include Telegram ids."
            )
        )
        return
    fmt, with_ids = parsed
    log.info("admin %s: /export %s%s", turn.user_id, fmt, " with ids" if with_ids else "")
    turn.followups.append(lambda deliver: _run_export(turn, fmt, with_ids, deliver))


async def _run_export(turn: Turn, fmt: ExportFormat, with_ids: bool, deliver: Deliver) -> None:
    """Export to a temporary file, showing progress in one edited message, send it, delete it."""
    t = turn.t
    chat = turn.event.chat.id
    started = await deliver(SendMessage(chat, t.gettext("Exporting… {percent}", percent=_percent(t, 0, 1))))
    last_edit = time.monotonic()

    async def progress(done: int, total: int) -> None:
        nonlocal last_edit
        if started.message_id is None or time.monotonic() - last_edit < PROGRESS_EVERY:
            return
        last_edit = time.monotonic()
        text = t.gettext("Exporting… {percent}", percent=_percent(t, done, total))
        await deliver(EditMessage(chat, started.message_id, text))

    directory = Path(tempfile.mkdtemp(prefix="undersign-export-"))
    try:
        try:
            result = await export_signatures(
                turn.services.db, turn.services.campaign, fmt, directory, with_ids=with_ids, progress=progress
            )
        except Exception:
            if started.message_id is not None:
                failed = t.gettext("The export failed. Nothing was sent; the reason is in the bot's log.")
                await deliver(EditMessage(chat, started.message_id, failed))
            raise
        caption = t.ngettext("{n} signature", "{n} signatures", result.rows)
        if result.compressed:
            caption += " · " + t.gettext("zipped: the file was larger than Telegram's 50 MB limit")
        await deliver(SendDocument(chat, result.path, result.filename, caption))
        if started.message_id is not None:
            await deliver(EditMessage(chat, started.message_id, t.gettext("Export ready: {n} rows.", n=result.rows)))
        log.info("admin %s: /export %s done, %s rows", turn.user_id, fmt, result.rows)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
