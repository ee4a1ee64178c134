"""Demo data for a first look: staff of every role, two partners ("Banco Demo" in Mexico,
"Almacenes Demo" in Colombia) and their systems.

Loaded once: a database that already has the demo admin is left alone. Later features add
their demo data here. Every login below uses the password ``cartera-demo``.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from stdnum.co import nit

from app.domain.identity import Country
from app.domain.roles import Role, Skill
from app.models.user import User
from app.schemas.partners import BucketEdges, BucketTable, PartnerClientCreate, PartnerCreate
from app.schemas.teams import TeamCreate
from app.schemas.users import UserCreate
from app.security import SYSTEM
from app.services import partners, teams, users

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
    )
    retailer = PartnerCreate(
        legal_name="Almacenes Demo S.A.S.",
        tax_id=DEMO_RETAIL_NIT,
        country=Country.CO,
        currency="COP",
        time_zone="America/Bogota",
        contact_name="Camilo Cartera",
        contact_email="cartera@almacenes-demo.example",
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
    for partner_data, client_id, secret, client_name in demo_partners():
        partner = await partners.create_partner(session, SYSTEM, partner_data)
        await partners.create_client(
            session,
            SYSTEM,
            partner.id,
            PartnerClientCreate(name=client_name),
            client_id=client_id,
            secret=secret,
        )
    return True
