"""The floor's cross-account lists (issue 18): GET /plans (the approval inbox), /promises,
/interactions, /payments and /escalations. Each is filtered, keyset-paginated, limited to
the accounts the caller may see, names the account's debtor and collector on every line,
answers CSV with ``Accept: text/csv``, and reads a page in a fixed number of statements."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.domain.roles import Role
from app.models.escalation import Escalation
from app.models.interaction import Interaction
from app.models.promise import Promise
from tests.factories import (
    assert_problem,
    business_today,
    counted_statements,
    make_account,
    make_partner,
    make_plan,
    make_team,
    partner_bearer,
)

API = "/api/v1"
TODAY = business_today()


async def call(session, account, collector, at: datetime, result: str = "RPC") -> Interaction:
    interaction = Interaction(
        account_id=account.id,
        partner_id=account.partner_id,
        debtor_id=account.debtor_id,
        collector_id=collector.id,
        channel="call",
        direction="outbound",
        party="debtor",
        result_code=result,
        started_at=at,
        pcr_problem="Hours cut",
        pcr_resolution="Pays on the 15th",
        pack_version="MX-test",
        compliance={"allowed": True},
        created_by=f"user:{collector.id}",
    )
    session.add(interaction)
    await session.flush()
    return interaction


async def promise(session, account, collector, due_in_days: int, amount: str = "150.00"):
    made = await call(session, account, collector, datetime.now(UTC) - timedelta(days=3), "RPC_PTP")
    row = Promise(
        account_id=account.id,
        partner_id=account.partner_id,
        interaction_id=made.id,
        amount=Decimal(amount),
        currency=account.currency,
        due_date=TODAY + timedelta(days=due_in_days),
        created_by=f"user:{collector.id}",
    )
    session.add(row)
    await session.flush()
    return row


@pytest.fixture
async def floor(session, settings, make_user, auth_headers):
    """Partner A and B. A lead leads a team of c1 and c2; c3 works outside it.
    a1 (A, c1), a2 (A, c2), a3 (A, c3), b1 (B, c1)."""
    partner_a, partner_b = await make_partner(session), await make_partner(session)
    lead, manager = await make_user(Role.TEAM_LEAD), await make_user(Role.MANAGER)
    c1, c2, c3 = [await make_user(Role.COLLECTOR) for _ in range(3)]
    team = await make_team(session, lead, [c1, c2])
    other_team = await make_team(session, None, [c3])

    def named(first: str, last: str) -> dict[str, str]:
        return {"debtor_first_names": first, "debtor_last_names": last}

    a1 = await make_account(
        session, partner_a, dpd=40, assigned_collector_id=c1.id, **named("Ana", "Ruiz")
    )
    a2 = await make_account(
        session, partner_a, dpd=50, assigned_collector_id=c2.id, **named("Beto", "Soto")
    )
    a3 = await make_account(
        session, partner_a, dpd=60, assigned_collector_id=c3.id, **named("Caro", "Vela")
    )
    b1 = await make_account(
        session, partner_b, dpd=70, assigned_collector_id=c1.id, **named("Dina", "Paz")
    )
    await session.commit()
    return {
        "partners": (partner_a, partner_b),
        "team": team,
        "other_team": other_team,
        "accounts": {"a1": a1, "a2": a2, "a3": a3, "b1": b1},
        "users": {"lead": lead, "manager": manager, "c1": c1, "c2": c2, "c3": c3},
        "headers": {
            "lead": auth_headers(lead),
            "manager": auth_headers(manager),
            "c1": auth_headers(c1),
            "c2": auth_headers(c2),
            "c3": auth_headers(c3),
            "partner_a": await partner_bearer(session, settings, partner_a),
            "partner_b": await partner_bearer(session, settings, partner_b),
        },
    }


async def items(client, path: str, headers, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(f"{API}{path}", params={"limit": 200, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def refs(rows: list[dict[str, Any]]) -> list[str]:
    return [row["account"]["external_ref"] for row in rows]


def ref(floor, name: str) -> str:
    return floor["accounts"][name].external_ref


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


class TestPlans:
    @pytest.fixture
    async def plans(self, session, floor):
        accounts, users = floor["accounts"], floor["users"]
        made = {}
        for name, proposer, status in [
            ("a1", "c1", "active"),
            ("a2", "c2", "pending_approval"),
            ("a3", "c3", "pending_approval"),
            ("b1", "c1", "pending_approval"),
        ]:
            plan = await make_plan(session, accounts[name], users[proposer], ["400.00", "400.00"])
            plan.status = status
            session.add(plan)
            made[name] = plan
        await session.commit()
        return made

    async def test_a_lead_finds_the_plans_to_approve_in_their_teams_in_one_call(
        self, client, floor, plans
    ):
        rows = await items(client, "/plans", floor["headers"]["lead"], status="pending_approval")
        # a2 is their team's; a3 is another team's; b1 is c1's (a member's), so it is theirs.
        assert sorted(refs(rows)) == sorted([ref(floor, "a2"), ref(floor, "b1")])
        by_ref = {row["account"]["external_ref"]: row for row in rows}
        a2 = by_ref[ref(floor, "a2")]
        assert a2["status"] == "pending_approval"
        assert a2["account"]["debtor_name"] == "Beto Soto"
        assert a2["account"]["collector_id"] == str(floor["users"]["c2"].id)
        assert a2["account"]["collector_name"] == floor["users"]["c2"].full_name
        assert [i["number"] for i in a2["schedule"]] == [1, 2]

    async def test_each_role_sees_only_the_plans_of_accounts_it_may_see(self, client, floor, plans):
        headers = floor["headers"]
        assert sorted(refs(await items(client, "/plans", headers["c1"]))) == sorted(
            [ref(floor, "a1"), ref(floor, "b1")]
        )
        assert refs(await items(client, "/plans", headers["c3"])) == [ref(floor, "a3")]
        partner_b = refs(await items(client, "/plans", headers["partner_b"]))
        assert partner_b == [ref(floor, "b1")]
        every = refs(await items(client, "/plans", headers["manager"]))
        assert sorted(every) == sorted(ref(floor, n) for n in ("a1", "a2", "a3", "b1"))

    async def test_filters_narrow_by_partner_collector_and_team(self, client, floor, plans):
        headers = floor["headers"]["manager"]
        partner_a = floor["partners"][0].id
        assert sorted(refs(await items(client, "/plans", headers, partner_id=partner_a))) == sorted(
            ref(floor, n) for n in ("a1", "a2", "a3")
        )
        c1 = floor["users"]["c1"].id
        assert sorted(refs(await items(client, "/plans", headers, collector_id=c1))) == sorted(
            [ref(floor, "a1"), ref(floor, "b1")]
        )
        team = floor["team"].id
        in_team = refs(await items(client, "/plans", headers, team_id=team, status="active"))
        assert in_team == [ref(floor, "a1")]
        # A lead filtering on another team's collector gets nothing, not that team's plans.
        c3 = floor["users"]["c3"].id
        assert await items(client, "/plans", floor["headers"]["lead"], collector_id=c3) == []

    async def test_newest_first_and_the_cursor_walks_every_plan_once(self, client, floor, plans):
        headers = floor["headers"]["manager"]
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 1}
            if cursor:
                params["cursor"] = cursor
            response = await client.get(f"{API}/plans", params=params, headers=headers)
            assert response.status_code == 200, response.text
            body = response.json()
            seen += [row["id"] for row in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        newest_first = sorted((str(p.id) for p in plans.values()), reverse=True)
        assert seen == newest_first

    async def test_csv_has_a_line_per_plan_with_the_debtor_and_collector(
        self, client, floor, plans
    ):
        response = await client.get(
            f"{API}/plans",
            params={"status": "pending_approval"},
            headers={**floor["headers"]["lead"], "Accept": "text/csv"},
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        lines = parse_csv(response.text)
        assert sorted(line["debtor_name"] for line in lines) == ["Beto Soto", "Dina Paz"]
        a2 = next(line for line in lines if line["external_ref"] == ref(floor, "a2"))
        assert a2["collector_name"] == floor["users"]["c2"].full_name
        assert a2["agreed_total"] == "800.00"
        assert a2["installments"] == "2"


class TestPromises:
    @pytest.fixture
    async def promises(self, session, floor):
        accounts, users = floor["accounts"], floor["users"]
        made = {
            "a1_today": await promise(session, accounts["a1"], users["c1"], 0),
            "a2_tomorrow": await promise(session, accounts["a2"], users["c2"], 1),
            "a3_today": await promise(session, accounts["a3"], users["c3"], 0),
            "b1_next_week": await promise(session, accounts["b1"], users["c1"], 7),
        }
        await session.commit()
        return made

    async def test_todays_promises_soonest_first_with_names(self, client, floor, promises):
        rows = await items(
            client,
            "/promises",
            floor["headers"]["manager"],
            status="pending",
            due_from=TODAY.isoformat(),
            due_to=TODAY.isoformat(),
        )
        assert sorted(refs(rows)) == sorted([ref(floor, "a1"), ref(floor, "a3")])
        assert {row["account"]["debtor_name"] for row in rows} == {"Ana Ruiz", "Caro Vela"}
        assert all(row["due_date"] == TODAY.isoformat() for row in rows)

    async def test_soonest_due_first_across_pages(self, client, floor, promises):
        headers = floor["headers"]["manager"]
        first = await client.get(f"{API}/promises", params={"limit": 2}, headers=headers)
        body = first.json()
        second = await client.get(
            f"{API}/promises", params={"limit": 2, "cursor": body["next_cursor"]}, headers=headers
        )
        dues = [row["due_date"] for row in body["items"] + second.json()["items"]]
        assert dues == sorted(dues) and len(dues) == 4
        assert second.json()["next_cursor"] is None

    async def test_a_collector_sees_their_own_and_a_partner_its_portfolio(
        self, client, floor, promises
    ):
        headers = floor["headers"]
        assert sorted(refs(await items(client, "/promises", headers["c1"]))) == sorted(
            [ref(floor, "a1"), ref(floor, "b1")]
        )
        assert refs(await items(client, "/promises", headers["partner_b"])) == [ref(floor, "b1")]
        c2 = floor["users"]["c2"].id
        lead_c2 = refs(await items(client, "/promises", headers["lead"], collector_id=c2))
        assert lead_c2 == [ref(floor, "a2")]

    async def test_csv_export_reads_every_batch(self, client, floor, promises, monkeypatch):
        # Batches of two: four promises take the first batch and two more.
        monkeypatch.setattr("app.routers.listing.EXPORT_BATCH", 2)
        response = await client.get(
            f"{API}/promises", headers={**floor["headers"]["manager"], "Accept": "text/csv"}
        )
        assert response.status_code == 200, response.text
        lines = parse_csv(response.text)
        assert len(lines) == 4
        assert [line["due_date"] for line in lines] == sorted(line["due_date"] for line in lines)
        assert {line["promise_id"] for line in lines} == {str(p.id) for p in promises.values()}


class TestInteractions:
    @pytest.fixture
    async def calls(self, session, floor):
        accounts, users = floor["accounts"], floor["users"]
        base = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
        made = [
            await call(session, accounts["a1"], users["c1"], base),
            await call(session, accounts["a2"], users["c2"], base + timedelta(hours=1)),
            await call(session, accounts["a2"], users["c2"], base + timedelta(days=1), "NO_ANSWER"),
            await call(session, accounts["a3"], users["c3"], base + timedelta(hours=2)),
        ]
        await session.commit()
        return made

    async def test_a_lead_reviews_a_collectors_day(self, client, floor, calls):
        c2 = floor["users"]["c2"].id
        rows = await items(
            client,
            "/interactions",
            floor["headers"]["lead"],
            collector_id=c2,
            **{"from": "2026-12-01T06:00:00Z", "to": "2026-12-02T06:00:00Z"},
        )
        assert [row["id"] for row in rows] == [str(calls[1].id)]
        assert rows[0]["account"]["debtor_name"] == "Beto Soto"
        assert rows[0]["pcr"]["resolution"] == "Pays on the 15th"

    async def test_newest_first_and_filters_by_channel_and_result(self, client, floor, calls):
        headers = floor["headers"]["manager"]
        rows = await items(client, "/interactions", headers, partner_id=floor["partners"][0].id)
        started = [row["started_at"] for row in rows]
        assert started == sorted(started, reverse=True)
        missed = await items(client, "/interactions", headers, result="NO_ANSWER", channel="call")
        assert [row["id"] for row in missed] == [str(calls[2].id)]

    async def test_a_lead_does_not_see_another_teams_collector(self, client, floor, calls):
        c3 = floor["users"]["c3"].id
        assert await items(client, "/interactions", floor["headers"]["lead"], collector_id=c3) == []
        own = await items(client, "/interactions", floor["headers"]["c3"])
        assert [row["id"] for row in own] == [str(calls[3].id)]

    async def test_csv_carries_the_pcr_note(self, client, floor, calls):
        response = await client.get(
            f"{API}/interactions",
            params={"collector_id": str(floor["users"]["c1"].id)},
            headers={**floor["headers"]["manager"], "Accept": "text/csv"},
        )
        lines = parse_csv(response.text)
        assert [line["interaction_id"] for line in lines] == [str(calls[0].id)]
        assert lines[0]["problem"] == "Hours cut"
        assert lines[0]["debtor_name"] == "Ana Ruiz"


class TestPayments:
    @pytest.fixture
    async def payments(self, client, floor):
        made = {}
        for name, who, channel, paid_on in [
            ("a1", "c1", "spei", TODAY - timedelta(days=2)),
            ("a2", "c2", "cash_store", TODAY - timedelta(days=1)),
            ("b1", "c1", "spei", TODAY),
        ]:
            account = floor["accounts"][name]
            response = await client.post(
                f"{API}/payments",
                json={
                    "account_id": str(account.id),
                    "amount": "120.00",
                    "currency": account.currency,
                    "paid_on": paid_on.isoformat(),
                    "channel": channel,
                },
                headers={**floor["headers"][who], "Idempotency-Key": uuid.uuid4().hex},
            )
            assert response.status_code == 201, response.text
            made[name] = response.json()
        return made

    async def test_a_partner_sees_its_own_payments_only(self, client, floor, payments):
        rows = await items(client, "/payments", floor["headers"]["partner_a"])
        assert sorted(refs(rows)) == sorted([ref(floor, "a1"), ref(floor, "a2")])
        rows = await items(client, "/payments", floor["headers"]["partner_b"])
        assert [row["id"] for row in rows] == [payments["b1"]["id"]]
        assert rows[0]["account"]["debtor_name"] == "Dina Paz"
        assert rows[0]["amount"] == "120.00"

    async def test_filters_by_day_paid_and_channel(self, client, floor, payments):
        headers = floor["headers"]["manager"]
        yesterday = (TODAY - timedelta(days=1)).isoformat()
        window = await items(client, "/payments", headers, **{"from": yesterday, "to": yesterday})
        assert [row["id"] for row in window] == [payments["a2"]["id"]]
        spei = await items(client, "/payments", headers, channel="spei")
        assert sorted(row["id"] for row in spei) == sorted(
            [payments["a1"]["id"], payments["b1"]["id"]]
        )

    async def test_csv_export(self, client, floor, payments):
        response = await client.get(
            f"{API}/payments",
            params={"partner_id": str(floor["partners"][1].id)},
            headers={**floor["headers"]["manager"], "Accept": "text/csv"},
        )
        lines = parse_csv(response.text)
        assert [(line["payment_id"], line["amount"]) for line in lines] == [
            (payments["b1"]["id"], "120.00")
        ]


class TestEscalations:
    async def test_filters_and_names(self, client, session, floor):
        accounts = floor["accounts"]
        for name in ("a1", "a2", "a3"):
            session.add(
                Escalation(
                    account_id=accounts[name].id,
                    partner_id=accounts[name].partner_id,
                    source="collector",
                    reason="Refuses to pay",
                    opened_by="test",
                )
            )
        await session.commit()
        c2 = floor["users"]["c2"].id
        rows = await items(client, "/escalations", floor["headers"]["lead"], collector_id=c2)
        assert refs(rows) == [ref(floor, "a2")]
        assert rows[0]["account"]["collector_name"] == floor["users"]["c2"].full_name
        team = floor["other_team"].id
        rows = await items(client, "/escalations", floor["headers"]["manager"], team_id=team)
        assert refs(rows) == [ref(floor, "a3")]


class TestBadInput:
    @pytest.mark.parametrize(
        ("path", "params", "field"),
        [
            ("/plans", {"status": "approved"}, "query.status"),
            ("/plans", {"team_id": "not-a-uuid"}, "query.team_id"),
            ("/promises", {"due_from": "05/12/2026"}, "query.due_from"),
            ("/interactions", {"from": "yesterday"}, "query.from"),
            ("/interactions", {"result": "rpc; drop"}, "query.result"),
            ("/payments", {"channel": "bitcoin"}, "query.channel"),
            ("/payments", {"cursor": "bm90IGEgY3Vyc29y"}, "query.cursor"),
            ("/promises", {"cursor": "WyJ4IiwieSJd"}, "query.cursor"),
        ],
    )
    async def test_a_bad_filter_is_a_problem_naming_the_field(
        self, client, floor, path, params, field
    ):
        response = await client.get(f"{API}{path}", params=params, headers=floor["headers"]["c1"])
        assert_problem(response, 422, ("invalid_input", "validation_failed"))
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == [field]

    async def test_auditors_read_every_plan_and_partners_may_not_list_escalations(
        self, client, floor, make_user, auth_headers
    ):
        auditor = await make_user(Role.AUDITOR)
        response = await client.get(f"{API}/plans", headers=auth_headers(auditor))
        assert response.status_code == 200, response.text
        response = await client.get(f"{API}/escalations", headers=floor["headers"]["partner_a"])
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"


class TestStatementCount:
    """A page of 10 and a page of 40 cost the same statements: no query per line."""

    @pytest.fixture
    async def many(self, session, floor):
        accounts = [floor["accounts"][n] for n in ("a1", "a2", "a3", "b1")]
        users = floor["users"]
        for n in range(48):
            account = accounts[n % 4]
            collector = users[{0: "c1", 1: "c2", 2: "c3", 3: "c1"}[n % 4]]
            await promise(session, account, collector, n % 9)
        await session.commit()

    @pytest.mark.parametrize("path", ["/plans", "/promises", "/interactions", "/payments"])
    async def test_statements_do_not_grow_with_the_page(
        self, client, connection, floor, many, path, session
    ):
        if path == "/plans":
            for name in ["a1", "a2", "a3", "b1"] * 12:
                plan = await make_plan(
                    session, floor["accounts"][name], floor["users"]["c1"], ["100.00"]
                )
                plan.status = "completed"  # one open plan per account: close each at once
                session.add(plan)
                await session.flush()
            await session.commit()
        if path == "/payments":
            for n in range(44):
                account = floor["accounts"]["a1"]
                response = await client.post(
                    f"{API}/payments",
                    json={
                        "account_id": str(account.id),
                        "amount": "1.00",
                        "currency": account.currency,
                        "paid_on": TODAY.isoformat(),
                        "channel": "spei",
                    },
                    headers={**floor["headers"]["c1"], "Idempotency-Key": f"count-{n}"},
                )
                assert response.status_code == 201, response.text

        async def statements_for(limit: int) -> int:
            with counted_statements(connection) as statements:
                response = await client.get(
                    f"{API}{path}", params={"limit": limit}, headers=floor["headers"]["manager"]
                )
            assert response.status_code == 200, response.text
            assert len(response.json()["items"]) == limit
            return len(statements)

        assert await statements_for(10) == await statements_for(40)


class TestAccountSummaries:
    async def test_the_account_list_names_debtor_and_collector_in_one_request(
        self, client, connection, floor
    ):
        rows = await items(client, "/accounts", floor["headers"]["lead"])
        by_ref = {row["external_ref"]: row for row in rows}
        a2 = by_ref[ref(floor, "a2")]
        assert a2["debtor"]["full_name"] == "Beto Soto"
        assert a2["assigned_collector_name"] == floor["users"]["c2"].full_name
