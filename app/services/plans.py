"""Payment plans: quotes (nothing is written), proposals, approval, rejection,
cancellation (the written agreement is ``app/services/agreements.py``).

A quote reads the account (within what the caller may see), the partner's strategy in force
and the partner's country for its holiday calendar, and hands them to
:func:`app.domain.plans.quote`. A proposal quotes the same terms under the same rules and
stores the plan with its schedule.

Choices made here:

- Plans are seen through their account (:func:`app.services.accounts.readable_accounts`):
  a plan on an account the caller may not see is a 404.
- Proposals lock the account row, so two proposals on one account serialise; the partial
  unique index on open plans is the backstop. Decisions and cancellations lock the plan row
  (``FOR UPDATE``) and bump its ``version``: of two approvals at once, the second finds the
  plan no longer pending and answers 409.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import holidays
from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app import locks
from app.domain.errors import (
    NotFound,
    OpenPlanExists,
    PermissionDenied,
    VersionMismatch,
)
from app.domain.money import round_money
from app.domain.plans import (
    OPEN_STATUSES,
    AccountFacts,
    BreakingRule,
    Frequency,
    PlanDecision,
    PlanStatus,
    Quote,
    QuoteTerms,
    check_cancellation,
    decided_status,
    initial_status,
    quote,
)
from app.domain.roles import Role
from app.domain.stages import Stage
from app.domain.strategies import PlanType
from app.domain.webhooks import EventKind
from app.models.account import Account
from app.models.partner import Partner
from app.models.plan import PaymentPlan, PlanInstallment
from app.models.user import Team, TeamMember
from app.pagination import decode_id_cursor, split_page
from app.schemas.plans import PlanQuoteRequest
from app.security import SYSTEM, Principal
from app.services import accounts, audit, escalations, experiments, webhooks
from app.services.partners import partner_today

# Staff who negotiate plans; partners and auditors do not.
QUOTERS: frozenset[Role] = frozenset({Role.COLLECTOR, Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class QuoteView:
    account_id: uuid.UUID
    quoted_on: date
    strategy_version: int
    quote: Quote
    # The champion/challenger arm whose strategy gave the limits and approver, if any.
    experiment_arm_id: uuid.UUID | None = None


def terms_of(body: PlanQuoteRequest) -> QuoteTerms:
    return QuoteTerms(
        plan_type=PlanType(body.plan_type),
        installments=body.installments,
        frequency=Frequency(body.frequency),
        first_due_date=body.first_due_date,
        down_payment=Decimal(body.down_payment),
        discount_pct=Decimal(body.discount_pct),
        annual_rate_pct=Decimal(body.annual_rate_pct),
        down_payment_due_date=body.down_payment_due_date,
    )


async def quote_plan(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    body: PlanQuoteRequest,
    *,
    today: date | None = None,
) -> QuoteView:
    """The schedule, limits broken and approver for ``body`` on an account the caller sees."""
    if principal.role not in QUOTERS:
        raise PermissionDenied({"role": principal.role.value})
    account = await accounts.get_account(session, principal, account_id)
    return await quote_account(session, account, body, today=today)


async def quote_account(
    session: AsyncSession, account: Account, body: PlanQuoteRequest, *, today: date | None
) -> QuoteView:
    partner = await session.get_one(Partner, account.partner_id)
    country = partner.country
    effective = await experiments.strategy_for_account(session, account)
    version, document = effective.version, effective.document
    # The partner's business day: an evening quote in Mexico is not tomorrow's.
    quoted_on = today or partner_today(partner)
    result = quote(
        terms_of(body),
        AccountFacts(
            total=account.total, past_due_amount=account.past_due_amount, currency=account.currency
        ),
        holidays.country_holidays(country),
        document,
        Stage(account.stage),
        quoted_on=quoted_on,
    )
    return QuoteView(account.id, quoted_on, version, result, effective.arm_id)


# --- plans --------------------------------------------------------------------------------

# Who may read a plan besides those who negotiate them (all through the account's visibility).
READERS: frozenset[Role] = QUOTERS | {Role.AUDITOR, Role.PARTNER}


@dataclass(frozen=True, slots=True)
class PlanView:
    plan: PaymentPlan
    installments: list[PlanInstallment]


def _snapshot(plan: PaymentPlan) -> dict[str, object]:
    return {
        "status": plan.status,
        "version": plan.version,
        "decided_by": plan.decided_by,
        "decision_note": plan.decision_note,
        "cancelled_by": plan.cancelled_by,
    }


def _readable_plans(principal: Principal) -> SelectOfScalar[PaymentPlan]:
    """Plans on the accounts the principal may see."""
    visible = accounts.readable_accounts(principal).with_only_columns(col(Account.id))
    return select(PaymentPlan).where(col(PaymentPlan.account_id).in_(visible))


async def installments_of(
    session: AsyncSession, plan_ids: Sequence[uuid.UUID]
) -> list[PlanInstallment]:
    rows = await session.scalars(
        select(PlanInstallment)
        .where(col(PlanInstallment.plan_id).in_(plan_ids))
        .order_by(col(PlanInstallment.plan_id), col(PlanInstallment.number))
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


async def _view(session: AsyncSession, plan: PaymentPlan) -> PlanView:
    return PlanView(plan, await installments_of(session, [plan.id]))


async def propose_plan(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    body: PlanQuoteRequest,
    *,
    today: date | None = None,
    now: datetime | None = None,
) -> PlanView:
    """Quote ``body`` on the account and store it as a plan: ``active`` when the proposer's
    role may approve it, else ``pending_approval``. A second open plan is a 409."""
    if principal.role not in QUOTERS or principal.user_id is None:
        raise PermissionDenied({"role": principal.role.value})
    account = await session.scalar(
        accounts.readable_accounts(principal)
        .where(col(Account.id) == account_id)
        .with_for_update(of=Account)
        .execution_options(populate_existing=True)
    )
    if account is None:
        raise NotFound({"entity": "account"})
    open_plan = await open_plan_of(session, account.id)
    if open_plan is not None:
        raise OpenPlanExists(plan_id=open_plan)
    view = await quote_account(session, account, body, today=today)
    status = initial_status(principal.role, view.quote.approver_role)
    return await store_plan(
        session, principal, account, body, view, status,
        proposed_by=principal.user_id, now=now,
    )  # fmt: skip


async def open_plan_of(session: AsyncSession, account_id: uuid.UUID) -> uuid.UUID | None:
    """The account's plan that is proposed, pending approval or active, if any."""
    return await session.scalar(
        select(col(PaymentPlan.id)).where(
            col(PaymentPlan.account_id) == account_id,
            col(PaymentPlan.status).in_(OPEN_STATUSES),
        )
    )


async def store_plan(
    session: AsyncSession,
    actor: audit.Actor,
    account: Account,
    body: PlanQuoteRequest,
    view: QuoteView,
    status: PlanStatus,
    *,
    proposed_by: uuid.UUID | None = None,
    portal_link_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> PlanView:
    """Store a quoted plan with its schedule, on an account the caller has locked and
    checked has no open plan: the one way a plan is created, by staff (``proposed_by``) or
    by the debtor in the self-service portal (``portal_link_id``)."""
    q = view.quote
    moment = now or datetime.now(UTC)
    plan = PaymentPlan(
        account_id=account.id,
        partner_id=account.partner_id,
        plan_type=q.plan_type,
        status=status,
        terms=body.model_dump(mode="json"),
        breaches=[
            {"code": b.code, "message": b.message, "text": b.text.to_json()} for b in q.breaches
        ],
        agreed_total=q.agreed_total,
        financed=q.financed,
        interest_total=q.interest_total,
        forgiven=q.forgiven,
        down_payment=q.down_payment,
        currency=q.currency,
        quoted_on=view.quoted_on,
        strategy_version=view.strategy_version,
        experiment_arm_id=view.experiment_arm_id,
        approver_role=q.approver_role,
        missed_installments_to_break=q.breaking.missed_installments,
        days_late_to_break=q.breaking.days_late,
        proposed_by=proposed_by,
        portal_link_id=portal_link_id,
        created_at=moment,
        updated_at=moment,
    )
    session.add(plan)
    await session.flush()
    installments = [
        PlanInstallment(
            plan_id=plan.id,
            number=i.number,
            due_date=i.due_date,
            amount=i.amount,
            principal=i.principal,
            interest=i.interest,
        )
        for i in q.obligations
    ]
    session.add_all(installments)
    await session.flush()
    await webhooks.emit_plans(session, EventKind.PLAN_CREATED, [plan.id])
    if plan.status == PlanStatus.ACTIVE:
        # Within the proposer's own limits: approved as it is made.
        await webhooks.emit_plans(session, EventKind.PLAN_APPROVED, [plan.id])
    await audit.record(
        session, actor, "plan.proposed", "payment_plan", plan.id,
        after={
            "account_id": account.id, "plan_type": plan.plan_type, "status": plan.status,
            "agreed_total": plan.agreed_total, "forgiven": plan.forgiven,
            "approver_role": plan.approver_role, "strategy_version": plan.strategy_version,
        },
        now=moment,
    )  # fmt: skip
    # Read back as stored (amounts at NUMERIC(18,2)), as every later read shows them.
    await session.refresh(plan)
    return await _view(session, plan)


async def get_plan(session: AsyncSession, principal: Principal, plan_id: uuid.UUID) -> PlanView:
    if principal.role not in READERS:
        raise PermissionDenied({"role": principal.role.value})
    plan = await session.scalar(_readable_plans(principal).where(col(PaymentPlan.id) == plan_id))
    if plan is None:
        raise NotFound({"entity": "payment_plan"})
    return await _view(session, plan)


async def list_plans(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[PlanView], str | None]:
    """An account's plans, newest first (ids are time-ordered)."""
    if principal.role not in READERS:
        raise PermissionDenied({"role": principal.role.value})
    account = await accounts.get_account(session, principal, account_id)
    query = select(PaymentPlan).where(col(PaymentPlan.account_id) == account.id)
    return await _newest_first(session, query, limit=limit, cursor=cursor)


async def _newest_first(
    session: AsyncSession, query: SelectOfScalar[PaymentPlan], *, limit: int, cursor: str | None
) -> tuple[list[PlanView], str | None]:
    """A page of plans, newest first, each with its schedule: two statements per page."""
    before = decode_id_cursor(cursor)
    if before is not None:
        query = query.where(col(PaymentPlan.id) < before)
    rows = (
        await session.scalars(query.order_by(col(PaymentPlan.id).desc()).limit(limit + 1))
    ).all()
    page, next_cursor = split_page(rows, limit, key=lambda p: p.id)
    by_plan: dict[uuid.UUID, list[PlanInstallment]] = {p.id: [] for p in page}
    for installment in await installments_of(session, list(by_plan)):
        by_plan[installment.plan_id].append(installment)
    return [PlanView(p, by_plan[p.id]) for p in page], next_cursor


def _matching(
    principal: Principal,
    scope: accounts.AccountScope,
    status: str | None,
    plan_type: str | None,
) -> SelectOfScalar[PaymentPlan]:
    if principal.role not in READERS:
        raise PermissionDenied({"role": principal.role.value})
    query = select(PaymentPlan).where(
        col(PaymentPlan.account_id).in_(accounts.scoped_account_ids(principal, scope))
    )
    if status is not None:
        query = query.where(col(PaymentPlan.status) == status)
    if plan_type is not None:
        query = query.where(col(PaymentPlan.plan_type) == plan_type)
    return query


async def count_plans(
    session: AsyncSession,
    principal: Principal,
    scope: accounts.AccountScope,
    *,
    status: str | None,
) -> int:
    """How many :func:`search_plans` would list."""
    query = _matching(principal, scope, status, None).subquery()
    return int(await session.scalar(select(func.count()).select_from(query)) or 0)


async def search_plans(
    session: AsyncSession,
    principal: Principal,
    scope: accounts.AccountScope,
    *,
    status: str | None,
    plan_type: str | None,
    limit: int,
    cursor: str | None,
) -> accounts.LabelledPage[PlanView]:
    """Plans across the accounts the caller may see, newest first: a lead's approval inbox
    is ``status=pending_approval`` (their teams' accounts are all they see)."""
    query = _matching(principal, scope, status, plan_type)
    views, next_cursor = await _newest_first(session, query, limit=limit, cursor=cursor)
    return await accounts.labelled_page(session, views, next_cursor, lambda v: v.plan.account_id)


async def lock_plan(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    expected_version: int | None = None,
) -> PaymentPlan:
    """The plan, row-locked to the end of the transaction, if its account is visible and
    (when an If-Match version is given) still at that version."""
    plan = await session.scalar(
        _readable_plans(principal)
        .where(col(PaymentPlan.id) == plan_id)
        .with_for_update(of=PaymentPlan)
        .execution_options(populate_existing=True)
    )
    if plan is None:
        raise NotFound({"entity": "payment_plan"})
    if expected_version is not None and expected_version != plan.version:
        raise VersionMismatch({"current": plan.version})
    return plan


async def _decide(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    *,
    approve: bool,
    note: str | None,
    expected_version: int | None,
    now: datetime | None,
) -> PlanView:
    plan = await lock_plan(session, principal, plan_id, expected_version)
    if principal.user_id is None:
        raise PermissionDenied({"role": principal.role.value})
    decision = PlanDecision(
        status=plan.status,
        approver_role=plan.approver_role,
        decider=principal.role,
        is_proposer=plan.proposed_by == principal.user_id,
    )
    status = decided_status(decision, approve=approve)
    before = _snapshot(plan)
    moment = now or datetime.now(UTC)
    plan.status = status
    plan.decided_by = principal.user_id
    plan.decided_at = moment
    plan.decision_note = note
    plan.version += 1
    plan.updated_at = moment
    session.add(plan)
    await session.flush()
    action = "plan.approved" if approve else "plan.rejected"
    if approve:
        await webhooks.emit_plans(session, EventKind.PLAN_APPROVED, [plan.id])
    await audit.record(
        session, principal, action, "payment_plan", plan.id,
        before=before, after=_snapshot(plan), now=moment,
    )  # fmt: skip
    return await _view(session, plan)


async def approve_plan(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    note: str | None = None,
    *,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> PlanView:
    """By a role at or above the plan's approver role, never its proposer (maker-checker);
    only a plan pending approval (409 otherwise, also for the loser of two at once)."""
    return await _decide(
        session, principal, plan_id, approve=True, note=note,
        expected_version=expected_version, now=now,
    )  # fmt: skip


async def reject_plan(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    note: str,
    *,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> PlanView:
    return await _decide(
        session, principal, plan_id, approve=False, note=note,
        expected_version=expected_version, now=now,
    )  # fmt: skip


async def _leads(session: AsyncSession, lead_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(col(TeamMember.user_id))
        .join(Team, col(Team.id) == col(TeamMember.team_id))
        .where(col(Team.lead_id) == lead_id, col(TeamMember.user_id) == user_id)
    )
    return found is not None


async def cancel_plan(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    note: str | None = None,
    *,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> PlanView:
    """By a manager or admin, or a team lead who proposed the plan or leads its proposer's
    team; from proposed, pending approval or active (409 otherwise)."""
    plan = await lock_plan(session, principal, plan_id, expected_version)
    is_proposer = principal.user_id is not None and plan.proposed_by == principal.user_id
    leads = (
        principal.role is Role.TEAM_LEAD
        and principal.user_id is not None
        and plan.proposed_by is not None
        and await _leads(session, principal.user_id, plan.proposed_by)
    )
    check_cancellation(principal.role, plan.status, is_proposer=is_proposer, leads_proposer=leads)
    before = _snapshot(plan)
    moment = now or datetime.now(UTC)
    plan.status = PlanStatus.CANCELLED
    plan.cancelled_by = principal.user_id
    plan.cancelled_at = moment
    if note is not None:
        plan.decision_note = note
    plan.version += 1
    plan.updated_at = moment
    session.add(plan)
    await session.flush()
    await audit.record(
        session, principal, "plan.cancelled", "payment_plan", plan.id,
        before=before, after=_snapshot(plan), now=moment,
    )  # fmt: skip
    return await _view(session, plan)


# ---------------------------------------------------------------------------------------
# The nightly follow-up: active plans that broke (the rule of app/domain/plans.py in SQL).

_BREAK = f"""
WITH broken AS (
    UPDATE payment_plan p
    SET status = 'broken', updated_at = :now, version = p.version + 1
    WHERE p.status = 'active'
      AND (CAST(:plan_id AS uuid) IS NULL OR p.id = :plan_id)
      AND EXISTS (
          SELECT 1 FROM plan_installment i
          WHERE i.plan_id = p.id AND i.due_date < :as_of AND i.paid_amount < i.amount
          GROUP BY i.plan_id
          HAVING count(*) >= p.missed_installments_to_break
              OR max(:as_of - i.due_date) > p.days_late_to_break
      )
    RETURNING p.id, p.account_id, p.partner_id, p.strategy_version, p.plan_type, p.status
),
{webhooks.plan_ctes(EventKind.PLAN_BROKEN, "broken")},
escalated AS (
    {
    escalations.opening_sql(
        "broken b",
        trigger="broken_plan",
        opened_by="system:plans",
        reason_sql="'payment plan ' || b.id || ' broken'",
    )
}
    RETURNING 1
)
SELECT (SELECT count(*) FROM broken), (SELECT count(*) FROM escalated)
"""


@dataclass(frozen=True, slots=True)
class PlanFollowUp:
    as_of: date
    broken: int
    escalated: int


async def follow_up_plans(
    session: AsyncSession, as_of: date, *, now: datetime | None = None
) -> PlanFollowUp:
    """Active plans whose installments are missed break and go to management; a second run
    for the same date finds nothing more to do."""
    moment = now or datetime.now(UTC)
    await locks.hold(session, locks.LockClass.PLAN_FOLLOW_UP)
    broken, escalated = (
        await session.execute(text(_BREAK), {"as_of": as_of, "now": moment, "plan_id": None})
    ).one()
    result = PlanFollowUp(as_of, int(broken), int(escalated))
    await audit.record(
        session,
        SYSTEM,
        "plans.follow_up",
        "plan_run",
        as_of.isoformat(),
        after={"broken": result.broken, "escalated": result.escalated},
        now=moment,
    )
    return result


def breaking_rule_of(plan: PaymentPlan) -> BreakingRule:
    return BreakingRule(plan.missed_installments_to_break, plan.days_late_to_break)


async def break_plan(
    session: AsyncSession,
    principal: Principal,
    plan: PaymentPlan,
    as_of: date,
    now: datetime,
) -> None:
    """Break one active, locked plan that :func:`plan_is_broken` judged broken when a payment
    arrived: the nightly job's statement for that plan alone, so both apply the same rule and
    open the same escalation."""
    before = _snapshot(plan)
    await session.execute(text(_BREAK), {"as_of": as_of, "now": now, "plan_id": plan.id})
    await session.refresh(plan)
    await audit.record(
        session, principal, "plan.broken", "payment_plan", plan.id,
        before=before, after=_snapshot(plan), now=now,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class InstallmentDue:
    """An unpaid obligation of an active plan, due on or before a day: the debtor's move."""

    plan_id: uuid.UUID
    account_id: uuid.UUID
    number: int
    due_date: date
    amount: Decimal
    paid_amount: Decimal
    currency: str


def _due(principal: Principal, scope: accounts.AccountScope, on_or_before: date) -> Any:
    return (
        select(PlanInstallment, PaymentPlan)
        .join(PaymentPlan, col(PaymentPlan.id) == col(PlanInstallment.plan_id))
        .where(
            col(PaymentPlan.account_id).in_(accounts.scoped_account_ids(principal, scope)),
            col(PaymentPlan.status) == PlanStatus.ACTIVE,
            col(PlanInstallment.status) != "paid",
            col(PlanInstallment.due_date) <= on_or_before,
        )
    )


async def installments_due(
    session: AsyncSession,
    principal: Principal,
    scope: accounts.AccountScope,
    *,
    on_or_before: date,
    limit: int,
) -> accounts.LabelledPage[InstallmentDue]:
    """Unpaid installments of active plans due by ``on_or_before``, oldest first."""
    rows = await session.execute(
        _due(principal, scope, on_or_before)
        .order_by(col(PlanInstallment.due_date), col(PlanInstallment.id))
        .limit(limit)
    )
    due = [
        InstallmentDue(
            plan_id=plan.id,
            account_id=plan.account_id,
            number=installment.number,
            due_date=installment.due_date,
            amount=round_money(installment.amount, plan.currency),
            paid_amount=round_money(installment.paid_amount, plan.currency),
            currency=plan.currency,
        )
        for installment, plan in rows.all()
    ]
    return await accounts.labelled_page(session, due, None, lambda d: d.account_id)


async def count_installments_due(
    session: AsyncSession,
    principal: Principal,
    scope: accounts.AccountScope,
    *,
    on_or_before: date,
) -> int:
    query = _due(principal, scope, on_or_before).subquery()
    return int(await session.scalar(select(func.count()).select_from(query)) or 0)
