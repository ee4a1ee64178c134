"""Partners' commission terms (versioned) and the monthly commission report.

Terms are append-only versions per partner, each with the first payment date it applies
to (``effective_from``): a payment is paid under the latest version whose ``effective_from``
is on or before its date (the highest version wins a tie), so changing the terms never
rewrites how earlier payments were paid unless a manager dates the new version back.

The report is three statements whatever its size: one set-based aggregate over the
period's payments (who collected each, its base, stage, recovery type, terms version and
whether it was clawed back, and each collector's base in the currency across partners, all
in SQL), then the terms involved, then the collectors' targets for the month; the rates,
volume bands and accelerator are applied by :func:`app.domain.commissions.month_commission`
to the aggregated rows.

Who collected a payment: the collector assigned to the account on the day it was paid,
read from the account's ``assigned`` history (the last change dated on or before the payment,
or else what the first later change says was there before it); an account with no recorded
assignment change is credited to its current collector. Payments with no collector are in
no one's commission.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.domain.commissions import (
    CommissionTerms,
    LineFacts,
    MonthCommission,
    RecoveryType,
    check_terms,
    month_commission,
    next_month,
    parse_month,
    terms_to_json,
)
from app.domain.errors import NotFound
from app.domain.roles import Role
from app.domain.stages import Stage
from app.models.partner import Partner
from app.models.target import CommissionTerms as TermsRow
from app.models.target import RecoveryTarget
from app.schemas.targets import CommissionTermsWrite
from app.security import Principal
from app.services import audit
from app.services.history import COLLECTOR, TEAM
from app.services.partners import partner_today, readable_partners
from app.services.strategies import strategy_readable_partners

# Staff who see every collector's figures.
SEES_ALL_FIGURES: frozenset[Role] = frozenset({Role.ADMIN, Role.MANAGER, Role.AUDITOR})

# The period's payments with the collector and team the account had on the day each was
# paid (see the module docstring). Parameters: :period_from, :period_to (exclusive).
CREDITED_PAYMENTS = f"""
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
                    CAST({COLLECTOR.text("e.after")} AS uuid) AS collector_id,
                    CAST({TEAM.text("e.after")} AS uuid) AS team_id
             FROM account_event e
             WHERE e.account_id = p.account_id AND e.kind IN ({COLLECTOR.kinds_sql})
               AND e.as_of <= p.paid_on AND ({COLLECTOR.json("e.after")}) IS NOT NULL
             ORDER BY e.as_of DESC, e.seq DESC
             LIMIT 1)
            UNION ALL
            (SELECT 1,
                    CAST({COLLECTOR.text("e.before")} AS uuid),
                    CAST({TEAM.text("e.before")} AS uuid)
             FROM account_event e
             WHERE e.account_id = p.account_id AND e.kind IN ({COLLECTOR.kinds_sql})
               AND e.as_of > p.paid_on AND ({COLLECTOR.json("e.before")}) IS NOT NULL
             ORDER BY e.as_of, e.seq
             LIMIT 1)
        ) x
        ORDER BY x.pref
        LIMIT 1
    ) asg ON true
    WHERE p.paid_on >= :period_from AND p.paid_on < :period_to
)"""  # noqa: S608

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


# The base of a payment (app.domain.commissions.applied_to_debt) and its recovery type
# (app.domain.commissions.recovery_type_of, same precedence; NULL: applied nothing to the
# debt, not a recovery), as SQL over a credited payment ``c`` joined to its plan ``pl``.
BASE_SQL = """(COALESCE((c.allocation -> 'balance' ->> 'fees')::numeric, 0)
      + COALESCE((c.allocation -> 'balance' ->> 'interest')::numeric, 0)
      + COALESCE((c.allocation -> 'balance' ->> 'principal')::numeric, 0))"""
RECOVERY_TYPE_SQL = f"""CASE
    WHEN {BASE_SQL} <= 0 THEN NULL
    WHEN c.allocation ->> 'plan_id' IS NOT NULL AND pl.plan_type = 'settlement'
        THEN 'settlement'
    WHEN c.allocation ->> 'plan_id' IS NOT NULL AND pl.plan_type IS NOT NULL
         AND jsonb_typeof(c.allocation -> 'installments') = 'array'
         AND jsonb_array_length(c.allocation -> 'installments') > 0
        THEN 'plan_installment'
    WHEN c.allocation -> 'account_closed' = 'true'::jsonb
         OR {BASE_SQL} >= (c.allocation -> 'before' ->> 'total')::numeric
        THEN 'full_payment'
    ELSE 'partial_payment' END"""

# One row per (collector, partner, terms version, stage, recovery type), with the
# collector's base (and base not clawed back) in the currency across every partner, for the
# accelerator. Every collector with a visible payment is aggregated whole, then only the
# visible rows are returned. The clawback test mirrors app.domain.commissions.clawed_back
# (dates in the partner's time zone).
_REPORT = """
WITH {credited},
judged AS (
    SELECT c.collector_id, c.partner_id, c.currency, {base} AS base,
           t.version AS terms_version,
           COALESCE(c.allocation -> 'before' ->> 'stage', c.account_stage) AS stage,
           {recovery_type} AS recovery_type,
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
    WHERE c.collector_id IN (SELECT c.collector_id FROM credited c WHERE {visible})
      AND (CAST(:collector_id AS uuid) IS NULL OR c.collector_id = :collector_id)
),
grouped AS (
    SELECT j.collector_id, j.partner_id, j.currency, j.terms_version, j.stage,
           j.recovery_type, count(*) AS payments, sum(j.base) AS base,
           count(*) FILTER (WHERE j.clawed) AS clawed_back_payments,
           COALESCE(sum(j.base) FILTER (WHERE j.clawed), 0) AS clawed_back_base
    FROM judged j
    WHERE j.recovery_type IS NOT NULL
    GROUP BY j.collector_id, j.partner_id, j.currency, j.terms_version, j.stage,
             j.recovery_type
),
totalled AS (
    SELECT g.*,
           sum(g.base) OVER (PARTITION BY g.collector_id, g.currency) AS collector_base,
           sum(g.base - g.clawed_back_base) OVER (PARTITION BY g.collector_id, g.currency)
               AS collector_kept_base
    FROM grouped g
)
SELECT c.*, u.full_name
FROM totalled c
JOIN app_user u ON u.id = c.collector_id
WHERE {visible}
ORDER BY u.full_name, c.collector_id, c.partner_id, c.stage, c.recovery_type, c.terms_version
"""


@dataclass(slots=True)
class CommissionRow:
    """One collector's commission on one partner's portfolio (one currency)."""

    collector_id: uuid.UUID
    collector_name: str
    partner_id: uuid.UUID
    currency: str
    month: MonthCommission


@dataclass(frozen=True, slots=True)
class CommissionReport:
    period: str
    rows: list[CommissionRow]


def _stage(value: str | None) -> Stage | None:
    try:
        return None if value is None else Stage(value)
    except ValueError:
        return None


def month_version(versions: list[TermsRow], period_to: date) -> int | None:
    """The version in effect on the month's last day (the day before ``period_to``)."""
    in_effect = [v for v in versions if v.effective_from < period_to]
    best = max(in_effect, key=lambda v: (v.effective_from, v.version), default=None)
    return None if best is None else best.version


async def commission_report(
    session: AsyncSession,
    principal: Principal,
    period: str,
    collector_id: uuid.UUID | None = None,
) -> CommissionReport:
    """Each visible collector's commission for the month ``period`` (YYYY-MM): the payments
    paid in it, as they stand now (a later reversal or break inside the window claws back).
    Three statements whatever the size: the aggregate, the partners' terms, the targets."""
    first = parse_month(period, "query.period")
    period_to = next_month(first)
    visible, params = visibility(principal)
    rows = (
        await session.execute(
            text(
                _REPORT.format(
                    credited=CREDITED_PAYMENTS,
                    visible=visible,
                    base=BASE_SQL,
                    recovery_type=RECOVERY_TYPE_SQL,
                )
            ),
            {
                "period_from": first,
                "period_to": period_to,
                "collector_id": collector_id,
                **params,
            },
        )
    ).all()
    partner_ids = {r.partner_id for r in rows}
    collector_ids = {r.collector_id for r in rows}
    terms: dict[uuid.UUID, dict[int, CommissionTerms]] = {}
    versions: dict[uuid.UUID, list[TermsRow]] = {}
    if partner_ids:
        for row in await session.scalars(
            select(TermsRow).where(col(TermsRow.partner_id).in_(partner_ids))
        ):
            terms.setdefault(row.partner_id, {})[row.version] = _terms_of(row)
            versions.setdefault(row.partner_id, []).append(row)
    targets: dict[tuple[uuid.UUID, str], Decimal] = {}
    if collector_ids:
        for target in await session.scalars(
            select(RecoveryTarget).where(
                col(RecoveryTarget.month) == first,
                col(RecoveryTarget.scope) == "collector",
                col(RecoveryTarget.scope_id).in_(collector_ids),
            )
        ):
            targets[(target.scope_id, target.currency)] = target.amount
    grouped: dict[tuple[uuid.UUID, uuid.UUID, str], list[Any]] = {}
    for r in rows:
        grouped.setdefault((r.collector_id, r.partner_id, r.currency), []).append(r)
    report_rows: list[CommissionRow] = []
    for (collector, partner_id, currency), found in grouped.items():
        facts = [
            LineFacts(
                stage=_stage(r.stage),
                recovery_type=RecoveryType(r.recovery_type),
                terms_version=r.terms_version,
                payments=int(r.payments),
                base=Decimal(r.base),
                clawed_back_payments=int(r.clawed_back_payments),
                clawed_back_base=Decimal(r.clawed_back_base),
            )
            for r in found
        ]
        month = month_commission(
            facts,
            terms=terms.get(partner_id, {}),
            month_version=month_version(versions.get(partner_id, []), period_to),
            target=targets.get((collector, currency)),
            collector_base=Decimal(found[0].collector_base),
            collector_kept_base=Decimal(found[0].collector_kept_base),
        )
        report_rows.append(
            CommissionRow(collector, found[0].full_name, partner_id, currency, month)
        )
    return CommissionReport(period, report_rows)


# ---------------------------------------------------------------------------------------
# Terms


def _terms_of(row: TermsRow) -> CommissionTerms:
    accelerator = None
    if row.accelerator_above_target_pct is not None:
        accelerator = {
            "above_target_pct": row.accelerator_above_target_pct,
            "extra_rate_pct": row.accelerator_extra_rate_pct,
        }
    return check_terms(
        {
            "clawback_days": row.clawback_days,
            "tiers": row.tiers,
            "volume_tiers": row.volume_tiers,
            "accelerator": accelerator,
        },
        "stored",
    )


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
    terms = check_terms(body, currency=partner.currency)
    latest = await session.scalar(
        select(func.max(col(TermsRow.version))).where(col(TermsRow.partner_id) == partner.id)
    )
    stored = terms_to_json(terms)
    acc = terms.accelerator
    row = TermsRow(
        partner_id=partner.id,
        version=(latest or 0) + 1,
        effective_from=data.effective_from or partner_today(partner, now),
        clawback_days=terms.clawback_days,
        tiers=stored["tiers"],
        volume_tiers=stored["volume_tiers"],
        accelerator_above_target_pct=None if acc is None else acc.above_target_pct,
        accelerator_extra_rate_pct=None if acc is None else acc.extra_rate_pct,
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
