"""Partners' commission terms (versioned) and the monthly commission report.

Terms are append-only versions per partner, each with the first payment date it applies
to (``effective_from``): a payment is paid under the latest version whose ``effective_from``
is on or before its date (the highest version wins a tie), so changing the terms never
rewrites how earlier payments were paid unless a manager dates the new version back.

The report is two statements: one set-based aggregate over the period's payments (who
collected each, its stage, recovery type, terms version and whether it was clawed back, all
in SQL), then the terms involved; the rates are applied by
:func:`app.domain.commissions.commission_line` to the aggregated rows.

Who collected a payment: the collector assigned to the account on the day it was paid,
read from the account's ``assigned`` history (the last change dated on or before the payment,
or else what the first later change says was there before it); an account with no recorded
assignment change is credited to its current collector. Payments with no collector are in
no one's commission.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.domain.commissions import (
    ZERO,
    CommissionLine,
    CommissionTerms,
    RecoveryType,
    check_terms,
    commission_line,
    next_month,
    parse_month,
    terms_to_json,
)
from app.domain.errors import NotFound
from app.domain.roles import Role
from app.domain.stages import Stage
from app.models.partner import Partner
from app.models.target import CommissionTerms as TermsRow
from app.schemas.targets import CommissionTermsWrite
from app.security import Principal
from app.services import audit
from app.services.partners import partner_today, readable_partners
from app.services.strategies import strategy_readable_partners

# Staff who see every collector's figures.
SEES_ALL_FIGURES: frozenset[Role] = frozenset({Role.ADMIN, Role.MANAGER, Role.AUDITOR})

# The period's payments with the collector and team the account had on the day each was
# paid (see the module docstring). Parameters: :period_from, :period_to (exclusive).
CREDITED_PAYMENTS = """
credited AS (
    SELECT p.id, p.account_id, p.partner_id, p.currency, p.amount, p.paid_on, p.status,
           p.reversed_at, p.allocation, a.stage AS account_stage,
           CASE WHEN asg.known THEN asg.collector_id ELSE a.assigned_collector_id END
               AS collector_id,
           CASE WHEN asg.known THEN asg.team_id ELSE a.assigned_team_id END AS team_id
    FROM payment p
    JOIN account a ON a.id = p.account_id
    LEFT JOIN LATERAL (
        SELECT true AS known, x.collector_id, x.team_id
        FROM (
            (SELECT 0 AS pref,
                    (e.after ->> 'assigned_collector_id')::uuid AS collector_id,
                    (e.after ->> 'assigned_team_id')::uuid AS team_id
             FROM account_event e
             WHERE e.account_id = p.account_id AND e.kind = 'assigned'
               AND e.as_of <= p.paid_on AND (e.after -> 'assigned_collector_id') IS NOT NULL
             ORDER BY e.as_of DESC, e.seq DESC
             LIMIT 1)
            UNION ALL
            (SELECT 1,
                    (e.before ->> 'assigned_collector_id')::uuid,
                    (e.before ->> 'assigned_team_id')::uuid
             FROM account_event e
             WHERE e.account_id = p.account_id AND e.kind = 'assigned'
               AND e.as_of > p.paid_on AND (e.before -> 'assigned_collector_id') IS NOT NULL
             ORDER BY e.as_of, e.seq
             LIMIT 1)
        ) x
        ORDER BY x.pref
        LIMIT 1
    ) asg ON true
    WHERE p.paid_on >= :period_from AND p.paid_on < :period_to
)"""

# Which credited payments a principal's figures cover (fixed fragments, never user text).
_VISIBLE = {
    "all": "true",
    "partner": "c.partner_id = :principal_partner_id",
    "collector": "c.collector_id = :principal_user_id",
    "team_lead": (
        "c.collector_id IN (SELECT tm.user_id FROM team_member tm"
        " JOIN team t ON t.id = tm.team_id WHERE t.lead_id = :principal_user_id)"
    ),
    "none": "false",
}


def visibility(principal: Principal) -> tuple[str, dict[str, Any]]:
    """The SQL condition on ``c`` (a credited payment) and its parameters: every payment for
    admin, manager and auditor; its own portfolio for a partner; their own for a collector;
    their teams' members' for a team lead."""
    if principal.role in SEES_ALL_FIGURES:
        return _VISIBLE["all"], {}
    if principal.role is Role.PARTNER and principal.partner_id is not None:
        return _VISIBLE["partner"], {"principal_partner_id": principal.partner_id}
    if principal.role is Role.COLLECTOR and principal.user_id is not None:
        return _VISIBLE["collector"], {"principal_user_id": principal.user_id}
    if principal.role is Role.TEAM_LEAD and principal.user_id is not None:
        return _VISIBLE["team_lead"], {"principal_user_id": principal.user_id}
    return _VISIBLE["none"], {}


# One row per (collector, partner, terms version, stage, recovery type). The recovery type
# mirrors app.domain.commissions.recovery_type_of and the clawback test mirrors
# app.domain.commissions.clawed_back (dates in the partner's time zone).
_REPORT = """
WITH {credited},
judged AS (
    SELECT c.collector_id, c.partner_id, c.currency, c.amount, t.version AS terms_version,
           COALESCE(c.allocation -> 'before' ->> 'stage', c.account_stage) AS stage,
           CASE WHEN pl.plan_type IS NULL THEN 'full_payment'
                WHEN pl.plan_type = 'settlement' THEN 'settlement'
                ELSE 'plan' END AS recovery_type,
           (    (c.status = 'reversed'
                 AND (c.reversed_at AT TIME ZONE pa.time_zone)::date - c.paid_on
                     <= COALESCE(t.clawback_days, 0))
             OR (pl.status = 'broken'
                 AND (pl.updated_at AT TIME ZONE pa.time_zone)::date - c.paid_on
                     <= COALESCE(t.clawback_days, 0))
           ) AS clawed
    FROM credited c
    JOIN partner pa ON pa.id = c.partner_id
    LEFT JOIN payment_plan pl ON pl.id = (c.allocation ->> 'plan_id')::uuid
    LEFT JOIN LATERAL (
        SELECT ct.version, ct.clawback_days
        FROM commission_terms ct
        WHERE ct.partner_id = c.partner_id AND ct.effective_from <= c.paid_on
        ORDER BY ct.effective_from DESC, ct.version DESC
        LIMIT 1
    ) t ON true
    WHERE c.collector_id IS NOT NULL
      AND ({visible})
      AND (CAST(:collector_id AS uuid) IS NULL OR c.collector_id = :collector_id)
)
SELECT j.collector_id, u.full_name, j.partner_id, j.currency, j.terms_version, j.stage,
       j.recovery_type, count(*) AS payments, sum(j.amount) AS recovered,
       count(*) FILTER (WHERE j.clawed) AS clawed_back_payments,
       COALESCE(sum(j.amount) FILTER (WHERE j.clawed), 0) AS clawed_back_amount
FROM judged j
JOIN app_user u ON u.id = j.collector_id
GROUP BY j.collector_id, u.full_name, j.partner_id, j.currency, j.terms_version, j.stage,
         j.recovery_type
ORDER BY u.full_name, j.collector_id, j.partner_id, j.stage, j.recovery_type, j.terms_version
"""


@dataclass(slots=True)
class CommissionRow:
    """One collector's commission on one partner's portfolio (one currency)."""

    collector_id: uuid.UUID
    collector_name: str
    partner_id: uuid.UUID
    currency: str
    lines: list[CommissionLine] = field(default_factory=list)

    @property
    def payments(self) -> int:
        return sum(line.payments for line in self.lines)

    @property
    def recovered(self) -> Decimal:
        return sum((line.recovered for line in self.lines), ZERO)

    @property
    def earned(self) -> Decimal:
        return sum((line.earned for line in self.lines), ZERO)

    @property
    def clawed_back(self) -> Decimal:
        return sum((line.clawed_back for line in self.lines), ZERO)

    @property
    def net(self) -> Decimal:
        return self.earned - self.clawed_back


@dataclass(frozen=True, slots=True)
class CommissionReport:
    period: str
    rows: list[CommissionRow]


def _stage(value: str | None) -> Stage | None:
    try:
        return None if value is None else Stage(value)
    except ValueError:
        return None


async def commission_report(
    session: AsyncSession,
    principal: Principal,
    period: str,
    collector_id: uuid.UUID | None = None,
) -> CommissionReport:
    """Each visible collector's commission for the month ``period`` (YYYY-MM): the payments
    paid in it, as they stand now (a later reversal or break inside the window claws back)."""
    first = parse_month(period, "query.period")
    visible, params = visibility(principal)
    rows = (
        await session.execute(
            text(_REPORT.format(credited=CREDITED_PAYMENTS, visible=visible)),
            {
                "period_from": first,
                "period_to": next_month(first),
                "collector_id": collector_id,
                **params,
            },
        )
    ).all()
    partner_ids = {r.partner_id for r in rows}
    terms: dict[tuple[uuid.UUID, int], CommissionTerms] = {}
    if partner_ids:
        for row in await session.scalars(
            select(TermsRow).where(col(TermsRow.partner_id).in_(partner_ids))
        ):
            terms[(row.partner_id, row.version)] = _terms_of(row)
    grouped: dict[tuple[uuid.UUID, uuid.UUID], CommissionRow] = {}
    for r in rows:
        key = (r.collector_id, r.partner_id)
        if key not in grouped:
            grouped[key] = CommissionRow(r.collector_id, r.full_name, r.partner_id, r.currency)
        grouped[key].lines.append(
            commission_line(
                terms=None if r.terms_version is None else terms[(r.partner_id, r.terms_version)],
                terms_version=r.terms_version,
                stage=_stage(r.stage),
                recovery_type=RecoveryType(r.recovery_type),
                payments=int(r.payments),
                recovered=Decimal(r.recovered),
                clawed_back_payments=int(r.clawed_back_payments),
                clawed_back_amount=Decimal(r.clawed_back_amount),
            )
        )
    return CommissionReport(period, list(grouped.values()))


# ---------------------------------------------------------------------------------------
# Terms


def _terms_of(row: TermsRow) -> CommissionTerms:
    return check_terms({"clawback_days": row.clawback_days, "tiers": row.tiers}, "stored")


@dataclass(frozen=True, slots=True)
class TermsView:
    partner_id: uuid.UUID
    version: int
    effective_from: date
    terms: CommissionTerms
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TermsHistory:
    current: TermsView | None
    versions: list[TermsView]  # newest first


def _view(row: TermsRow) -> TermsView:
    return TermsView(
        row.partner_id, row.version, row.effective_from, _terms_of(row), row.created_by,
        row.created_at,
    )  # fmt: skip


async def read_terms(
    session: AsyncSession, principal: Principal, partner_id: uuid.UUID, now: datetime | None = None
) -> TermsHistory:
    """Every version, newest first, and the one in effect on the partner's today. Staff read
    any partner's terms; a partner's system its own (another partner is a 404)."""
    partner = await session.scalar(
        strategy_readable_partners(principal).where(col(Partner.id) == partner_id)
    )
    if partner is None:
        raise NotFound({"entity": "partner"})
    rows = list(
        await session.scalars(
            select(TermsRow)
            .where(col(TermsRow.partner_id) == partner.id)
            .order_by(col(TermsRow.version).desc())
        )
    )
    today = partner_today(partner, now)
    in_effect = [r for r in rows if r.effective_from <= today]
    current = max(in_effect, key=lambda r: (r.effective_from, r.version), default=None)
    return TermsHistory(None if current is None else _view(current), [_view(r) for r in rows])


async def set_terms(
    session: AsyncSession,
    actor: Principal,
    partner_id: uuid.UUID,
    data: CommissionTermsWrite,
    now: datetime | None = None,
) -> TermsView:
    """Store the partner's next terms version (earlier versions never change)."""
    partner = await session.scalar(
        readable_partners(actor)
        .where(col(Partner.id) == partner_id)
        .with_for_update(key_share=True)
    )
    if partner is None:
        raise NotFound({"entity": "partner"})
    body = data.model_dump(mode="json", exclude={"effective_from"})
    terms = check_terms(body)
    latest = await session.scalar(
        select(func.max(col(TermsRow.version))).where(col(TermsRow.partner_id) == partner.id)
    )
    stored = terms_to_json(terms)
    row = TermsRow(
        partner_id=partner.id,
        version=(latest or 0) + 1,
        effective_from=data.effective_from or partner_today(partner, now),
        clawback_days=terms.clawback_days,
        tiers=stored["tiers"],
        created_by=actor.audit_id,
    )
    if now is not None:
        row.created_at = now
    session.add(row)
    await session.flush()
    await audit.record(
        session, actor, "commission_terms.created", "commission_terms", row.id,
        after={"partner_id": partner.id, "version": row.version,
               "effective_from": row.effective_from, **stored},
        now=now,
    )  # fmt: skip
    return _view(row)
