"""The campaign's text (title, background, letter) as data, loaded from ``campaigns/<slug>.toml``.

The English text is the msgid of every translation, so translating the letter
uses the same catalogs and tools as every other word of the bot.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
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
KEYS = frozenset({"slug", "organisation", "goal", "milestones", "title", "targets", "background", "letter", "delivery"})


def load_campaign(slug: str, directory: Path = CAMPAIGNS_DIR) -> Campaign:
    """The campaign ``slug`` from ``campaigns/``, or from a path to a ``.toml`` file
    (``CAMPAIGN=/srv/letter-v2.toml``: a copy kept outside the code, as tests do)."""
    path = Path(slug) if slug.endswith(".toml") else directory / f"{slug}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        unknown = sorted(set(data) - KEYS)
        if unknown:
            raise ValueError(f"unknown key {', '.join(unknown)}; a campaign file holds {', '.join(sorted(KEYS))}")
        letter = data["letter"]
        delivery = data.get("delivery", {})
        goal = int(data["goal"])
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
        )
    except FileNotFoundError:
        raise CampaignError(f"CAMPAIGN is invalid: no campaign file {path}") from None
    except (KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as error:
        raise CampaignError(f"CAMPAIGN is invalid: {path} is malformed ({error})") from None


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
