"""``python -m bot deliver --to "…" --date YYYY-MM-DD [--note …] [--fingerprint HEX] [--dry-run]``.

Records that the list was handed to the letter's addressees (``storage.deliveries``):
the list as of now (or, with ``--fingerprint``, exactly the list of the PDF that was
handed over), its count and fingerprint; the signatures it carried for the first
time then answer ``/verify`` with "delivered on DATE", and those of them who asked
for news hear it once (the running bot's broadcast sender sends it). It prints
counts, the fingerprint and what was recorded, never a name. Mistakes are one line on
stderr and exit 2; an unreachable or unreadable database exits 1.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import TYPE_CHECKING

import click

from bot.cli.campaign import campaign_option, settings_and_campaign
from bot.cli.errors import EXIT_USAGE, Command, CommandError, check_sqlite_file, reason, usage_errors
from bot.logs import mask_url

if TYPE_CHECKING:  # the database's modules load on use, so that `deliver --help` is quick
    from storage.deliveries import DeliveryRecord


async def _deliver(
    database_url: str,
    campaign: str,
    *,
    recipient: str,
    delivered_on: date,
    note: str | None,
    expected: str | None,
    dry_run: bool,
) -> DeliveryRecord:
    from sqlalchemy.exc import SQLAlchemyError

    from storage.db import Database
    from storage.deliveries import DeliveryError, record_delivery

    db = Database(database_url, pool_size=1)
    try:
        return await record_delivery(
            db,
            campaign,
            recipient=recipient,
            delivered_on=delivered_on,
            note=note,
            dry_run=dry_run,
            expected=expected,
        )
    except DeliveryError as error:
        raise CommandError(str(error), EXIT_USAGE) from None
    except SQLAlchemyError as error:
        hint = " (run `python -m bot migrate` first?)" if "list_deliver" in str(error) else ""
        raise CommandError(f"DATABASE_URL {mask_url(database_url)}: {reason(error)}{hint}") from None
    except OSError as error:
        raise CommandError(f"DATABASE_URL {mask_url(database_url)} cannot be reached ({reason(error)})") from None
    finally:
        await db.dispose()


def report(record: DeliveryRecord, *, dry_run: bool) -> list[str]:
    """What the organiser reads: counts, the fingerprint, what was (or would be) recorded."""
    signatures = "1 signature" if record.count == 1 else f"{record.count:,} signatures"
    when = record.delivered_on.isoformat()
    if dry_run:
        lines = [f"Dry run, nothing recorded. Would record: {signatures} delivered to {record.recipient} on {when}."]
    else:
        lines = [f"Recorded delivery {record.id}: {signatures} delivered to {record.recipient} on {when}."]
    if record.note:
        lines.append(f"Note: {record.note}")
    lines.append(f"SHA-256 fingerprint of the signatory list: {record.fingerprint}")
    before = record.count - record.first_time
    lines.append(f"Delivered for the first time: {record.first_time:,}; delivered before: {before:,}.")
    if record.remaining:
        lines.append(f"Signed after the document was made, not in this delivery: {record.remaining:,}.")
    people = "1 signer" if record.notified == 1 else f"{record.notified:,} signers"
    if dry_run:
        lines.append(f"{people} who asked for news would hear that their signature was delivered.")
    elif record.notified:
        lines.append(
            f"{people} who asked for news will hear that their signature was delivered "
            f"(broadcast {record.broadcast_id}, sent by the running bot)."
        )
    else:
        lines.append("Nobody is notified: no signer delivered for the first time asked for news.")
    return lines


@click.command("deliver", cls=Command, interrupted="nothing was recorded")
@click.option("--to", "recipient", required=True, help='To whom, e.g. "Embassy of the PRC, Berlin".')
@click.option(
    "--date",
    "delivered_on",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The day it was handed over (YYYY-MM-DD).",
)
@click.option("--note", default=None, help="Anything to remember about this delivery (kept with it).")
@click.option(
    "--fingerprint",
    "expected",
    default=None,
    metavar="HEX",
    help="The fingerprint printed on the delivered PDF: records exactly that list, "
    "not signatures added since it was made.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be recorded; record and notify nothing.")
@campaign_option
def deliver(
    recipient: str,
    delivered_on: datetime,
    note: str | None,
    expected: str | None,
    dry_run: bool,
    campaign_slug: str | None,
) -> None:
    """Record that the signatory list went to the addressees, and tell who asked for news.

    In one transaction: reads the list as the delivery PDF prints it, computes its
    count and fingerprint, records the delivery, marks the signatures it carried for
    the first time (so /verify says "delivered on DATE") and queues the news for those
    of them who asked for it (once: a later delivery notifies only newly delivered
    signers). Reads DATABASE_URL and CAMPAIGN (environment or .env).
    """

    with usage_errors():
        settings, campaign = settings_and_campaign(campaign_slug)
    check_sqlite_file(settings.database_url)
    record = asyncio.run(
        _deliver(
            settings.database_url,
            campaign.slug,
            recipient=recipient,
            delivered_on=delivered_on.date(),
            note=note,
            expected=expected,
            dry_run=dry_run,
        )
    )
    for text in report(record, dry_run=dry_run):
        click.echo(text)
