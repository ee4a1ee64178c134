from __future__ import annotations

import uuid
from collections.abc import Container
from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.deps import LanguageDep, PrincipalDep, SessionDep
from app.domain.contact_check_packs import DebtorFlag as FlagKind
from app.domain.flags import REACH, Reach
from app.domain.identity import mask_birth_date
from app.domain.stages import Stage
from app.i18n import Language, translate
from app.models.debtor import DebtorFlag
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.schemas.common import PlainText
from app.schemas.debtors import (
    AccessRead,
    AgeNoticeRead,
    ConsentRead,
    ContactPointRead,
    DebtorAccountRead,
    DebtorProfileRead,
    FlagClear,
    FlagCreate,
    FlagRead,
    RelatedPartyRead,
    RevealedBirthDate,
    RevealedContactPoint,
    RevealedParty,
    RevealRead,
    RevealRequest,
)
from app.services import debtors as service
from app.services.debtors import DebtorProfile

router = APIRouter(prefix="/debtors", tags=["debtors"])

# The channels each kind of contact point serves, for its consent.
_CHANNELS = {
    "phone": ("call", "sms", "whatsapp"),
    "email": ("email",),
    "address": ("letter", "visit"),
}


def _profile(view: DebtorProfile, language: Language) -> DebtorProfileRead:
    partner_of = {a.id: a.partner_id for a in view.accounts}
    consent = {(c.partner_id, c.channel): c.status for c in view.consents}
    return DebtorProfileRead(
        id=view.debtor.id,
        national_id_type=view.debtor.national_id_type,
        national_id_masked=view.debtor.national_id_masked,
        accounts=[
            DebtorAccountRead(
                id=a.id, partner_id=a.partner_id, external_ref=a.external_ref,
                product_type=a.product_type, stage=Stage(a.stage).value, status=a.status,
                dpd=a.dpd, total=a.total, currency=a.currency,
                first_names=a.debtor_first_names, last_names=a.debtor_last_names,
                birth_date_masked=None if a.debtor_birth_date is None
                else mask_birth_date(a.debtor_birth_date),
                age_notices=[
                    AgeNoticeRead(
                        flag=n.flag.value, basis=n.basis.value,
                        effect=translate(n.effect, language), citation=n.citation,
                    )
                    for n in view.age_notices.get(a.id, ())
                ],
            )
            for a in view.accounts
        ],
        contact_points=[
            ContactPointRead(
                id=p.id, account_id=p.account_id, related_party_id=p.related_party_id,
                kind=p.kind, value_masked=p.value_masked, source=p.source,
                verification_status=p.verification_status, verified_at=p.verified_at,
                time_zone=p.time_zone, state=p.state, municipality=p.municipality,
                postal_code=p.postal_code,
                consent={
                    channel: consent[(partner_of[p.account_id], channel)]
                    for channel in _CHANNELS.get(p.kind, ())
                    if (partner_of[p.account_id], channel) in consent
                },
                attempts=p.attempts, right_party_contacts=p.right_party_contacts,
                contactability=p.contactability, best_hour=p.best_hour,
            )
            for p in view.contact_points
        ],
        related_parties=[
            RelatedPartyRead(
                id=r.id, account_id=r.account_id, kind=r.kind, full_name=r.full_name,
                relationship=r.relationship, national_id_type=r.national_id_type,
                national_id_masked=r.national_id_masked, source=r.source,
            )
            for r in view.related_parties
        ],
        flags=[_flag(f, partner_of) for f in view.flags],
        consents=[
            ConsentRead(partner_id=c.partner_id, channel=c.channel, status=c.status,
                        recorded_at=c.recorded_at)
            for c in view.consents
        ],
    )  # fmt: skip


@router.get(
    "/{debtor_id}",
    summary="Read a debtor's profile, masked",
    response_model=DebtorProfileRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def read_debtor(
    session: SessionDep, principal: PrincipalDep, debtor_id: uuid.UUID, language: LanguageDep
) -> DebtorProfileRead:
    """Names, national id, contact points (source, verification, consent per channel, time
    zone, contactability and best hour), references, guarantors and flags, from the accounts
    the caller may see; every personal value masked (reveal to see one). A debtor with no
    account the caller may see is a 404."""
    return _profile(await service.read_profile(session, principal, debtor_id), language)


@router.post(
    "/{debtor_id}/reveal",
    summary="Reveal a debtor's personal values, with a reason",
    response_model=RevealRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def reveal_debtor(
    session: SessionDep, principal: PrincipalDep, debtor_id: uuid.UUID, body: RevealRequest
) -> RevealRead:
    """For the collector on their own accounts, team leads and managers (others: 403). Every
    reveal is recorded with who, when, which fields and why; `GET …/access-log` lists them."""
    found = await service.reveal(session, principal, debtor_id, body.fields, body.reason)
    return RevealRead(
        access_id=found.access.id,
        national_id=found.national_id,
        birth_dates=None
        if found.birth_dates is None
        else [RevealedBirthDate(account_id=a, birth_date=b) for a, b in found.birth_dates],
        contact_points=None
        if found.contact_points is None
        else [
            RevealedContactPoint(
                id=p.id, account_id=p.account_id, related_party_id=p.related_party_id,
                kind=p.kind, value=p.value,
            )
            for p in found.contact_points
        ],
        related_parties=None
        if found.related_parties is None
        else [
            RevealedParty(
                id=r.id, account_id=r.account_id, full_name=r.full_name,
                national_id_type=r.national_id_type, national_id=r.national_id,
            )
            for r in found.related_parties
        ],
    )  # fmt: skip


@router.get(
    "/{debtor_id}/access-log",
    summary="List who revealed or exported a debtor's data",
    response_model=Page[AccessRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_debtor_access(
    session: SessionDep,
    principal: PrincipalDep,
    debtor_id: uuid.UUID,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[AccessRead]:
    """Managers and auditors; newest first."""
    rows, next_cursor = await service.access_log(
        session, principal, debtor_id, limit=limit, cursor=cursor
    )
    return Page(items=[AccessRead.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/{debtor_id}/export",
    summary="Export everything held on a debtor (data-subject access request)",
    response_model=dict[str, Any],
    responses=problem_responses(401, 403, 404, 422),
)
async def export_debtor(
    session: SessionDep,
    principal: PrincipalDep,
    debtor_id: uuid.UUID,
    reason: Annotated[
        PlainText,
        Query(min_length=10, max_length=500, description="The request being answered."),
    ],
) -> dict[str, Any]:
    """Managers. Every table's rows on the person, unmasked, as JSON (the debtor, accounts,
    contact points, references and guarantors, consents, flags, interactions, promises,
    plans, payments, documents and the access log), for an access request under Mexico's
    data-protection law (derechos ARCO) and its peers. Recorded in the access log."""
    return await service.export(session, principal, debtor_id, reason)


def _flag(flag: DebtorFlag, visible: Container[uuid.UUID] | None = None) -> FlagRead:
    """``visible``: the accounts the caller may see (None: the flag's account is theirs)."""
    known = flag.account_id is not None and (visible is None or flag.account_id in visible)
    return FlagRead(
        id=flag.id,
        kind=flag.kind,
        account_id=flag.account_id if known else None,
        reach=(REACH[FlagKind(flag.kind)] if flag.account_id is not None else Reach.AGENCY).value,
        set_at=flag.set_at,
    )


@router.post(
    "/{debtor_id}/flags",
    summary="Flag a debtor (insolvency, vulnerable, attorney…)",
    status_code=201,
    response_model=FlagRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def flag_debtor(
    session: SessionDep, principal: PrincipalDep, debtor_id: uuid.UUID, body: FlagCreate
) -> FlagRead:
    """Team leads, managers and admins (collectors flag through interaction results).
    Raised through one account of the debtor the caller may see (another is a 404), which it
    records with its partner; the kind says which accounts it reaches (a dispute that debt,
    cease_contact that creditor's accounts, the others every account), and only that
    partner's system sees it. On another creditor's account a contact check it stops says
    `agency_safety_flag` (the agency's policy), naming the flag only in its message for the
    staff who run it. The same flag already standing through that account is a 409."""
    flag = await service.set_flag(
        session, principal, debtor_id, body.kind, body.account_id, body.reason
    )
    return _flag(flag)


@router.post(
    "/{debtor_id}/flags/{flag_id}/clear",
    summary="Clear a debtor's flag",
    response_model=FlagRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def clear_debtor_flag(
    session: SessionDep,
    principal: PrincipalDep,
    debtor_id: uuid.UUID,
    flag_id: uuid.UUID,
    body: FlagClear,
) -> FlagRead:
    """Managers and admins, with a reason; a flag already cleared is a 409."""
    return _flag(await service.clear_flag(session, principal, debtor_id, flag_id, body.reason))
