"""May this person be contacted now, by this channel? Loads what the rules need about an
account (its partner's pack and strategy, the debtor's flags, consents and contact history
over all their accounts) and lets ``app/domain/contact_check.py`` decide."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_
from sqlalchemy import select as sql_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.config import Settings
from app.domain.contact_check import (
    CONVERSATION_CODES,
    POINT_KIND,
    ContactChannel,
    ContactRequest,
    DebtorFlag,
    Decision,
    Party,
    PastContact,
    RulePack,
    age_flags,
    check_contact,
    pack_for,
    party_counted,
    past_contact,
    strictest,
)
from app.domain.contact_check_packs import MAX_PERIOD_DAYS
from app.domain.errors import InvalidInput, PermissionDenied
from app.domain.flags import FlagsOnAccount, check_with_flags
from app.domain.geography import ZoneEvidence, candidate_zones
from app.domain.interactions import PORTAL_CHANNEL
from app.domain.roles import Role
from app.domain.stages import Stage
from app.domain.strategies import StrategyDocument, limits_for
from app.i18n import N_
from app.models.account import Account, AccountPause
from app.models.debtor import ContactConsent, ContactPoint, RelatedParty
from app.models.interaction import Interaction
from app.models.partner import Partner
from app.observability import observe_contact_check
from app.security import Principal
from app.services import accounts
from app.services.experiments import strategy_for_account
from app.services.flags import flags_on_account

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
    # Every zone the person may be in (geography.candidate_zones): all are checked.
    zones: tuple[str, ...] = ()
    # The debtor's flags that reach the account from its other accounts (``request.flags``
    # holds its own): app/domain/flags.py names them in the reasons.
    flags: FlagsOnAccount | None = None
    # The champion/challenger arm the account is in (app/services/experiments.py), if any:
    # ``strategy`` is already that arm's.
    experiment_arm_id: uuid.UUID | None = None

    def decide(self) -> Decision:
        """The check in every zone the person may be in; the strictest answer wins and names
        its zone (``Decision.time_zone``)."""
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
    channel: ContactChannel,
    party: Party | None,
    contact_point_id: uuid.UUID | None,
    at: datetime,
    replacing: uuid.UUID | None = None,
    party_flags: frozenset[DebtorFlag] = frozenset(),
    account: Account | None = None,
) -> ContactContext:
    """What the rules need to judge a contact with the account at ``at``. ``account``: the
    account already loaded by a caller that established the principal may work it."""
    now = datetime.now(UTC)
    if not now - CHECK_RANGE <= at <= now + CHECK_RANGE:
        raise InvalidInput("at", N_("must be within 400 days of now"))
    if account is None or account.id != account_id:
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
            raise InvalidInput("contact_point_id", N_("not a contact point of this account"))
        if point.kind != POINT_KIND[channel]:
            raise InvalidInput(
                "contact_point_id",
                N_("a '{channel}' contact goes to a contact point of kind '{kind}'"),
                {"channel": channel.value, "kind": POINT_KIND[channel]},
            )
        if point.related_party_id is not None:
            related = await session.get(RelatedParty, point.related_party_id)
    reached = _party_of(point, related, party)
    zones = await _zones(session, account, partner, point, channel, reached)
    zone = zones[0]
    scoped = await flags_on_account(session, account)
    flags = scoped.own | age_flags(account.debtor_birth_date, at.astimezone(ZoneInfo(zone)).date())
    consented, opted_out = await _consents(session, account)
    history = await _history(session, account, at, replacing, reached, related)
    paused = await _paused(session, account, at, zone)
    effective = await strategy_for_account(session, account)
    version, document = effective.version, effective.document
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
        party_flags=party_flags if reached is not Party.DEBTOR else frozenset(),
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
        effective.arm_id,
    )


async def check_account_contact(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    account_id: uuid.UUID,
    *,
    channel: ContactChannel,
    party: Party | None,
    contact_point_id: uuid.UUID | None,
    at: datetime | None,
    party_flags: frozenset[DebtorFlag] = frozenset(),
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
        party_flags=party_flags,
    )
    decision = context.decide()
    observe_contact_check(channel, decision)
    return context, decision


def _party_of(
    point: ContactPoint | None, related: RelatedParty | None, asked: Party | None
) -> Party:
    """Who the contact reaches: the contact point's owner, or the party asked about."""
    if point is not None:
        found = Party(related.kind) if related is not None else Party.DEBTOR
        if asked is not None and asked is not found:
            raise InvalidInput(
                "party",
                N_("the contact point belongs to another party: '{party}'"),
                {"party": found.value},
            )
        return found
    if asked is None:
        raise InvalidInput("party", N_("name the contact point or the party to be reached"))
    return asked


# Channels that reach the person wherever they are: their other points are evidence too.
ANYWHERE = frozenset({ContactChannel.EMAIL, ContactChannel.SMS, ContactChannel.WHATSAPP})


async def _zones(
    session: AsyncSession,
    account: Account,
    partner: Partner,
    point: ContactPoint | None,
    channel: ContactChannel,
    party: Party,
) -> list[str]:
    """Every zone the person may be in, from the debtor's own evidence
    (:func:`app.domain.geography.candidate_zones`), never the partner's clock: a call or
    visit, the point's own; an email, SMS or WhatsApp, or a check without a point, every
    point of the person reached on this account (the debtor's, or the related party's)."""
    evidence: list[ContactPoint] = []
    if point is not None:
        evidence.append(point)
    if point is None or channel in ANYWHERE:
        owner = point.related_party_id if point is not None else None
        query = select(ContactPoint).where(col(ContactPoint.account_id) == account.id)
        if owner is not None:
            query = query.where(col(ContactPoint.related_party_id) == owner)
        elif party is Party.DEBTOR:
            query = query.where(col(ContactPoint.related_party_id).is_(None))
        else:
            query = query.where(
                col(ContactPoint.related_party_id).in_(
                    select(col(RelatedParty.id)).where(
                        col(RelatedParty.account_id) == account.id,
                        col(RelatedParty.kind) == party.value,
                    )
                )
            )
        rows = await session.scalars(query.order_by(col(ContactPoint.position)))
        evidence.extend(row for row in rows if point is None or row.id != point.id)
    return list(zones_of_points(evidence, partner.country))


async def call_zones(
    session: AsyncSession, account: Account, partner: Partner, point: ContactPoint | None
) -> tuple[str, ...]:
    """Every zone a call to the debtor through ``point`` (or, without one, through any of
    their points on this account) reaches them in, as the contact check reads it."""
    return tuple(await _zones(session, account, partner, point, ContactChannel.CALL, Party.DEBTOR))


def zones_of_points(points: Iterable[ContactPoint], country: str) -> tuple[str, ...]:
    """Every zone a person with these contact points may be in (the contact check's and the
    work queue's one reading of the evidence)."""
    return candidate_zones(
        (
            ZoneEvidence(
                kind=p.kind,
                country=country,
                value=p.value if p.kind == "phone" else None,
                state=p.state,
                municipality=p.municipality,
                postal_code=p.postal_code,
                time_zone=p.time_zone,
            )
            for p in points
        ),
        country,
    )


class _Identified(Protocol):
    @property
    def id(self) -> uuid.UUID: ...


_P = TypeVar("_P", bound=_Identified)


def points_placing(point: _P, channel: ContactChannel, others: Iterable[_P]) -> list[_P]:
    """The points that place the person for a contact through ``point``: a call or visit,
    the point itself; an email, SMS or WhatsApp (read wherever the person is), every one."""
    if channel not in ANYWHERE:
        return [point]
    return [point, *(o for o in others if o.id != point.id)]


async def _consents(
    session: AsyncSession, account: Account
) -> tuple[frozenset[ContactChannel] | None, frozenset[ContactChannel]]:
    rows = (
        await session.execute(
            select(col(ContactConsent.channel), col(ContactConsent.status)).where(
                col(ContactConsent.debtor_id) == account.debtor_id,
                col(ContactConsent.partner_id) == account.partner_id,
            )
        )
    ).all()
    granted = frozenset(ContactChannel(c) for c, s in rows if s == "granted")
    opted_out = frozenset(ContactChannel(c) for c, s in rows if s == "opted_out")
    return (granted or None), opted_out


async def _history(
    session: AsyncSession,
    account: Account,
    at: datetime,
    excluding: uuid.UUID | None = None,
    party: Party = Party.DEBTOR,
    related: RelatedParty | None = None,
) -> tuple[PastContact, ...]:
    """The debtor's outbound contacts of the last days, over all accounts and partners,
    each marked with whether it was about this account and with the person now to be
    contacted (the rules that count per debt and person use those)."""
    rows = (
        await session.execute(
            sql_select(  # seven columns: more than sqlmodel's typed select takes
                col(Interaction.started_at),
                col(Interaction.channel),
                col(Interaction.party),
                col(Interaction.result_code),
                col(Interaction.account_id),
                col(Interaction.related_party_id),
                col(Interaction.direction),
            ).where(
                col(Interaction.debtor_id) == account.debtor_id,
                # What the agency did, and conversations the debtor started (a conversation
                # counts whoever called: Reg F comment 14(b)(4)-1.ii).
                or_(
                    col(Interaction.direction) == "outbound",
                    col(Interaction.result_code).in_(CONVERSATION_CODES),
                ),
                # The self-service portal is no channel the contact rules count.
                col(Interaction.channel) != PORTAL_CHANNEL,
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

    def same_person(reached: str, related_id: uuid.UUID | None) -> bool:
        if party is Party.DEBTOR:
            # Nobody answering a debtor's call is still a call to the debtor.
            return reached in ("debtor", "none") and related_id is None
        if related is not None:
            return related_id == related.id
        return reached in (party.value, "none")

    return tuple(
        past_contact(
            started,
            ContactChannel(channel),
            party_counted(reached),
            code,
            same_debt=account_id == account.id,
            same_person=same_person(reached, related_id),
            placed=direction == "outbound",
        )
        for started, channel, reached, code, account_id, related_id, direction in rows
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
