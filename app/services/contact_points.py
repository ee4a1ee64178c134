"""What the profile shows of a debtor's contact points: each one's source, verification,
time zone and, from its interaction history, its contactability.

Owned by skip tracing (app/services/skip_tracing.py adds points and references); read by the
debtor profile (app/services/debtors.py).

Contactability counts the **outbound** interactions recorded on a point (the agency's
attempts; a call the debtor makes in is not an attempt), leaving out those replaced by a
correction. An attempt is a right-party contact when its result is one of the ``RPC*``
codes. Hours are local to the point's time zone, or the partner's when the point has none.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import String, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.domain.contact_check import RIGHT_PARTY_CODES
from app.domain.contactability import HourCount, contactability
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


# One statement for every point of the debtor on the given accounts, whatever their number:
# the interactions are found through their account (indexed), grouped by point and local
# hour. A point belongs to one account, and an interaction names only its account's points.
_HISTORY = text(
    """
SELECT i.contact_point_id,
       CAST(extract(hour FROM i.started_at AT TIME ZONE coalesce(cp.time_zone, p.time_zone))
            AS integer) AS local_hour,
       count(*) AS attempts,
       count(*) FILTER (WHERE i.result_code = ANY(:rpc_codes)) AS right_party_contacts
FROM interaction i
JOIN contact_point cp ON cp.id = i.contact_point_id
JOIN partner p ON p.id = cp.partner_id
WHERE i.account_id = ANY(:account_ids)
  AND i.debtor_id = :debtor_id
  AND i.direction = 'outbound'
  AND NOT EXISTS (SELECT 1 FROM interaction c WHERE c.amends_id = i.id)
GROUP BY 1, 2
"""
).bindparams(
    bindparam("account_ids", type_=ARRAY(PG_UUID(as_uuid=True))),
    bindparam("rpc_codes", type_=ARRAY(String())),
)


async def contact_points_of(
    session: AsyncSession, debtor_id: uuid.UUID, account_ids: Sequence[uuid.UUID]
) -> list[ContactPointView]:
    """The debtor's contact points (and its related parties') kept with ``account_ids``,
    with their contactability: two statements, whatever the number of points."""
    accounts = list(account_ids)
    if not accounts:
        return []
    rows = (
        await session.scalars(
            select(ContactPoint)
            .where(
                col(ContactPoint.debtor_id) == debtor_id,
                col(ContactPoint.account_id).in_(accounts),
            )
            .order_by(
                col(ContactPoint.account_id), col(ContactPoint.position), col(ContactPoint.id)
            )
        )
    ).all()
    if not rows:
        return []
    history: defaultdict[uuid.UUID, list[HourCount]] = defaultdict(list)
    counted = await session.execute(
        _HISTORY,
        {
            "account_ids": accounts,
            "debtor_id": debtor_id,
            "rpc_codes": sorted(RIGHT_PARTY_CODES),
        },
    )
    for point_id, hour, attempts, rpc in counted.all():
        history[point_id].append(HourCount(int(hour), int(attempts), int(rpc)))
    views = []
    for p in rows:
        reach = contactability(history.get(p.id, ()))
        views.append(
            ContactPointView(
                id=p.id,
                account_id=p.account_id,
                related_party_id=p.related_party_id,
                kind=p.kind,
                value_masked=p.value_masked,
                source=p.source,
                verification_status=p.verification_status,
                verified_at=p.verified_at,
                time_zone=p.time_zone,
                state=p.state,
                municipality=p.municipality,
                postal_code=p.postal_code,
                attempts=reach.attempts,
                right_party_contacts=reach.right_party_contacts,
                contactability=reach.score,
                best_hour=reach.best_hour,
            )
        )
    return views
