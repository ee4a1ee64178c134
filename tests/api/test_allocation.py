"""Allocation rules (CRUD, validation, who may) and runs (matching, priority, territory,
capacity and balancing, no churn, manual assignments, history, dry run, one run at a
time, statements per run)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select, text

from app.domain.allocation import distribute
from app.domain.roles import Role, Skill
from app.locks import LockClass
from app.models.account import Account, AccountEvent
from app.models.allocation import AllocationRule
from app.models.audit import AuditEvent
from app.models.debtor import ContactPoint
from tests.factories import assert_problem, make_account, make_debtor, make_partner, make_team

RULES = "/api/v1/allocation/rules"
RUN = "/api/v1/allocation/run"


def rule_body(**overrides) -> dict:
    body = {
        "name": "Early phone",
        "priority": 10,
        "stages": ["early"],
        "skill": "phone",
        "capacity": 100,
    }
    return body | overrides


async def collectors(make_user, n: int, skills=(Skill.PHONE,)):
    return [await make_user(Role.COLLECTOR, skills=list(skills)) for _ in range(n)]


async def add_address(session, account, state=None, municipality=None, postal_code=None, **kw):
    session.add(
        ContactPoint(
            partner_id=account.partner_id,
            account_id=account.id,
            debtor_id=account.debtor_id,
            kind="address",
            value="Calle 1 #2",
            state=state,
            municipality=municipality,
            postal_code=postal_code,
            **kw,
        )
    )
    await session.flush()


async def create_rule(client, headers, **overrides) -> dict:
    response = await client.post(RULES, json=rule_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def run(client, headers, **params) -> dict:
    response = await client.post(RUN, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def assignment_of(session, account) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    await session.refresh(account)
    return account.assigned_collector_id, account.assigned_team_id


async def count(session, model, *where) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


class TestRules:
    async def test_create_read_replace_delete(self, client, session, make_user, auth_headers):
        manager = await make_user(Role.MANAGER)
        headers = auth_headers(manager)
        team = await make_team(session)
        created = await client.post(
            RULES,
            json=rule_body(
                team_id=str(team.id),
                product_types=["installment"],
                territory={
                    "states": ["Nuevo León"],
                    "municipalities": ["Zapopan"],
                    "postal_prefixes": ["06 6"],
                },
            ),
            headers=headers,
        )
        assert created.status_code == 201, created.text
        assert created.headers["ETag"] == '"1"'
        rule = created.json()
        assert rule["territory"] == {
            "states": ["nuevo leon"],
            "municipalities": ["zapopan"],
            "postal_prefixes": ["066"],
        }
        one = await client.get(f"{RULES}/{rule['id']}", headers=headers)
        assert one.status_code == 200 and one.json() == rule

        replaced = await client.put(
            f"{RULES}/{rule['id']}",
            json=rule_body(team_id=str(team.id), capacity=5),
            headers=headers | {"If-Match": '"1"'},
        )
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["capacity"] == 5
        assert replaced.json()["version"] == 2
        stale = await client.put(
            f"{RULES}/{rule['id']}",
            json=rule_body(team_id=str(team.id), capacity=6),
            headers=headers | {"If-Match": '"1"'},
        )
        assert_problem(stale, 412, "version_mismatch")
        assert (
            await client.delete(f"{RULES}/{rule['id']}", headers=headers | {"If-Match": '"1"'})
        ).status_code == 412
        deleted = await client.delete(f"{RULES}/{rule['id']}", headers=headers)
        assert deleted.status_code == 204
        assert (await client.get(f"{RULES}/{rule['id']}", headers=headers)).status_code == 404
        actions = (
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.entity_id == rule["id"])
            )
        ).all()
        assert sorted(actions) == [
            "allocation_rule.created",
            "allocation_rule.deleted",
            "allocation_rule.updated",
        ]

    async def test_list_in_run_order_with_cursor(self, client, session, make_user, auth_headers):
        headers = auth_headers(await make_user(Role.ADMIN))
        team = await make_team(session)
        for priority in (30, 10, 20, 10):
            await create_rule(client, headers, priority=priority, team_id=str(team.id))
        first = await client.get(RULES, params={"limit": 3}, headers=headers)
        assert first.status_code == 200
        page = first.json()
        second = await client.get(
            RULES, params={"limit": 3, "cursor": page["next_cursor"]}, headers=headers
        )
        items = page["items"] + second.json()["items"]
        assert [r["priority"] for r in items] == [10, 10, 20, 30]
        assert second.json()["next_cursor"] is None


class TestWhoMay:
    async def test_collector_may_do_nothing(self, client, session, make_user, auth_headers):
        headers = auth_headers(await make_user(Role.COLLECTOR))
        team = await make_team(session)
        assert (await client.get(RULES, headers=headers)).status_code == 403
        body = rule_body(team_id=str(team.id))
        assert (await client.post(RULES, json=body, headers=headers)).status_code == 403
        assert (await client.post(RUN, headers=headers)).status_code == 403

    async def test_lead_reads_only(self, client, session, make_user, auth_headers):
        manager_headers = auth_headers(await make_user(Role.MANAGER))
        team = await make_team(session)
        rule = await create_rule(client, manager_headers, team_id=str(team.id))
        headers = auth_headers(await make_user(Role.TEAM_LEAD))
        assert (await client.get(RULES, headers=headers)).status_code == 200
        assert (await client.get(f"{RULES}/{rule['id']}", headers=headers)).status_code == 200
        body = rule_body(team_id=str(team.id))
        assert (await client.post(RULES, json=body, headers=headers)).status_code == 403
        put = await client.put(f"{RULES}/{rule['id']}", json=body, headers=headers)
        assert_problem(put, 403, "permission_denied")
        assert (await client.delete(f"{RULES}/{rule['id']}", headers=headers)).status_code == 403
        assert (await client.post(RUN, headers=headers)).status_code == 403


class TestBadInput:
    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"stages": ["overdue"]}, "stages"),
            ({"stages": []}, "stages"),
            ({"skill": "email"}, "skill"),
            ({"product_types": ["mortgage"]}, "product_types"),
            ({"capacity": 0}, "capacity"),
            ({"capacity": 100_001}, "capacity"),
            ({"territory": {"postal_prefixes": ["44-1"]}}, "postal_prefixes"),
            ({"territory": {"states": [" "]}}, "states"),
            ({"team_id": None}, "target"),
            ({"collector_id": "SELF"}, "target"),
            ({"team_id": str(uuid.uuid4())}, "team_id"),
            ({"partner_id": str(uuid.uuid4())}, "partner_id"),
            ({"skill": "field", "team_id": None, "collector_id": "SELF"}, "collector_id"),
        ],
    )
    async def test_refused_with_the_field_and_nothing_written(
        self, client, session, make_user, auth_headers, overrides, field
    ):
        manager = await make_user(Role.MANAGER)
        phone_only = await make_user(Role.COLLECTOR, skills=[Skill.PHONE])
        team = await make_team(session)
        body = rule_body(team_id=str(team.id))
        for key, value in overrides.items():
            body[key] = str(phone_only.id) if value == "SELF" else value
        audits = await count(session, AuditEvent)
        response = await client.post(RULES, json=body, headers=auth_headers(manager))
        assert_problem(response, 422, ("invalid_input", "validation_failed"))
        assert response.headers["content-type"].startswith("application/problem+json")
        assert any(field in e["field"] for e in response.json()["errors"]), response.json()
        assert await count(session, AllocationRule) == 0
        assert await count(session, AuditEvent) == audits

    async def test_a_bad_replacement_changes_nothing(
        self, client, session, make_user, auth_headers
    ):
        headers = auth_headers(await make_user(Role.MANAGER))
        team = await make_team(session)
        rule = await create_rule(client, headers, team_id=str(team.id))
        response = await client.put(
            f"{RULES}/{rule['id']}", json=rule_body(team_id=str(team.id), capacity=0),
            headers=headers,
        )  # fmt: skip
        assert_problem(response, 422, "validation_failed")
        assert (await client.get(f"{RULES}/{rule['id']}", headers=headers)).json() == rule


class TestRun:
    async def test_priority_decides_and_unmatched_accounts_stay(
        self, client, session, make_user, auth_headers
    ):
        headers = auth_headers(await make_user(Role.MANAGER))
        partner, other = await make_partner(session), await make_partner(session)
        (a,), (b,) = await collectors(make_user, 1), await collectors(make_user, 1)
        team_a = await make_team(session, members=[a])
        team_b = await make_team(session, members=[b])
        specific = await create_rule(
            client, headers, priority=1, partner_id=str(partner.id), stages=["early", "mid"],
            team_id=str(team_a.id),
        )  # fmt: skip
        general = await create_rule(
            client, headers, priority=5, stages=["early", "mid", "late"], team_id=str(team_b.id)
        )
        mine = await make_account(session, partner, dpd=10)
        theirs = await make_account(session, other, dpd=10)
        late = await make_account(session, partner, dpd=70)
        current = await make_account(session, partner, dpd=0)
        recalled = await make_account(session, partner, dpd=10, status="recalled")
        result = await run(client, headers)
        assert await assignment_of(session, mine) == (a.id, team_a.id)
        assert await assignment_of(session, theirs) == (b.id, team_b.id)
        assert await assignment_of(session, late) == (b.id, team_b.id)
        assert await assignment_of(session, current) == (None, None)
        assert await assignment_of(session, recalled) == (None, None)
        outcomes = {r["rule_id"]: r for r in result["rules"]}
        assert outcomes[specific["id"]]["matched"] == 1
        assert outcomes[general["id"]]["matched"] == 2
        assert result["unmatched"] == result["active_accounts"] - 3
        assert result["changed"] == 3

    async def test_territory_by_state_municipality_and_postal_prefix(
        self, client, session, make_user, auth_headers
    ):
        headers = auth_headers(await make_user(Role.MANAGER))
        partner = await make_partner(session)
        (field,) = await collectors(make_user, 1, skills=(Skill.FIELD,))
        team = await make_team(session, members=[field])
        await create_rule(
            client, headers, skill="field", team_id=str(team.id), partner_id=str(partner.id),
            territory={"states": ["Nuevo León"], "municipalities": ["Zapopan"],
                       "postal_prefixes": ["066"]},
        )  # fmt: skip
        by_state = await make_account(session, partner, dpd=10)
        await add_address(session, by_state, "NUEVO LEON", "Monterrey", "64000")
        by_town = await make_account(session, partner, dpd=10)
        await add_address(session, by_town, "Jalisco", "Zapopán", "45000")
        by_prefix = await make_account(session, partner, dpd=10)
        await add_address(session, by_prefix, "CDMX", "Cuauhtémoc", "06 600")
        outside = await make_account(session, partner, dpd=10)
        await add_address(session, outside, "Jalisco", "Guadalajara", "44100")
        # Only the first valid address counts: an invalid one in Zapopan does not.
        invalid_first = await make_account(session, partner, dpd=10)
        await add_address(
            session, invalid_first, "Jalisco", "Zapopan", "45000",
            verification_status="invalid", is_valid=False,
        )  # fmt: skip
        await add_address(session, invalid_first, "Jalisco", "Guadalajara", "44100", position=1)
        no_address = await make_account(session, partner, dpd=10)
        result = await run(client, headers)
        assert result["rules"][0]["matched"] == 3
        for inside in (by_state, by_town, by_prefix):
            assert await assignment_of(session, inside) == (field.id, team.id)
        for out in (outside, invalid_first, no_address):
            assert await assignment_of(session, out) == (None, None)

    async def test_capacity_and_balance_follow_the_load(
        self, client, session, make_user, auth_headers
    ):
        headers = auth_headers(await make_user(Role.MANAGER))
        partner, elsewhere = await make_partner(session), await make_partner(session)
        team_members = await collectors(make_user, 3)
        (no_skill,) = await collectors(make_user, 1, skills=(Skill.FIELD,))
        (inactive,) = await collectors(make_user, 1)
        inactive.is_active = False
        team = await make_team(session, members=[*team_members, no_skill, inactive])
        loads = dict(zip((c.id for c in team_members), (0, 2, 5), strict=True))
        for collector_id, load in loads.items():
            for _ in range(load):  # held by hand, outside the rule: count as load
                await make_account(session, elsewhere, dpd=10, assigned_collector_id=collector_id)
        rule = await create_rule(
            client, headers, partner_id=str(partner.id), team_id=str(team.id), capacity=6
        )
        accounts = [
            await make_account(session, partner, dpd=10, principal=Decimal(1000 + i))
            for i in range(12)
        ]
        result = await run(client, headers)
        (outcome,) = result["rules"]
        assert outcome["collectors"] == 3
        assert outcome["matched"] == 12
        assert outcome["assigned"] == 11  # room: 6 + 4 + 1
        assert outcome["unassigned"] == 1
        assert "capacity" in " ".join(outcome["warnings"])
        # Biggest balances first, each to the collector that is least loaded after it.
        by_balance = sorted(accounts, key=lambda a: (-a.total, a.id))
        expected = distribute(loads, capacity=6, count=12)
        for account, collector_id in zip(by_balance, expected, strict=True):
            assert await assignment_of(session, account) == (collector_id, team.id)
        placed = await session.execute(
            select(Account.assigned_collector_id, func.count())
            .where(Account.status == "active")
            .group_by(Account.assigned_collector_id)
        )
        assert {c: n for c, n in placed if c is not None} == {c: 6 for c in loads}
        assert rule["id"] == outcome["rule_id"]

    async def test_a_second_run_changes_nothing(self, client, session, make_user, auth_headers):
        headers = auth_headers(await make_user(Role.MANAGER))
        partner = await make_partner(session)
        team = await make_team(session, members=await collectors(make_user, 2))
        await create_rule(client, headers, partner_id=str(partner.id), team_id=str(team.id))
        for _ in range(5):
            await make_account(session, partner, dpd=10)
        first = await run(client, headers)
        events = await count(session, AccountEvent, AccountEvent.kind == "assigned")
        second = await run(client, headers)
        assert first["rules"][0]["assigned"] == 5
        assert second["rules"][0]["kept"] == 5
        assert second["changed"] == 0
        assert await count(session, AccountEvent, AccountEvent.kind == "assigned") == events

    async def test_collectors_no_longer_qualifying_lose_their_accounts(
        self, client, session, make_user, auth_headers
    ):
        headers = auth_headers(await make_user(Role.MANAGER))
        partner = await make_partner(session)
        leaving, staying = await collectors(make_user, 2)
        team = await make_team(session, members=[leaving, staying])
        await create_rule(client, headers, partner_id=str(partner.id), team_id=str(team.id))
        accounts = [await make_account(session, partner, dpd=10) for _ in range(4)]
        await run(client, headers)
        leaving.skills = ["field"]
        session.add(leaving)
        await session.flush()
        result = await run(client, headers)
        assert result["rules"][0]["kept"] == 2
        assert result["rules"][0]["assigned"] == 2
        for account in accounts:
            assert await assignment_of(session, account) == (staying.id, team.id)

    async def test_history_events_have_the_shape_of_manual_assignment(
        self, client, session, make_user, auth_headers
    ):
        manager = await make_user(Role.MANAGER)
        headers = auth_headers(manager)
        partner = await make_partner(session)
        (collector,) = await collectors(make_user, 1)
        team = await make_team(session, members=[collector])
        await create_rule(client, headers, partner_id=str(partner.id), team_id=str(team.id))
        account = await make_account(session, partner, dpd=10)
        result = await run(client, headers)
        history = await client.get(f"/api/v1/accounts/{account.id}/history", headers=headers)
        (assigned,) = [e for e in history.json()["items"] if e["kind"] == "assigned"]
        assert assigned["before"] == {"assigned_collector_id": None, "assigned_team_id": None}
        assert assigned["after"] == {
            "assigned_collector_id": str(collector.id),
            "assigned_team_id": str(team.id),
        }
        (audited,) = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.entity_id == result["run_id"])
            )
        ).all()
        assert audited.action == "allocation.run"
        assert audited.after["changed"] == 1
        await session.refresh(account)
        assert account.version == 2

    async def test_dry_run_counts_and_writes_nothing(
        self, client, session, make_user, auth_headers
    ):
        headers = auth_headers(await make_user(Role.MANAGER))
        partner = await make_partner(session)
        team = await make_team(session, members=await collectors(make_user, 2))
        await create_rule(client, headers, partner_id=str(partner.id), team_id=str(team.id))
        accounts = [await make_account(session, partner, dpd=10) for _ in range(3)]
        before = (
            await count(session, AccountEvent),
            await count(session, AuditEvent),
            await session.scalar(text("SELECT count(*) FROM account_allocation")),
        )
        dry = await run(client, headers, dry_run="true")
        assert dry["dry_run"] is True
        assert dry["rules"][0]["assigned"] == 3
        assert dry["changed"] == 3
        for account in accounts:
            assert await assignment_of(session, account) == (None, None)
        after = (
            await count(session, AccountEvent),
            await count(session, AuditEvent),
            await session.scalar(text("SELECT count(*) FROM account_allocation")),
        )
        assert after == before
        real = await run(client, headers)
        assert real["rules"][0] | {"warnings": []} == dry["rules"][0] | {"warnings": []}

    async def test_manual_assignments_are_kept_unless_told(
        self, client, session, make_user, auth_headers
    ):
        manager = await make_user(Role.MANAGER)
        headers = auth_headers(manager)
        partner = await make_partner(session)
        (ruled,) = await collectors(make_user, 1)
        (outsider,) = await collectors(make_user, 1)
        team = await make_team(session, members=[ruled])
        other_team = await make_team(session, members=[outsider])
        await create_rule(client, headers, partner_id=str(partner.id), team_id=str(team.id))
        account = await make_account(session, partner, dpd=10)
        await run(client, headers)
        assert await assignment_of(session, account) == (ruled.id, team.id)
        patched = await client.patch(
            f"/api/v1/accounts/{account.id}",
            json={"assigned_collector_id": str(outsider.id)},
            headers=headers | {"If-Match": f'"{account.version}"'},
        )
        assert patched.status_code == 200, patched.text
        kept = await run(client, headers)
        assert kept["rules"][0]["manual"] == 1
        assert await assignment_of(session, account) == (outsider.id, other_team.id)
        overridden = await run(client, headers, reassign_manual="true")
        assert overridden["rules"][0]["assigned"] == 1
        assert await assignment_of(session, account) == (ruled.id, team.id)
        # Unassigning by hand hands the account back to allocation.
        await session.refresh(account)
        await client.patch(
            f"/api/v1/accounts/{account.id}",
            json={"assigned_collector_id": None},
            headers=headers | {"If-Match": f'"{account.version}"'},
        )
        back = await run(client, headers)
        assert back["rules"][0]["manual"] == 0
        assert await assignment_of(session, account) == (ruled.id, team.id)

    async def test_a_team_without_qualifying_members_is_reported(
        self, client, session, make_user, auth_headers
    ):
        headers = auth_headers(await make_user(Role.MANAGER))
        partner = await make_partner(session)
        team = await make_team(session, members=await collectors(make_user, 1))
        await create_rule(
            client, headers, skill="field", partner_id=str(partner.id), team_id=str(team.id)
        )
        account = await make_account(session, partner, dpd=10)
        result = await run(client, headers)
        (outcome,) = result["rules"]
        assert outcome["collectors"] == 0
        assert outcome["unassigned"] == 1
        assert any("no active collector" in w for w in outcome["warnings"])
        assert await assignment_of(session, account) == (None, team.id)

    async def test_a_rule_naming_one_collector(self, client, session, make_user, auth_headers):
        headers = auth_headers(await make_user(Role.MANAGER))
        partner = await make_partner(session)
        (collector,) = await collectors(make_user, 1)
        team = await make_team(session, members=[collector])
        await create_rule(
            client, headers, partner_id=str(partner.id), collector_id=str(collector.id),
            capacity=2,
        )  # fmt: skip
        accounts = [await make_account(session, partner, dpd=10) for _ in range(3)]
        result = await run(client, headers)
        assert result["rules"][0]["assigned"] == 2
        assert result["rules"][0]["unassigned"] == 1
        assigned = [await assignment_of(session, a) for a in accounts]
        assert assigned.count((collector.id, team.id)) == 2
        assert assigned.count((None, team.id)) == 1


class TestOneRunAtATime:
    async def test_a_run_while_another_holds_the_lock_is_refused(
        self, client, engine, make_user, auth_headers
    ):
        headers = auth_headers(await make_user(Role.MANAGER))
        async with engine.connect() as other:
            await other.begin()
            await other.execute(
                text("SELECT pg_advisory_xact_lock(:kind, 0)"),
                {"kind": int(LockClass.ALLOCATION_RUN)},
            )
            response = await client.post(RUN, headers=headers)
            await other.rollback()
        assert_problem(response, 409, "allocation_running")
        assert response.headers["content-type"].startswith("application/problem+json")
        assert (await client.post(RUN, headers=headers)).status_code == 200


class TestStatements:
    async def test_a_run_takes_the_same_statements_for_thirty_or_three_thousand_accounts(
        self, client, session, connection, make_user, auth_headers
    ):
        headers = auth_headers(await make_user(Role.MANAGER))
        partner = await make_partner(session)
        team = await make_team(session, members=await collectors(make_user, 10))
        await create_rule(
            client, headers, priority=1, partner_id=str(partner.id), stages=["late"],
            team_id=str(team.id), capacity=1000,
        )  # fmt: skip
        await create_rule(
            client, headers, priority=2, partner_id=str(partner.id), team_id=str(team.id),
            territory={"postal_prefixes": ["44"]}, capacity=1000,
        )  # fmt: skip
        debtor = await make_debtor(session)

        async def add_accounts(n: int) -> None:
            rows = [
                Account(
                    partner_id=partner.id, external_ref=f"BULK-{uuid.uuid4().hex}",
                    debtor_id=debtor.id, debtor_first_names="A", debtor_last_names="B",
                    product_type="installment", currency="MXN", original_amount=Decimal(100),
                    principal=Decimal(100), total=Decimal(100), dpd=10 if i % 3 else 70,
                    stage="early" if i % 3 else "late", aged_as_of=debtor.created_at.date(),
                    content_hash="x" * 64,
                )
                for i in range(n)
            ]  # fmt: skip
            session.add_all(rows)
            await session.flush()
            session.add_all(
                ContactPoint(
                    partner_id=partner.id, account_id=a.id, debtor_id=debtor.id, kind="address",
                    value="Calle", state="Jalisco", postal_code="44100" if i % 2 else "45100",
                )
                for i, a in enumerate(rows)
            )  # fmt: skip
            await session.flush()

        async def statements_of_a_run() -> tuple[int, dict]:
            statements: list[str] = []

            def count_statement(conn, cursor, statement, parameters, context, executemany):
                if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
                    statements.append(statement)

            sync_connection = connection.sync_connection
            event.listen(sync_connection, "before_cursor_execute", count_statement)
            try:
                result = await run(client, headers)
            finally:
                event.remove(sync_connection, "before_cursor_execute", count_statement)
            return len(statements), result

        await add_accounts(30)
        small, _ = await statements_of_a_run()
        await add_accounts(3000)
        large, result = await statements_of_a_run()
        assert small == large
        assert large == 9, large
        assert sum(r["assigned"] + r["kept"] for r in result["rules"]) == sum(
            r["matched"] for r in result["rules"]
        )
        assert sum(r["matched"] for r in result["rules"]) == 1010 + 1010
