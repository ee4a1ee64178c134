"""Inbound calls: who is calling (a look-up of the number among the accounts the caller may
work, audited like a KYC search), the desk's hold on what its look-up showed, and the calls
that matched nobody.

Rules in app/domain/inbound.py. The number is normalised as intake normalises phones
(:func:`app.domain.identity.normalise_phone`, Mexico's retired prefixes included) and found
through the contact points' blind index (values are sealed at rest), as KYC finds phones.
Visibility is :func:`app.services.accounts.readable_accounts`; the inbound desk also sees the
other active accounts behind the number, masked.

Every look-up is on record (``inbound.lookup``): the masked number, how many accounts were
shown and which (those shown to the desk masked under their own key, which is what lets the
desk record the call on them for a while: :func:`desk_account`); an empty answer too. A
number that is no phone is on record as ``inbound.lookup_refused``. Look-ups share the KYC
search's limit per user and minute, over every API process.

Answering the call is recording an interaction on the chosen account with the existing
endpoint and ``direction: inbound`` (app/services/interactions.py): it is not judged by the
hours and caps that bind the contacts the agency makes.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import case, cast, false, literal, or_, select, tuple_
from sqlalchemy.dialects.postgresql import JSONB, distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.config import Settings
from app.domain.accounts import AccountStatus
from app.domain.errors import InvalidInput, NotFound, PermissionDenied
from app.domain.identity import Country, mask, normalise_phone
from app.domain.inbound import (
    DESK_HOLD,
    MAX_MATCHES,
    desk_name,
    is_inbound_desk,
    may_look_up,
    may_read_unidentified,
)
from app.domain.interactions import MAX_BACKDATE, MAX_CLOCK_SKEW
from app.domain.roles import Role
from app.i18n import N_
from app.ids import new_id
from app.models.account import Account
from app.models.audit import AuditEvent
from app.models.debtor import ContactPoint, contact_index
from app.models.inbound import UnidentifiedCall
from app.models.partner import Partner
from app.models.user import Team, TeamMember
from app.pagination import decode_moment_cursor, split_moment_page
from app.security import Principal
from app.services import audit
from app.services.accounts import readable_accounts
from app.services.kyc import RefusedSearch, SearchQuery, refused_masks, take_search_slot

LOOKUP = "inbound.lookup"
LOOKUP_REFUSED = "inbound.lookup_refused"
# The key of a look-up's record listing the accounts it showed the inbound desk, masked.
DESK_ACCOUNTS = "desk_account_ids"


@dataclass(frozen=True, slots=True)
class Match:
    account_id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str
    debtor_name: str
    seen_as: str  # "worker": the caller works the account; "inbound_desk": masked summary
    assigned_to_me: bool
    assigned_collector_id: uuid.UUID | None
    contact_point_id: uuid.UUID
    phone_masked: str
    stage: str
    dpd: int
    currency: str
    balance: Decimal


@dataclass(frozen=True, slots=True)
class Lookup:
    phone_masked: str
    country: Country
    items: list[Match]
    truncated: bool


def _refuse(role: Role) -> None:
    raise PermissionDenied({"role": role.value})


async def look_up(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    phone: str,
    country: Country | None,
    *,
    now: datetime,
) -> Lookup:
    """The active accounts behind the number that the caller may work (and, for the inbound
    desk, the others, masked): the caller's own first, then those they work, by id; at most
    :data:`~app.domain.inbound.MAX_MATCHES`. Audited, found or not."""
    if not may_look_up(principal.role):
        _refuse(principal.role)
    await take_search_slot(
        session,
        principal,
        settings.inbound_lookups_per_minute,
        now=now,
        actions=(LOOKUP, LOOKUP_REFUSED),
        kind="inbound-lookup",
    )
    country = country or Country.MX
    try:
        e164 = normalise_phone(phone.strip(), country)
    except ValueError as exc:
        masked = refused_masks(SearchQuery(phone=phone))["phone"]
        await audit.record(
            session,
            principal,
            LOOKUP_REFUSED,
            "inbound_lookup",
            new_id(),
            after={"value_masked": masked, "country": country.value},
            now=now,
        )
        raise RefusedSearch([("query.phone", str(exc))]) from exc
    desk = is_inbound_desk(principal.role, principal.skills)
    points = (
        select(
            col(ContactPoint.account_id).label("account_id"),
            col(ContactPoint.id).label("point_id"),
            col(ContactPoint.value_masked).label("masked"),
        )
        .where(
            col(ContactPoint.value_index) == contact_index("phone", e164),
            col(ContactPoint.kind) == "phone",
            col(ContactPoint.related_party_id).is_(None),  # the debtor's own numbers only
        )
        .ext(distinct_on(col(ContactPoint.account_id)))
        .order_by(col(ContactPoint.account_id), col(ContactPoint.position), col(ContactPoint.id))
        .subquery()
    )
    works = col(Account.id).in_(readable_accounts(principal).with_only_columns(col(Account.id)))
    mine = (
        col(Account.assigned_collector_id) == principal.user_id
        if principal.user_id is not None
        else false()
    )
    query = (
        select(
            Account,
            col(Partner.legal_name),
            points.c.point_id,
            points.c.masked,
            works.label("works"),
            mine.label("mine"),
        )
        .join(points, points.c.account_id == col(Account.id))
        .join(Partner, col(Partner.id) == col(Account.partner_id))
        .where(col(Account.status) == AccountStatus.ACTIVE)
        .order_by(case((mine, 0), else_=1), case((works, 0), else_=1), col(Account.id))
        .limit(MAX_MATCHES + 1)
    )
    if not desk:
        query = query.where(works)
    rows = (await session.execute(query)).all()
    truncated = len(rows) > MAX_MATCHES
    items = [
        Match(
            account_id=account.id,
            partner_id=account.partner_id,
            partner_name=partner_name,
            debtor_name=(
                f"{account.debtor_first_names} {account.debtor_last_names}".strip()
                if works_it
                else desk_name(account.debtor_first_names, account.debtor_last_names)
            ),
            seen_as="worker" if works_it else "inbound_desk",
            assigned_to_me=bool(is_mine),
            assigned_collector_id=account.assigned_collector_id,
            contact_point_id=point_id,
            phone_masked=masked,
            stage=account.stage,
            dpd=account.dpd,
            currency=account.currency,
            balance=account.total,
        )
        for account, partner_name, point_id, masked, works_it, is_mine in rows[:MAX_MATCHES]
    ]
    await audit.record(
        session,
        principal,
        LOOKUP,
        "inbound_lookup",
        new_id(),
        after={
            "value_masked": mask(e164),
            "country": country.value,
            "results": len(items),
            "truncated": truncated,
            "account_ids": [str(m.account_id) for m in items if m.seen_as == "worker"],
            DESK_ACCOUNTS: [str(m.account_id) for m in items if m.seen_as == "inbound_desk"],
        },
        now=now,
    )
    return Lookup(mask(e164), country, items, truncated)


async def desk_account(
    session: AsyncSession, principal: Principal, account_id: uuid.UUID, now: datetime
) -> Account:
    """The account an inbound-desk collector records an inbound call on without working it:
    one their own look-up showed them (masked) within :data:`DESK_HOLD`, still active.
    Anything else is the same 404 as an account they may not see."""
    if not is_inbound_desk(principal.role, principal.skills):
        raise NotFound({"entity": "account"})
    shown = await session.scalar(
        select(col(AuditEvent.seq))
        .where(
            col(AuditEvent.actor_id) == principal.audit_id,
            col(AuditEvent.action) == LOOKUP,
            col(AuditEvent.occurred_at) > now - DESK_HOLD,
            col(AuditEvent.occurred_at) <= now,
            col(AuditEvent.after)[DESK_ACCOUNTS].op("@>")(
                cast(literal(json.dumps([str(account_id)])), JSONB)
            ),
        )
        .limit(1)
    )
    account = None
    if shown is not None:
        account = await session.scalar(
            select(Account).where(
                col(Account.id) == account_id, col(Account.status) == AccountStatus.ACTIVE
            )
        )
    if account is None:
        raise NotFound({"entity": "account"})
    return account


# ---------------------------------------------------------------------------------------
# Calls that matched nobody


async def record_unidentified(
    session: AsyncSession,
    principal: Principal,
    *,
    phone: str | None,
    country: Country | None,
    started_at: datetime,
    notes: str | None,
    now: datetime,
) -> UnidentifiedCall:
    """Keep a call whose number matched no debtor (or was withheld: ``phone`` None)."""
    if not may_look_up(principal.role) or principal.user_id is None:
        _refuse(principal.role)
    assert principal.user_id is not None
    if started_at > now + MAX_CLOCK_SKEW:
        raise InvalidInput("started_at", N_("must not be in the future"))
    if started_at < now - MAX_BACKDATE:
        raise InvalidInput("started_at", N_("may be at most 30 days in the past"))
    e164 = None
    if phone is not None:
        try:
            e164 = normalise_phone(phone.strip(), country or Country.MX)
        except ValueError as exc:
            raise InvalidInput("phone", str(exc)) from exc
    call = UnidentifiedCall(
        phone=e164,
        phone_masked=mask(e164) if e164 is not None else None,
        started_at=started_at,
        notes=notes,
        received_by=principal.user_id,
        created_at=now,
    )
    session.add(call)
    await session.flush()
    await audit.record(
        session,
        principal,
        "inbound.unidentified_recorded",
        "unidentified_call",
        call.id,
        after={"phone_masked": call.phone_masked, "started_at": started_at},
        now=now,
    )
    return call


async def list_unidentified(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None
) -> tuple[list[UnidentifiedCall], str | None]:
    """Newest first, keyset by (started_at, id): a team lead those taken by their teams'
    members or themselves; managers, admins and auditors every one."""
    if not may_read_unidentified(principal.role):
        _refuse(principal.role)
    query = select(UnidentifiedCall)
    if principal.role is Role.TEAM_LEAD:
        led = select(col(Team.id)).where(col(Team.lead_id) == principal.user_id)
        members = select(col(TeamMember.user_id)).where(col(TeamMember.team_id).in_(led))
        query = query.where(
            or_(
                col(UnidentifiedCall.received_by).in_(members),
                col(UnidentifiedCall.received_by) == principal.user_id,
            )
        )
    after = decode_moment_cursor(cursor)
    if after is not None:
        query = query.where(
            tuple_(col(UnidentifiedCall.started_at), col(UnidentifiedCall.id)) < tuple_(*after)
        )
    rows = (
        await session.scalars(
            query.order_by(
                col(UnidentifiedCall.started_at).desc(), col(UnidentifiedCall.id).desc()
            ).limit(limit + 1)
        )
    ).all()
    return split_moment_page(rows, limit, key=lambda r: (r.started_at, r.id))
