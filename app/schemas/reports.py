"""API shapes of the KPI reports: aging, roll rates, recovery and agents.

Money and rates leave the API as decimal strings (``"1150.00"``, ``"0.2500"``); a rate is a
fraction to four places, ``null`` when its denominator is zero. Every report is also
available as CSV (``Accept: text/csv``) with the same rows, one line each, and the column
names given by ``CSV_COLUMNS`` of each row model.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import BaseModel, Field

from app.domain.stages import Stage

Money = Annotated[Decimal, Field(description="An amount in `currency`, as a decimal string.")]
Rate = Annotated[
    Decimal | None,
    Field(description="A fraction to four places (0.2500 is 25 %); null when undefined."),
]
Period = Annotated[date, Field(description="First or last business date, both included.")]


class AgingRow(BaseModel):
    partner_id: uuid.UUID
    stage: Stage
    mop_code: str = Field(
        description="Buró de Crédito MOP code of the accounts' DPD (01 current … 07 180+); "
        "a stage whose DPD range spans several codes has a row per code."
    )
    currency: str
    accounts: int
    total_balance: Money
    past_due_balance: Money

    CSV_COLUMNS: ClassVar[tuple[str, ...]] = (
        "partner_id", "stage", "mop_code", "currency", "accounts", "total_balance",
        "past_due_balance",
    )  # fmt: skip


class AgingReport(BaseModel):
    """The active portfolio now, by partner × stage × MOP code."""

    items: list[AgingRow]


class RollRateRow(BaseModel):
    partner_id: uuid.UUID
    from_stage: Stage
    accounts: int = Field(description="Accounts in `from_stage` on `from`; each row's "
                          "`counts` add up to it.")  # fmt: skip
    counts: dict[Stage, int] = Field(description="Accounts by their stage on `to`.")
    rates: dict[Stage, Rate] = Field(description="`counts` over `accounts`.")
    worse: int = Field(description="Accounts that rolled to a more severe stage.")
    same: int
    better: int
    roll_forward_rate: Rate = Field(description="`worse` over `accounts` (rodamiento).")
    cure_rate: Rate = Field(description="Ended `current` over `accounts`; null from current.")

    CSV_COLUMNS: ClassVar[tuple[str, ...]] = (
        "partner_id", "from_stage", "accounts",
        *(f"to_{s.value}" for s in Stage), *(f"rate_{s.value}" for s in Stage),
        "worse", "same", "better", "roll_forward_rate", "cure_rate",
    )  # fmt: skip

    def csv_cells(self) -> list[object]:
        return [
            self.partner_id, self.from_stage.value, self.accounts,
            *(self.counts[s] for s in Stage), *(self.rates[s] for s in Stage),
            self.worse, self.same, self.better, self.roll_forward_rate, self.cure_rate,
        ]  # fmt: skip


class RollRatesReport(BaseModel):
    from_: Period = Field(alias="from")
    to: Period
    items: list[RollRateRow]

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class RecoveryRow(BaseModel):
    partner_id: uuid.UUID
    stage: Stage = Field(
        description="Payments: the account's stage at the end of the day before `paid_on`; "
        "balances and cure: the account's stage on `from` (or on arrival, if later)."
    )
    currency: str
    payments: int = Field(description="Payments with `paid_on` in the period.")
    gross_amount: Money = Field(description="Their amounts, reversed ones included.")
    reversed_amount: Money = Field(description="The amounts of those since reversed.")
    recovered: Money = Field(description="`gross_amount` − `reversed_amount`.")
    accounts: int = Field(description="Accounts assigned in the period (see `assigned_balance`).")
    assigned_balance: Money = Field(
        description="Their balance (total) on `from`, or on arrival for accounts that "
        "arrived during the period."
    )
    recovery_rate: Rate = Field(description="`recovered` over `assigned_balance`.")
    past_due_at_start: int = Field(
        description="Accounts already assigned on `from` that were past due (not `current`)."
    )
    cured: int = Field(description="Of those, the ones `current` (DPD ≤ 0) on `to`.")
    cure_rate: Rate = Field(description="`cured` over `past_due_at_start`.")

    CSV_COLUMNS: ClassVar[tuple[str, ...]] = (
        "partner_id", "stage", "currency", "payments", "gross_amount", "reversed_amount",
        "recovered", "accounts", "assigned_balance", "recovery_rate", "past_due_at_start",
        "cured", "cure_rate",
    )  # fmt: skip


class RecoveryReport(BaseModel):
    from_: Period = Field(alias="from")
    to: Period
    items: list[RecoveryRow]

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class AgentRow(BaseModel):
    collector_id: uuid.UUID
    username: str
    day: date = Field(description="The partner's business date (its time zone).")
    partner_id: uuid.UUID
    currency: str
    attempts: int = Field(description="Interactions recorded (a corrected one counts once).")
    right_party_contacts: int
    rpc_rate: Rate = Field(description="`right_party_contacts` over `attempts`.")
    promises: int = Field(description="Promises to pay taken (cancelled ones left out).")
    promise_rate: Rate = Field(description="`promises` over `right_party_contacts`.")
    promises_resolved: int = Field(description="Of those, kept, partially kept or broken.")
    promises_kept: int
    promises_kept_rate: Rate = Field(description="`promises_kept` over `promises_resolved`.")
    amount_collected: Money = Field(
        description="Payments dated that day (not reversed) on accounts assigned to the "
        "collector at the end of that day."
    )
    plans_agreed: int = Field(
        description="Plans the collector proposed that became active that day (still active, "
        "completed or broken)."
    )

    CSV_COLUMNS: ClassVar[tuple[str, ...]] = (
        "collector_id", "username", "day", "partner_id", "currency", "attempts",
        "right_party_contacts", "rpc_rate", "promises", "promise_rate", "promises_resolved",
        "promises_kept", "promises_kept_rate", "amount_collected", "plans_agreed",
    )  # fmt: skip


class AgentsReport(BaseModel):
    from_: Period = Field(alias="from")
    to: Period
    items: list[AgentRow]

    model_config = {"populate_by_name": True, "serialize_by_alias": True}
