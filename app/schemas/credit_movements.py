"""API shapes of credit movements: credit ("saldo a favor") refunded or moved to another
account of the same debtor and partner."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import NoteText, PlainText, PositiveMoney

_AMOUNT = "In the account's currency, with no more decimals than it has (CLP: none); at most "
_AMOUNT += "the account's credit."


class CreditRefundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: PositiveMoney = Field(description=_AMOUNT)
    reason: NoteText = Field(min_length=3, max_length=1000)
    payout_reference: PlainText | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="How the money goes back: the SPEI tracking key, a cheque number.",
    )


class CreditTransferCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: PositiveMoney = Field(description=_AMOUNT)
    target_account_id: uuid.UUID = Field(
        description="Another active account of the same debtor and partner, same currency."
    )
    reason: NoteText = Field(min_length=3, max_length=1000)


class CreditMovementApproval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: NoteText | None = Field(default=None, max_length=1000)


class CreditMovementRejection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: NoteText = Field(min_length=1, max_length=1000, description="Why it is rejected.")


class CreditMovementRead(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID = Field(description="The account the credit leaves.")
    partner_id: uuid.UUID
    kind: Literal["refund", "transfer"]
    target_account_id: uuid.UUID | None = Field(description="For a transfer: where it goes.")
    amount: Decimal
    currency: str
    status: Literal["pending_approval", "done", "rejected"]
    reason: str
    payout_reference: str | None
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    payment_id: uuid.UUID | None = Field(
        description="A transfer done: the payment the target account received."
    )
