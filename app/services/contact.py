"""May this person be contacted now, by this channel? Loads what the rules need about an
account (its partner's pack and strategy, the debtor's flags, consents and contact history
over all their accounts) and lets ``app/domain/compliance.py`` decide."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.config import Settings
from app.domain.compliance import (
    CONVERSATION_CODES,
    POINT_KIND,
    RIGHT_PARTY_CODES,
    Channel,
    ContactRequest,
    DebtorFlag,
    Decision,
    Party,
    PastContact,
    RulePack,
    age_flags,
    check_contact,
    pack_for,
    strictest,
)
from app.domain.errors import InvalidInput, PermissionDenied
from app.domain.flags import FlagsOnAccount, check_with_flags
from app.domain.geography import time_zone_for_phone
from app.domain.packs import MAX_PERIOD_DAYS
from app.domain.roles import Role
from app.domain.stages import Stage
from app.domain.strategies import StrategyDocument, limits_for
from app.models.account import Account, AccountPause
from app.models.debtor import ContactConsent, ContactPoint, RelatedParty
from app.models.interaction import Interaction
from app.models.partner import Partner
from app.security import Principal
from app.services import accounts, audit
from app.services.flags import flags_on_account
from app.services.strategies import current_strategy

# The longest period a pack (with an operator's overrides) counts contacts over, and a day.
HISTORY_WINDOW = timedelta(days=MAX_PERIOD_DAYS + 1)
# How far from now a contact may be checked: further out it is a typo, not a plan.
CHECK_RANGE = timedelta(days=400)

ADULT_AGE = 18
OLDER_ADULT_AGE = (
    60  # "persona adulta mayor": Ley de los Derechos de las Personas Adultas Mayores, art. 3
)
CHECKERS = frozenset({Role.COLLECTOR, Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN, Role.AUDITOR})


@dataclass(frozen=True, slots=True)
class ContactContext:
    account: Account
    partner: Partner
    pack: RulePack
    request: ContactRequest
    contact_point: ContactPoint | None
    related_party: RelatedParty | None
    strategy_version: int
    strategy: StrategyDocument
    # Without a contact point the person may be in any of the debtor's zones: all are checked.
    zones: tuple[str, ...] = ()
    # The debtor's flags that reach the account from its other accounts (``request.flags``
    # holds its own): app/domain/flags.py names them in the reasons.
    flags: FlagsOnAccount | None = None

    def decide(self) -> Decision:
        """The check in every zone the person may be in; the strictest answer wins."""
        return strictest(
            [self._decide_in(zone) for zone in self.zones or (self.request.time_zone,)]
        )

    def _decide_in(self, zone: str) -> Decision:
        def check(flags: frozenset[DebtorFlag]) -> Decision:
            return check_contact(self.pack, replace(self.request, time_zone=zone, flags=flags))

        return check_with_flags(check, self.request.flags, self.flags or FlagsOnAccount())


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
    replacing: uuid.UUID | None = None,
) -> ContactContext:
    now = datetime.now(UTC)
    if not now - CHECK_RANGE <= at <= now + CHECK_RANGE:
        raise InvalidInput("body.at", "must be within 400 days of now")
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
        if point.kind != POINT_KIND[channel]:
            raise InvalidInput(
                "body.contact_point_id", f"a {channel.value} goes to a {POINT_KIND[channel]}"
            )
        if point.related_party_id is not None:
            related = await session.get(RelatedParty, point.related_party_id)
    reached = _party_of(point, related, party)
    zones = await _zones(session, account, partner, point)
    zone = zones[0]
    scoped = await flags_on_account(session, account)
    flags = scoped.own | age_flags(account.debtor_birth_date, at.astimezone(ZoneInfo(zone)).date())
    consented, opted_out = await _consents(session, account)
    history = await _history(session, account, at, replacing)
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
        account,
        partner,
        pack_of(settings, partner.country),
        request,
        point,
        related,
        version,
        document,
        tuple(zones),
        scoped,
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
    if principal.role not in CHECKERS:
        # Partners do not run checks: the answer draws on other partners' contacts.
        raise PermissionDenied({"role": principal.role.value})
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
    return context, context.decide()


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
        raise InvalidInput("body.party", "name the contact point or the party to be reached")
    return asked


async def _zones(
    session: AsyncSession, account: Account, partner: Partner, point: ContactPoint | None
) -> list[str]:
    """The contact point's zone (for a phone without one, its area's). Without a contact
    point: every zone of the debtor's phones and addresses on this account, and the
    partner's, so the check holds wherever the person picks up."""
    if point is not None and point.time_zone:
        return [point.time_zone]
    if point is not None and point.kind == "phone":
        return [time_zone_for_phone(point.value) or partner.time_zone]
    if point is not None:
        return [partner.time_zone]
    rows = await session.execute(
        select(col(ContactPoint.kind), col(ContactPoint.value), col(ContactPoint.time_zone))
        .where(
            col(ContactPoint.account_id) == account.id,
            col(ContactPoint.related_party_id).is_(None),
        )
        .order_by(col(ContactPoint.position))
    )
    zones: list[str] = []
    for kind, value, zone in rows:
        found = zone or (time_zone_for_phone(value) if kind == "phone" else None)
        if found and found not in zones:
            zones.append(found)
    if partner.time_zone not in zones:
        zones.append(partner.time_zone)
    return zones


async def _consents(
    session: AsyncSession, account: Account
) -> tuple[frozenset[Channel] | None, frozenset[Channel]]:
    rows = (
        await session.execute(
            select(col(ContactConsent.channel), col(ContactConsent.status)).where(
                col(ContactConsent.debtor_id) == account.debtor_id,
                col(ContactConsent.partner_id) == account.partner_id,
            )
        )
    ).all()
    granted = frozenset(Channel(c) for c, s in rows if s == "granted")
    opted_out = frozenset(Channel(c) for c, s in rows if s == "opted_out")
    return (granted or None), opted_out


async def _history(
    session: AsyncSession, account: Account, at: datetime, excluding: uuid.UUID | None = None
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
                # What the agency did, and conversations the debtor started (a conversation
                # counts whoever called: Reg F comment 14(b)(4)-1.ii).
                or_(
                    col(Interaction.direction) == "outbound",
                    col(Interaction.result_code).in_(CONVERSATION_CODES),
                ),
                and_(
                    col(Interaction.started_at) >= at - HISTORY_WINDOW,
                    col(Interaction.started_at) <= at,
                ),
                # A corrected interaction is replaced by its amendment.
                col(Interaction.id).not_in(
                    select(col(Interaction.amends_id)).where(
                        col(Interaction.debtor_id) == account.debtor_id,
                        col(Interaction.amends_id).is_not(None),
                    )
                ),
                *([col(Interaction.id) != excluding] if excluding is not None else []),
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
    current = await session.get(
        ContactConsent, (account.debtor_id, account.partner_id, channel.value)
    )
    if (
        current is not None
        and current.status == "opted_out"
        and status == "granted"
        and principal.role is Role.COLLECTOR
    ):
        # The debtor's "no" is lifted only by someone who answers for it.
        raise PermissionDenied({"role": principal.role.value})
    now = datetime.now(UTC)
    statement = insert(ContactConsent).values(
        debtor_id=account.debtor_id,
        partner_id=account.partner_id,
        channel=channel.value,
        status=status,
        recorded_by=principal.audit_id,
        recorded_at=now,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["debtor_id", "partner_id", "channel"],
            set_={"status": status, "recorded_by": principal.audit_id, "recorded_at": now},
        )
    )
    consent = await session.get_one(
        ContactConsent,
        (account.debtor_id, account.partner_id, channel.value),
        populate_existing=True,
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
        .where(
            col(ContactConsent.debtor_id) == account.debtor_id,
            col(ContactConsent.partner_id) == account.partner_id,
        )
        .order_by(col(ContactConsent.channel))
    )
    return list(rows.all())
