"""The campaign's text (title, background, letter) as data, loaded from ``campaigns/<slug>.toml``.

The English text is the msgid of every translation, so translating the letter
uses the same catalogs and tools as every other word of the bot.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

CAMPAIGNS_DIR = Path(__file__).resolve().parent.parent / "campaigns"


class CampaignError(Exception):
    """The campaign file is missing or malformed (one line for the operator)."""


@dataclass(frozen=True, slots=True)
class Letter:
    salutation: str
    paragraphs: tuple[str, ...]
    demands: tuple[str, ...]
    closing: str

    def texts(self) -> tuple[str, ...]:
        return (self.salutation, *self.paragraphs, *self.demands, self.closing)


@dataclass(frozen=True, slots=True)
class Partner:
    """A partner organisation of a coalition campaign (``[[partners]] key = "uhrp"``,
    ``name = "Uyghur Human Rights Project"``): a signer may agree that it contacts them."""

    key: str
    name: str


@dataclass(frozen=True, slots=True)
class Campaign:
    slug: str
    organisation: str
    goal: int
    title: str
    targets: tuple[str, ...]
    background: tuple[str, ...]
    letter: Letter
    milestones: tuple[int, ...] = ()  # totals announced to opted-in signers; the goal is always one
    subject: str = ""
    """The delivery document's title: what the letter is about, as its addressees read it
    (the ``title`` is the supporters' call to action). The title when the file names none."""
    delivery_languages: tuple[str, ...] = ()
    """The languages the addressees read (locale codes: ``zh_Hans``): the delivery document
    prints the letter in each of them before the English."""
    ends: date | None = None
    """The last day signatures are collected (``ends = 2027-03-31``); the letter stays readable
    after it. For the home campaign, ``CAMPAIGN_END`` wins when it is set."""
    retention_days: int | None = None
    """Days its signers' personal data is kept after ``ends``, then purged (``retention_days = 90``);
    None: ``RETENTION_DAYS``."""
    featured: bool = False
    """Opened by a bare /start when several campaigns are open (``featured = true``)."""
    future_campaigns: bool = False
    """The consent screen also offers news about the organisation's future campaigns
    (``future_campaigns = true``): a separate choice, never pre-ticked."""
    partners: tuple[Partner, ...] = ()
    """Partner organisations a signer may agree to be contacted by, each separately."""

    def kept_for(self, default: int) -> int:
        """Days its signers' personal data is kept after its end: ``retention_days``, else
        ``default`` (``RETENTION_DAYS``)."""
        return default if self.retention_days is None else self.retention_days

    def closed_on(self, day: date) -> bool:
        """True the day after ``ends`` (the last day itself still collects)."""
        return self.ends is not None and day > self.ends

    def texts(self) -> tuple[str, ...]:
        """Every translatable string of the campaign, in reading order (those the letter
        ``version`` covers: the subject is the document's, not the signed wording)."""
        return (self.title, *self.targets, *self.background, *self.letter.texts())

    @property
    def letter_subject(self) -> str:
        return self.subject or self.title

    def translated(self, gettext: Callable[[str], str]) -> Campaign:
        """The campaign with every text in one language (``gettext`` of its catalog)."""
        letter = self.letter
        return replace(
            self,
            title=gettext(self.title),
            targets=tuple(gettext(t) for t in self.targets),
            background=tuple(gettext(p) for p in self.background),
            letter=Letter(
                salutation=gettext(letter.salutation),
                paragraphs=tuple(gettext(p) for p in letter.paragraphs),
                demands=tuple(gettext(d) for d in letter.demands),
                closing=gettext(letter.closing),
            ),
            subject=gettext(self.subject) if self.subject else "",
        )

    def version(self, translate: Callable[[str], str] | None = None) -> str:
        """A short hash identifying the exact wording shown (per language when ``translate`` is given)."""
        gettext = translate or (lambda text: text)
        digest = hashlib.sha256("\n\n".join(gettext(t) for t in self.texts()).encode("utf-8"))
        return digest.hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class LetterVersion:
    """The letter in one of the languages its addressees read, printed in the delivery document
    before the English: ``heading`` names the language ("中文 (简体) · Chinese (Simplified)"),
    ``campaign`` holds the translated texts (``Campaign.translated``)."""

    heading: str
    campaign: Campaign


# What a campaign file may hold; anything else is refused, so that a misspelt or unused key
# is never silently ignored (``goal = ...`` written ``gaol``, an image credit nothing shows).
KEYS = frozenset(
    {
        "slug",
        "organisation",
        "goal",
        "milestones",
        "title",
        "targets",
        "background",
        "letter",
        "delivery",
        "ends",
        "retention_days",
        "featured",
        "future_campaigns",
        "partners",
    }
)
# A partner's key and the campaign's slug travel in its consent's /updates button, within
# Telegram's 64 bytes of button data ("partneroff:<key>~<slug>": 11 + 20 + 1 + 32).
PARTNER_KEY = re.compile(r"[a-z0-9-]{1,20}")
# A campaign's slug names its file and opens it in a link (``t.me/<bot>?start=<slug>``): Telegram's
# start-payload alphabet, short, and without "__", which separates it from a source in a link
# (``<slug>__<source>``).
SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]|_(?!_)){0,31}")


def campaign_path(slug: str, directory: Path = CAMPAIGNS_DIR) -> Path:
    """The file of campaign ``slug`` in ``directory``, or ``slug`` itself when it is a path to a
    ``.toml`` file (``CAMPAIGN=/srv/letter-v2.toml``: a copy kept outside the code, as tests do)."""
    return Path(slug) if slug.endswith(".toml") else directory / f"{slug}.toml"


def load_campaign(slug: str, directory: Path = CAMPAIGNS_DIR) -> Campaign:
    """The campaign ``slug`` from ``campaigns/``, or from a path to a ``.toml`` file (``campaign_path``)."""
    path = campaign_path(slug, directory)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        unknown = sorted(set(data) - KEYS)
        if unknown:
            raise ValueError(f"unknown key {', '.join(unknown)}; a campaign file holds {', '.join(sorted(KEYS))}")
        letter = data["letter"]
        delivery = data.get("delivery", {})
        goal = int(data["goal"])
        if not SLUG.fullmatch(str(data["slug"])) or str(data["slug"]).endswith("_"):
            raise ValueError(f"slug {data['slug']!r}: lower-case letters, digits, - and _ (never __), at most 32")
        ends = data.get("ends")
        if ends is not None and not isinstance(ends, date):
            raise ValueError(f"ends = {ends!r} is not a date (ends = 2027-03-31)")
        retention = data.get("retention_days")
        if retention is not None and (type(retention) is not int or not 0 <= retention <= 3650):
            raise ValueError(f"retention_days = {retention!r}: a whole number of days, 0 to 3650")
        return Campaign(
            slug=str(data["slug"]),
            organisation=str(data["organisation"]),
            goal=goal,
            title=str(data["title"]),
            targets=tuple(str(t) for t in data["targets"]),
            background=tuple(str(p) for p in data["background"]),
            letter=Letter(
                salutation=str(letter["salutation"]),
                paragraphs=tuple(str(p) for p in letter["paragraphs"]),
                demands=tuple(str(p) for p in letter["demands"]),
                closing=str(letter["closing"]),
            ),
            milestones=tuple(sorted({*(int(m) for m in data.get("milestones", ())), goal})),
            subject=str(delivery.get("subject", "")),
            delivery_languages=tuple(str(code) for code in delivery.get("languages", ())),
            ends=ends,
            retention_days=retention,
            featured=bool(data.get("featured", False)),
            future_campaigns=bool(data.get("future_campaigns", False)),
            partners=_partners(data.get("partners", [])),
        )
    except FileNotFoundError:
        raise CampaignError(f"CAMPAIGN is invalid: no campaign file {path}") from None
    except (KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as error:
        raise CampaignError(f"CAMPAIGN is invalid: {path} is malformed ({error})") from None


def _partners(entries: object) -> tuple[Partner, ...]:
    if not isinstance(entries, list):
        raise ValueError("partners must be a list of [[partners]] tables with a key and a name")
    partners = tuple(Partner(str(entry["key"]), str(entry["name"])) for entry in entries)
    for partner in partners:
        if not PARTNER_KEY.fullmatch(partner.key) or not partner.name.strip():
            raise ValueError(f"partner key {partner.key!r}: lower-case letters, digits and -, at most 20; and a name")
    if len({partner.key for partner in partners}) != len(partners):
        raise ValueError("two partners have the same key")
    return partners


@dataclass(frozen=True)
class Campaigns:
    """Every live campaign, by slug: the home one (``CAMPAIGN``: what links without a campaign,
    older links and the command line's default mean) first, then the other files of
    ``campaigns/`` in name order."""

    home: Campaign
    others: tuple[Campaign, ...] = ()
    all: tuple[Campaign, ...] = field(init=False, repr=False, compare=False)
    """The home campaign, then the others (asked on every update: built once)."""
    _by_slug: dict[str, Campaign] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        every = (self.home, *self.others)
        by_slug = {campaign.slug: campaign for campaign in every}
        if len(by_slug) != len(every):
            raise CampaignError("CAMPAIGN is invalid: two campaign files have the same slug")
        object.__setattr__(self, "all", every)
        object.__setattr__(self, "_by_slug", by_slug)

    def __iter__(self) -> Iterator[Campaign]:
        return iter(self.all)

    def get(self, slug: str | None) -> Campaign | None:
        return self._by_slug.get(slug or "")

    def named(self, slug: str | None) -> Campaign:
        """The campaign ``slug``; the home campaign for one no longer live (or None)."""
        return self._by_slug.get(slug or "", self.home)


def load_campaigns(home: str, directory: Path = CAMPAIGNS_DIR, *, home_ends: date | None = None) -> Campaigns:
    """Every campaign file of ``directory``, with ``home`` (a slug, or a path to a ``.toml``
    kept elsewhere, which replaces the file of the same slug). ``home_ends`` (``CAMPAIGN_END``)
    overrides the home campaign's own ``ends``."""
    first = load_campaign(home, directory)
    if home_ends is not None:
        first = replace(first, ends=home_ends)
    others = []
    home_path = campaign_path(home, directory).resolve()
    for path in sorted(directory.glob("*.toml")):
        if path.resolve() == home_path:
            continue  # read above
        other = load_campaign(str(path))
        # One bot speaks for one organisation: its list of people who asked for news about
        # future campaigns, and every footer naming it, are that organisation's.
        if other.organisation != first.organisation:
            raise CampaignError(
                f"{path}: the organisation {other.organisation!r} is not the home campaign's ({first.slug!r}: "
                f"{first.organisation!r}); one bot speaks for one organisation: name others as [[partners]], "
                "or run a bot of their own"
            )
        others.append(other)
    return Campaigns(first, tuple(c for c in others if c.slug != first.slug))


def extract_campaign(
    fileobj: object, keywords: object, comment_tags: object, options: object
) -> list[tuple[int, str | None, str, list[str]]]:
    """Babel extraction method for campaign files: every text of the campaign is a message.

    Registered in ``locales/babel.cfg``; the comment tells translators where it appears.
    """
    raw = fileobj.read()  # type: ignore[attr-defined]
    text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    data = tomllib.loads(text)
    lines = text.splitlines()

    def line_of(value: str) -> int:
        needle = value[:40]
        return next((i + 1 for i, line in enumerate(lines) if needle in line), 0)

    found: list[tuple[int, str | None, str, list[str]]] = []

    def add(value: str, where: str) -> None:
        found.append((line_of(value), None, value, [f"Campaign text: {where}. Keep the meaning exact."]))

    add(data["title"], "the petition's title (bold, at the top of the welcome and the letter)")
    for target in data["targets"]:
        add(target, "an addressee of the letter, as named in the consent text (spell it as your media do)")
    for number, paragraph in enumerate(data["background"], 1):
        add(paragraph, f"background, paragraph {number}")
    letter = data["letter"]
    add(letter["salutation"], "the letter's salutation, naming the addressees")
    for number, paragraph in enumerate(letter["paragraphs"], 1):
        add(paragraph, f"the letter, paragraph {number}")
    for number, demand in enumerate(letter["demands"], 1):
        add(demand, f"the letter, demand {number} (a bullet point)")
    add(letter["closing"], "the letter's closing line, followed by the signer's name")
    subject = data.get("delivery", {}).get("subject")
    if subject:
        add(subject, "the subject of the letter, the title of the document delivered to the addressees")
    return found
