"""Credit movements through the API: refunds and transfers of an account's credit ("saldo a
favor"), done at once within the self-approval limit or waiting for a second manager, the
credit checked when asked and again when done, transfers paying the target as any payment,
and who may do and see what. Every account involved verifies against its ledger."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlmodel import col, func, select

from app.domain.roles import Role
from app.models.account import Account
from app.models.audit import AuditEvent
from app.models.ledger import CreditMovement, LedgerEntry
from app.models.plan import PlanInstallment
from app.services import ledger
from tests.factories import (
    assert_problem,
    make_account,
    make_debtor,
    make_partner,
    make_plan,
    make_team,
    partner_bearer,
)
from tests.helpers.payments import body, pay

REFUNDS = "/api/v1/accounts/{}/credit-refunds"
TRANSFERS = "/api/v1/accounts/{}/credit-transfers"
MOVEMENTS = "/api/v1/accounts/{}/credit-movements"
MOVEMENT = "/api/v1/credit-movements/{}"


@pytest.fixture
async def desk(client, session, settings, make_user, auth_headers):
    """A debtor with two accounts at one Mexican partner, both worked by a lead's team: the
    source, 1,150 owed (1,000 principal, 100 interest, 50 fees, nothing past due), paid
    9,150, so closed with 8,000 of credit; the target, 1,150 owed with 300 past due and a
    plan of two 400 installments. Another debtor's account at the partner (not the team's),
    and the debtor's account at another partner. Two managers, the lead, a collector of the
    team, a collector of no team, the partner's system and the other partner's."""
    partner = await make_partner(session)
    other = await make_partner(session)
    lead = await make_user(Role.TEAM_LEAD)
    collector = await make_user(Role.COLLECTOR)
    team = await make_team(session, lead, [collector])
    debtor = await make_debtor(session)
    source = await make_account(
        session, partner, debtor, assigned_team_id=team.id, assigned_collector_id=collector.id
    )
    target = await make_account(
        session, partner, debtor, dpd=40, assigned_team_id=team.id,
        assigned_collector_id=collector.id,
    )  # fmt: skip
    stranger = await make_account(session, partner, dpd=40)
    elsewhere = await make_account(session, other, debtor, dpd=40)
    plan = await make_plan(session, target, lead, ["400.00", "400.00"])
    system = await partner_bearer(session, settings, partner)
    other_system = await partner_bearer(session, settings, other)
    await session.commit()
    desk = {
        "source": source,
        "target": target,
        "stranger": stranger,
        "elsewhere": elsewhere,
        "plan": plan,
        "manager": auth_headers(await make_user(Role.MANAGER)),
        "manager2": auth_headers(await make_user(Role.MANAGER)),
        "admin": auth_headers(await make_user(Role.ADMIN)),
        "lead": auth_headers(lead),
        "collector": auth_headers(collector),
        "outsider": auth_headers(await make_user(Role.COLLECTOR)),
        "auditor": auth_headers(await make_user(Role.AUDITOR)),
        "system": system,
        "other_system": other_system,
    }
    paid = await pay(client, desk["manager"], body(source, "9150.00"))
    assert paid.status_code == 201, paid.text
    assert Decimal(paid.json()["allocation"]["credit"]) == Decimal("8000.00")
    return desk


async def refund(client, headers, account, amount: str, **extra: object):
    payload = {"amount": amount, "reason": "Debtor paid twice"} | extra
    return await client.post(REFUNDS.format(account.id), json=payload, headers=headers)


async def transfer(client, headers, account, target, amount: str):
    payload = {"amount": amount, "target_account_id": str(target.id), "reason": "Same debtor"}
    return await client.post(TRANSFERS.format(account.id), json=payload, headers=headers)


async def decide(client, headers, movement_id, action: str = "approve", note: str = "checked"):
    return await client.post(
        f"{MOVEMENT.format(movement_id)}/{action}", json={"note": note}, headers=headers
    )


async def credit_of(session, account) -> Decimal:
    fresh = await session.get(Account, account.id, populate_existing=True)
    assert fresh is not None
    return fresh.credit


async def entries_of(session, movement_id) -> list[LedgerEntry]:
    rows = await session.scalars(
        select(LedgerEntry)
        .where(col(LedgerEntry.credit_movement_id) == uuid.UUID(str(movement_id)))
        .order_by(col(LedgerEntry.seq))
    )
    return list(rows.all())


async def movements_count(session) -> int:
    return int(await session.scalar(select(func.count()).select_from(CreditMovement)) or 0)


async def verified(session, *accounts) -> bool:
    return all([(await ledger.verify(session, a.id)).ok for a in accounts])


class TestRefund:
    async def test_a_manager_refunds_within_the_limit_at_once(self, client, session, desk):
        source = desk["source"]
        response = await refund(
            client, desk["manager"], source, "1500.00", payout_reference="MBAN01002612050001"
        )
        assert response.status_code == 201, response.text
        data = response.json()
        assert (data["status"], data["kind"], data["amount"]) == ("done", "refund", "1500.00")
        assert response.headers["Location"] == MOVEMENT.format(data["id"])
        found = await entries_of(session, data["id"])
        assert [(e.account_id, e.kind, e.component, e.amount_minor) for e in found] == [
            (source.id, "credit_refund", "credit", -150_000)
        ]
        assert await credit_of(session, source) == Decimal("6500.00")
        assert await verified(session, source)
        actions = (
            await session.scalars(
                select(col(AuditEvent.action)).where(col(AuditEvent.entity_id) == data["id"])
            )
        ).all()
        assert list(actions) == ["credit_movement.requested"]

    async def test_exactly_the_limit_is_still_done_at_once(self, client, session, desk):
        response = await refund(client, desk["admin"], desk["source"], "5000.00")
        assert response.json()["status"] == "done"
        assert await credit_of(session, desk["source"]) == Decimal("3000.00")

    async def test_above_the_limit_waits_for_another_manager(self, client, session, desk):
        source = desk["source"]
        response = await refund(client, desk["manager"], source, "5000.01")
        assert response.status_code == 201, response.text
        movement = response.json()
        assert movement["status"] == "pending_approval"
        assert await entries_of(session, movement["id"]) == []
        assert await credit_of(session, source) == Decimal("8000.00")

        own = await decide(client, desk["manager"], movement["id"])
        assert_problem(own, 403, "permission_denied")
        by_lead = await decide(client, desk["lead"], movement["id"])
        assert_problem(by_lead, 403, "permission_denied")
        assert await entries_of(session, movement["id"]) == []

        approved = await decide(client, desk["manager2"], movement["id"])
        assert approved.status_code == 200, approved.text
        assert (approved.json()["status"], approved.json()["decision_note"]) == ("done", "checked")
        found = await entries_of(session, movement["id"])
        assert [(e.kind, e.amount_minor) for e in found] == [("credit_refund", -500_001)]
        assert await credit_of(session, source) == Decimal("2999.99")
        assert await verified(session, source)
        again = await decide(client, desk["manager2"], movement["id"])
        assert_problem(again, 409, "credit_movement_not_pending")

    async def test_a_team_lead_request_always_waits(self, client, session, desk):
        response = await refund(client, desk["lead"], desk["source"], "1.00")
        assert response.json()["status"] == "pending_approval"
        assert await credit_of(session, desk["source"]) == Decimal("8000.00")

    async def test_a_rejection_writes_nothing(self, client, session, desk):
        movement = (await refund(client, desk["lead"], desk["source"], "700.00")).json()
        rejected = await decide(client, desk["manager"], movement["id"], "reject", "Not ours")
        assert rejected.status_code == 200, rejected.text
        assert rejected.json()["status"] == "rejected"
        assert await entries_of(session, movement["id"]) == []
        assert await credit_of(session, desk["source"]) == Decimal("8000.00")
        late = await decide(client, desk["manager2"], movement["id"])
        assert late.status_code == 409

    async def test_more_than_the_credit_is_refused_when_asked(self, client, session, desk):
        response = await refund(client, desk["manager"], desk["source"], "8000.01")
        assert response.status_code == 409
        assert response.json()["code"] == "credit_insufficient"
        assert await movements_count(session) == 0

    async def test_credit_spent_before_the_approval_is_refused_then(self, client, session, desk):
        source = desk["source"]
        waiting = (await refund(client, desk["lead"], source, "5000.00")).json()
        assert waiting["status"] == "pending_approval"
        spent = await refund(client, desk["manager"], source, "4000.00")
        assert spent.json()["status"] == "done"
        response = await decide(client, desk["manager2"], waiting["id"])
        assert response.status_code == 409
        assert response.json()["code"] == "credit_insufficient"
        still = await client.get(MOVEMENT.format(waiting["id"]), headers=desk["manager"])
        assert still.json()["status"] == "pending_approval"
        assert await entries_of(session, waiting["id"]) == []
        assert await credit_of(session, source) == Decimal("4000.00")
        assert await verified(session, source)

    @pytest.mark.parametrize("amount", ["10.001", "0", "-5.00"])
    async def test_bad_amounts_are_422_and_write_nothing(self, client, session, desk, amount):
        response = await refund(client, desk["manager"], desk["source"], amount)
        assert_problem(response, 422, ("invalid_input", "validation_failed"))
        assert await movements_count(session) == 0

    async def test_decimals_a_currency_does_not_have_are_422(
        self, client, session, make_user, auth_headers
    ):
        chile = await make_partner(
            session, country="CL", currency="CLP", time_zone="America/Santiago"
        )
        account = await make_account(session, chile)
        manager = auth_headers(await make_user(Role.MANAGER))
        await session.commit()
        paid = await pay(client, manager, body(account, "2000"))
        assert Decimal(paid.json()["allocation"]["credit"]) == Decimal("850")
        response = await refund(client, manager, account, "10.50")
        assert response.status_code == 422
        assert response.json()["code"] == "invalid_input"
        assert await movements_count(session) == 0
        done = await refund(client, manager, account, "850")
        assert done.json()["status"] == "done"
        found = await entries_of(session, done.json()["id"])
        assert [e.amount_minor for e in found] == [-850]
        assert await verified(session, account)


class TestTransfer:
    async def test_the_target_is_paid_as_any_payment(self, client, session, desk):
        source, target = desk["source"], desk["target"]
        response = await transfer(client, desk["manager"], source, target, "600.00")
        assert response.status_code == 201, response.text
        movement = response.json()
        assert movement["status"] == "done"
        assert movement["target_account_id"] == str(target.id)
        payment = await client.get(
            f"/api/v1/payments/{movement['payment_id']}", headers=desk["manager"]
        )
        paid = payment.json()
        assert (paid["channel"], paid["amount"], paid["account_id"]) == (
            "credit_transfer", "600.00", str(target.id),
        )  # fmt: skip
        # Installments oldest first: the first 400 in full, 200 of the second; the debt:
        # 300 past due, then fees 50, interest 100 and principal 450; no credit left.
        alloc = paid["allocation"]
        assert [(i["number"], i["amount"], i["status_after"]) for i in alloc["installments"]] == [
            (1, "400.00", "paid"),
            (2, "200.00", "partially_paid"),
        ]
        assert alloc["balance"] == {
            "past_due": "300.00", "fees": "50.00", "interest": "100.00", "principal": "450.00",
        }  # fmt: skip
        assert alloc["credit"] == "0.00"
        fresh = await session.get(Account, target.id, populate_existing=True)
        assert fresh is not None
        assert (fresh.total, fresh.past_due_amount, fresh.dpd) == (
            Decimal("550.00"), Decimal("0.00"), 0,
        )  # fmt: skip
        installments = (
            await session.scalars(
                select(PlanInstallment)
                .where(col(PlanInstallment.plan_id) == desk["plan"].id)
                .order_by(col(PlanInstallment.number))
                .execution_options(populate_existing=True)
            )
        ).all()
        assert [i.paid_amount for i in installments] == [Decimal("400.00"), Decimal("200.00")]
        assert await credit_of(session, source) == Decimal("7400.00")
        found = await entries_of(session, movement["id"])
        assert {(e.account_id, e.kind, e.component, e.amount_minor) for e in found} == {
            (source.id, "credit_transfer_out", "credit", -60_000),
            (target.id, "payment", "past_due", -30_000),
            (target.id, "payment", "fees", -5_000),
            (target.id, "payment", "interest", -10_000),
            (target.id, "payment", "principal", -45_000),
        }
        assert await verified(session, source, target)

    async def test_what_the_target_does_not_owe_becomes_its_credit(self, client, session, desk):
        source, target = desk["source"], desk["target"]
        movement = (await transfer(client, desk["manager"], source, target, "1200.00")).json()
        assert movement["status"] == "done"
        assert await credit_of(session, target) == Decimal("50.00")
        assert await credit_of(session, source) == Decimal("6800.00")
        assert await verified(session, source, target)

    async def test_its_payment_cannot_be_reversed(self, client, desk):
        movement = (
            await transfer(client, desk["manager"], desk["source"], desk["target"], "100.00")
        ).json()
        response = await client.post(
            f"/api/v1/payments/{movement['payment_id']}/reversal",
            json={"reason": "wrong account"},
            headers=desk["manager"],
        )
        assert response.status_code == 409
        assert response.json()["code"] == "payment_not_reversible"

    async def test_above_the_limit_the_target_is_paid_only_when_approved(
        self, client, session, desk
    ):
        source, target = desk["source"], desk["target"]
        movement = (await transfer(client, desk["manager"], source, target, "6000.00")).json()
        assert (movement["status"], movement["payment_id"]) == ("pending_approval", None)
        fresh = await session.get(Account, target.id, populate_existing=True)
        assert fresh is not None and fresh.total == Decimal("1150.00")
        approved = await decide(client, desk["admin"], movement["id"])
        assert approved.status_code == 200, approved.text
        assert approved.json()["payment_id"] is not None
        # 1,150 pays the whole debt (and both installments); 4,850 is the target's credit.
        assert await credit_of(session, target) == Decimal("4850.00")
        assert await credit_of(session, source) == Decimal("2000.00")
        assert await verified(session, source, target)

    @pytest.mark.parametrize(
        ("whose", "reason"),
        [
            ("stranger", "(it belongs to another debtor)"),
            ("elsewhere", "(it belongs to another partner)"),
            ("source", "(it is the same account)"),
        ],
    )
    async def test_only_the_same_debtor_and_partner(self, client, session, desk, whose, reason):
        response = await transfer(client, desk["manager"], desk["source"], desk[whose], "10.00")
        assert response.status_code == 422
        problem = response.json()
        assert problem["code"] == "credit_transfer_target_refused"
        assert reason in problem["detail"]
        assert await movements_count(session) == 0

    async def test_a_recalled_target_is_refused(self, client, session, desk):
        target = await session.get(Account, desk["target"].id)
        assert target is not None
        target.status = "recalled"
        await session.commit()
        response = await transfer(client, desk["manager"], desk["source"], target, "10.00")
        assert_problem(response, 422, "credit_transfer_target_refused")
        assert "(it is not active)" in response.json()["detail"]
        spanish = await transfer(
            client, desk["manager"] | {"Accept-Language": "es"}, desk["source"], target, "10.00"
        )
        assert spanish.json()["detail"].endswith("en la misma moneda (no está activa).")

    async def test_a_target_the_lead_cannot_see_is_404(self, client, session, desk):
        response = await transfer(client, desk["lead"], desk["source"], desk["stranger"], "10.00")
        assert_problem(response, 404, "not_found")
        assert await movements_count(session) == 0


class TestAccess:
    @pytest.mark.parametrize("who", ["collector", "auditor", "system"])
    async def test_only_leads_managers_and_admins_ask(self, client, desk, who):
        assert (await refund(client, desk[who], desk["source"], "1.00")).status_code == 403
        response = await transfer(client, desk[who], desk["source"], desk["target"], "1.00")
        assert_problem(response, 403, "permission_denied")

    async def test_who_sees_the_movements(self, client, desk):
        source = desk["source"]
        movement = (await refund(client, desk["lead"], source, "1.00")).json()
        for who in ("manager", "lead", "collector", "auditor", "system"):
            listed = await client.get(MOVEMENTS.format(source.id), headers=desk[who])
            assert listed.status_code == 200, who
            assert [m["id"] for m in listed.json()["items"]] == [movement["id"]]
            read = await client.get(MOVEMENT.format(movement["id"]), headers=desk[who])
            assert read.status_code == 200, who
        for who in ("outsider", "other_system"):
            listed = await client.get(MOVEMENTS.format(source.id), headers=desk[who])
            assert_problem(listed, 404, "not_found")
            read = await client.get(MOVEMENT.format(movement["id"]), headers=desk[who])
            assert_problem(read, 404, "not_found")
            assert (await refund(client, desk[who], source, "1.00")).status_code in (403, 404)
        assert (await decide(client, desk["collector"], movement["id"])).status_code == 403
        assert (await decide(client, desk["system"], movement["id"])).status_code == 403

    async def test_the_list_is_newest_first_a_page_at_a_time(self, client, desk):
        source = desk["source"]
        made = [
            (await refund(client, desk["lead"], source, f"{n}.00")).json()["id"] for n in (1, 2, 3)
        ]
        first = await client.get(
            MOVEMENTS.format(source.id), params={"limit": 2}, headers=desk["manager"]
        )
        page = first.json()
        assert [m["id"] for m in page["items"]] == made[::-1][:2]
        rest = await client.get(
            MOVEMENTS.format(source.id),
            params={"limit": 2, "cursor": page["next_cursor"]},
            headers=desk["manager"],
        )
        assert [m["id"] for m in rest.json()["items"]] == made[:1]
        assert rest.json()["next_cursor"] is None
