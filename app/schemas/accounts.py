"""API shapes of accounts: list items, the detail, assignment, history and pauses.

Money is ``Decimal`` end to end and leaves the API as a JSON string (``"1150.00"``), never a
float; personal data (national ids, phones, emails) leaves it masked (``****5678``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.domain.accounts import AccountStatus, PauseReason
from app.domain.stages import ProductType, Stage
from app.schemas.common import CalendarDate, NoteText

Money = Annotated[
    Decimal, Field(description="An amount in the account's currency, as a decimal string.")
]
MopCode = Annotated[
    str, Field(description="Buró de Crédito MOP code for the DPD (01 current … 07 180+).")
]


class AccountSort(StrEnum):
    """List orders; a leading ``-`` means descending. Ties are broken by id."""

    ID = "id"
    DPD = "dpd"
    DPD_DESC = "-dpd"
    TOTAL = "total"
    TOTAL_DESC = "-total"


class DebtorSummary(BaseModel):
    id: uuid.UUID
    full_name: str
    national_id_type: str
    national_id_masked: str = Field(description="The national id's last four characters.")


class DebtorContacts(DebtorSummary):
    phones: list[str] = Field(description="The debtor's phones sent with this account, masked.")
    emails: list[str] = Field(description="The debtor's emails sent with this account, masked.")


class AccountSummary(BaseModel):
    """One line of the account list."""

    id: uuid.UUID
    partner_id: uuid.UUID
    external_ref: str = Field(description="The partner's own reference, unique per partner.")
    product_type: ProductType
    currency: str = Field(description="ISO 4217 code of every amount of the account.")
    total: Money
    past_due_amount: Money
    dpd: int = Field(description="Days past due as of `aged_as_of`; ≤ 0 is current.")
    stage: Stage
    mop_code: MopCode
    status: AccountStatus
    assigned_collector_id: uuid.UUID | None
    assigned_collector_name: str | None = Field(description="The assigned collector's name.")
    assigned_team_id: uuid.UUID | None
    debtor: DebtorSummary
    version: int
    updated_at: datetime


class AccountLabelRead(BaseModel):
    """The account a line of a cross-account list belongs to, as a list screen shows it."""

    model_config = ConfigDict(from_attributes=True)

    account_id: uuid.UUID
    partner_id: uuid.UUID
    external_ref: str = Field(description="The partner's own reference for the account.")
    debtor_name: str = Field(description="The debtor's name as this account's partner sent it.")
    collector_id: uuid.UUID | None = Field(description="The collector assigned to the account.")
    collector_name: str | None


class PauseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    account_id: uuid.UUID
    reason: PauseReason
    starts_on: date
    ends_on: date = Field(
        description="Its last day, included. A pause ended early ends the day before it was "
        "ended; one ended on its first day covers no day (ends_on is the day before "
        "starts_on)."
    )
    note: str | None
    created_by: str = Field(description="Who recorded it (a user id).")
    created_at: datetime
    ended_at: datetime | None = Field(
        default=None, description="When it was ended early; null while it runs its course."
    )
    ended_by: str | None = Field(default=None, description="Who ended it early (a user id).")


class AccountDetail(BaseModel):
    """An account with its balances, delinquency, assignment and debtor (masked)."""

    id: uuid.UUID
    partner_id: uuid.UUID
    external_ref: str
    payment_reference: str = Field(
        description="What the debtor quotes at the bank, OXXO or in a SPEI transfer: 12 digits, "
        "the last two check digits (ISO 7064 MOD 97-10)."
    )
    product_type: ProductType
    currency: str
    original_amount: Money
    principal: Money
    interest: Money
    fees: Money
    total: Money = Field(description="principal + interest + fees.")
    past_due_amount: Money
    credit: Money = Field(
        description="Money received beyond what was owed (saldo a favor): refunded or moved, "
        "never lost. Each amount is the sum of the account's ledger entries."
    )
    oldest_unpaid_due_date: date | None
    last_payment_date: date | None
    last_payment_amount: Money | None
    dpd: int
    stage: Stage
    mop_code: MopCode
    aged_as_of: date = Field(description="The business date DPD and stage were computed for.")
    status: AccountStatus
    assigned_collector_id: uuid.UUID | None
    assigned_team_id: uuid.UUID | None
    last_assignment_id: uuid.UUID | None = Field(
        description="The partner's portfolio push (asignación) that last wrote the account."
    )
    debtor: DebtorContacts
    references_count: int = Field(description="References named with this account.")
    guarantors_count: int = Field(description="Guarantors (avales) named with this account.")
    has_pauses: bool
    active_pause: PauseRead | None = Field(
        description="The pause covering today (UTC date), if any."
    )
    version: int = Field(description="Also sent as the ETag; send it back as If-Match.")
    created_at: datetime
    updated_at: datetime


class AccountAssign(BaseModel):
    """A change of assignment. A field left out keeps its value; an explicit null unassigns.
    Naming a collector without a team puts the account in the collector's team."""

    model_config = ConfigDict(extra="forbid")

    assigned_collector_id: uuid.UUID | None = Field(
        default=None, description="An active collector (for a team lead: one of their teams)."
    )
    assigned_team_id: uuid.UUID | None = Field(
        default=None, description="A team (for a team lead: one they lead)."
    )


class AccountEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int = Field(description="Order of the event across all accounts.")
    kind: str = Field(
        description="created, balance_changed, stage_changed, assigned, status_changed, paused, "
        "pause_ended."
    )
    as_of: date = Field(description="The business date the change belongs to.")
    occurred_at: datetime
    actor_id: str = Field(description="A user id, `client:<id>` or a system actor.")
    before: dict[str, Any] | None
    after: dict[str, Any] | None


PauseNote = Annotated[NoteText, StringConstraints(strip_whitespace=True, max_length=500)]


class PauseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: PauseReason
    starts_on: CalendarDate
    ends_on: CalendarDate = Field(
        description="Included; at most 365 days after starts_on, counted both."
    )
    note: PauseNote | None = None
