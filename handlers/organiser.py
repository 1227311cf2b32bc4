"""Organiser commands: ``/stats`` and ``/export``, for the ``ADMIN_IDS`` only.

They work only in an organiser's own private chat with the bot (``is_admin``, the guard
the map, ``handlers.conversation``, puts on every organiser route), and everything they produce goes to that
chat. To anyone else, in any chat, they answer exactly as an unknown command does, so
their existence is not revealed. Every use is logged: who (the admin's Telegram
id), what and when — never a signer's data.

Telegram ids never go into a chat (Telegram keeps chats indefinitely): ``/export … ids``
is refused with a pointer to ``python -m bot export --with-ids`` on the server.

Exports run one at a time per core (``Services.exporting``; one core per bot process), in a
private folder under ``EXPORTS_ROOT`` that is always deleted afterwards (sent, failed or
cancelled at shutdown); what a killed process left there is swept when the next bot starts
(``sweep_stale_exports``, called by ``bot.app`` before the core is built).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from babel.numbers import format_percent

from handlers import fallback, referrals
from handlers.chart import drawable, signatures_chart
from handlers.i18n import Html, Translator, delivery_letters, language_name
from handlers.replies import Deliver, EditMessage, Keyboard, SendDocument, SendMessage, SendPhoto
from handlers.turn import Services, Turn, button, rows
from handlers.welcome import label
from petition.campaign import Campaign
from petition.countries import country_name
from storage.exports.archive import PDF_VOLUME_SIZE
from storage.exports.export import ExportError, ExportFormat, TooLargeForTelegram, export_signatures
from storage.stats import CampaignStats, campaign_stats

log = logging.getLogger(__name__)

FORMATS: tuple[ExportFormat, ...] = ("csv", "xlsx", "pdf")
STATS_OF = "ostats"  # callback data: "ostats:<slug>", the letter picked for /stats
EXPORT_OF = "oexport"  # callback data: "oexport:<format>:<slug>", the letter picked for /export
CAPTION_NUMBERS = 20  # incomplete names listed by number in a caption (Telegram allows 1,024 characters)
PROGRESS_EVERY = 2.0  # seconds between progress edits: Telegram allows about one edit a second per chat
CANCELLED_NOTICE = 1.0  # seconds to tell the admin an export was cancelled (at shutdown)

# Every export is written into its own folder under this one, named "<pid>-<random>", so a
# bot that was killed mid-export leaves its personal data only here, where the next start
# sweeps it away (``sweep_stale_exports``). Read at call time: tests point it elsewhere.
EXPORTS_ROOT = Path(tempfile.gettempdir()) / "undersign-exports"
_FOLDER = re.compile(r"(?P<pid>[0-9]+)-")


def command_lines(t: Translator) -> list[str]:
    """The organisers' lines of the command menu, "/command — what it does"."""
    return [
        # Translators: a line of the organisers' command menu: keep “/stats” and the dash.
        t.gettext("/stats — campaign figures and a chart"),
        # Translators: a line of the organisers' command menu: keep “/export” and the dash.
        t.gettext("/export — the signatory list (csv, xlsx or pdf)"),
        # Translators: a line of the organisers' command menu: keep “/broadcast” and the dash.
        t.gettext("/broadcast — write to everyone who asked for news"),
        # Translators: a line of the organisers' command menu: keep “/remove” and the dash.
        t.gettext("/remove — remove one signature by its receipt code"),
    ]


async def help_text(turn: Turn) -> None:
    """/help for an organiser: everyone's commands, then theirs (their command menu's lines)."""
    t = turn.t
    lines = [t.gettext("Here is what you can do:"), *fallback.command_lines(t), "", *command_lines(t)]
    live = turn.services.all_campaigns()
    if len(live) > 1:  # which campaign the organiser's commands act on, and how to name another
        slugs = ", ".join(f"<code>{campaign.slug}</code>" for campaign in live)
        # Translators: for organisers when several petitions are live; {slugs} lists their short names in <code>.
        lines += [
            "",
            t.gettext(
                "Several letters are live ({slugs}). /stats, /export and /broadcast ask which one; /stats and "
                "/export also take its name first, for example /stats {example}. /remove finds the letter by the "
                "receipt code.",
                slugs=Html(slugs),
                example=live[1].slug,
            ),
        ]
    turn.send("\n".join(lines))


def is_admin(turn: Turn) -> bool:
    """The guard of every organiser route of the map (command, button, draft): an ``ADMIN_IDS`` member
    writing in their own private chat with the bot (``chat.id == from.id``), so whatever the
    command produces goes to that chat and nowhere else. Not in a group, not for an update
    without a sender; to everyone else organiser input is an unknown command or a stale button.
    """
    event = turn.event
    sender = event.sender
    return (
        event.chat.is_private
        and sender is not None
        and event.chat.id == sender.id
        and sender.id in turn.services.admin_ids
    )


async def figures(turn: Turn, campaign: Campaign) -> None:
    """``campaign``'s figures and its chart."""
    log.info("admin %s: /stats", turn.user_id)
    services = turn.services
    # This process's latest funnel counts first; other workers' follow within seconds (bot.app).
    await services.funnel.flush(services.db)
    figures = await campaign_stats(services.db, campaign.slug, now=services.clock())
    text = stats_text(turn.t, figures, campaign.goal, letter_languages(services, campaign))
    turn.send(turn.headed(text, campaign))
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
        goal=campaign.goal,
        goal_label=label(
            f"goal {campaign.goal:,}".replace(",", "\u202f"),
            t.gettext("goal {goal}", goal=campaign.goal),
        ),
    )
    turn.replies.append(SendPhoto(turn.event.chat.id, photo, caption=t.gettext("Signatures per day and in total")))


def _progress(t: Translator, done: int, total: int) -> str:
    return t.digits(format_percent(done / total if total else 0, locale=t.babel_locale))


def _source_label(source: str, direct: str, shared: str) -> str:
    """A source as /stats shows it: signers' share links by what they are, not by their code."""
    if not source:
        return direct
    if source == referrals.SHARED:
        return shared
    if source.startswith(referrals.SHARED_PREFIX):
        return f"{html.escape(source.removeprefix(referrals.SHARED_PREFIX), quote=False)} ({shared})"
    return html.escape(source, quote=False)


def _section(heading: str, rows: list[str]) -> list[str]:
    """A titled block of /stats, or nothing at all when it has no rows (no empty headings)."""
    return ["", f"<b>{heading}</b>", *rows] if rows else []


def letter_languages(services: Services, campaign: Campaign) -> dict[str, str]:
    """Each current wording's version (``Campaign.version``, as a signature records it) and the
    languages it is in; a version no catalog gives any more was an earlier wording."""
    found: dict[str, list[str]] = {}
    for locale in services.i18n.locales:
        version = campaign.version(services.i18n.get(locale).catalog.gettext)
        found.setdefault(version, []).append(language_name(locale))
    return {version: ", ".join(names) for version, names in found.items()}


def stats_text(t: Translator, s: CampaignStats, goal: int, versions: Mapping[str, str] | None = None) -> str:
    """The /stats message; ``versions`` names the languages of each letter version (``letter_languages``)."""
    n = t.number
    languages = versions or {}
    direct = t.gettext("direct (no link)")
    # Translators: in /stats, beside the sources: people who came through a signer's own share link.
    shared = t.gettext("shared by signers")
    lines = [
        "<b>"
        + t.gettext(
            "Signatures: {total} of {goal} ({percent})", total=s.total, goal=goal, percent=t.percent(s.total, goal)
        )
        + "</b>",
        t.gettext(
            "Today: {today} · last 7 days: {week} · last 30 days: {month}",
            today=s.today,
            week=s.last_7_days,
            month=s.last_30_days,
        ),
        *_section(
            t.gettext("By language"), [f"{_escaped(language_name(code))}: {n(count)}" for code, count in s.by_language]
        ),
        *_section(
            t.gettext("By country (top 10)"),
            # CLDR names such as "Bosnia & Herzegovina" and "Trinidad & Tobago" carry an "&": escaped.
            [f"{_escaped(country_name(code, t.locale))}: {n(count)}" for code, count in s.by_country]
            + ([t.gettext("Other countries: {count}", count=s.other_countries)] if s.other_countries else []),
        ),
        *_section(
            t.gettext("By source (top 10)"),
            [f"{_source_label(source, direct, shared)}: {n(count)}" for source, count in s.by_source],
        ),
        *_section(
            # Translators: a heading of /stats: signatures per version of the letter's wording (short codes follow).
            t.gettext("By letter version"),
            [
                f"<code>{html.escape(_short_version(version), quote=False)}</code>"
                + (f" ({_escaped(languages[version])})" if version in languages else "")
                + f": {n(count)}"
                for version, count in s.by_letter_version
            ],
        ),
        "",
        "<b>" + t.gettext("Funnel") + "</b>",
        t.gettext("Started: {n}", n=s.funnel.get("started", 0)),
        t.gettext(
            "Read the letter: {n} ({rate})",
            n=s.funnel.get("read", 0),
            rate=t.percent(s.funnel.get("read", 0), s.funnel.get("started", 0)),
        ),
        t.gettext(
            "Consented: {n} ({rate})",
            n=s.funnel.get("consented", 0),
            rate=t.percent(s.funnel.get("consented", 0), s.funnel.get("read", 0)),
        ),
        t.gettext(
            "Signed: {n} ({rate})",
            n=s.funnel.get("signed", 0),
            rate=t.percent(s.funnel.get("signed", 0), s.funnel.get("consented", 0)),
        ),
        "",
        t.gettext("Withdrawals: {n}", n=s.withdrawals),
        # Translators: in /stats: signatures an organiser removed with /remove.
        t.gettext("Removed by organisers: {n}", n=s.removals),
        t.gettext("Want news about the campaign: {n}", n=s.opt_ins),
    ]
    if s.purged:
        # Translators: in /stats: signatures whose names were erased by the purge after the retention period.
        lines.append(t.gettext("Erased after the retention period (counted, no personal data): {n}", n=s.purged))
    return "\n".join(lines)


def _escaped(text: str) -> str:
    return html.escape(text, quote=False)


def _short_version(version: str) -> str:
    """A letter version as /mysignature shows it: its first 8 characters, then "…"."""
    return version if len(version) <= 8 else version[:8] + "…"


def parse_export_args(args: str) -> tuple[ExportFormat, bool] | None:
    """``csv``/``xlsx``/``pdf`` (default csv), and whether "ids" was asked for (it is refused:
    see ``export``); None if anything else."""
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
    return fmt, with_ids


def _usage(t: Translator) -> str:
    # Translators: an organiser's command; keep “/export”, “xlsx” and “pdf” as they are.
    return t.gettext(
        "Usage: /export for a CSV file, /export xlsx for a spreadsheet, /export pdf for the delivery document."
    )


def _ids_refused(t: Translator) -> str:
    """Telegram ids never go into a chat: Telegram keeps every message and file indefinitely."""
    # Translators: an organiser asked for “/export … ids”; keep the command in <code> exactly as it is.
    return t.gettext(
        "Telegram ids are never sent through a chat: Telegram keeps every message and file, and the ids would "
        "lead straight to the signers' accounts. On the server, {command} writes them to a file. Here, "
        "/export and /export xlsx send the list without them.",
        command=Html("<code>python -m bot export --format csv --with-ids -o signatories.csv</code>"),
    )


def named_campaign(turn: Turn) -> tuple[Campaign | None, str]:
    """The live campaign an organiser's command names first (``/stats writer``, ``/export writer
    pdf``), if it names one; and the rest of the arguments."""
    first, _, rest = turn.event.args.strip().partition(" ")
    named = turn.services.live_campaign(first.lower())
    return (named, rest.strip()) if named is not None else (None, turn.event.args)


def letter_choice(turn: Turn, data: str) -> tuple[str, Keyboard]:
    """Several letters are live and the command named none: the organiser picks one (the
    buttons carry ``<data>:<slug>``)."""
    t = turn.t
    # Translators: an organiser sent /stats or /export while several petitions are live; their titles follow.
    lines = ["<b>" + t.gettext("Several letters are live. Which one?") + "</b>"]
    buttons = []
    for number, campaign in enumerate(turn.services.all_campaigns(), 1):
        title = t.catalog.gettext(campaign.title)
        lines.append(f"{number}. {html.escape(title, quote=False)} (<code>{campaign.slug}</code>)")
        buttons.append(button(label(f"{number}. {title}"), f"{data}:{campaign.slug}"))
    return "\n\n".join(lines), rows(*buttons)


def picked_letter(turn: Turn) -> Campaign | None:
    """The letter on a pressed ``letter_choice`` button (its last part); None: no longer live."""
    campaign = turn.services.live_campaign(turn.event.argument.rpartition(":")[2])
    if campaign is None:
        fallback.stale_button(turn)
    else:
        turn.answer()
    return campaign


async def stats(turn: Turn) -> None:
    """``/stats [letter]``: with several letters live and none named, the organiser picks one."""
    named, _ = named_campaign(turn)
    if named is None and len(turn.services.all_campaigns()) > 1:
        turn.send(*letter_choice(turn, STATS_OF))
        return
    await figures(turn, named or turn.campaign)


async def stats_of(turn: Turn) -> None:
    """A letter picked for /stats."""
    if (campaign := picked_letter(turn)) is not None:
        await figures(turn, campaign)


async def export(turn: Turn) -> None:
    """``/export [letter] [csv|xlsx|pdf]``: with several letters live and none named, the organiser
    picks one (the format travels on the buttons)."""
    named, arguments = named_campaign(turn)
    parsed = parse_export_args(arguments)
    if parsed is None:
        turn.send(_usage(turn.t))
        return
    fmt, with_ids = parsed
    if with_ids:
        log.info("admin %s: /export %s with ids refused: ids leave only through the command line", turn.user_id, fmt)
        turn.send(_ids_refused(turn.t))
        return
    if named is None and len(turn.services.all_campaigns()) > 1:
        turn.send(*letter_choice(turn, f"{EXPORT_OF}:{fmt}"))
        return
    start_export(turn, named or turn.campaign, fmt)


async def export_of(turn: Turn) -> None:
    """A letter picked for /export: ``oexport:<format>:<slug>``."""
    fmt = turn.event.argument.partition(":")[0]
    if (campaign := picked_letter(turn)) is not None and fmt in FORMATS:
        start_export(turn, campaign, fmt)


def start_export(turn: Turn, campaign: Campaign, fmt: ExportFormat) -> None:
    log.info("admin %s: /export %s", turn.user_id, fmt)
    if turn.services.exporting.locked():
        log.info("admin %s: /export %s refused: another export is running", turn.user_id, fmt)
        turn.send(_busy(turn.t))
        return
    turn.followups.append(lambda deliver: _run_export(turn, campaign, fmt, deliver))


def _busy(t: Translator) -> str:
    # Translators: an organiser asked for /export while another organiser's export is still being made.
    return t.gettext("Another export is still running. Please try again when it has finished.")


async def _run_export(turn: Turn, campaign: Campaign, fmt: ExportFormat, deliver: Deliver) -> None:
    """One export at a time in this process: a second one asked for meanwhile is refused."""
    if turn.services.exporting.locked():  # another export started between the command and this follow-up
        log.info("admin %s: /export %s refused: another export is running", turn.user_id, fmt)
        await deliver(SendMessage(turn.event.chat.id, _busy(turn.t)))
        return
    async with turn.services.exporting:  # free, so taken without waiting: nothing can slip in between
        await _export_and_send(turn, campaign, fmt, deliver)


async def _export_and_send(turn: Turn, campaign: Campaign, fmt: ExportFormat, deliver: Deliver) -> None:
    """Export to a temporary file (never with Telegram ids: those leave only through the
    command line, ``python -m bot export --with-ids``), showing progress in one edited message, send it, delete it.

    Any failure — the export itself, the upload refused by Telegram, a cancellation at
    shutdown — turns the progress message into the failure notice, is logged without
    personal data (an ``ExportError``'s message, a type name, Telegram's error kind), and
    always deletes the file.
    """
    t = turn.t
    chat = turn.event.chat.id
    admin = turn.user_id
    started = await deliver(SendMessage(chat, t.gettext("Exporting… {percent}", percent=_progress(t, 0, 1))))
    last_edit = time.monotonic()

    async def progress(done: int, total: int) -> None:
        nonlocal last_edit
        if started.message_id is None or time.monotonic() - last_edit < PROGRESS_EVERY:
            return
        last_edit = time.monotonic()
        text = t.gettext("Exporting… {percent}", percent=_progress(t, done, total))
        await deliver(EditMessage(chat, started.message_id, text))

    async def tell_failed() -> None:
        failed = t.gettext("The export failed. Nothing was sent; the reason is in the bot's log.")
        if started.message_id is not None:
            await deliver(EditMessage(chat, started.message_id, failed))
        else:
            await deliver(SendMessage(chat, failed))

    directory: Path | None = None
    cancelled = False
    try:
        directory = _new_export_folder()
        try:
            services = turn.services
            letters = delivery_letters(campaign, services.i18n.directory) if fmt == "pdf" else ()
            result = await export_signatures(
                services.db, campaign, fmt, directory, with_ids=False, progress=progress, translations=letters
            )
        except TooLargeForTelegram as error:
            log.warning("admin %s: /export %s not sent: %s", admin, fmt, error)  # its message names no one
            # Translators: {size} is a number of megabytes; {command} is the command to run on the server.
            too_large = t.gettext(
                "This export is {size} MB even zipped, more than Telegram lets a bot send. "
                "Export it on the server instead: {command}",
                size=round(error.size / 1e6),
                command=Html(f"<code>python -m bot export --format {fmt} -o FILE</code>"),
            )
            if started.message_id is not None:
                await deliver(EditMessage(chat, started.message_id, too_large))
            else:
                await deliver(SendMessage(chat, too_large))
            return
        except ExportError as error:
            log.warning("admin %s: /export %s failed: %s", admin, fmt, error)  # its message names no one
            raise
        except Exception as error:
            # Other messages may quote data (a database error quoting a row): the type only.
            log.error("admin %s: /export %s failed: %s", admin, fmt, type(error).__name__)
            raise
        caption = t.ngettext("{n} signature", "{n} signatures", result.rows)
        if result.volumes > 1:
            # Translators: in the caption of a zip of PDFs; {size} is a number such as 50,000.
            caption += " · " + t.gettext(
                "zipped: one PDF per {size} names, each beginning with the letter", size=t.number(PDF_VOLUME_SIZE)
            )
        elif result.compressed:
            caption += " · " + t.gettext("zipped: the file was larger than Telegram's 50 MB limit")
        if result.purged:
            # Translators: in the caption of an export after the personal data was purged.
            caption += "\n" + t.ngettext(
                "{n} signature was erased after the retention period: it is counted, with no personal data,"
                " and not in this file.",
                "{n} signatures were erased after the retention period: they are counted, with no personal data,"
                " and not in this file.",
                result.purged,
            )
        if result.incomplete_names:
            shown = ", ".join(t.number(number) for number in result.incomplete_numbers[:CAPTION_NUMBERS])
            if result.incomplete_names > CAPTION_NUMBERS:
                shown += ", …"
            # Translators: in the caption of the delivery PDF; {numbers} lists row numbers ("17, 342").
            caption += "\n" + t.gettext(
                "Names this PDF cannot show in full, by number: {numbers}. The CSV and XLSX have them exactly.",
                numbers=shown,
            )
        if fmt == "pdf":
            # Translators: in the caption of the delivery PDF; {fingerprint} is 64 hexadecimal characters.
            caption += "\n" + t.gettext(
                "SHA-256 fingerprint of the signatory list: {fingerprint}",
                fingerprint=Html(f"<code>{result.fingerprint}</code>"),  # hex digits only; tap to copy
            )
        sent = await deliver(SendDocument(chat, result.path, result.filename, caption))
        if not sent.ok:
            # bot.delivery logged Telegram's own description of the refusal just before.
            log.warning("admin %s: /export %s not delivered: sendDocument failed (%s)", admin, fmt, sent.error)
            await tell_failed()
            return
        if started.message_id is not None:
            await deliver(EditMessage(chat, started.message_id, t.gettext("Export ready: {n} rows.", n=result.rows)))
        log.info("admin %s: /export %s done, %s rows", admin, fmt, result.rows)
    except asyncio.CancelledError:
        cancelled = True
        log.warning("admin %s: /export %s cancelled (the bot is stopping); nothing was sent", admin, fmt)
        raise
    except Exception:
        await tell_failed()
        raise
    finally:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
        if cancelled:  # the files are gone; tell the organiser, briefly, if Telegram still answers
            with contextlib.suppress(Exception):
                await asyncio.wait_for(tell_failed(), CANCELLED_NOTICE)


# --- the exports folder ---------------------------------------------------------------------


def _exports_root() -> Path | None:
    """``EXPORTS_ROOT``, created private to this user; None if it is not ours to trust."""
    root = EXPORTS_ROOT
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = root.lstat()
        if not stat.S_ISDIR(info.st_mode) or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
            log.warning("%s is not a folder of this user: exports go to a fresh temporary folder", root)
            return None
        if stat.S_IMODE(info.st_mode) != 0o700:
            root.chmod(0o700)
    except OSError as error:
        log.warning("%s cannot be used (%s): exports go to a fresh temporary folder", root, type(error).__name__)
        return None
    return root


def _new_export_folder() -> Path:
    """A fresh folder (0700) for one export, "<pid>-<random>" under ``EXPORTS_ROOT``."""
    root = _exports_root()
    if root is None:
        folder = Path(tempfile.mkdtemp(prefix="undersign-export-"))
    else:
        folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))
    return folder


def _running(pid: int) -> bool:
    if os.name != "posix":
        return True  # cannot tell cheaply and safely: keep the folder
    if pid == os.getpid():
        return False  # our own pid, left by an earlier run (a container's bot is often pid 1)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, someone else's
    except OSError:
        return False
    return True


def sweep_stale_exports() -> int:
    """Delete what exports left under ``EXPORTS_ROOT`` when a bot stopped mid-export (killed,
    crashed): every entry but the folders of exports running in another live process.
    Called by the wiring (``bot.app``) when the bot starts, before this process runs any
    export: a folder named with this process's own pid is an earlier run's (a container's
    bot is often pid 1). Returns how many entries were removed."""
    root = _exports_root()
    if root is None:
        return 0
    swept = 0
    try:
        for entry in root.iterdir():
            match = _FOLDER.match(entry.name)
            if match is not None and _running(int(match["pid"])):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            swept += 1
    except OSError as error:  # never a reason not to start; the next start tries again
        log.warning("sweeping %s failed (%s)", root, type(error).__name__)
    if swept:
        log.info("removed %d export folder(s) left by an earlier run", swept)
    return swept
