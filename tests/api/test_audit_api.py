"""Reading the audit trail through the API."""

from __future__ import annotations

import pytest

from app.domain.roles import Role
from tests.factories import assert_problem

AUDIT = "/api/v1/audit"


async def create_collector(client, headers, username):
    body = {
        "username": username,
        "full_name": "Gestor",
        "role": "collector",
        "skills": ["field"],
        "password": "a-long-password",
    }
    response = await client.post("/api/v1/users", json=body, headers=headers)
    assert response.status_code == 201
    return response.json()


async def test_auditor_reads_changes_newest_first_with_filters(client, make_user, auth_headers):
    admin = await make_user(Role.ADMIN)
    auditor = await make_user(Role.AUDITOR)
    first = await create_collector(client, auth_headers(admin), "gestor.uno")
    second = await create_collector(client, auth_headers(admin), "gestor.dos")
    response = await client.get(
        AUDIT,
        params={"actor_id": str(admin.id), "action": "user.created"},
        headers=auth_headers(auditor),
    )
    assert response.status_code == 200
    items = response.json()["items"]
    assert [e["entity_id"] for e in items] == [second["id"], first["id"]]
    assert items[0]["after"]["username"] == "gestor.dos"
    assert items[0]["prev_hash"] == items[1]["hash"]


async def test_pages_do_not_repeat_or_skip(client, make_user, auth_headers):
    admin = await make_user(Role.ADMIN)
    for n in range(3):
        await create_collector(client, auth_headers(admin), f"gestor.p{n}")
    seen, cursor = [], None
    while True:
        params = {"limit": 1, "actor_id": str(admin.id), **({"cursor": cursor} if cursor else {})}
        page = (await client.get(AUDIT, params=params, headers=auth_headers(admin))).json()
        seen += [e["seq"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 3 and seen == sorted(seen, reverse=True)


async def test_only_auditors_and_admins_read_it(client, make_user, auth_headers):
    for role in (Role.MANAGER, Role.TEAM_LEAD, Role.COLLECTOR):
        response = await client.get(AUDIT, headers=auth_headers(await make_user(role)))
        assert_problem(response, 403, "permission_denied")


@pytest.mark.parametrize("number", ["0.5", "1700000000", "-1", "+12.5", "1.7e9", "1.7E9", " 17e8 "])
async def test_a_number_is_not_an_instant(client, make_user, auth_headers, number):
    # pydantic alone would read it as Unix seconds; the contract says ISO 8601.
    auditor = await make_user(Role.AUDITOR)
    response = await client.get(
        AUDIT, params={"occurred_from": number}, headers=auth_headers(auditor)
    )
    assert_problem(response, 422, "validation_failed")
    assert response.json()["errors"][0]["field"] == "query.occurred_from"


async def test_times_without_a_zone_are_refused(client, make_user, auth_headers):
    auditor = await make_user(Role.AUDITOR)
    response = await client.get(
        AUDIT, params={"occurred_from": "2026-01-01T00:00:00"}, headers=auth_headers(auditor)
    )
    assert_problem(response, 422, "validation_failed")
    ok = await client.get(
        AUDIT, params={"occurred_from": "2026-01-01T00:00:00Z"}, headers=auth_headers(auditor)
    )
    assert ok.status_code == 200
