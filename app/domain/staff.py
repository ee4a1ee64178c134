"""Rules about staff profiles that the schemas alone cannot state."""

from __future__ import annotations

from collections.abc import Collection

from app.domain.errors import Conflict, InvalidInput
from app.domain.roles import STAFF_ROLES, Role, Skill


def check_profile(role: Role, skills: Collection[Skill]) -> None:
    """A staff user's role and skills must fit together."""
    if role not in STAFF_ROLES:
        raise InvalidInput("body.role", "partner systems use client credentials, not users")
    if role is Role.COLLECTOR and not skills:
        raise InvalidInput("body.skills", "a collector needs the phone or field skill")
    if role is not Role.COLLECTOR and skills:
        raise InvalidInput("body.skills", "only collectors carry skills")


def check_admin_remains(active_admins_after: int) -> None:
    """Never leave the system without an active admin (nobody could manage users again)."""
    if active_admins_after < 1:
        raise Conflict({"reason": "the last active admin cannot be demoted or deactivated"})
