"""``--campaign SLUG``: which live campaign an organiser's command acts on (the home one,
``CAMPAIGN``, by default), shared by ``export``, ``stats``, ``deliver``, ``broadcast`` and
``poster``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from bot.settings import Settings
    from petition.campaign import Campaign

F = TypeVar("F", bound=Callable[..., Any])


def campaign_option(command: F) -> F:
    """Add ``--campaign SLUG`` to ``command`` (passed to it as ``campaign_slug``)."""
    return click.option(
        "--campaign",
        "campaign_slug",
        metavar="SLUG",
        default=None,
        help="A live campaign of CAMPAIGNS_DIR (campaigns/<SLUG>.toml) [default: CAMPAIGN, the home one].",
    )(command)


def settings_and_campaign(campaign: str | None) -> tuple[Settings, Campaign]:
    """The settings and the campaign ``campaign`` names (the home one, ``CAMPAIGN``, when None),
    read from ``CAMPAIGNS_DIR``; raises ``CampaignError``/``ValidationError`` for ``usage_errors``."""
    from bot.settings import load_settings
    from petition.campaign import load_campaign

    settings = load_settings()
    return settings, load_campaign(campaign or settings.campaign, settings.campaigns_dir)


def is_home(settings: Settings, campaign: Campaign) -> bool:
    """Whether ``campaign`` is the home one (``CAMPAIGN``), whose links name no campaign."""
    from petition.campaign import load_campaign

    return load_campaign(settings.campaign, settings.campaigns_dir).slug == campaign.slug
