"""Who is who: staff roles, collector skills, and the partner principal."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    TEAM_LEAD = "team_lead"
    COLLECTOR = "collector"
    AUDITOR = "auditor"
    # Partner systems authenticate with client credentials; never a staff user's role.
    PARTNER = "partner"


STAFF_ROLES: frozenset[Role] = frozenset(Role) - {Role.PARTNER}


class Skill(StrEnum):
    PHONE = "phone"
    FIELD = "field"


def skills_allowed(role: Role, skills: frozenset[Skill]) -> bool:
    """Skills describe how a collector works; other roles carry none."""
    return role is Role.COLLECTOR or not skills
