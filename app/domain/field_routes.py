"""Field visit routes and the GPS check of a visit: pure rules, no I/O, no clock.

A day's route is a prize-collecting travelling-salesman problem with time windows: from a
start point, visit as many of the candidate addresses as the day's capacity allows, each
inside its window (the hours the contact law allows visits, in the debtor's local time,
narrowed to the collector's shift), and travel as little as possible. :func:`plan_route`
builds it for Google OR-Tools' routing solver (``pywrapcp``) and solves it under a time
limit; when the solver finds nothing it falls back to a greedy nearest-feasible-neighbour
route, so a collector always gets an answer.

Choices made here:

- Distances are great-circle (haversine) kilometres on the mean Earth radius. Travel time
  is that distance times :data:`DETOUR_FACTOR` (streets are not straight lines; 1.3 is the
  usual urban circuity) at the profile's speed (default :data:`DEFAULT_SPEED_KMH`, urban
  traffic), rounded up to the minute.
- A visit takes :data:`DEFAULT_SERVICE_MINUTES` unless the profile says otherwise, and must
  lie wholly inside its window: it starts at or after the window opens and ends by the time
  it closes. A collector who arrives early waits (the wait is reported).
- The route is open: it starts at the start point and ends at the last visit. Without a
  start point it starts at whichever stop makes the route shortest.
- Every stop is optional, with a drop penalty far above any day's travel, so the solver
  first visits as many stops as fit, then minimises distance; a stop's ``priority`` (metres)
  is added to its penalty, so among equally many visits the more important stops win.
- The solver starts from the greedy route (so it is never worse than it) and improves it
  with guided local search, which runs until its time limit: 40 ms per candidate stop, at
  least 0.25 s and at most :data:`SOLVER_TIME_LIMIT` (2 s).
- A stop left out is ``capacity`` when the day is full. Otherwise it is ``too_far`` when it is
  out of reach, with the distance that puts it there: from the start point, going straight
  there as the shift starts, the collector would not be in its window in time; without a
  start point, it cannot share the day with any stop of the route (neither before nor after
  it, in their windows). Out of reach it is left out before the solver runs, with its
  distance from the start point, or after, with its distance from the nearest stop of the
  route. Every other stop left out is ``outside_window``: its window cannot be met on the
  shift, or not along this route.
- Revisits (stops already visited that day) never displace a first visit:
  :func:`plan_with_revisits` plans them after the day's route, from where it ends, with the
  capacity left.
- GPS: a visit recorded farther than :data:`POSITION_TOLERANCE_M` from the address's
  coordinates, beyond the fix's own reported accuracy (counted up to
  :data:`MAX_ACCURACY_ALLOWANCE_M`), is flagged ``position_mismatch`` and still recorded:
  field reality (a gate, a block of flats, a poor fix) makes refusing it unfriendly, and a
  lead can review the flag.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from ortools.constraint_solver import (  # type: ignore[import-untyped]
    pywrapcp,
    routing_enums_pb2,
)

from app.i18n import N_

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)
DETOUR_FACTOR = 1.3  # street distance / straight-line distance in a city
DEFAULT_SPEED_KMH = 25  # average urban speed of a field collector
DEFAULT_SERVICE_MINUTES = 20  # time spent at each visit
DEFAULT_DAILY_CAPACITY = 12  # visits a day
MAX_DAILY_CAPACITY = 60
# Guided local search runs until its time limit: 40 ms a candidate stop, at least 0.25 s,
# at most SOLVER_TIME_LIMIT (or the request's own limit, if lower).
SOLVER_TIME_LIMIT = timedelta(seconds=2)
MIN_TIME_LIMIT = timedelta(milliseconds=250)
TIME_PER_STOP = timedelta(milliseconds=40)
# A dropped stop costs this many "metres" plus its priority: more than any day's travel.
DROP_PENALTY_M = 10_000_000
POSITION_TOLERANCE_M = 300
MAX_ACCURACY_ALLOWANCE_M = 100


class LeftOut(StrEnum):
    """Why a candidate stop is not on the route (the solver's part of it)."""

    CAPACITY = "capacity"
    OUTSIDE_WINDOW = "outside_window"
    TOO_FAR = "too_far"


class DueKind(StrEnum):
    """What a stop shows as due first: a promise to pay or an installment of a plan."""

    PROMISE = "promise"
    PLAN_INSTALLMENT = "plan_installment"


class Method(StrEnum):
    ORTOOLS = "ortools"
    GREEDY = "greedy"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class Point:
    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        if not (-90 <= self.latitude <= 90 and -180 <= self.longitude <= 180):
            raise ValueError("latitude must be within ±90 and longitude within ±180")


def haversine_km(a: Point, b: Point) -> float:
    """Great-circle distance in kilometres."""
    phi1, phi2 = math.radians(a.latitude), math.radians(b.latitude)
    dphi = phi2 - phi1
    dlmb = math.radians(b.longitude - a.longitude)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def travel_minutes(distance_km: float, speed_kmh: float = DEFAULT_SPEED_KMH) -> int:
    """Estimated minutes to cover ``distance_km`` of straight line through streets."""
    if speed_kmh <= 0:
        raise ValueError("speed must be positive")
    return math.ceil(distance_km * DETOUR_FACTOR / speed_kmh * 60 - 1e-9)


# --- the route ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VisitStop:
    """A candidate visit: the visit must start at or after ``opens_at`` and end by
    ``closes_at`` (aware instants)."""

    key: str
    point: Point
    opens_at: datetime
    closes_at: datetime
    priority: int = 0  # metres-equivalent bonus for being visited


@dataclass(frozen=True, slots=True)
class RouteRequest:
    stops: Sequence[VisitStop]
    start: Point | None  # None: start at the best first stop
    starts_at: datetime  # aware: the shift starts (the collector leaves the start point)
    ends_at: datetime  # aware: the last visit ends by then
    capacity: int = DEFAULT_DAILY_CAPACITY
    service_minutes: int = DEFAULT_SERVICE_MINUTES
    speed_kmh: float = DEFAULT_SPEED_KMH
    time_limit: timedelta = SOLVER_TIME_LIMIT


@dataclass(frozen=True, slots=True)
class PlannedStop:
    key: str
    point: Point
    distance_km: float  # from the previous stop (or the start point); 0 for a free start
    travel_minutes: int
    arrival: datetime  # when the visit starts (after any wait)
    departure: datetime
    wait_minutes: int


@dataclass(frozen=True, slots=True)
class RoutePlan:
    stops: list[PlannedStop]
    left_out: dict[str, LeftOut]
    method: Method
    total_km: float
    total_travel_minutes: int
    total_wait_minutes: int
    ends_at: datetime | None  # the last departure
    notes: list[str] = field(default_factory=list)  # English marked N_, shown translated
    # For each stop left out as too_far: the kilometres (straight line) from the start point,
    # or from the nearest stop of the route, that put it out of reach.
    too_far_km: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Problem:
    """The request on an integer timeline: minutes after ``starts_at``. Node 0 is the start
    point (a free start when the request has none); stops are nodes 1..n."""

    request: RouteRequest
    stops: list[VisitStop]  # those with a feasible window
    windows: list[tuple[int, int]]  # earliest and latest *start* of each stop's visit
    distance_m: list[list[int]]
    travel: list[list[int]]  # minutes
    horizon: int


Solver = Callable[[_Problem], list[int] | None]


def _minutes_after(origin: datetime, moment: datetime, *, up: bool) -> int:
    seconds = (moment - origin).total_seconds()
    return math.ceil(seconds / 60) if up else math.floor(seconds / 60)


@dataclass(frozen=True, slots=True)
class _Screened:
    """What :func:`_problem` left out before the solver, and why."""

    left_out: dict[str, LeftOut] = field(default_factory=dict)
    too_far_km: dict[str, float] = field(default_factory=dict)


def _problem(request: RouteRequest) -> tuple[_Problem, _Screened]:
    if request.capacity < 0 or request.service_minutes < 0:
        raise ValueError("capacity and service minutes are 0 or more")
    origin = request.starts_at
    horizon = max(0, _minutes_after(origin, request.ends_at, up=False))
    service = request.service_minutes
    stops: list[VisitStop] = []
    windows: list[tuple[int, int]] = []
    screened = _Screened()
    for stop in request.stops:
        earliest = max(0, _minutes_after(origin, stop.opens_at, up=True))
        latest = min(horizon, _minutes_after(origin, stop.closes_at, up=False)) - service
        if latest < earliest:
            screened.left_out[stop.key] = LeftOut.OUTSIDE_WINDOW
            continue
        if request.start is not None:
            km = haversine_km(request.start, stop.point)
            if travel_minutes(km, request.speed_kmh) > latest:
                # Not even straight from the start point as the shift starts.
                screened.left_out[stop.key] = LeftOut.TOO_FAR
                screened.too_far_km[stop.key] = round(km, 3)
                continue
        stops.append(stop)
        windows.append((earliest, latest))
    points: list[Point | None] = [request.start, *(s.point for s in stops)]
    size = len(points)
    distance = [[0] * size for _ in range(size)]
    travel = [[0] * size for _ in range(size)]
    for i, a in enumerate(points):
        for j, b in enumerate(points):
            if i == j or a is None or b is None:
                continue  # a free start costs nothing to leave
            km = haversine_km(a, b)
            distance[i][j] = round(km * 1000)
            travel[i][j] = travel_minutes(km, request.speed_kmh)
    return _Problem(request, stops, windows, distance, travel, horizon), screened


def schedule(problem: _Problem, order: Sequence[int]) -> list[tuple[int, int, int]] | None:
    """(travel, start, wait) minutes for each stop index (1-based node) in ``order``, or None
    when the order misses a window."""
    result = []
    now, previous = 0, 0
    service = problem.request.service_minutes
    for node in order:
        travel = problem.travel[previous][node]
        earliest, latest = problem.windows[node - 1]
        reached = now + travel
        start = max(reached, earliest)
        if start > latest:
            return None
        result.append((travel, start, start - reached))
        now, previous = start + service, node
    return result


def solve_with_ortools(problem: _Problem) -> list[int] | None:
    """The order of the stops (nodes 1..n) OR-Tools finds, or None when it finds none."""
    request = problem.request
    n = len(problem.stops)
    end = n + 1  # a dummy end: the route is open
    size = n + 2
    manager = pywrapcp.RoutingIndexManager(size, 1, [0], [end])
    routing = pywrapcp.RoutingModel(manager)
    service = request.service_minutes

    def node_of(index: int) -> int:
        return int(manager.IndexToNode(index))

    def distance(from_index: int, to_index: int) -> int:
        a, b = node_of(from_index), node_of(to_index)
        if a == end or b == end:
            return 0
        return problem.distance_m[a][b]

    def transit(from_index: int, to_index: int) -> int:
        a, b = node_of(from_index), node_of(to_index)
        served = service if 1 <= a <= n else 0
        if a == end or b == end:
            return served
        return served + problem.travel[a][b]

    def visits(from_index: int) -> int:
        return 1 if 1 <= node_of(from_index) <= n else 0

    distance_cb = routing.RegisterTransitCallback(distance)
    routing.SetArcCostEvaluatorOfAllVehicles(distance_cb)
    time_cb = routing.RegisterTransitCallback(transit)
    routing.AddDimension(time_cb, problem.horizon, problem.horizon, False, "time")
    time = routing.GetDimensionOrDie("time")
    count_cb = routing.RegisterUnaryTransitCallback(visits)
    routing.AddDimension(count_cb, 0, request.capacity, True, "visits")
    time.CumulVar(routing.Start(0)).SetRange(0, 0)
    time.CumulVar(routing.End(0)).SetRange(0, problem.horizon)
    for node in range(1, n + 1):
        index = manager.NodeToIndex(node)
        earliest, latest = problem.windows[node - 1]
        time.CumulVar(index).SetRange(earliest, latest)
        routing.AddDisjunction([index], DROP_PENALTY_M + max(0, problem.stops[node - 1].priority))

    parameters = pywrapcp.DefaultRoutingSearchParameters()
    parameters.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    )
    parameters.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    parameters.time_limit.FromMilliseconds(_time_limit_ms(request.time_limit, n))
    # Local search starts from the greedy route when there is one: never worse than it.
    hint = greedy_route(problem)
    initial = (
        routing.ReadAssignmentFromRoutes([[manager.NodeToIndex(node) for node in hint]], True)
        if hint
        else None
    )
    if initial is not None:
        solution = routing.SolveFromAssignmentWithParameters(initial, parameters)
    else:
        solution = routing.SolveWithParameters(parameters)
    if solution is None:
        return None
    order: list[int] = []
    index = routing.Start(0)
    while not routing.IsEnd(index):
        node = node_of(index)
        if 1 <= node <= n:
            order.append(node)
        index = solution.Value(routing.NextVar(index))
    return order


def _time_limit_ms(limit: timedelta, stops: int) -> int:
    """Guided local search runs until its time limit: a small day needs less of it."""
    scaled = max(MIN_TIME_LIMIT, TIME_PER_STOP * stops)
    return max(1, int(min(limit, scaled).total_seconds() * 1000))


def greedy_route(problem: _Problem) -> list[int]:
    """Nearest feasible neighbour: from where the collector is, go to the stop that can start
    soonest (travel plus any wait), until the day is full or nothing else fits."""
    order: list[int] = []
    remaining = set(range(1, len(problem.stops) + 1))
    now, here = 0, 0
    service = problem.request.service_minutes
    while remaining and len(order) < problem.request.capacity:
        best: tuple[int, int, int] | None = None
        for node in remaining:
            earliest, latest = problem.windows[node - 1]
            start = max(now + problem.travel[here][node], earliest)
            if start > latest:
                continue
            key = (start, problem.distance_m[here][node], node)
            if best is None or key < best:
                best = key
        if best is None:
            break
        start, _, node = best
        order.append(node)
        remaining.discard(node)
        now, here = start + service, node
    return order


def _shares_the_day(problem: _Problem, a: int, b: int) -> bool:
    """Whether stops ``a`` and ``b`` (nodes) fit one day together, in either order."""
    service = problem.request.service_minutes
    (a_first, a_last), (b_first, b_last) = problem.windows[a - 1], problem.windows[b - 1]
    return (
        a_first + service + problem.travel[a][b] <= b_last
        or b_first + service + problem.travel[b][a] <= a_last
    )


def _out_of_reach_km(problem: _Problem, order: list[int], node: int) -> float | None:
    """With a free start, the kilometres from ``node`` to the nearest stop of the route when
    it can share the day with none of them; None when it can (or there is no route)."""
    if problem.request.start is not None or not order:
        return None
    if any(_shares_the_day(problem, node, other) for other in order):
        return None
    return round(min(problem.distance_m[node][other] for other in order) / 1000, 3)


def plan_route(request: RouteRequest, *, solver: Solver = solve_with_ortools) -> RoutePlan:
    """The day's route: OR-Tools first, the greedy route when it finds no (valid) solution."""
    problem, screened = _problem(request)
    left_out, too_far_km = screened.left_out, screened.too_far_km
    notes: list[str] = []
    if not problem.stops or request.capacity == 0:
        for stop in problem.stops:
            left_out[stop.key] = LeftOut.CAPACITY
        return _plan(problem, [], left_out, Method.EMPTY, notes, too_far_km)
    method = Method.ORTOOLS
    order = solver(problem)
    if order is not None and (
        len(order) > request.capacity
        or len(set(order)) != len(order)
        or schedule(problem, order) is None
    ):
        notes.append(N_("the solver's route broke a constraint; the greedy route is used"))
        order = None
    if order is None:
        if not notes:
            notes.append(N_("the solver found no route within its time limit; greedy route used"))
        method = Method.GREEDY
        order = greedy_route(problem)
    visited = set(order)
    full = len(order) >= request.capacity
    for node, stop in enumerate(problem.stops, start=1):
        if node in visited:
            continue
        km = None if full else _out_of_reach_km(problem, order, node)
        if full:
            left_out[stop.key] = LeftOut.CAPACITY
        elif km is not None:
            left_out[stop.key] = LeftOut.TOO_FAR
            too_far_km[stop.key] = km
        else:
            left_out[stop.key] = LeftOut.OUTSIDE_WINDOW
    return _plan(problem, order, left_out, method, notes, too_far_km)


def _plan(
    problem: _Problem,
    order: list[int],
    left_out: dict[str, LeftOut],
    method: Method,
    notes: list[str],
    too_far_km: dict[str, float],
) -> RoutePlan:
    times = schedule(problem, order) or []
    origin = problem.request.starts_at
    service = problem.request.service_minutes
    stops: list[PlannedStop] = []
    previous = 0
    for node, (travel, start, wait) in zip(order, times, strict=True):
        stop = problem.stops[node - 1]
        stops.append(
            PlannedStop(
                key=stop.key,
                point=stop.point,
                distance_km=round(problem.distance_m[previous][node] / 1000, 3),
                travel_minutes=travel,
                arrival=origin + timedelta(minutes=start),
                departure=origin + timedelta(minutes=start + service),
                wait_minutes=wait,
            )
        )
        previous = node
    return RoutePlan(
        stops=stops,
        left_out=left_out,
        method=method,
        total_km=round(sum(s.distance_km for s in stops), 3),
        total_travel_minutes=sum(s.travel_minutes for s in stops),
        total_wait_minutes=sum(s.wait_minutes for s in stops),
        ends_at=stops[-1].departure if stops else None,
        notes=notes,
        too_far_km=too_far_km,
    )


def plan_with_revisits(
    request: RouteRequest,
    revisits: Sequence[VisitStop],
    *,
    solver: Solver = solve_with_ortools,
) -> RoutePlan:
    """The day's route for ``request``, then ``revisits`` (stops already visited that day)
    planned after it: from its last stop as that visit ends (or from the request's start
    when it is empty), with the capacity it left. A revisit never displaces a first visit;
    one out of reach from there is ``too_far`` with its distance from that last stop."""
    first = plan_route(request, solver=solver)
    if not revisits:
        return first
    last = first.stops[-1] if first.stops else None
    second = plan_route(
        replace(
            request,
            stops=list(revisits),
            start=request.start if last is None else last.point,
            starts_at=request.starts_at if last is None else last.departure,
            capacity=max(0, request.capacity - len(first.stops)),
        ),
        solver=solver,
    )
    # Greedy if either leg fell back to it; empty only if both are.
    methods = {first.method, second.method}
    method = next((m for m in (Method.GREEDY, Method.ORTOOLS) if m in methods), Method.EMPTY)
    stops = first.stops + second.stops
    return RoutePlan(
        stops=stops,
        left_out=first.left_out | second.left_out,
        method=method,
        total_km=round(sum(s.distance_km for s in stops), 3),
        total_travel_minutes=sum(s.travel_minutes for s in stops),
        total_wait_minutes=sum(s.wait_minutes for s in stops),
        ends_at=stops[-1].departure if stops else None,
        notes=list(dict.fromkeys(first.notes + second.notes)),
        too_far_km=first.too_far_km | second.too_far_km,
    )


# --- the GPS check of a visit --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PositionCheck:
    distance_m: int
    tolerance_m: int
    mismatch: bool


def check_position(
    address: Point,
    fix: Point,
    accuracy_m: int | None = None,
    tolerance_m: int = POSITION_TOLERANCE_M,
) -> PositionCheck:
    """How far the collector's fix was from the address, and whether that is farther than
    the tolerance plus the fix's reported accuracy (counted up to a bound)."""
    distance = round(haversine_km(address, fix) * 1000)
    allowance = min(max(accuracy_m or 0, 0), MAX_ACCURACY_ALLOWANCE_M)
    limit = tolerance_m + allowance
    return PositionCheck(distance_m=distance, tolerance_m=limit, mismatch=distance > limit)
