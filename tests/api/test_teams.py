"""Teams: a lead and collectors; who sees which team."""

from __future__ import annotations

import uuid

from app.domain.roles import Role
from tests.factories import assert_problem

TEAMS = "/api/v1/teams"


def name() -> str:
    return f"Equipo {uuid.uuid4().hex[:6]}"


async def new_team(client, headers, *, lead=None, members=()) -> dict:
    body = {"name": name(), "member_ids": [str(m.id) for m in members]}
    if lead is not None:
        body["lead_id"] = str(lead.id)
    response = await client.post(TEAMS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_manager_creates_a_team_and_members_see_it(client, make_user, auth_headers):
    manager = await make_user(Role.MANAGER)
    lead = await make_user(Role.TEAM_LEAD)
    a, b = await make_user(Role.COLLECTOR), await make_user(Role.COLLECTOR)
    outsider = await make_user(Role.COLLECTOR)
    body = {"name": name(), "lead_id": str(lead.id), "member_ids": [str(a.id), str(b.id)]}
    response = await client.post(TEAMS, json=body, headers=auth_headers(manager))
    assert response.status_code == 201
    team = response.json()
    assert sorted(team["member_ids"]) == sorted([str(a.id), str(b.id)])
    for viewer in (lead, a):
        listed = (await client.get(TEAMS, headers=auth_headers(viewer))).json()["items"]
        assert [t["id"] for t in listed] == [team["id"]]
    assert (
        await client.get(f"{TEAMS}/{team['id']}", headers=auth_headers(outsider))
    ).status_code == 404


async def test_the_lead_must_be_a_team_lead_and_members_collectors(client, make_user, auth_headers):
    manager = await make_user(Role.MANAGER)
    auditor = await make_user(Role.AUDITOR)
    bad_lead = await client.post(
        TEAMS, json={"name": name(), "lead_id": str(auditor.id)}, headers=auth_headers(manager)
    )
    assert_problem(bad_lead, 422, "invalid_input")
    assert bad_lead.json()["errors"][0]["field"] == "body.lead_id"
    bad_member = await client.post(
        TEAMS,
        json={"name": name(), "member_ids": [str(uuid.uuid4())]},
        headers=auth_headers(manager),
    )
    assert_problem(bad_member, 422, "invalid_input")
    assert bad_member.json()["errors"][0]["field"] == "body.member_ids.0"


async def test_a_collector_moved_to_another_team_leaves_the_first(client, make_user, auth_headers):
    manager = await make_user(Role.MANAGER)
    collector = await make_user(Role.COLLECTOR)
    first = await new_team(client, auth_headers(manager), members=[collector])
    await new_team(client, auth_headers(manager), members=[collector])
    reread = (await client.get(f"{TEAMS}/{first['id']}", headers=auth_headers(manager))).json()
    assert reread["member_ids"] == []


async def test_patch_replaces_members_and_renames(client, make_user, auth_headers):
    manager = await make_user(Role.MANAGER)
    a, b = await make_user(Role.COLLECTOR), await make_user(Role.COLLECTOR)
    team = await new_team(client, auth_headers(manager), members=[a])
    new_name = name()
    response = await client.patch(
        f"{TEAMS}/{team['id']}",
        json={"name": new_name, "member_ids": [str(b.id)]},
        headers=auth_headers(manager),
    )
    assert response.status_code == 200
    assert response.json()["name"] == new_name
    assert response.json()["member_ids"] == [str(b.id)]


async def test_duplicate_team_names_conflict(client, make_user, auth_headers):
    manager = await make_user(Role.MANAGER)
    body = {"name": name()}
    assert (await client.post(TEAMS, json=body, headers=auth_headers(manager))).status_code == 201
    assert (await client.post(TEAMS, json=body, headers=auth_headers(manager))).status_code == 409


async def test_collectors_and_auditors_cannot_change_teams(client, make_user, auth_headers):
    for role in (Role.COLLECTOR, Role.AUDITOR, Role.TEAM_LEAD):
        caller = await make_user(role)
        response = await client.post(TEAMS, json={"name": name()}, headers=auth_headers(caller))
        assert_problem(response, 403, "permission_denied")


async def test_the_team_a_collector_leaves_records_it(client, make_user, auth_headers, session):
    from sqlalchemy import select

    from app.models.audit import AuditEvent

    manager = await make_user(Role.MANAGER)
    collector = await make_user(Role.COLLECTOR)
    first = await new_team(client, auth_headers(manager), members=[collector])
    await new_team(client, auth_headers(manager), members=[collector])
    events = (
        await session.scalars(
            select(AuditEvent).where(AuditEvent.entity_id == first["id"]).order_by(AuditEvent.seq)
        )
    ).all()
    assert [e.action for e in events] == ["team.created", "team.updated"]
    assert events[1].before == {"member_ids_removed": [str(collector.id)]}


async def test_deactivated_members_and_leads_leave_their_team(client, make_user, auth_headers):
    admin = await make_user(Role.ADMIN)
    manager = await make_user(Role.MANAGER)
    lead = await make_user(Role.TEAM_LEAD)
    member = await make_user(Role.COLLECTOR)
    team = await new_team(client, auth_headers(manager), lead=lead, members=[member])
    for user in (lead, member):
        response = await client.delete(f"/api/v1/users/{user.id}", headers=auth_headers(admin))
        assert response.status_code == 204
    reread = (await client.get(f"{TEAMS}/{team['id']}", headers=auth_headers(manager))).json()
    assert reread["lead_id"] is None and reread["member_ids"] == []
    renamed = await client.patch(
        f"{TEAMS}/{team['id']}", json={"name": name()}, headers=auth_headers(manager)
    )
    assert renamed.status_code == 200


async def test_a_collector_promoted_to_lead_leaves_the_members(client, make_user, auth_headers):
    admin = await make_user(Role.ADMIN)
    manager = await make_user(Role.MANAGER)
    member = await make_user(Role.COLLECTOR)
    team = await new_team(client, auth_headers(manager), members=[member])
    promoted = await client.patch(
        f"/api/v1/users/{member.id}", json={"role": "team_lead"}, headers=auth_headers(admin)
    )
    assert promoted.status_code == 200
    reread = (await client.get(f"{TEAMS}/{team['id']}", headers=auth_headers(manager))).json()
    assert reread["member_ids"] == []


async def test_a_team_is_read_with_its_etag_and_changed_with_if_match(
    client, make_user, auth_headers
):
    manager = await make_user(Role.MANAGER)
    headers = auth_headers(manager)
    created = await client.post(TEAMS, json={"name": name()}, headers=headers)
    assert created.headers["etag"] == '"1"'
    url = f"{TEAMS}/{created.json()['id']}"
    read = await client.get(url, headers=headers)
    assert read.headers["etag"] == '"1"' and read.json()["version"] == 1
    renamed = await client.patch(
        url, json={"name": name()}, headers={**headers, "If-Match": read.headers["etag"]}
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.headers["etag"] == '"2"' and renamed.json()["version"] == 2
    # The ETag read first is stale now: refused, and the name stays.
    stale = await client.patch(
        url, json={"name": name()}, headers={**headers, "If-Match": read.headers["etag"]}
    )
    assert stale.status_code == 412
    assert stale.json()["code"] == "version_mismatch"
    assert (await client.get(url, headers=headers)).json()["name"] == renamed.json()["name"]
    # A weak tag of the current version compares strongly, so it never matches.
    weak = await client.patch(url, json={"name": name()}, headers={**headers, "If-Match": 'W/"2"'})
    assert_problem(weak, 412, "version_mismatch")
    # A change that changes nothing leaves the version where it was.
    same = await client.patch(
        url, json={"name": renamed.json()["name"]}, headers={**headers, "If-Match": '"2"'}
    )
    assert same.status_code == 200 and same.headers["etag"] == '"2"'


async def test_a_team_losing_a_member_elsewhere_moves_its_etag(client, make_user, auth_headers):
    admin = await make_user(Role.ADMIN)
    manager = await make_user(Role.MANAGER)
    lead = await make_user(Role.TEAM_LEAD)
    moved, deactivated = await make_user(Role.COLLECTOR), await make_user(Role.COLLECTOR)
    first = await new_team(client, auth_headers(manager), lead=lead, members=[moved, deactivated])
    url = f"{TEAMS}/{first['id']}"
    read_etag = (await client.get(url, headers=auth_headers(manager))).headers["etag"]

    async def etag_now() -> str:
        return (await client.get(url, headers=auth_headers(manager))).headers["etag"]

    # Another team takes a member: the first team's members changed, so did its ETag.
    await new_team(client, auth_headers(manager), members=[moved])
    after_move = await etag_now()
    assert after_move != read_etag
    stale = await client.patch(
        url, json={"name": name()}, headers={**auth_headers(manager), "If-Match": read_etag}
    )
    assert_problem(stale, 412, "version_mismatch")
    # A member deactivated, then the lead: each moves it on again.
    await client.delete(f"/api/v1/users/{deactivated.id}", headers=auth_headers(admin))
    after_member = await etag_now()
    assert after_member not in (read_etag, after_move)
    await client.delete(f"/api/v1/users/{lead.id}", headers=auth_headers(admin))
    assert await etag_now() not in (read_etag, after_move, after_member)
