"""Field visit routes and field collectors' route profiles."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Response, status

from app.deps import ClockDep, LanguageDep, SessionDep, SettingsDep, require
from app.domain.accounts import debtor_name
from app.domain.field_routes import DETOUR_FACTOR, SOLVER_TIME_LIMIT
from app.domain.roles import Role
from app.domain.stages import Stage
from app.i18n import Language, translate
from app.problems import problem_responses
from app.schemas.common import CalendarDate
from app.schemas.field_routes import (
    FieldProfileRead,
    FieldProfileWrite,
    LeftOutRead,
    RouteDueRead,
    RouteRead,
    RouteSettingsRead,
    RouteStartRead,
    RouteStopRead,
    RouteTotalsRead,
    VisitWindowRead,
)
from app.security import Principal
from app.services import field_routes as service

router = APIRouter(tags=["work"])

FieldCollector = Annotated[Principal, Depends(require(Role.COLLECTOR))]
SetsProfiles = Annotated[Principal, Depends(require(Role.ADMIN, Role.MANAGER, Role.TEAM_LEAD))]
ReadsProfiles = Annotated[
    Principal,
    Depends(require(Role.ADMIN, Role.MANAGER, Role.TEAM_LEAD, Role.AUDITOR, Role.COLLECTOR)),
]


def _local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def _due(due: service.Due | None, day: date) -> RouteDueRead | None:
    if due is None:
        return None
    return RouteDueRead(
        kind=due.kind,
        amount=due.amount,
        currency=due.currency,
        due_date=due.due_date,
        overdue=due.due_date < day,
        promise_id=due.promise_id,
        plan_id=due.plan_id,
        installment_number=due.installment_number,
    )


def _route(route: service.DayRoute, language: Language) -> RouteRead:
    plan, profile = route.plan, route.profile
    stops: list[RouteStopRead] = []
    for sequence, stop in enumerate(plan.stops, start=1):
        c = route.candidates[stop.key]
        assert c.address.latitude is not None and c.address.longitude is not None
        a = c.account
        stops.append(
            RouteStopRead(
                sequence=sequence,
                account_id=a.id,
                external_ref=a.external_ref,
                debtor_name=debtor_name(a.debtor_first_names, a.debtor_last_names),
                currency=a.currency,
                total=a.total,
                past_due_amount=a.past_due_amount,
                dpd=a.dpd,
                stage=Stage(a.stage),
                due=_due(c.due, route.day),
                visited_today=c.visited,
                contact_point_id=c.address.id,
                address=c.address.masked,
                municipality=c.address.municipality,
                state=c.address.state,
                postal_code=c.address.postal_code,
                latitude=c.address.latitude,
                longitude=c.address.longitude,
                time_zone=c.zone,
                distance_km=stop.distance_km,
                travel_minutes=stop.travel_minutes,
                arrival=_local(stop.arrival, c.zone),
                departure=_local(stop.departure, c.zone),
                wait_minutes=stop.wait_minutes,
                window=VisitWindowRead(
                    opens_at=_local(c.opens_at, c.zone), closes_at=_local(c.closes_at, c.zone)
                ),
            )
        )
    left_out = [
        LeftOutRead(
            account_id=route.candidates[key].account.id,
            external_ref=route.candidates[key].account.external_ref,
            reason=reason.value,
            distance_km=plan.too_far_km.get(key),
        )
        for key, reason in plan.left_out.items()
    ] + [
        LeftOutRead(
            account_id=e.account.id,
            external_ref=e.account.external_ref,
            reason=e.reason,
            rules=list(e.rules),
        )
        for e in route.excluded
    ]
    left_out.sort(key=lambda item: (item.reason, item.external_ref))
    last_zone = stops[-1].time_zone if stops else route.shift_zone
    return RouteRead(
        date=route.day,
        collector_id=route.collector_id,
        method=plan.method.value,
        start=RouteStartRead(
            latitude=None if route.start is None else route.start.latitude,
            longitude=None if route.start is None else route.start.longitude,
            source=route.start_source,
        ),
        settings=RouteSettingsRead(
            daily_capacity=profile.daily_capacity,
            service_minutes=profile.service_minutes,
            speed_kmh=profile.speed_kmh,
            detour_factor=DETOUR_FACTOR,
            shift_starts_at=_local(route.shift_starts_at, route.shift_zone),
            shift_ends_at=_local(route.shift_ends_at, route.shift_zone),
            time_zone=route.shift_zone,
            solver_time_limit_seconds=SOLVER_TIME_LIMIT.total_seconds(),
        ),
        stops=stops,
        totals=RouteTotalsRead(
            stops=len(stops),
            distance_km=plan.total_km,
            travel_minutes=plan.total_travel_minutes,
            wait_minutes=plan.total_wait_minutes,
            service_minutes=len(stops) * profile.service_minutes,
            ends_at=None if plan.ends_at is None else _local(plan.ends_at, last_zone),
        ),
        left_out=left_out,
        notes=[translate(note, language) for note in plan.notes],
    )


@router.get(
    "/routes/me",
    summary="The day's field visit route of the calling field collector",
    response_model=RouteRead,
    responses=problem_responses(401, 403, 422),
)
async def get_my_route(
    session: SessionDep,
    settings: SettingsDep,
    principal: FieldCollector,
    now: ClockDep,
    language: LanguageDep,
    day: Annotated[
        CalendarDate, Query(alias="date", description="The day of the route, YYYY-MM-DD.")
    ],
    start_lat: Annotated[
        float | None, Query(ge=-90, le=90, description="Start latitude (with start_lng).")
    ] = None,
    start_lng: Annotated[
        float | None, Query(ge=-180, le=180, description="Start longitude (with start_lat).")
    ] = None,
    include_visited: Annotated[
        bool,
        Query(
            description="Also plan the accounts already visited that day, after the first "
            "visits (default: they are left out as visited_today)."
        ),
    ] = False,
) -> RouteRead:
    """For collectors with the `field` skill (others: 403). The visits of the day: accounts
    assigned to the caller, active, in a stage whose strategy uses visits, with a debtor
    address that has coordinates, that the contact law allows visiting that day, ordered by
    OR-Tools' routing solver to minimise travel from the start point (the query's, else the
    profile's, else the first stop) with each visit inside the law's visit hours in the
    debtor's local time and within the collector's shift, up to the profile's daily
    capacity. Each stop gives its distance from the previous one and estimated arrival and
    departure in local time, and what the visit needs: the debtor's name as the account's
    partner sent it, the masked street line with its municipality, state and postal code,
    the balance, DPD and stage, the promise or plan installment due first, and whether a
    visit was already recorded that day (`visited_today`).

    Accounts already visited on the route's date (in the address's local day) are left out
    as `visited_today`; with `include_visited=true` they are planned after the day's first
    visits, from where those end, with the capacity left. `left_out` says why the other
    candidates are not on the route: `capacity` (the day is full), `too_far` (out of reach,
    with `distance_km` from the start point, or from the nearest stop of the route when the
    route has no start point), `outside_window` (its visit hours cannot be met on the shift
    or along the route), `visited_today`, `no_address`, `no_coordinates`,
    `contact_not_allowed` (with the contact check's reasons). When the solver finds nothing
    within its time limit a greedy route is returned (`method: greedy`). The statements the
    route takes do not grow with its stops."""
    route = await service.route_for(
        session,
        settings,
        principal,
        day,
        start_latitude=start_lat,
        start_longitude=start_lng,
        include_visited=include_visited,
        now=now,
    )
    return _route(route, language)


def _profile(view: service.ProfileView) -> FieldProfileRead:
    p = view.profile
    shown = p if p is not None else service.default_profile(view.user_id)
    return FieldProfileRead(
        user_id=view.user_id,
        start_latitude=shown.start_latitude,
        start_longitude=shown.start_longitude,
        daily_capacity=shown.daily_capacity,
        shift_start=shown.shift_start,
        shift_end=shown.shift_end,
        time_zone=shown.time_zone,
        service_minutes=shown.service_minutes,
        speed_kmh=shown.speed_kmh,
        is_default=p is None,
        version=None if p is None else p.version,
        updated_by=None if p is None else p.updated_by,
        updated_at=None if p is None else p.updated_at,
    )


@router.get(
    "/routes/profiles/{user_id}",
    summary="A field collector's route profile",
    response_model=FieldProfileRead,
    responses=problem_responses(401, 403, 404),
)
async def get_field_profile(
    session: SessionDep, principal: ReadsProfiles, user_id: uuid.UUID
) -> FieldProfileRead:
    """Managers, admins and auditors read any field collector's; a team lead their team
    members'; a collector their own (anyone else's is a 404). Without a stored profile the
    defaults are shown (`is_default`)."""
    return _profile(await service.get_profile(session, principal, user_id))


@router.put(
    "/routes/profiles/{user_id}",
    summary="Set a field collector's route profile",
    response_model=FieldProfileRead,
    responses={201: {"model": FieldProfileRead}, **problem_responses(401, 403, 404, 422)},
)
async def set_field_profile(
    session: SessionDep,
    principal: SetsProfiles,
    user_id: uuid.UUID,
    body: FieldProfileWrite,
    response: Response,
) -> FieldProfileRead:
    """Creates (201) or replaces (200) the start point, shift, daily capacity, minutes per
    visit and travel speed the routes of this field collector are planned with. Managers
    and admins set anyone's, a team lead their members'. A 422 when the user is not a field
    collector, only one start coordinate is given, the shift ends before it starts, or the
    time zone is not an IANA zone."""
    view, created = await service.set_profile(session, principal, user_id, body)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return _profile(view)
