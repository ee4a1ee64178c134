"""Teams: a lead and the collectors they coach and supervise."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.domain.audit import diff
from app.domain.errors import NameTaken, NotFound, VersionMismatch
from app.domain.roles import SEES_ALL_STAFF, Role, Skill
from app.domain.staff import StaffProfile, check_new_member, check_team_lead
from app.models.user import Team, TeamMember, User
from app.pagination import decode_id_cursor, split_page
from app.schemas.teams import TeamCreate, TeamUpdate
from app.security import Principal
from app.services import audit


@dataclass(frozen=True, slots=True)
class TeamView:
    team: Team
    member_ids: list[uuid.UUID]


def readable_teams(principal: Principal) -> SelectOfScalar[Team]:
    """Admin, manager and auditor see every team; a lead the teams they lead; a collector
    their own team."""
    query = select(Team)
    if principal.role in SEES_ALL_STAFF:
        return query
    if principal.role is Role.TEAM_LEAD:
        return query.where(col(Team.lead_id) == principal.user_id)
    own = select(col(TeamMember.team_id)).where(col(TeamMember.user_id) == principal.user_id)
    return query.where(col(Team.id).in_(own))


def snapshot(view: TeamView) -> dict[str, Any]:
    return {
        "name": view.team.name,
        "lead_id": view.team.lead_id,
        "member_ids": sorted(str(m) for m in view.member_ids),
    }


async def _members_of(
    session: AsyncSession, team_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    members: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    if not team_ids:
        return members
    rows = await session.execute(
        select(col(TeamMember.team_id), col(TeamMember.user_id))
        .where(col(TeamMember.team_id).in_(team_ids))
        .order_by(col(TeamMember.user_id))
    )
    for team_id, user_id in rows:
        members[team_id].append(user_id)
    return members


async def list_teams(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None
) -> tuple[list[TeamView], str | None]:
    query = readable_teams(principal)
    after = decode_id_cursor(cursor)
    if after is not None:
        query = query.where(col(Team.id) > after)
    rows = (await session.scalars(query.order_by(col(Team.id)).limit(limit + 1))).all()
    teams, next_cursor = split_page(rows, limit, key=lambda t: t.id)
    members = await _members_of(session, [t.id for t in teams])
    return [TeamView(t, members.get(t.id, [])) for t in teams], next_cursor


async def get_team(session: AsyncSession, principal: Principal, team_id: uuid.UUID) -> TeamView:
    team = await session.scalar(readable_teams(principal).where(col(Team.id) == team_id))
    if team is None:
        raise NotFound({"entity": "team"})
    members = await _members_of(session, [team.id])
    return TeamView(team, members.get(team.id, []))


async def _profiles(
    session: AsyncSession, user_ids: set[uuid.UUID]
) -> dict[uuid.UUID, StaffProfile]:
    if not user_ids:
        return {}
    rows = await session.execute(
        select(col(User.id), col(User.role), col(User.skills), col(User.is_active)).where(
            col(User.id).in_(user_ids)
        )
    )
    return {
        user_id: StaffProfile(Role(role), frozenset(Skill(s) for s in skills), active)
        for user_id, role, skills, active in rows
    }


async def _check_people(
    session: AsyncSession,
    lead_id: uuid.UUID | None,
    check_lead: bool,
    member_ids: Sequence[uuid.UUID],
    already_members: set[uuid.UUID],
) -> None:
    """The lead when it is being set, and the collectors who are joining (members who were
    already in the team stay whatever happened to them since)."""
    joining = [(i, m) for i, m in enumerate(member_ids) if m not in already_members]
    wanted = {m for _, m in joining} | ({lead_id} if check_lead and lead_id else set())
    profiles = await _profiles(session, wanted)
    if check_lead and lead_id is not None:
        check_team_lead(profiles.get(lead_id))
    for index, member_id in joining:
        check_new_member(index, profiles.get(member_id))


async def _set_members(
    session: AsyncSession, actor: Principal, team_id: uuid.UUID, member_ids: Sequence[uuid.UUID]
) -> None:
    """Replace the team's members; collectors taken from other teams leave those, and each
    team that loses someone that way gets its own audit event."""
    unique = list(dict.fromkeys(member_ids))
    await session.execute(
        delete(TeamMember).where(
            col(TeamMember.team_id) == team_id,
            col(TeamMember.user_id).not_in(unique),
        )
    )
    if not unique:
        return
    moved = (
        await session.execute(
            select(col(TeamMember.team_id), col(TeamMember.user_id))
            .where(col(TeamMember.user_id).in_(unique), col(TeamMember.team_id) != team_id)
            .with_for_update()
        )
    ).all()
    statement = insert(TeamMember).values([{"team_id": team_id, "user_id": u} for u in unique])
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["user_id"], set_={"team_id": statement.excluded.team_id}
        )
    )
    await record_members_left(session, actor, moved, reason=f"moved to team {team_id}")


async def record_members_left(
    session: AsyncSession,
    actor: Principal,
    departures: Sequence[tuple[uuid.UUID, uuid.UUID]],
    *,
    reason: str,
) -> None:
    """One ``team.updated`` event per team that lost members (team id, user id pairs)."""
    by_team: dict[uuid.UUID, list[str]] = defaultdict(list)
    for team_id, user_id in departures:
        by_team[team_id].append(str(user_id))
    if by_team:
        # Their member lists changed, so their ETags move on.
        await session.execute(
            update(Team)
            .where(col(Team.id).in_(list(by_team)))
            .values(version=col(Team.version) + 1, updated_at=datetime.now(UTC))
        )
    for team_id, user_ids in sorted(by_team.items()):
        await audit.record(
            session, actor, "team.updated", "team", team_id,
            before={"member_ids_removed": sorted(user_ids)}, after={"reason": reason},
        )  # fmt: skip


async def create_team(session: AsyncSession, actor: Principal, data: TeamCreate) -> TeamView:
    await _check_people(session, data.lead_id, True, data.member_ids, set())
    if await session.scalar(select(col(Team.id)).where(col(Team.name) == data.name)):
        raise NameTaken("team_name")
    team = Team(name=data.name, lead_id=data.lead_id)
    session.add(team)
    await session.flush()
    await _set_members(session, actor, team.id, data.member_ids)
    view = TeamView(team, sorted(set(data.member_ids)))
    await audit.record(session, actor, "team.created", "team", team.id, after=snapshot(view))
    return view


async def update_team(
    session: AsyncSession,
    actor: Principal,
    team_id: uuid.UUID,
    data: TeamUpdate,
    expected_version: int | None = None,
) -> TeamView:
    """``expected_version`` is the If-Match the caller sent (the version it read), if any: a
    team changed since is a 412. The row stays locked to the end, so two changes made at once
    cannot both pass that check."""
    team = await session.scalar(
        readable_teams(actor).where(col(Team.id) == team_id).with_for_update()
    )
    if team is None:
        raise NotFound({"entity": "team"})
    if expected_version is not None and expected_version != team.version:
        raise VersionMismatch({"current": team.version})
    current = TeamView(team, (await _members_of(session, [team.id])).get(team.id, []))
    before = snapshot(current)
    changes = data.model_dump(exclude_unset=True)
    team = current.team
    lead_id = changes.get("lead_id", team.lead_id)
    member_ids = data.member_ids if data.member_ids is not None else current.member_ids
    await _check_people(
        session,
        lead_id,
        "lead_id" in changes and lead_id != team.lead_id,
        data.member_ids or [],
        set(current.member_ids),
    )
    if changes.get("name") and changes["name"] != team.name:
        if await session.scalar(select(col(Team.id)).where(col(Team.name) == changes["name"])):
            raise NameTaken("team_name")
        team.name = changes["name"]
    team.lead_id = lead_id
    if data.member_ids is not None:
        await _set_members(session, actor, team.id, data.member_ids)
    view = TeamView(team, sorted(set(member_ids)))
    old, new = diff(before, snapshot(view))
    if old or new:
        team.version += 1
        team.updated_at = datetime.now(UTC)
        session.add(team)
        await session.flush()
        await audit.record(session, actor, "team.updated", "team", team.id, before=old, after=new)
    return view
