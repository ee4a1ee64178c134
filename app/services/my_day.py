"""A floor's day on one screen: "my day" for a collector, "my team's day" for a lead.

Each section is a short list (the most urgent first) with the total behind it, read with
the cross-account lists' own queries; the day is the agency's (settings
``aging_time_zone``), the clock the floor works by.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.config import Settings
from app.domain.callbacks import CallbackStatus
from app.domain.catalog import EscalationStatus
from app.domain.contact_check import RIGHT_PARTY_CODES
from app.domain.errors import PermissionDenied
from app.domain.interactions import PROMISE_RESULT, PromiseStatus
from app.domain.roles import Role
from app.models.compliance_incident import ComplianceIncident
from app.models.escalation import Escalation
from app.models.promise import Promise
from app.schemas.targets import TargetScope
from app.security import Principal
from app.services import (
    accounts,
    callbacks,
    compliance_incidents,
    plans,
    promises,
    targets,
    worklists,
)
from app.services.accounts import AccountScope, LabelledPage
from app.services.callbacks import CallbackView
from app.services.plans import InstallmentDue, PlanView
from app.services.targets import TargetProgress
from app.services.worklists import WorkItem

T = TypeVar("T")

SECTION_SIZE = 20
QUEUE_HEAD = 5
# How far back "answered" escalations and "broken" promises reach.
RECENT = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Section(Generic[T]):
    """The first lines of a list and how many there are in all."""

    items: LabelledPage[T]
    total: int


@dataclass(frozen=True, slots=True)
class CallbackSection:
    items: list[CallbackView]
    total: int


async def _callbacks(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    status: CallbackStatus,
    collector_id: uuid.UUID | None,
    now: datetime,
) -> CallbackSection:
    found, _ = await callbacks.list_callbacks(
        session, settings, principal, status=status, collector_id=collector_id, team_id=None,
        now=now, limit=SECTION_SIZE, cursor=None,
    )  # fmt: skip
    total = await callbacks.count_callbacks(
        session, settings, principal, status=status, collector_id=collector_id, now=now
    )
    return CallbackSection(found, total)


@dataclass(frozen=True, slots=True)
class CollectorDay:
    day: date
    time_zone: str
    promises_due: Section[Promise]
    installments_due: Section[InstallmentDue]
    plans_pending_approval: Section[PlanView]
    escalations_answered: Section[Escalation]
    callbacks_due: CallbackSection
    targets: list[TargetProgress]
    queue_head: list[WorkItem]


@dataclass(frozen=True, slots=True)
class CollectorTally:
    """What one collector did today."""

    collector_id: uuid.UUID
    full_name: str
    contacts: int  # interactions recorded (attempts included)
    right_party_contacts: int
    promises_taken: int
    collected: dict[str, Decimal]  # currency → applied payments recorded today


@dataclass(frozen=True, slots=True)
class TeamDay:
    day: date
    time_zone: str
    approvals_waiting: Section[PlanView]
    promises_broken: Section[Promise]
    open_escalations: Section[Escalation]
    open_incidents: Section[ComplianceIncident]
    callbacks_missed: CallbackSection
    collectors: list[CollectorTally]


def floor_day(settings: Settings, now: datetime) -> tuple[date, datetime, datetime]:
    """The agency's date now, and its first and next day's first instant (UTC)."""
    zone = ZoneInfo(settings.aging_time_zone)
    today = now.astimezone(zone).date()
    start = datetime.combine(today, time(0), zone).astimezone(UTC)
    end = datetime.combine(today + timedelta(days=1), time(0), zone).astimezone(UTC)
    return today, start, end


async def _count(session: AsyncSession, query: Any) -> int:
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    return int(total or 0)


async def collector_day(
    session: AsyncSession, settings: Settings, principal: Principal, now: datetime
) -> CollectorDay:
    if principal.role is not Role.COLLECTOR or principal.user_id is None:
        raise PermissionDenied({"role": principal.role.value})
    me = principal.user_id
    today, _, _ = floor_day(settings, now)
    mine = AccountScope(collector_id=me)
    due = await promises.search_promises(
        session, principal, mine, status=PromiseStatus.PENDING, due_from=None, due_to=today,
        limit=SECTION_SIZE, cursor=None,
    )  # fmt: skip
    installments = await plans.installments_due(
        session, principal, mine, on_or_before=today, limit=SECTION_SIZE
    )
    pending = await plans.search_plans(
        session, principal, mine, status="pending_approval", plan_type=None,
        limit=SECTION_SIZE, cursor=None,
    )  # fmt: skip
    answered_query = select(Escalation).where(
        col(Escalation.opened_by) == principal.audit_id,
        col(Escalation.status) != EscalationStatus.OPEN,
        or_(
            col(Escalation.resolved_at) >= now - RECENT,
            col(Escalation.taken_at) >= now - RECENT,
        ),
    )
    answered_rows = list(
        await session.scalars(
            answered_query.order_by(col(Escalation.id).desc()).limit(SECTION_SIZE)
        )
    )
    answered = await accounts.labelled_page(session, answered_rows, None, lambda e: e.account_id)
    month = targets.month_text(today.replace(day=1))
    progress = await targets.list_targets(
        session, principal, month, scope=TargetScope.COLLECTOR, limit=SECTION_SIZE
    )
    head = await worklists.my_worklist(session, settings, principal, limit=QUEUE_HEAD, now=now)
    return CollectorDay(
        day=today,
        time_zone=settings.aging_time_zone,
        promises_due=Section(
            due,
            await promises.count_promises(
                session, principal, mine, status=PromiseStatus.PENDING, due_from=None, due_to=today
            ),
        ),
        installments_due=Section(
            installments,
            await plans.count_installments_due(session, principal, mine, on_or_before=today),
        ),
        plans_pending_approval=Section(
            pending,
            await plans.count_plans(session, principal, mine, status="pending_approval"),
        ),
        escalations_answered=Section(answered, await _count(session, answered_query)),
        callbacks_due=await _callbacks(session, settings, principal, CallbackStatus.DUE, me, now),
        targets=progress.items,
        queue_head=head,
    )


LEADS = frozenset({Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN})


async def team_day(
    session: AsyncSession, settings: Settings, principal: Principal, now: datetime
) -> TeamDay:
    if principal.role not in LEADS:
        raise PermissionDenied({"role": principal.role.value})
    today, start, end = floor_day(settings, now)
    everyone = AccountScope()
    approvals = await plans.search_plans(
        session, principal, everyone, status="pending_approval", plan_type=None,
        limit=SECTION_SIZE, cursor=None,
    )  # fmt: skip
    broken_query = select(Promise).where(
        col(Promise.account_id).in_(accounts.scoped_account_ids(principal, everyone)),
        col(Promise.status) == PromiseStatus.BROKEN,
        col(Promise.resolved_on) >= today - RECENT,
    )
    broken_rows = list(
        await session.scalars(
            broken_query.order_by(col(Promise.resolved_on).desc(), col(Promise.id)).limit(
                SECTION_SIZE
            )
        )
    )
    broken = await accounts.labelled_page(session, broken_rows, None, lambda p: p.account_id)
    escalations_query = select(Escalation).where(
        col(Escalation.account_id).in_(accounts.scoped_account_ids(principal, everyone)),
        col(Escalation.status) != "resolved",
    )
    escalation_rows = list(
        await session.scalars(escalations_query.order_by(col(Escalation.id)).limit(SECTION_SIZE))
    )
    open_escalations = await accounts.labelled_page(
        session, escalation_rows, None, lambda e: e.account_id
    )
    incidents_query = compliance_incidents.readable(principal).where(
        col(ComplianceIncident.status) == "open"
    )
    incident_rows = list(
        await session.scalars(
            incidents_query.order_by(col(ComplianceIncident.opened_at).desc()).limit(SECTION_SIZE)
        )
    )
    incidents = await accounts.labelled_page(session, incident_rows, None, lambda i: i.account_id)
    return TeamDay(
        day=today,
        time_zone=settings.aging_time_zone,
        approvals_waiting=Section(
            approvals,
            await plans.count_plans(session, principal, everyone, status="pending_approval"),
        ),
        promises_broken=Section(broken, await _count(session, broken_query)),
        open_escalations=Section(open_escalations, await _count(session, escalations_query)),
        open_incidents=Section(incidents, await _count(session, incidents_query)),
        callbacks_missed=await _callbacks(
            session, settings, principal, CallbackStatus.MISSED, None, now
        ),
        collectors=await _tallies(session, principal, start, end),
    )


# Per collector of the caller's teams: today's interactions (right-party ones, promises)
# and the applied payments recorded today on the accounts they work, by currency.
_TALLIES = """
WITH members AS (
    SELECT u.id, u.full_name FROM app_user u
    JOIN team_member tm ON tm.user_id = u.id
    JOIN team t ON t.id = tm.team_id
    WHERE (CAST(:every_team AS boolean) OR t.lead_id = :lead)
      AND u.role = 'collector' AND u.is_active
),
contacts AS (
    SELECT i.collector_id,
           count(*) AS contacts,
           count(*) FILTER (WHERE i.result_code = ANY(:right_party)) AS rpc,
           count(*) FILTER (WHERE i.result_code = :promise) AS promises
    FROM interaction i
    WHERE i.collector_id IN (SELECT id FROM members)
      AND i.started_at >= :start AND i.started_at < :end
    GROUP BY i.collector_id
),
collected AS (
    SELECT a.assigned_collector_id AS collector_id, p.currency, sum(p.amount) AS amount
    FROM payment p JOIN account a ON a.id = p.account_id
    WHERE a.assigned_collector_id IN (SELECT id FROM members)
      AND p.status = 'applied' AND p.created_at >= :start AND p.created_at < :end
    GROUP BY a.assigned_collector_id, p.currency
)
SELECT m.id, m.full_name, coalesce(c.contacts, 0) AS contacts, coalesce(c.rpc, 0) AS rpc,
       coalesce(c.promises, 0) AS promises, k.currency, k.amount
FROM members m
LEFT JOIN contacts c ON c.collector_id = m.id
LEFT JOIN collected k ON k.collector_id = m.id
ORDER BY m.full_name, m.id, k.currency
"""


async def _tallies(
    session: AsyncSession, principal: Principal, start: datetime, end: datetime
) -> list[CollectorTally]:
    # A lead tallies the teams they lead; a manager or admin every team.
    every_team = principal.role is not Role.TEAM_LEAD
    parameters = {
        "start": start,
        "end": end,
        "every_team": every_team,
        "lead": principal.user_id,
        "right_party": sorted(RIGHT_PARTY_CODES),
        "promise": PROMISE_RESULT,
    }
    rows = (await session.execute(text(_TALLIES), parameters)).all()
    tallies: dict[uuid.UUID, CollectorTally] = {}
    for row in rows:
        tally = tallies.setdefault(
            row.id,
            CollectorTally(row.id, row.full_name, row.contacts, row.rpc, row.promises, {}),
        )
        if row.currency is not None:
            tally.collected[row.currency] = Decimal(row.amount)
    return list(tallies.values())
