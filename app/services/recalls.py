"""Recalls (retiro de cuentas): a partner takes accounts back. They leave every queue and
their collector, no contact is allowed on them any more, and their history stays."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.history import Assigned, StatusChanged
from app.security import Principal
from app.services import audit, history, webhooks
from app.services.assignments import partner_for_push
from app.services.partners import partner_today

# A recall's history: the account was active with its assignment, now recalled (and why).
_RECALLED_FROM = history.before_sql(
    StatusChanged,
    status="'active'",
    assigned_collector_id="h.assigned_collector_id",
    assigned_team_id="h.assigned_team_id",
)
_RECALLED = history.after_sql(StatusChanged, status="'recalled'", reason=":reason")
# And, when it had a collector or a team, its assignment to nobody: read for any day from
# the recall on, the account is no one's (reports, snapshots, commissions).
_UNASSIGNED_FROM = history.before_sql(
    Assigned, assigned_collector_id="h.assigned_collector_id", assigned_team_id="h.assigned_team_id"
)
_UNASSIGNED = history.after_sql(Assigned, assigned_collector_id="NULL", assigned_team_id="NULL")

_RECALL = f"""
WITH wanted AS (
    SELECT DISTINCT ref FROM unnest(CAST(:refs AS text[])) AS w(ref)
),
old AS (
    SELECT a.id, a.assigned_collector_id, a.assigned_team_id
    FROM account a JOIN wanted w ON a.external_ref = w.ref
    WHERE a.partner_id = :pid AND a.status = 'active'
    ORDER BY a.id
    FOR UPDATE OF a
),
hit AS (
    UPDATE account a
    SET status = 'recalled', assigned_collector_id = NULL, assigned_team_id = NULL,
        recalled_at = :now, version = a.version + 1, updated_at = :now
    FROM old o
    WHERE a.id = o.id
    RETURNING a.id, a.external_ref, o.assigned_collector_id, o.assigned_team_id
),
events AS (
    {history.INSERT}
    SELECT h.id, :pid, e.kind, :as_of, :now, :actor, e.before, e.after
    FROM hit h
    CROSS JOIN LATERAL (VALUES
        (1, {history.kind_sql(StatusChanged)}, {_RECALLED_FROM}, {_RECALLED}, true),
        (2, {history.kind_sql(Assigned)}, {_UNASSIGNED_FROM}, {_UNASSIGNED},
         h.assigned_collector_id IS NOT NULL OR h.assigned_team_id IS NOT NULL)
    ) AS e(n, kind, before, after, applies)
    WHERE e.applies
    ORDER BY h.id, e.n
    {webhooks.ACCOUNT_EVENT_RETURNING}
), {webhooks.account_event_ctes("events")}
SELECT external_ref FROM hit
"""

_RECALL_STATUS = """
SELECT w.ref, a.status
FROM unnest(CAST(:refs AS text[])) AS w(ref)
LEFT JOIN account a ON a.partner_id = :pid AND a.external_ref = w.ref
"""


@dataclass(frozen=True, slots=True)
class RecallResult:
    requested: int
    recalled: int
    already_inactive: list[str]
    unknown: list[str]


async def recall_accounts(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    external_refs: Sequence[str],
    reason: str | None,
    *,
    now: datetime | None = None,
) -> RecallResult:
    """The partner takes accounts back: they leave every queue and their collector, no
    contact is allowed on them any more, and their history stays."""
    partner = await partner_for_push(session, principal, partner_id)
    moment = now or datetime.now(UTC)
    refs = list(dict.fromkeys(external_refs))
    recalled = {
        ref
        for (ref,) in await session.execute(
            text(_RECALL),
            {
                "refs": refs,
                "pid": partner.id,
                "now": moment,
                "as_of": partner_today(partner, moment),
                "actor": principal.audit_id,
                "reason": reason,
            },
        )
    }
    statuses = await session.execute(text(_RECALL_STATUS), {"refs": refs, "pid": partner.id})
    unknown: list[str] = []
    inactive: list[str] = []
    for ref, status in statuses:
        if status is None:
            unknown.append(ref)
        elif ref not in recalled and status != "active":
            inactive.append(ref)
    result = RecallResult(len(refs), len(recalled), inactive, unknown)
    await audit.record(
        session,
        principal,
        "partner.recall",
        "partner",
        partner.id,
        after={
            "requested": result.requested,
            "recalled": result.recalled,
            "unknown": len(unknown),
            "reason": reason,
        },
        now=moment,
    )
    return result
