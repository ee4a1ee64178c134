"""Plan quotes through the API: one per plan type, validation, visibility and breaches."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from app.domain.roles import Role
from app.models.user import Team, TeamMember
from tests.factories import assert_problem, make_account, make_partner
from tests.helpers.plan_quotes import next_weekday


@pytest.fixture
async def desk(session, make_user, auth_headers):
    """A Mexican partner; a collector (in a team with its lead) assigned a nonaccrual
    account of 10,000 with 1,000 past due and a mid-stage account of 5,000."""
    partner = await make_partner(session)
    collector = await make_user(Role.COLLECTOR)
    lead = await make_user(Role.TEAM_LEAD)
    team = Team(name=f"Equipo {uuid.uuid4().hex[:6]}", lead_id=lead.id)
    session.add(team)
    await session.flush()
    session.add(TeamMember(team_id=team.id, user_id=collector.id))
    nonaccrual = await make_account(
        session,
        partner,
        assigned_collector_id=collector.id,
        dpd=120,
        stage="nonaccrual",
        principal=Decimal("10000.00"),
        interest=Decimal("0"),
        fees=Decimal("0"),
        past_due_amount=Decimal("1000.00"),
    )
    mid = await make_account(
        session,
        partner,
        assigned_collector_id=collector.id,
        dpd=45,
        stage="mid",
        principal=Decimal("5000.00"),
        interest=Decimal("0"),
        fees=Decimal("0"),
        past_due_amount=Decimal("900.00"),
    )
    unassigned = await make_account(session, partner, dpd=120, stage="nonaccrual")
    await session.commit()
    return {
        "nonaccrual": nonaccrual,
        "mid": mid,
        "unassigned": unassigned,
        "collector": auth_headers(collector),
        "lead": auth_headers(lead),
        "manager": auth_headers(await make_user(Role.MANAGER)),
        "auditor": auth_headers(await make_user(Role.AUDITOR)),
    }


async def ask(client, desk, account: str, who: str = "collector", **body: object):
    payload: dict[str, object] = {
        "installments": 1,
        "frequency": "monthly",
        "first_due_date": next_weekday(3),
    }
    payload.update(body)
    return await client.post(
        f"/api/v1/accounts/{desk[account].id}/plan-quotes", json=payload, headers=desk[who]
    )


class TestQuotePlan:
    async def test_settlement_in_one_payment(self, client, desk):
        response = await ask(client, desk, "nonaccrual", plan_type="settlement", discount_pct="30")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["currency"] == "MXN"
        assert body["strategy_version"] == 0
        assert [Decimal(i["amount"]) for i in body["schedule"]] == [Decimal("7000.00")]
        assert body["schedule"][0]["principal"] is None
        assert Decimal(body["totals"]["forgiven"]) == Decimal("3000.00")
        assert Decimal(body["totals"]["agreed_total"]) == Decimal("7000.00")
        assert body["breaches"] == []
        assert body["approver_role"] == "collector"

    async def test_regularization_of_the_past_due_amount(self, client, desk):
        response = await ask(
            client,
            desk,
            "mid",
            plan_type="regularization",
            installments=3,
            down_payment="90.00",
            frequency="biweekly",
        )
        assert response.status_code == 200, response.text
        body = response.json()
        amounts = [Decimal(i["amount"]) for i in body["schedule"]]
        # The down payment is the first obligation (number 0), due on the quote date.
        assert amounts == [Decimal("90.00")] + [Decimal("270.00")] * 3
        assert [i["kind"] for i in body["schedule"]] == ["down_payment"] + ["installment"] * 3
        assert [i["number"] for i in body["schedule"]] == [0, 1, 2, 3]
        assert body["schedule"][0]["due_date"] == body["quoted_on"]
        assert body["totals"]["down_payment_due_date"] == body["quoted_on"]
        assert Decimal(body["totals"]["agreed_total"]) == Decimal("900.00")
        assert body["breaches"] == []
        dates = [i["due_date"] for i in body["schedule"][1:]]
        assert dates == sorted(dates) and len(set(dates)) == 3

    async def test_restructuring_with_interest(self, client, desk):
        response = await ask(
            client,
            desk,
            "mid",
            who="lead",
            plan_type="restructuring",
            installments=12,
            down_payment="500",
            annual_rate_pct="12",
        )
        assert response.status_code == 200, response.text
        body = response.json()
        down, *schedule = body["schedule"]
        assert (down["kind"], Decimal(down["amount"])) == ("down_payment", Decimal("500"))
        # 4,500 at 1% a month over 12: P = 4500·0.01 / (1 − 1.01^−12) = 399.82
        assert Decimal(schedule[0]["amount"]) == Decimal(
            str(round(4500 * 0.01 / (1 - 1.01**-12), 2))
        )
        assert Decimal(schedule[0]["interest"]) == Decimal("45.00")
        assert sum(Decimal(i["principal"]) for i in schedule) == Decimal("4500.00")
        total = Decimal(body["totals"]["down_payment"]) + sum(
            Decimal(i["amount"]) for i in schedule
        )
        assert total == Decimal(body["totals"]["agreed_total"])
        assert body["approver_role"] in ("collector", "manager")

    async def test_discount_above_the_strategy_maximum_is_reported(self, client, desk):
        response = await ask(
            client, desk, "nonaccrual", who="manager", plan_type="settlement", discount_pct="45"
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert [b["code"] for b in body["breaches"]] == ["discount_above_max"]
        assert body["approver_role"] == "manager"
        spanish = await ask(
            client,
            desk | {"es": desk["manager"] | {"Accept-Language": "es"}},
            "nonaccrual",
            who="es",
            plan_type="settlement",
            discount_pct="45",
        )
        [breach] = spanish.json()["breaches"]
        assert breach["message"].startswith("la quita de 45")
        assert "supera el máximo de" in breach["message"]


class TestQuoteValidation:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"plan_type": "settlement", "installments": 0}, "body.installments"),
            ({"plan_type": "settlement", "discount_pct": "101"}, "body.discount_pct"),
            ({"plan_type": "restructuring", "annual_rate_pct": "250"}, "body.annual_rate_pct"),
            ({"plan_type": "settlement", "down_payment": "-5"}, "body.down_payment"),
            ({"plan_type": "settlement", "down_payment": "10000.00"}, "body.down_payment"),
            ({"plan_type": "settlement", "first_due_date": "2000-01-03"}, "body.first_due_date"),
            (
                {"plan_type": "settlement", "first_due_date": next_weekday(95)},
                "body.first_due_date",
            ),
            ({"plan_type": "layaway"}, "body.plan_type"),
        ],
    )
    async def test_invalid_terms_are_422(self, client, desk, body, field):
        response = await ask(client, desk, "nonaccrual", **body)
        assert_problem(response, 422, ("invalid_input", "validation_failed"))
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"][0]["field"] == field


class TestQuoteAccess:
    async def test_collector_cannot_quote_an_unassigned_account(self, client, desk):
        response = await ask(client, desk, "unassigned", plan_type="settlement")
        assert_problem(response, 404, "not_found")

    async def test_auditor_may_not_quote(self, client, desk):
        response = await ask(client, desk, "nonaccrual", who="auditor", plan_type="settlement")
        assert_problem(response, 403, "permission_denied")

    async def test_anonymous_is_401(self, client, desk):
        response = await client.post(
            f"/api/v1/accounts/{desk['nonaccrual'].id}/plan-quotes",
            json={
                "plan_type": "settlement",
                "installments": 1,
                "frequency": "monthly",
                "first_due_date": next_weekday(3),
            },
        )
        assert_problem(response, 401, "not_authenticated")
