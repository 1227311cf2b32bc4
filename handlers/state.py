"""The conversation-state record: where a user is and their answers so far.

Stored as JSON in the state store (Redis or memory) under ``state:<user id>`` with a
TTL, so a restarted bot continues where the user was and nothing outlives the TTL.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any


class Step(StrEnum):
    WELCOME = "welcome"  # greeted, language offered
    READING = "reading"  # the background and letter shown
    CONSENT = "consent"  # asked to agree to the data use
    NAME = "name"  # asked for the name to sign with
    NAME_FORM = "name_form"  # asked how the addressees should see the name (full, "Aynur K.", "A. K.")
    COUNTRY = "country"  # asked for the country
    REVIEW = "review"  # shown the summary, asked to confirm
    SIGNED = "signed"  # signature stored
    WITHDRAWING = "withdrawing"  # asked to confirm the withdrawal
    RENAMING = "renaming"  # signed; asked to type the name again to show more of it
    RENAME_FORM = "rename_form"  # signed; asked how the retyped name should appear


@dataclass(slots=True)
class ConversationState:
    step: Step = Step.WELCOME
    # The campaign the conversation is about (its slug; None: the home campaign), opened by a
    # link or picked; every step, signature and button acts on it.
    campaign: str | None = None
    locale: str | None = None  # chosen or detected catalog
    locale_chosen: bool = False  # picked by the user (never overridden by language_code)
    source: str | None = None  # where they came from: a campaign source, or "shared[-<campaign>]"
    # The sharer's referral code when they came through a signer's share link: kept only here,
    # never in the database, and dropped once they have signed (handlers.referrals).
    referrer: str | None = None
    # The source was read by a version that tells share links apart (False in records saved
    # before it, whose source may be a bare referral code: handlers.welcome.resolve_old_source).
    source_resolved: bool = False
    opt_in: bool = False  # "keep me informed", off unless chosen
    future: bool = False  # news about the organisation's future campaigns, off unless chosen
    partners: tuple[str, ...] = ()  # partner organisations (keys) the person agreed may contact them
    name: str | None = None  # as typed; only the chosen form of it is ever stored
    name_form: str | None = None  # handlers.names.NameForm, chosen by the signer (never preset)
    country: str | None = None
    counted: tuple[str, ...] = ()  # funnel steps already counted for this person (each once)
    # An organiser writing a /broadcast: kept apart from ``step``, so one who is also
    # signing loses nothing. ``draft`` maps a locale to its text, "" = every other language.
    composing: bool = False
    draft: dict[str, str] | None = None
    # Whom the draft goes to: a campaign's slug (its news subscribers) or "" (the organisation's
    # list); None: the conversation's campaign (a draft begun before organisers chose).
    broadcast_to: str | None = None

    def end_draft(self) -> None:
        """The organiser's /broadcast draft ends (sent, dropped, or no longer sendable)."""
        self.composing, self.draft, self.broadcast_to = False, None, None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["step"] = self.step.value
        data["counted"] = list(self.counted)
        data["partners"] = list(self.partners)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ConversationState:
        """Tolerant of records written by older versions: unknown keys are dropped."""
        if not data:
            return cls()
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        try:
            values["step"] = Step(values.get("step", Step.WELCOME))
        except ValueError:
            values["step"] = Step.WELCOME
        values["counted"] = tuple(values.get("counted") or ())
        values["future"] = bool(values.get("future"))
        partners = values.get("partners")
        values["partners"] = tuple(str(key) for key in partners) if isinstance(partners, list | tuple) else ()
        values["composing"] = bool(values.get("composing"))
        values["source_resolved"] = bool(values.get("source_resolved"))
        referrer = values.get("referrer")
        values["referrer"] = referrer if isinstance(referrer, str) else None
        campaign = values.get("campaign")
        values["campaign"] = campaign if isinstance(campaign, str) else None
        audience = values.get("broadcast_to")
        values["broadcast_to"] = audience if isinstance(audience, str) and values["composing"] else None
        draft = values.get("draft")
        values["draft"] = (
            {str(k): str(v) for k, v in draft.items()} if isinstance(draft, dict) and values["composing"] else None
        )
        return cls(**values)
