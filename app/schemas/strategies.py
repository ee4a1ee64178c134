"""API shapes of collection strategies: the document per stage, a new version, the history.

Percentages, amounts and weights are decimals and leave the API as strings (``"5.00"``).
The rules no schema can express (caps against the country's law, thresholds in order, a
capped channel among the allowed ones) are checked by ``app/domain/strategies.py`` on its
dataclasses, which a written entry becomes (``app/services/strategies.py``); errors from
either name the same field path (``body.stages.early.caps.call.per_day``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.domain.contact_check import RESULT_CODES, ContactChannel
from app.domain.errors import InvalidValue
from app.domain.strategies import (
    MAX_BROKEN_PROMISES,
    MAX_CAP,
    MAX_DAYS_LATE_TO_BREAK,
    MAX_GRACE_DAYS,
    MAX_INSTALLMENTS,
    MAX_TERM_EXTENSION_MONTHS,
    MAX_TOLERANCE_PCT,
)
from app.i18n import N_
from app.schemas.common import AsciiDecimal, Money

_CENT = Decimal("0.01")


def _to_cents(value: Decimal) -> Decimal:
    # A document keeps its percentages, amounts and weights with two decimal places ("5.00").
    return value.quantize(_CENT)


Cap = Annotated[int, Field(ge=0, le=MAX_CAP, strict=True)]
Percent = Annotated[
    AsciiDecimal,
    Field(ge=0, le=100, max_digits=5, decimal_places=2, description="A percentage, 0 to 100."),
    AfterValidator(_to_cents),
]
Amount = Annotated[
    Money,
    Field(
        description="An amount of discount in the partner's currency, at most its decimals "
        "(none for CLP)."
    ),
    AfterValidator(_to_cents),
]


def _check_result_code(code: str) -> str:
    if code not in RESULT_CODES:
        raise InvalidValue(N_("not a result code"))
    return code


ResultCode = Annotated[
    str,
    AfterValidator(_check_result_code),
    Field(json_schema_extra={"enum": sorted(RESULT_CODES)}),
]


class StrategyChannelCaps(BaseModel):
    """The strategy's own caps on a channel; a period left out is capped by the law only."""

    model_config = ConfigDict(extra="forbid")

    per_day: Cap | None = Field(default=None, description="Contacts a day, at most.")
    per_week: Cap | None = Field(default=None, description="Contacts in 7 days, at most.")


class StrategyCaps(BaseModel):
    """Caps per channel; every channel with caps must be among the stage's channels, and no
    cap may be looser than the law of the partner's country."""

    model_config = ConfigDict(extra="forbid")

    call: StrategyChannelCaps | None = None
    sms: StrategyChannelCaps | None = None
    email: StrategyChannelCaps | None = None
    whatsapp: StrategyChannelCaps | None = None
    letter: StrategyChannelCaps | None = None
    visit: StrategyChannelCaps | None = None


class StrategyPlanLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_discount_pct: Percent = Field(description="Largest discount off the debt, in %.")
    max_installments: int = Field(ge=1, le=MAX_INSTALLMENTS, strict=True)
    min_down_payment_pct: Percent = Field(description="Smallest down payment, in % of the plan.")
    max_term_extension_months: int = Field(ge=0, le=MAX_TERM_EXTENSION_MONTHS, strict=True)
    missed_installments_to_break: int = Field(
        default=2,
        ge=1,
        le=MAX_INSTALLMENTS,
        strict=True,
        description="A plan agreed under these limits breaks once this many installments "
        "are past due and unpaid…",
    )
    days_late_to_break: int = Field(
        default=30,
        ge=1,
        le=MAX_DAYS_LATE_TO_BREAK,
        strict=True,
        description="…or once one of them is more than this many days late.",
    )


class StrategyPlans(BaseModel):
    """The plan types that may be offered and their limits; null or left out: not offered."""

    model_config = ConfigDict(extra="forbid")

    regularization: StrategyPlanLimits | None = None
    restructuring: StrategyPlanLimits | None = None
    settlement: StrategyPlanLimits | None = None


class StrategyApprovals(BaseModel):
    """Who approves a discount: a collector up to ``collector_up_to``, a team lead up to
    ``team_lead_up_to`` (at least the collector's), a manager above."""

    model_config = ConfigDict(extra="forbid")

    collector_up_to: Amount
    team_lead_up_to: Amount


class StrategyEscalation(BaseModel):
    """What escalates an account to a team lead."""

    model_config = ConfigDict(extra="forbid")

    broken_promises: int | None = Field(
        ge=1,
        le=MAX_BROKEN_PROMISES,
        strict=True,
        description="Broken promises that escalate; null: never on that count.",
    )
    refusal_codes: list[ResultCode] = Field(
        default_factory=list, description="Interaction results that escalate at once."
    )


class StrategyPromiseTerms(BaseModel):
    """How late and how short a payment may be and still keep a promise."""

    model_config = ConfigDict(extra="forbid")

    grace_days: int = Field(ge=0, le=MAX_GRACE_DAYS, strict=True)
    tolerance_pct: Annotated[AsciiDecimal, AfterValidator(_to_cents)] = Field(
        ge=0, le=MAX_TOLERANCE_PCT, max_digits=4, decimal_places=2, description="In %."
    )


class StageStrategyWrite(BaseModel):
    """The policy for accounts in one delinquency stage."""

    model_config = ConfigDict(extra="forbid")

    channels: list[ContactChannel] = Field(description="Channels that may be used.")
    caps: StrategyCaps = Field(default_factory=StrategyCaps)
    visits_allowed: bool = Field(description="Field visits; needed for `visit` in channels.")
    plans: StrategyPlans = Field(default_factory=StrategyPlans)
    approvals: StrategyApprovals
    escalation: StrategyEscalation
    promises: StrategyPromiseTerms
    priority_weight: Percent = Field(description="Weight in the work queue, 0 to 100.")
    older_adult_debtors_vulnerable: bool = Field(
        default=False,
        description="Policy, not law: no collection contact with debtors aged 60 or over "
        "(Mexico's law allows it when the older adult is the debtor). Refusals say `policy`.",
    )
    calls_across_debts: bool = Field(
        default=False,
        description="Policy, not law: count the law's per-debt call limits (Regulation F) "
        "over all the debtor's debts and everyone reached. Refusals say `policy`.",
    )


class StrategyStages(BaseModel):
    """An entry per stage; a stage left out (or null) takes the default strategy's entry."""

    model_config = ConfigDict(extra="forbid")

    current: StageStrategyWrite | None = None
    early: StageStrategyWrite | None = None
    mid: StageStrategyWrite | None = None
    late: StageStrategyWrite | None = None
    nonaccrual: StageStrategyWrite | None = None
    chargeoff: StageStrategyWrite | None = None


class StrategyWrite(BaseModel):
    """A partner's new strategy version."""

    model_config = ConfigDict(extra="forbid")

    stages: StrategyStages


# What is answered: the same shapes, every field present (decimals as strings).


class StrategyPlanLimitsRead(BaseModel):
    max_discount_pct: Decimal
    max_installments: int
    min_down_payment_pct: Decimal
    max_term_extension_months: int
    missed_installments_to_break: int
    days_late_to_break: int


class StrategyPlansRead(BaseModel):
    """Null: the plan type is not offered in that stage."""

    regularization: StrategyPlanLimitsRead | None = None
    restructuring: StrategyPlanLimitsRead | None = None
    settlement: StrategyPlanLimitsRead | None = None


class StrategyApprovalsRead(BaseModel):
    collector_up_to: Decimal
    team_lead_up_to: Decimal


class StrategyPromiseTermsRead(BaseModel):
    grace_days: int
    tolerance_pct: Decimal


class StageStrategyRead(BaseModel):
    channels: list[ContactChannel]
    caps: StrategyCaps
    visits_allowed: bool
    plans: StrategyPlansRead
    approvals: StrategyApprovalsRead
    escalation: StrategyEscalation
    promises: StrategyPromiseTermsRead
    priority_weight: Decimal
    older_adult_debtors_vulnerable: bool
    calls_across_debts: bool


class StrategyStagesRead(BaseModel):
    current: StageStrategyRead
    early: StageStrategyRead
    mid: StageStrategyRead
    late: StageStrategyRead
    nonaccrual: StageStrategyRead
    chargeoff: StageStrategyRead


class StrategyDocumentRead(BaseModel):
    """Every stage, defaults filled in."""

    stages: StrategyStagesRead


class StrategyRead(BaseModel):
    """A strategy version. Version 0 is the default strategy, for partners without one of
    their own; it has no author or creation time."""

    partner_id: uuid.UUID
    version: int
    document: StrategyDocumentRead
    created_by: str | None
    created_at: datetime | None


class StrategyVersionRead(BaseModel):
    version: int
    created_by: str
    created_at: datetime


class StrategyHistoryRead(BaseModel):
    current: StrategyRead = Field(description="The version in force (0: the default).")
    versions: list[StrategyVersionRead] = Field(description="Every stored version, newest first.")
