"""Field visit routes: the day's visits of a field collector, ordered by the routing solver
(app/domain/field_routes.py), and the collector's route profile.

Which accounts make the day (:func:`route_for`):

- *Field-eligible*: assigned to the collector, active, and in a stage whose strategy uses
  visits in a country whose law allows them. Other accounts are not candidates at all.
- A candidate needs a debtor address (not a reference's, not marked invalid) with
  coordinates; the first such by position is used. Without one it is left out
  (``no_address`` / ``no_coordinates``).
- The pre-contact check of the contact law (app/domain/contact_check.py) runs for a visit to
  the debtor at the opening of the day's visit hours in the address's time zone, with the
  debtor's flags, pauses, consents and contact history over all accounts loaded set-based:
  any reason (cease-contact, attorney, dispute, vulnerable person, closed day or holiday,
  a frequency cap, the strategy's caps…) leaves it out as ``contact_not_allowed`` with the
  check's reason codes.
- The visit window is the law's visit hours on that date in the debtor's local time; the
  solver also keeps every visit inside the collector's shift. The shift is read in the
  profile's time zone, else the zone of the first candidate, else the partner's.
- *Visited today*: a candidate with a visit interaction (any result; a corrected one counts
  through its correction) started on the route's date in the address's local day. By
  default it is left out as ``visited_today``; with ``include_visited`` it is planned after
  the day's first visits, from where they end, with the capacity they leave
  (app/domain/field_routes.py, ``plan_with_revisits``), and marked ``visited``.
- At most :data:`MAX_CANDIDATES` go to the solver (first visits before revisits; highest
  strategy weight, then most days past due); the rest are left out as ``capacity``. A
  stop's priority for the solver is its stage's strategy weight times
  :data:`PRIORITY_METRES_PER_POINT`.
- What a collector needs at the door comes with each candidate, read set-based for the
  whole day (the statements do not grow with the stops): the balance, stage and debtor's
  name are the account's own columns (the name as this account's partner sent it, as
  account answers show it to whoever may read the account); the address is its masked line
  with what is held in clear for routing (municipality, state, postal code; the colonia is
  part of the sealed street line and stays there); and the obligation due
  (:func:`_dues`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Select, and_, literal, null, or_, union_all
from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.config import Settings
from app.domain.accounts import AccountStatus
from app.domain.contact_check import (
    CONVERSATION_CODES,
    ContactChannel,
    ContactRequest,
    Party,
    PastContact,
    age_flags,
    local_instant,
    party_counted,
    past_contact,
    strictest,
)
from app.domain.errors import InvalidInput, NotFound, PermissionDenied
from app.domain.field_routes import (
    DEFAULT_DAILY_CAPACITY,
    DEFAULT_SERVICE_MINUTES,
    DEFAULT_SPEED_KMH,
    SOLVER_TIME_LIMIT,
    DueKind,
    Point,
    RoutePlan,
    RouteRequest,
    VisitStop,
    plan_with_revisits,
)
from app.domain.flags import check_contact_with_flags, flags_on
from app.domain.geography import ZoneEvidence, candidate_zones
from app.domain.interactions import PORTAL_CHANNEL, PromiseStatus
from app.domain.roles import SEES_ALL_STAFF, Role, Skill
from app.domain.stages import Stage
from app.domain.strategies import StrategyDocument, limits_for
from app.i18n import N_
from app.models.account import Account, AccountPause
from app.models.debtor import ContactConsent, ContactPoint
from app.models.field_profile import FieldProfile
from app.models.interaction import Interaction
from app.models.partner import Partner
from app.models.plan import PaymentPlan, PlanInstallment
from app.models.promise import Promise
from app.models.user import Team, TeamMember, User
from app.schemas.field_routes import FieldProfileWrite
from app.security import Principal
from app.services import audit, experiments
from app.services.accounts import readable_accounts
from app.services.contact_check import HISTORY_WINDOW, pack_of
from app.services.flags import standing_flags

MAX_CANDIDATES = 200
PRIORITY_METRES_PER_POINT = 100
DEFAULT_SHIFT = (9 * 60, 19 * 60)
FALLBACK_ZONE = "America/Mexico_City"
# How far from today a route may be asked for.
ROUTE_RANGE = timedelta(days=60)


# ---------------------------------------------------------------------------------------
# Profiles


@dataclass(frozen=True, slots=True)
class ProfileView:
    user_id: uuid.UUID
    profile: FieldProfile | None  # None: nothing set, the defaults apply

    @property
    def start(self) -> Point | None:
        p = self.profile
        if p is None or p.start_latitude is None or p.start_longitude is None:
            return None
        return Point(float(p.start_latitude), float(p.start_longitude))


def default_profile(user_id: uuid.UUID) -> FieldProfile:
    return FieldProfile(
        user_id=user_id,
        daily_capacity=DEFAULT_DAILY_CAPACITY,
        service_minutes=DEFAULT_SERVICE_MINUTES,
        speed_kmh=DEFAULT_SPEED_KMH,
        updated_by="",
    )


async def _field_collector(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID
) -> User | None:
    """The user if the principal may see their profile (None: a 404 for them)."""
    if principal.role is Role.COLLECTOR and principal.user_id != user_id:
        return None
    if principal.role is Role.TEAM_LEAD:
        led = await session.scalar(
            select(col(TeamMember.user_id))
            .join(Team, col(Team.id) == col(TeamMember.team_id))
            .where(col(Team.lead_id) == principal.user_id, col(TeamMember.user_id) == user_id)
        )
        if led is None:
            return None
    elif principal.role not in SEES_ALL_STAFF and principal.role is not Role.COLLECTOR:
        return None
    return await session.get(User, user_id)


def _is_field(user: User) -> bool:
    return user.role == Role.COLLECTOR.value and Skill.FIELD.value in user.skills


async def get_profile(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID
) -> ProfileView:
    """Managers, admins and auditors read any; a team lead their members'; a collector their
    own. Anyone else's, or a user who is not a field collector, is a 404."""
    user = await _field_collector(session, principal, user_id)
    if user is None or not _is_field(user):
        raise NotFound({"entity": "field_profile"})
    return ProfileView(user_id, await session.get(FieldProfile, user_id))


def _profile_json(p: FieldProfile) -> dict[str, Any]:
    return {
        "start_latitude": p.start_latitude,
        "start_longitude": p.start_longitude,
        "daily_capacity": p.daily_capacity,
        "shift_start": p.shift_start.isoformat(timespec="minutes"),
        "shift_end": p.shift_end.isoformat(timespec="minutes"),
        "time_zone": p.time_zone,
        "service_minutes": p.service_minutes,
        "speed_kmh": p.speed_kmh,
    }


async def set_profile(
    session: AsyncSession,
    principal: Principal,
    user_id: uuid.UUID,
    body: FieldProfileWrite,
    *,
    now: datetime | None = None,
) -> tuple[ProfileView, bool]:
    """Managers and admins set any field collector's profile, a team lead their members'.
    (view, created)."""
    if principal.role not in (Role.ADMIN, Role.MANAGER, Role.TEAM_LEAD):
        raise PermissionDenied({"role": principal.role.value})
    user = await _field_collector(session, principal, user_id)
    if user is None:
        raise NotFound({"entity": "user"})
    if not _is_field(user):
        raise InvalidInput(
            "path.user_id", N_("not a field collector (role collector, skill field)")
        )
    if (body.start_latitude is None) != (body.start_longitude is None):
        raise InvalidInput("start_longitude", N_("give both coordinates of the start or none"))
    if body.shift_start >= body.shift_end:
        raise InvalidInput("shift_end", N_("must be after shift_start"))
    if body.time_zone is not None:
        _zone(body.time_zone, "time_zone")
    moment = now or datetime.now(UTC)
    profile = await session.get(FieldProfile, user_id, with_for_update=True)
    created = profile is None
    before = None if profile is None else _profile_json(profile)
    if profile is None:
        profile = FieldProfile(user_id=user_id, updated_by=principal.audit_id, created_at=moment)
        session.add(profile)
    else:
        profile.version += 1
    profile.start_latitude = body.start_latitude
    profile.start_longitude = body.start_longitude
    profile.daily_capacity = body.daily_capacity
    profile.shift_start = body.shift_start
    profile.shift_end = body.shift_end
    profile.time_zone = body.time_zone
    profile.service_minutes = body.service_minutes
    profile.speed_kmh = body.speed_kmh
    profile.updated_by = principal.audit_id
    profile.updated_at = moment
    await session.flush()
    await audit.record(
        session,
        principal,
        "field_profile.set",
        "field_profile",
        user_id,
        before=before,
        after=_profile_json(profile),
        now=moment,
    )
    return ProfileView(user_id, profile), created


def _zone(name: str, field_name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(field_name, N_("not an IANA time zone")) from exc


# ---------------------------------------------------------------------------------------
# The day's route


@dataclass(frozen=True, slots=True)
class Address:
    id: uuid.UUID
    masked: str
    municipality: str | None
    state: str | None
    postal_code: str | None
    latitude: Decimal | None
    longitude: Decimal | None
    time_zone: str | None


@dataclass(frozen=True, slots=True)
class Due:
    """The account's obligation due first: a pending promise to pay or an unpaid installment
    (the down payment is number 0) of its active plan, with what is still owed of it."""

    kind: DueKind
    amount: Decimal
    currency: str
    due_date: date
    promise_id: uuid.UUID | None = None
    plan_id: uuid.UUID | None = None
    installment_number: int | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    account: Account
    partner: Partner
    address: Address
    zone: str
    opens_at: datetime
    closes_at: datetime
    weight: Decimal
    visited: bool = False  # a visit was recorded on the route's day (the address's local day)
    due: Due | None = None


@dataclass(frozen=True, slots=True)
class Excluded:
    account: Account
    reason: str
    rules: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DayRoute:
    day: date
    collector_id: uuid.UUID
    profile: FieldProfile
    start: Point | None
    start_source: str
    shift_zone: str
    shift_starts_at: datetime
    shift_ends_at: datetime
    plan: RoutePlan
    candidates: dict[str, Candidate]
    excluded: list[Excluded] = field(default_factory=list)


async def route_for(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    day: date,
    *,
    start_latitude: float | None = None,
    start_longitude: float | None = None,
    include_visited: bool = False,
    now: datetime | None = None,
) -> DayRoute:
    """The day's visits of the calling field collector, in the order the solver found;
    accounts already visited that day are left out unless ``include_visited``, which plans
    them after the first visits."""
    if principal.role is not Role.COLLECTOR or Skill.FIELD not in principal.skills:
        raise PermissionDenied({"role": principal.role.value, "skill": "field"})
    assert principal.user_id is not None
    moment = now or datetime.now(UTC)
    if abs(day - moment.date()) > ROUTE_RANGE:
        raise InvalidInput("query.date", N_("must be within 60 days of today"))
    if (start_latitude is None) != (start_longitude is None):
        raise InvalidInput("query.start_lng", N_("give both start_lat and start_lng, or neither"))
    stored = await session.get(FieldProfile, principal.user_id)
    profile = stored or default_profile(principal.user_id)

    accounts = list(
        (
            await session.scalars(
                readable_accounts(principal).where(
                    col(Account.assigned_collector_id) == principal.user_id,
                    col(Account.status) == AccountStatus.ACTIVE,
                )
            )
        ).all()
    )
    partners = {
        p.id: p
        for p in (
            await session.scalars(
                select(Partner).where(col(Partner.id).in_({a.partner_id for a in accounts}))
            )
        ).all()
    }
    # Each account's strategy: its arm's while an experiment runs on its stage.
    strategies: dict[uuid.UUID, tuple[int, StrategyDocument]] = {
        account_id: (effective.version, effective.document)
        for account_id, effective in (
            await experiments.strategies_for_accounts(session, accounts)
        ).items()
    }

    eligible = [a for a in accounts if _visits_allowed(settings, a, partners, strategies)]
    found, excluded = await _candidates(session, settings, eligible, partners, strategies, day)
    visited = await _visited(session, found, day)
    firsts = [c for c in found if c.account.id not in visited]
    revisits = [replace(c, visited=True) for c in found if c.account.id in visited]
    if not include_visited:
        excluded.extend(Excluded(c.account, "visited_today") for c in revisits)
        revisits = []

    def rank(c: Candidate) -> tuple[Decimal, int, str]:
        return (-c.weight, -c.account.dpd, str(c.account.id))

    candidates = sorted(firsts, key=rank) + sorted(revisits, key=rank)
    for extra in candidates[MAX_CANDIDATES:]:
        excluded.append(Excluded(extra.account, "capacity"))
    candidates = candidates[:MAX_CANDIDATES]
    dues = await _dues(session, [c.account.id for c in candidates])
    candidates = [replace(c, due=dues.get(c.account.id)) for c in candidates]

    if profile.time_zone:
        shift_zone = profile.time_zone
    elif candidates:
        shift_zone = candidates[0].zone
    elif eligible:
        shift_zone = partners[eligible[0].partner_id].time_zone
    else:
        shift_zone = FALLBACK_ZONE
    zone = _zone(shift_zone, "time_zone")
    starts_at = local_instant(zone, day, _minutes(profile.shift_start))
    ends_at = local_instant(zone, day, _minutes(profile.shift_end))

    if start_latitude is not None and start_longitude is not None:
        start: Point | None = Point(start_latitude, start_longitude)
        source = "query"
    else:
        start = ProfileView(principal.user_id, stored).start
        source = "profile" if start is not None else "first_stop"

    def visit(c: Candidate) -> VisitStop:
        return VisitStop(
            key=str(c.account.id),
            point=Point(float(c.address.latitude or 0), float(c.address.longitude or 0)),
            opens_at=c.opens_at,
            closes_at=c.closes_at,
            priority=int(c.weight * PRIORITY_METRES_PER_POINT),
        )

    request = RouteRequest(
        stops=[visit(c) for c in candidates if not c.visited],
        start=start,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=profile.daily_capacity,
        service_minutes=profile.service_minutes,
        speed_kmh=profile.speed_kmh,
        time_limit=SOLVER_TIME_LIMIT,
    )
    again = [visit(c) for c in candidates if c.visited]
    # The solver is CPU work of up to its time limit: off the event loop.
    plan = await asyncio.to_thread(plan_with_revisits, request, again)
    return DayRoute(
        day=day,
        collector_id=principal.user_id,
        profile=profile,
        start=start,
        start_source=source,
        shift_zone=shift_zone,
        shift_starts_at=starts_at,
        shift_ends_at=ends_at,
        plan=plan,
        candidates={str(c.account.id): c for c in candidates},
        excluded=excluded,
    )


def _minutes(moment: Any) -> int:
    return int(moment.hour) * 60 + int(moment.minute)


def _visits_allowed(
    settings: Settings,
    account: Account,
    partners: dict[uuid.UUID, Partner],
    strategies: dict[uuid.UUID, tuple[int, StrategyDocument]],
) -> bool:
    partner = partners[account.partner_id]
    if not pack_of(settings, partner.country).visits_allowed:
        return False
    entry = strategies[account.id][1][Stage(account.stage)]
    return entry.visits_allowed and ContactChannel.VISIT in entry.channels


async def _candidates(
    session: AsyncSession,
    settings: Settings,
    eligible: list[Account],
    partners: dict[uuid.UUID, Partner],
    strategies: dict[uuid.UUID, tuple[int, StrategyDocument]],
    day: date,
) -> tuple[list[Candidate], list[Excluded]]:
    """Each field-eligible account with its address and visit window, or why it is out."""
    if not eligible:
        return [], []
    ids = [a.id for a in eligible]
    debtors = list({a.debtor_id for a in eligible})
    addresses = await _addresses(session, ids)
    flags = await standing_flags(session, debtors)
    consents = await _consents(session, debtors)
    paused = await _paused(session, [a.id for a in eligible if a.has_pauses], day)
    history = await _history(session, debtors, day)

    candidates: list[Candidate] = []
    excluded: list[Excluded] = []
    for account in eligible:
        found = addresses.get(account.id, [])
        located = [a for a in found if a.latitude is not None and a.longitude is not None]
        if not found:
            excluded.append(Excluded(account, "no_address"))
            continue
        if not located:
            excluded.append(Excluded(account, "no_coordinates"))
            continue
        address = located[0]
        partner = partners[account.partner_id]
        pack = pack_of(settings, partner.country)
        window = pack.window_on(day.weekday())
        version, document = strategies[account.id]
        stage = Stage(account.stage)
        # The address's own clock, never the partner's: every zone it may be in (a state
        # that spans zones gives them all); the visit fits the hours of each.
        zones = candidate_zones(
            [
                ZoneEvidence(
                    kind="address", country=partner.country, state=address.state,
                    municipality=address.municipality, postal_code=address.postal_code,
                    time_zone=address.time_zone,
                )
            ],
            partner.country,
        )  # fmt: skip
        start = window.start if window is not None else 0
        opens = {z: local_instant(ZoneInfo(z), day, start) for z in zones}
        zone_name = max(zones, key=lambda z: opens[z])  # the last to open decides
        opens_at = opens[zone_name]
        granted, opted_out = consents.get((account.debtor_id, account.partner_id), (set(), set()))
        reaching = flags_on(account.id, account.partner_id, flags.get(account.debtor_id, []))
        request = ContactRequest(
            at=opens_at,
            channel=ContactChannel.VISIT,
            party=Party.DEBTOR,
            time_zone=zone_name,
            account_status=account.status,
            paused=account.id in paused,
            flags=reaching.own | age_flags(account.debtor_birth_date, day),
            consented_channels=frozenset(granted) or None,
            opted_out_channels=frozenset(opted_out),
            history=tuple(p for p in history.get(account.debtor_id, []) if p.at <= opens_at),
            strategy=limits_for(document, stage, version),
        )
        decision = strictest(
            [check_contact_with_flags(pack, replace(request, time_zone=z), reaching) for z in zones]
        )
        closes_at = (
            min(local_instant(ZoneInfo(z), day, window.end) for z in zones)
            if window is not None
            else opens_at
        )
        if not decision.allowed or window is None or closes_at <= opens_at:
            rules = tuple(dict.fromkeys(r.code for r in decision.reasons)) or ("closed_day",)
            excluded.append(Excluded(account, "contact_not_allowed", rules))
            continue
        candidates.append(
            Candidate(
                account=account,
                partner=partner,
                address=address,
                zone=zone_name,
                opens_at=opens_at,
                closes_at=closes_at,
                weight=document[stage].priority_weight,
            )
        )
    return candidates, excluded


async def _addresses(
    session: AsyncSession, account_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Address]]:
    """The debtor's valid addresses per account, by position (masked: nothing is unsealed)."""
    rows = await session.execute(
        core_select(
            col(ContactPoint.account_id),
            col(ContactPoint.id),
            col(ContactPoint.value_masked),
            col(ContactPoint.municipality),
            col(ContactPoint.state),
            col(ContactPoint.postal_code),
            col(ContactPoint.latitude),
            col(ContactPoint.longitude),
            col(ContactPoint.time_zone),
        )
        .where(
            col(ContactPoint.account_id).in_(account_ids),
            col(ContactPoint.kind) == "address",
            col(ContactPoint.related_party_id).is_(None),
            col(ContactPoint.is_valid),
        )
        .order_by(col(ContactPoint.account_id), col(ContactPoint.position), col(ContactPoint.id))
    )
    found: dict[uuid.UUID, list[Address]] = defaultdict(list)
    for account_id, point_id, masked, municipality, state, postal, lat, lng, zone in rows:
        found[account_id].append(
            Address(point_id, masked, municipality, state, postal, lat, lng, zone)
        )
    return found


async def _consents(
    session: AsyncSession, debtors: list[uuid.UUID]
) -> dict[tuple[uuid.UUID, uuid.UUID], tuple[set[ContactChannel], set[ContactChannel]]]:
    rows = await session.execute(
        select(
            col(ContactConsent.debtor_id),
            col(ContactConsent.partner_id),
            col(ContactConsent.channel),
            col(ContactConsent.status),
        ).where(col(ContactConsent.debtor_id).in_(debtors))
    )
    found: dict[tuple[uuid.UUID, uuid.UUID], tuple[set[ContactChannel], set[ContactChannel]]] = {}
    for debtor_id, partner_id, channel, status in rows:
        granted, opted_out = found.setdefault((debtor_id, partner_id), (set(), set()))
        (granted if status == "granted" else opted_out).add(ContactChannel(channel))
    return found


async def _paused(session: AsyncSession, account_ids: list[uuid.UUID], day: date) -> set[uuid.UUID]:
    if not account_ids:
        return set()
    rows = await session.scalars(
        select(col(AccountPause.account_id)).where(
            col(AccountPause.account_id).in_(account_ids),
            col(AccountPause.starts_on) <= day,
            col(AccountPause.ends_on) >= day,
        )
    )
    return set(rows.all())


async def _history(
    session: AsyncSession, debtors: list[uuid.UUID], day: date
) -> dict[uuid.UUID, list[PastContact]]:
    """The debtors' outbound contacts (and conversations they started) of the days the
    rules count, over all accounts and partners; a corrected interaction is replaced by its
    amendment (as app/services/contact_check.py reads one debtor's)."""
    since = datetime.combine(day, datetime.min.time(), UTC) - HISTORY_WINDOW
    until = datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=2)
    amended = select(col(Interaction.amends_id)).where(
        col(Interaction.debtor_id).in_(debtors), col(Interaction.amends_id).is_not(None)
    )
    rows = await session.execute(
        core_select(
            col(Interaction.debtor_id),
            col(Interaction.started_at),
            col(Interaction.channel),
            col(Interaction.party),
            col(Interaction.result_code),
        ).where(
            col(Interaction.debtor_id).in_(debtors),
            or_(
                col(Interaction.direction) == "outbound",
                col(Interaction.result_code).in_(CONVERSATION_CODES),
            ),
            col(Interaction.channel) != PORTAL_CHANNEL,
            and_(col(Interaction.started_at) >= since, col(Interaction.started_at) < until),
            col(Interaction.id).not_in(amended),
        )
    )
    found: dict[uuid.UUID, list[PastContact]] = defaultdict(list)
    for debtor_id, started, channel, party, code in rows:
        found[debtor_id].append(
            past_contact(
                started,
                ContactChannel(channel),
                party_counted(party),
                code,
            )
        )
    return found


async def _visited(session: AsyncSession, candidates: list[Candidate], day: date) -> set[uuid.UUID]:
    """The candidates with a visit started on ``day`` in their address's local day; a
    corrected visit counts through its correction."""
    if not candidates:
        return set()
    zones = {c.account.id: ZoneInfo(c.zone) for c in candidates}
    midnight = datetime.combine(day, datetime.min.time(), UTC)
    amended = select(col(Interaction.amends_id)).where(
        col(Interaction.account_id).in_(zones), col(Interaction.amends_id).is_not(None)
    )
    rows = await session.execute(
        core_select(col(Interaction.account_id), col(Interaction.started_at)).where(
            col(Interaction.account_id).in_(zones),
            col(Interaction.channel) == ContactChannel.VISIT.value,
            # Every zone's local day lies within a day either side of UTC's.
            col(Interaction.started_at) >= midnight - timedelta(days=1),
            col(Interaction.started_at) < midnight + timedelta(days=2),
            col(Interaction.id).not_in(amended),
        )
    )
    return {
        account_id
        for account_id, started in rows
        if started.astimezone(zones[account_id]).date() == day
    }


async def _dues(session: AsyncSession, account_ids: list[uuid.UUID]) -> dict[uuid.UUID, Due]:
    """Each account's obligation due first, in one statement: the earliest due date among
    its pending promises and the unpaid installments of its active plan (an overdue one is
    still due, and comes first); on the same date an installment before a promise. The
    amount is what is still owed of it."""
    if not account_ids:
        return {}
    promises: Select[*tuple[Any, ...]] = core_select(
        col(Promise.account_id).label("account_id"),
        literal(DueKind.PROMISE.value).label("kind"),
        (col(Promise.amount) - col(Promise.paid_amount)).label("amount"),
        col(Promise.currency).label("currency"),
        col(Promise.due_date).label("due_date"),
        col(Promise.id).label("promise_id"),
        null().label("plan_id"),
        null().label("installment_number"),
    ).where(
        col(Promise.account_id).in_(account_ids),
        col(Promise.status) == PromiseStatus.PENDING,
        col(Promise.amount) > col(Promise.paid_amount),
    )
    installments: Select[*tuple[Any, ...]] = (
        core_select(
            col(PaymentPlan.account_id),
            literal(DueKind.PLAN_INSTALLMENT.value),
            col(PlanInstallment.amount) - col(PlanInstallment.paid_amount),
            col(PaymentPlan.currency),
            col(PlanInstallment.due_date),
            null(),
            col(PaymentPlan.id),
            col(PlanInstallment.number),
        )
        .join(PlanInstallment, col(PlanInstallment.plan_id) == col(PaymentPlan.id))
        .where(
            col(PaymentPlan.account_id).in_(account_ids),
            col(PaymentPlan.status) == "active",
            col(PlanInstallment.status).in_(("pending", "partially_paid")),
            col(PlanInstallment.amount) > col(PlanInstallment.paid_amount),
        )
    )
    both = union_all(promises, installments).subquery()
    rows = await session.execute(
        core_select(both)
        .ext(distinct_on(both.c.account_id))
        .order_by(
            both.c.account_id,
            both.c.due_date,
            both.c.kind,  # "plan_installment" sorts before "promise"
            both.c.installment_number,
        )
    )
    return {
        row.account_id: Due(
            kind=DueKind(row.kind),
            amount=row.amount,
            currency=row.currency,
            due_date=row.due_date,
            promise_id=row.promise_id,
            plan_id=row.plan_id,
            installment_number=row.installment_number,
        )
        for row in rows
    }
