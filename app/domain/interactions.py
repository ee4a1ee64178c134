"""Interactions (gestiones): what a recorded contact must carry, and what its result sets.

Pure rules: the PCR note on a right-party contact, the GPS fix of a visit, the promise of a
RPC_PTP, the debtor flags and channel consents that some results set at once, who may enter
a contact after the fact, which channels a collector's skills cover, and the verdict a
recorded contact is stored with.

Choices made here:

- A contact that already happened is always recorded, truthfully (DESIGN.md, "Law or
  policy"): the check at its own instant is stored as its verdict; a law reason among them
  opens a compliance incident. A policy-only breach (the partner's strategy, the operator's
  stricter settings, a closed or paused account) is recorded on the verdict and opens none:
  it breaks no statute, and the lead sees it on the interaction and in coaching. Contacts
  are *prevented* by the contact check and the work queue, not by refusing the record.
- Outbound contacts are stamped by the server's clock (:func:`check_stamp`): a collector
  enters one as it ends, at most :data:`LIVE_TOLERANCE` after its end and at most
  :data:`MAX_LIVE_LENGTH` after its start; later, only a team lead, manager or admin enters
  it, with ``backdated_reason``. A back-dated contact is still judged at its stated instant.
- Collectors record the channels their skills cover (:data:`SKILL_CHANNELS`).
- Where the law forbids asking why the debtor stopped paying (Colombia), the PCR problem is
  ``not_asked`` by default (:data:`PCR_NOT_ASKED`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from app.domain.contact_check import (
    RESULT_CODES,
    RIGHT_PARTY_CODES,
    ContactChannel,
    DebtorFlag,
    Reason,
)
from app.domain.errors import DomainError, InvalidInput, PermissionDenied, field_path
from app.domain.roles import Role, Skill
from app.i18n import N_, Language, Message, stored_text


class SkillRequired(DomainError):
    """A collector recorded a channel their skills do not cover."""

    code = "skill_required"

    def __init__(self, channel: ContactChannel, skills: Collection[Skill]) -> None:
        super().__init__({"channel": channel.value, "skills": sorted(s.value for s in skills)})


class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class PartyReached(StrEnum):
    DEBTOR = "debtor"
    REFERENCE = "reference"
    GUARANTOR = "guarantor"
    NONE = "none"


# Why the debtor did not pay: the "P" of PCR, as collection floors classify it.
PROBLEM_CATEGORIES: frozenset[str] = frozenset(
    {
        "unemployment",
        "reduced_income",
        "illness",
        "over_indebtedness",
        "business_failure",
        "family_emergency",
        "disagrees_with_debt",
        "forgot",
        "fraud_claim",
        "unwilling",
        "other",
    }
)
# The debtor was not asked why they did not pay: where the law forbids the question.
NOT_ASKED = "not_asked"
PCR_NOT_ASKED: dict[str, str] = {
    # Ley 2300 de 2023 (Colombia), art. 3: collectors may not ask the consumer why they
    # stopped paying (as the CO pack cites it, app/domain/contact_check_packs.py).
    "CO": "Ley 2300 de 2023 (Colombia), art. 3: do not ask why the debtor stopped paying",
}
PCR_GUIDANCE_NOT_ASKED = (
    "Do not ask the debtor why they stopped paying; record the problem as not_asked "
    "unless they said it unprompted."
)

# What each collector skill records (DESIGN.md: phone collectors call and write; field
# collectors visit, and call to arrange or follow up a visit). Letters are desk work.
SKILL_CHANNELS: dict[Skill, frozenset[ContactChannel]] = {
    Skill.PHONE: frozenset(
        {
            ContactChannel.CALL,
            ContactChannel.SMS,
            ContactChannel.EMAIL,
            ContactChannel.WHATSAPP,
            ContactChannel.LETTER,
        }
    ),
    Skill.FIELD: frozenset({ContactChannel.VISIT, ContactChannel.CALL}),
    # The inbound desk answers calls (inbound only: app/domain/inbound.py).
    Skill.INBOUND: frozenset({ContactChannel.CALL}),
}
# Who may enter an outbound contact after the fact, with a reason.
BACKDATERS = frozenset({Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN})

# Results that stop contact at once: a debtor flag, raised through the account (how far it
# reaches: app/domain/flags.py).
FLAG_FOR_RESULT: dict[str, DebtorFlag] = {
    "CEASE_REQUEST": DebtorFlag.CEASE_CONTACT,
    "RPC_DISPUTE": DebtorFlag.DISPUTE,
    "ATTORNEY": DebtorFlag.ATTORNEY,
    "DECEASED": DebtorFlag.DECEASED,
}
OPT_OUT_RESULT = "CHANNEL_OPT_OUT"
CEASE_RESULT = "CEASE_REQUEST"
# Results that count against the number dialled or written to; enough of them retire it.
INVALIDATING_RESULTS = frozenset({"WRONG_NUMBER", "DISCONNECTED"})
VISIT_RESULTS = frozenset({"ADDRESS_VERIFIED", "ADDRESS_NOT_FOUND", "MOVED"})
PROMISE_RESULT = "RPC_PTP"
# The debtor's self-service portal (app/domain/portal.py): an interaction channel, inbound
# only, that no contact rule counts (the agency never contacts anyone through it).
PORTAL_CHANNEL = "portal"

MAX_BACKDATE = timedelta(days=30)  # a gestión entered late, from a paper route sheet
MAX_CLOCK_SKEW = timedelta(minutes=5)
# A collector enters an outbound contact as it ends: its end at most this long before the
# server's clock ...
LIVE_TOLERANCE = timedelta(minutes=5)
# ... and its start at most this long before (the longest call or visit entered live).
MAX_LIVE_LENGTH = timedelta(hours=2)
MAX_LENGTH = timedelta(hours=12)
MAX_PROMISE_DAYS = 90


@dataclass(frozen=True, slots=True)
class Pcr:
    problem_category: str | None
    problem: str | None
    circumstance: str | None
    resolution: str | None


@dataclass(frozen=True, slots=True)
class InteractionDraft:
    channel: ContactChannel
    direction: Direction
    party: PartyReached
    result_code: str
    started_at: datetime
    ended_at: datetime | None
    pcr: Pcr
    has_position: bool
    promise_amount: Decimal | None
    promise_due: date | None
    account_total: Decimal
    # The day the contact happened where the partner is: a promise "for today" made in the
    # evening must not be judged by the UTC date.
    local_date: date | None = None
    country: str = "MX"  # the partner's: some laws forbid asking why the debtor stopped paying
    # Whether the contact names the phone, email or address it used.
    names_contact_point: bool = True


def check_interaction(draft: InteractionDraft, now: datetime) -> None:
    """Refuse (InvalidInput, naming the field) what a gestión may not be recorded as."""
    outbound = draft.direction is Direction.OUTBOUND
    if not outbound and draft.channel in (ContactChannel.VISIT, ContactChannel.LETTER):
        raise InvalidInput("direction", N_("visits and letters are made by the agency"))
    # The contact law counts contacts per phone, email or address: an outbound one names it
    # (a letter goes to the debtor's address of record).
    if outbound and draft.channel is not ContactChannel.LETTER and not draft.names_contact_point:
        raise InvalidInput(
            "contact_point_id",
            N_("an outbound contact names the phone, email or address used"),
        )
    code = draft.result_code
    if code not in RESULT_CODES:
        raise InvalidInput("result_code", N_("not a result code of the taxonomy"))
    if draft.started_at > now + MAX_CLOCK_SKEW:
        raise InvalidInput("started_at", N_("must not be in the future"))
    if draft.started_at < now - MAX_BACKDATE:
        raise InvalidInput("started_at", N_("may be at most 30 days in the past"))
    if draft.ended_at is not None and not (
        draft.started_at <= draft.ended_at <= draft.started_at + MAX_LENGTH
    ):
        raise InvalidInput("ended_at", N_("must be after started_at and within 12 hours"))
    if draft.ended_at is not None and draft.ended_at > now + MAX_CLOCK_SKEW:
        raise InvalidInput("ended_at", N_("must not be in the future"))
    if code in RIGHT_PARTY_CODES:
        if draft.party is not PartyReached.DEBTOR:
            raise InvalidInput("party", N_("a right-party contact reaches the debtor"))
        _check_pcr(draft.pcr, draft.country)
    if code == "TPC" and draft.party not in (PartyReached.REFERENCE, PartyReached.GUARANTOR):
        raise InvalidInput("party", N_("a third-party contact reaches a reference or guarantor"))
    if code in VISIT_RESULTS and draft.channel is not ContactChannel.VISIT:
        raise InvalidInput("result_code", N_("address results belong to visits"))
    if draft.channel is ContactChannel.VISIT and not draft.has_position:
        raise InvalidInput("position", N_("a visit records where the collector stood (GPS)"))
    _check_promise(draft)


def pcr_of(pcr: Pcr, country: str) -> Pcr:
    """The PCR as stored: where the law forbids the question, an unstated problem category
    is ``not_asked``."""
    if country in PCR_NOT_ASKED and pcr.problem_category is None:
        return Pcr(NOT_ASKED, pcr.problem, pcr.circumstance, pcr.resolution)
    return pcr


def _check_pcr(pcr: Pcr, country: str) -> None:
    pcr = pcr_of(pcr, country)
    if pcr.problem_category == NOT_ASKED:
        if country not in PCR_NOT_ASKED:
            raise InvalidInput(
                "pcr.problem_category",
                N_(
                    "not_asked is for countries whose law forbids asking why the debtor stopped "
                    "paying ({countries})"
                ),
                {"countries": ", ".join(sorted(PCR_NOT_ASKED))},
            )
        if pcr.problem is not None and pcr.problem.strip():
            raise InvalidInput(
                "pcr.problem", N_("not_asked: the debtor was not asked, leave it empty")
            )
        required: tuple[str, ...] = ("resolution",)
    elif pcr.problem_category not in PROBLEM_CATEGORIES:
        allowed = sorted(PROBLEM_CATEGORIES | ({NOT_ASKED} if country in PCR_NOT_ASKED else set()))
        raise InvalidInput(
            "pcr.problem_category",
            N_("required on a right-party contact: one of {allowed}"),
            {"allowed": ", ".join(allowed)},
        )
    else:
        required = ("problem", "circumstance", "resolution")
    for name in required:
        value = getattr(pcr, name)
        if value is None or not value.strip():
            raise InvalidInput(f"pcr.{name}", N_("required on a right-party contact"))


def check_skill(role: Role, skills: Collection[Skill], channel: ContactChannel) -> None:
    """A collector records only what their skills cover; other staff are not limited."""
    if role is not Role.COLLECTOR:
        return
    if not any(channel in SKILL_CHANNELS[skill] for skill in skills):
        raise SkillRequired(channel, skills)


def check_stamp(
    *,
    role: Role,
    outbound: bool,
    started_at: datetime,
    ended_at: datetime | None,
    backdated_reason: str | None,
    now: datetime,
    restates: datetime | None = None,
) -> None:
    """An outbound contact is entered as it ends, by the server's clock; after the fact only
    a team lead, manager or admin enters it, saying why. ``restates``: the start of the
    interaction a correction amends (a correction at the same instant restates it)."""
    if backdated_reason is not None and role not in BACKDATERS:
        raise PermissionDenied({"role": role.value, "field": "backdated_reason"})
    if not outbound or restates == started_at or not _late(started_at, ended_at, now):
        return
    if role in BACKDATERS:
        if backdated_reason is None:
            raise InvalidInput(
                "backdated_reason",
                N_("an outbound contact entered after the fact says why it is entered late"),
            )
        return
    raise InvalidInput(
        "started_at",
        N_(
            "an outbound contact is entered as it ends (within {minutes} minutes of its end and "
            "{hours} hours of its start); later, a team lead or manager enters it with "
            "backdated_reason"
        ),
        {"minutes": _minutes(LIVE_TOLERANCE), "hours": _minutes(MAX_LIVE_LENGTH) // 60},
    )


def _late(started_at: datetime, ended_at: datetime | None, now: datetime) -> bool:
    end = ended_at or started_at
    return end < now - LIVE_TOLERANCE or started_at < now - MAX_LIVE_LENGTH


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)


def reason_record(reason: Reason, sources: Sequence[str] = ()) -> dict[str, Any]:
    """A reason as stored on the verdict and the incident: code, message, hard, ``basis``
    (``law`` or ``policy``) and, for a law reason, its ``citation``. Where the rule pack
    gives a reason no basis of its own, a hard reason is the law's and cites the pack's
    ``sources``."""
    basis = getattr(reason, "basis", None)
    citation = getattr(reason, "citation", None)
    if basis is None:
        basis = "law" if reason.hard else "policy"
        citation = "; ".join(sources) if reason.hard and sources else None
    record: dict[str, Any] = {
        "code": reason.code,
        "message": reason.message,
        "hard": reason.hard,
        "basis": str(basis),
        "citation": citation,
    }
    text = getattr(reason, "text", None)
    if isinstance(text, Message):
        record["text"] = text.to_json()  # shown in each reader's language (reasons_for)
    return record


def reasons_for(reasons: Sequence[Mapping[str, Any]], language: Language) -> list[dict[str, Any]]:
    """Stored reasons (:func:`reason_record`) as a reader sees them: ``message`` in their
    language, without the stored template."""
    return [
        {
            **{key: value for key, value in reason.items() if key != "text"},
            "message": stored_text(reason.get("text"), reason.get("message"), language),
        }
        for reason in reasons
    ]


def verdict_for(verdict: Mapping[str, Any], language: Language) -> dict[str, Any]:
    """A stored verdict with its reasons in the reader's language."""
    shown = dict(verdict)
    if isinstance(verdict.get("reasons"), list):
        shown["reasons"] = reasons_for(verdict["reasons"], language)
    return shown


def law_breaches(reasons: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reasons of a verdict that break the law: they open a compliance incident."""
    return [r for r in reasons if r["basis"] == "law"]


def _check_promise(draft: InteractionDraft) -> None:
    if draft.result_code != PROMISE_RESULT:
        if draft.promise_amount is not None or draft.promise_due is not None:
            raise InvalidInput("promise", N_("only a RPC_PTP result carries a promise"))
        return
    if draft.promise_amount is None or draft.promise_due is None:
        raise InvalidInput("promise", N_("a RPC_PTP result carries its promise"))
    check_promise(
        draft.promise_amount,
        draft.promise_due,
        draft.account_total,
        draft.local_date or draft.started_at.date(),
    )


def check_promise(
    amount: Decimal, due: date, account_total: Decimal, day: date, field: str = "promise"
) -> None:
    """A promise is of more than nothing and at most the balance, due from ``day`` (the day
    it is made, where the partner is) to :data:`MAX_PROMISE_DAYS` later. ``field`` names
    the promise in errors ("" when it is the whole body)."""
    if amount <= 0 or amount > account_total:
        raise InvalidInput(
            field_path(field, "amount"), N_("must be more than 0 and at most the balance")
        )
    if not day <= due <= day + timedelta(days=MAX_PROMISE_DAYS):
        raise InvalidInput(
            field_path(field, "due_date"),
            N_("must fall within {max_promise_days} days of the call"),
            {"max_promise_days": MAX_PROMISE_DAYS},
        )


class PromiseStatus(StrEnum):
    PENDING = "pending"
    KEPT = "kept"
    PARTIALLY_KEPT = "partially_kept"
    BROKEN = "broken"
    CANCELLED = "cancelled"  # the interaction that took it was corrected


def promise_outcome(
    amount: Decimal,
    paid: Decimal,
    due: date,
    as_of: date,
    grace_days: int,
    tolerance_pct: Decimal,
) -> PromiseStatus:
    """A promise is kept once the payments reach the amount less the tolerance; after the
    due date plus grace it is partially kept (something paid) or broken (nothing)."""
    needed = amount * (Decimal(100) - tolerance_pct) / Decimal(100)
    if paid >= needed:
        return PromiseStatus.KEPT
    if as_of <= due + timedelta(days=grace_days):
        return PromiseStatus.PENDING
    return PromiseStatus.PARTIALLY_KEPT if paid > 0 else PromiseStatus.BROKEN
