"""May this person be contacted now, by this channel? Loads what the rules need about an
account (its partner's pack and strategy, the debtor's flags, consents and contact history
over all their accounts) and lets ``app/domain/compliance.py`` decide."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.config import Settings
from app.domain.compliance import (
    CONVERSATION_CODES,
    RIGHT_PARTY_CODES,
    Channel,
    ContactRequest,
    DebtorFlag,
    Decision,
    Party,
    PastContact,
    RulePack,
    check_contact,
    pack_for,
)
from app.domain.errors import InvalidInput, NotFound, PermissionDenied
from app.domain.geography import time_zone_for_phone
from app.domain.roles import Role
from app.domain.stages import Stage
from app.domain.strategies import limits_for
from app.models.account import Account, AccountPause
from app.models.debtor import ContactConsent, ContactPoint, RelatedParty
from app.models.debtor import DebtorFlag as DebtorFlagRow
from app.models.interaction import Interaction
from app.models.partner import Partner
from app.security import Principal
from app.services import accounts, audit
from app.services.strategies import current_strategy

# The longest period any pack or strategy counts contacts over, with a day to spare.
HISTORY_WINDOW = timedelta(days=8)


@dataclass(frozen=True, slots=True)
class ContactContext:
    account: Account
    partner: Partner
    pack: RulePack
    request: ContactRequest
    contact_point: ContactPoint | None
    related_party: RelatedParty | None
    strategy_version: int


def pack_of(settings: Settings, country: str) -> RulePack:
    """The country's pack, made stricter where the operator configured it."""
    return pack_for(country, settings.compliance_overrides.get(country))


async def contact_context(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    account_id: uuid.UUID,
    *,
    channel: Channel,
    party: Party | None,
    contact_point_id: uuid.UUID | None,
    at: datetime,
) -> ContactContext:
    account = await accounts.get_account(session, principal, account_id)
    partner = await session.get_one(Partner, account.partner_id)
    point: ContactPoint | None = None
    related: RelatedParty | None = None
    if contact_point_id is not None:
        point = await session.scalar(
            select(ContactPoint).where(
                col(ContactPoint.id) == contact_point_id,
                col(ContactPoint.account_id) == account.id,
            )
        )
        if point is None:
            raise InvalidInput("body.contact_point_id", "not a contact point of this account")
        if point.related_party_id is not None:
            related = await session.get(RelatedParty, point.related_party_id)
    reached = _party_of(point, related, party)
    zone = await _zone(session, account, partner, point)
    flags = await _flags(session, account)
    consented, opted_out = await _consents(session, account)
    history = await _history(session, account, at)
    paused = await _paused(session, account, at, zone)
    version, document = await current_strategy(session, partner.id)
    request = ContactRequest(
        at=at,
        channel=channel,
        party=reached,
        time_zone=zone,
        account_status=account.status,
        paused=paused,
        flags=flags,
        consented_channels=consented,
        opted_out_channels=opted_out,
        history=history,
        strategy=limits_for(document, Stage(account.stage), version),
        contact_point_valid=point.is_valid if point is not None else True,
    )
    return ContactContext(
        account, partner, pack_of(settings, partner.country), request, point, related, version
    )


async def check_account_contact(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    account_id: uuid.UUID,
    *,
    channel: Channel,
    party: Party | None,
    contact_point_id: uuid.UUID | None,
    at: datetime | None,
) -> tuple[ContactContext, Decision]:
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    context = await contact_context(
        session,
        settings,
        principal,
        account_id,
        channel=channel,
        party=party,
        contact_point_id=contact_point_id,
        at=moment,
    )
    return context, check_contact(context.pack, context.request)


def _party_of(
    point: ContactPoint | None, related: RelatedParty | None, asked: Party | None
) -> Party:
    """Who the contact reaches: the contact point's owner, or the party asked about."""
    if point is not None:
        found = Party(related.kind) if related is not None else Party.DEBTOR
        if asked is not None and asked is not found:
            raise InvalidInput("body.party", f"the contact point belongs to the {found.value}")
        return found
    if asked is None:
        raise NotFound({"entity": "contact_point"})
    return asked


async def _zone(
    session: AsyncSession, account: Account, partner: Partner, point: ContactPoint | None
) -> str:
    """The contact point's zone; for a phone without one, its area's; otherwise the debtor's
    address on this account; failing all, the partner's."""
    if point is not None and point.time_zone:
        return point.time_zone
    if point is not None and point.kind == "phone":
        found = time_zone_for_phone(point.value)
        if found:
            return found
    address_zone = await session.scalar(
        select(col(ContactPoint.time_zone))
        .where(
            col(ContactPoint.account_id) == account.id,
            col(ContactPoint.kind) == "address",
            col(ContactPoint.related_party_id).is_(None),
            col(ContactPoint.time_zone).is_not(None),
        )
        .order_by(col(ContactPoint.position))
        .limit(1)
    )
    return address_zone or partner.time_zone


async def _flags(session: AsyncSession, account: Account) -> frozenset[DebtorFlag]:
    rows = await session.scalars(
        select(col(DebtorFlagRow.kind)).where(
            col(DebtorFlagRow.debtor_id) == account.debtor_id,
            col(DebtorFlagRow.cleared_at).is_(None),
            or_(
                col(DebtorFlagRow.account_id).is_(None),
                col(DebtorFlagRow.account_id) == account.id,
            ),
        )
    )
    return frozenset(DebtorFlag(kind) for kind in rows)


async def _consents(
    session: AsyncSession, account: Account
) -> tuple[frozenset[Channel] | None, frozenset[Channel]]:
    rows = (
        await session.execute(
            select(col(ContactConsent.channel), col(ContactConsent.status)).where(
                col(ContactConsent.debtor_id) == account.debtor_id
            )
        )
    ).all()
    granted = frozenset(Channel(c) for c, s in rows if s == "granted")
    opted_out = frozenset(Channel(c) for c, s in rows if s == "opted_out")
    return (granted or None), opted_out


async def _history(
    session: AsyncSession, account: Account, at: datetime
) -> tuple[PastContact, ...]:
    """The debtor's outbound contacts of the last days, over all accounts and partners."""
    rows = (
        await session.execute(
            select(
                col(Interaction.started_at),
                col(Interaction.channel),
                col(Interaction.party),
                col(Interaction.result_code),
            ).where(
                col(Interaction.debtor_id) == account.debtor_id,
                col(Interaction.direction) == "outbound",
                and_(
                    col(Interaction.started_at) >= at - HISTORY_WINDOW,
                    col(Interaction.started_at) <= at,
                ),
            )
        )
    ).all()
    return tuple(
        PastContact(
            at=started,
            channel=Channel(channel),
            party=Party(party) if party != "none" else Party.DEBTOR,
            conversation=code in CONVERSATION_CODES,
            direct=code in RIGHT_PARTY_CODES,
        )
        for started, channel, party, code in rows
    )


async def _paused(session: AsyncSession, account: Account, at: datetime, zone: str) -> bool:
    if not account.has_pauses:
        return False
    from zoneinfo import ZoneInfo

    day = at.astimezone(ZoneInfo(zone)).date()
    found = await session.scalar(
        select(col(AccountPause.id)).where(
            col(AccountPause.account_id) == account.id,
            col(AccountPause.starts_on) <= day,
            col(AccountPause.ends_on) >= day,
        )
    )
    return found is not None


async def record_consent(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    channel: Channel,
    status: str,
) -> ContactConsent:
    """The debtor authorised a channel (Colombia contacts only those) or opted out of it."""
    if principal.role not in (Role.COLLECTOR, Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN):
        raise PermissionDenied({"role": principal.role.value})
    account = await accounts.get_account(session, principal, account_id)
    now = datetime.now(UTC)
    statement = insert(ContactConsent).values(
        debtor_id=account.debtor_id,
        channel=channel.value,
        status=status,
        recorded_by=principal.audit_id,
        recorded_at=now,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["debtor_id", "channel"],
            set_={"status": status, "recorded_by": principal.audit_id, "recorded_at": now},
        )
    )
    consent = await session.get_one(
        ContactConsent, (account.debtor_id, channel.value), populate_existing=True
    )
    await audit.record(
        session,
        principal,
        "consent.recorded",
        "debtor",
        account.debtor_id,
        after={"channel": channel.value, "status": status, "account_id": account.id},
        now=now,
    )
    return consent


async def list_consents(
    session: AsyncSession, principal: Principal, account_id: uuid.UUID
) -> list[ContactConsent]:
    account = await accounts.get_account(session, principal, account_id)
    rows = await session.scalars(
        select(ContactConsent)
        .where(col(ContactConsent.debtor_id) == account.debtor_id)
        .order_by(col(ContactConsent.channel))
    )
    return list(rows.all())
