"""Rules about staff profiles and teams that the schemas alone cannot state."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from app.domain.errors import InvalidInput, LastAdmin
from app.domain.roles import STAFF_ROLES, Role, Skill
from app.i18n import N_


@dataclass(frozen=True, slots=True)
class StaffProfile:
    """What decides what a staff user may do and which teams they may be in."""

    role: Role
    skills: frozenset[Skill]
    is_active: bool

    @property
    def may_be_team_member(self) -> bool:
        return self.is_active and self.role is Role.COLLECTOR

    @property
    def may_lead_team(self) -> bool:
        return self.is_active and self.role is Role.TEAM_LEAD

    @property
    def is_active_admin(self) -> bool:
        return self.is_active and self.role is Role.ADMIN


def check_profile(role: Role, skills: Collection[Skill]) -> None:
    """A staff user's role and skills must fit together."""
    if role not in STAFF_ROLES:
        raise InvalidInput("role", N_("partner systems use client credentials, not users"))
    if role is Role.COLLECTOR and not skills:
        raise InvalidInput("skills", N_("a collector needs the phone or field skill"))
    if role is not Role.COLLECTOR and skills:
        raise InvalidInput("skills", N_("only collectors carry skills"))


def change_profile(
    current: StaffProfile,
    *,
    role: Role | None = None,
    skills: Collection[Skill] | None = None,
    is_active: bool | None = None,
) -> StaffProfile:
    """The profile after a change; what is not given stays, except that skills are dropped
    when the user stops being a collector (and kept while they remain one)."""
    new_role = role or current.role
    if skills is not None:
        new_skills = frozenset(skills)
    else:
        new_skills = current.skills if new_role is Role.COLLECTOR else frozenset()
    check_profile(new_role, new_skills)
    return StaffProfile(new_role, new_skills, current.is_active if is_active is None else is_active)


def check_admin_remains(active_admins_after: int) -> None:
    """Never leave the system without an active admin (nobody could manage users again)."""
    if active_admins_after < 1:
        raise LastAdmin()


def check_team_lead(profile: StaffProfile | None) -> None:
    """A team is led by an active team lead (None: no such user)."""
    if profile is None or not profile.may_lead_team:
        raise InvalidInput("lead_id", N_("must be an active user with role team_lead"))


def check_new_member(index: int, profile: StaffProfile | None) -> None:
    """A collector joining a team must be active (None: no such user)."""
    if profile is None or not profile.may_be_team_member:
        raise InvalidInput(f"member_ids.{index}", N_("must be an active user with role collector"))
