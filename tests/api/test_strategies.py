"""Collection strategies over HTTP: versions stored by PUT, the version in force and the
history by GET, validation against the partner country's law, who may do what, the audit."""

from __future__ import annotations

import asyncio
import copy
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app import migrations
from app.db import open_database
from app.domain.contact_check import ContactChannel, pack_for
from app.domain.errors import NotFound
from app.domain.roles import Role
from app.domain.stages import Stage
from app.domain.strategies import DAY, DEFAULT, WEEK, default_for
from app.models.audit import AuditEvent
from app.models.partner import Partner, PartnerClient
from app.models.strategy import CollectionStrategy
from app.schemas.strategies import StrategyWrite
from app.security import Principal
from app.services.auth import client_token
from app.services.strategies import (
    create_strategy,
    current_strategy,
    document_to_json,
    strategy_version,
)
from tests.factories import assert_problem, make_partner

CO = {"country": "CO", "currency": "COP", "time_zone": "America/Bogota"}
CL = {"country": "CL", "currency": "CLP", "time_zone": "America/Santiago"}
US = {"country": "US", "currency": "USD", "time_zone": "America/New_York"}


def url(partner_id: Any) -> str:
    return f"/api/v1/partners/{partner_id}/strategy"


def entry(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "channels": ["call", "sms", "email"],
        "caps": {"call": {"per_day": 1, "per_week": 1}},
        "visits_allowed": False,
        "plans": {
            "regularization": {
                "max_discount_pct": "0",
                "max_installments": 4,
                "min_down_payment_pct": "15.5",
                "max_term_extension_months": 0,
            }
        },
        "approvals": {"collector_up_to": "250", "team_lead_up_to": "1500.50"},
        "escalation": {"broken_promises": 3, "refusal_codes": ["RPC_REFUSE"]},
        "promises": {"grace_days": 2, "tolerance_pct": "2.5"},
        "priority_weight": "45",
    }
    return base | overrides


def body(stage: str = "early", **overrides: Any) -> dict[str, Any]:
    return {"stages": {stage: entry(**overrides)}}


def error_fields(response) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


async def partner_headers(session: AsyncSession, settings, partner: Partner) -> dict[str, str]:
    """A bearer token of a partner system, as the client-credentials grant issues it."""
    system = PartnerClient(
        partner_id=partner.id,
        client_id=f"sys-{uuid.uuid4().hex[:12]}",
        secret_hash="not-used-here",
        name="core banking",
    )
    session.add(system)
    await session.flush()
    token = client_token(settings, system, datetime.now(UTC))
    return {"Authorization": f"Bearer {token.access_token}"}


@pytest.fixture
async def manager_headers(make_user, auth_headers) -> dict[str, str]:
    return auth_headers(await make_user(Role.MANAGER))


async def stored_versions(session: AsyncSession, partner: Partner) -> list[CollectionStrategy]:
    return list(
        (
            await session.scalars(
                select(CollectionStrategy)
                .where(col(CollectionStrategy.partner_id) == partner.id)
                .order_by(col(CollectionStrategy.version))
            )
        ).all()
    )


class TestSetStrategy:
    async def test_each_put_stores_the_next_version(self, client, session, make_user, auth_headers):
        partner = await make_partner(session)
        manager = await make_user(Role.MANAGER)
        first = await client.put(url(partner.id), json=body(), headers=auth_headers(manager))
        assert first.status_code == 200, first.text
        created = first.json()
        assert created["version"] == 1
        assert created["partner_id"] == str(partner.id)
        assert created["created_by"] == str(manager.id)
        assert created["created_at"] is not None
        early = created["document"]["stages"]["early"]
        assert early["approvals"] == {"collector_up_to": "250.00", "team_lead_up_to": "1500.50"}
        assert early["caps"]["call"] == {"per_day": 1, "per_week": 1}
        assert early["caps"]["sms"] is None
        assert early["plans"]["settlement"] is None
        assert early["plans"]["regularization"]["min_down_payment_pct"] == "15.50"
        second = await client.put(
            url(partner.id), json=body(priority_weight="60"), headers=auth_headers(manager)
        )
        assert second.status_code == 200, second.text
        assert second.json()["version"] == 2
        third = await client.put(url(partner.id), json=body(), headers=auth_headers(manager))
        assert third.json()["version"] == 3
        assert [v.version for v in await stored_versions(session, partner)] == [1, 2, 3]

    async def test_earlier_versions_never_change(self, client, session, manager_headers):
        partner = await make_partner(session)
        await client.put(url(partner.id), json=body(), headers=manager_headers)
        (first,) = await stored_versions(session, partner)
        before = copy.deepcopy(first.document)
        await client.put(url(partner.id), json=body(priority_weight="99"), headers=manager_headers)
        rows = await stored_versions(session, partner)
        await session.refresh(rows[0])
        assert rows[0].document == before
        assert rows[0].document["stages"]["early"]["priority_weight"] == "45.00"
        assert rows[1].document["stages"]["early"]["priority_weight"] == "99.00"

    async def test_stages_left_out_take_the_default_entry(self, client, session, manager_headers):
        partner = await make_partner(session)
        response = await client.put(url(partner.id), json=body("mid"), headers=manager_headers)
        assert response.status_code == 200, response.text
        stages = response.json()["document"]["stages"]
        expected = document_to_json(DEFAULT)["stages"]
        for stage in Stage:
            if stage is not Stage.MID:
                assert _plain(stages[stage.value]) == _plain(expected[stage.value])
        (row,) = await stored_versions(session, partner)
        assert row.document["stages"]["late"] == expected["late"]

    async def test_the_stored_strategy_is_the_one_in_force(self, client, session, manager_headers):
        partner = await make_partner(session)
        assert await current_strategy(session, partner.id) == (0, DEFAULT)
        await client.put(url(partner.id), json=body(), headers=manager_headers)
        version, document = await current_strategy(session, partner.id)
        assert version == 1
        assert document[Stage.EARLY].approvals.collector_up_to == Decimal("250.00")
        assert document[Stage.LATE] == DEFAULT[Stage.LATE]
        assert await strategy_version(session, partner.id, 0) == DEFAULT
        assert await strategy_version(session, partner.id, 1) == document
        with pytest.raises(NotFound):
            await strategy_version(session, partner.id, 2)
        with pytest.raises(NotFound):
            await current_strategy(session, uuid.uuid4())

    async def test_an_audit_event_records_the_new_version(
        self, client, session, make_user, auth_headers
    ):
        partner = await make_partner(session)
        manager = await make_user(Role.MANAGER)
        await client.put(url(partner.id), json=body(), headers=auth_headers(manager))
        (row,) = await stored_versions(session, partner)
        events = (
            await session.scalars(
                select(AuditEvent).where(
                    col(AuditEvent.action) == "strategy.created",
                    col(AuditEvent.entity_id) == str(row.id),
                )
            )
        ).all()
        assert len(events) == 1
        event = events[0]
        assert event.entity_type == "collection_strategy"
        assert event.actor_id == str(manager.id) and event.actor_role == "manager"
        assert event.after is not None
        assert event.after["partner_id"] == str(partner.id)
        assert event.after["version"] == 1
        assert event.after["document"] == row.document

    async def test_an_admin_may_set_it(self, client, session, make_user, auth_headers):
        partner = await make_partner(session)
        admin = await make_user(Role.ADMIN)
        response = await client.put(url(partner.id), json=body(), headers=auth_headers(admin))
        assert response.status_code == 200, response.text

    @pytest.mark.parametrize("role", [Role.COLLECTOR, Role.TEAM_LEAD, Role.AUDITOR])
    async def test_other_staff_may_not_set_it(self, client, session, make_user, auth_headers, role):
        partner = await make_partner(session)
        response = await client.put(
            url(partner.id), json=body(), headers=auth_headers(await make_user(role))
        )
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
        assert await stored_versions(session, partner) == []

    async def test_a_partner_may_not_set_its_own(self, client, session, settings):
        partner = await make_partner(session)
        headers = await partner_headers(session, settings, partner)
        response = await client.put(url(partner.id), json=body(), headers=headers)
        assert_problem(response, 403, "permission_denied")
        assert await stored_versions(session, partner) == []

    async def test_without_a_token_it_is_401(self, client, session):
        partner = await make_partner(session)
        assert (await client.put(url(partner.id), json=body())).status_code == 401

    async def test_an_unknown_partner_is_404(self, client, manager_headers):
        response = await client.put(url(uuid.uuid4()), json=body(), headers=manager_headers)
        assert_problem(response, 404, "not_found")


def _settlement(**overrides: Any) -> dict[str, Any]:
    return {
        "settlement": {
            "max_discount_pct": "30",
            "max_installments": 6,
            "min_down_payment_pct": "10",
            "max_term_extension_months": 0,
        }
        | overrides
    }


# (the body, the field the 422 names)
INVALID = [
    pytest.param({"stages": {"overdue": entry()}}, "body.stages.overdue", id="unknown-stage"),
    pytest.param(body(channels=["call", "fax"]), "body.stages.early.channels.1", id="channel"),
    pytest.param(
        body(caps={"fax": {"per_day": 1}}), "body.stages.early.caps.fax", id="cap-channel"
    ),
    pytest.param(
        body(plans={"payday": _settlement()["settlement"]}),
        "body.stages.early.plans.payday",
        id="plan-type",
    ),
    pytest.param(
        body(caps={"call": {"per_day": 2, "per_week": 1}}),
        "body.stages.early.caps.call.per_day",
        id="day-over-week",
    ),
    pytest.param(
        body(plans=_settlement(max_discount_pct="100.5")),
        "body.stages.early.plans.settlement.max_discount_pct",
        id="discount-over-100",
    ),
    pytest.param(
        body(plans=_settlement(max_discount_pct="-5")),
        "body.stages.early.plans.settlement.max_discount_pct",
        id="discount-negative",
    ),
    pytest.param(
        body(plans=_settlement(min_down_payment_pct="120")),
        "body.stages.early.plans.settlement.min_down_payment_pct",
        id="down-payment-over-100",
    ),
    pytest.param(
        body(plans=_settlement(min_down_payment_pct="-1")),
        "body.stages.early.plans.settlement.min_down_payment_pct",
        id="down-payment-negative",
    ),
    pytest.param(
        body(approvals={"collector_up_to": "900", "team_lead_up_to": "800"}),
        "body.stages.early.approvals.team_lead_up_to",
        id="thresholds-inverted",
    ),
    pytest.param(
        body(escalation={"broken_promises": 2, "refusal_codes": ["NOT_A_CODE"]}),
        "body.stages.early.escalation.refusal_codes.0",
        id="refusal-code",
    ),
    pytest.param(
        body(caps={"whatsapp": {"per_day": 1}}),
        "body.stages.early.caps.whatsapp",
        id="capped-channel-not-allowed",
    ),
    pytest.param(
        body(channels=["call", "visit"], visits_allowed=False),
        "body.stages.early.channels",
        id="visit-without-visits",
    ),
    pytest.param(
        body(promises={"grace_days": 31, "tolerance_pct": "5"}),
        "body.stages.early.promises.grace_days",
        id="grace-days",
    ),
    pytest.param(
        body(promises={"grace_days": 3, "tolerance_pct": "51"}),
        "body.stages.early.promises.tolerance_pct",
        id="tolerance",
    ),
    pytest.param(
        body(plans=_settlement(max_installments=0)),
        "body.stages.early.plans.settlement.max_installments",
        id="installments",
    ),
    pytest.param(
        body(escalation={"broken_promises": 0, "refusal_codes": []}),
        "body.stages.early.escalation.broken_promises",
        id="broken-promises",
    ),
    pytest.param(body(priority_weight="101"), "body.stages.early.priority_weight", id="weight"),
]


class TestValidation:
    @pytest.mark.parametrize(("payload", "field"), INVALID)
    async def test_each_broken_rule_is_a_422_naming_the_field(
        self, client, session, manager_headers, payload, field
    ):
        partner = await make_partner(session)
        response = await client.put(url(partner.id), json=payload, headers=manager_headers)
        assert_problem(response, 422, ("invalid_input", "validation_failed"))
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in error_fields(response)
        assert await stored_versions(session, partner) == []

    @pytest.mark.parametrize(("country", "extra"), [("CL", CL), ("US", US)])
    async def test_a_cap_looser_than_the_law_is_refused_there_but_fine_in_mexico(
        self, client, session, manager_headers, country, extra
    ):
        pack = pack_for(country)
        day, week = pack.law_cap(ContactChannel.CALL, DAY), pack.law_cap(ContactChannel.CALL, WEEK)
        assert day is not None or week is not None
        period, law = ("per_day", day) if day is not None else ("per_week", week)
        assert law is not None
        # Whole thresholds: CLP has no decimals.
        whole = {"collector_up_to": "250", "team_lead_up_to": "1500"}
        loose = body(caps={"call": {period: law + 1}}, approvals=whole)
        strict = await make_partner(session, **extra)
        response = await client.put(url(strict.id), json=loose, headers=manager_headers)
        assert_problem(response, 422, "invalid_input")
        (error,) = response.json()["errors"]
        assert error["field"] == f"body.stages.early.caps.call.{period}"
        assert f"at most {law} a" in error["message"]
        assert await stored_versions(session, strict) == []
        within = await client.put(
            url(strict.id),
            json=body(caps={"call": {period: law}}, approvals=whole),
            headers=manager_headers,
        )
        assert within.status_code == 200, within.text
        mexican = await make_partner(session)
        fine = await client.put(url(mexican.id), json=loose, headers=manager_headers)
        assert fine.status_code == 200, fine.text

    async def test_a_threshold_with_cents_is_refused_for_a_chilean_partner(
        self, client, session, manager_headers
    ):
        chilean = await make_partner(session, **CL)
        cents = {"collector_up_to": "250", "team_lead_up_to": "1500.50"}
        response = await client.put(
            url(chilean.id), json=body(approvals=cents), headers=manager_headers
        )
        assert_problem(response, 422, "invalid_input")
        (error,) = response.json()["errors"]
        assert error["field"] == "body.stages.early.approvals.team_lead_up_to"
        assert "CLP" in error["message"]
        assert await stored_versions(session, chilean) == []

    async def test_visits_are_refused_for_a_colombian_partner_but_fine_in_mexico(
        self, client, session, manager_headers
    ):
        # Colombia's law (Ley 2300) bans home and work visits; it caps no count of contacts.
        visits = body("late", channels=["call", "visit"], visits_allowed=True)
        colombian = await make_partner(session, **CO)
        response = await client.put(url(colombian.id), json=visits, headers=manager_headers)
        assert_problem(response, 422, "invalid_input")
        (error,) = response.json()["errors"]
        assert error["field"] == "body.stages.late.visits_allowed"
        assert "forbids field visits" in error["message"]
        assert await stored_versions(session, colombian) == []
        mexican = await make_partner(session)
        fine = await client.put(url(mexican.id), json=visits, headers=manager_headers)
        assert fine.status_code == 200, fine.text

    async def test_the_mexican_default_caps_are_refused_for_a_chilean_partner(
        self, client, session, manager_headers
    ):
        partner = await make_partner(session, **CL)
        mexican = document_to_json(DEFAULT)["stages"]["early"]
        response = await client.put(
            url(partner.id), json={"stages": {"early": mexican}}, headers=manager_headers
        )
        assert_problem(response, 422, "invalid_input")
        assert error_fields(response)[0].startswith("body.stages.early.caps.")

    async def test_a_colombian_partners_left_out_stages_are_within_colombian_law(
        self, client, session, manager_headers
    ):
        partner = await make_partner(session, **CO)
        response = await client.put(url(partner.id), json=body(), headers=manager_headers)
        assert response.status_code == 200, response.text
        stages = response.json()["document"]["stages"]
        expected = document_to_json(default_for("CO"))["stages"]
        assert _plain(stages["late"]) == _plain(expected["late"])


def _plain(read: dict[str, Any]) -> dict[str, Any]:
    """A stage entry as the API answers it, without the nulls the stored form leaves out."""
    result = dict(read)
    result["caps"] = {k: v for k, v in read["caps"].items() if v is not None}
    result["plans"] = {k: v for k, v in read["plans"].items() if v is not None}
    return result


# A stage entry as the first stored documents held it: before plans kept their breaking rule
# and stages their contact policies, with a channel capped on one period only.
OLD_STORED_ENTRY: dict[str, Any] = {
    "channels": ["call", "sms"],
    "caps": {"call": {"per_day": 2, "per_week": None}},
    "visits_allowed": False,
    "plans": {
        "settlement": {
            "max_discount_pct": "30.00",
            "max_installments": 6,
            "min_down_payment_pct": "20.00",
            "max_term_extension_months": 0,
        }
    },
    "approvals": {"collector_up_to": "100.00", "team_lead_up_to": "500.00"},
    "escalation": {"broken_promises": None, "refusal_codes": ["RPC_REFUSE"]},
    "promises": {"grace_days": 3, "tolerance_pct": "5.00"},
    "priority_weight": "40.00",
}
# How the API answers it: every channel and plan type named, the later fields at their
# defaults.
OLD_ENTRY_READ: dict[str, Any] = {
    "channels": ["call", "sms"],
    "caps": {
        "call": {"per_day": 2, "per_week": None},
        "sms": None, "email": None, "whatsapp": None, "letter": None, "visit": None,
    },
    "visits_allowed": False,
    "plans": {
        "regularization": None,
        "restructuring": None,
        "settlement": {
            "max_discount_pct": "30.00",
            "max_installments": 6,
            "min_down_payment_pct": "20.00",
            "max_term_extension_months": 0,
            "missed_installments_to_break": 2,
            "days_late_to_break": 30,
        },
    },
    "approvals": {"collector_up_to": "100.00", "team_lead_up_to": "500.00"},
    "escalation": {"broken_promises": None, "refusal_codes": ["RPC_REFUSE"]},
    "promises": {"grace_days": 3, "tolerance_pct": "5.00"},
    "priority_weight": "40.00",
    "older_adult_debtors_vulnerable": False,
    "calls_across_debts": False,
}  # fmt: skip


class TestStoredDocuments:
    async def test_a_document_stored_in_the_first_shape_reads_as_it_always_did(
        self, client, session, manager_headers
    ):
        partner = await make_partner(session)
        session.add(
            CollectionStrategy(
                partner_id=partner.id,
                version=1,
                document={"stages": {stage.value: OLD_STORED_ENTRY for stage in Stage}},
                created_by="user:someone",
            )
        )
        await session.flush()
        response = await client.get(url(partner.id), headers=manager_headers)
        assert response.status_code == 200, response.text
        current = response.json()["current"]
        assert current["version"] == 1
        assert current["document"]["stages"] == {stage.value: OLD_ENTRY_READ for stage in Stage}
        version, document = await current_strategy(session, partner.id)
        assert version == 1
        assert document[Stage.EARLY].caps[ContactChannel.CALL].per_week is None
        assert document[Stage.EARLY].escalation.broken_promises is None


class TestReadStrategy:
    async def test_a_partner_without_a_strategy_works_under_the_default(
        self, client, session, manager_headers
    ):
        partner = await make_partner(session)
        response = await client.get(url(partner.id), headers=manager_headers)
        assert response.status_code == 200, response.text
        read = response.json()
        assert read["versions"] == []
        current = read["current"]
        assert current["version"] == 0
        assert current["created_by"] is None and current["created_at"] is None
        expected = document_to_json(DEFAULT)["stages"]
        for stage in Stage:
            assert _plain(current["document"]["stages"][stage.value]) == expected[stage.value]

    @pytest.mark.parametrize(("country", "extra"), [("CO", CO), ("CL", CL), ("US", US)])
    async def test_a_foreign_partners_default_keeps_to_its_law(
        self, client, session, manager_headers, country, extra
    ):
        partner = await make_partner(session, **extra)
        read = (await client.get(url(partner.id), headers=manager_headers)).json()
        assert read["current"]["version"] == 0
        pack = pack_for(country)
        if not pack.visits_allowed:
            stages = read["current"]["document"]["stages"].values()
            assert not any(stage["visits_allowed"] for stage in stages)
        for stage in read["current"]["document"]["stages"].values():
            for channel, caps in stage["caps"].items():
                if caps is None:
                    continue
                day, week = (
                    pack.law_cap(ContactChannel(channel), DAY),
                    pack.law_cap(ContactChannel(channel), WEEK),
                )
                if day is not None and caps["per_day"] is not None:
                    assert caps["per_day"] <= day
                if week is not None and caps["per_week"] is not None:
                    assert caps["per_week"] <= week

    async def test_the_latest_version_is_in_force_and_versions_are_newest_first(
        self, client, session, make_user, auth_headers
    ):
        partner = await make_partner(session)
        manager, admin = await make_user(Role.MANAGER), await make_user(Role.ADMIN)
        await client.put(url(partner.id), json=body(), headers=auth_headers(manager))
        await client.put(
            url(partner.id), json=body(priority_weight="70"), headers=auth_headers(admin)
        )
        response = await client.get(url(partner.id), headers=auth_headers(manager))
        assert response.status_code == 200, response.text
        read = response.json()
        assert read["current"]["version"] == 2
        assert read["current"]["created_by"] == str(admin.id)
        assert read["current"]["document"]["stages"]["early"]["priority_weight"] == "70.00"
        assert [v["version"] for v in read["versions"]] == [2, 1]
        assert [v["created_by"] for v in read["versions"]] == [str(admin.id), str(manager.id)]
        assert all(v["created_at"] for v in read["versions"])

    @pytest.mark.parametrize(
        "role", [Role.ADMIN, Role.MANAGER, Role.TEAM_LEAD, Role.COLLECTOR, Role.AUDITOR]
    )
    async def test_staff_read_any_partners_strategy(
        self, client, session, make_user, auth_headers, role
    ):
        partner = await make_partner(session)
        response = await client.get(url(partner.id), headers=auth_headers(await make_user(role)))
        assert response.status_code == 200, response.text

    async def test_a_partner_reads_its_own_strategy(
        self, client, session, settings, manager_headers
    ):
        partner = await make_partner(session)
        await client.put(url(partner.id), json=body(), headers=manager_headers)
        headers = await partner_headers(session, settings, partner)
        response = await client.get(url(partner.id), headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["current"]["version"] == 1

    async def test_a_partner_reading_another_partners_strategy_gets_404(
        self, client, session, settings
    ):
        mine, theirs = await make_partner(session), await make_partner(session)
        headers = await partner_headers(session, settings, mine)
        response = await client.get(url(theirs.id), headers=headers)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"

    async def test_an_unknown_partner_is_404(self, client, manager_headers):
        response = await client.get(url(uuid.uuid4()), headers=manager_headers)
        assert_problem(response, 404, "not_found")

    async def test_without_a_token_it_is_401(self, client, session):
        partner = await make_partner(session)
        assert (await client.get(url(partner.id))).status_code == 401


class TestConcurrentChanges:
    """Real connections and committed rows: the per-test transaction cannot show a race."""

    @pytest.fixture
    def committed_url(self, database_server):
        url = database_server.create_database("cartera_strategy_race")
        migrations.upgrade(url)
        yield url
        database_server.drop_database(url)

    async def test_a_second_change_waits_for_the_first_and_takes_the_next_version(
        self, committed_url, settings
    ):
        database = open_database(committed_url, settings)
        actor = Principal(subject=str(uuid.uuid4()), role=Role.MANAGER)
        try:
            async with database.sessionmaker() as session, session.begin():
                partner = await make_partner(session)
            async with database.sessionmaker() as first, database.sessionmaker() as second:
                await first.begin()
                one = await create_strategy(first, actor, partner.id, StrategyWrite(**body()))
                racing = asyncio.create_task(
                    create_strategy(second, actor, partner.id, StrategyWrite(**body()))
                )
                await asyncio.sleep(0.5)
                assert not racing.done()  # held back by the first change's lock
                await first.commit()
                two = await racing
                await second.commit()
            assert (one.version, two.version) == (1, 2)
            async with database.sessionmaker() as session:
                rows = await stored_versions(session, partner)
            assert [row.version for row in rows] == [1, 2]
        finally:
            await database.dispose()
