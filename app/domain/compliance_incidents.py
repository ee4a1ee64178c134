"""Compliance incidents ("incidencias de cumplimiento"): who sees and resolves them, and the
error a second resolution gets. An incident is opened by a recorded contact that broke a law
reason of the contact check (app/domain/interactions.py, law_breaches)."""

from __future__ import annotations

from enum import StrEnum

from app.domain.errors import DomainError
from app.domain.roles import Role


class IncidentStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


# Leads see their teams' incidents; managers, admins and auditors all of them.
READERS = frozenset({Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN, Role.AUDITOR})
RESOLVERS = frozenset({Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN})


def may_list(role: Role) -> bool:
    return role in READERS


def may_resolve(role: Role) -> bool:
    return role in RESOLVERS


class IncidentAlreadyResolved(DomainError):
    """The incident was resolved already; its note stands."""

    code = "compliance_incident_resolved"
