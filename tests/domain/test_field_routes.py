"""Field routes: distances, the solver's route on small days, its fallback, the GPS check."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.field_routes import (
    LeftOut,
    Method,
    Point,
    RouteRequest,
    VisitStop,
    check_position,
    greedy_route,
    haversine_km,
    plan_route,
    plan_with_revisits,
    travel_minutes,
)

START = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 09:00 in Mexico City
ZOCALO = Point(19.432608, -99.133209)


def at(minutes: int) -> datetime:
    return START + timedelta(minutes=minutes)


def stop(key: str, lat: float, lng: float, opens: int = 0, closes: int = 600) -> VisitStop:
    return VisitStop(key, Point(lat, lng), at(opens), at(closes))


def request(stops: list[VisitStop], **changes: object) -> RouteRequest:
    fields: dict[str, object] = {
        "stops": stops,
        "start": ZOCALO,
        "starts_at": START,
        "ends_at": at(600),
        "capacity": 12,
        "service_minutes": 20,
        "speed_kmh": 25,
        "time_limit": timedelta(milliseconds=100),
    }
    return RouteRequest(**(fields | changes))  # type: ignore[arg-type]


def route_length(points: list[Point]) -> float:
    return sum(haversine_km(a, b) for a, b in itertools.pairwise(points))


def assert_inside_windows(req: RouteRequest, plan) -> None:
    by_key = {s.key: s for s in req.stops}
    keys = [s.key for s in plan.stops]
    assert len(keys) == len(set(keys)), "a stop is visited once"
    previous = req.starts_at
    for planned in plan.stops:
        window = by_key[planned.key]
        assert window.opens_at <= planned.arrival
        assert planned.departure <= window.closes_at
        assert planned.departure <= req.ends_at
        assert planned.arrival >= previous  # one visit after another
        previous = planned.departure


class TestHaversine:
    @pytest.mark.parametrize(
        ("a", "b", "km"),
        [
            # Zócalo (CDMX) – Guadalajara cathedral: about 461 km in a straight line.
            (ZOCALO, Point(20.676820, -103.347000), 461),
            # Paris – London (Notre-Dame – Big Ben): about 341 km.
            (Point(48.852968, 2.349902), Point(51.500729, -0.124625), 341),
            # One degree of latitude: 111.2 km on the mean radius.
            (Point(0, 0), Point(1, 0), 111.2),
        ],
    )
    def test_known_distances(self, a, b, km):
        assert haversine_km(a, b) == pytest.approx(km, rel=0.01)

    def test_zero_and_symmetric(self):
        other = Point(19.4, -99.2)
        assert haversine_km(ZOCALO, ZOCALO) == 0
        assert haversine_km(ZOCALO, other) == pytest.approx(haversine_km(other, ZOCALO))

    def test_antipodes_are_half_the_circumference(self):
        assert haversine_km(Point(0, 0), Point(0, 180)) == pytest.approx(20015.1, rel=0.001)

    def test_travel_time_rounds_up_with_the_detour(self):
        # 10 km straight × 1.3 streets at 26 km/h: exactly 30 minutes.
        assert travel_minutes(10, 26) == 30
        assert travel_minutes(0.01, 25) == 1
        assert travel_minutes(0, 25) == 0

    def test_points_out_of_range_are_refused(self):
        with pytest.raises(ValueError):
            Point(91, 0)


class TestPlanRoute:
    def test_a_line_of_stops_is_visited_in_order(self):
        stops = [stop(f"s{i}", 19.432608 + 0.01 * i, -99.133209) for i in (3, 1, 4, 2)]
        plan = plan_route(request(stops))
        assert plan.method is Method.ORTOOLS
        assert [s.key for s in plan.stops] == ["s1", "s2", "s3", "s4"]
        assert plan.left_out == {}
        assert plan.stops[0].distance_km == pytest.approx(1.112, abs=0.01)
        assert plan.total_km == pytest.approx(4 * 1.112, abs=0.02)
        assert_inside_windows(request(stops), plan)

    def test_times_follow_travel_and_service(self):
        plan = plan_route(request([stop("a", 19.442608, -99.133209)]))
        only = plan.stops[0]
        assert only.travel_minutes == travel_minutes(haversine_km(ZOCALO, only.point))
        assert only.arrival == at(only.travel_minutes)
        assert only.departure == only.arrival + timedelta(minutes=20)
        assert plan.ends_at == only.departure

    def test_windows_decide_the_order(self):
        # The near stop only opens late: the far one is visited first.
        near = stop("near", 19.435, -99.133, opens=240, closes=600)
        far = stop("far", 19.470, -99.133, opens=0, closes=120)
        req = request([near, far])
        plan = plan_route(req)
        assert [s.key for s in plan.stops] == ["far", "near"]
        assert plan.stops[1].arrival == at(240)
        assert plan.stops[1].wait_minutes > 0
        assert_inside_windows(req, plan)

    def test_infeasible_windows_are_left_out(self):
        too_short = stop("short", 19.44, -99.13, opens=100, closes=110)  # < 20 minutes
        unreachable = stop("far", 25.67, -100.31, opens=0, closes=120)  # Monterrey by noon
        after_shift = stop("late", 19.44, -99.13, opens=700, closes=800)
        fine = stop("ok", 19.44, -99.14)
        req = request([too_short, unreachable, after_shift, fine])
        plan = plan_route(req)
        assert [s.key for s in plan.stops] == ["ok"]
        assert plan.left_out == {
            "short": LeftOut.OUTSIDE_WINDOW,
            "far": LeftOut.TOO_FAR,
            "late": LeftOut.OUTSIDE_WINDOW,
        }
        # Out of reach is named with the distance that puts it there, from the start point.
        assert plan.too_far_km == {"far": pytest.approx(haversine_km(ZOCALO, unreachable.point))}
        assert plan.too_far_km["far"] == pytest.approx(705, abs=10)

    def test_a_stop_reachable_from_the_start_in_its_window_is_not_too_far(self):
        # 40 km north: 125 minutes away at 25 km/h through streets, open until 13:00.
        reachable = stop("reachable", 19.432608 + 0.36, -99.133209, closes=240)
        plan = plan_route(request([reachable]))
        assert [s.key for s in plan.stops] == ["reachable"]
        just_late = stop("late", 19.432608 + 0.36, -99.133209, closes=140)  # 2h20: too short
        plan = plan_route(request([just_late]))
        assert plan.left_out == {"late": LeftOut.TOO_FAR}

    def test_without_a_start_point_a_stop_no_route_stop_can_share_the_day_with_is_too_far(self):
        near = [stop(f"s{i}", 19.43 + 0.01 * i, -99.13, closes=240) for i in range(3)]
        guadalajara = stop("gdl", 20.676820, -103.347000, closes=240)
        plan = plan_route(request([*near, guadalajara], start=None))
        assert {s.key for s in plan.stops} == {"s0", "s1", "s2"}
        assert plan.left_out == {"gdl": LeftOut.TOO_FAR}
        nearest = min(haversine_km(s.point, guadalajara.point) for s in near)
        assert plan.too_far_km["gdl"] == pytest.approx(nearest, abs=0.01)

    def test_a_stop_that_fits_alone_but_not_along_the_route_is_outside_window(self):
        # Both open only 09:00–09:30 (a 20-minute visit): one of them fits, not both.
        a = stop("a", 19.44, -99.13, opens=0, closes=30)
        b = stop("b", 19.441, -99.13, opens=0, closes=30)
        plan = plan_route(request([a, b]))
        assert len(plan.stops) == 1
        assert set(plan.left_out.values()) == {LeftOut.OUTSIDE_WINDOW}
        assert plan.too_far_km == {}

    def test_capacity_is_respected_and_named(self):
        stops = [stop(f"s{i}", 19.40 + 0.005 * i, -99.13) for i in range(8)]
        plan = plan_route(request(stops, capacity=3))
        assert len(plan.stops) == 3
        assert set(plan.left_out.values()) == {LeftOut.CAPACITY}
        assert len(plan.left_out) == 5

    def test_priority_breaks_ties_between_equal_counts(self):
        near = VisitStop("near", Point(19.433, -99.133), at(0), at(600), priority=0)
        important = VisitStop("important", Point(19.45, -99.133), at(0), at(600), priority=50_000)
        plan = plan_route(request([near, important], capacity=1))
        assert [s.key for s in plan.stops] == ["important"]

    def test_without_a_start_point_the_route_starts_at_a_stop(self):
        stops = [stop(f"s{i}", 19.40 + 0.01 * i, -99.13) for i in (2, 0, 1)]
        plan = plan_route(request(stops, start=None))
        assert [s.key for s in plan.stops] in (["s0", "s1", "s2"], ["s2", "s1", "s0"])
        assert plan.stops[0].distance_km == 0
        assert plan.stops[0].travel_minutes == 0

    def test_the_solver_beats_or_matches_every_order_on_a_small_day(self):
        stops = [
            stop("a", 19.41, -99.15),
            stop("b", 19.45, -99.12),
            stop("c", 19.42, -99.11),
            stop("d", 19.44, -99.16),
            stop("e", 19.40, -99.13),
        ]
        plan = plan_route(request(stops))
        best = min(
            route_length([ZOCALO, *(s.point for s in order)])
            for order in itertools.permutations(stops)
        )
        assert plan.total_km == pytest.approx(best, abs=0.01)

    def test_an_empty_day(self):
        plan = plan_route(request([]))
        assert plan.stops == [] and plan.method is Method.EMPTY and plan.ends_at is None


class TestRevisits:
    def test_revisits_follow_the_days_route_from_where_it_ends(self):
        firsts = [stop(f"s{i}", 19.432608 + 0.01 * i, -99.133209) for i in (1, 2)]
        again = stop("again", 19.432608 + 0.005, -99.133209)  # nearest, but visited today
        req = request(firsts)
        plan = plan_with_revisits(req, [again])
        assert [s.key for s in plan.stops] == ["s1", "s2", "again"]
        assert plan.stops[2].distance_km == pytest.approx(
            haversine_km(firsts[1].point, again.point), abs=0.01
        )
        assert plan.stops[2].arrival >= plan.stops[1].departure
        assert plan.total_km == pytest.approx(sum(s.distance_km for s in plan.stops))
        assert plan.ends_at == plan.stops[2].departure
        assert_inside_windows(request([*firsts, again]), plan)

    def test_revisits_take_only_the_capacity_left(self):
        firsts = [stop(f"s{i}", 19.43 + 0.01 * i, -99.13) for i in (1, 2)]
        plan = plan_with_revisits(request(firsts, capacity=2), [stop("again", 19.431, -99.13)])
        assert [s.key for s in plan.stops] == ["s1", "s2"]
        assert plan.left_out == {"again": LeftOut.CAPACITY}

    def test_with_no_first_visits_the_revisits_start_from_the_start_point(self):
        plan = plan_with_revisits(request([]), [stop("again", 19.44, -99.13)])
        assert [s.key for s in plan.stops] == ["again"]
        assert plan.method is Method.ORTOOLS

    def test_without_revisits_it_is_the_days_route(self):
        stops = [stop("a", 19.44, -99.13)]
        assert plan_with_revisits(request(stops), []).stops == plan_route(request(stops)).stops


class TestGreedyFallback:
    def test_no_solution_from_the_solver_gives_the_greedy_route(self):
        stops = [stop(f"s{i}", 19.432608 + 0.01 * i, -99.133209) for i in (3, 1, 2)]
        req = request(stops)
        plan = plan_route(req, solver=lambda problem: None)
        assert plan.method is Method.GREEDY
        assert [s.key for s in plan.stops] == ["s1", "s2", "s3"]
        assert plan.notes
        assert_inside_windows(req, plan)

    def test_an_invalid_solver_answer_is_not_trusted(self):
        stops = [stop("a", 19.44, -99.13), stop("b", 19.45, -99.13)]
        plan = plan_route(request(stops), solver=lambda problem: [1, 1])
        assert plan.method is Method.GREEDY
        assert sorted(s.key for s in plan.stops) == ["a", "b"]

    def test_greedy_respects_windows_and_capacity(self):
        stops = [
            stop("late", 19.433, -99.133, opens=300),
            stop("early", 19.50, -99.133, closes=100),
            stop("never", 19.44, -99.13, opens=590, closes=600),
            stop("any", 19.44, -99.14),
        ]
        req = request(stops, capacity=2)
        plan = plan_route(req, solver=lambda problem: None)
        assert len(plan.stops) == 2
        assert_inside_windows(req, plan)
        assert plan.left_out["never"] is LeftOut.OUTSIDE_WINDOW

    def test_greedy_route_directly(self):
        from app.domain.field_routes import _problem

        problem, _ = _problem(request([stop("x", 19.44, -99.13), stop("y", 19.433, -99.133)]))
        assert greedy_route(problem) == [2, 1]


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(19.30, 19.55),
            st.floats(-99.25, -99.00),
            st.integers(0, 540),
            st.integers(20, 600),
        ),
        max_size=9,
    ),
    st.integers(1, 6),
)
def test_every_route_visits_each_stop_once_inside_its_window(raw, capacity):
    stops = [
        stop(f"s{i}", lat, lng, opens, min(600, opens + length))
        for i, (lat, lng, opens, length) in enumerate(raw)
    ]
    req = request(stops, capacity=capacity)
    for solver in (None, lambda problem: None):
        plan = plan_route(req) if solver is None else plan_route(req, solver=solver)
        assert len(plan.stops) <= capacity
        assert_inside_windows(req, plan)
        assert {s.key for s in plan.stops} | set(plan.left_out) == {s.key for s in stops}
        assert not {s.key for s in plan.stops} & set(plan.left_out)


class TestPositionCheck:
    def test_at_the_door_is_no_mismatch(self):
        check = check_position(ZOCALO, Point(19.433, -99.1333), accuracy_m=10)
        assert check.distance_m < 100 and not check.mismatch

    def test_a_kilometre_away_is_a_mismatch(self):
        check = check_position(ZOCALO, Point(19.441608, -99.133209))
        assert check.distance_m == pytest.approx(1001, abs=3)
        assert check.mismatch and check.tolerance_m == 300

    def test_accuracy_widens_the_tolerance_up_to_a_bound(self):
        fix = Point(19.435855, -99.133209)  # about 361 m north
        assert check_position(ZOCALO, fix, accuracy_m=0).mismatch
        assert not check_position(ZOCALO, fix, accuracy_m=80).mismatch
        far = Point(19.437, -99.133209)  # about 488 m
        assert check_position(ZOCALO, far, accuracy_m=5000).mismatch
