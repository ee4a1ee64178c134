"""API shapes of champion/challenger strategy experiments and their report.

Shares are percentages with two decimals (``"50.00"``); the champion's and the challengers'
add up to exactly 100. A challenger's ``document`` is a strategy's entry for the
experiment's stage, validated exactly as in ``PUT /partners/{id}/strategy``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.domain.experiments import MAX_CHALLENGERS, ExperimentStatus
from app.domain.stages import Stage
from app.schemas.common import AsciiDecimal, PlainText
from app.schemas.strategies import StageStrategyRead, StageStrategyWrite

Share = Annotated[
    AsciiDecimal,
    Field(
        gt=0,
        le=100,
        max_digits=5,
        decimal_places=2,
        description="A share of the stage's accounts in %, above 0, at most two decimals.",
    ),
]


class ChallengerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PlainText = Field(min_length=1, max_length=60, description="Unique in the experiment.")
    share: Share
    document: StageStrategyWrite = Field(
        description="The challenger's strategy for the experiment's stage."
    )


class ExperimentCreate(BaseModel):
    """A new experiment on the partner's strategy for one stage."""

    model_config = ConfigDict(extra="forbid")

    name: PlainText = Field(min_length=1, max_length=120)
    stage: Stage
    champion_share: Share = Field(description="The champion's share in %.")
    challengers: list[ChallengerCreate] = Field(min_length=1, max_length=MAX_CHALLENGERS)


class ExperimentPromote(BaseModel):
    model_config = ConfigDict(extra="forbid")

    arm_id: uuid.UUID = Field(description="The challenger arm whose document becomes champion.")


class ArmRead(BaseModel):
    id: uuid.UUID
    position: int = Field(description="0 is the champion.")
    name: str
    champion: bool
    share: Decimal = Field(description="In %.")
    document: StageStrategyRead | None = Field(
        description="The challenger's entry for the stage; null for the champion (the "
        "strategy in force)."
    )


class ExperimentRead(BaseModel):
    id: uuid.UUID
    partner_id: uuid.UUID
    stage: Stage
    name: str
    status: ExperimentStatus
    created_by: str
    created_at: datetime
    ended_by: str | None
    ended_at: datetime | None
    promoted_arm_id: uuid.UUID | None
    promoted_version: int | None = Field(
        description="The strategy version the promoted challenger became."
    )
    arms: list[ArmRead]


# --- the report -------------------------------------------------------------------------


class RateEstimate(BaseModel):
    """A proportion (fraction to four places) with its 95 % Wilson score interval."""

    value: Decimal
    low: Decimal
    high: Decimal
    successes: int
    trials: int


class MeanEstimate(BaseModel):
    """A mean amount in `currency` with its 95 % Student t interval (null with one account)."""

    value: Decimal
    low: Decimal | None
    high: Decimal | None


class ArmReportRow(BaseModel):
    arm_id: uuid.UUID
    name: str
    champion: bool
    share: Decimal
    accounts: int = Field(description="Accounts assigned to the arm while in the stage.")
    attempts: int = Field(description="Interactions recorded under the arm (a correction once).")
    contacts: int = Field(description="Of them, with someone reached (party not `none`).")
    right_party_contacts: int = Field(description="Of them, with a RPC* result code.")
    promises: int = Field(description="Promises taken in those interactions, not cancelled.")
    promises_resolved: int
    promises_kept: int
    recovered: Decimal = Field(description="Payments recorded under the arm, not reversed.")
    past_due_accounts: int = Field(description="The arm's accounts past due (cure base).")
    cured: int = Field(description="Of them, `current` at the end (or now).")
    contact_rate: RateEstimate | None = Field(description="`contacts` over `attempts`.")
    rpc_rate: RateEstimate | None = Field(description="`right_party_contacts` over `attempts`.")
    promise_rate: RateEstimate | None = Field(description="`promises` over `right_party_contacts`.")
    kept_rate: RateEstimate | None = Field(description="`promises_kept` over `promises_resolved`.")
    recovered_per_account: MeanEstimate | None = Field(
        description="`recovered` over `accounts`, every account counted (zeros too)."
    )
    cure_rate: RateEstimate | None = Field(description="`cured` over `past_due_accounts`.")


class ExperimentReportRead(BaseModel):
    experiment_id: uuid.UUID
    partner_id: uuid.UUID
    stage: Stage
    status: ExperimentStatus
    currency: str
    started_at: datetime
    ended_at: datetime | None = Field(description="Null while running: figures up to now.")
    arms: list[ArmReportRow]
