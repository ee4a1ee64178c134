"""Payment plans through the API: proposal, approval by role, maker-checker, rejection,
cancellation and visibility (the written agreement: test_agreements.py)."""

from __future__ import annotations

import io
import uuid
from decimal import Decimal

import pytest
from pypdf import PdfReader

from tests.factories import assert_problem
from tests.helpers.plan_quotes import next_weekday
from tests.helpers.plans import (
    act,
    audited,
    propose,
)


@pytest.fixture
def desk(plans_desk):
    """The plans desk: a Mexican partner, a collector and their lead, a manager, an auditor."""
    return plans_desk


class TestProposePlan:
    async def test_within_the_collectors_limits_is_active(self, client, desk, session):
        response = await propose(client, desk)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "active"
        assert body["approver_role"] == "collector"
        assert Decimal(body["totals"]["agreed_total"]) == Decimal("7000.00")
        assert Decimal(body["totals"]["forgiven"]) == Decimal("3000.00")
        assert [Decimal(i["amount"]) for i in body["schedule"]] == [Decimal("7000.00")]
        assert body["schedule"][0]["status"] == "pending"
        assert Decimal(body["terms"]["discount_pct"]) == Decimal("30")
        assert body["proposed_by"] == str(desk["collector_user"].id)
        assert response.headers["Location"] == f"/api/v1/plans/{body['id']}"
        assert await audited(session, body["id"]) == ["plan.proposed"]

    async def test_a_discount_above_the_collectors_threshold_waits_for_a_lead(self, client, desk):
        response = await propose(client, desk, "big", discount_pct="20")
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "pending_approval"
        assert body["approver_role"] == "team_lead"
        assert body["breaches"] == []

    async def test_breaking_a_limit_waits_for_a_manager(self, client, desk):
        response = await propose(client, desk, discount_pct="45")
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "pending_approval"
        assert body["approver_role"] == "manager"
        assert [b["code"] for b in body["breaches"]] == ["discount_above_max"]

    async def test_a_lead_within_their_limit_activates_at_once(self, client, desk):
        response = await propose(client, desk, "big", who="lead", discount_pct="20")
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "active"

    async def test_a_second_open_plan_is_409(self, client, desk):
        assert (await propose(client, desk, discount_pct="45")).status_code == 201
        response = await propose(client, desk)
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "open_plan_exists"

    async def test_invalid_terms_are_422_and_write_nothing(self, client, desk):
        response = await propose(client, desk, installments=0)
        assert_problem(response, 422, "validation_failed")
        listed = await client.get(
            f"/api/v1/accounts/{desk['small'].id}/plans", headers=desk["collector"]
        )
        assert listed.json()["items"] == []

    async def test_auditor_may_not_propose(self, client, desk):
        assert (await propose(client, desk, who="auditor")).status_code == 403

    async def test_collector_cannot_propose_on_an_unassigned_account(self, client, desk):
        assert (await propose(client, desk, "unassigned")).status_code == 404


class TestApprovePlan:
    async def test_the_proposer_may_not_approve_maker_checker(self, client, desk):
        plan = (await propose(client, desk, "big", discount_pct="20")).json()
        response = await act(client, desk, plan["id"], "approve", "collector")
        assert_problem(response, 403, "permission_denied")

    async def test_a_lower_role_may_not_approve(self, client, desk):
        plan = (await propose(client, desk, discount_pct="45")).json()
        response = await act(client, desk, plan["id"], "approve", "lead")
        assert_problem(response, 403, "permission_denied")

    async def test_a_lead_approves_within_their_threshold(self, client, desk, session):
        plan = (await propose(client, desk, "big", discount_pct="20")).json()
        response = await act(client, desk, plan["id"], "approve", "lead", note="Visto bueno")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "active"
        assert body["decision_note"] == "Visto bueno"
        assert body["decided_by"] is not None
        assert body["version"] == plan["version"] + 1
        assert await audited(session, plan["id"]) == ["plan.proposed", "plan.approved"]

    async def test_a_manager_approves_a_plan_breaking_a_limit(self, client, desk):
        plan = (await propose(client, desk, discount_pct="45")).json()
        response = await act(client, desk, plan["id"], "approve", "manager", note=None)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "active"

    async def test_a_plan_not_pending_is_409(self, client, desk):
        plan = (await propose(client, desk)).json()
        assert plan["status"] == "active"
        response = await act(client, desk, plan["id"], "approve", "manager")
        assert_problem(response, 409, "plan_not_pending")

    async def test_a_lead_of_another_team_does_not_see_the_plan(self, client, desk):
        plan = (await propose(client, desk, "big", discount_pct="20")).json()
        response = await act(client, desk, plan["id"], "approve", "other_lead")
        assert_problem(response, 404, "not_found")


class TestIfMatchOnDecisions:
    async def test_an_approval_naming_the_current_version_applies(self, client, desk):
        plan = (await propose(client, desk, discount_pct="45")).json()
        read = await client.get(f"/api/v1/plans/{plan['id']}", headers=desk["manager"])
        response = await client.post(
            f"/api/v1/plans/{plan['id']}/approve",
            json={},
            headers={**desk["manager"], "If-Match": read.headers["ETag"]},
        )
        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == f'"{plan["version"] + 1}"'

    @pytest.mark.parametrize("action", ["approve", "reject", "cancel"])
    async def test_a_stale_version_is_412_and_changes_nothing(self, client, desk, session, action):
        plan = (await propose(client, desk, discount_pct="45")).json()
        stale = f'"{plan["version"] + 7}"'
        response = await client.post(
            f"/api/v1/plans/{plan['id']}/{action}",
            json={"note": "Revisado"},
            headers={**desk["manager"], "If-Match": stale},
        )
        assert response.status_code == 412, response.text
        assert response.json()["code"] == "version_mismatch"
        after = await client.get(f"/api/v1/plans/{plan['id']}", headers=desk["manager"])
        assert after.json()["status"] == "pending_approval"
        assert after.json()["version"] == plan["version"]
        assert await audited(session, plan["id"]) == ["plan.proposed"]

    async def test_a_malformed_etag_is_422(self, client, desk):
        plan = (await propose(client, desk, discount_pct="45")).json()
        response = await client.post(
            f"/api/v1/plans/{plan['id']}/approve",
            json={},
            headers={**desk["manager"], "If-Match": "yesterday"},
        )
        assert_problem(response, 422, "invalid_input")


class TestRejectPlan:
    async def test_a_manager_rejects_with_a_reason(self, client, desk, session):
        plan = (await propose(client, desk, discount_pct="45")).json()
        response = await act(client, desk, plan["id"], "reject", "manager", note="Quita excesiva")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "rejected"
        assert response.json()["decision_note"] == "Quita excesiva"
        again = await act(client, desk, plan["id"], "approve", "manager2")
        assert_problem(again, 409, "plan_not_pending")
        assert await audited(session, plan["id"]) == ["plan.proposed", "plan.rejected"]
        # A rejected plan no longer holds the account.
        assert (await propose(client, desk)).status_code == 201

    async def test_a_rejection_needs_a_note(self, client, desk):
        plan = (await propose(client, desk, discount_pct="45")).json()
        response = await act(client, desk, plan["id"], "reject", "manager", note=None)
        assert_problem(response, 422, "validation_failed")


class TestCancelPlan:
    async def test_the_proposers_lead_cancels_an_active_plan(self, client, desk, session):
        plan = (await propose(client, desk)).json()
        response = await act(client, desk, plan["id"], "cancel", "lead", note="Desistió")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"
        assert response.json()["cancelled_by"] is not None
        again = await act(client, desk, plan["id"], "cancel", "manager")
        assert_problem(again, 409, "plan_not_open")
        assert await audited(session, plan["id"]) == ["plan.proposed", "plan.cancelled"]

    async def test_a_collector_may_not_cancel(self, client, desk):
        plan = (await propose(client, desk)).json()
        response = await act(client, desk, plan["id"], "cancel", "collector")
        assert_problem(response, 403, "permission_denied")

    async def test_a_manager_cancels_a_pending_plan(self, client, desk):
        plan = (await propose(client, desk, discount_pct="45")).json()
        response = await act(client, desk, plan["id"], "cancel", "manager", note=None)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"


class TestReadPlans:
    async def test_get_and_list(self, client, desk):
        plan = (await propose(client, desk)).json()
        got = await client.get(f"/api/v1/plans/{plan['id']}", headers=desk["auditor"])
        assert got.status_code == 200
        assert got.json() == plan
        assert got.headers["ETag"] == f'"{plan["version"]}"'
        listed = await client.get(
            f"/api/v1/accounts/{desk['small'].id}/plans", headers=desk["collector"]
        )
        assert listed.status_code == 200
        assert [p["id"] for p in listed.json()["items"]] == [plan["id"]]

    async def test_a_plan_on_a_foreign_account_is_404(self, client, desk):
        plan = (await propose(client, desk, "unassigned", who="manager")).json()
        response = await client.get(f"/api/v1/plans/{plan['id']}", headers=desk["collector"])
        assert_problem(response, 404, "not_found")
        listed = await client.get(
            f"/api/v1/accounts/{desk['unassigned'].id}/plans", headers=desk["collector"]
        )
        assert_problem(listed, 404, "not_found")
        unknown = await client.get(f"/api/v1/plans/{uuid.uuid4()}", headers=desk["manager"])
        assert_problem(unknown, 404, "not_found")


class TestBreakingRule:
    async def test_the_plan_keeps_the_strategys_rule_and_the_agreement_states_it(
        self, client, desk, session
    ):
        admin = desk["manager"]
        current = await client.get(f"/api/v1/partners/{desk['partner'].id}/strategy", headers=admin)
        assert current.status_code == 200, current.text
        stages = current.json()["current"]["document"]["stages"]
        settlement = stages["nonaccrual"]["plans"]["settlement"]
        assert (settlement["missed_installments_to_break"], settlement["days_late_to_break"]) == (
            2, 30,
        )  # fmt: skip
        settlement.update(missed_installments_to_break=1, days_late_to_break=15)
        stored = await client.put(
            f"/api/v1/partners/{desk['partner'].id}/strategy",
            json={"stages": {"nonaccrual": stages["nonaccrual"]}},
            headers=admin,
        )
        assert stored.status_code == 200, stored.text

        quoted = await client.post(
            f"/api/v1/accounts/{desk['small'].id}/plan-quotes",
            json={"plan_type": "settlement", "installments": 1, "frequency": "monthly",
                  "first_due_date": next_weekday(3), "discount_pct": "30"},
            headers=desk["collector"],
        )  # fmt: skip
        assert quoted.json()["breaks_after"] == {"missed_installments": 1, "days_late": 15}
        plan = (await propose(client, desk)).json()
        assert plan["breaks_after"] == {"missed_installments": 1, "days_late": 15}
        pdf = await client.get(f"/api/v1/plans/{plan['id']}/agreement", headers=desk["collector"])
        text = " ".join(
            page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages
        ).replace("\n", " ")
        assert "queda sin pagar una parcialidad vencida" in text
        assert "más de 15 días de atraso" in text

    async def test_a_strategy_rule_out_of_range_is_422(self, client, desk):
        admin = desk["manager"]
        current = await client.get(f"/api/v1/partners/{desk['partner'].id}/strategy", headers=admin)
        nonaccrual = current.json()["current"]["document"]["stages"]["nonaccrual"]
        nonaccrual["plans"]["settlement"]["days_late_to_break"] = 0
        refused = await client.put(
            f"/api/v1/partners/{desk['partner'].id}/strategy",
            json={"stages": {"nonaccrual": nonaccrual}},
            headers=admin,
        )
        assert_problem(refused, 422, "validation_failed")
