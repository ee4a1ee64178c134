"""Skip tracing ("búsqueda de datos, localización"): keep the phones, emails, addresses and
references a collector found for a debtor.

New data is kept with one account of the debtor, the one the collector works (a partner
sees only what is kept with its own accounts, so skip-traced data never crosses partners).
A value already kept for the same owner (the debtor, or one reference) on that account, by
its blind index, merges into the existing point instead of multiplying; a reference of the
same name (accents and case aside) on the account merges likewise. Everything is audited
with masked values only.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import phonenumbers
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app import locks
from app.domain.accounts import AccountStatus
from app.domain.contactability import (
    Source,
    VerificationStatus,
    is_valid,
    merge_duplicate,
    more_trustworthy,
    name_key,
)
from app.domain.errors import AccountNotActive, InvalidInput, NotFound
from app.domain.geography import time_zone_for, time_zone_for_phone
from app.domain.identity import Country, InvalidId, normalise_phone
from app.i18n import N_
from app.models.account import Account
from app.models.debtor import ContactPoint, RelatedParty, contact_index
from app.models.partner import Partner
from app.schemas.skip_tracing import ContactPointCreate, ReferenceCreate
from app.security import Principal
from app.services import accounts, audit
from app.services.contact_points import ContactPointView, contact_points_of

# Adding data to one account is serialised, so two collectors adding the same number at
# once still end with one point.
_MX_POSTAL_CODE = re.compile(r"[0-9]{5}")


@dataclass(frozen=True, slots=True)
class AddedPoint:
    point: ContactPointView
    merged: bool


@dataclass(frozen=True, slots=True)
class AddedReference:
    reference: RelatedParty
    phones: list[ContactPointView]
    merged: bool


@dataclass(frozen=True, slots=True)
class _Value:
    """A contact value as it is kept: normalised, with its blind index and zone."""

    kind: str
    value: str
    index: bytes
    time_zone: str | None
    state: str | None = None
    municipality: str | None = None
    postal_code: str | None = None


async def _working_account(
    session: AsyncSession, principal: Principal, debtor_id: uuid.UUID, account_id: uuid.UUID
) -> tuple[Account, Partner]:
    """The account, if the caller sees it and it is the debtor's (404 otherwise), locked for
    adding contact data; it must still be worked."""
    account = await accounts.get_account(session, principal, account_id)
    if account.debtor_id != debtor_id:
        raise NotFound({"entity": "account"})
    if account.status != AccountStatus.ACTIVE:
        raise AccountNotActive(account.status)
    await locks.hold(session, locks.LockClass.ACCOUNT_CONTACT_POINTS, str(account.id))
    return account, await session.get_one(Partner, account.partner_id)


def _source(stored: str) -> Source:
    """A stored source; one outside today's list (older data) is kept like a partner's:
    never replaced by a merge."""
    try:
        return Source(stored)
    except ValueError:
        return Source.PARTNER


def _has_extension(raw: str, country: Country) -> bool:
    """Whether a number is written with an extension ("ext. 12", "x12"), which E.164 has no
    room for: kept, it would be silently dropped."""
    try:
        return bool(phonenumbers.parse(raw, country.value).extension)
    except phonenumbers.NumberParseException:
        return False


def _phone(raw: str, country: Country, field: str) -> _Value:
    try:
        e164 = normalise_phone(raw, country)
    except InvalidId as exc:
        raise InvalidInput(field, exc.text) from exc
    if _has_extension(raw, country):
        raise InvalidInput(field, N_("extensions are not stored: give the number without one"))
    return _Value("phone", e164, contact_index("phone", e164), time_zone_for_phone(e164))


def _value_of(body: ContactPointCreate, partner: Partner) -> _Value:
    country = Country(partner.country)
    if body.kind == "phone":
        return _phone(body.value, country, "value")
    if body.kind == "email":
        return _Value("email", body.value, contact_index("email", body.value), None)
    postal = body.postal_code
    if postal is not None and country is Country.MX and not _MX_POSTAL_CODE.fullmatch(postal):
        raise InvalidInput("postal_code", N_("a Mexican postal code has five digits"))
    time_zone = time_zone_for(country.value, body.state)
    if body.state is not None and country is Country.MX and time_zone is None:
        raise InvalidInput("state", N_("not a Mexican state"))
    return _Value(
        "address",
        body.value,
        contact_index("address", body.value),
        time_zone,
        state=body.state,
        municipality=body.municipality,
        postal_code=postal,
    )


async def _points_of_owner(
    session: AsyncSession, account: Account, related_party_id: uuid.UUID | None
) -> list[ContactPoint]:
    owner = (
        col(ContactPoint.related_party_id).is_(None)
        if related_party_id is None
        else col(ContactPoint.related_party_id) == related_party_id
    )
    rows = await session.scalars(
        select(ContactPoint).where(col(ContactPoint.account_id) == account.id, owner)
    )
    return list(rows.all())


def _keep(
    session: AsyncSession,
    account: Account,
    existing: list[ContactPoint],
    value: _Value,
    source: Source,
    note: str | None,
    related_party_id: uuid.UUID | None,
) -> tuple[ContactPoint, bool, dict[str, object] | None]:
    """The point ``value`` is kept as among the owner's ``existing`` points (appended when
    new), whether it merged, and what a merge changed (None when nothing)."""
    for point in existing:
        if point.kind == value.kind and bytes(point.value_index) == value.index:
            old_source = _source(point.source)
            old_status = point.verification_status
            outcome = merge_duplicate(old_source, old_status, source)
            if not outcome.changes(old_source, old_status):
                return point, True, None
            if outcome.source is not old_source:
                point.source = outcome.source.value
            point.verification_status = outcome.status
            point.is_valid = is_valid(outcome.status)
            if outcome.reset_failures:
                point.failed_attempts = 0
            session.add(point)
            change: dict[str, object] = {
                "source": point.source,
                "verification_status": outcome.status.value,
            }
            return point, True, change
    point = ContactPoint(
        partner_id=account.partner_id,
        account_id=account.id,
        debtor_id=account.debtor_id,
        related_party_id=related_party_id,
        kind=value.kind,
        value=value.value,
        value_index=value.index,
        state=value.state,
        municipality=value.municipality,
        postal_code=value.postal_code,
        time_zone=value.time_zone,
        position=max((p.position for p in existing), default=-1) + 1,
        source=source.value,
        verification_status=VerificationStatus.UNVERIFIED,
        is_valid=True,
        note=note,
    )
    session.add(point)
    existing.append(point)
    return point, False, None


def _audited(point: ContactPoint) -> dict[str, object]:
    return {
        "account_id": point.account_id,
        "related_party_id": point.related_party_id,
        "kind": point.kind,
        "value_masked": point.value_masked,
        "source": point.source,
    }


async def _views(
    session: AsyncSession, account: Account, ids: list[uuid.UUID]
) -> list[ContactPointView]:
    views = {v.id: v for v in await contact_points_of(session, account.debtor_id, [account.id])}
    return [views[i] for i in ids]


async def add_contact_point(
    session: AsyncSession,
    principal: Principal,
    debtor_id: uuid.UUID,
    body: ContactPointCreate,
) -> AddedPoint:
    account, partner = await _working_account(session, principal, debtor_id, body.account_id)
    value = _value_of(body, partner)
    existing = await _points_of_owner(session, account, None)
    point, merged, change = _keep(
        session, account, existing, value, Source(body.source), body.note, None
    )
    await session.flush()
    if not merged:
        await audit.record(
            session, principal, "contact_point.added", "contact_point", point.id,
            after=_audited(point),
        )  # fmt: skip
    elif change is not None:
        await audit.record(
            session, principal, "contact_point.merged", "contact_point", point.id,
            after={**_audited(point), **change},
        )  # fmt: skip
    (view,) = await _views(session, account, [point.id])
    return AddedPoint(view, merged)


async def add_reference(
    session: AsyncSession,
    principal: Principal,
    debtor_id: uuid.UUID,
    body: ReferenceCreate,
) -> AddedReference:
    account, partner = await _working_account(session, principal, debtor_id, body.account_id)
    country = Country(partner.country)
    values = [_phone(raw, country, f"phones[{i}]") for i, raw in enumerate(body.phones)]
    source = Source(body.source)
    key = name_key(body.full_name)
    references = await session.scalars(
        select(RelatedParty).where(
            col(RelatedParty.account_id) == account.id, col(RelatedParty.kind) == "reference"
        )
    )
    reference = next((r for r in references.all() if name_key(r.full_name) == key), None)
    merged = reference is not None
    if reference is None:
        position = await session.scalar(
            select(func.coalesce(func.max(col(RelatedParty.position)) + 1, 0)).where(
                col(RelatedParty.account_id) == account.id
            )
        )
        reference = RelatedParty(
            partner_id=account.partner_id,
            account_id=account.id,
            kind="reference",
            full_name=body.full_name,
            relationship=body.relationship,
            position=int(position or 0),
            source=source.value,
            note=body.note,
        )
        session.add(reference)
        await session.flush()
        existing: list[ContactPoint] = []
    else:
        existing = await _points_of_owner(session, account, reference.id)
        old = _source(reference.source)
        if old is not Source.PARTNER and more_trustworthy(source, old):
            reference.source = source.value
        if reference.note is None and body.note is not None:
            reference.note = body.note
        session.add(reference)
    added: list[ContactPoint] = []
    for value in values:
        point, point_merged, _ = _keep(
            session, account, existing, value, source, None, reference.id
        )
        if not point_merged:
            added.append(point)
    await session.flush()
    await audit.record(
        session,
        principal,
        "reference.merged" if merged else "reference.added",
        "related_party",
        reference.id,
        after={
            "account_id": account.id,
            "relationship": reference.relationship,
            "source": reference.source,
            "phones_added": [p.value_masked for p in added],
        },
    )
    phones = [p.id for p in sorted(existing, key=lambda p: (p.position, p.id)) if p.kind == "phone"]
    return AddedReference(reference, await _views(session, account, phones), merged)
