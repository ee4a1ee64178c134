"""The sliding-window rate limit: at most `limit` events per key in any window, no stricter
than that, an honest Retry-After, and memory that forgets idle keys."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.rate_limit import (
    NS_PER_SECOND,
    RateLimited,
    SlidingWindowLimiter,
    admit,
    epoch_ns,
)

S = NS_PER_SECOND


class Clock:
    def __init__(self, now: int = 0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * S)


def limiter(limit: int = 3, window: int = 60, **kwargs) -> tuple[SlidingWindowLimiter, Clock]:
    clock = Clock(1_000 * S)
    return SlidingWindowLimiter(limit, window_seconds=window, clock=clock, **kwargs), clock


class TestSlidingWindowLimiter:
    def test_admits_up_to_the_limit_then_refuses(self):
        limit, _ = limiter(3)
        assert [limit.take("ana").allowed for _ in range(4)] == [True, True, True, False]

    def test_a_refusal_says_when_the_oldest_event_leaves_the_window(self):
        limit, clock = limiter(2, window=60)
        limit.take("ana")
        clock.advance(10)
        limit.take("ana")
        clock.advance(5)
        decision = limit.take("ana")
        assert not decision.allowed
        assert decision.retry_after == 45

    def test_waiting_the_retry_after_is_enough(self):
        limit, clock = limiter(1, window=60)
        limit.take("ana")
        clock.advance(0.3)
        decision = limit.take("ana")
        assert decision.retry_after == 60  # 59.7 s rounded up to whole seconds
        clock.advance(decision.retry_after)
        assert limit.take("ana").allowed

    def test_keys_are_independent(self):
        limit, _ = limiter(1)
        assert limit.take("ana").allowed
        assert limit.take("beto").allowed
        assert not limit.take("ana").allowed

    def test_refused_events_do_not_count(self):
        limit, clock = limiter(1, window=60)
        limit.take("ana")
        for _ in range(5):
            clock.advance(10)
            assert not limit.take("ana").allowed
        clock.advance(10)  # 60 s after the one admitted event
        assert limit.take("ana").allowed

    def test_a_clock_stepping_back_frees_nothing(self):
        limit, clock = limiter(1, window=60)
        limit.take("ana")
        clock.advance(-3600)
        assert not limit.take("ana").allowed

    def test_check_raises_rate_limited_with_the_wait(self):
        limit, _ = limiter(1)
        limit.check("ana")
        with pytest.raises(RateLimited) as caught:
            limit.check("ana")
        assert caught.value.retry_after == 60
        assert caught.value.code == "rate_limited"
        assert caught.value.params == {"retry_after": 60}

    def test_idle_keys_are_forgotten_when_the_table_is_full(self):
        limit, clock = limiter(1, window=60, max_keys=2)
        limit.take("ana")
        limit.take("beto")
        clock.advance(61)
        limit.take("carla")
        assert len(limit) == 1

    def test_busy_keys_are_kept(self):
        limit, clock = limiter(1, window=60, max_keys=2)
        limit.take("ana")
        limit.take("beto")
        clock.advance(30)
        limit.take("carla")
        assert len(limit) == 3
        assert not limit.take("ana").allowed

    @pytest.mark.parametrize("arguments", [(0, 60, 10), (1, 0, 10), (1, 60, 0)])
    def test_refuses_nonsense_settings(self, arguments):
        limit, window, max_keys = arguments
        with pytest.raises(ValueError):
            SlidingWindowLimiter(limit, window_seconds=window, clock=Clock(), max_keys=max_keys)


events = st.lists(
    st.tuples(st.sampled_from(["ana", "beto", "carla"]), st.integers(0, 30 * S)),
    max_size=120,
)


@settings(max_examples=200, deadline=None)
@given(limit=st.integers(1, 5), window=st.integers(1, 90), steps=events)
def test_never_more_than_limit_in_any_window_and_never_stricter(limit, window, steps):
    """Replayed against a naive model: an event is admitted exactly when fewer than `limit`
    admitted events of its key lie in the window before it, so no window ever holds more."""
    clock = Clock()
    limiter_ = SlidingWindowLimiter(limit, window_seconds=window, clock=clock, max_keys=2)
    admitted: dict[str, list[int]] = {}
    window_ns = window * S
    for key, step in steps:
        clock.now += step
        decision = limiter_.take(key)
        history = admitted.setdefault(key, [])
        in_window = [t for t in history if t > clock.now - window_ns]
        assert decision.allowed == (len(in_window) < limit)
        if decision.allowed:
            history.append(clock.now)
            assert decision.retry_after == 0
        else:
            # The wait is whole seconds, at least one, and exactly long enough.
            assert decision.retry_after >= 1
            wait_ns = min(in_window) + window_ns - clock.now
            assert decision.retry_after == max(1, -(-wait_ns // S))
    for times in admitted.values():
        for i, start in enumerate(times):
            assert sum(1 for t in times[i:] if t < start + window_ns) <= limit


@settings(max_examples=100, deadline=None)
@given(
    limit=st.integers(1, 5),
    times=st.lists(st.integers(0, 10**12), min_size=1, max_size=40),
)
def test_admit_with_any_clock_never_admits_more_than_limit_at_once(limit, times):
    """Even a clock jumping back and forth cannot fit more than `limit` events in a window."""
    log: deque[int] = deque()
    for now in times:
        admit(log, now, limit=limit, window_ns=60 * S)
        assert len(log) <= limit
        assert list(log) == sorted(log)


class TestEpochNs:
    """Moments read from PostgreSQL (microseconds) as the nanoseconds :func:`admit` counts."""

    def test_a_known_moment(self):
        assert epoch_ns(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)) == 1_000_005_000

    def test_the_zone_of_a_moment_does_not_matter(self):
        utc = datetime(2026, 12, 6, 5, 30, tzinfo=UTC)
        assert epoch_ns(utc.astimezone(timezone(timedelta(hours=-6)))) == epoch_ns(utc)

    @given(
        st.datetimes(
            min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
        ),
        st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650)),
    )
    def test_differences_are_kept_to_the_microsecond(self, moment, gap):
        later = moment + gap
        assert epoch_ns(later) - epoch_ns(moment) == gap // timedelta(microseconds=1) * 1000
