"""Milestones: when the total reaches one, everyone who asked for news hears it, once.

Called after each signature with the new total. ``storage.broadcasts.claim_milestone``
lets the database decide who announces: however many workers cross a milestone at
the same moment, one broadcast is created; the sender then delivers it.
When several milestones are reached at once (the bot started on a campaign that
already passed some, or the milestones were changed), only the highest is announced:
the others are recorded as passed, so nobody gets a burst of stale good news.
"""

from __future__ import annotations

import logging
import weakref

from handlers.turn import Services
from petition.campaign import Campaign
from storage import broadcasts
from storage.db import Database

log = logging.getLogger(__name__)

# Milestones known to have their broadcast, per database and campaign, in this process:
# after the first look most signings need no query at all.
_claimed: weakref.WeakKeyDictionary[Database, dict[str, set[int]]] = weakref.WeakKeyDictionary()


async def after_signing(services: Services, campaign: Campaign, total: int) -> None:
    """Claim every milestone of ``campaign`` that ``total`` has reached and that has no broadcast yet.

    Never raises: a failure here must not spoil the signer's thank-you (logged once).
    """
    slug = campaign.slug
    reached = [m for m in services.milestones_of(campaign) if m <= total]
    known = _claimed.setdefault(services.db, {}).setdefault(slug, set())
    if not reached or known.issuperset(reached):
        return
    try:
        known |= await broadcasts.claimed_milestones(services.db, slug)
        open_ones = [m for m in reached if m not in known]
        for milestone in open_ones:
            announce = milestone == open_ones[-1]
            claimed = await broadcasts.claim_milestone(services.db, slug, milestone, announce=announce)
            known.add(milestone)
            if claimed is None:
                continue  # another worker was first
            if announce:
                log.info("milestone %d reached: announcing it to %d recipient(s)", milestone, claimed.total)
            else:
                log.info("milestone %d reached together with a higher one: not announced", milestone)
    except Exception as error:
        log.error("claiming milestones at %d signatures failed: %s", total, type(error).__name__)
