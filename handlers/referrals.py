"""Share links that credit the sharer without recording who brought whom.

A signer's share link is ``https://t.me/<bot>?start=<payload>`` with the payload

    r-<code>              the sharer's 8-character referral code
    r-<code>-<campaign>   ... and the campaign source the sharer came through

``<code>`` has a fixed length (``storage.signatures.new_referral_code``), so the payload
parses unambiguously although codes and sources both use Telegram's start-payload
alphabet ``[A-Za-z0-9_-]`` (a code may contain ``-`` and ``_``). The payload is at most
64 characters: a campaign source longer than ``CAMPAIGN_MAX`` is dropped from the link.
Campaign sources starting ``r-`` followed by exactly that shape are taken for share links
(the prefix is reserved).

The person arriving keeps the sharer's code only in their expiring conversation state,
until they sign; their source says only ``shared`` or ``shared-<campaign>``. At signing
the sharer's own record counts one more referral (``storage.signatures.add_signature``).
Links made before this scheme carried the bare code; ``welcome`` still recognises those
by looking the code up.

Links to a campaign other than the home one (``CAMPAIGN``) name it first: ``<slug>``,
``<slug>__<source>``, and a signer's share link ``r-<code>-<slug>[__<source>]``
(``with_campaign``; ``welcome.campaign_in_link`` reads them). A source that does not fit
beside the campaign within 64 characters is dropped; the campaign never is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

PREFIX = "r-"
CODE_LENGTH = 8  # storage.signatures.REFERRAL_CODE_BYTES = 6 -> 8 URL-safe characters
PAYLOAD_MAX = 64  # Telegram's limit for a /start payload
CAMPAIGN_MAX = PAYLOAD_MAX - len(PREFIX) - CODE_LENGTH - 1  # 53
SHARED = "shared"  # the source of someone who came through a signer's share link
SHARED_PREFIX = SHARED + "-"  # ... followed by the campaign source the link carried

PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
CODE = re.compile(rf"[A-Za-z0-9_-]{{{CODE_LENGTH}}}")


@dataclass(frozen=True, slots=True)
class Arrival:
    """What a /start payload means: the source to keep, and the sharer's code if it was a share link."""

    source: str
    referrer: str | None = None


def is_code(text: str) -> bool:
    """Has the shape of a referral code (it may still belong to nobody)."""
    return bool(CODE.fullmatch(text))


def campaign_of(source: str | None) -> str | None:
    """The campaign source behind a signer's own source: ``shared-poster`` and ``poster`` give
    ``poster``; ``shared`` and no source give None. Passed on along a chain of shares."""
    if not source or source == SHARED:
        return None
    if source.startswith(SHARED_PREFIX):
        return source[len(SHARED_PREFIX) :] or None
    return source


def shared_source(campaign: str | None) -> str:
    """The source of someone who came through a share link carrying ``campaign`` (or none); a
    campaign too long for a link is dropped, as the link would have dropped it."""
    return f"{SHARED_PREFIX}{campaign}" if campaign and len(campaign) <= CAMPAIGN_MAX else SHARED


CAMPAIGN_SEPARATOR = "__"  # between a campaign's slug and a source: never in a slug


def with_campaign(slug: str | None, source: str | None, room: int = PAYLOAD_MAX) -> str | None:
    """``source`` as the part of a payload that also names the campaign ``slug`` (None: the home
    campaign, whose links stay as they always were); the source is dropped if both do not fit
    in ``room`` characters."""
    if slug is None:
        return source
    if source and len(slug) + len(CAMPAIGN_SEPARATOR) + len(source) <= room:
        return slug + CAMPAIGN_SEPARATOR + source
    return slug


def start_link(bot_username: str, campaign: str | None, source: str | None) -> str:
    """``https://t.me/<bot>?start=…`` opening ``campaign`` (None: the home one, whose links name no
    campaign, as they always did) with ``source``: posters, the web page, milestone news."""
    payload = with_campaign(campaign, source)
    return f"https://t.me/{bot_username}" + (f"?start={payload}" if payload else "")


def share_payload(code: str, own_source: str | None, campaign: str | None = None) -> str | None:
    """The /start payload of a signer's share link: their code, the campaign (unless it is the
    home one) and their campaign source if it fits. None if the code is not a referral code
    (rows seeded by hand): then the link carries no payload at all rather than something that
    could be misread."""
    if not is_code(code):
        return None
    payload = PREFIX + code
    source = campaign_of(own_source)
    if source and not (len(source) <= CAMPAIGN_MAX and PAYLOAD.fullmatch(source)):
        source = None
    rest = with_campaign(campaign, source, CAMPAIGN_MAX)
    if rest:
        payload += "-" + rest
    return payload


def split_campaign(payload: str, slugs: Iterable[str]) -> tuple[str | None, str]:
    """The campaign a payload names (one of ``slugs``) and the payload without it, as the home
    campaign's links have it: ``climate__poster`` -> ("climate", "poster"), ``r-<code>-climate``
    -> ("climate", "r-<code>"); (None, payload) when it names none."""
    prefix, rest = "", payload
    if payload.startswith(PREFIX) and len(payload) > len(PREFIX) + CODE_LENGTH + 1:
        cut = len(PREFIX) + CODE_LENGTH
        if payload[cut] == "-":
            prefix, rest = payload[:cut], payload[cut + 1 :]
    for slug in slugs:
        if rest == slug:
            return slug, prefix
        if rest.startswith(slug + CAMPAIGN_SEPARATOR):
            source = rest[len(slug) + len(CAMPAIGN_SEPARATOR) :]
            return slug, f"{prefix}-{source}" if prefix else source
    return None, payload


def parse(payload: str) -> Arrival | None:
    """What a /start payload says; None for anything outside the payload alphabet (ignored)."""
    if not PAYLOAD.fullmatch(payload):
        return None
    if payload.startswith(PREFIX) and len(payload) >= len(PREFIX) + CODE_LENGTH:
        code = payload[len(PREFIX) : len(PREFIX) + CODE_LENGTH]
        rest = payload[len(PREFIX) + CODE_LENGTH :]
        if not rest:
            return Arrival(SHARED, code)
        if rest.startswith("-") and len(rest) > 1:
            return Arrival(shared_source(rest[1:]), code)
    return Arrival(payload)  # a campaign source: a poster, a partner site, the news
