"""``python -m bot broadcast --text-file FILE [--lang LANG] [--dry-run] [--campaign SLUG |
--organisation-list]``: write to everyone who asked for news (of one campaign, or with
``--organisation-list`` about the organisation's future campaigns), from the server.

The file has the same format as the bot's ``/broadcast``: one text for everyone, or one
per language after ``[de]``, ``[fr]``, … tags on lines of their own (``[all]``, or the text
before the first tag, for every other language). With ``--lang`` only signers of that
language receive it and the file is their text. ``--dry-run`` prints the recipients per
language and each language's message as they will read it, and sends nothing.
Otherwise the broadcast is created and sent with a progress bar
(``bot.broadcasting.command_line.send_until_done``: if a running bot is sending, this only watches).
Mistakes (a bad file, an unknown language, nothing to send) are one line on stderr and
exit 2; an unreachable database exits 1, and so does an unreachable Telegram (a bad token,
the network) once the broadcast exists: it stays queued for a running bot.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from bot.cli.campaign import campaign_option, settings_and_campaign
from bot.cli.errors import EXIT_USAGE, Command, CommandError, check_sqlite_file, reason, usage_errors
from bot.logs import mask_url, setup_logging, url_passwords

if TYPE_CHECKING:  # the bot's modules load on use, so that `broadcast --help` is quick
    from bot.settings import Settings
    from handlers.broadcast import DraftProblem
    from handlers.i18n import I18n
    from handlers.turn import Services
    from storage.broadcasts import BroadcastCounts


def _mistake(message: str) -> CommandError:
    """A mistake in the file or the options: exit 2."""
    return CommandError(message, EXIT_USAGE)


@dataclass(frozen=True)
class Plan:
    """What would be sent: the texts, to whom, and each language's rendered message."""

    texts: dict[str, str]
    language: str | None
    recipients: dict[str, int]
    audience: str  # a campaign's slug, or "" for the organisation's list (``storage.broadcasts``)

    @property
    def total(self) -> int:
        return sum(self.recipients.values())


def read_texts(path: Path, lang: str | None, i18n: I18n) -> tuple[dict[str, str], str | None]:
    """The file's sections (and the ``--lang`` locale), or a ``CommandError`` (exit 2)."""
    from handlers.broadcast import DraftProblem, parse_sections, resolve_tag

    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _mistake(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise _mistake(f"cannot read {path}: {error.strerror or error}") from None
    language = None
    if lang is not None:
        language = resolve_tag(lang, i18n.locales)
        if not language:
            raise _mistake(f"--lang {lang}: unknown language (known: {', '.join(i18n.locales)})")
    try:
        sections = parse_sections(raw, i18n.locales)
    except DraftProblem as problem:
        raise _mistake(f"{path}: {_problem(problem, i18n.locales)}") from None
    if not sections:
        raise _mistake(f"{path}: no text to send")
    if language is None:
        return sections, None
    if len(sections) > 1 or not set(sections) <= {"", language}:
        tags = ", ".join(f"[{code or 'all'}]" for code in sections)
        raise _mistake(f"{path}: with --lang {language} the file must hold only that language's text ({tags})")
    return {language: next(iter(sections.values()))}, language


def _problem(problem: DraftProblem, locales: tuple[str, ...]) -> str:
    match problem.kind:
        case "unknown":
            return f"unknown language tag [{problem.tag}] (known: {', '.join(locales)}, all)"
        case "twice":
            return f"[{problem.tag}] appears twice"
        case "empty":
            return f"the text after [{problem.tag}] is empty"
        case _:
            return f"the text for [{problem.tag}] is too long ({problem.length} characters, at most 3500)"


def check_plan(plan: Plan) -> None:
    """Refuse what the bot's /broadcast refuses: nobody to send to, or recipients without a text."""
    if plan.total == 0:
        who = f" in {plan.language}" if plan.language else ""
        raise _mistake(f"nobody{who} has asked for news: nothing to send")
    if "" not in plan.texts:
        missing = [f"{code} ({n})" for code, n in plan.recipients.items() if code not in plan.texts]
        if missing:
            raise _mistake(
                f"no text for the recipients in {', '.join(missing)}: add a [language] section for each, or [all]"
            )


def render_dry_run(console: Console, services: Services, plan: Plan) -> None:
    from bot.translations.preview import plain
    from handlers.i18n import language_name
    from handlers.news import news_message
    from storage.models import Broadcast

    table = Table(title="Recipients", title_justify="left", title_style="bold", show_edge=False, pad_edge=False)
    for column, justify in (("language", "left"), ("people", "right"), ("text", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for code, count in plan.recipients.items():
        which = "its own" if code in plan.texts else "the \\[all] text"
        table.add_row(escape(f"{language_name(code)} ({code})"), f"{count:,}", which)
    table.add_row("Total", f"{plan.total:,}", "")
    console.print(table)
    sample = Broadcast(campaign=plan.audience, kind="message", texts=plan.texts, language=plan.language)
    for code in plan.recipients:
        text, _ = news_message(services, sample, code)
        console.print()
        console.rule(escape(f"{language_name(code)} ({code})"), align="left")
        console.print(plain(text), markup=False, highlight=False)
    console.print()
    console.print("dry run: nothing was sent")


async def _run(settings: Settings, audience: str, path: Path, lang: str | None, dry_run: bool) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from bot.broadcasting.command_line import TelegramUnreachable
    from bot.services import make_database, make_services
    from storage import broadcasts

    db = make_database(settings, pool_size=2)
    console = Console()
    try:
        # What ``news_message`` needs, built as the bot builds it; nothing is sent through these.
        services = make_services(settings, db, bot_username="bot")
        texts, language = read_texts(path, lang, services.i18n)
        try:
            recipients = await broadcasts.recipients_by_language(db, audience, language)
        except (SQLAlchemyError, OSError) as error:
            hint = " (run `python -m bot migrate` first?)" if "signatures" in str(error) else ""
            raise CommandError(
                f"DATABASE_URL {mask_url(settings.database_url)} cannot be read ({reason(error)}){hint}"
            ) from None
        plan = Plan(texts, language, recipients, audience)
        check_plan(plan)
        if dry_run:
            render_dry_run(console, services, plan)
            return 0
        with usage_errors():
            token = settings.token  # no BOT_TOKEN: fail now, before the broadcast exists
        # Warnings only (the sender's troubles), one line each with secrets masked: the bar stays readable.
        setup_logging(
            "WARNING", [token, *url_passwords(settings.database_url), *url_passwords(settings.telegram_api_url)]
        )
        broadcast = await broadcasts.create_broadcast(db, campaign=audience, texts=texts, language=language)
        console.print(f"broadcast {broadcast.id} created for {broadcast.total:,} people")
        try:
            counts = await _send(settings, broadcast.id, broadcast.total)
        except TelegramUnreachable as error:
            raise CommandError(
                f"{error}; broadcast {broadcast.id} stays queued: a running bot will send it"
                " (/broadcast cancel in the bot stops it)"
            ) from None
        console.print(summary(counts))
        return 0
    finally:
        await db.dispose()


async def _send(settings: Settings, broadcast_id: int, total: int) -> BroadcastCounts:
    from bot.broadcasting.command_line import send_until_done

    columns = (TextColumn("Sending"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("broadcast", total=total)

        async def on_progress(counts: BroadcastCounts) -> None:
            bar.update(task, completed=counts.finished, total=counts.total)

        return await send_until_done(settings, broadcast_id, on_progress)


def summary(counts: BroadcastCounts) -> str:
    parts = [f"received: {counts.sent:,} of {counts.total:,}"]
    for label, value in (
        ("blocked the bot", counts.blocked),
        ("failed", counts.failed),
        ("not sure if received", counts.uncertain),
        ("skipped", counts.skipped),
        ("cancelled", counts.cancelled),
        ("still pending", counts.pending),
    ):
        if value:
            parts.append(f"{label}: {value:,}")
    return " · ".join(parts)


@click.command(
    "broadcast",
    cls=Command,
    interrupted="the rest stays queued and a running bot sends it (/broadcast cancel stops it)",
)
@click.option(
    "--text-file",
    "text_file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="UTF-8 text: one text for everyone, or [de], [fr], … [all] sections on lines of their own.",
)
@click.option("--lang", default=None, help="Only signers of this language (e.g. de, pt_BR); the file is their text.")
@click.option("--dry-run", is_flag=True, help="Show the recipients per language and each message; send nothing.")
@click.option(
    "--organisation-list",
    "to_list",
    is_flag=True,
    help="Write to everyone who asked for news about the organisation's future campaigns instead.",
)
@campaign_option
def broadcast(text_file: Path, lang: str | None, dry_run: bool, to_list: bool, campaign_slug: str | None) -> None:
    """Send the text in FILE to every signer who asked for news, each in their language.

    Reads DATABASE_URL, CAMPAIGN and the Telegram settings (environment or .env).
    Each person gets the text with a short heading, a footer and a "Stop updates"
    button in their own language.
    """
    from storage.broadcasts import ORGANISATION_LIST

    if to_list and campaign_slug:
        raise click.UsageError("--organisation-list writes to no campaign's subscribers: leave --campaign out")
    with usage_errors():
        settings, campaign = settings_and_campaign(campaign_slug)
    check_sqlite_file(settings.database_url)
    asyncio.run(_run(settings, ORGANISATION_LIST if to_list else campaign.slug, text_file, lang, dry_run))
