"""One seeded world for the security tests: every role, two partners, and one object of each
kind an operation's path can name (see test_authorization_matrix.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import col, select

from app.domain.roles import Role, Skill
from app.domain.strategies import DEFAULT
from app.domain.webhooks import EventKind, PaymentRecorded, secret_text
from app.models.compliance_incident import ComplianceIncident
from app.models.interaction import Interaction
from app.models.ledger import CreditMovement
from app.models.user import Team, TeamMember
from app.models.webhook import WebhookDelivery, WebhookSubscription
from app.services import payment_files, webhooks
from app.services.strategies import document_to_json
from tests.factories import business_today, make_account, make_partner, partner_bearer
from tests.helpers.payments import add_plan

TODAY = business_today()
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

PORTFOLIO_CSV = (
    b"external_ref,product_type,currency,principal,interest,fees,total,past_due_amount,"
    b"oldest_unpaid_due_date,debtor_first_names,debtor_last_names,debtor_national_id_type,"
    b"debtor_national_id,debtor_phones,address_line,address_state,reference1_name,"
    b"reference1_relationship,reference1_phones\n"
    b"TC-900002,revolving,MXN,1000.00,0,0,1000.00,0,2026-10-01,Rosa,Gomez,CURP,NOT-A-CURP,"
    b"123,,,,,\n"
)

# The roles of the matrix, in the order of its columns.
ROLES = ("admin", "manager", "lead", "phone", "field", "auditor", "partner", "anonymous")


@dataclass
class World:
    headers: dict[str, dict[str, str]]
    users: dict[str, Any]
    ids: dict[str, str] = field(default_factory=dict)
    other_partner_headers: dict[str, str] = field(default_factory=dict)


def _ok(response, *statuses: int) -> Any:
    assert response.status_code in statuses, (response.status_code, response.text)
    return response.json() if response.content else None


async def build_world(client, session, settings, make_user, auth_headers) -> World:
    users = {
        "admin": await make_user(Role.ADMIN),
        "manager": await make_user(Role.MANAGER),
        "lead": await make_user(Role.TEAM_LEAD),
        "phone": await make_user(Role.COLLECTOR, skills=[Skill.PHONE]),
        "field": await make_user(Role.COLLECTOR, skills=[Skill.FIELD]),
        "auditor": await make_user(Role.AUDITOR),
        "outsider": await make_user(Role.COLLECTOR, skills=[Skill.PHONE]),
    }
    team = Team(name=f"Equipo {uuid.uuid4().hex[:6]}", lead_id=users["lead"].id)
    session.add(team)
    await session.flush()
    session.add_all(
        TeamMember(team_id=team.id, user_id=users[name].id) for name in ("phone", "field")
    )
    partner = await make_partner(session)
    other = await make_partner(session)
    system = await partner_bearer(session, settings, partner)
    other_system = await partner_bearer(session, settings, other)
    debt = {
        "dpd": 120,
        "stage": "nonaccrual",
        "principal": Decimal("10000.00"),
        "interest": Decimal("0"),
        "fees": Decimal("0"),
        "past_due_amount": Decimal("1000.00"),
    }
    mine = await make_account(
        session, partner, assigned_collector_id=users["phone"].id, assigned_team_id=team.id, **debt
    )
    fields = await make_account(
        session, partner, assigned_collector_id=users["field"].id, assigned_team_id=team.id, **debt
    )
    unassigned = await make_account(session, partner, **debt)
    # An account of the lead's team with a pause running today, for ending it.
    paused = await make_account(session, partner, assigned_team_id=team.id, **debt)
    foreign = await make_account(session, other, **debt)
    plan = await add_plan(session, mine, users["phone"], ["500.00", "500.00"])
    interaction = Interaction(
        account_id=mine.id,
        partner_id=partner.id,
        debtor_id=mine.debtor_id,
        collector_id=users["phone"].id,
        channel="call",
        direction="outbound",
        party="none",
        result_code="NO_ANSWER",
        started_at=datetime.now(UTC) - timedelta(days=1),
        pack_version="test",
        compliance={},
        created_by=f"user:{users['phone'].id}",
    )
    session.add(interaction)
    await session.flush()
    # A contact recorded against the law: the case a lead or manager resolves.
    incident = ComplianceIncident(
        account_id=mine.id,
        interaction_id=interaction.id,
        partner_id=partner.id,
        collector_id=users["phone"].id,
        occurred_at=interaction.started_at,
        reasons=[
            {"code": "outside_hours", "message": "Outside hours.", "basis": "law", "citation": "x"}
        ],
        pack_version="test",
    )
    session.add(incident)
    await session.commit()

    headers = {name: auth_headers(user) for name, user in users.items()}
    headers["partner"] = system
    headers["anonymous"] = {}
    headers["other_partner"] = other_system
    manager = headers["manager"]

    payment = _ok(
        await client.post(
            "/api/v1/payments",
            json={
                "account_id": str(mine.id),
                "amount": "100.00",
                "currency": mine.currency,
                "paid_on": TODAY.isoformat(),
                "channel": "spei",
            },
            headers={**manager, "Idempotency-Key": uuid.uuid4().hex},
        ),
        201,
    )
    document = _ok(
        await client.post(
            f"/api/v1/accounts/{mine.id}/documents",
            params={"kind": "signed_agreement"},
            content=PDF,
            headers={**headers["phone"], "Content-Type": "application/pdf"},
        ),
        201,
    )
    push = _ok(
        await client.post(
            f"/api/v1/partners/{partner.id}/assignments",
            content=PORTFOLIO_CSV,
            headers={**system, "Content-Type": "text/csv", "Idempotency-Key": uuid.uuid4().hex},
        ),
        202,
    )
    payment_file = _ok(
        await client.post(
            f"/api/v1/partners/{partner.id}/payment-files",
            content=b"external_ref,payment_reference,amount,paid_on,channel,payer_reference\n"
            + f"NO-SUCH-REF,,10.00,{TODAY.isoformat()},spei,WORLD-1\n".encode(),
            headers={**system, "Content-Type": "text/csv", "Idempotency-Key": uuid.uuid4().hex},
        ),
        202,
    )
    # Processed: its line 2 is unmatched, waiting to be applied by hand.
    await payment_files.process_file(session, uuid.UUID(payment_file["id"]))
    # A SPEI statement whose line 2 went to a CLABE no account has: unmatched.
    spei_file = _ok(
        await client.post(
            f"/api/v1/partners/{partner.id}/spei-files",
            content=b"amount,date,beneficiary_clabe,tracking_key\n"
            + f"10.00,{TODAY.isoformat()},646180999999999990,WORLD2\n".encode(),
            headers={**system, "Content-Type": "text/csv", "Idempotency-Key": uuid.uuid4().hex},
        ),
        202,
    )
    await payment_files.process_file(session, uuid.UUID(spei_file["id"]))
    # A team lead's refund of the phone collector's account, waiting for a manager (the
    # account holds no credit, so an approval is a 409 credit_insufficient).
    movement = CreditMovement(
        account_id=mine.id,
        partner_id=partner.id,
        kind="refund",
        amount=Decimal("10.00"),
        currency=mine.currency,
        status="pending_approval",
        reason="Paid twice",
        requested_by=str(users["lead"].id),
    )
    session.add(movement)
    await session.commit()
    escalation = _ok(
        await client.post(
            "/api/v1/escalations",
            json={"account_id": str(mine.id), "reason": "Debtor asks for a supervisor"},
            headers=headers["phone"],
        ),
        201,
    )
    # A champion/challenger experiment on the charge-off stage (the challenger is the
    # default entry, so no account works differently in the cells).
    chargeoff = document_to_json(DEFAULT)["stages"]["chargeoff"]
    experiment = _ok(
        await client.post(
            f"/api/v1/partners/{partner.id}/experiments",
            json={
                "name": "matrix",
                "stage": "chargeoff",
                "champion_share": "50",
                "challengers": [{"name": "same", "share": "50", "document": chargeoff}],
            },
            headers=manager,
        ),
        201,
    )
    flag = _ok(
        await client.post(
            f"/api/v1/debtors/{mine.debtor_id}/flags",
            json={"kind": "dispute", "account_id": str(mine.id), "reason": "Says it was paid"},
            headers=manager,
        ),
        201,
    )
    pause = _ok(
        await client.post(
            f"/api/v1/accounts/{paused.id}/pauses",
            json={
                "reason": "dispute",
                "starts_on": TODAY.isoformat(),
                "ends_on": (TODAY + timedelta(days=7)).isoformat(),
            },
            headers=manager,
        ),
        201,
    )
    rule = _ok(
        await client.post(
            "/api/v1/allocation/rules",
            json={
                "name": "Late phone",
                "priority": 10,
                "stages": ["late"],
                "skill": "phone",
                "capacity": 100,
                "team_id": str(team.id),
            },
            headers=manager,
        ),
        201,
    )
    _ok(
        await client.put(
            f"/api/v1/routes/profiles/{users['field'].id}",
            json={"daily_capacity": 8},
            headers=manager,
        ),
        200,
        201,
    )
    clients = _ok(
        await client.get(f"/api/v1/partners/{partner.id}/clients", headers=headers["admin"]), 200
    )

    # A webhook subscription of the partner with one queued delivery.
    hook = WebhookSubscription(
        partner_id=partner.id,
        url="https://93.184.216.34/hook",
        event_types=[EventKind.PAYMENT_RECORDED.value],
        secret=secret_text(b"w" * 32),
        created_by="world",
    )
    session.add(hook)
    await session.flush()
    await webhooks.emit(
        session,
        EventKind.PAYMENT_RECORDED,
        partner.id,
        PaymentRecorded(
            payment_id=payment["id"], account_id=str(mine.id), external_ref=mine.external_ref,
            amount="10.00", currency=mine.currency, paid_on=TODAY.isoformat(), channel="spei",
            reference=None,
        ),
    )  # fmt: skip
    delivery_id = await session.scalar(
        select(col(WebhookDelivery.id)).where(col(WebhookDelivery.subscription_id) == hook.id)
    )
    await session.commit()

    world = World(headers=headers, users=users, other_partner_headers=other_system)
    world.ids = {
        "partner_id": str(partner.id),
        "other_partner_id": str(other.id),
        "account_id": str(mine.id),
        "field_account_id": str(fields.id),
        "unassigned_account_id": str(unassigned.id),
        "foreign_account_id": str(foreign.id),
        "debtor_id": str(mine.debtor_id),
        "plan_id": str(plan.id),
        "interaction_id": str(interaction.id),
        "incident_id": str(incident.id),
        "payment_id": payment["id"],
        "document_id": document["id"],
        "assignment_id": push["id"],
        "payment_file_id": payment_file["id"],
        "spei_file_id": spei_file["id"],
        "row_number": "2",
        "movement_id": str(movement.id),
        "escalation_id": escalation["id"],
        "experiment_id": experiment["id"],
        "experiment_arm_id": experiment["arms"][1]["id"],
        "flag_id": flag["id"],
        "pause_id": pause["id"],
        "rule_id": rule["id"],
        "client_id": clients["items"][0]["client_id"],
        "team_id": str(team.id),
        "user_id": str(users["phone"].id),
        "field_user_id": str(users["field"].id),
        "currency": mine.currency,
        "channel": "call",
        "webhook_id": str(hook.id),
        "delivery_id": str(delivery_id),
    }
    return world
