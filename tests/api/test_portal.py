"""The debtor's self-service portal through its JSON API: links and who sends them, expiry,
the second factor and its lockout, what a session may see, offers within limits only,
accepting one (the plan active, its agreement), promises, consent, the record of every
action, and the rate limit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlmodel import col, select

from app.db import Database
from app.domain.experiments import ArmRange, assign
from app.domain.strategies import DEFAULT
from app.main import create_app
from app.models.audit import AuditEvent
from app.models.debtor import ContactConsent
from app.models.interaction import Interaction
from app.models.plan import PaymentPlan
from app.models.portal import PortalLink
from app.models.promise import Promise
from app.services.strategies import document_to_json
from tests.factories import assert_problem
from tests.helpers.portal import (
    enter,
    issue,
    session_for,
    token_of,
)


@pytest.fixture
def world(portal_world):
    """The portal's world (tests/helpers/portal.py)."""
    return portal_world


class TestPortalLinks:
    async def test_those_who_work_the_account_send_links(self, client, world):
        for who in ("collector", "manager", "bank_system"):
            response = await issue(client, world, who=who)
            assert response.status_code == 201, (who, response.text)
            body = response.json()
            assert body["url"].startswith("http://test/portal/start?t=")
            assert body["account_id"] == str(world["small"].id)

    async def test_others_cannot(self, client, world):
        assert (await issue(client, world, who="auditor")).status_code == 403
        assert (await issue(client, world, who="other_collector")).status_code == 404
        assert (await issue(client, world, who="other_system")).status_code == 404

    async def test_only_the_hash_is_kept_and_the_issue_audited(self, client, world, session):
        body = (await issue(client, world)).json()
        token = token_of(body["url"])
        link = await session.get(PortalLink, uuid.UUID(body["id"]))
        assert link is not None and token not in link.token_sha256 and len(link.token_sha256) == 64
        events = (
            await session.scalars(
                select(AuditEvent).where(col(AuditEvent.action) == "portal.link_issued")
            )
        ).all()
        assert [e.entity_id for e in events] == [body["id"]]
        assert token not in str(events[0].after)

    async def test_a_new_link_replaces_the_old_one(self, client, world):
        old = token_of((await issue(client, world)).json()["url"])
        new = token_of((await issue(client, world)).json()["url"])
        assert (await enter(client, old)).json()["code"] == "portal_link_invalid"
        assert (await enter(client, new)).status_code == 201


class TestExpiry:
    async def test_a_link_opens_for_seven_days_only(self, client, world, clock):
        start = datetime.now(UTC)
        clock.now = start
        token = token_of((await issue(client, world)).json()["url"])
        clock.now = start + timedelta(days=7, seconds=1)
        response = await enter(client, token)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "portal_link_invalid"
        clock.now = start + timedelta(days=6, hours=23)
        assert (await enter(client, token)).status_code == 201

    async def test_forged_and_mistyped_tokens_are_refused_alike(self, client, world):
        token = token_of((await issue(client, world)).json()["url"])
        link_hex, secret, signature = token.split(".")
        for forged in (
            f"{link_hex}.{secret}x.{signature}",
            f"{uuid.uuid4().hex}.{secret}.{signature}",
            "nonsense",
        ):
            response = await enter(client, forged)
            assert response.json()["code"] == "portal_link_invalid", forged


class TestSecondFactor:
    async def test_birth_date_or_last_four_of_the_id(self, client, world):
        token = token_of((await issue(client, world)).json()["url"])
        assert (await enter(client, token, national_id_last4="rr09")).status_code == 201
        assert (await enter(client, token, birth_date="1985-04-30")).status_code == 201

    async def test_exactly_one_factor(self, client, world):
        token = token_of((await issue(client, world)).json()["url"])
        response = await enter(client, token, birth_date="1985-04-30", national_id_last4="RR09")
        assert_problem(response, 422, "invalid_input")

    async def test_five_wrong_answers_lock_the_link_and_are_audited(self, client, world, session):
        body = (await issue(client, world)).json()
        token = token_of(body["url"])
        for remaining in (4, 3, 2, 1):
            response = await enter(client, token, birth_date="1990-01-01")
            assert response.status_code == 401, response.text
            assert response.json()["code"] == "portal_verification_failed"
            assert str(remaining) in response.json()["detail"]
        response = await enter(client, token, national_id_last4="0000")
        assert response.status_code == 423
        assert response.json()["code"] == "portal_link_locked"
        # Locked for good, the right answer included.
        again = await enter(client, token)
        assert again.status_code == 423
        link = await session.get(PortalLink, uuid.UUID(body["id"]), populate_existing=True)
        assert link is not None and link.failed_attempts == 5 and link.locked_at is not None
        actions = (
            await session.scalars(
                select(col(AuditEvent.action)).where(
                    col(AuditEvent.actor_id) == f"portal:{body['id']}"
                )
            )
        ).all()
        assert actions.count("portal.verification_failed") == 5
        assert actions.count("portal.link_locked") == 1
        assert "portal.session_opened" not in actions

    async def test_answers_in_spanish(self, client, world):
        token = token_of((await issue(client, world)).json()["url"])
        response = await client.post(
            "/portal/v1/sessions",
            json={"token": token, "birth_date": "1990-01-01"},
            headers={"Accept-Language": "es-MX"},
        )
        assert response.json()["title"] == "No pudimos verificar su identidad"


class TestVisibility:
    async def test_the_session_shows_its_account_only(self, client, world):
        headers = await session_for(client, world)
        response = await client.get("/portal/v1/debt", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["account_ref"] == world["small"].external_ref
        assert body["creditor"] == "Banco Uno S.A."
        for other in ("big", "foreign"):
            assert world[other].external_ref not in response.text
        assert "Financiera Otra" not in response.text

    async def test_another_accounts_plan_is_not_found(self, client, world, session):
        # A plan on account B, taken through the portal of B.
        b_headers = await session_for(client, world, "big", national_id_last4="R09X")
        offer = (await client.get("/portal/v1/offers", headers=b_headers)).json()["items"][0]
        plan = await client.post("/portal/v1/plans", json=offer["terms"], headers=b_headers)
        assert plan.status_code == 201, plan.text
        a_headers = await session_for(client, world)
        plan_id = plan.json()["plan"]["id"]
        response = await client.get(f"/portal/v1/plans/{plan_id}/agreement", headers=a_headers)
        assert_problem(response, 404, "not_found")
        assert "no-store" in response.headers["cache-control"]

    async def test_portal_and_staff_tokens_do_not_cross(self, client, world):
        headers = await session_for(client, world)
        staff = await client.get(f"/api/v1/accounts/{world['small'].id}", headers=headers)
        assert staff.status_code == 401
        portal = await client.get("/portal/v1/debt", headers=world["collector"])
        assert portal.status_code == 401
        assert portal.json()["code"] == "portal_session_invalid"

    async def test_a_replaced_link_ends_its_sessions(self, client, world):
        headers = await session_for(client, world)
        await issue(client, world)
        response = await client.get("/portal/v1/debt", headers=headers)
        assert response.json()["code"] == "portal_session_invalid"


class TestOffers:
    async def test_settlement_within_the_collectors_threshold(self, client, world):
        # 10,000 at 30% forgives 3,000: within the stage's 30% and the 5,000 a collector
        # grants alone. 50,000 at 30% would forgive 15,000: only 10% is offered.
        small = await session_for(client, world)
        big = await session_for(client, world, "big", national_id_last4="R09X")
        offers_small = (await client.get("/portal/v1/offers", headers=small)).json()["items"]
        offers_big = (await client.get("/portal/v1/offers", headers=big)).json()["items"]
        by_type = {o["id"]: o for o in offers_small}
        assert set(by_type) == {"restructuring", "settlement"}
        assert Decimal(by_type["settlement"]["terms"]["discount_pct"]) == Decimal("30")
        settlement_big = next(o for o in offers_big if o["id"] == "settlement")
        assert Decimal(settlement_big["terms"]["discount_pct"]) == Decimal("10")
        for offer in offers_small + offers_big:
            assert offer["quote"]["breaches"] == []
            assert offer["quote"]["approver_role"] == "collector"

    async def test_offers_are_quoted_as_staff_quote_them(self, client, world):
        headers = await session_for(client, world)
        offer = next(
            o
            for o in (await client.get("/portal/v1/offers", headers=headers)).json()["items"]
            if o["id"] == "settlement"
        )
        staff = await client.post(
            f"/api/v1/accounts/{world['small'].id}/plan-quotes",
            json=offer["terms"],
            headers=world["collector"],
        )
        assert staff.status_code == 200, staff.text
        assert staff.json() == offer["quote"]

    async def test_no_offers_where_the_strategy_has_none(self, client, world):
        headers = await session_for(client, world, "current", birth_date="1970-01-01")
        assert (await client.get("/portal/v1/offers", headers=headers)).json()["items"] == []

    async def test_a_tampered_offer_is_refused(self, client, world, session):
        headers = await session_for(client, world, "big", national_id_last4="R09X")
        offer = next(
            o
            for o in (await client.get("/portal/v1/offers", headers=headers)).json()["items"]
            if o["id"] == "settlement"
        )
        for change in ({"discount_pct": "30"}, {"discount_pct": "10.5"}, {"installments": 2}):
            response = await client.post(
                "/portal/v1/plans", json={**offer["terms"], **change}, headers=headers
            )
            assert response.status_code == 422, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"] == "portal_offer_not_allowed"
        plans = (
            await session.scalars(
                select(PaymentPlan).where(col(PaymentPlan.account_id) == world["big"].id)
            )
        ).all()
        assert plans == []


class TestAcceptance:
    async def test_the_plan_is_active_with_its_agreement(self, client, world, session):
        headers = await session_for(client, world)
        offer = next(
            o
            for o in (await client.get("/portal/v1/offers", headers=headers)).json()["items"]
            if o["id"] == "settlement"
        )
        response = await client.post("/portal/v1/plans", json=offer["terms"], headers=headers)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["plan"]["status"] == "active"
        assert body["plan"]["proposed_by"] is None
        assert Decimal(body["plan"]["totals"]["agreed_total"]) == Decimal("7000.00")
        pdf = await client.get(body["agreement_url"], headers=headers)
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        plan = await session.get(PaymentPlan, uuid.UUID(body["plan"]["id"]))
        assert plan is not None and plan.portal_link_id is not None
        assert plan.agreement_sha256 == pdf.headers["X-Agreement-SHA256"]
        # Staff see the same plan and draw the same agreement.
        staff = await client.get(f"/api/v1/plans/{plan.id}/agreement", headers=world["collector"])
        assert staff.content == pdf.content
        # The debt now shows the plan and what is owed on it; no more offers.
        debt = (await client.get("/portal/v1/debt", headers=headers)).json()
        assert debt["plan"]["plan"]["id"] == str(plan.id)
        assert Decimal(debt["owed_now"]) == Decimal("7000.00")
        assert (await client.get("/portal/v1/offers", headers=headers)).json()["items"] == []
        again = await client.post("/portal/v1/plans", json=offer["terms"], headers=headers)
        assert_problem(again, 409, "open_plan_exists")


class TestPromise:
    async def test_the_debtor_promises_a_payment(self, client, world, session):
        headers = await session_for(client, world)
        due = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
        response = await client.post(
            "/portal/v1/promises", json={"amount": "1500.00", "due_date": due}, headers=headers
        )
        assert response.status_code == 201, response.text
        promise = await session.get(Promise, uuid.UUID(response.json()["id"]))
        assert promise is not None and promise.status == "pending"
        assert promise.grace_days == 3 and promise.created_by.startswith("portal:")
        interaction = await session.get(Interaction, promise.interaction_id)
        assert interaction is not None
        assert (interaction.channel, interaction.direction, interaction.result_code) == (
            "portal",
            "inbound",
            "RPC_PTP",
        )
        # The partner hears of it as of a collector's promise: the contact, then the promise.
        events = await session.execute(
            text(
                "SELECT kind, payload->>'promise_id' FROM webhook_event "
                "WHERE partner_id = :p ORDER BY occurred_at, kind"
            ),
            {"p": promise.partner_id},
        )
        assert ("promise.created", str(promise.id)) in [tuple(row) for row in events]

    async def test_the_promise_rules_hold(self, client, world):
        headers = await session_for(client, world)
        far = (datetime.now(UTC) + timedelta(days=120)).date().isoformat()
        for body, field in (
            ({"amount": "0", "due_date": far}, "body.amount"),
            ({"amount": "99999.00", "due_date": far}, "body.amount"),
            ({"amount": "100.00", "due_date": far}, "body.due_date"),
            ({"amount": "100.001", "due_date": far}, "body.amount"),
        ):
            response = await client.post("/portal/v1/promises", json=body, headers=headers)
            assert_problem(response, 422, "invalid_input")
            assert field in {
                ".".join(e["field"]) if isinstance(e["field"], list) else e["field"]
                for e in response.json()["errors"]
            }, response.json()


class TestContactPreference:
    async def test_a_channel_granted_with_source_portal(self, client, world, session):
        headers = await session_for(client, world)
        response = await client.put(
            "/portal/v1/contact-preference",
            json={"channel": "whatsapp", "preferred_time": "evening"},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        consent = await session.get(
            ContactConsent,
            (world["small"].debtor_id, world["bank"].id, "whatsapp"),
            populate_existing=True,
        )
        assert consent is not None
        assert (consent.status, consent.source) == ("granted", "portal")
        interaction = await session.get(Interaction, consent.evidence_interaction_id)
        assert interaction is not None and "evening" in (interaction.pcr_resolution or "")
        staff = await client.get(
            f"/api/v1/accounts/{world['small'].id}/consents", headers=world["collector"]
        )
        assert staff.status_code == 200, staff.text

    async def test_not_at_all_closes_every_channel(self, client, world, session):
        headers = await session_for(client, world)
        response = await client.put(
            "/portal/v1/contact-preference", json={"channel": None}, headers=headers
        )
        assert response.status_code == 200, response.text
        rows = (
            await session.scalars(
                select(ContactConsent).where(
                    col(ContactConsent.debtor_id) == world["small"].debtor_id,
                    col(ContactConsent.partner_id) == world["bank"].id,
                )
            )
        ).all()
        assert {r.channel for r in rows} == {"call", "sms", "email", "whatsapp", "letter", "visit"}
        assert {(r.status, r.source) for r in rows} == {("opted_out", "portal")}


class TestTheRecord:
    async def test_every_action_is_an_inbound_contact_and_audited(self, client, world, session):
        headers = await session_for(client, world)
        due = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
        await client.get("/portal/v1/debt", headers=headers)
        await client.get("/portal/v1/payment-instructions", headers=headers)
        offers = (await client.get("/portal/v1/offers", headers=headers)).json()["items"]
        await client.post("/portal/v1/promises", json={"amount": "100.00", "due_date": due},
                          headers=headers)  # fmt: skip
        await client.put("/portal/v1/contact-preference", json={"channel": "sms"},
                         headers=headers)  # fmt: skip
        accepted = await client.post("/portal/v1/plans", json=offers[0]["terms"], headers=headers)
        await client.get(accepted.json()["agreement_url"], headers=headers)
        rows = (
            await session.scalars(
                select(Interaction).where(col(Interaction.account_id) == world["small"].id)
            )
        ).all()
        assert len(rows) == 7
        assert {(r.channel, r.direction, r.party, r.collector_id) for r in rows} == {
            ("portal", "inbound", "debtor", None)
        }
        assert all(r.compliance["inbound"] for r in rows)
        actor = rows[0].created_by
        actions = (
            await session.scalars(
                select(col(AuditEvent.action)).where(col(AuditEvent.actor_id) == actor)
            )
        ).all()
        for action in (
            "portal.debt_viewed", "portal.instructions_viewed", "portal.offers_viewed",
            "portal.promise_made", "portal.contact_preference", "portal.offer_accepted",
            "portal.agreement_downloaded", "plan.proposed", "plan.agreement",
            "consent.recorded",
        ):  # fmt: skip
            assert action in actions, action
        # Staff read them as the account's gestiones, and the contact check still answers.
        listed = await client.get(
            f"/api/v1/accounts/{world['small'].id}/interactions", headers=world["collector"]
        )
        assert listed.status_code == 200, listed.text
        assert {i["channel"] for i in listed.json()["items"]} == {"portal"}
        check = await client.post(
            f"/api/v1/accounts/{world['small'].id}/contact-check",
            json={"channel": "sms", "at": datetime.now(UTC).isoformat()},
            headers=world["collector"],
        )
        assert check.status_code in (200, 422), check.text
        assert check.status_code != 500

    async def test_a_portal_contact_counts_for_the_accounts_experiment_arm(
        self, client, world, session
    ):
        # A champion/challenger experiment on the bank's nonaccrual stage, half and half.
        entry = document_to_json(DEFAULT)["stages"]["nonaccrual"]
        started = await client.post(
            f"/api/v1/partners/{world['bank'].id}/experiments",
            json={
                "name": "Portal arm", "stage": "nonaccrual", "champion_share": "50",
                "challengers": [{"name": "other", "share": "50", "document": entry}],
            },
            headers=world["manager"],
        )  # fmt: skip
        assert started.status_code == 201, started.text
        experiment = started.json()
        low, arms = 0, []
        for arm in experiment["arms"]:
            width = int(Decimal(arm["share"]) * 100)
            arms.append(ArmRange(uuid.UUID(arm["id"]), low, low + width))
            low += width
        expected = assign(uuid.UUID(experiment["id"]), world["small"].id, arms)

        headers = await session_for(client, world)
        assert (await client.get("/portal/v1/debt", headers=headers)).status_code == 200
        contact = await session.scalar(
            select(Interaction).where(col(Interaction.account_id) == world["small"].id)
        )
        assert contact is not None and contact.channel == "portal"
        assert contact.experiment_arm_id == expected


class TestRateLimit:
    async def test_a_session_is_limited(self, engine, sessionmaker, settings, world):
        limited = settings.model_copy(update={"portal_requests_per_minute": 3})
        app = create_app(limited, Database(engine, sessionmaker))
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
            headers = await session_for(c, world)
            for _ in range(3):
                assert (await c.get("/portal/v1/debt", headers=headers)).status_code == 200
            response = await c.get("/portal/v1/payment-instructions", headers=headers)
            assert response.status_code == 429
            assert response.json()["code"] == "rate_limited"
            assert int(response.headers["Retry-After"]) >= 1


class TestHowToPay:
    async def test_a_mexican_account_shows_its_own_clabe_and_store_reference(
        self, client, world, session, settings
    ):
        """The portal quotes the account's referenced CLABE and store reference (the rails of
        app/domain/payment_rails.py), each checked here against its published check-digit
        rule rather than against the code that made it."""
        headers = await session_for(client, world)
        found = (await client.get("/portal/v1/payment-instructions", headers=headers)).json()
        clabe, store = found["account_clabe"], found["store_reference"]
        await session.refresh(world["small"])
        serial = world["small"].payment_serial
        assert clabe[:3] == settings.spei_bank_code and clabe[3:6] == settings.spei_plaza
        assert int(clabe[6:17]) == serial
        weighted = sum(int(d) * w % 10 for d, w in zip(clabe[:17], [3, 7, 1] * 6, strict=False))
        assert int(clabe[17]) == (10 - weighted % 10) % 10
        assert found["account_clabe_bank"] == settings.spei_bank_name
        assert store.startswith(settings.store_reference_prefix)
        assert int(store[len(settings.store_reference_prefix) : -1]) == serial
        # Luhn: doubling every second digit from the right, the total ends in 0.
        total = sum(
            (2 * int(d) - 9 if 2 * int(d) > 9 else 2 * int(d)) if i % 2 else int(d)
            for i, d in enumerate(reversed(store))
        )
        assert total % 10 == 0
        svg = await client.get("/portal/v1/payment-instructions/barcode.svg", headers=headers)
        assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg")
        assert store in svg.text
        anonymous = await client.get("/portal/v1/payment-instructions/barcode.svg")
        assert_problem(anonymous, 401, "portal_session_invalid")
