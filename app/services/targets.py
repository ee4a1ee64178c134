"""Monthly recovery targets (metas de recuperación): set one, and list a month's targets
with their progress.

A target is one amount per (month, scope, scope id, currency): setting it again replaces
the amount and bumps its version (the audit trail keeps every earlier amount). Partner
targets are in the partner's currency; collector and team targets name theirs.

Progress is what was recovered in the month in the target's scope and currency: applied
payments paid in the month (a reversed payment does not count, whenever it was reversed),
credited as the commission report credits them (``app/services/commissions.py``): to the
collector assigned on the day paid; to the team the account was assigned to that day, or
else the collector's current team; to the account's partner. All in one statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import bindparam, false, or_, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.domain.commissions import next_month, parse_month
from app.domain.errors import InvalidInput
from app.domain.money import fits_minor_unit, too_many_decimals
from app.domain.roles import Role
from app.i18n import N_
from app.models.partner import Partner
from app.models.target import RecoveryTarget
from app.models.user import Team, TeamMember, User
from app.pagination import decode_id_cursor, encode_cursor
from app.schemas.targets import TargetScope, TargetWrite
from app.security import Principal
from app.services import audit
from app.services.commissions import BASE_SQL, CREDITED_PAYMENTS, SEES_ALL_FIGURES

ZERO = Decimal("0")
HUNDRED = Decimal("100")


def readable_targets(principal: Principal) -> SelectOfScalar[RecoveryTarget]:
    """Every target for admin, manager and auditor; a team lead's teams and their members';
    a collector's own; a partner's system its partner's."""
    query = select(RecoveryTarget)
    if principal.role in SEES_ALL_FIGURES:
        return query
    scope, scope_id = col(RecoveryTarget.scope), col(RecoveryTarget.scope_id)
    if principal.role is Role.PARTNER and principal.partner_id is not None:
        return query.where(scope == TargetScope.PARTNER.value, scope_id == principal.partner_id)
    if principal.role is Role.COLLECTOR and principal.user_id is not None:
        return query.where(scope == TargetScope.COLLECTOR.value, scope_id == principal.user_id)
    if principal.role is Role.TEAM_LEAD and principal.user_id is not None:
        led = select(col(Team.id)).where(col(Team.lead_id) == principal.user_id)
        members = select(col(TeamMember.user_id)).where(col(TeamMember.team_id).in_(led))
        return query.where(
            or_(
                (scope == TargetScope.TEAM.value) & scope_id.in_(led),
                (scope == TargetScope.COLLECTOR.value) & scope_id.in_(members),
            )
        )
    return query.where(false())


@dataclass(frozen=True, slots=True)
class TargetProgress:
    target: RecoveryTarget
    recovered: Decimal

    @property
    def remaining(self) -> Decimal:
        return max(self.target.amount - self.recovered, ZERO)

    @property
    def percent(self) -> Decimal:
        return (self.recovered * HUNDRED / self.target.amount).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )


def month_text(first: date) -> str:
    return f"{first.year:04d}-{first.month:02d}"


def _snapshot(target: RecoveryTarget) -> dict[str, Any]:
    return {
        "month": month_text(target.month),
        "scope": target.scope,
        "scope_id": target.scope_id,
        "amount": target.amount,
        "currency": target.currency,
        "version": target.version,
    }


async def _currency_for(session: AsyncSession, data: TargetWrite) -> str:
    """The target's currency, checking that the scope names an existing collector, team or
    partner (422 on ``body.scope_id`` otherwise)."""
    if data.scope is TargetScope.PARTNER:
        partner = await session.get(Partner, data.scope_id)
        if partner is None:
            raise InvalidInput("scope_id", N_("no such partner"))
        if data.currency is not None and data.currency != partner.currency:
            raise InvalidInput(
                "currency",
                N_("a partner target is in the partner's currency ({currency})"),
                {"currency": partner.currency},
            )
        return partner.currency
    if data.scope is TargetScope.TEAM:
        if await session.get(Team, data.scope_id) is None:
            raise InvalidInput("scope_id", N_("no such team"))
    else:
        user = await session.get(User, data.scope_id)
        if user is None or user.role != Role.COLLECTOR.value:
            raise InvalidInput("scope_id", N_("no such collector"))
    if data.currency is None:
        raise InvalidInput("currency", N_("required for collector and team targets"))
    return data.currency


async def set_target(
    session: AsyncSession, actor: Principal, data: TargetWrite, now: datetime | None = None
) -> tuple[TargetProgress, bool]:
    """Create or replace the month's target for the scope; (target with progress, created)."""
    moment = now or datetime.now(UTC)
    month = parse_month(data.month, "month")
    currency = await _currency_for(session, data)
    if not fits_minor_unit(data.amount, currency):
        raise InvalidInput("amount", too_many_decimals(currency))
    amount = data.amount.quantize(Decimal("0.01"))
    target = await session.scalar(
        select(RecoveryTarget)
        .where(
            col(RecoveryTarget.month) == month,
            col(RecoveryTarget.scope) == data.scope.value,
            col(RecoveryTarget.scope_id) == data.scope_id,
            col(RecoveryTarget.currency) == currency,
        )
        .with_for_update()
    )
    created = target is None
    before = None
    if target is None:
        target = RecoveryTarget(
            month=month,
            scope=data.scope.value,
            scope_id=data.scope_id,
            amount=amount,
            currency=currency,
            set_by=actor.audit_id,
            created_at=moment,
            updated_at=moment,
        )
    else:
        before = _snapshot(target)
        if target.amount == amount:
            return (await _with_progress(session, [target]))[0], False
        target.amount = amount
        target.version += 1
        target.set_by = actor.audit_id
        target.updated_at = moment
    session.add(target)
    await session.flush()
    await audit.record(
        session, actor, "target.set", "recovery_target", target.id,
        before=before, after=_snapshot(target), now=moment,
    )  # fmt: skip
    return (await _with_progress(session, [target]))[0], created


_PROGRESS = """
WITH {credited},
attributed AS (
    SELECT c.partner_id, c.currency, {base} AS amount, c.collector_id,
           COALESCE(c.team_id, tm.team_id) AS team_id
    FROM credited c
    LEFT JOIN team_member tm ON tm.user_id = c.collector_id
    WHERE c.status = 'applied'
),
sums AS (
    SELECT 'collector' AS scope, collector_id AS scope_id, currency, sum(amount) AS recovered
    FROM attributed WHERE collector_id IS NOT NULL GROUP BY collector_id, currency
    UNION ALL
    SELECT 'team', team_id, currency, sum(amount)
    FROM attributed WHERE team_id IS NOT NULL GROUP BY team_id, currency
    UNION ALL
    SELECT 'partner', partner_id, currency, sum(amount)
    FROM attributed GROUP BY partner_id, currency
)
SELECT t.id, COALESCE(s.recovered, 0) AS recovered
FROM recovery_target t
LEFT JOIN sums s ON s.scope = t.scope AND s.scope_id = t.scope_id AND s.currency = t.currency
WHERE t.id = ANY(:ids)
"""


async def _with_progress(
    session: AsyncSession, targets: list[RecoveryTarget]
) -> list[TargetProgress]:
    """Progress of targets of one month, in one statement."""
    if not targets:
        return []
    first = targets[0].month
    if any(t.month != first for t in targets):
        raise ValueError("targets of one month at a time")
    # Money applied to debt, as commissions count it: a credit is not a recovery.
    statement = text(_PROGRESS.format(credited=CREDITED_PAYMENTS, base=BASE_SQL)).bindparams(
        bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))
    )
    rows = await session.execute(
        statement,
        {"ids": [t.id for t in targets], "period_from": first, "period_to": next_month(first)},
    )
    recovered = {r.id: Decimal(r.recovered) for r in rows}
    return [TargetProgress(t, recovered.get(t.id, ZERO)) for t in targets]


@dataclass(frozen=True, slots=True)
class TargetPage:
    items: list[TargetProgress]
    next_cursor: str | None


async def list_targets(
    session: AsyncSession,
    principal: Principal,
    month: str,
    *,
    scope: TargetScope | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> TargetPage:
    """The month's targets the caller may see, by id, each with its progress."""
    first = parse_month(month, "query.month")
    after = decode_id_cursor(cursor)
    query = readable_targets(principal).where(col(RecoveryTarget.month) == first)
    if scope is not None:
        query = query.where(col(RecoveryTarget.scope) == scope.value)
    if after is not None:
        query = query.where(col(RecoveryTarget.id) > after)
    found = list(await session.scalars(query.order_by(col(RecoveryTarget.id)).limit(limit + 1)))
    page = found[:limit]
    next_cursor = encode_cursor(page[-1].id) if len(found) > limit else None
    return TargetPage(await _with_progress(session, page), next_cursor)
