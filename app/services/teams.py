"""Teams: a lead and the collectors they coach and supervise."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.domain.audit import diff
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.roles import Role
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
    if principal.role in (Role.ADMIN, Role.MANAGER, Role.AUDITOR):
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


async def _check_people(
    session: AsyncSession, lead_id: uuid.UUID | None, member_ids: Sequence[uuid.UUID]
) -> None:
    wanted = set(member_ids) | ({lead_id} if lead_id else set())
    if not wanted:
        return
    rows = await session.execute(
        select(col(User.id), col(User.role), col(User.is_active)).where(col(User.id).in_(wanted))
    )
    found = {user_id: (role, active) for user_id, role, active in rows}
    if lead_id is not None:
        role, active = found.get(lead_id, (None, False))
        if role != Role.TEAM_LEAD.value or not active:
            raise InvalidInput("body.lead_id", "must be an active user with role team_lead")
    for index, member_id in enumerate(member_ids):
        role, active = found.get(member_id, (None, False))
        if role != Role.COLLECTOR.value or not active:
            raise InvalidInput(
                f"body.member_ids.{index}", "must be an active user with role collector"
            )


async def _set_members(
    session: AsyncSession, team_id: uuid.UUID, member_ids: Sequence[uuid.UUID]
) -> None:
    """Replace the team's members in two statements; collectors in other teams move here."""
    unique = list(dict.fromkeys(member_ids))
    await session.execute(
        delete(TeamMember).where(
            col(TeamMember.team_id) == team_id,
            col(TeamMember.user_id).not_in(unique),
        )
    )
    if unique:
        statement = insert(TeamMember).values([{"team_id": team_id, "user_id": u} for u in unique])
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["user_id"], set_={"team_id": statement.excluded.team_id}
            )
        )


async def create_team(session: AsyncSession, actor: Principal, data: TeamCreate) -> TeamView:
    await _check_people(session, data.lead_id, data.member_ids)
    if await session.scalar(select(col(Team.id)).where(col(Team.name) == data.name)):
        raise Conflict({"reason": "a team with that name exists"})
    team = Team(name=data.name, lead_id=data.lead_id)
    session.add(team)
    await session.flush()
    await _set_members(session, team.id, data.member_ids)
    view = TeamView(team, sorted(set(data.member_ids)))
    await audit.record(session, actor, "team.created", "team", team.id, after=snapshot(view))
    return view


async def update_team(
    session: AsyncSession, actor: Principal, team_id: uuid.UUID, data: TeamUpdate
) -> TeamView:
    current = await get_team(session, actor, team_id)
    before = snapshot(current)
    changes = data.model_dump(exclude_unset=True)
    team = current.team
    lead_id = changes.get("lead_id", team.lead_id)
    member_ids = data.member_ids if data.member_ids is not None else current.member_ids
    await _check_people(session, lead_id, member_ids if data.member_ids is not None else [])
    if changes.get("name") and changes["name"] != team.name:
        if await session.scalar(select(col(Team.id)).where(col(Team.name) == changes["name"])):
            raise Conflict({"reason": "a team with that name exists"})
        team.name = changes["name"]
    team.lead_id = lead_id
    if data.member_ids is not None:
        await _set_members(session, team.id, data.member_ids)
    view = TeamView(team, sorted(set(member_ids)))
    old, new = diff(before, snapshot(view))
    if old or new:
        team.updated_at = datetime.now(UTC)
        session.add(team)
        await session.flush()
        await audit.record(session, actor, "team.updated", "team", team.id, before=old, after=new)
    return view
