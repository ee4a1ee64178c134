"""Staff users: create, read (within what the caller may see), change, deactivate."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app import locks
from app.domain.audit import diff
from app.domain.errors import NameTaken, NotFound, VersionMismatch
from app.domain.refresh_tokens import Revocation
from app.domain.roles import SEES_ALL_STAFF, Role, Skill
from app.domain.staff import StaffProfile, change_profile, check_admin_remains, check_profile
from app.models.user import Team, TeamMember, User
from app.pagination import decode_id_cursor, split_page
from app.schemas.users import UserCreate, UserUpdate
from app.security import Principal, hash_secret
from app.services import audit, refresh_tokens, teams

# Advisory-lock class (two-key form) for changes of role or activation.


def readable_users(principal: Principal) -> SelectOfScalar[User]:
    """The users a principal may see: everyone for admin, manager and auditor; a team lead
    their teams' members and themselves; anyone else only themselves."""
    query = select(User)
    if principal.role in SEES_ALL_STAFF:
        return query
    if principal.role is Role.TEAM_LEAD:
        led_members = (
            select(col(TeamMember.user_id))
            .join(Team, col(Team.id) == col(TeamMember.team_id))
            .where(col(Team.lead_id) == principal.user_id)
        )
        return query.where(or_(col(User.id) == principal.user_id, col(User.id).in_(led_members)))
    return query.where(col(User.id) == principal.user_id)


def snapshot(user: User) -> dict[str, Any]:
    """What the audit trail keeps of a user (never the password hash)."""
    return {
        "username": user.username,
        "full_name": user.full_name,
        "email": user.email,
        "role": user.role,
        "skills": sorted(user.skills),
        "is_active": user.is_active,
    }


async def get_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User:
    user = await session.scalar(readable_users(principal).where(col(User.id) == user_id))
    if user is None:
        raise NotFound({"entity": "user"})
    return user


async def list_users(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    role: Role | None = None,
    is_active: bool | None = None,
) -> tuple[list[User], str | None]:
    query = readable_users(principal)
    after = decode_id_cursor(cursor)
    if after is not None:
        query = query.where(col(User.id) > after)
    if role is not None:
        query = query.where(col(User.role) == role.value)
    if is_active is not None:
        query = query.where(col(User.is_active) == is_active)
    rows = (await session.scalars(query.order_by(col(User.id)).limit(limit + 1))).all()
    return split_page(rows, limit, key=lambda u: u.id)


async def create_user(session: AsyncSession, actor: Principal, data: UserCreate) -> User:
    skills = sorted(set(data.skills))
    check_profile(data.role, [Skill(s) for s in skills])
    if await session.scalar(select(col(User.id)).where(col(User.username) == data.username)):
        raise NameTaken("user_name")
    user = User(
        username=data.username,
        full_name=data.full_name,
        email=str(data.email) if data.email else None,
        role=data.role.value,
        skills=[s.value for s in skills],
        password_hash=await hash_secret(data.password),
    )
    session.add(user)
    await session.flush()
    await audit.record(session, actor, "user.created", "user", user.id, after=snapshot(user))
    return user


async def _active_admins_other_than(session: AsyncSession, user_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(col(User.role) == Role.ADMIN.value, col(User.is_active), col(User.id) != user_id)
    )
    return int(count or 0)


def profile_of(user: User) -> StaffProfile:
    return StaffProfile(Role(user.role), frozenset(Skill(s) for s in user.skills), user.is_active)


async def _leave_teams_no_longer_fitting(
    session: AsyncSession,
    actor: Principal,
    user_id: uuid.UUID,
    current: StaffProfile,
    profile: StaffProfile,
) -> None:
    """A user who can no longer be a member (or lead) of a team stops being one, on record."""
    if current.may_be_team_member and not profile.may_be_team_member:
        left = (
            await session.execute(
                delete(TeamMember)
                .where(col(TeamMember.user_id) == user_id)
                .returning(col(TeamMember.team_id), col(TeamMember.user_id))
            )
        ).all()
        await teams.record_members_left(
            session, actor, [(t, u) for t, u in left], reason="no longer an active collector"
        )
    if current.may_lead_team and not profile.may_lead_team:
        led = (
            await session.execute(
                update(Team)
                .where(col(Team.lead_id) == user_id)
                .values(lead_id=None, version=col(Team.version) + 1, updated_at=datetime.now(UTC))
                .returning(col(Team.id))
            )
        ).scalars()
        for team_id in led:
            await audit.record(
                session, actor, "team.updated", "team", team_id,
                before={"lead_id": user_id}, after={"lead_id": None},
            )  # fmt: skip


async def update_user(
    session: AsyncSession,
    actor: Principal,
    user_id: uuid.UUID,
    data: UserUpdate,
    expected_version: int | None,
) -> User:
    changes = data.model_dump(exclude_unset=True)
    if "role" in changes or "is_active" in changes:
        # Role and activation changes queue up one at a time, so two admins demoting each
        # other at once cannot both pass the "an admin remains" check.
        await locks.hold(session, locks.LockClass.STAFF_ROLES)
    user = await session.scalar(
        readable_users(actor).where(col(User.id) == user_id).with_for_update()
    )
    if user is None:
        raise NotFound({"entity": "user"})
    if expected_version is not None and expected_version != user.version:
        raise VersionMismatch({"current": user.version})
    before = snapshot(user)
    current = profile_of(user)
    profile = change_profile(
        current,
        role=changes.get("role"),
        skills=changes.get("skills"),
        is_active=changes.get("is_active"),
    )
    if current.is_active_admin and not profile.is_active_admin:
        check_admin_remains(await _active_admins_other_than(session, user.id))
    await _leave_teams_no_longer_fitting(session, actor, user.id, current, profile)
    if "full_name" in changes and changes["full_name"] is not None:
        user.full_name = changes["full_name"]
    if "email" in changes:
        user.email = str(changes["email"]) if changes["email"] else None
    user.role = profile.role.value
    user.skills = sorted(s.value for s in profile.skills)
    user.is_active = profile.is_active
    password_changed = bool(changes.get("password"))
    if password_changed:
        user.password_hash = await hash_secret(changes["password"])
    old, new = diff(before, snapshot(user))
    if not old and not new and not password_changed:
        return user
    if password_changed:
        new["password"] = "changed"
    user.version += 1
    user.updated_at = datetime.now(UTC)
    session.add(user)
    await session.flush()
    # Their sessions end with the change: no refresh token of the old password or of the
    # active user works any more, nor the access tokens of those sessions. Before the audit
    # event: a refresh locks its session and then the audit chain, and so must this, or the
    # two deadlock.
    if before["is_active"] and not user.is_active:
        await refresh_tokens.revoke_all(
            session, actor, user.id, Revocation.DEACTIVATED, user.updated_at
        )
    elif password_changed:
        await refresh_tokens.revoke_all(
            session, actor, user.id, Revocation.PASSWORD_CHANGED, user.updated_at
        )
    await audit.record(session, actor, "user.updated", "user", user.id, before=old, after=new)
    return user


async def deactivate_user(
    session: AsyncSession, actor: Principal, user_id: uuid.UUID, expected_version: int | None
) -> User:
    return await update_user(session, actor, user_id, UserUpdate(is_active=False), expected_version)
