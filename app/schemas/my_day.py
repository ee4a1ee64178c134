"""A floor's day on one screen: "my day" for a collector, "my team's day" for a lead. Each
section holds its first lines (the most urgent first) and how many there are in all."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from app.schemas.accounts import AccountLabelRead
from app.schemas.callbacks import CallbackRead
from app.schemas.compliance_incidents import ComplianceIncidentRead
from app.schemas.escalations import EscalationListItem
from app.schemas.interactions import PromiseListItem
from app.schemas.plans import PlanListItem
from app.schemas.targets import TargetProgressRead
from app.schemas.worklists import WorkItemRead

T = TypeVar("T")


class Section(BaseModel, Generic[T]):
    items: list[T] = Field(description="The first lines, the most urgent first.")
    total: int = Field(description="How many there are in all.")


class InstallmentDueRead(BaseModel):
    plan_id: uuid.UUID
    number: int
    kind: Literal["down_payment", "installment"]
    due_date: dt.date
    amount: Decimal
    paid_amount: Decimal
    currency: str
    account: AccountLabelRead


class CollectedRead(BaseModel):
    currency: str
    amount: Decimal


class CollectorTallyRead(BaseModel):
    collector_id: uuid.UUID
    full_name: str
    contacts: int = Field(description="Interactions recorded today, attempts included.")
    right_party_contacts: int
    promises_taken: int
    collected: list[CollectedRead] = Field(
        description="Applied payments recorded today on the accounts they work, by currency."
    )


class CollectorDayRead(BaseModel):
    date: dt.date = Field(description="The agency's date (its time zone below).")
    time_zone: str
    promises_due: Section[PromiseListItem] = Field(
        description="Pending promises due today or overdue, soonest first."
    )
    installments_due: Section[InstallmentDueRead] = Field(
        description="Unpaid installments of active plans due today or overdue: plans waiting "
        "on the debtor."
    )
    plans_pending_approval: Section[PlanListItem] = Field(
        description="Plans on the caller's accounts waiting for a lead's or manager's approval."
    )
    escalations_answered: Section[EscalationListItem] = Field(
        description="The caller's escalations taken or resolved in the last 7 days."
    )
    callbacks_due: Section[CallbackRead] = Field(
        description="Callbacks the debtor agreed that are due now (not yet missed)."
    )
    targets: list[TargetProgressRead] = Field(description="This month's targets and progress.")
    queue_head: list[WorkItemRead] = Field(
        description="The first accounts of the queue that may be contacted now."
    )


class TeamDayRead(BaseModel):
    date: dt.date
    time_zone: str
    approvals_waiting: Section[PlanListItem]
    promises_broken: Section[PromiseListItem] = Field(
        description="Promises broken in the last 7 days, latest first."
    )
    open_escalations: Section[EscalationListItem] = Field(
        description="Escalations not yet resolved, oldest first."
    )
    open_incidents: Section[ComplianceIncidentRead] = Field(
        description="Compliance incidents waiting for a resolution, newest first."
    )
    callbacks_missed: Section[CallbackRead] = Field(
        description="Callbacks on the caller's teams' accounts not made in time."
    )
    collectors: list[CollectorTallyRead] = Field(
        description="Each collector of the caller's teams (a manager: every team) today."
    )
