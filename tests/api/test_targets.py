"""Monthly recovery targets: set (create, replace), progress against hand-computed sums, who
sees which target, and bad input that writes nothing."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import func, select

from app.models.audit import AuditEvent
from app.models.target import RecoveryTarget
from tests.factories import assert_problem, make_account, partner_bearer
from tests.helpers.commissions import PERIOD, Desk, add_payment, build_desk

TARGETS = "/api/v1/targets"


@pytest.fixture
async def desk(session, make_user) -> Desk:
    """The commission tests' October: see :func:`tests.api.test_commissions.build_desk`."""
    return await build_desk(session, make_user)


async def put_target(client, auth_headers, desk: Desk, body: dict, expected: int = 201) -> dict:
    response = await client.put(TARGETS, json=body, headers=auth_headers(desk.manager))
    assert response.status_code == expected, response.text
    return response.json()


async def all_targets(client, auth_headers, desk: Desk) -> dict[str, dict]:
    """ana 5,000, beto 1,000, the lead's team 8,000 and the partner 10,000 MXN in October."""
    bodies = [
        {
            "scope": "collector",
            "scope_id": str(desk.ana.id),
            "amount": "5000.00",
            "currency": "MXN",
        },
        {"scope": "collector", "scope_id": str(desk.beto.id), "amount": "1000", "currency": "MXN"},
        {"scope": "team", "scope_id": str(desk.team_id), "amount": "8000.00", "currency": "MXN"},
        {"scope": "partner", "scope_id": str(desk.partner.id), "amount": "10000.00"},
    ]
    made = [await put_target(client, auth_headers, desk, {"month": PERIOD, **b}) for b in bodies]
    return {m["scope_id"]: m for m in made}


def listed(response) -> dict[str, dict]:
    assert response.status_code == 200, response.text
    return {item["scope_id"]: item for item in response.json()["items"]}


class TestSetTarget:
    async def test_create_then_replace(self, client, auth_headers, desk, session):
        body = {
            "month": PERIOD, "scope": "collector", "scope_id": str(desk.ana.id),
            "amount": "5000.00", "currency": "MXN",
        }  # fmt: skip
        first = await put_target(client, auth_headers, desk, body)
        assert (first["version"], first["amount"], first["currency"]) == (1, "5000.00", "MXN")
        second = await put_target(client, auth_headers, desk, dict(body, amount="6000"), 200)
        assert (second["id"], second["version"], second["amount"]) == (first["id"], 2, "6000.00")
        assert await session.scalar(select(func.count()).select_from(RecoveryTarget)) == 1
        audited = await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "target.set")
        )
        assert audited == 2

    async def test_partner_target_takes_the_partner_currency(self, client, auth_headers, desk):
        made = await put_target(
            client, auth_headers, desk,
            {"month": PERIOD, "scope": "partner", "scope_id": str(desk.partner.id),
             "amount": "10"},
        )  # fmt: skip
        assert made["currency"] == "MXN"

    async def test_only_managers_and_admins(self, client, auth_headers, desk):
        body = {
            "month": PERIOD, "scope": "collector", "scope_id": str(desk.ana.id),
            "amount": "1", "currency": "MXN",
        }  # fmt: skip
        for user in (desk.lead, desk.ana):
            response = await client.put(TARGETS, json=body, headers=auth_headers(user))
            assert_problem(response, 403, "permission_denied")

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"month": "2026-13"}, "body.month"),
            ({"month": "2026/10"}, "body.month"),
            ({"amount": "-5"}, "body.amount"),
            ({"amount": "0"}, "body.amount"),
            ({"amount": "1.001"}, "body.amount"),
            ({"currency": None}, "body.currency"),
            ({"currency": "mxn"}, "body.currency"),
            ({"scope": "region"}, "body.scope"),
            ({"scope_id": str(uuid.uuid4())}, "body.scope_id"),
            ({"scope": "team", "scope_id": str(uuid.uuid4())}, "body.scope_id"),
            ({"scope": "partner", "currency": "COP"}, "body.currency"),
        ],
    )
    async def test_bad_input_is_422_and_writes_nothing(
        self, client, auth_headers, desk, session, change, field
    ):
        body = {
            "month": PERIOD, "scope": "collector", "scope_id": str(desk.ana.id),
            "amount": "5000.00", "currency": "MXN",
        }  # fmt: skip
        body.update(change)
        if body["scope"] == "partner" and "scope_id" not in change:
            body["scope_id"] = str(desk.partner.id)
        response = await client.put(TARGETS, json=body, headers=auth_headers(desk.manager))
        assert_problem(response, 422, ("invalid_input", "validation_failed"))
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in response.json()["errors"]]
        assert await session.scalar(select(func.count()).select_from(RecoveryTarget)) == 0

    async def test_a_lead_is_not_a_collector_target(self, client, auth_headers, desk, session):
        body = {
            "month": PERIOD, "scope": "collector", "scope_id": str(desk.lead.id),
            "amount": "1", "currency": "MXN",
        }  # fmt: skip
        response = await client.put(TARGETS, json=body, headers=auth_headers(desk.manager))
        assert_problem(response, 422, "invalid_input")


class TestProgress:
    async def test_hand_computed_progress(self, client, auth_headers, desk):
        await all_targets(client, auth_headers, desk)
        items = listed(
            await client.get(TARGETS, params={"month": PERIOD}, headers=auth_headers(desk.manager))
        )
        # ana: applied October payments 1000 + 333.33 + 2000 + 500 (the two reversed ones,
        # 400 and 250, do not count; September and November are other months).
        ana = items[str(desk.ana.id)]
        assert (ana["recovered"], ana["remaining"], ana["percent"]) == (
            "3833.33",
            "1166.67",
            "76.67",
        )
        beto = items[str(desk.beto.id)]  # 100 of 1,000
        assert (beto["recovered"], beto["percent"]) == ("100.00", "10.00")
        team = items[str(desk.team_id)]  # ana's team, by her membership
        assert (team["recovered"], team["percent"]) == ("3833.33", "47.92")
        partner = items[str(desk.partner.id)]  # everyone's on the partner: 3833.33 + 100
        assert (partner["recovered"], partner["percent"]) == ("3933.33", "39.33")

    async def test_credit_is_not_progress(self, client, auth_headers, desk, session):
        """A payment that met no debt (all credit, e.g. on a closed account) recovers
        nothing: beto stays at 100 of 1,000."""
        await all_targets(client, auth_headers, desk)
        account = await make_account(
            session, desk.partner, assigned_collector_id=desk.beto.id, status="closed"
        )
        payment = await add_payment(session, account, "700.00", date(2026, 10, 20), stage="early")
        payment.allocation = {
            **payment.allocation,
            "balance": {"past_due": "0", "fees": "0", "interest": "0", "principal": "0"},
            "credit": "700.00",
        }
        payment.credit_amount = Decimal("700.00")
        await session.commit()
        items = listed(
            await client.get(TARGETS, params={"month": PERIOD}, headers=auth_headers(desk.manager))
        )
        assert items[str(desk.beto.id)]["recovered"] == "100.00"

    async def test_another_month_has_its_own_progress(self, client, auth_headers, desk):
        await put_target(
            client, auth_headers, desk,
            {"month": "2026-11", "scope": "collector", "scope_id": str(desk.ana.id),
             "amount": "888.00", "currency": "MXN"},
        )  # fmt: skip
        items = listed(
            await client.get(TARGETS, params={"month": "2026-11"}, headers=auth_headers(desk.ana))
        )
        assert items[str(desk.ana.id)]["percent"] == "100.00"
        assert items[str(desk.ana.id)]["remaining"] == "0.00"

    async def test_pages(self, client, auth_headers, desk):
        await all_targets(client, auth_headers, desk)
        seen: list[str] = []
        cursor = None
        while True:
            params = {"month": PERIOD, "limit": 3, **({"cursor": cursor} if cursor else {})}
            response = await client.get(TARGETS, params=params, headers=auth_headers(desk.manager))
            data = response.json()
            seen += [i["id"] for i in data["items"]]
            cursor = data["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 4

    @pytest.mark.parametrize("month", ["2026-13", "2026-1", "nov"])
    async def test_malformed_month_is_422(self, client, auth_headers, desk, month):
        response = await client.get(
            TARGETS, params={"month": month}, headers=auth_headers(desk.manager)
        )
        assert_problem(response, 422, "validation_failed")
        assert response.headers["content-type"].startswith("application/problem+json")


class TestVisibility:
    async def test_lead_sees_their_team_and_members(self, client, auth_headers, desk):
        await all_targets(client, auth_headers, desk)
        items = listed(
            await client.get(TARGETS, params={"month": PERIOD}, headers=auth_headers(desk.lead))
        )
        assert set(items) == {str(desk.ana.id), str(desk.team_id)}

    async def test_collector_sees_their_own(self, client, auth_headers, desk):
        await all_targets(client, auth_headers, desk)
        for me in (desk.ana, desk.beto):
            items = listed(
                await client.get(TARGETS, params={"month": PERIOD}, headers=auth_headers(me))
            )
            assert set(items) == {str(me.id)}

    async def test_partner_sees_its_own_partner_target(
        self, client, auth_headers, desk, session, settings
    ):
        await all_targets(client, auth_headers, desk)
        own = await partner_bearer(session, settings, desk.partner)
        items = listed(await client.get(TARGETS, params={"month": PERIOD}, headers=own))
        assert set(items) == {str(desk.partner.id)}
        other = await partner_bearer(session, settings, desk.other_partner)
        assert listed(await client.get(TARGETS, params={"month": PERIOD}, headers=other)) == {}

    async def test_scope_filter(self, client, auth_headers, desk):
        await all_targets(client, auth_headers, desk)
        items = listed(
            await client.get(
                TARGETS,
                params={"month": PERIOD, "scope": "team"},
                headers=auth_headers(desk.manager),
            )
        )
        assert set(items) == {str(desk.team_id)}
