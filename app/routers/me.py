from __future__ import annotations

from fastapi import APIRouter

from app.deps import ClockDep, LanguageDep, PrincipalDep, SessionDep, SettingsDep
from app.problems import problem_responses
from app.routers.callbacks import callback_read
from app.routers.escalations import escalation_item
from app.routers.interactions import promise_item
from app.routers.plans import plan_item
from app.routers.targets import target_read
from app.routers.worklists import work_item_read
from app.schemas.accounts import AccountLabelRead
from app.schemas.compliance_incidents import ComplianceIncidentRead
from app.schemas.my_day import (
    CollectedRead,
    CollectorDayRead,
    CollectorTallyRead,
    InstallmentDueRead,
    Section,
    TeamDayRead,
)
from app.services import my_day as service

router = APIRouter(prefix="/me", tags=["work"])


@router.get(
    "/day",
    summary="My day: what a collector has to do today",
    response_model=CollectorDayRead,
    responses=problem_responses(401, 403, 422),
)
async def get_my_day(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    now: ClockDep,
    language: LanguageDep,
) -> CollectorDayRead:
    """Collectors only. Promises due today or overdue, installments the debtor owes,
    plans waiting for approval, escalations answered this week, the month's targets with
    their progress, and the head of the queue (accounts the law allows contacting now).
    Each list shows its first 20 lines and its total."""
    plan = plan_item(language)
    day = await service.collector_day(session, settings, principal, now)
    return CollectorDayRead(
        date=day.day,
        time_zone=day.time_zone,
        promises_due=Section(
            items=[promise_item(p, day.promises_due.items.label_of(p.account_id))
                   for p in day.promises_due.items.rows],
            total=day.promises_due.total,
        ),
        installments_due=Section(
            items=[
                InstallmentDueRead(
                    plan_id=d.plan_id,
                    number=d.number,
                    kind="down_payment" if d.number == 0 else "installment",
                    due_date=d.due_date,
                    amount=d.amount,
                    paid_amount=d.paid_amount,
                    currency=d.currency,
                    account=AccountLabelRead.model_validate(
                        day.installments_due.items.label_of(d.account_id)
                    ),
                )
                for d in day.installments_due.items.rows
            ],
            total=day.installments_due.total,
        ),
        plans_pending_approval=Section(
            items=[plan(v, day.plans_pending_approval.items.label_of(v.plan.account_id))
                   for v in day.plans_pending_approval.items.rows],
            total=day.plans_pending_approval.total,
        ),
        escalations_answered=Section(
            items=[escalation_item(e, day.escalations_answered.items.label_of(e.account_id))
                   for e in day.escalations_answered.items.rows],
            total=day.escalations_answered.total,
        ),
        callbacks_due=Section(
            items=[callback_read(c) for c in day.callbacks_due.items],
            total=day.callbacks_due.total,
        ),
        targets=[target_read(t) for t in day.targets],
        queue_head=[work_item_read(i, language) for i in day.queue_head],
    )  # fmt: skip


@router.get(
    "/team-day",
    summary="My team's day: what a lead has to see today",
    response_model=TeamDayRead,
    responses=problem_responses(401, 403, 422),
)
async def get_team_day(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    now: ClockDep,
    language: LanguageDep,
) -> TeamDayRead:
    """Team leads (their teams), managers and admins (every team). Plans waiting for
    approval, promises broken this week, open escalations and compliance incidents, and
    each collector's contacts, right-party contacts, promises and money collected today.
    Each list shows its first 20 lines and its total."""
    plan = plan_item(language)
    day = await service.team_day(session, settings, principal, now)
    return TeamDayRead(
        date=day.day,
        time_zone=day.time_zone,
        approvals_waiting=Section(
            items=[plan(v, day.approvals_waiting.items.label_of(v.plan.account_id))
                   for v in day.approvals_waiting.items.rows],
            total=day.approvals_waiting.total,
        ),
        promises_broken=Section(
            items=[promise_item(p, day.promises_broken.items.label_of(p.account_id))
                   for p in day.promises_broken.items.rows],
            total=day.promises_broken.total,
        ),
        open_escalations=Section(
            items=[escalation_item(e, day.open_escalations.items.label_of(e.account_id))
                   for e in day.open_escalations.items.rows],
            total=day.open_escalations.total,
        ),
        open_incidents=Section(
            items=[ComplianceIncidentRead.model_validate(i)
                   for i in day.open_incidents.items.rows],
            total=day.open_incidents.total,
        ),
        callbacks_missed=Section(
            items=[callback_read(c) for c in day.callbacks_missed.items],
            total=day.callbacks_missed.total,
        ),
        collectors=[
            CollectorTallyRead(
                collector_id=t.collector_id,
                full_name=t.full_name,
                contacts=t.contacts,
                right_party_contacts=t.right_party_contacts,
                promises_taken=t.promises_taken,
                collected=[CollectedRead(currency=c, amount=a)
                           for c, a in sorted(t.collected.items())],
            )
            for t in day.collectors
        ],
    )  # fmt: skip
