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

from app.domain.commissions import (
    MAX_ABOVE_TARGET_PCT,
    MAX_CLAWBACK_DAYS,
    MAX_TIERS,
    MAX_VOLUME_TIERS,
    RecoveryType,
)
from app.domain.stages import Stage
from app.schemas.common import AsciiDecimal, CalendarDate, PositiveMoney

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
    AsciiDecimal,
    Field(ge=0, le=100, max_digits=5, decimal_places=2, description="A percentage, 0 to 100."),
]
Threshold = Annotated[
    Decimal,
    Field(
        ge=0,
        max_digits=18,
        decimal_places=2,
        description="An amount of the partner's currency (at most its minor-unit decimals).",
    ),
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


class VolumeTierWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_amount: Threshold = Field(
        description="Where the band starts in the collector's month's base (the first: 0)."
    )
    rate_pct: Rate = Field(description="Paid on the part of the month's base inside the band.")


class AcceleratorWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    above_target_pct: AsciiDecimal = Field(
        ge=0,
        le=MAX_ABOVE_TARGET_PCT,
        max_digits=6,
        decimal_places=2,
        description="Percent of the collector's monthly target above which it pays (100: "
        "the target itself).",
    )
    extra_rate_pct: AsciiDecimal = Field(
        gt=0,
        le=100,
        max_digits=5,
        decimal_places=2,
        description="Percent paid on top of the other commission, on the base above it.",
    )


class CommissionTermsWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    effective_from: CalendarDate | None = Field(
        default=None,
        description="First payment date the version applies to; default the partner's today.",
    )
    clawback_days: int = Field(ge=0, le=MAX_CLAWBACK_DAYS, strict=True)
    tiers: list[CommissionTierWrite] = Field(
        default_factory=list,
        max_length=MAX_TIERS,
        description="The rate table: rates by stage and recovery type. Give it or "
        "`volume_tiers`, not both.",
    )
    volume_tiers: list[VolumeTierWrite] = Field(
        default_factory=list,
        max_length=MAX_VOLUME_TIERS,
        description="Marginal bands of the collector's month's base, ascending from 0.",
    )
    accelerator: AcceleratorWrite | None = Field(
        default=None, description="Extra commission above a percentage of the target."
    )


class CommissionTierRead(BaseModel):
    stage: Stage | None
    recovery_type: RecoveryType | None
    rate_pct: Decimal


class VolumeTierRead(BaseModel):
    from_amount: Decimal
    rate_pct: Decimal


class AcceleratorRead(BaseModel):
    above_target_pct: Decimal
    extra_rate_pct: Decimal


class CommissionTermsRead(BaseModel):
    partner_id: uuid.UUID
    version: int
    effective_from: date
    clawback_days: int
    tiers: list[CommissionTierRead]
    volume_tiers: list[VolumeTierRead]
    accelerator: AcceleratorRead | None
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
    payments: int
    base: Decimal = Field(description="Money the payments applied to the debt (not credit).")
    clawed_back_payments: int
    clawed_back_base: Decimal
    rate_pct: Decimal | None = Field(description="The table's rate; null when volume tiers pay.")
    earned: Decimal | None = Field(description="Null when volume tiers pay the month.")
    clawed_back: Decimal | None
    net: Decimal | None


class RecoveryTypeTotalRead(BaseModel):
    recovery_type: RecoveryType
    payments: int
    base: Decimal


class VolumeBandRead(BaseModel):
    from_amount: Decimal
    to_amount: Decimal | None = Field(description="Null: no upper end.")
    rate_pct: Decimal
    base: Decimal = Field(description="The part of the month's kept base inside the band.")
    commission: Decimal


class AcceleratorShareRead(BaseModel):
    above_target_pct: Decimal
    extra_rate_pct: Decimal
    target: Decimal = Field(description="The collector's target for the month.")
    threshold: Decimal = Field(description="target × above_target_pct / 100.")
    collector_base: Decimal = Field(
        description="The collector's kept base of the month in the currency, every partner."
    )
    excess: Decimal = Field(
        description="This row's share of collector_base − threshold, by its part of the base."
    )
    amount: Decimal


class CommissionRowRead(BaseModel):
    collector_id: uuid.UUID
    collector_name: str
    partner_id: uuid.UUID
    currency: str
    terms_version: int | None = Field(
        description="The version in effect on the month's last day (volume tiers, accelerator)."
    )
    payments: int
    base: Decimal = Field(description="Money applied to the debt in the month.")
    by_recovery_type: list[RecoveryTypeTotalRead]
    volume_bands: list[VolumeBandRead] = Field(
        description="Empty unless volume tiers pay the month."
    )
    accelerator: AcceleratorShareRead | None = Field(
        description="Null without an accelerator in the terms or a target for the collector."
    )
    earned: Decimal
    clawed_back: Decimal
    net: Decimal = Field(description="The commission: earned − clawed back.")
    lines: list[CommissionLineRead]


class CommissionReportRead(BaseModel):
    period: Month
    rows: list[CommissionRowRead]
