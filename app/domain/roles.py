"""Who is who: staff roles, collector skills, and the partner principal."""

from __future__ import annotations

from enum import StrEnum

from app.domain.errors import PermissionDenied


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    TEAM_LEAD = "team_lead"
    COLLECTOR = "collector"
    AUDITOR = "auditor"
    # Partner systems authenticate with client credentials; never a staff user's role.
    PARTNER = "partner"


STAFF_ROLES: frozenset[Role] = frozenset(Role) - {Role.PARTNER}

# Roles that see every staff user and team (object-level visibility of people).
SEES_ALL_STAFF: frozenset[Role] = frozenset({Role.ADMIN, Role.MANAGER, Role.AUDITOR})


class Skill(StrEnum):
    PHONE = "phone"
    FIELD = "field"
    # The shared inbound desk ("mesa de entrada"): takes debtors' calls for any account,
    # seeing the matching accounts masked (app/domain/inbound.py). Not an allocation skill.
    INBOUND = "inbound"


def check_maker_checker(checker: Role, *, is_maker: bool) -> None:
    """Maker-checker: whoever asked for a change (a plan, a credit movement) never approves
    or rejects it themselves, whatever their role."""
    if is_maker:
        raise PermissionDenied({"role": checker.value, "reason": "maker_checker"})
