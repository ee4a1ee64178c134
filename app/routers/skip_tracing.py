"""Skip tracing: phones, emails, addresses and references a collector found for a debtor."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from app.deps import SessionDep, require
from app.domain.roles import Role
from app.problems import problem_responses
from app.schemas.skip_tracing import (
    ContactPointCreate,
    ContactPointRead,
    ReferenceCreate,
    ReferenceRead,
)
from app.security import Principal
from app.services import skip_tracing as service
from app.services.contact_points import ContactPointView

router = APIRouter(tags=["debtors"])

# Staff who work accounts; partners send their data with assignments, auditors only read.
Tracer = Annotated[
    Principal, Depends(require(Role.COLLECTOR, Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN))
]


def _read(view: ContactPointView, *, merged: bool = False) -> ContactPointRead:
    return ContactPointRead(
        id=view.id,
        account_id=view.account_id,
        related_party_id=view.related_party_id,
        kind=view.kind,
        value_masked=view.value_masked,
        source=view.source,
        verification_status=view.verification_status,
        verified_at=view.verified_at,
        time_zone=view.time_zone,
        state=view.state,
        municipality=view.municipality,
        postal_code=view.postal_code,
        attempts=view.attempts,
        right_party_contacts=view.right_party_contacts,
        contactability=view.contactability,
        best_hour=view.best_hour,
        merged=merged,
    )


@router.post(
    "/debtors/{debtor_id}/contact-points",
    summary="Add a phone, email or address found for a debtor",
    status_code=status.HTTP_201_CREATED,
    response_model=ContactPointRead,
    responses={
        200: {
            "model": ContactPointRead,
            "description": "The value was already kept for the debtor on that account: the "
            "existing point, merged",
        },
        **problem_responses(401, 403, 404, 409, 422),
    },
)
async def add_debtor_contact_point(
    session: SessionDep,
    principal: Tracer,
    debtor_id: uuid.UUID,
    body: ContactPointCreate,
    response: Response,
) -> ContactPointRead:
    """Kept with the given account of the debtor (which the caller must see: 404 otherwise)
    and starts `unverified`. Phones are normalised to E.164 for the partner's country and
    emails lower-cased; a phone gets the time zone of its area, an address that of its
    state.

    A value the debtor already has on that account (the same normalised value, however it
    was written) is not added twice: the existing point is answered with 200. If the new
    source is more trustworthy (debtor > field_visit > partner > skip_trace) it becomes the
    point's source, except on the partner's own rows, which its pushes keep replacing; a
    number marked invalid that the debtor gives again is reopened as unverified.
    Audited with the masked value only."""
    added = await service.add_contact_point(session, principal, debtor_id, body)
    if added.merged:
        response.status_code = status.HTTP_200_OK
    return _read(added.point, merged=added.merged)


@router.post(
    "/debtors/{debtor_id}/references",
    summary="Add a reference found for a debtor, with their phones",
    status_code=status.HTTP_201_CREATED,
    response_model=ReferenceRead,
    responses={
        200: {
            "model": ReferenceRead,
            "description": "A reference of the same name was already kept with the account: "
            "the phones were added to it",
        },
        **problem_responses(401, 403, 404, 409, 422),
    },
)
async def add_debtor_reference(
    session: SessionDep,
    principal: Tracer,
    debtor_id: uuid.UUID,
    body: ReferenceCreate,
    response: Response,
) -> ReferenceRead:
    """A person who may know where the debtor is (family, work, personal), kept with the
    given account of the debtor. References are only ever asked where the debtor is, never
    told of the debt. A reference of the same name on that account (ignoring accents, case
    and spacing: "José Pérez" is "JOSE PEREZ") is the same person: the new phones are added
    to it, and a phone it already has is not added twice (200). Audited without the name or
    the numbers in clear."""
    added = await service.add_reference(session, principal, debtor_id, body)
    if added.merged:
        response.status_code = status.HTTP_200_OK
    reference = added.reference
    return ReferenceRead(
        id=reference.id,
        account_id=reference.account_id,
        kind="reference",
        full_name=reference.full_name,
        relationship=reference.relationship,
        source=reference.source,
        phones=[_read(p) for p in added.phones],
        merged=added.merged,
    )
