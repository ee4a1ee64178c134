"""Commission terms and the commission report: tiers and clawback against hand-computed
figures, CSV, who sees which rows, and bad input that writes nothing."""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlmodel import col, func, select

from app.domain.commissions import applied_to_debt, recovery_type_of
from app.domain.roles import Role
from app.models.account import Account
from app.models.audit import AuditEvent
from app.models.partner import Partner
from app.models.target import CommissionTerms
from app.models.user import User
from app.services.commissions import BASE_SQL, RECOVERY_TYPE_SQL
from tests.factories import (
    assert_problem,
    business_today,
    make_account,
    make_partner,
    make_plan,
    partner_bearer,
)
from tests.helpers.commissions import PERIOD, TERMS_BODY, Desk, build_desk

REPORT = "/api/v1/reports/commissions"


def terms_url(partner_id: object) -> str:
    return f"/api/v1/partners/{partner_id}/commission-terms"


@pytest.fixture
async def desk(session, make_user) -> Desk:
    return await build_desk(session, make_user)


async def set_terms(client, auth_headers, desk: Desk, body=None):
    response = await client.put(
        terms_url(desk.partner.id), json=body or TERMS_BODY, headers=auth_headers(desk.manager)
    )
    assert response.status_code == 200, response.text
    return response.json()


def by_collector(data: dict) -> dict[str, dict]:
    return {row["collector_id"]: row for row in data["rows"]}


def lines_of(row: dict) -> dict[tuple[str, str], dict]:
    return {(line["stage"], line["recovery_type"]): line for line in row["lines"]}


class TestCommissionTerms:
    async def test_manager_sets_versions_and_reads_them(self, client, auth_headers, desk, session):
        first = await set_terms(client, auth_headers, desk)
        assert first["version"] == 1
        assert first["tiers"][4] == {
            "stage": "late",
            "recovery_type": "plan_installment",
            "rate_pct": "7.50",
        }
        assert (first["volume_tiers"], first["accelerator"]) == ([], None)
        second = await set_terms(client, auth_headers, desk, dict(TERMS_BODY, clawback_days=10))
        assert second["version"] == 2
        response = await client.get(terms_url(desk.partner.id), headers=auth_headers(desk.ana))
        assert response.status_code == 200
        data = response.json()
        assert data["current"]["version"] == 2
        assert [v["version"] for v in data["versions"]] == [2, 1]
        actions = await session.scalars(
            select(col(AuditEvent.action)).where(
                col(AuditEvent.action) == "commission_terms.created"
            )
        )
        assert len(list(actions)) == 2

    async def test_no_terms_yet(self, client, auth_headers, desk):
        response = await client.get(terms_url(desk.partner.id), headers=auth_headers(desk.lead))
        assert response.json() == {"current": None, "versions": []}

    async def test_lead_and_collector_cannot_set_terms(self, client, auth_headers, desk):
        for user in (desk.lead, desk.ana):
            response = await client.put(
                terms_url(desk.partner.id), json=TERMS_BODY, headers=auth_headers(user)
            )
            assert_problem(response, 403, "permission_denied")

    async def test_partner_reads_its_own_terms_only(self, client, session, settings, desk):
        headers = await partner_bearer(session, settings, desk.partner)
        assert (await client.get(terms_url(desk.partner.id), headers=headers)).status_code == 200
        foreign = await client.get(terms_url(desk.other_partner.id), headers=headers)
        assert_problem(foreign, 404, "not_found")

    async def test_unknown_partner_is_404(self, client, auth_headers, desk):
        response = await client.put(
            terms_url(uuid.uuid4()), json=TERMS_BODY, headers=auth_headers(desk.manager)
        )
        assert_problem(response, 404, "not_found")

    @pytest.mark.parametrize(
        "tier",
        [
            {"rate_pct": "-1"},
            {"rate_pct": "100.5"},
            {"stage": "overdue", "rate_pct": "5"},
            {"recovery_type": "partial", "rate_pct": "5"},
            {"rate_pct": "1.234"},
        ],
    )
    async def test_bad_tier_is_422_and_writes_nothing(
        self, client, auth_headers, desk, session, tier
    ):
        audit_before = await session.scalar(select(func.count()).select_from(AuditEvent))
        response = await client.put(
            terms_url(desk.partner.id),
            json={"clawback_days": 30, "tiers": [tier]},
            headers=auth_headers(desk.manager),
        )
        assert_problem(response, 422, "validation_failed")
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"][0]["field"].startswith("body.tiers.0")
        assert await session.scalar(select(func.count()).select_from(CommissionTerms)) == 0
        assert await session.scalar(select(func.count()).select_from(AuditEvent)) == audit_before

    @pytest.mark.parametrize(
        "body",
        [
            {"clawback_days": -1, "tiers": [{"rate_pct": "1"}]},
            {"clawback_days": 30, "tiers": []},
            {
                "clawback_days": 30,
                "tiers": [{"stage": "early", "rate_pct": "1"}, {"stage": "early", "rate_pct": "2"}],
            },
        ],
    )
    async def test_bad_terms_are_422(self, client, auth_headers, desk, session, body):
        response = await client.put(
            terms_url(desk.partner.id), json=body, headers=auth_headers(desk.manager)
        )
        assert_problem(response, 422, ("invalid_input", "validation_failed"))
        assert response.headers["content-type"].startswith("application/problem+json")
        assert await session.scalar(select(func.count()).select_from(CommissionTerms)) == 0


class TestCommissionReport:
    async def test_tiers_and_clawback_hand_computed(self, client, auth_headers, desk):
        await set_terms(client, auth_headers, desk)
        response = await client.get(
            REPORT, params={"period": PERIOD}, headers=auth_headers(desk.manager)
        )
        assert response.status_code == 200, response.text
        rows = by_collector(response.json())
        ana = rows[str(desk.ana.id)]
        assert ana["currency"] == "MXN"
        assert ana["partner_id"] == str(desk.partner.id)
        assert ana["payments"] == 6
        assert Decimal(ana["base"]) == Decimal("4483.33")
        assert Decimal(ana["earned"]) == Decimal("227.17")
        assert Decimal(ana["clawed_back"]) == Decimal("42.50")
        assert Decimal(ana["net"]) == Decimal("184.67")
        lines = lines_of(ana)
        expected = {
            # (stage, type): (rate, payments, recovered, clawed payments, earned, clawed, net)
            ("early", "full_payment"): ("10", 1, "1000.00", 0, "100.00", "0.00", "100.00"),
            ("early", "plan_installment"): ("5", 1, "333.33", 0, "16.67", "0.00", "16.67"),
            ("late", "settlement"): ("3", 1, "2000.00", 0, "60.00", "0.00", "60.00"),
            ("late", "plan_installment"): ("7.5", 1, "500.00", 1, "37.50", "37.50", "0.00"),
            ("mid", "partial_payment"): ("2", 2, "650.00", 1, "13.00", "5.00", "8.00"),
        }
        assert set(lines) == set(expected)
        for key, (rate, n, recovered, n_back, earned, back, net) in expected.items():
            line = lines[key]
            assert line["terms_version"] == 1
            assert Decimal(line["rate_pct"]) == Decimal(rate), key
            assert (line["payments"], line["clawed_back_payments"]) == (n, n_back), key
            assert Decimal(line["base"]) == Decimal(recovered), key
            assert Decimal(line["earned"]) == Decimal(earned), key
            assert Decimal(line["clawed_back"]) == Decimal(back), key
            assert Decimal(line["net"]) == Decimal(net), key
        assert [
            (t["recovery_type"], t["payments"], t["base"]) for t in ana["by_recovery_type"]
        ] == [
            ("full_payment", 1, "1000.00"),
            ("partial_payment", 2, "650.00"),
            ("plan_installment", 2, "833.33"),
            ("settlement", 1, "2000.00"),
        ]
        assert (ana["volume_bands"], ana["accelerator"]) == ([], None)
        beto = rows[str(desk.beto.id)]
        assert (Decimal(beto["earned"]), Decimal(beto["net"])) == (
            Decimal("5.00"),
            Decimal("5.00"),
        )

    async def test_without_terms_everything_is_zero(self, client, auth_headers, desk):
        response = await client.get(
            REPORT, params={"period": PERIOD}, headers=auth_headers(desk.manager)
        )
        ana = by_collector(response.json())[str(desk.ana.id)]
        assert Decimal(ana["base"]) == Decimal("4483.33")
        assert Decimal(ana["earned"]) == 0
        assert all(line["terms_version"] is None for line in ana["lines"])

    async def test_a_later_version_pays_payments_from_its_date(self, client, auth_headers, desk):
        await set_terms(client, auth_headers, desk)
        # From 2026-10-15 every payment earns 1 % with no clawback window.
        await set_terms(
            client, auth_headers, desk,
            {"effective_from": "2026-10-15", "clawback_days": 0, "tiers": [{"rate_pct": "1"}]},
        )  # fmt: skip
        response = await client.get(
            REPORT, params={"period": PERIOD}, headers=auth_headers(desk.manager)
        )
        rows = by_collector(response.json())
        beto = rows[str(desk.beto.id)]  # paid 2026-10-15: version 2, 1 % of 100.00
        assert [(ln["terms_version"], ln["earned"]) for ln in beto["lines"]] == [(2, "1.00")]
        ana_mid = [ln for ln in rows[str(desk.ana.id)]["lines"] if ln["stage"] == "mid"]
        # 400.00 on 10-01 under version 1 (2 %, kept); 250.00 on 10-25 under version 2
        # (1 %, reversed 30 days later: outside a 0-day window, kept).
        assert sorted((ln["terms_version"], ln["earned"], ln["clawed_back"]) for ln in ana_mid) == [
            (1, "8.00", "0.00"),
            (2, "2.50", "0.00"),
        ]

    async def test_csv(self, client, auth_headers, desk):
        await set_terms(client, auth_headers, desk)
        response = await client.get(
            REPORT,
            params={"period": PERIOD, "collector_id": str(desk.ana.id)},
            headers={**auth_headers(desk.manager), "Accept": "text/csv"},
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert len(rows) == 1
        (row,) = rows
        assert (row["period"], row["collector_id"], row["terms_version"]) == (
            PERIOD,
            str(desk.ana.id),
            "1",
        )
        assert (row["payments"], row["base"]) == ("6", "4483.33")
        assert (
            row["base_full_payment"],
            row["base_partial_payment"],
            row["base_plan_installment"],
            row["base_settlement"],
        ) == ("1000.00", "650.00", "833.33", "2000.00")
        assert "late/plan_installment:7.50" in row["rates_applied"]
        assert (row["accelerator"], row["earned"], row["clawed_back"], row["net"]) == (
            "0.00",
            "227.17",
            "42.50",
            "184.67",
        )

    async def test_collector_sees_only_their_own_row(self, client, auth_headers, desk):
        for me, other in ((desk.ana, desk.beto), (desk.beto, desk.ana)):
            response = await client.get(REPORT, params={"period": PERIOD}, headers=auth_headers(me))
            assert set(by_collector(response.json())) == {str(me.id)}
            asked = await client.get(
                REPORT,
                params={"period": PERIOD, "collector_id": str(other.id)},
                headers=auth_headers(me),
            )
            assert asked.json()["rows"] == []

    async def test_lead_sees_their_team(self, client, auth_headers, desk):
        response = await client.get(
            REPORT, params={"period": PERIOD}, headers=auth_headers(desk.lead)
        )
        assert set(by_collector(response.json())) == {str(desk.ana.id)}

    async def test_partner_sees_its_own_portfolio(self, client, session, settings, desk):
        own = await partner_bearer(session, settings, desk.partner)
        response = await client.get(REPORT, params={"period": PERIOD}, headers=own)
        assert set(by_collector(response.json())) == {str(desk.ana.id), str(desk.beto.id)}
        other = await partner_bearer(session, settings, desk.other_partner)
        response = await client.get(REPORT, params={"period": PERIOD}, headers=other)
        assert response.json()["rows"] == []

    async def test_manager_filters_by_collector(self, client, auth_headers, desk):
        response = await client.get(
            REPORT,
            params={"period": PERIOD, "collector_id": str(desk.beto.id)},
            headers=auth_headers(desk.manager),
        )
        assert set(by_collector(response.json())) == {str(desk.beto.id)}

    @pytest.mark.parametrize("period", ["2026-13", "2026-1", "october", ""])
    async def test_malformed_period_is_422(self, client, auth_headers, desk, period):
        response = await client.get(
            REPORT, params={"period": period}, headers=auth_headers(desk.manager)
        )
        assert_problem(response, 422, "validation_failed")
        assert response.headers["content-type"].startswith("application/problem+json")

    async def test_needs_a_token(self, client):
        response = await client.get(REPORT, params={"period": PERIOD})
        assert_problem(response, 401, "not_authenticated")


@dataclass
class Recoveries:
    partner: Partner
    manager: User
    collector: User
    period: str


async def pay(client, headers, account: Account, amount: str) -> dict:
    response = await client.post(
        "/api/v1/payments",
        json={
            "account_id": str(account.id),
            "amount": amount,
            "currency": account.currency,
            "paid_on": business_today().isoformat(),
            "channel": "spei",
        },
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def recoveries(client, session, settings, make_user, auth_headers) -> Recoveries:
    """Payments made through the payments API today, on accounts of 1,150.00 (1,000
    principal, 100 interest, 50 fees; 40 days past due: mid stage) assigned to one collector:

      A1  1,150.00 closes the account (full payment), then 50.00 on the closed account: all
          credit, base 0, no recovery
      A2    300.00 partial payment
      A3  1,200.00 closes the account: base 1,150.00 (full payment), 50.00 credit
      A4    150.00 first installment of a regularization plan (plan installment)
      A5    200.00 first installment of a settlement plan (settlement)
      A6    100.00 partial payment, reversed today (inside any clawback window)

    Base kept: 1,150 + 300 + 1,150 + 150 + 200 = 2,950.00; with A6, 3,050.00 paid."""
    partner = await make_partner(session)
    manager = await make_user(Role.MANAGER)
    collector = await make_user(Role.COLLECTOR)
    system = await partner_bearer(session, settings, partner)
    accounts = [
        await make_account(session, partner, dpd=40, assigned_collector_id=collector.id)
        for _ in range(6)
    ]
    await make_plan(session, accounts[3], collector, ["150.00", "150.00"])
    settlement = await make_plan(session, accounts[4], collector, ["200.00", "200.00"])
    settlement.plan_type = "settlement"
    settlement.terms = dict(settlement.terms, plan_type="settlement")
    session.add(settlement)
    await session.commit()

    first = await pay(client, system, accounts[0], "1150.00")
    assert first["allocation"]["account_closed"] is True
    credit_only = await pay(client, system, accounts[0], "50.00")
    assert credit_only["credit_amount"] == "50.00"
    assert all(Decimal(v) == 0 for v in credit_only["allocation"]["balance"].values())
    await pay(client, system, accounts[1], "300.00")
    await pay(client, system, accounts[2], "1200.00")
    await pay(client, system, accounts[3], "150.00")
    await pay(client, system, accounts[4], "200.00")
    undone = await pay(client, system, accounts[5], "100.00")
    reversal = await client.post(
        f"/api/v1/payments/{undone['id']}/reversal",
        json={"reason": "SPEI returned"},
        headers=auth_headers(manager),
    )
    assert reversal.status_code == 200, reversal.text
    today = business_today()
    return Recoveries(partner, manager, collector, f"{today.year:04d}-{today.month:02d}")


async def report_row(client, auth_headers, desk: Recoveries, **extra) -> dict:
    response = await client.get(
        REPORT, params={"period": desk.period, **extra}, headers=auth_headers(desk.manager)
    )
    assert response.status_code == 200, response.text
    (row,) = response.json()["rows"]
    assert row["collector_id"] == str(desk.collector.id)
    return row


async def put_terms(client, auth_headers, desk: Recoveries, body: dict) -> dict:
    response = await client.put(
        terms_url(desk.partner.id),
        json={"effective_from": "2026-01-01", "clawback_days": 30, **body},
        headers=auth_headers(desk.manager),
    )
    assert response.status_code == 200, response.text
    return response.json()


class TestWhatARecoveryEarns:
    async def test_recovery_types_and_credit_with_a_flat_rate(
        self, client, auth_headers, recoveries
    ):
        await put_terms(client, auth_headers, recoveries, {"tiers": [{"rate_pct": "5"}]})
        row = await report_row(client, auth_headers, recoveries)
        # The credit-only payment is not a recovery: 6 payments, not 7.
        assert (row["payments"], row["base"]) == (6, "3050.00")
        lines = {ln["recovery_type"]: ln for ln in row["lines"]}
        expected = {
            # type: (payments, base, clawed payments, earned, clawed back, net) at 5 %
            "full_payment": (2, "2300.00", 0, "115.00", "0.00", "115.00"),
            "partial_payment": (2, "400.00", 1, "20.00", "5.00", "15.00"),
            "plan_installment": (1, "150.00", 0, "7.50", "0.00", "7.50"),
            "settlement": (1, "200.00", 0, "10.00", "0.00", "10.00"),
        }
        assert set(lines) == set(expected)
        for kind, (n, base, n_back, earned, back, net) in expected.items():
            line = lines[kind]
            assert line["stage"] == "mid", kind
            assert (line["payments"], line["base"], line["clawed_back_payments"]) == (
                n,
                base,
                n_back,
            ), kind
            assert (line["earned"], line["clawed_back"], line["net"]) == (earned, back, net), kind
        # 50.00 of credit (A3) and the 50.00 on the closed account earn nothing.
        assert (row["earned"], row["clawed_back"], row["net"]) == ("152.50", "5.00", "147.50")

    async def test_reversed_payment_earns_nothing(self, client, auth_headers, recoveries):
        await put_terms(client, auth_headers, recoveries, {"tiers": [{"rate_pct": "5"}]})
        row = await report_row(client, auth_headers, recoveries)
        partial = next(ln for ln in row["lines"] if ln["recovery_type"] == "partial_payment")
        # A6 (100.00) is clawed back whole: net is A2's 300.00 × 5 % only.
        assert (partial["clawed_back_base"], partial["net"]) == ("100.00", "15.00")

    async def test_volume_tiers_and_accelerator_hand_computed(
        self, client, auth_headers, recoveries
    ):
        terms = await put_terms(
            client, auth_headers, recoveries,
            {
                "volume_tiers": [
                    {"from_amount": "0", "rate_pct": "2"},
                    {"from_amount": "1000.00", "rate_pct": "4"},
                    {"from_amount": "2500", "rate_pct": "6"},
                ],
                "accelerator": {"above_target_pct": "80", "extra_rate_pct": "1"},
            },
        )  # fmt: skip
        assert terms["tiers"] == []
        assert terms["volume_tiers"][1] == {"from_amount": "1000.00", "rate_pct": "4.00"}
        assert terms["accelerator"] == {"above_target_pct": "80.00", "extra_rate_pct": "1.00"}
        target = await client.put(
            "/api/v1/targets",
            json={
                "month": recoveries.period,
                "scope": "collector",
                "scope_id": str(recoveries.collector.id),
                "amount": "3000.00",
                "currency": recoveries.partner.currency,
            },
            headers=auth_headers(recoveries.manager),
        )
        assert target.status_code == 201, target.text
        row = await report_row(client, auth_headers, recoveries)
        # Net, on the 2,950.00 kept: bands 1,000 × 2 % = 20 + 1,500 × 4 % = 60
        # + 450 × 6 % = 27 → 107.00; accelerator above 80 % of 3,000 = 2,400:
        # 550 × 1 % = 5.50. Net 112.50.
        assert [
            (b["from_amount"], b["to_amount"], b["base"], b["commission"])
            for b in row["volume_bands"]
        ] == [
            ("0.00", "1000.00", "1000.00", "20.00"),
            ("1000.00", "2500.00", "1500.00", "60.00"),
            ("2500.00", None, "450.00", "27.00"),
        ]
        acc = row["accelerator"]
        assert (acc["target"], acc["threshold"], acc["collector_base"]) == (
            "3000.00",
            "2400.00",
            "2950.00",
        )
        assert (acc["excess"], acc["amount"]) == ("550.00", "5.50")
        # Earned, on the 3,050.00 paid: 20 + 60 + 550 × 6 % = 33 → 113.00, accelerator
        # 650 × 1 % = 6.50 → 119.50. Clawed back 119.50 − 112.50 = 7.00.
        assert (row["earned"], row["clawed_back"], row["net"]) == ("119.50", "7.00", "112.50")
        assert all(ln["rate_pct"] is None and ln["earned"] is None for ln in row["lines"])

        csv_response = await client.get(
            REPORT,
            params={"period": recoveries.period},
            headers={**auth_headers(recoveries.manager), "Accept": "text/csv"},
        )
        (line,) = list(csv.DictReader(io.StringIO(csv_response.text)))
        assert line["rates_applied"] == "0.00-1000.00:2.00; 1000.00-2500.00:4.00; 2500.00-:6.00"
        assert (line["accelerator"], line["net"]) == ("5.50", "112.50")

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"volume_tiers": [{"from_amount": "5", "rate_pct": "1"}]},
             "body.volume_tiers.0.from_amount"),
            ({"volume_tiers": [{"from_amount": "0", "rate_pct": "1"},
                               {"from_amount": "0", "rate_pct": "2"}]},
             "body.volume_tiers.1.from_amount"),
            ({"volume_tiers": [{"from_amount": "0", "rate_pct": "1"}],
              "tiers": [{"rate_pct": "1"}]}, "body.volume_tiers"),
            ({}, "body.tiers"),
            ({"tiers": [{"rate_pct": "1"}],
              "accelerator": {"above_target_pct": "100", "extra_rate_pct": "0"}},
             "body.accelerator.extra_rate_pct"),
        ],
    )  # fmt: skip
    async def test_bad_volume_terms_are_422_in_both_languages(
        self, client, auth_headers, recoveries, session, body, field
    ):
        for lang, title in (("en", "Invalid"), ("es-MX", "inválid")):
            response = await client.put(
                terms_url(recoveries.partner.id),
                json={"clawback_days": 30, **body},
                headers={**auth_headers(recoveries.manager), "Accept-Language": lang},
            )
            assert_problem(response, 422, ("invalid_input", "validation_failed"))
            problem = response.json()
            assert title in problem["title"] or title.lower() in problem["title"].lower()
            assert problem["errors"][0]["field"] == field
        assert await session.scalar(select(func.count()).select_from(CommissionTerms)) == 0


def stored_allocation(
    principal: str, credit: str = "0", *, total: str = "1000.00", plan: bool = False,
    installments: int = 0, closed: bool = False,
) -> dict:  # fmt: skip
    return {
        "balance": {"past_due": "0", "fees": "0", "interest": "0", "principal": principal},
        "credit": credit,
        "plan_id": str(uuid.uuid4()) if plan else None,
        "installments": [{"installment_id": str(n)} for n in range(installments)],
        "account_closed": closed,
        "before": {"total": total, "stage": "mid"},
    }


class TestReportSqlMirrorsTheDomain:
    @pytest.mark.parametrize(
        ("allocation", "plan_type"),
        [
            (stored_allocation("0", "50.00", total="0.00"), None),
            (stored_allocation("300.00"), None),
            (stored_allocation("1000.00", closed=True), None),
            (stored_allocation("1000.00", "5.00"), None),
            (stored_allocation("150.00", plan=True, installments=1), "regularization"),
            (stored_allocation("150.00", plan=True, installments=0), "restructuring"),
            (stored_allocation("200.00", plan=True, installments=1, closed=True), "settlement"),
            (stored_allocation("0", "9.00", plan=True, installments=0), "settlement"),
            (
                stored_allocation("1000.00", plan=True, installments=2, closed=True),
                "regularization",
            ),
        ],
    )
    async def test_base_and_recovery_type(self, session, allocation, plan_type):
        row = (
            await session.execute(
                text(
                    f"SELECT {BASE_SQL} AS base, {RECOVERY_TYPE_SQL} AS kind"
                    " FROM (SELECT CAST(:allocation AS jsonb) AS allocation) c"
                    " LEFT JOIN (SELECT CAST(:plan_type AS text) AS plan_type) pl ON true"
                ),
                {"allocation": json.dumps(allocation), "plan_type": plan_type},
            )
        ).one()
        expected = recovery_type_of(allocation, plan_type)
        assert Decimal(row.base) == applied_to_debt(allocation)
        assert row.kind == (None if expected is None else expected.value)
