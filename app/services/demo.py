"""Demo data for a first look: staff of every role, two partners ("Banco Demo" in Mexico,
"Almacenes Demo" in Colombia), their systems, and about 2,000 accounts in every stage pushed
through the same intake a partner's file goes through, some assigned to phone1 and field1.

Loaded once: a database that already has the demo admin is left alone. Later features add
their demo data here. Every login below uses the password ``cartera-demo``.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from stdnum.co import nit
from stdnum.mx import curp

from app.config import get_settings
from app.domain.history import Assigned
from app.domain.identity import Country, normalise_phone
from app.domain.payments import payment_reference
from app.domain.roles import Role, Skill
from app.domain.strategies import default_for
from app.models.account import Account
from app.models.debtor import ContactPoint
from app.models.partner import Partner
from app.models.payment import Payment
from app.models.user import Team, User
from app.schemas.interactions import InteractionCreate
from app.schemas.partners import BucketEdges, BucketTable, PartnerClientCreate, PartnerCreate
from app.schemas.payments import PaymentCreate
from app.schemas.plans import PlanQuoteRequest
from app.schemas.strategies import StrategyWrite
from app.schemas.teams import TeamCreate
from app.schemas.users import UserCreate
from app.security import SYSTEM, Principal
from app.services import (
    assignments,
    audit,
    escalations,
    history,
    interactions,
    partners,
    payment_files,
    payments,
    plans,
    promises,
    strategies,
    teams,
    users,
)
from app.services.tabular_uploads import SourceFormat

DEMO_PASSWORD = "cartera-demo"
DEMO_CLIENT_ID = "demo-bank"
DEMO_CLIENT_SECRET = "demo-bank-secret"
# The bank's RFC, with the check digit the SAT algorithm gives (the "A" stands for 10).
DEMO_BANK_TAX_ID = "BDE9901017QA"
DEMO_RETAIL_CLIENT_ID = "demo-retail"
DEMO_RETAIL_CLIENT_SECRET = "demo-retail-secret"
# A Colombian company NIT: nine digits and the DIAN check digit.
_RETAIL_NIT_BASE = "901234567"
DEMO_RETAIL_NIT = _RETAIL_NIT_BASE + nit.calc_check_digit(_RETAIL_NIT_BASE)

DEMO_STAFF: list[tuple[str, str, Role, list[Skill]]] = [
    ("admin", "Ana Administradora", Role.ADMIN, []),
    ("manager", "Mario Gerente", Role.MANAGER, []),
    ("lead", "Lucía Líder", Role.TEAM_LEAD, []),
    ("phone1", "Pedro Telefónico", Role.COLLECTOR, [Skill.PHONE]),
    ("field1", "Fernanda de Campo", Role.COLLECTOR, [Skill.FIELD]),
    ("auditor", "Aurelio Auditor", Role.AUDITOR, []),
]


def demo_partners() -> list[tuple[PartnerCreate, str, str, str]]:
    """(partner, client id, client secret, client name) for each demo partner: a Mexican bank
    whose single-payment loans roll faster than the default table, and a Colombian retailer
    on the defaults."""
    bank = PartnerCreate(
        legal_name="Banco Demo, S.A., Institución de Banca Múltiple",
        tax_id=DEMO_BANK_TAX_ID,
        country=Country.MX,
        currency="MXN",
        time_zone="America/Mexico_City",
        bucket_table=BucketTable(
            single_payment=BucketEdges(early=1, mid=15, late=30, nonaccrual=60, chargeoff=120)
        ),
        contact_name="Carla Convenios",
        contact_email="convenios@banco-demo.example",
        # Where its debtors pay (printed on their payment agreements).
        payment_bank_name="Banco Demo",
        payment_clabe="002180700000000008",
        payment_cash_stores="OXXO",
    )
    retailer = PartnerCreate(
        legal_name="Almacenes Demo S.A.S.",
        tax_id=DEMO_RETAIL_NIT,
        country=Country.CO,
        currency="COP",
        time_zone="America/Bogota",
        contact_name="Camilo Cartera",
        contact_email="cartera@almacenes-demo.example",
        payment_bank_name="Banco Demo Colombia",
    )
    return [
        (bank, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, "Banco Demo core system"),
        (retailer, DEMO_RETAIL_CLIENT_ID, DEMO_RETAIL_CLIENT_SECRET, "Almacenes Demo ERP"),
    ]


async def seed(session: AsyncSession) -> bool:
    """Load the demo data; False when it was already there."""
    if await session.scalar(select(col(User.id)).where(col(User.username) == "admin")):
        return False
    created: dict[str, User] = {}
    for username, full_name, role, skills in DEMO_STAFF:
        created[username] = await users.create_user(
            session,
            SYSTEM,
            UserCreate(
                username=username,
                full_name=full_name,
                role=role,
                skills=skills,
                password=DEMO_PASSWORD,
                email=None,
            ),
        )
    await teams.create_team(
        session,
        SYSTEM,
        TeamCreate(
            name="Equipo Centro",
            lead_id=created["lead"].id,
            member_ids=[created["phone1"].id, created["field1"].id],
        ),
    )
    team = await session.scalar(select(Team).where(col(Team.name) == "Equipo Centro"))
    assert team is not None
    for (partner_data, client_id, secret, client_name), count in zip(
        demo_partners(), (1400, 600), strict=True
    ):
        partner = await partners.create_partner(session, SYSTEM, partner_data)
        await partners.create_client(
            session,
            SYSTEM,
            partner.id,
            PartnerClientCreate(name=client_name),
            client_id=client_id,
            secret=secret,
        )
        await _push_portfolio(session, partner, count)
        await _strategy(session, partner)
        if partner.country == Country.MX.value:
            await _assign(session, partner, created["phone1"], team, ("early", "mid"), 120)
            await _assign(session, partner, created["field1"], team, ("late", "nonaccrual"), 60)
            await _collector_weeks(session, partner, created)
            await _plans(session, partner, created)
            await _payment_file(session, partner, client_id)
    return True


# ---------------------------------------------------------------------------------------
# A strategy per partner, and a few weeks of a phone collector's work on Banco Demo.


async def _strategy(session: AsyncSession, partner: Partner) -> None:
    """The country's default, with the bank calling less in the early stage than the law
    allows and offering settlements from the late stage on."""
    document = strategies.document_to_json(default_for(partner.country))
    if partner.country == Country.MX.value:
        document["stages"]["early"]["caps"]["call"] = {"per_day": 2, "per_week": 6}
        if document["stages"]["late"]["plans"].get("settlement") is None:
            document["stages"]["late"]["plans"]["settlement"] = document["stages"]["nonaccrual"][
                "plans"
            ]["settlement"]
    await strategies.create_strategy(
        session, SYSTEM, partner.id, StrategyWrite.model_validate(document)
    )


_PCR_NOTES = [
    ("reduced_income", "Hours cut at work since the summer", "Lives with parents; one child",
     "Pays 1,500 on the next payday; call the day before"),
    ("illness", "Hospital bills after surgery", "Back at work next month",
     "Regularization plan to be quoted by the team lead"),
    ("unemployment", "Lost his job in the spring", "Spouse works part time",
     "Small payment now, follow up in two weeks"),
    ("over_indebtedness", "Three cards in arrears", "Consolidating with family help",
     "Settlement offer to be reviewed by the manager"),
    ("disagrees_with_debt", "Says a purchase was not his", "Has the receipt at home",
     "Asked for the statement; note the dispute"),
]  # fmt: skip


async def _collector_weeks(session: AsyncSession, partner: Partner, staff: dict[str, User]) -> None:
    """Three weeks of gestiones on phone1's accounts, each checked against the law at its
    own time: right-party contacts with their PCR, no answers, promises that end kept,
    partially kept, broken or still pending, refusals that escalate, and coaching notes."""
    settings = get_settings()
    collector = _principal(staff["phone1"])
    lead = _principal(staff["lead"])
    zone = ZoneInfo(partner.time_zone)
    today = datetime.now(zone).date()
    first_phone = (
        select(col(ContactPoint.id))
        .where(
            col(ContactPoint.account_id) == col(Account.id),
            col(ContactPoint.kind) == "phone",
            col(ContactPoint.related_party_id).is_(None),
        )
        .order_by(col(ContactPoint.position))
        .limit(1)
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(col(Account.id), col(Account.total), first_phone)
            .where(
                col(Account.partner_id) == partner.id,
                col(Account.assigned_collector_id) == staff["phone1"].id,
            )
            .order_by(col(Account.external_ref))
            .limit(40)
        )
    ).all()
    rng = random.Random("cartera-demo-gestiones")  # noqa: S311 — repeatable demo data
    plan = []
    for index, (account_id, total, phone_id) in enumerate(rows):
        for week in range(3):
            day = today - timedelta(days=21 - week * 7 + index % 5)
            while day.weekday() >= 5:
                day -= timedelta(days=1)
            at = datetime(day.year, day.month, day.day, 10 + index % 8, 15, tzinfo=zone)
            plan.append((at, index, week, account_id, total, phone_id))
    # Recorded in the order they happened, as the rules require.
    for at, index, week, account_id, total, phone_id in sorted(plan, key=lambda p: p[:3]):
        day = at.date()
        result = _demo_result(index, week)
        body: dict[str, Any] = {
            "channel": "call",
            "direction": "outbound",
            "contact_point_id": phone_id,
            "party": "debtor" if result.startswith("RPC") else "none",
            "result_code": result,
            "started_at": at.astimezone(UTC),
            "ended_at": (at + timedelta(minutes=rng.randint(1, 9))).astimezone(UTC),
        }
        if result.startswith("RPC"):
            category, problem, circumstance, resolution = _PCR_NOTES[index % len(_PCR_NOTES)]
            body["pcr"] = {
                "problem_category": category,
                "problem": problem,
                "circumstance": circumstance,
                "resolution": resolution,
            }
        if result == "RPC_PTP":
            amount = min(total, Decimal(rng.choice([500, 800, 1500, 2500])))
            body["promise"] = {"amount": amount, "due_date": day + timedelta(days=7)}
        if result == "RPC_CALLBACK":
            # "Call me tomorrow at eleven": on the debtor's clock, whatever the partner's.
            tomorrow = day + timedelta(days=1)
            body["callback"] = {
                "local_time": datetime(tomorrow.year, tomorrow.month, tomorrow.day, 11)
            }
        recorded = await interactions.record_interaction(
            session,
            settings,
            collector,
            account_id,
            InteractionCreate.model_validate(body),
            # Each contact is entered as it ended, as a collector enters it live.
            now=body["ended_at"] + timedelta(minutes=1),
        )
        if recorded.promise is not None and index % 4 != 3:
            # Payments arrive with the next issue; here the partner's report of what was
            # paid against the promise stands in for them.
            share = (Decimal(1), Decimal("0.97"), Decimal("0.4"))[index % 3]
            recorded.promise.paid_amount = (recorded.promise.amount * share).quantize(
                Decimal("0.01")
            )
            session.add(recorded.promise)
        if index % 6 == 0 and week == 2:
            await interactions.add_feedback(
                session,
                lead,
                recorded.interaction.id,
                "Good PCR. Next time confirm the payment channel before closing.",
            )
    await session.flush()
    await promises.follow_up(session, today)
    if rows:
        await escalations.create_escalation(
            session, collector, rows[0][0], "Debtor asks to speak with a manager about a settlement"
        )


def _demo_result(index: int, week: int) -> str:
    """A believable mix: no answers, contacts with their PCR, promises, some refusals."""
    if week < 2:
        return ("NO_ANSWER", "RPC", "VOICEMAIL", "RPC_PTP", "BUSY")[(index + week) % 5]
    return ("RPC_PTP", "RPC_PTP", "RPC", "RPC_REFUSE", "RPC_CALLBACK", "NO_ANSWER")[index % 6]


def _principal(user: User) -> Principal:
    return Principal(
        subject=str(user.id),
        role=Role(user.role),
        user_id=user.id,
        username=user.username,
        skills=frozenset(Skill(s) for s in user.skills),
    )


# ---------------------------------------------------------------------------------------
# The demo portfolio: pushed through the same intake as a partner's file.

_MX_PLACES = [  # state, municipality, postal code, phone area, centre (latitude, longitude)
    ("Ciudad de México", "Cuauhtémoc", "06600", "55", (19.4326, -99.1332)),
    ("Jalisco", "Guadalajara", "44100", "33", (20.6767, -103.3475)),
    ("Nuevo León", "Monterrey", "64000", "81", (25.6866, -100.3161)),
    ("Sonora", "Hermosillo", "83000", "662", (29.0729, -110.9559)),
    ("Quintana Roo", "Benito Juárez", "77500", "998", (21.1619, -86.8515)),
    ("Baja California", "Tijuana", "22000", "664", (32.5149, -117.0382)),
    ("Sinaloa", "Culiacán", "80000", "667", (24.8091, -107.3940)),
    ("Yucatán", "Mérida", "97000", "999", (20.9674, -89.5926)),
    ("Chihuahua", "Chihuahua", "31000", "614", (28.6320, -106.0691)),
]
_CO_PLACES = [
    ("Cundinamarca", "Bogotá", "110111", (4.7110, -74.0721)),
    ("Antioquia", "Medellín", "050001", (6.2442, -75.5812)),
]
# How far (degrees, about 4 km) an address may lie from its city's centre: a field
# collector's day in one city stays a drive, not a flight.
_CITY_SPREAD = 0.04
_FIRST = ["María", "José", "Guadalupe", "Juan", "Rosa", "Luis", "Ana", "Carlos", "Sofía", "Jorge"]
_LAST = ["Hernández", "García", "Martínez", "López", "González", "Pérez", "Rodríguez", "Sánchez"]
_LETTERS = "BCDFGHJKLMNPRSTVXZ"
# DPD ranges that put accounts in every stage (and past the bank's faster single-payment
# table): current, early, mid, late, nonaccrual, chargeoff.
_DPD_RANGES = [(0, 0), (1, 29), (30, 59), (60, 89), (90, 179), (180, 420)]


def _phone(rng: random.Random, country: Country, area: str) -> str:
    while True:
        if country is Country.CO:
            candidate = f"3{rng.randint(0, 2)}{rng.randint(0, 9)} {rng.randint(1000000, 9999999)}"
        else:
            rest = 10 - len(area)
            candidate = f"{area} {rng.randint(10 ** (rest - 1), 10**rest - 1)}"
        try:
            normalise_phone(candidate, country)
        except ValueError:
            continue
        return candidate


def _near(rng: random.Random, degrees: float) -> str:
    """A coordinate within :data:`_CITY_SPREAD` of ``degrees``, as intake reads it."""
    return f"{degrees + rng.uniform(-_CITY_SPREAD, _CITY_SPREAD):.6f}"


def _curp(rng: random.Random, born: date, woman: bool) -> str:
    letters = "".join(rng.choice(_LETTERS) for _ in range(4))
    inner = "".join(rng.choice(_LETTERS) for _ in range(3))
    base = f"{letters[0]}A{letters[1:3]}{born:%y%m%d}{'M' if woman else 'H'}DF{inner}0"
    return base + curp.calc_check_digit(base)


def demo_rows(country: Country, currency: str, count: int, today: date) -> list[dict[str, Any]]:
    """Plausible accounts in every stage, debtors spread over the country's time zones (each
    address a few kilometres from its city's centre, so field routes have stops), with
    references and some guarantors; one Mexican debtor in ten owes two accounts."""
    rng = random.Random(f"cartera-demo-{country.value}")  # noqa: S311 — repeatable demo data
    rows: list[dict[str, Any]] = []
    debtor: dict[str, Any] = {}
    for n in range(count):
        low, high = _DPD_RANGES[n % len(_DPD_RANGES)]
        dpd = rng.randint(low, high)
        principal = (
            Decimal(rng.randint(2_000, 250_000))
            if currency == "MXN"
            else Decimal(rng.randint(300_000, 40_000_000))
        )
        interest = (principal * Decimal(rng.randint(2, 25)) / 100).quantize(Decimal("0.01"))
        fees = Decimal(rng.choice([0, 0, 350, 600]))
        total = principal + interest + fees
        if country is Country.MX:
            state, municipality, postal, area, centre = rng.choice(_MX_PLACES)
        else:
            (state, municipality, postal, centre), area = rng.choice(_CO_PLACES), "3"
        if country is Country.MX and n % 10 == 1 and debtor:
            pass  # the same debtor as the row before: a second account
        else:
            # 27 to 59 years old: Mexican rules forbid collecting from older adults (60+).
            born = date(1967, 1, 1) + timedelta(days=rng.randint(0, 12000))
            woman = rng.random() < 0.5
            debtor = {
                "first_names": rng.choice(_FIRST),
                "last_names": f"{rng.choice(_LAST)} {rng.choice(_LAST)}",
                "national_id_type": "CURP" if country is Country.MX else "CC",
                "national_id": _curp(rng, born, woman)
                if country is Country.MX
                else str(rng.randint(10_000_000, 1_099_999_999)),
                "birth_date": born.isoformat(),
                "phones": [_phone(rng, country, area) for _ in range(rng.randint(1, 2))],
                "emails": [f"cliente{n}@correo.example"],
                "addresses": [
                    {
                        "line": f"Calle {rng.choice(_LAST)} {rng.randint(1, 999)}",
                        "state": state,
                        "municipality": municipality,
                        "postal_code": postal if country is Country.MX else None,
                        "latitude": _near(rng, centre[0]),
                        "longitude": _near(rng, centre[1]),
                    }
                ],
            }
        row: dict[str, Any] = {
            "external_ref": f"{'TC' if country is Country.MX else 'CR'}-{n + 1:06d}",
            "product_type": rng.choice(("revolving", "installment", "single_payment")),
            "currency": currency,
            "original_amount": str(total + Decimal(rng.randint(0, 5000))),
            "principal": str(principal),
            "interest": str(interest),
            "fees": str(fees),
            "total": str(total),
            "past_due_amount": str((total / 4).quantize(Decimal("0.01")) if dpd else 0),
            "oldest_unpaid_due_date": (today - timedelta(days=dpd)).isoformat() if dpd else None,
            "debtor": debtor,
            "references": [
                {
                    "full_name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                    "relationship": rng.choice(["madre", "hermano", "amiga", "trabajo"]),
                    "phones": [_phone(rng, country, area)],
                }
                for _ in range(rng.randint(1, 2))
            ],
            "guarantors": [
                {
                    "full_name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)} {rng.choice(_LAST)}",
                    "phones": [_phone(rng, country, area)],
                }
            ]
            if rng.random() < 0.2
            else [],
        }
        rows.append(row)
    return rows


async def _push_portfolio(session: AsyncSession, partner: Partner, count: int) -> None:
    today = partners.partner_today(partner)
    body = json.dumps(
        {"rows": demo_rows(Country(partner.country), partner.currency, count, today)}
    ).encode()

    async def chunks() -> AsyncIterator[bytes]:
        yield body

    assignment, _ = await assignments.submit_assignment(
        session,
        SYSTEM,
        partner.id,
        f"demo-{partner.id}",
        SourceFormat.JSON,
        chunks(),
        max_json_bytes=len(body),
    )
    await assignments.process_assignment(session, assignment.id)


_ASSIGN = f"""
WITH picked AS (
    SELECT id FROM account
    WHERE partner_id = :pid AND stage = ANY(CAST(:stages AS text[])) AND status = 'active'
    ORDER BY external_ref
    LIMIT :n
    FOR UPDATE
),
changed AS (
    UPDATE account a
    SET assigned_collector_id = :uid, assigned_team_id = :tid, version = a.version + 1,
        updated_at = :now
    FROM picked p WHERE a.id = p.id
    RETURNING a.id
)
{history.INSERT}
SELECT id, :pid, {history.kind_sql(Assigned)}, :as_of, :now, 'system',
       {history.before_sql(Assigned, assigned_collector_id="NULL", assigned_team_id="NULL")},
       {history.after_sql(Assigned, assigned_collector_id=":uid", assigned_team_id=":tid")}
FROM changed
"""  # noqa: S608


async def _assign(
    session: AsyncSession,
    partner: Partner,
    collector: User,
    team: Team,
    stages: tuple[str, ...],
    count: int,
) -> None:
    now = datetime.now(UTC)
    await session.execute(
        text(_ASSIGN),
        {
            "pid": partner.id,
            "stages": list(stages),
            "n": count,
            "uid": collector.id,
            "tid": team.id,
            "now": now,
            "as_of": partners.partner_today(partner, now),
        },
    )
    await audit.record(
        session,
        SYSTEM,
        "demo.accounts_assigned",
        "user",
        collector.id,
        after={"partner_id": partner.id, "stages": list(stages), "count": count},
    )


# ---------------------------------------------------------------------------------------
# Payment plans in every status the demo can reach without payments: active, pending the
# lead's approval, rejected, cancelled and broken.


async def _plans(session: AsyncSession, partner: Partner, staff: dict[str, User]) -> None:
    field, manager = _principal(staff["field1"]), _principal(staff["manager"])
    today = partners.partner_today(partner)
    candidates = list(
        await session.scalars(
            select(col(Account.id))
            .where(
                col(Account.partner_id) == partner.id,
                col(Account.assigned_collector_id) == staff["field1"].id,
                col(Account.stage) == "nonaccrual",
            )
            .order_by(col(Account.external_ref))
            .limit(8)
        )
    )
    if len(candidates) < 8:
        return
    first_due = today + timedelta(days=7)

    def settlement(due: date, discount: str = "0.5") -> PlanQuoteRequest:
        """One payment less a small discount: within what a collector may approve."""
        return PlanQuoteRequest.model_validate(
            {
                "plan_type": "settlement",
                "installments": 1,
                "frequency": "monthly",
                "first_due_date": due,
                "discount_pct": discount,
            }
        )

    # Within every limit: the collector's own plan is active at once; the bank reports the
    # debtor paid it in full (the plan completes), and a second, partial payment on another
    # account was reversed when the transfer bounced.
    paid = await plans.propose_plan(session, field, candidates[0], settlement(first_due))
    await _pay(session, manager, paid.plan.account_id, paid.plan.agreed_total, "SPEI-DEMO-1")
    bounced = await _pay(session, manager, candidates[5], Decimal("750.00"), "SPEI-DEMO-2")
    await payments.reverse_payment(session, manager, bounced.id, "Transfer returned by the bank")
    await _pay(session, manager, candidates[6], Decimal("1200.00"), "OXXO-DEMO-3")
    await plans.propose_plan(session, field, candidates[7], settlement(first_due))
    # A settlement whose discount needs the team lead: left for `lead` to approve.
    for discount in ("5", "10", "15", "20", "25", "30", "40"):
        terms = settlement(first_due, discount)
        quoted = await plans.quote_plan(session, field, candidates[1], terms)
        if quoted.quote.approver_role is Role.TEAM_LEAD and not quoted.quote.breaches:
            await plans.propose_plan(session, field, candidates[1], terms)
            break
    # One the lead turned down, one the manager cancelled.
    rejected = await plans.propose_plan(session, field, candidates[2], settlement(first_due, "60"))
    if rejected.plan.status == "pending_approval":
        await plans.reject_plan(
            session, manager, rejected.plan.id, "Discount above what the bank allows this stage"
        )
    cancelled = await plans.propose_plan(session, field, candidates[3], settlement(first_due))
    await plans.cancel_plan(session, manager, cancelled.plan.id, "Debtor asked for a settlement")
    # Agreed two months ago and never paid: tonight's follow-up finds it broken.
    long_ago = today - timedelta(days=70)
    await plans.propose_plan(
        session,
        field,
        candidates[4],
        settlement(long_ago + timedelta(days=7)),
        today=long_ago,
    )
    await plans.follow_up_plans(session, today)


async def _payment_file(session: AsyncSession, partner: Partner, client_id: str) -> None:
    """Yesterday's payments file from the bank: two payments named by the bank's account
    number, one by the reference the debtor quoted at a store, one the bank could not
    place, and the settlement payment already recorded (a duplicate)."""
    accounts = list(
        await session.scalars(
            select(Account)
            .where(col(Account.partner_id) == partner.id, col(Account.stage) == "early")
            .order_by(col(Account.external_ref))
            .limit(3)
        )
    )
    if len(accounts) < 3 or accounts[2].payment_serial is None:
        return
    yesterday = (partners.partner_today(partner) - timedelta(days=1)).isoformat()
    quoted = payment_reference(accounts[2].payment_serial)
    lines = [
        "external_ref,payment_reference,amount,paid_on,channel,payer_reference",
        f"{accounts[0].external_ref},,500.00,{yesterday},spei,SPEI-FILE-1",
        f"{accounts[1].external_ref},,250.00,{yesterday},branch,SUC-FILE-2",
        f",{quoted[:6]} {quoted[6:]},300.00,{yesterday},cash_store,OXXO-FILE-3",
        f"TC-UNKNOWN-77,,180.00,{yesterday},spei,SPEI-FILE-4",
        f",,,{yesterday},spei,",
        f"{accounts[0].external_ref},,999.00,{yesterday},spei,SPEI-DEMO-1",
    ]
    system = Principal(
        subject=f"client:{client_id}", role=Role.PARTNER, partner_id=partner.id,
        client_id=client_id,
    )  # fmt: skip

    async def body() -> AsyncIterator[bytes]:
        yield ("\n".join(lines) + "\n").encode()

    sent, _ = await payment_files.submit_file(
        session, system, partner.id, "demo-payments-file", SourceFormat.CSV, body()
    )
    await payment_files.process_file(session, sent.id)


async def _pay(
    session: AsyncSession, actor: Principal, account_id: uuid.UUID, amount: Decimal, ref: str
) -> Payment:
    account = await session.get_one(Account, account_id)
    payment, _ = await payments.record_payment(
        session,
        actor,
        f"demo-{ref}",
        PaymentCreate(
            account_id=account_id,
            amount=amount,
            currency=account.currency,
            paid_on=date.today() - timedelta(days=1),
            channel="spei" if ref.startswith("SPEI") else "cash_store",
            payer_reference=ref,
        ),
    )
    return payment
