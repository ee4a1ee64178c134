"""Payments through the API: recording and allocating, idempotency, references, currency,
visibility by role, reading, listing and exact reversal."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlmodel import col, func, select

from app.domain.roles import Role
from app.models.account import Account, AccountEvent
from app.models.audit import AuditEvent
from app.models.escalation import Escalation
from app.models.payment import Payment
from app.models.plan import PaymentPlan, PlanInstallment
from tests.factories import assert_problem, make_account, make_partner
from tests.helpers.payments import (
    PAYMENTS,
    TODAY,
    add_plan,
    body,
    pay,
)


@pytest.fixture
def desk(payments_desk):
    """The payments desk (tests/helpers/payments.py)."""
    return payments_desk


async def fresh(session, model, key):
    return await session.get(model, key, populate_existing=True)


async def count_payments(session) -> int:
    return int(await session.scalar(select(func.count()).select_from(Payment)) or 0)


async def test_collector_payment_pays_installments_then_balance(client, session, desk):
    account = desk["mine"]
    plan = await add_plan(session, account, desk["collector_user"], ["100.00", "100.00"])
    response = await pay(client, desk["collector"], body(account, "150.00"))
    assert response.status_code == 201, response.text
    data = response.json()
    assert response.headers["Location"] == f"{PAYMENTS}/{data['id']}"
    alloc = data["allocation"]
    assert [(p["number"], p["amount"], p["status_after"]) for p in alloc["installments"]] == [
        (1, "100.00", "paid"),
        (2, "50.00", "partially_paid"),
    ]
    assert alloc["balance"] == {
        "past_due": "150.00",
        "fees": "50.00",
        "interest": "100.00",
        "principal": "0.00",
    }
    assert alloc["credit"] == "0.00" and data["status"] == "applied"
    stored = await fresh(session, Account, account.id)
    assert (stored.total, stored.fees, stored.interest) == (Decimal("1000.00"), 0, 0)
    assert stored.past_due_amount == Decimal("150.00")
    assert (stored.last_payment_date, stored.last_payment_amount) == (TODAY, Decimal("150.00"))
    assert stored.version == 2  # made at 1
    installments = (
        await session.scalars(
            select(PlanInstallment)
            .where(col(PlanInstallment.plan_id) == plan.id)
            .order_by(col(PlanInstallment.number))
            .execution_options(populate_existing=True)
        )
    ).all()
    assert [(i.paid_amount, i.status) for i in installments] == [
        (Decimal("100.00"), "paid"),
        (Decimal("50.00"), "partially_paid"),
    ]
    events = (
        await session.scalars(
            select(AccountEvent).where(
                col(AccountEvent.account_id) == account.id,
                col(AccountEvent.kind) == "balance_changed",
            )
        )
    ).all()
    assert len(events) == 1 and events[0].after["total"] == "1000.00"
    audit = await session.scalar(
        select(AuditEvent).where(
            col(AuditEvent.action) == "payment.applied", col(AuditEvent.entity_id) == data["id"]
        )
    )
    assert audit is not None


async def test_plan_completes_and_stage_moves_at_once(client, session, desk):
    account = desk["mine"]
    plan = await add_plan(session, account, desk["collector_user"], ["150.00", "150.00"])
    response = await pay(client, desk["collector"], body(account, "300.00"))
    assert response.status_code == 201, response.text
    assert response.json()["allocation"]["plan_completed"] is True
    assert (await fresh(session, PaymentPlan, plan.id)).status == "completed"
    stored = await fresh(session, Account, account.id)
    assert (stored.past_due_amount, stored.oldest_unpaid_due_date) == (0, None)
    assert (stored.dpd, stored.stage) == (0, "current")
    kinds = set(
        (
            await session.scalars(
                select(col(AccountEvent.kind)).where(col(AccountEvent.account_id) == account.id)
            )
        ).all()
    )
    assert {"balance_changed", "stage_changed"} <= kinds


async def test_overpayment_is_credit_and_closes_the_account(client, session, desk):
    account = desk["mine"]
    response = await pay(client, desk["partner_system"], body(account, "1200.00"))
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["credit_amount"] == "50.00" and data["allocation"]["account_closed"] is True
    stored = await fresh(session, Account, account.id)
    assert (stored.total, stored.status) == (0, "closed")


async def test_idempotent_replay_writes_nothing_new(client, session, desk):
    payload = body(desk["mine"], "100.00", payer_reference="SPEI-1")
    first = await pay(client, desk["collector"], payload, key="k-1")
    assert first.status_code == 201, first.text
    before = await count_payments(session)
    version = (await fresh(session, Account, desk["mine"].id)).version
    again = await pay(client, desk["collector"], payload, key="k-1")
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert await count_payments(session) == before
    assert (await fresh(session, Account, desk["mine"].id)).version == version
    other = await pay(client, desk["collector"], body(desk["mine"], "99.00"), key="k-1")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"


async def test_key_is_required(client, desk):
    response = await client.post(PAYMENTS, json=body(desk["mine"]), headers=desk["collector"])
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_required"


@pytest.mark.parametrize("paid_on", [0, "0", "86400", 1.5, "8.64e4", "86400E0"])
async def test_a_number_is_not_a_payment_date(client, session, desk, paid_on):
    # pydantic alone reads 0 as 1970-01-01 (Unix seconds); a payment date is written out.
    response = await pay(client, desk["collector"], body(desk["mine"], paid_on=paid_on))
    assert_problem(response, 422, "validation_failed")
    assert [e["field"] for e in response.json()["errors"]] == ["body.paid_on"]
    assert await count_payments(session) == 0


async def test_duplicate_payer_reference_is_409(client, session, desk):
    first = await pay(client, desk["collector"], body(desk["mine"], payer_reference="OXXO-7"))
    assert first.status_code == 201
    before = await count_payments(session)
    again = await pay(client, desk["manager"], body(desk["unassigned"], payer_reference="OXXO-7"))
    assert again.status_code == 409, again.text
    assert await count_payments(session) == before


async def test_currency_mismatch_is_422(client, session, desk):
    response = await pay(client, desk["collector"], body(desk["mine"], currency="USD"))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_input"
    assert await count_payments(session) == 0


async def test_by_external_ref(client, desk):
    account = desk["mine"]
    payload = body(account, external_ref=account.external_ref)
    del payload["account_id"]
    assert (await pay(client, desk["partner_system"], payload)).status_code == 201
    # Staff name the partner.
    missing = await pay(client, desk["manager"], payload)
    assert_problem(missing, 422, "invalid_input")
    payload["partner_id"] = str(desk["partner"].id)
    assert (await pay(client, desk["manager"], payload)).status_code == 201
    both = body(account, external_ref=account.external_ref)
    assert (await pay(client, desk["manager"], both)).status_code == 422


async def test_who_may_pay(client, session, desk):
    unassigned = await pay(client, desk["collector"], body(desk["unassigned"]))
    assert_problem(unassigned, 404, "not_found")
    auditor = await pay(client, desk["auditor"], body(desk["mine"]))
    assert_problem(auditor, 403, "permission_denied")
    other_partner = await make_partner(session)
    foreign = await make_account(session, other_partner)
    await session.commit()
    assert (await pay(client, desk["partner_system"], body(foreign))).status_code == 404
    assert await count_payments(session) == 0


async def test_reversal_restores_balances_and_installments(client, session, desk):
    account = desk["mine"]
    plan = await add_plan(session, account, desk["collector_user"], ["150.00", "150.00"])
    before = await fresh(session, Account, account.id)
    snapshot = (
        before.principal, before.interest, before.fees, before.total, before.past_due_amount,
        before.oldest_unpaid_due_date, before.dpd, before.stage, before.status,
        before.last_payment_date, before.last_payment_amount,
    )  # fmt: skip
    paid = await pay(client, desk["collector"], body(account, "1300.00"))
    assert paid.status_code == 201
    payment_id = paid.json()["id"]
    assert (await fresh(session, Account, account.id)).status == "closed"

    refused = await client.post(
        f"{PAYMENTS}/{payment_id}/reversal", json={"reason": "bounced"}, headers=desk["collector"]
    )
    assert_problem(refused, 403, "permission_denied")
    reversed_ = await client.post(
        f"{PAYMENTS}/{payment_id}/reversal",
        json={"reason": "SPEI returned"},
        headers=desk["manager"],
    )
    assert reversed_.status_code == 200, reversed_.text
    assert reversed_.json()["status"] == "reversed"
    assert reversed_.json()["reversal_reason"] == "SPEI returned"
    after = await fresh(session, Account, account.id)
    assert (
        after.principal, after.interest, after.fees, after.total, after.past_due_amount,
        after.oldest_unpaid_due_date, after.dpd, after.stage, after.status,
        after.last_payment_date, after.last_payment_amount,
    ) == snapshot  # fmt: skip
    assert (await fresh(session, PaymentPlan, plan.id)).status == "active"
    installments = (
        await session.scalars(
            select(PlanInstallment)
            .where(col(PlanInstallment.plan_id) == plan.id)
            .execution_options(populate_existing=True)
        )
    ).all()
    assert {(i.paid_amount, i.status) for i in installments} == {(Decimal("0.00"), "pending")}
    again = await client.post(
        f"{PAYMENTS}/{payment_id}/reversal", json={"reason": "twice"}, headers=desk["admin"]
    )
    assert_problem(again, 409, "payment_already_reversed")
    audit = await session.scalar(
        select(AuditEvent).where(
            col(AuditEvent.action) == "payment.reversed", col(AuditEvent.entity_id) == payment_id
        )
    )
    assert audit is not None


async def test_read_and_list(client, session, desk):
    first = (await pay(client, desk["collector"], body(desk["mine"], "10.00"))).json()
    second = (await pay(client, desk["collector"], body(desk["mine"], "20.00"))).json()
    got = await client.get(f"{PAYMENTS}/{first['id']}", headers=desk["auditor"])
    assert got.status_code == 200 and got.json()["amount"] == "10.00"
    listed = await client.get(
        f"/api/v1/accounts/{desk['mine'].id}/payments",
        params={"limit": 1},
        headers=desk["collector"],
    )
    assert listed.status_code == 200
    page = listed.json()
    assert [p["id"] for p in page["items"]] == [second["id"]]
    rest = await client.get(
        f"/api/v1/accounts/{desk['mine'].id}/payments",
        params={"cursor": page["next_cursor"]},
        headers=desk["collector"],
    )
    assert [p["id"] for p in rest.json()["items"]] == [first["id"]]
    # Not visible: 404.
    other = await make_partner(session)
    foreign = await make_account(session, other)
    await session.commit()
    hidden = await client.get(
        f"/api/v1/accounts/{foreign.id}/payments", headers=desk["partner_system"]
    )
    assert_problem(hidden, 404, "not_found")
    assert (
        await client.get(f"{PAYMENTS}/{uuid.uuid4()}", headers=desk["admin"])
    ).status_code == 404
    assert date.fromisoformat(first["paid_on"]) == TODAY


async def test_a_payment_finds_its_account_by_the_quoted_reference(
    client, session, make_user, auth_headers
):
    from app.domain.payments import serial_of
    from tests.factories import make_account, make_partner

    headers = auth_headers(await make_user(Role.MANAGER))
    partner = await make_partner(session)
    account = await make_account(session, partner, dpd=40, currency="MXN")
    detail = await client.get(f"/api/v1/accounts/{account.id}", headers=headers)
    reference = detail.json()["payment_reference"]
    assert serial_of(reference) == account.payment_serial
    quoted = f"{reference[:4]} {reference[4:8]} {reference[8:]}"
    paid = await client.post(
        "/api/v1/payments",
        json={
            "payment_reference": quoted,
            "amount": "100.00",
            "currency": "MXN",
            "paid_on": "2026-11-20",
            "channel": "cash_store",
        },
        headers={**headers, "Idempotency-Key": "ref-1"},
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["account_id"] == str(account.id)
    typo = reference[:-1] + str((int(reference[-1]) + 1) % 10)
    wrong = await client.post(
        "/api/v1/payments",
        json={
            "payment_reference": typo,
            "amount": "100.00",
            "currency": "MXN",
            "paid_on": "2026-11-20",
            "channel": "cash_store",
        },
        headers={**headers, "Idempotency-Key": "ref-2"},
    )
    assert_problem(wrong, 422, "invalid_input")
    assert wrong.json()["errors"][0]["field"] == "body.payment_reference"


async def _plan_due(session, account, proposer, days_ago: list[int]) -> PaymentPlan:
    """An active plan of 100.00 installments, each due ``days_ago`` days before today."""
    plan = await add_plan(session, account, proposer, ["100.00"] * len(days_ago))
    installments = (
        await session.scalars(
            select(PlanInstallment)
            .where(col(PlanInstallment.plan_id) == plan.id)
            .order_by(col(PlanInstallment.number))
        )
    ).all()
    for inst, days in zip(installments, days_ago, strict=True):
        inst.due_date = TODAY - timedelta(days=days)
        session.add(inst)
    await session.commit()
    return plan


async def test_a_plan_already_broken_is_judged_on_payment(client, session, desk):
    """Two installments missed: the payment breaks the plan (as the nightly job would have),
    meets the balance instead, and management gets the escalation."""
    account = desk["mine"]
    plan = await _plan_due(session, account, desk["collector_user"], [40, 10, -20])
    response = await pay(client, desk["collector"], body(account, "100.00"))
    assert response.status_code == 201, response.text
    alloc = response.json()["allocation"]
    assert alloc["installments"] == []
    assert alloc["plan_id"] is None
    assert alloc["balance"]["past_due"] == "100.00"
    assert (await fresh(session, PaymentPlan, plan.id)).status == "broken"
    escalations = (
        await session.scalars(select(Escalation).where(col(Escalation.account_id) == account.id))
    ).all()
    assert [(e.trigger, e.status) for e in escalations] == [("broken_plan", "open")]
    actions = (
        await session.scalars(
            select(col(AuditEvent.action)).where(col(AuditEvent.entity_id) == str(plan.id))
        )
    ).all()
    assert "plan.broken" in actions


async def test_one_installment_a_few_days_late_keeps_the_plan(client, session, desk):
    account = desk["mine"]
    plan = await _plan_due(session, account, desk["collector_user"], [5, -25])
    response = await pay(client, desk["collector"], body(account, "100.00"))
    assert response.status_code == 201, response.text
    alloc = response.json()["allocation"]
    assert [(p["number"], p["status_after"]) for p in alloc["installments"]] == [(1, "paid")]
    assert (await fresh(session, PaymentPlan, plan.id)).status == "active"


async def test_a_payment_on_a_plan_moves_the_plans_etag(client, session, desk):
    account = desk["mine"]
    plan = await add_plan(session, account, desk["collector_user"], ["100.00", "100.00"])
    read = await client.get(f"/api/v1/plans/{plan.id}", headers=desk["manager"])
    assert read.status_code == 200, read.text
    assert (await pay(client, desk["collector"], body(account, "10.00"))).status_code == 201
    stale = await client.post(
        f"/api/v1/plans/{plan.id}/cancel",
        json={},
        headers={**desk["manager"], "If-Match": read.headers["ETag"]},
    )
    assert_problem(stale, 412, "version_mismatch")
