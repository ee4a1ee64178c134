"""Staff users: who may see and change whom, pagination, versions, and the audit of changes."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app.domain.roles import Role, Skill
from app.models.audit import AuditEvent
from app.models.user import Team, TeamMember
from tests.conftest import TEST_PASSWORD
from tests.factories import assert_problem

USERS = "/api/v1/users"


def new_user_body(**overrides):
    body = {
        "username": f"user-{uuid.uuid4().hex[:8]}",
        "full_name": "Rosa Gómez",
        "role": "collector",
        "skills": ["phone"],
        "password": "a-good-long-password",
    }
    body.update(overrides)
    return body


class TestCreateUser:
    async def test_admin_creates_a_collector_who_can_then_log_in(
        self, client, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        body = new_user_body(username="Rosa.Gomez", email="rosa@agencia-cobranza.mx")
        response = await client.post(USERS, json=body, headers=auth_headers(admin))
        assert response.status_code == 201
        created = response.json()
        assert created["username"] == "rosa.gomez"
        assert created["skills"] == ["phone"]
        assert "password" not in response.text and "argon2" not in response.text
        assert response.headers["location"] == f"{USERS}/{created['id']}"
        login = await client.post(
            "/api/v1/auth/token",
            data={"username": "rosa.gomez", "password": "a-good-long-password"},
        )
        assert login.status_code == 200

    async def test_the_creation_is_audited_without_the_password(
        self, client, make_user, auth_headers, session
    ):
        admin = await make_user(Role.ADMIN)
        response = await client.post(
            USERS, json=new_user_body(), headers={**auth_headers(admin), "X-Request-ID": "create-1"}
        )
        user_id = response.json()["id"]
        event = await session.scalar(select(AuditEvent).where(AuditEvent.entity_id == user_id))
        assert event is not None
        assert event.action == "user.created"
        assert event.actor_id == str(admin.id) and event.actor_role == "admin"
        assert event.request_id == "create-1"
        assert event.after["username"] == response.json()["username"]
        assert "password" not in str(event.after) and "a-good-long-password" not in str(event.after)

    async def test_only_admins_create_users(self, client, make_user, auth_headers):
        for role in (Role.MANAGER, Role.TEAM_LEAD, Role.COLLECTOR, Role.AUDITOR):
            caller = await make_user(role)
            response = await client.post(USERS, json=new_user_body(), headers=auth_headers(caller))
            assert_problem(response, 403, "permission_denied")

    async def test_a_collector_needs_a_skill_and_others_carry_none(
        self, client, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        no_skill = await client.post(
            USERS, json=new_user_body(skills=[]), headers=auth_headers(admin)
        )
        assert_problem(no_skill, 422, "invalid_input")
        assert no_skill.json()["errors"][0]["field"] == "body.skills"
        manager_with_skill = await client.post(
            USERS, json=new_user_body(role="manager", skills=["field"]), headers=auth_headers(admin)
        )
        assert_problem(manager_with_skill, 422, "invalid_input")

    async def test_partner_is_not_a_staff_role(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        response = await client.post(
            USERS, json=new_user_body(role="partner", skills=[]), headers=auth_headers(admin)
        )
        assert_problem(response, 422, "invalid_input")

    async def test_unknown_fields_are_refused(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        response = await client.post(
            USERS, json=new_user_body(is_superuser=True), headers=auth_headers(admin)
        )
        assert_problem(response, 422, "validation_failed")


class TestReadUsers:
    async def test_pages_walk_every_user_once_in_id_order(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        made = [await make_user(Role.COLLECTOR) for _ in range(5)]
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(USERS, params=params, headers=auth_headers(admin))).json()
            assert len(page["items"]) <= 2
            seen.extend(item["id"] for item in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen))
        assert {str(u.id) for u in [admin, *made]} <= set(seen)
        assert seen == sorted(seen, key=uuid.UUID)

    async def test_filter_by_role(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        await make_user(Role.AUDITOR)
        page = (
            await client.get(USERS, params={"role": "auditor"}, headers=auth_headers(admin))
        ).json()
        assert page["items"] and {u["role"] for u in page["items"]} == {"auditor"}

    async def test_a_bad_cursor_or_limit_is_422(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        for params in ({"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": 1000}):
            response = await client.get(USERS, params=params, headers=auth_headers(admin))
            assert_problem(response, 422, ("invalid_input", "validation_failed"))

    async def test_a_team_lead_sees_their_team_and_no_one_else(
        self, client, make_user, auth_headers, session
    ):
        lead = await make_user(Role.TEAM_LEAD)
        member = await make_user(Role.COLLECTOR)
        stranger = await make_user(Role.COLLECTOR)
        team = Team(name=f"t-{uuid.uuid4().hex[:6]}", lead_id=lead.id)
        session.add(team)
        await session.flush()
        session.add(TeamMember(team_id=team.id, user_id=member.id))
        await session.commit()
        page = (await client.get(USERS, headers=auth_headers(lead))).json()
        assert {u["id"] for u in page["items"]} == {str(lead.id), str(member.id)}
        hidden = await client.get(f"{USERS}/{stranger.id}", headers=auth_headers(lead))
        assert_problem(hidden, 404, "not_found")

    async def test_a_collector_sees_only_themselves(self, client, make_user, auth_headers):
        collector = await make_user(Role.COLLECTOR)
        other = await make_user(Role.COLLECTOR)
        assert (
            await client.get(f"{USERS}/{collector.id}", headers=auth_headers(collector))
        ).status_code == 200
        assert (
            await client.get(f"{USERS}/{other.id}", headers=auth_headers(collector))
        ).status_code == 404
        assert (await client.get(USERS, headers=auth_headers(collector))).status_code == 403

    async def test_an_auditor_reads_everyone_but_changes_nothing(
        self, client, make_user, auth_headers
    ):
        auditor = await make_user(Role.AUDITOR)
        other = await make_user(Role.COLLECTOR)
        assert (
            await client.get(f"{USERS}/{other.id}", headers=auth_headers(auditor))
        ).status_code == 200
        response = await client.patch(
            f"{USERS}/{other.id}", json={"full_name": "X"}, headers=auth_headers(auditor)
        )
        assert_problem(response, 403, "permission_denied")


class TestChangeUser:
    async def test_role_change_with_the_current_etag(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        target = await make_user(Role.COLLECTOR)
        read = await client.get(f"{USERS}/{target.id}", headers=auth_headers(admin))
        response = await client.patch(
            f"{USERS}/{target.id}",
            json={"role": "team_lead"},
            headers={**auth_headers(admin), "If-Match": read.headers["etag"]},
        )
        assert response.status_code == 200
        body = response.json()
        assert body["role"] == "team_lead" and body["skills"] == []
        assert body["version"] == read.json()["version"] + 1
        assert response.headers["etag"] == f'"{body["version"]}"'

    async def test_a_stale_etag_is_412_and_changes_nothing(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        target = await make_user(Role.COLLECTOR)
        url = f"{USERS}/{target.id}"
        await client.patch(url, json={"full_name": "First"}, headers=auth_headers(admin))
        stale = await client.patch(
            url, json={"full_name": "Second"}, headers={**auth_headers(admin), "If-Match": '"1"'}
        )
        assert stale.status_code == 412
        assert stale.json()["code"] == "version_mismatch"
        assert (await client.get(url, headers=auth_headers(admin))).json()["full_name"] == "First"

    async def test_a_weak_etag_of_the_current_version_is_412(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        target = await make_user(Role.COLLECTOR)
        url = f"{USERS}/{target.id}"
        current = (await client.get(url, headers=auth_headers(admin))).headers["etag"]
        weak = await client.patch(
            url,
            json={"full_name": "Weak"},
            headers={**auth_headers(admin), "If-Match": f"W/{current}"},
        )
        assert_problem(weak, 412, "version_mismatch")
        assert (await client.get(url, headers=auth_headers(admin))).headers["etag"] == current

    async def test_a_password_change_ends_old_sessions_and_is_audited_without_the_secret(
        self, client, make_user, auth_headers, session
    ):
        admin = await make_user(Role.ADMIN)
        target = await make_user(Role.COLLECTOR)
        target_headers = auth_headers(target)
        assert (await client.get(f"{USERS}/me", headers=target_headers)).status_code == 200
        await client.patch(
            f"{USERS}/{target.id}",
            json={"password": "brand-new-password"},
            headers=auth_headers(admin),
        )
        event = await session.scalar(
            select(AuditEvent).where(AuditEvent.entity_id == str(target.id))
        )
        assert event.after == {"password": "changed"}
        assert (await client.get(f"{USERS}/me", headers=target_headers)).status_code == 401
        old = await client.post(
            "/api/v1/auth/token", data={"username": target.username, "password": TEST_PASSWORD}
        )
        assert_problem(old, 401, "invalid_credentials")

    async def test_deactivation_ends_access_and_keeps_the_user(
        self, client, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        target = await make_user(Role.MANAGER)
        target_headers = auth_headers(target)
        response = await client.delete(f"{USERS}/{target.id}", headers=auth_headers(admin))
        assert response.status_code == 204
        assert (await client.get("/api/v1/users/me", headers=target_headers)).status_code == 401
        kept = await client.get(f"{USERS}/{target.id}", headers=auth_headers(admin))
        assert kept.status_code == 200 and kept.json()["is_active"] is False

    async def test_the_last_active_admin_cannot_be_deactivated_or_demoted(
        self, client, make_user, auth_headers, session
    ):
        from sqlalchemy import update

        from app.models.user import User

        admin = await make_user(Role.ADMIN)
        # Make this the only active admin of the test database.
        await session.execute(
            update(User).where(User.role == "admin", User.id != admin.id).values(is_active=False)
        )
        await session.commit()
        url = f"{USERS}/{admin.id}"
        assert (await client.delete(url, headers=auth_headers(admin))).status_code == 409
        demote = await client.patch(url, json={"role": "manager"}, headers=auth_headers(admin))
        assert_problem(demote, 409, "last_admin")
        second = await make_user(Role.ADMIN)
        assert (await client.delete(url, headers=auth_headers(second))).status_code == 204

    async def test_an_unchanged_patch_writes_no_audit_event(
        self, client, make_user, auth_headers, session
    ):
        admin = await make_user(Role.ADMIN)
        target = await make_user(Role.COLLECTOR, skills=[Skill.FIELD])
        response = await client.patch(
            f"{USERS}/{target.id}",
            json={"full_name": target.full_name},
            headers=auth_headers(admin),
        )
        assert response.json()["version"] == target.version
        events = await session.scalars(
            select(AuditEvent).where(AuditEvent.entity_id == str(target.id))
        )
        assert events.all() == []


async def test_a_non_ascii_digit_in_if_match_is_a_422_not_a_500(client, make_user, auth_headers):
    admin = await make_user(Role.ADMIN)
    target = await make_user(Role.COLLECTOR)
    response = await client.patch(
        f"{USERS}/{target.id}",
        json={"full_name": "Nuevo"},
        headers={**auth_headers(admin), "If-Match": b'"\xb2"'},
    )
    assert_problem(response, 422, "invalid_input")
    assert response.json()["errors"][0]["field"] == "header.if-match"
