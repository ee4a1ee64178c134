"""API shapes of the account ledger and of credit movements (refunds and transfers)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

ComponentName = Literal["principal", "interest", "fees", "past_due", "credit"]
EntryKindName = Literal[
    "opening",
    "partner_adjustment",
    "payment",
    "plan_interest",
    "forgiveness",
    "reversal",
    "credit_refund",
    "credit_transfer_out",
]


class LedgerEntryRead(BaseModel):
    """One movement of money on an account. A component's balance is the sum of its
    entries; `total` owed is principal + interest + fees."""

    seq: int = Field(description="Position in the ledger: entries never change or go away.")
    kind: EntryKindName
    component: ComponentName
    amount: Decimal = Field(description="Signed: a charge is positive, a payment negative.")
    amount_minor: int = Field(description="The same amount in the currency's minor units.")
    currency: str
    as_of: date = Field(description="The partner's business date it belongs to.")
    occurred_at: datetime
    actor_id: str = Field(description="Who made it: a user, a partner system, a job or a push.")
    payment_id: uuid.UUID | None
    plan_id: uuid.UUID | None
    assignment_id: uuid.UUID | None = Field(description="The push that sent the balances.")
    credit_movement_id: uuid.UUID | None
    reverses_seq: int | None = Field(description="The entry a reversal mirrors.")
