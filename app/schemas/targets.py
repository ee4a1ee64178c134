"""API shapes of recovery targets, partners' commission terms and the commission report.

Amounts and percentages are decimals and leave the API as strings (``"1500.00"``); every
amount comes with its ISO 4217 currency. Months are ``YYYY-MM``.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.domain.commissions import MAX_CLAWBACK_DAYS, MAX_TIERS, RecoveryType
from app.domain.stages import Stage
from app.schemas.common import CalendarDate, PositiveMoney

# Years 1900 to 9999, as app.domain.commissions.parse_month reads them.
MONTH_PATTERN = r"^(19[0-9]{2}|[2-9][0-9]{3})-(0[1-9]|1[0-2])$"
Month = Annotated[
    str, Field(pattern=MONTH_PATTERN, examples=["2026-11"], description="A month, YYYY-MM.")
]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")]
TargetAmount = Annotated[
    PositiveMoney,
    Field(
        description="Amount to recover, more than zero; at most the currency's decimals (none "
        "for CLP)."
    ),
]
Rate = Annotated[
    Decimal,
    Field(ge=0, le=100, max_digits=5, decimal_places=2, description="A percentage, 0 to 100."),
]


class TargetScope(StrEnum):
    COLLECTOR = "collector"
    TEAM = "team"
    PARTNER = "partner"


class TargetWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    month: Month
    scope: TargetScope
    scope_id: uuid.UUID = Field(description="The collector's user id, the team's or partner's.")
    amount: TargetAmount
    currency: Currency | None = Field(
        default=None,
        description="Required for collector and team targets; a partner target is in the "
        "partner's currency (give it or leave it out).",
    )


class TargetRead(BaseModel):
    id: uuid.UUID
    month: Month
    scope: TargetScope
    scope_id: uuid.UUID
    amount: Decimal
    currency: str
    version: int
    set_by: str
    updated_at: datetime


class TargetProgressRead(TargetRead):
    recovered: Decimal = Field(
        description="Applied payments of the month in the scope and currency (reversed ones "
        "do not count), by the date paid."
    )
    remaining: Decimal = Field(description="amount − recovered, never below 0.")
    percent: Decimal = Field(description="recovered / amount × 100, two decimals (half-up).")


class CommissionTierWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: Stage | None = Field(default=None, description="Null: any stage.")
    recovery_type: RecoveryType | None = Field(default=None, description="Null: any type.")
    rate_pct: Rate


class CommissionTermsWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    effective_from: CalendarDate | None = Field(
        default=None,
        description="First payment date the version applies to; default the partner's today.",
    )
    clawback_days: int = Field(ge=0, le=MAX_CLAWBACK_DAYS, strict=True)
    tiers: list[CommissionTierWrite] = Field(min_length=1, max_length=MAX_TIERS)


class CommissionTierRead(BaseModel):
    stage: Stage | None
    recovery_type: RecoveryType | None
    rate_pct: Decimal


class CommissionTermsRead(BaseModel):
    partner_id: uuid.UUID
    version: int
    effective_from: date
    clawback_days: int
    tiers: list[CommissionTierRead]
    created_by: str
    created_at: datetime


class CommissionTermsHistoryRead(BaseModel):
    current: CommissionTermsRead | None = Field(
        description="The latest version in effect today; null when none is."
    )
    versions: list[CommissionTermsRead] = Field(description="Every version, newest first.")


class CommissionLineRead(BaseModel):
    stage: Stage | None
    recovery_type: RecoveryType
    terms_version: int | None = Field(description="Null: no terms were in effect (rate 0).")
    rate_pct: Decimal
    payments: int
    recovered: Decimal
    clawed_back_payments: int
    clawed_back_amount: Decimal
    earned: Decimal
    clawed_back: Decimal
    net: Decimal


class CommissionRowRead(BaseModel):
    collector_id: uuid.UUID
    collector_name: str
    partner_id: uuid.UUID
    currency: str
    payments: int
    recovered: Decimal
    earned: Decimal
    clawed_back: Decimal
    net: Decimal
    lines: list[CommissionLineRead]


class CommissionReportRead(BaseModel):
    period: Month
    rows: list[CommissionRowRead]
