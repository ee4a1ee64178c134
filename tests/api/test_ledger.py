"""The account ledger through the API: the settlement that used to close short, entries per
component for payments, forgiveness and reversals, pushes, reading by role, and the proof
(`verify`) that every account equals the sum of its entries."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import text

from app.domain.roles import Role
from app.models.account import Account
from app.models.plan import PaymentPlan
from app.services import ledger
from tests.factories import assert_problem, make_account, make_partner, partner_bearer
from tests.helpers.payments import body, pay
from tests.helpers.plan_quotes import next_weekday

LEDGER = "/api/v1/accounts/{}/ledger"


@pytest.fixture
async def desk(session, settings, make_user, auth_headers):
    """A Mexican partner; a collector with an 18,000 nonaccrual account all past due; a
    team lead and a manager; the partner's system; another partner's system."""
    partner = await make_partner(session)
    other = await make_partner(session)
    collector = await make_user(Role.COLLECTOR)
    account = await make_account(
        session,
        partner,
        dpd=120,
        stage="nonaccrual",
        principal=Decimal("18000.00"),
        interest=Decimal("0"),
        fees=Decimal("0"),
        past_due_amount=Decimal("18000.00"),
        assigned_collector_id=collector.id,
    )
    system = await partner_bearer(session, settings, partner)
    other_system = await partner_bearer(session, settings, other)
    await session.commit()
    return {
        "account": account,
        "collector": auth_headers(collector),
        "lead": auth_headers(await make_user(Role.TEAM_LEAD)),
        "manager": auth_headers(await make_user(Role.MANAGER)),
        "manager2": auth_headers(await make_user(Role.MANAGER)),
        "partner_system": system,
        "other_system": other_system,
    }


async def entries(client, headers, account_id) -> list[dict]:
    found: list[dict] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        response = await client.get(LEDGER.format(account_id), params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        found.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def sums(found: list[dict]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for e in found:
        out[e["component"]] = out.get(e["component"], Decimal(0)) + Decimal(e["amount"])
    return out


async def settlement(client, desk, **terms: object) -> dict:
    payload = {
        "plan_type": "settlement",
        "installments": 2,
        "frequency": "monthly",
        "first_due_date": next_weekday(10),
        "discount_pct": "25",
        "down_payment": "2700",
    } | terms
    response = await client.post(
        f"/api/v1/accounts/{desk['account'].id}/plans", json=payload, headers=desk["manager"]
    )
    assert response.status_code == 201, response.text
    return response.json()


class TestSettlementOwesWhatItSays:
    async def test_down_payment_is_an_obligation_and_the_plan_does_not_close_short(
        self, client, session, desk
    ):
        account = desk["account"]
        plan = await settlement(client, desk)
        # 18,000 less 25% = 13,500: 2,700 down (due today) + 2 × 5,400.
        assert Decimal(plan["totals"]["agreed_total"]) == Decimal("13500.00")
        assert [(i["number"], i["kind"], Decimal(i["amount"])) for i in plan["schedule"]] == [
            (0, "down_payment", Decimal("2700.00")),
            (1, "installment", Decimal("5400.00")),
            (2, "installment", Decimal("5400.00")),
        ]
        assert plan["status"] == "active"
        first = await pay(client, desk["collector"], body(account, "2700.00"))
        assert first.status_code == 201, first.text
        assert [i["number"] for i in first.json()["allocation"]["installments"]] == [0]
        second = await pay(client, desk["collector"], body(account, "8100.00"))
        assert second.status_code == 201, second.text
        alloc = second.json()["allocation"]
        assert (alloc["plan_completed"], alloc["account_closed"]) == (False, False)
        stored = await session.get(PaymentPlan, uuid.UUID(plan["id"]), populate_existing=True)
        assert stored is not None and stored.status == "active"
        read = await client.get(f"/api/v1/plans/{plan['id']}", headers=desk["manager"])
        left = sum(
            Decimal(i["amount"]) - Decimal(i["paid_amount"]) for i in read.json()["schedule"]
        )
        assert left == Decimal("2700.00")
        fresh = await session.get(Account, account.id, populate_existing=True)
        assert fresh is not None and fresh.total == Decimal("7200.00")
        assert fresh.status == "active"
        # The last 2,700 completes it: 13,500 collected, exactly 4,500 forgiven.
        last = await pay(client, desk["collector"], body(account, "2700.00"))
        assert last.json()["allocation"]["plan_completed"] is True
        assert last.json()["allocation"]["account_closed"] is True
        found = await entries(client, desk["manager"], account.id)
        forgiven = [e for e in found if e["kind"] == "forgiveness"]
        assert sum(Decimal(e["amount"]) for e in forgiven if e["component"] != "past_due") == (
            Decimal("-4500.00")
        )
        paid = [e for e in found if e["kind"] == "payment" and e["component"] == "principal"]
        assert sum(Decimal(e["amount"]) for e in paid) == Decimal("-13500.00")
        assert sums(found)["principal"] == Decimal(0)
        assert (await ledger.verify(session, account.id)).ok

    async def test_paying_more_than_the_settlement_asks_is_credit_not_a_smaller_discount(
        self, client, session, desk
    ):
        account = desk["account"]
        await settlement(client, desk, installments=1, down_payment="0", discount_pct="25")
        response = await pay(client, desk["collector"], body(account, "14000.00"))
        alloc = response.json()["allocation"]
        assert alloc["plan_completed"] is True
        assert Decimal(alloc["credit"]) == Decimal("500.00")
        found = await entries(client, desk["manager"], account.id)
        forgiven = sum(
            Decimal(e["amount"])
            for e in found
            if e["kind"] == "forgiveness" and e["component"] == "principal"
        )
        assert forgiven == Decimal("-4500.00")
        fresh = await session.get(Account, account.id, populate_existing=True)
        assert fresh is not None and fresh.credit == Decimal("500.00")
        assert (await ledger.verify(session, account.id)).ok


class TestReversalsOfACompletedPlan:
    async def test_the_completing_payment_is_reversed_first_and_the_discount_goes_with_it(
        self, client, session, desk
    ):
        account = desk["account"]
        plan = await settlement(client, desk, installments=1)  # 2,700 down + 10,800
        first = await pay(client, desk["collector"], body(account, "2700.00"))
        last = await pay(client, desk["collector"], body(account, "10800.00"))
        assert last.json()["allocation"]["plan_completed"] is True

        async def reverse(payment) -> object:
            return await client.post(
                f"/api/v1/payments/{payment.json()['id']}/reversal",
                json={"reason": "bounced"},
                headers=desk["manager"],
            )

        early = await reverse(first)
        assert early.status_code == 409, early.text
        assert early.json()["code"] == "reversal_out_of_order"
        assert (await reverse(last)).status_code == 200
        assert (await reverse(first)).status_code == 200
        stored = await session.get(PaymentPlan, uuid.UUID(plan["id"]), populate_existing=True)
        assert stored is not None and stored.status == "active"
        fresh = await session.get(Account, account.id, populate_existing=True)
        assert fresh is not None
        assert (fresh.status, fresh.total) == ("active", Decimal("18000.00"))
        found = await entries(client, desk["manager"], account.id)
        assert sums(found)["principal"] == Decimal("18000.00")
        assert (await ledger.verify(session, account.id)).ok


class TestRestructuringInterest:
    async def test_the_plan_interest_is_charged_as_installments_are_paid_and_closes_exactly(
        self, client, session, desk
    ):
        account = desk["account"]
        response = await client.post(
            f"/api/v1/accounts/{account.id}/plans",
            json={"plan_type": "restructuring", "installments": 3, "frequency": "monthly",
                  "first_due_date": next_weekday(10), "annual_rate_pct": "24"},
            headers=desk["manager"],
        )  # fmt: skip
        assert response.status_code == 201, response.text
        plan = response.json()
        # 18,000 at 2% a month over 3: each payment P = 18000·0.02 / (1 − 1.02^−3) ≈ 6,241.58
        assert Decimal(plan["totals"]["financed"]) == Decimal("18000.00")
        interest_total = Decimal(plan["totals"]["interest_total"])
        assert interest_total > 0
        amounts = [Decimal(i["amount"]) for i in plan["schedule"]]
        assert sum(amounts) == Decimal("18000.00") + interest_total
        # Half of the first installment earns half of its interest (rounded down).
        first_interest = Decimal(plan["schedule"][0]["interest"])
        half = (amounts[0] / 2).quantize(Decimal("0.01"))
        paid = await pay(client, desk["collector"], body(account, str(half)))
        assert Decimal(paid.json()["allocation"]["plan_interest"]) == (
            first_interest * half / amounts[0]
        ).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
        rest = [amounts[0] - half, *amounts[1:]]
        for amount in rest:
            paid = await pay(client, desk["collector"], body(account, str(amount)))
            assert paid.status_code == 201, paid.text
        alloc = paid.json()["allocation"]
        assert (alloc["plan_completed"], alloc["account_closed"]) == (True, True)
        assert Decimal(alloc["credit"]) == 0
        found = await entries(client, desk["manager"], account.id)
        charged = sum(Decimal(e["amount"]) for e in found if e["kind"] == "plan_interest")
        assert charged == interest_total
        fresh = await session.get(Account, account.id, populate_existing=True)
        assert fresh is not None and (fresh.total, fresh.credit) == (Decimal(0), Decimal(0))
        assert (await ledger.verify(session, account.id)).ok

    async def test_a_reversed_installment_payment_takes_its_interest_back(
        self, client, session, desk
    ):
        account = desk["account"]
        response = await client.post(
            f"/api/v1/accounts/{account.id}/plans",
            json={"plan_type": "restructuring", "installments": 2, "frequency": "monthly",
                  "first_due_date": next_weekday(10), "annual_rate_pct": "12"},
            headers=desk["manager"],
        )  # fmt: skip
        first = response.json()["schedule"][0]
        paid = await pay(client, desk["collector"], body(account, first["amount"]))
        assert Decimal(paid.json()["allocation"]["plan_interest"]) == Decimal(first["interest"])
        back = await client.post(
            f"/api/v1/payments/{paid.json()['id']}/reversal",
            json={"reason": "bounced"},
            headers=desk["manager"],
        )
        assert back.status_code == 200, back.text
        fresh = await session.get(Account, account.id, populate_existing=True)
        assert fresh is not None
        assert (fresh.principal, fresh.interest, fresh.total) == (
            Decimal("18000.00"),
            Decimal("0.00"),
            Decimal("18000.00"),
        )
        assert (await ledger.verify(session, account.id)).ok


class TestEntries:
    async def test_a_reversal_mirrors_the_payment_entries(self, client, session, desk):
        account = desk["account"]
        paid = await pay(client, desk["collector"], body(account, "100.00"))
        payment_id = paid.json()["id"]
        reversed_ = await client.post(
            f"/api/v1/payments/{payment_id}/reversal",
            json={"reason": "bounced"},
            headers=desk["manager"],
        )
        assert reversed_.status_code == 200, reversed_.text
        found = await entries(client, desk["manager"], account.id)
        mine = [e for e in found if e["payment_id"] == payment_id]
        originals = {e["seq"]: e for e in mine if e["kind"] == "payment"}
        mirrors = [e for e in mine if e["kind"] == "reversal"]
        assert {(e["component"], e["amount"]) for e in originals.values()} == {
            ("principal", "-100.00"),
            ("past_due", "-100.00"),
        }
        assert sorted(e["reverses_seq"] for e in mirrors) == sorted(originals)
        for m in mirrors:
            assert Decimal(m["amount"]) == -Decimal(originals[m["reverses_seq"]]["amount"])
        assert sums(found) == {"principal": Decimal("18000.00"), "past_due": Decimal("18000.00")}
        assert (await ledger.verify(session, account.id)).ok

    async def test_opening_entries_hold_what_the_partner_sent(self, client, desk):
        found = await entries(client, desk["partner_system"], desk["account"].id)
        assert {(e["kind"], e["component"], e["amount_minor"]) for e in found} == {
            ("opening", "principal", 1_800_000),
            ("opening", "past_due", 1_800_000),
        }


class TestReading:
    async def test_another_partner_cannot_read_the_ledger(self, client, desk):
        response = await client.get(LEDGER.format(desk["account"].id), headers=desk["other_system"])
        assert_problem(response, 404, "not_found")

    async def test_an_unassigned_collector_cannot_read_it(
        self, client, desk, make_user, auth_headers
    ):
        stranger = auth_headers(await make_user(Role.COLLECTOR))
        response = await client.get(LEDGER.format(desk["account"].id), headers=stranger)
        assert_problem(response, 404, "not_found")


class TestVerify:
    async def test_verify_names_the_account_whose_row_was_edited_by_hand(self, session, desk):
        account = desk["account"]
        assert (await ledger.verify(session)).ok
        await session.execute(
            text("UPDATE account SET principal = principal + 1, total = total + 1 WHERE id = :id"),
            {"id": account.id},
        )
        result = await ledger.verify(session)
        assert not result.ok and result.disagreeing == 1
        assert result.first is not None and result.first.account_id == account.id
        (wrong,) = result.first.components
        assert (wrong.component, wrong.stored, wrong.entries) == (
            "principal",
            Decimal("18001.00"),
            Decimal("18000.00"),
        )
