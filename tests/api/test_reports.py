"""KPI reports: aging, roll rates, recovery and agents, checked against small cases
computed by hand; CSV against JSON; who sees which figures; period validation."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from app.domain.roles import Role
from app.domain.stages import mop_code
from app.models.account import Account, AccountEvent
from app.models.interaction import Interaction
from app.models.payment import Payment
from app.models.plan import PaymentPlan
from app.models.promise import Promise
from app.services.reports import mop_sql
from tests.factories import assert_problem, make_account, make_partner, make_team, partner_bearer

REPORTS = "/api/v1/reports"
START, END = date(2025, 3, 1), date(2025, 3, 31)
PERIOD = {"from": START.isoformat(), "to": END.isoformat()}
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)
CSV = {"Accept": "text/csv"}


async def add_event(session, account: Account, kind: str, as_of: date, after=None, before=None):
    session.add(
        AccountEvent(
            account_id=account.id, partner_id=account.partner_id, kind=kind, as_of=as_of,
            actor_id="test", before=before, after=after,
        )
    )  # fmt: skip
    await session.flush()


async def created(session, partner, *, on: date, stage: str, total: str = "1150.00", **kw):
    """An account that arrived ``on`` in ``stage`` with balance ``total`` (its history says
    so); its current columns are whatever ``kw`` sets."""
    account = await make_account(session, partner, created_at=LONG_AGO, **kw)
    await add_event(session, account, "created", on, {"stage": stage, "dpd": 0, "total": total})
    return account


async def staged(session, account, on: date, before: str, after: str):
    await add_event(session, account, "stage_changed", on, {"stage": after}, {"stage": before})


async def add_payment(session, account, amount: str, paid_on: date, *, reversed_: bool = False):
    session.add(
        Payment(
            account_id=account.id, partner_id=account.partner_id, amount=Decimal(amount),
            currency=account.currency, paid_on=paid_on, channel="spei",
            idempotency_key=uuid.uuid4().hex, body_sha256="0" * 64,
            status="reversed" if reversed_ else "applied", allocation={},
            recorded_by="test",
            reversed_at=datetime.now(UTC) if reversed_ else None,
            reversed_by="test" if reversed_ else None,
        )
    )  # fmt: skip
    await session.flush()


async def get(client, path: str, headers, **params) -> dict[str, Any]:
    response = await client.get(f"{REPORTS}/{path}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def parse_csv(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


def as_cell(value: Any) -> str:
    return "" if value is None else str(value)


@pytest.fixture
async def staff(make_user, auth_headers):
    manager = await make_user(Role.MANAGER)
    return {"manager": auth_headers(manager)}


class TestAging:
    async def test_counts_and_balances_by_partner_stage_and_mop_code(self, client, session, staff):
        partner = await make_partner(session)
        for dpd in (0, -3, 10, 95, 130):
            await make_account(session, partner, dpd=dpd)
        await make_account(session, partner, dpd=10, status="recalled")
        await session.commit()

        body = await get(client, "aging", staff["manager"], partner_id=str(partner.id))

        got = [
            (r["stage"], r["mop_code"], r["accounts"], r["total_balance"], r["past_due_balance"])
            for r in body["items"]
        ]
        # Each account totals 1,150.00; past due 300.00 once overdue. Recalled ones are out.
        assert got == [
            ("current", "01", 2, "2300.00", "0.00"),
            ("early", "02", 1, "1150.00", "300.00"),
            ("nonaccrual", "05", 1, "1150.00", "300.00"),
            ("nonaccrual", "06", 1, "1150.00", "300.00"),
        ]
        assert {r["partner_id"] for r in body["items"]} == {str(partner.id)}

    async def test_csv_has_the_json_rows(self, client, session, staff):
        partner = await make_partner(session)
        for dpd in (0, 40, 70):
            await make_account(session, partner, dpd=dpd)
        await session.commit()
        params = {"partner_id": str(partner.id)}
        body = await get(client, "aging", staff["manager"], **params)
        response = await client.get(
            f"{REPORTS}/aging", params=params, headers={**staff["manager"], **CSV}
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = parse_csv(response.text)
        assert rows == [{k: as_cell(v) for k, v in item.items()} for item in body["items"]]

    async def test_sql_mop_codes_match_the_domain(self, session):
        result = await session.execute(
            text(f"SELECT d, {mop_sql('d')} FROM generate_series(-5, 400) AS d")
        )
        assert all(code == mop_code(dpd) for dpd, code in result.all())


class TestRollRates:
    async def roll_case(self, session):
        """early → mid, early → early, mid → current, mid (before start) → mid, early →
        mid read from a stage change's `before` alone, and one arrival after the start."""
        p = await make_partner(session)
        a1 = await created(session, p, on=date(2025, 2, 1), stage="early")
        await staged(session, a1, date(2025, 3, 10), "early", "mid")
        await created(session, p, on=date(2025, 2, 1), stage="early")
        a3 = await created(session, p, on=date(2025, 2, 1), stage="mid")
        await staged(session, a3, date(2025, 3, 20), "mid", "current")
        a4 = await created(session, p, on=date(2025, 2, 1), stage="early")
        await staged(session, a4, date(2025, 2, 20), "early", "mid")
        await staged(session, a4, date(2025, 4, 5), "mid", "late")  # after the period
        a5 = await created(session, p, on=date(2025, 3, 15), stage="late")  # arrived later
        await staged(session, a5, date(2025, 3, 25), "late", "nonaccrual")
        a7 = await make_account(session, p, dpd=40, created_at=LONG_AGO)  # no `created` event
        await staged(session, a7, date(2025, 3, 10), "early", "mid")
        await session.commit()
        return p

    async def test_matrix_between_two_dates_from_the_history(self, client, session, staff):
        partner = await self.roll_case(session)

        body = await get(client, "roll-rates", staff["manager"], **PERIOD,
                         partner_id=str(partner.id))  # fmt: skip

        assert body["from"] == "2025-03-01" and body["to"] == "2025-03-31"
        rows = {r["from_stage"]: r for r in body["items"]}
        assert set(rows) == {"early", "mid"}
        early, mid = rows["early"], rows["mid"]
        assert early["accounts"] == 3
        assert {k: v for k, v in early["counts"].items() if v} == {"early": 1, "mid": 2}
        assert early["rates"]["mid"] == "0.6667" and early["rates"]["early"] == "0.3333"
        assert early["rates"]["late"] == "0.0000"
        assert (early["worse"], early["same"], early["better"]) == (2, 1, 0)
        assert early["roll_forward_rate"] == "0.6667"
        assert early["cure_rate"] == "0.0000"
        assert mid["accounts"] == 2
        assert {k: v for k, v in mid["counts"].items() if v} == {"current": 1, "mid": 1}
        assert (mid["worse"], mid["same"], mid["better"]) == (0, 1, 1)
        assert mid["cure_rate"] == "0.5000"
        for row in body["items"]:
            assert sum(row["counts"].values()) == row["accounts"]

    async def test_csv_has_the_json_rows(self, client, session, staff):
        partner = await self.roll_case(session)
        params = {**PERIOD, "partner_id": str(partner.id)}
        body = await get(client, "roll-rates", staff["manager"], **params)
        response = await client.get(
            f"{REPORTS}/roll-rates", params=params, headers={**staff["manager"], **CSV}
        )
        assert response.status_code == 200
        rows = parse_csv(response.text)
        assert len(rows) == len(body["items"])
        for line, item in zip(rows, body["items"], strict=True):
            assert line["from_stage"] == item["from_stage"]
            assert int(line["accounts"]) == item["accounts"]
            for stage, count in item["counts"].items():
                assert int(line[f"to_{stage}"]) == count
                assert line[f"rate_{stage}"] == as_cell(item["rates"][stage])
            assert line["roll_forward_rate"] == as_cell(item["roll_forward_rate"])


class TestRecovery:
    async def recovery_case(self, session):
        p = await make_partner(session)
        other = await make_partner(session)
        r1 = await created(session, p, on=date(2025, 2, 1), stage="early", total="1000.00")
        await add_payment(session, r1, "200.00", date(2025, 3, 5))
        await add_payment(session, r1, "50.00", date(2025, 3, 6), reversed_=True)
        r2 = await created(session, p, on=date(2025, 2, 1), stage="mid", total="2000.00")
        await add_event(session, r2, "balance_changed", date(2025, 2, 15), {"total": "1800.00"},
                        {"total": "2000.00"})  # fmt: skip
        await staged(session, r2, date(2025, 3, 20), "mid", "current")
        await add_payment(session, r2, "500.00", date(2025, 3, 20))  # the payment that cured
        await created(session, p, on=date(2025, 3, 10), stage="late", total="3000.00")
        r4 = await created(session, p, on=date(2025, 2, 1), stage="early", total="500.00")
        await add_payment(session, r4, "99.00", date(2025, 2, 28))  # before the period
        foreign = await created(session, other, on=date(2025, 2, 1), stage="early")
        await add_payment(session, foreign, "777.00", date(2025, 3, 5))
        await session.commit()
        return p, other

    async def test_recovered_against_assigned_balance_and_cures(self, client, session, staff):
        partner, _ = await self.recovery_case(session)

        body = await get(client, "recovery", staff["manager"], **PERIOD,
                         partner_id=str(partner.id))  # fmt: skip

        rows = {r["stage"]: r for r in body["items"]}
        assert list(rows) == ["early", "mid", "late"]
        early, mid, late = rows["early"], rows["mid"], rows["late"]
        # early: r1 (1,000) and r4 (500); paid 200 + 50 (reversed since).
        assert (early["payments"], early["gross_amount"], early["reversed_amount"]) == (
            2, "250.00", "50.00",
        )  # fmt: skip
        assert early["recovered"] == "200.00"
        assert (early["accounts"], early["assigned_balance"]) == (2, "1500.00")
        assert early["recovery_rate"] == "0.1333"  # 200 / 1500
        assert (early["past_due_at_start"], early["cured"], early["cure_rate"]) == (
            2, 0, "0.0000",
        )  # fmt: skip
        # mid: r2, balance 1,800 on the 1st; paid 500 while mid, current by the 31st.
        assert (mid["payments"], mid["recovered"], mid["assigned_balance"]) == (
            1, "500.00", "1800.00",
        )  # fmt: skip
        assert mid["recovery_rate"] == "0.2778"
        assert (mid["past_due_at_start"], mid["cured"], mid["cure_rate"]) == (1, 1, "1.0000")
        # late: arrived on the 10th with 3,000; nothing paid; not in the cure cohort.
        assert (late["payments"], late["recovered"], late["accounts"]) == (0, "0.00", 1)
        assert late["assigned_balance"] == "3000.00" and late["recovery_rate"] == "0.0000"
        assert late["cure_rate"] is None

    async def test_partner_sees_only_its_own_portfolio(self, client, session, settings):
        partner, other = await self.recovery_case(session)
        headers = await partner_bearer(session, settings, other)
        await session.commit()
        own = await get(client, "recovery", headers, **PERIOD)
        assert {r["partner_id"] for r in own["items"]} == {str(other.id)}
        assert [r["recovered"] for r in own["items"]] == ["777.00"]
        asked = await get(client, "recovery", headers, **PERIOD, partner_id=str(partner.id))
        assert asked["items"] == []

    async def test_csv_has_the_json_rows(self, client, session, staff):
        partner, _ = await self.recovery_case(session)
        params = {**PERIOD, "partner_id": str(partner.id)}
        body = await get(client, "recovery", staff["manager"], **params)
        response = await client.get(
            f"{REPORTS}/recovery", params=params, headers={**staff["manager"], **CSV}
        )
        assert parse_csv(response.text) == [
            {k: as_cell(v) for k, v in item.items()} for item in body["items"]
        ]


class TestAgents:
    async def agents_case(self, session, make_user):
        p = await make_partner(session)  # America/Mexico_City: UTC−6 in March 2025
        c1 = await make_user(Role.COLLECTOR)
        c2 = await make_user(Role.COLLECTOR)
        mine = await make_account(session, p, dpd=20, assigned_collector_id=c1.id)
        moved = await make_account(session, p, dpd=20, assigned_collector_id=c2.id)
        await add_event(session, moved, "assigned", date(2025, 3, 1),
                        {"assigned_collector_id": str(c1.id)},
                        {"assigned_collector_id": None})  # fmt: skip
        await add_event(session, moved, "assigned", date(2025, 3, 10),
                        {"assigned_collector_id": str(c2.id)},
                        {"assigned_collector_id": str(c1.id)})  # fmt: skip

        async def call(collector, code, at, promise=None, amends=None):
            i = Interaction(
                account_id=mine.id, partner_id=p.id, debtor_id=mine.debtor_id,
                collector_id=collector.id, channel="call", direction="outbound",
                party="debtor", result_code=code, started_at=at, pack_version="MX-test",
                compliance={}, created_by="test", amends_id=amends,
            )  # fmt: skip
            session.add(i)
            await session.flush()
            if promise:
                session.add(
                    Promise(
                        account_id=mine.id, partner_id=p.id, interaction_id=i.id,
                        amount=Decimal("100.00"), currency="MXN", due_date=date(2025, 3, 9),
                        status=promise, created_by="test",
                    )
                )  # fmt: skip
                await session.flush()
            return i

        noon = datetime(2025, 3, 5, 18, 0, tzinfo=UTC)  # 12:00 local
        await call(c1, "NO_ANSWER", noon)
        await call(c1, "RPC_PTP", noon, promise="kept")
        await call(c1, "RPC_PTP", noon, promise="broken")
        await call(c1, "RPC", datetime(2025, 3, 6, 3, 0, tzinfo=UTC))  # 21:00 on the 5th
        await call(c1, "TPC", noon)
        busy = await call(c1, "BUSY", noon)
        await call(c1, "NO_ANSWER", noon, amends=busy.id)  # the correction replaces it
        await call(c1, "RPC", datetime(2025, 3, 7, 5, 59, tzinfo=UTC))  # 23:59 on the 6th
        await call(c2, "NO_ANSWER", noon)
        await add_payment(session, mine, "300.00", date(2025, 3, 5))
        await add_payment(session, mine, "100.00", date(2025, 3, 5), reversed_=True)
        await add_payment(session, moved, "70.00", date(2025, 3, 5))  # c1's then
        for status in ("active", "rejected"):
            session.add(
                PaymentPlan(
                    account_id=mine.id, partner_id=p.id, plan_type="regularization",
                    status=status, terms={}, breaches=[], agreed_total=Decimal("600.00"),
                    financed=Decimal("600.00"), currency="MXN", quoted_on=date(2025, 3, 5),
                    strategy_version=1, approver_role="collector", proposed_by=c1.id,
                    created_at=datetime(2025, 3, 5, 15, 0, tzinfo=UTC),
                )
            )  # fmt: skip
        await session.commit()
        return p, c1, c2

    async def test_per_collector_and_day(self, client, session, staff, make_user):
        partner, c1, c2 = await self.agents_case(session, make_user)

        body = await get(client, "agents", staff["manager"], **PERIOD,
                         partner_id=str(partner.id))  # fmt: skip

        rows = {(r["collector_id"], r["day"]): r for r in body["items"]}
        assert set(rows) == {
            (str(c1.id), "2025-03-05"), (str(c1.id), "2025-03-06"), (str(c2.id), "2025-03-05"),
        }  # fmt: skip
        day = rows[(str(c1.id), "2025-03-05")]
        assert (day["attempts"], day["right_party_contacts"], day["rpc_rate"]) == (6, 3, "0.5000")
        assert (day["promises"], day["promise_rate"]) == (2, "0.6667")
        assert (day["promises_resolved"], day["promises_kept"], day["promises_kept_rate"]) == (
            2, 1, "0.5000",
        )  # fmt: skip
        assert day["amount_collected"] == "370.00"
        assert day["plans_agreed"] == 1
        assert day["currency"] == "MXN" and day["username"] == c1.username
        late = rows[(str(c1.id), "2025-03-06")]
        assert (late["attempts"], late["right_party_contacts"], late["promise_rate"]) == (
            1, 1, "0.0000",
        )  # fmt: skip
        other = rows[(str(c2.id), "2025-03-05")]
        assert (other["attempts"], other["rpc_rate"], other["promise_rate"]) == (1, "0.0000", None)
        assert other["amount_collected"] == "0.00"

    async def test_collector_sees_only_their_own_rows(
        self, client, session, make_user, auth_headers
    ):
        *_, c2 = await self.agents_case(session, make_user)
        body = await get(client, "agents", auth_headers(c2), **PERIOD)
        assert {r["collector_id"] for r in body["items"]} == {str(c2.id)}

    async def test_team_lead_sees_their_team(self, client, session, make_user, auth_headers):
        _, c1, _ = await self.agents_case(session, make_user)
        lead = await make_user(Role.TEAM_LEAD)
        await make_team(session, lead, [c1])
        await session.commit()
        body = await get(client, "agents", auth_headers(lead), **PERIOD)
        assert {r["collector_id"] for r in body["items"]} == {str(c1.id)}

    async def test_another_partner_sees_nothing(self, client, session, settings, make_user):
        partner, *_ = await self.agents_case(session, make_user)
        other = await make_partner(session)
        headers = await partner_bearer(session, settings, other)
        await session.commit()
        assert (await get(client, "agents", headers, **PERIOD))["items"] == []
        assert (await get(client, "agents", headers, **PERIOD, partner_id=str(partner.id)))[
            "items"
        ] == []
        own = await partner_bearer(session, settings, partner)
        await session.commit()
        assert len((await get(client, "agents", own, **PERIOD))["items"]) == 3

    async def test_csv_has_the_json_rows(self, client, session, staff, make_user):
        partner, *_ = await self.agents_case(session, make_user)
        params = {**PERIOD, "partner_id": str(partner.id)}
        body = await get(client, "agents", staff["manager"], **params)
        response = await client.get(
            f"{REPORTS}/agents", params=params, headers={**staff["manager"], **CSV}
        )
        assert parse_csv(response.text) == [
            {k: as_cell(v) for k, v in item.items()} for item in body["items"]
        ]


class TestAccess:
    async def test_partner_never_sees_another_partners_aging(self, client, session, settings):
        a, b = await make_partner(session), await make_partner(session)
        await make_account(session, a, dpd=10)
        await make_account(session, b, dpd=40)
        headers = await partner_bearer(session, settings, b)
        await session.commit()
        own = await get(client, "aging", headers)
        assert {r["partner_id"] for r in own["items"]} == {str(b.id)}
        assert (await get(client, "aging", headers, partner_id=str(a.id)))["items"] == []

    async def test_collector_aging_covers_their_assigned_accounts(
        self, client, session, make_user, auth_headers
    ):
        partner = await make_partner(session)
        collector = await make_user(Role.COLLECTOR)
        await make_account(session, partner, dpd=40, assigned_collector_id=collector.id)
        await make_account(session, partner, dpd=40)
        await make_account(session, partner, dpd=70)
        await session.commit()
        body = await get(client, "aging", auth_headers(collector))
        assert [(r["stage"], r["accounts"]) for r in body["items"]] == [("mid", 1)]

    @pytest.mark.parametrize("path", ["aging", "roll-rates", "recovery", "agents"])
    async def test_without_a_token_is_401(self, client, path):
        response = await client.get(f"{REPORTS}/{path}", params=PERIOD)
        assert_problem(response, 401, "not_authenticated")
        assert response.headers["content-type"].startswith("application/problem+json")


class TestPeriod:
    @pytest.mark.parametrize("path", ["roll-rates", "recovery", "agents"])
    @pytest.mark.parametrize(
        "params",
        [
            {"from": "2025-03-31", "to": "2025-03-01"},  # reversed
            {"from": "2024-01-01", "to": "2025-01-01"},  # 367 days
            {"from": "2025-02-30", "to": "2025-03-01"},  # no such day
            {"from": "yesterday", "to": "2025-03-01"},
            {"to": "2025-03-01"},  # missing
        ],
    )
    async def test_bad_periods_are_422_problems(self, client, staff, path, params):
        response = await client.get(f"{REPORTS}/{path}", params=params, headers=staff["manager"])
        assert_problem(response, 422, ("invalid_input", "validation_failed"))
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"]

    async def test_a_leap_year_is_allowed(self, client, staff):
        params = {"from": "2024-01-01", "to": "2024-12-31"}
        await get(client, "recovery", staff["manager"], **params)
