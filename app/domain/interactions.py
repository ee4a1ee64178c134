"""Interactions (gestiones): what a recorded contact must carry, and what its result sets.

Pure rules: the PCR note on a right-party contact, the GPS fix of a visit, the promise of a
RPC_PTP, and the debtor flags and channel consents that some results set at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from app.domain.compliance import (
    RESULT_CODES,
    RIGHT_PARTY_CODES,
    Channel,
    DebtorFlag,
    Decision,
)
from app.domain.errors import DomainError, InvalidInput


class ContactNotAllowed(DomainError):
    """Recording this contact would break a hard rule of the contact law or a debtor flag."""

    code = "contact_not_allowed"

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        super().__init__({"count": sum(1 for r in decision.reasons if r.hard)})

    @property
    def field_errors(self) -> list[tuple[str, str]]:
        return [(f"compliance.{r.code}", r.message) for r in self.decision.reasons if r.hard]


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

# Results that stop contact at once: a debtor flag, raised through the account (how far it
# reaches: app/domain/flags.py).
FLAG_FOR_RESULT: dict[str, DebtorFlag] = {
    "CEASE_REQUEST": DebtorFlag.CEASE_CONTACT,
    "RPC_DISPUTE": DebtorFlag.DISPUTE,
    "ATTORNEY": DebtorFlag.ATTORNEY,
    "DECEASED": DebtorFlag.DECEASED,
}
OPT_OUT_RESULT = "CHANNEL_OPT_OUT"
# Results that count against the number dialled or written to; enough of them retire it.
INVALIDATING_RESULTS = frozenset({"WRONG_NUMBER", "DISCONNECTED"})
VISIT_RESULTS = frozenset({"ADDRESS_VERIFIED", "ADDRESS_NOT_FOUND", "MOVED"})
PROMISE_RESULT = "RPC_PTP"

MAX_BACKDATE = timedelta(days=30)  # a gestión entered late, from a paper route sheet
MAX_CLOCK_SKEW = timedelta(minutes=5)
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
    channel: Channel
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


def check_interaction(draft: InteractionDraft, now: datetime) -> None:
    """Refuse (InvalidInput, naming the field) what a gestión may not be recorded as."""
    code = draft.result_code
    if code not in RESULT_CODES:
        raise InvalidInput("body.result_code", "not a result code of the taxonomy")
    if draft.started_at > now + MAX_CLOCK_SKEW:
        raise InvalidInput("body.started_at", "must not be in the future")
    if draft.started_at < now - MAX_BACKDATE:
        raise InvalidInput("body.started_at", "may be at most 30 days in the past")
    if draft.ended_at is not None and not (
        draft.started_at <= draft.ended_at <= draft.started_at + MAX_LENGTH
    ):
        raise InvalidInput("body.ended_at", "must be after started_at and within 12 hours")
    if code in RIGHT_PARTY_CODES:
        if draft.party is not PartyReached.DEBTOR:
            raise InvalidInput("body.party", "a right-party contact reaches the debtor")
        _check_pcr(draft.pcr)
    if code == "TPC" and draft.party not in (PartyReached.REFERENCE, PartyReached.GUARANTOR):
        raise InvalidInput("body.party", "a third-party contact reaches a reference or guarantor")
    if code in VISIT_RESULTS and draft.channel is not Channel.VISIT:
        raise InvalidInput("body.result_code", "address results belong to visits")
    if draft.channel is Channel.VISIT and not draft.has_position:
        raise InvalidInput("body.position", "a visit records where the collector stood (GPS)")
    _check_promise(draft)


def _check_pcr(pcr: Pcr) -> None:
    if pcr.problem_category not in PROBLEM_CATEGORIES:
        raise InvalidInput(
            "body.pcr.problem_category",
            "required on a right-party contact: one of " + ", ".join(sorted(PROBLEM_CATEGORIES)),
        )
    for name in ("problem", "circumstance", "resolution"):
        value = getattr(pcr, name)
        if value is None or not value.strip():
            raise InvalidInput(f"body.pcr.{name}", "required on a right-party contact")


def _check_promise(draft: InteractionDraft) -> None:
    if draft.result_code != PROMISE_RESULT:
        if draft.promise_amount is not None or draft.promise_due is not None:
            raise InvalidInput("body.promise", "only a RPC_PTP result carries a promise")
        return
    if draft.promise_amount is None or draft.promise_due is None:
        raise InvalidInput("body.promise", "a RPC_PTP result carries its promise")
    if draft.promise_amount <= 0 or draft.promise_amount > draft.account_total:
        raise InvalidInput("body.promise.amount", "must be more than 0 and at most the balance")
    day = draft.local_date or draft.started_at.date()
    if not day <= draft.promise_due <= day + timedelta(days=MAX_PROMISE_DAYS):
        raise InvalidInput(
            "body.promise.due_date", f"must fall within {MAX_PROMISE_DAYS} days of the call"
        )


class PromiseOutcome(StrEnum):
    PENDING = "pending"
    KEPT = "kept"
    PARTIALLY_KEPT = "partially_kept"
    BROKEN = "broken"


def promise_outcome(
    amount: Decimal,
    paid: Decimal,
    due: date,
    as_of: date,
    grace_days: int,
    tolerance_pct: Decimal,
) -> PromiseOutcome:
    """A promise is kept once the payments reach the amount less the tolerance; after the
    due date plus grace it is partially kept (something paid) or broken (nothing)."""
    needed = amount * (Decimal(100) - tolerance_pct) / Decimal(100)
    if paid >= needed:
        return PromiseOutcome.KEPT
    if as_of <= due + timedelta(days=grace_days):
        return PromiseOutcome.PENDING
    return PromiseOutcome.PARTIALLY_KEPT if paid > 0 else PromiseOutcome.BROKEN
