"""Compliance incidents: a recorded contact that broke a hard rule of the law opens one (the
interaction keeps its verdict either way); team leads see their teams' (the accounts they
may see), managers, admins and auditors all; a lead or manager resolves one with a note.

Policy-only breaches (the partner's strategy, the operator's stricter settings, a paused or
closed account under the agency's practice) open no incident: they are on the interaction's
verdict, where coaching finds them (app/domain/interactions.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.domain.compliance_incidents import (
    IncidentAlreadyResolved,
    IncidentStatus,
    may_list,
    may_resolve,
)
from app.domain.errors import NotFound, PermissionDenied
from app.models.account import Account
from app.models.compliance_incident import ComplianceIncident
from app.models.interaction import Interaction
from app.pagination import decode_moment_cursor, split_moment_page
from app.security import Principal
from app.services import accounts, audit


async def open_incident(
    session: AsyncSession,
    principal: Principal,
    account: Account,
    interaction: Interaction,
    breaches: list[dict[str, Any]],
    now: datetime,
) -> ComplianceIncident:
    """The one way an incident is created: with the law reasons the contact broke."""
    incident = ComplianceIncident(
        account_id=account.id,
        interaction_id=interaction.id,
        partner_id=account.partner_id,
        collector_id=interaction.collector_id,
        occurred_at=interaction.started_at,
        reasons=breaches,
        pack_version=interaction.pack_version,
        status=IncidentStatus.OPEN,
        opened_at=now,
    )
    session.add(incident)
    await session.flush()
    await audit.record(
        session,
        principal,
        "compliance_incident.opened",
        "compliance_incident",
        incident.id,
        after={
            "account_id": account.id,
            "interaction_id": interaction.id,
            "reasons": [r["code"] for r in breaches],
        },
        now=now,
    )
    return incident


def readable(principal: Principal) -> Any:
    """The incidents of the accounts the principal may see (a lead: their teams')."""
    if not may_list(principal.role):
        raise PermissionDenied({"role": principal.role.value})
    return select(ComplianceIncident).where(
        col(ComplianceIncident.account_id).in_(
            accounts.readable_accounts(principal).with_only_columns(col(Account.id))
        )
    )


async def list_incidents(
    session: AsyncSession,
    principal: Principal,
    *,
    status: IncidentStatus | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[ComplianceIncident], str | None]:
    """Newest first, keyset by (opened_at, id)."""
    query = readable(principal)
    if status is not None:
        query = query.where(col(ComplianceIncident.status) == status.value)
    after = decode_moment_cursor(cursor)
    if after is not None:
        query = query.where(
            tuple_(col(ComplianceIncident.opened_at), col(ComplianceIncident.id)) < tuple_(*after)
        )
    rows = (
        await session.scalars(
            query.order_by(
                col(ComplianceIncident.opened_at).desc(), col(ComplianceIncident.id).desc()
            ).limit(limit + 1)
        )
    ).all()
    return split_moment_page(rows, limit, key=lambda r: (r.opened_at, r.id))


async def resolve_incident(
    session: AsyncSession,
    principal: Principal,
    incident_id: uuid.UUID,
    note: str,
    now: datetime,
) -> ComplianceIncident:
    """A lead (of the account's team) or a manager closes the case with what was done."""
    incident = await session.scalar(
        readable(principal)
        .where(col(ComplianceIncident.id) == incident_id)
        .with_for_update(of=ComplianceIncident)
    )
    if incident is None:
        raise NotFound({"entity": "compliance_incident"})
    if not may_resolve(principal.role):
        raise PermissionDenied({"role": principal.role.value})
    if incident.status == IncidentStatus.RESOLVED:
        raise IncidentAlreadyResolved({"resolved_at": incident.resolved_at})
    before = {"status": incident.status}
    incident.status = IncidentStatus.RESOLVED
    incident.resolution_note = note
    incident.resolved_by = principal.audit_id
    incident.resolved_at = now
    session.add(incident)
    await session.flush()
    await audit.record(
        session,
        principal,
        "compliance_incident.resolved",
        "compliance_incident",
        incident.id,
        before=before,
        after={"status": incident.status, "resolution_note": note},
        now=now,
    )
    return incident
