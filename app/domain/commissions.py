"""Collector commissions (comisiones): the partner's terms, the rate a payment earns, and
clawback. Pure: no SQL, no clock.

Definitions (the report in ``app/services/commissions.py`` follows them):

- **Recovery type** of a payment, from what it paid (its stored allocation):
  ``settlement`` when it paid a settlement plan ("liquidación"); ``plan`` when it paid a
  regularization or restructuring plan; ``full_payment`` for every payment made outside a
  plan, whether or not it closed the account (money recovered on the debt's own terms; a
  partial payment outside a plan is not a separate type).
- **Stage** of a payment: the account's delinquency stage just before it was applied (the
  allocation's ``before.stage``), so a payment that cures an account still pays the rate of
  the stage it was recovered from.
- **Tiers**: a partner's terms are a list of tiers, each a percentage for a stage and a
  recovery type; either may be left out (null) to mean "any". A payment takes the most
  specific tier that matches it: stage and type, then stage only, then type only, then the
  catch-all. No matching tier (or no terms at all) is a rate of 0.
- **Commission** = amount × rate / 100, rounded half-up to cents, computed on the amounts
  aggregated per (collector, partner, terms version, stage, recovery type): rates are applied
  to aggregated rows, never per payment.
- **Clawback**: a payment reversed, or whose plan broke, within ``clawback_days`` days after
  it was paid (both dates in the partner's time zone, the window's last day included) gives
  back its whole commission. A reversal or break after the window does not. Earned counts
  every payment of the period (reversed or not); net = earned − clawed back, never negative.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from app.domain.errors import InvalidInput
from app.domain.stages import Stage

ZERO = Decimal("0")
HUNDRED = Decimal("100")
CENT = Decimal("0.01")
MAX_CLAWBACK_DAYS = 365
MAX_TIERS = 100


class RecoveryType(StrEnum):
    FULL_PAYMENT = "full_payment"
    PLAN = "plan"
    SETTLEMENT = "settlement"


def recovery_type_of(plan_type: str | None) -> RecoveryType:
    """The recovery type of a payment from the type of the plan it paid (None: no plan)."""
    if plan_type is None:
        return RecoveryType.FULL_PAYMENT
    if plan_type == "settlement":
        return RecoveryType.SETTLEMENT
    return RecoveryType.PLAN


@dataclass(frozen=True, slots=True)
class Tier:
    """A rate (percent, 0–100) for a stage and a recovery type; None matches any."""

    stage: Stage | None
    recovery_type: RecoveryType | None
    rate_pct: Decimal

    def matches(self, stage: Stage | None, recovery_type: RecoveryType) -> bool:
        return (self.stage is None or self.stage == stage) and (
            self.recovery_type is None or self.recovery_type == recovery_type
        )

    @property
    def specificity(self) -> int:
        return (2 if self.stage is not None else 0) + (1 if self.recovery_type is not None else 0)


@dataclass(frozen=True, slots=True)
class CommissionTerms:
    clawback_days: int
    tiers: tuple[Tier, ...]


def _rate(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise InvalidInput(field, "must be a decimal percentage")
    try:
        rate = Decimal(value)
    except ArithmeticError as exc:
        raise InvalidInput(field, "must be a decimal percentage") from exc
    if not rate.is_finite() or not ZERO <= rate <= HUNDRED:
        raise InvalidInput(field, "must be between 0 and 100")
    if rate != rate.quantize(CENT):
        raise InvalidInput(field, "at most two decimal places")
    return rate.quantize(CENT)


def check_terms(data: Mapping[str, Any], field: str = "body") -> CommissionTerms:
    """Terms from their JSON form: a clawback window of 0–365 days and tiers with rates of
    0–100 %, known stages and recovery types, no two tiers for the same (stage, type)."""
    days = data.get("clawback_days")
    if isinstance(days, bool) or not isinstance(days, int):
        raise InvalidInput(f"{field}.clawback_days", "must be a whole number of days")
    if not 0 <= days <= MAX_CLAWBACK_DAYS:
        raise InvalidInput(f"{field}.clawback_days", f"must be between 0 and {MAX_CLAWBACK_DAYS}")
    raw = data.get("tiers")
    if not isinstance(raw, list) or not raw:
        raise InvalidInput(f"{field}.tiers", "at least one tier")
    if len(raw) > MAX_TIERS:
        raise InvalidInput(f"{field}.tiers", f"at most {MAX_TIERS} tiers")
    tiers: list[Tier] = []
    seen: set[tuple[Stage | None, RecoveryType | None]] = set()
    for i, item in enumerate(raw):
        where = f"{field}.tiers.{i}"
        if not isinstance(item, Mapping):
            raise InvalidInput(where, "must be an object")
        stage_value = item.get("stage")
        type_value = item.get("recovery_type")
        try:
            stage = None if stage_value is None else Stage(stage_value)
        except ValueError as exc:
            raise InvalidInput(f"{where}.stage", "not a delinquency stage") from exc
        try:
            kind = None if type_value is None else RecoveryType(type_value)
        except ValueError as exc:
            raise InvalidInput(f"{where}.recovery_type", "not a recovery type") from exc
        if (stage, kind) in seen:
            raise InvalidInput(where, "another tier has the same stage and recovery type")
        seen.add((stage, kind))
        tiers.append(Tier(stage, kind, _rate(item.get("rate_pct"), f"{where}.rate_pct")))
    return CommissionTerms(days, tuple(tiers))


def terms_to_json(terms: CommissionTerms) -> dict[str, Any]:
    return {
        "clawback_days": terms.clawback_days,
        "tiers": [
            {
                "stage": None if t.stage is None else t.stage.value,
                "recovery_type": None if t.recovery_type is None else t.recovery_type.value,
                "rate_pct": str(t.rate_pct),
            }
            for t in terms.tiers
        ],
    }


def select_tier(
    tiers: Iterable[Tier], stage: Stage | None, recovery_type: RecoveryType
) -> Tier | None:
    """The most specific tier matching a payment's stage and recovery type, or None."""
    best: Tier | None = None
    for tier in tiers:
        if tier.matches(stage, recovery_type) and (
            best is None or tier.specificity > best.specificity
        ):
            best = tier
    return best


def rate_for(
    terms: CommissionTerms | None, stage: Stage | None, recovery_type: RecoveryType
) -> Decimal:
    if terms is None:
        return ZERO
    tier = select_tier(terms.tiers, stage, recovery_type)
    return ZERO if tier is None else tier.rate_pct


def commission(amount: Decimal, rate_pct: Decimal) -> Decimal:
    """amount × rate / 100, half-up to cents; never negative for a non-negative amount."""
    return (amount * rate_pct / HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP)


def clawed_back(paid_on: date, undone_on: date | None, clawback_days: int) -> bool:
    """True when the payment was undone (reversed, or its plan broke) no later than
    ``clawback_days`` days after ``paid_on``. The report's SQL mirrors this rule."""
    return undone_on is not None and (undone_on - paid_on).days <= clawback_days


@dataclass(frozen=True, slots=True)
class CommissionLine:
    """A collector's payments of one stage and recovery type under one terms version."""

    stage: Stage | None
    recovery_type: RecoveryType
    terms_version: int | None
    rate_pct: Decimal
    payments: int
    recovered: Decimal
    clawed_back_payments: int
    clawed_back_amount: Decimal
    earned: Decimal
    clawed_back: Decimal

    @property
    def net(self) -> Decimal:
        return self.earned - self.clawed_back


def commission_line(
    *,
    terms: CommissionTerms | None,
    terms_version: int | None,
    stage: Stage | None,
    recovery_type: RecoveryType,
    payments: int,
    recovered: Decimal,
    clawed_back_payments: int,
    clawed_back_amount: Decimal,
) -> CommissionLine:
    """Apply the tier's rate to an aggregated row: earned on everything recovered, clawed
    back on the part that was undone within the window (a part of what was recovered)."""
    if not ZERO <= clawed_back_amount <= recovered:
        raise ValueError("the clawed-back amount is a part of the recovered amount")
    rate = rate_for(terms, stage, recovery_type)
    earned = commission(recovered, rate)
    back = commission(clawed_back_amount, rate)
    return CommissionLine(
        stage=stage,
        recovery_type=recovery_type,
        terms_version=terms_version,
        rate_pct=rate,
        payments=payments,
        recovered=recovered,
        clawed_back_payments=clawed_back_payments,
        clawed_back_amount=clawed_back_amount,
        earned=earned,
        # Rounding both the same way keeps the clawback within what was earned.
        clawed_back=min(back, earned),
    )


def parse_month(value: str, field: str) -> date:
    """``YYYY-MM`` as the first day of that month."""
    parts = value.split("-")
    if (
        len(parts) != 2
        or len(parts[0]) != 4
        or len(parts[1]) != 2
        or not all(p.isascii() and p.isdigit() for p in parts)
    ):
        raise InvalidInput(field, "must be a month as YYYY-MM")
    year, month = int(parts[0]), int(parts[1])
    if not (1 <= month <= 12 and 1900 <= year <= 9999):
        raise InvalidInput(field, "must be a month as YYYY-MM")
    return date(year, month, 1)


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)
