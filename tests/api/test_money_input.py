"""Money as it enters (issue 15): every amount is read by one reader and held to its
currency's decimals. A bad amount is a 422 naming the field, and nothing is written; an
intake row with one is rejected on its own while the good rows of the push go in."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col
from stdnum.cl import rut

from app.domain.roles import Role
from app.models.account import Account
from app.models.interaction import Interaction
from app.models.payment import Payment
from app.models.plan import PaymentPlan
from app.models.promise import Promise
from app.models.target import RecoveryTarget
from app.services import assignments as intake
from tests.factories import assert_problem, business_today, make_account, make_partner
from tests.helpers.assignments import (
    FLAT_HEADER,
    TODAY,
    csv_bytes,
    push_json,
    push_raw,
    row,
)
from tests.helpers.interactions import recent_weekday_noon
from tests.helpers.plan_quotes import next_weekday

CHILE = {"country": "CL", "currency": "CLP", "time_zone": "America/Santiago"}
# Not amounts in any currency: digits of other scripts, exponent, separators, signs, blanks,
# JSON numbers (a float is not money; an integer is not the contract's form).
BAD_FORMS: list[Any] = [
    "\uff19\uff19",  # ９９
    "\u0661\u0662\u0663",  # ١٢٣
    "1e3",
    "1,000.00",
    "1 000",
    " 100",
    "NaN",
    "Infinity",
    "+5",
    "-5",
    "",
    99.5,
    100,
    True,
]
# Amounts with more decimals than their currency has.
TOO_PRECISE = [("mx", "1.001"), ("cl", "1000.5")]


async def rows_of(session, model) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def the_field(response, field: str) -> dict[str, Any]:
    assert_problem(response, 422, ("invalid_input", "validation_failed"))
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = [e for e in response.json()["errors"] if e["field"] == field]
    assert errors, response.text
    return errors[0]


@pytest.fixture
async def desk(session, make_user, auth_headers):
    """A Mexican and a Chilean partner, each with an account assigned to one collector;
    a manager."""
    collector = await make_user(Role.COLLECTOR)
    mx = await make_partner(session)
    cl = await make_partner(session, **CHILE)
    accounts = {
        "mx": await make_account(session, mx, dpd=40, assigned_collector_id=collector.id),
        "cl": await make_account(
            session,
            cl,
            dpd=40,
            assigned_collector_id=collector.id,
            principal=Decimal("100000"),
            interest=Decimal("0"),
            fees=Decimal("0"),
        ),
    }
    await session.commit()
    return {
        "partners": {"mx": mx, "cl": cl},
        "accounts": accounts,
        "collector": auth_headers(collector),
        "manager": auth_headers(await make_user(Role.MANAGER)),
    }


class TestPayments:
    async def post(self, client, desk, where: str, amount: Any):
        account = desk["accounts"][where]
        body = {
            "account_id": str(account.id),
            "amount": amount,
            "currency": account.currency,
            "paid_on": business_today(desk["partners"][where].time_zone).isoformat(),
            "channel": "spei",
        }
        headers = {**desk["collector"], "Idempotency-Key": uuid.uuid4().hex}
        return await client.post("/api/v1/payments", json=body, headers=headers)

    @pytest.mark.parametrize("amount", BAD_FORMS)
    async def test_a_bad_form_is_refused_and_nothing_written(self, client, session, desk, amount):
        before = await rows_of(session, Payment)
        response = await self.post(client, desk, "mx", amount)
        the_field(response, "body.amount")
        assert await rows_of(session, Payment) == before

    @pytest.mark.parametrize(("where", "amount"), TOO_PRECISE)
    async def test_more_decimals_than_the_currency_is_refused(
        self, client, session, desk, where, amount
    ):
        before = await rows_of(session, Payment)
        response = await self.post(client, desk, where, amount)
        the_field(response, "body.amount")
        assert await rows_of(session, Payment) == before

    async def test_fullwidth_digits_are_refused_in_spanish_too(self, client, desk):
        account = desk["accounts"]["mx"]
        body = {
            "account_id": str(account.id), "amount": "\uff19\uff19", "currency": "MXN",
            "paid_on": business_today().isoformat(), "channel": "spei",
        }  # fmt: skip
        headers = {
            **desk["collector"],
            "Idempotency-Key": uuid.uuid4().hex,
            "Accept-Language": "es-MX",
        }
        response = await client.post("/api/v1/payments", json=body, headers=headers)
        error = the_field(response, "body.amount")
        assert error["type"] == "money_format"
        assert "dígitos" in error["message"]

    async def test_whole_pesos_and_chilean_amounts_are_taken(self, client, session, desk):
        assert (await self.post(client, desk, "mx", "100")).status_code == 201
        response = await self.post(client, desk, "cl", "1000")
        assert response.status_code == 201, response.text
        assert Decimal(response.json()["amount"]) == Decimal("1000")


class TestPromises:
    async def record(self, client, desk, where: str, amount: Any):
        at = recent_weekday_noon()
        body = {
            "channel": "call", "direction": "outbound", "party": "debtor",
            "result_code": "RPC_PTP", "started_at": at.isoformat(),
            "ended_at": (at + timedelta(minutes=3)).isoformat(),
            "contact_point_id": str(uuid.uuid4()),
            "promise": {"amount": amount, "due_date": (at.date() + timedelta(days=3)).isoformat()},
        }  # fmt: skip
        account = desk["accounts"][where]
        return await client.post(
            f"/api/v1/accounts/{account.id}/interactions", json=body, headers=desk["collector"]
        )

    @pytest.mark.parametrize("amount", ["\uff19\uff19", "\u0661\u0662\u0663", "1e3", "1,000.00"])
    async def test_a_bad_form_is_refused(self, client, session, desk, amount):
        before = (await rows_of(session, Promise), await rows_of(session, Interaction))
        response = await self.record(client, desk, "mx", amount)
        the_field(response, "body.promise.amount")
        assert (await rows_of(session, Promise), await rows_of(session, Interaction)) == before

    @pytest.mark.parametrize(("where", "amount"), TOO_PRECISE)
    async def test_more_decimals_than_the_currency_is_refused(
        self, client, session, desk, where, amount
    ):
        before = (await rows_of(session, Promise), await rows_of(session, Interaction))
        response = await self.record(client, desk, where, amount)
        error = the_field(response, "body.promise.amount")
        assert desk["accounts"][where].currency in error["message"]
        assert (await rows_of(session, Promise), await rows_of(session, Interaction)) == before


class TestPlanQuotes:
    async def quote(self, client, desk, where: str, down_payment: Any):
        account = desk["accounts"][where]
        body = {
            "plan_type": "regularization",
            "down_payment": down_payment,
            "installments": 2,
            "frequency": "monthly",
            "first_due_date": next_weekday(3),
        }
        return await client.post(
            f"/api/v1/accounts/{account.id}/plan-quotes", json=body, headers=desk["collector"]
        )

    @pytest.mark.parametrize(
        ("where", "amount"),
        [("mx", "\uff19\uff19"), ("mx", "\u0661\u0662\u0663"), ("mx", "1e3"),
         ("mx", "1,000.00"), *TOO_PRECISE],
    )  # fmt: skip
    async def test_a_bad_down_payment_is_refused(self, client, session, desk, where, amount):
        before = await rows_of(session, PaymentPlan)
        response = await self.quote(client, desk, where, amount)
        the_field(response, "body.down_payment")
        assert await rows_of(session, PaymentPlan) == before

    @pytest.mark.parametrize(
        ("field", "value"),
        [("discount_pct", "\uff11\uff10"), ("discount_pct", "\u0661\u0660"),
         ("annual_rate_pct", "\uff11\uff12")],
    )  # fmt: skip
    async def test_a_percentage_in_other_digits_is_refused(self, client, desk, field, value):
        """Not money, but a number all the same: Decimal would read "１０" as 10."""
        account = desk["accounts"]["mx"]
        plan_type = "settlement" if field == "discount_pct" else "restructuring"
        body = {"plan_type": plan_type, "installments": 2, "frequency": "monthly",
                "first_due_date": next_weekday(3), field: value}  # fmt: skip
        response = await client.post(
            f"/api/v1/accounts/{account.id}/plan-quotes", json=body, headers=desk["collector"]
        )
        the_field(response, f"body.{field}")

    async def test_a_whole_chilean_down_payment_is_quoted(self, client, desk):
        response = await self.quote(client, desk, "cl", "100")
        assert response.status_code == 200, response.text


class TestTargets:
    async def put(self, client, desk, where: str, amount: Any):
        partner = desk["partners"][where]
        body = {
            "month": f"{business_today():%Y-%m}",
            "scope": "partner",
            "scope_id": str(partner.id),
            "amount": amount,
        }
        return await client.put("/api/v1/targets", json=body, headers=desk["manager"])

    @pytest.mark.parametrize(
        ("where", "amount"),
        [("mx", "\uff19\uff19"), ("mx", "\u0661\u0662\u0663"), ("mx", "1e3"),
         ("mx", "1,000.00"), ("mx", "0"), *TOO_PRECISE],
    )  # fmt: skip
    async def test_a_bad_amount_is_refused(self, client, session, desk, where, amount):
        before = await rows_of(session, RecoveryTarget)
        response = await self.put(client, desk, where, amount)
        the_field(response, "body.amount")
        assert await rows_of(session, RecoveryTarget) == before

    async def test_a_whole_chilean_target_is_set(self, client, desk):
        response = await self.put(client, desk, "cl", "5000000")
        assert response.status_code == 201, response.text
        assert response.json()["currency"] == "CLP"


def chilean_row(ref: str, n: int, **overrides: Any) -> dict[str, Any]:
    """A JSON row of a Chilean partner: pesos without decimals, a RUT."""
    number = str(12_345_670 + n)
    data = row(
        ref,
        currency="CLP", original_amount="500000", principal="100000", interest="20000",
        fees="0", total="120000", past_due_amount="30000",
        debtor={
            "first_names": "Camila", "last_names": "Rojas Soto", "national_id_type": "RUT",
            "national_id": number + rut.calc_check_digit(number), "phones": ["+56 9 6123 4567"],
        },
        references=[], guarantors=[],
    )  # fmt: skip
    data.update(overrides)
    return data


def chilean_flat_row(ref: str, n: int, **overrides: Any) -> dict[str, Any]:
    number = str(12_345_670 + n)
    data: dict[str, Any] = dict.fromkeys(FLAT_HEADER) | {
        "external_ref": ref, "product_type": "installment", "currency": "CLP",
        "principal": "100000", "interest": "20000", "fees": "0", "total": "120000",
        "past_due_amount": "30000",
        "oldest_unpaid_due_date": (TODAY - timedelta(days=70)).isoformat(),
        "debtor_first_names": "Camila", "debtor_last_names": "Rojas Soto",
        "debtor_national_id_type": "RUT",
        "debtor_national_id": number + rut.calc_check_digit(number),
        "debtor_phones": "+56 9 6123 4567",
    }  # fmt: skip
    data.update(overrides)
    return data


class TestIntake:
    async def rejections(self, client, desk, assignment_id) -> dict[str, tuple[str, str]]:
        response = await client.get(
            f"/api/v1/assignments/{assignment_id}/rejections", headers=desk["manager"]
        )
        assert response.status_code == 200, response.text
        return {r["external_ref"]: (r["field"], r["message"]) for r in response.json()["items"]}

    async def refs(self, session, partner) -> set[str]:
        found = await session.scalars(
            select(Account.external_ref).where(col(Account.partner_id) == partner.id)
        )
        return {ref for ref in found if ref.startswith("CL-")}  # not the desk's account

    async def test_a_json_row_with_centavos_in_pesos_chilenos_is_rejected_alone(
        self, client, session, desk
    ):
        partner = desk["partners"]["cl"]
        rows = [
            chilean_row("CL-1", 1),
            chilean_row("CL-2", 2, total="120000.50", interest="20000.50"),
            chilean_row("CL-3", 3, principal="\uff11\uff10\uff10\uff10\uff10\uff10"),
            chilean_row("CL-4", 4, fees="1e3", total="121000"),
            chilean_row("CL-5", 5, total="120000.00"),  # zeros are no decimals
        ]
        response = await push_json(client, desk["manager"], partner, rows)
        assert response.status_code == 202, response.text
        done = await intake.process_assignment(session, uuid.UUID(response.json()["id"]))
        assert (done.created, done.rejected) == (2, 3)
        rejected = await self.rejections(client, desk, done.id)
        assert set(rejected) == {"CL-2", "CL-3", "CL-4"}
        field, message = rejected["CL-2"]
        assert field in ("interest", "total") and "CLP" in message
        assert rejected["CL-3"][0] == "principal"
        assert rejected["CL-4"][0] == "fees"
        assert await self.refs(session, partner) == {"CL-1", "CL-5"}
        stored = (
            await session.scalars(select(Account).where(col(Account.external_ref) == "CL-5"))
        ).one()
        assert stored.total == Decimal("120000")

    async def test_a_csv_row_with_centavos_in_pesos_chilenos_is_rejected_alone(
        self, client, session, desk
    ):
        partner = desk["partners"]["cl"]
        body = csv_bytes(
            [
                chilean_flat_row("CL-1", 1),
                chilean_flat_row("CL-2", 2, fees="0.50", total="120000.50"),
                chilean_flat_row("CL-3", 3),
            ]
        )
        response = await push_raw(client, desk["manager"], partner, body, "text/csv")
        assert response.status_code == 202, response.text
        done = await intake.process_assignment(session, uuid.UUID(response.json()["id"]))
        assert (done.created, done.rejected) == (2, 1)
        rejected = await self.rejections(client, desk, done.id)
        assert list(rejected) == ["CL-2"]
        field, message = rejected["CL-2"]
        assert field in ("fees", "total") and "CLP" in message
        assert await self.refs(session, partner) == {"CL-1", "CL-3"}
