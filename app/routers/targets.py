"""Recovery targets, partners' commission terms and the commission report."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.deps import SessionDep, require
from app.domain.money import round_money
from app.domain.roles import Role
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.schemas.targets import (
    MONTH_PATTERN,
    AcceleratorRead,
    CommissionTermsHistoryRead,
    CommissionTermsRead,
    CommissionTermsWrite,
    CommissionTierRead,
    TargetProgressRead,
    TargetScope,
    TargetWrite,
    VolumeTierRead,
)
from app.security import Principal
from app.services import commissions as commission_service
from app.services import targets as service

router = APIRouter(tags=["reports"])

# Everyone reads figures; what each sees is narrowed by the services.
ReadsFigures = Annotated[
    Principal,
    Depends(
        require(
            Role.ADMIN, Role.MANAGER, Role.TEAM_LEAD, Role.COLLECTOR, Role.AUDITOR, Role.PARTNER
        )
    ),
]
SetsTargets = Annotated[Principal, Depends(require(Role.ADMIN, Role.MANAGER))]

MonthQuery = Annotated[str, Query(pattern=MONTH_PATTERN, description="A month, YYYY-MM.")]


def target_read(progress: service.TargetProgress) -> TargetProgressRead:
    t = progress.target
    return TargetProgressRead(
        id=t.id,
        month=service.month_text(t.month),
        scope=TargetScope(t.scope),
        scope_id=t.scope_id,
        amount=round_money(t.amount, t.currency),
        currency=t.currency,
        version=t.version,
        set_by=t.set_by,
        updated_at=t.updated_at,
        # In the currency's minor unit, as every amount is shown ("0.00", not "0").
        recovered=round_money(progress.recovered, t.currency),
        remaining=round_money(progress.remaining, t.currency),
        percent=progress.percent,
    )


@router.put(
    "/targets",
    summary="Set a month's recovery target for a collector, a team or a partner",
    response_model=TargetProgressRead,
    responses={201: {"model": TargetProgressRead}, **problem_responses(401, 403, 409, 422)},
)
async def set_target(
    session: SessionDep, principal: SetsTargets, body: TargetWrite, response: Response
) -> TargetProgressRead:
    """Creates (201) or replaces (200) the target of the month for the scope and currency.
    A partner target is in the partner's currency; collector and team targets must name
    theirs. A 422 naming the field when the month is not `YYYY-MM`, the amount is not
    positive, the scope id is not a collector, team or partner, or the currency is missing
    or not the partner's."""
    progress, created = await service.set_target(session, principal, body)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return target_read(progress)


@router.get(
    "/targets",
    summary="List a month's recovery targets with their progress",
    response_model=Page[TargetProgressRead],
    responses=problem_responses(401, 403, 422),
)
async def list_targets(
    session: SessionDep,
    principal: ReadsFigures,
    month: MonthQuery,
    scope: Annotated[TargetScope | None, Query(description="Only targets of this scope.")] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[TargetProgressRead]:
    """Managers, admins and auditors see every target; a team lead their teams' and their
    members'; a collector their own; a partner's system its partner's. Progress: applied
    payments paid in the month in the scope and currency (reversed ones do not count),
    credited to the collector assigned on the day paid."""
    page = await service.list_targets(
        session, principal, month, scope=scope, limit=limit, cursor=cursor
    )
    return Page(items=[target_read(p) for p in page.items], next_cursor=page.next_cursor)


def _terms(view: commission_service.TermsView) -> CommissionTermsRead:
    acc = view.terms.accelerator
    return CommissionTermsRead(
        partner_id=view.partner_id,
        version=view.version,
        effective_from=view.effective_from,
        clawback_days=view.terms.clawback_days,
        tiers=[
            CommissionTierRead(stage=t.stage, recovery_type=t.recovery_type, rate_pct=t.rate_pct)
            for t in view.terms.tiers
        ],
        volume_tiers=[
            VolumeTierRead(from_amount=b.from_amount, rate_pct=b.rate_pct)
            for b in view.terms.volume_tiers
        ],
        accelerator=None
        if acc is None
        else AcceleratorRead(
            above_target_pct=acc.above_target_pct, extra_rate_pct=acc.extra_rate_pct
        ),
        created_by=view.created_by,
        created_at=view.created_at,
    )


@router.get(
    "/partners/{partner_id}/commission-terms",
    summary="Read a partner's commission terms: the version in effect and every version",
    response_model=CommissionTermsHistoryRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def read_commission_terms(
    session: SessionDep, principal: ReadsFigures, partner_id: uuid.UUID
) -> CommissionTermsHistoryRead:
    """Staff read any partner's terms; a partner's system its own (another is a 404)."""
    history = await commission_service.read_terms(session, principal, partner_id)
    return CommissionTermsHistoryRead(
        current=None if history.current is None else _terms(history.current),
        versions=[_terms(v) for v in history.versions],
    )


@router.put(
    "/partners/{partner_id}/commission-terms",
    summary="Set a partner's commission terms (stores a new version)",
    response_model=CommissionTermsRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def set_commission_terms(
    session: SessionDep,
    principal: SetsTargets,
    partner_id: uuid.UUID,
    body: CommissionTermsWrite,
) -> CommissionTermsRead:
    """Stores the next version; earlier versions never change. A payment earns on its
    base, the money it applied to the debt (never credit), and has a recovery type:
    `settlement` (it belongs to a settlement plan), else `plan_installment` (it paid
    installments of another plan), else `full_payment` (it paid off the debt), else
    `partial_payment`. The terms pay in one of two ways:

    - `tiers`, a rate table: each rate is a percentage (0–100, two decimals) for a stage and
      a recovery type; leaving either out means "any", and a payment takes the most
      specific rate that matches it (none: 0 %);
    - `volume_tiers`: bands of the collector's month's base on the partner's portfolio,
      ascending from 0, each paying its rate on the part of the month's base inside it
      (marginal, like income tax).

    `accelerator` (optional) pays `extra_rate_pct` more on the collector's month's base
    above `above_target_pct` % of their monthly target (shared among partners by base).
    A payment's table rate is from the latest version whose `effective_from` (default: the
    partner's today) is on or before its date; volume tiers and the accelerator from the
    version in effect on the month's last day. `clawback_days`: a payment reversed, or whose
    plan broke, within that many days after it was paid gives its commission back. A 422
    names the field when the table and volume tiers are both given or both missing, the
    bands do not ascend from 0, or an amount has more decimals than the currency."""
    return _terms(await commission_service.set_terms(session, principal, partner_id, body))
