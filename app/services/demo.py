"""Demo data for a first look: staff of every role, the partner "Banco Demo" and its system.

Loaded once: a database that already has the demo admin is left alone. Later features add
their demo data here. Every login below uses the password ``cartera-demo``.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.domain.roles import Role, Skill
from app.models.partner import Partner, PartnerClient
from app.models.user import User
from app.schemas.teams import TeamCreate
from app.schemas.users import UserCreate
from app.security import SYSTEM, hash_secret
from app.services import audit, teams, users

DEMO_PASSWORD = "cartera-demo"
DEMO_CLIENT_ID = "demo-bank"
DEMO_CLIENT_SECRET = "demo-bank-secret"

DEMO_STAFF: list[tuple[str, str, Role, list[Skill]]] = [
    ("admin", "Ana Administradora", Role.ADMIN, []),
    ("manager", "Mario Gerente", Role.MANAGER, []),
    ("lead", "Lucía Líder", Role.TEAM_LEAD, []),
    ("phone1", "Pedro Telefónico", Role.COLLECTOR, [Skill.PHONE]),
    ("field1", "Fernanda de Campo", Role.COLLECTOR, [Skill.FIELD]),
    ("auditor", "Aurelio Auditor", Role.AUDITOR, []),
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
    partner = Partner(
        legal_name="Banco Demo, S.A., Institución de Banca Múltiple",
        tax_id="BDE9901017Q3",
        country="MX",
        currency="MXN",
        time_zone="America/Mexico_City",
        contact_name="Carla Convenios",
        contact_email="convenios@banco-demo.example",
    )
    session.add(partner)
    await session.flush()
    await audit.record(
        session,
        SYSTEM,
        "partner.created",
        "partner",
        partner.id,
        after={"legal_name": partner.legal_name, "country": "MX", "currency": "MXN"},
    )
    client = PartnerClient(
        partner_id=partner.id,
        client_id=DEMO_CLIENT_ID,
        secret_hash=await hash_secret(DEMO_CLIENT_SECRET),
        name="Banco Demo core system",
    )
    session.add(client)
    await session.flush()
    await audit.record(
        session,
        SYSTEM,
        "partner_client.created",
        "partner_client",
        client.id,
        after={"partner_id": partner.id, "client_id": DEMO_CLIENT_ID},
    )
    return True
