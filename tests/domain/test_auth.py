"""The brute-force lockout rule of the password grant (``app.domain.auth.locked_until``).

Times are built as whole seconds after a fixed instant so that the expected lock end can be
worked out from the inputs. The properties use distinct timestamps: with two attempts at the
very same instant the rule has no order to go by.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import assume, given
from hypothesis import strategies as st

from app.domain.auth import Attempt, LockoutPolicy, locked_until

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
DEFAULT = LockoutPolicy()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def failures(*seconds: float) -> list[Attempt]:
    return [Attempt(at(s), succeeded=False) for s in seconds]


def success(seconds: float) -> Attempt:
    return Attempt(at(seconds), succeeded=True)


def minutes(m: float) -> float:
    return m * 60


policies = st.builds(
    LockoutPolicy,
    max_failures=st.integers(min_value=1, max_value=6),
    window=st.integers(min_value=1, max_value=3600).map(lambda s: timedelta(seconds=s)),
    lock_for=st.integers(min_value=1, max_value=3600).map(lambda s: timedelta(seconds=s)),
)


@st.composite
def attempt_histories(draw, max_size: int = 20) -> list[Attempt]:
    """Attempts at distinct whole seconds within a few hours, each failed or succeeded."""
    offsets = draw(
        st.lists(st.integers(min_value=0, max_value=4 * 3600), unique=True, max_size=max_size)
    )
    return [Attempt(at(o), succeeded=draw(st.booleans())) for o in offsets]


now_offsets = st.integers(min_value=-3600, max_value=6 * 3600)


class TestLockedUntilExamples:
    def test_no_attempts_is_never_locked(self):
        assert locked_until([], at(0), DEFAULT) is None

    def test_five_failures_a_minute_apart_lock_for_fifteen_minutes_after_the_fifth(self):
        attempts = failures(*(minutes(m) for m in range(5)))
        assert locked_until(attempts, at(minutes(5)), DEFAULT) == at(minutes(4 + 15))

    def test_four_failures_in_the_window_do_not_lock(self):
        attempts = failures(*(minutes(m) for m in range(4)))
        assert locked_until(attempts, at(minutes(4)), DEFAULT) is None

    def test_lock_is_over_at_the_exact_end(self):
        attempts = failures(*(minutes(m) for m in range(5)))
        end = at(minutes(19))
        assert locked_until(attempts, end - timedelta(microseconds=1), DEFAULT) == end
        assert locked_until(attempts, end, DEFAULT) is None
        assert locked_until(attempts, end + timedelta(hours=1), DEFAULT) is None

    def test_failure_exactly_one_window_before_the_last_is_outside_the_window(self):
        # 10:00 and 10:15 are a whole window apart, so only four failures share one window.
        attempts = failures(0, minutes(11), minutes(12), minutes(13), minutes(15))
        assert locked_until(attempts, at(minutes(15)), DEFAULT) is None

    def test_failure_just_inside_the_window_completes_the_run(self):
        attempts = failures(1, minutes(11), minutes(12), minutes(13), minutes(15))
        assert locked_until(attempts, at(minutes(15)), DEFAULT) == at(minutes(30))

    def test_success_between_failures_starts_the_count_again(self):
        attempts = [*failures(0, 60, 120), success(180), *failures(240, 300, 360, 420)]
        assert locked_until(attempts, at(421), DEFAULT) is None

    def test_failures_after_a_success_can_complete_a_new_run(self):
        attempts = [*failures(0, 60, 120), success(180), *failures(240, 300, 360, 420, 480)]
        assert locked_until(attempts, at(481), DEFAULT) == at(480 + minutes(15))

    def test_success_after_a_completed_run_does_not_lift_the_lock(self):
        # The lock lasts lock_for after the failure that completed the run, whatever follows.
        attempts = [*failures(0, 60, 120, 180, 240), success(300)]
        assert locked_until(attempts, at(301), DEFAULT) == at(240 + minutes(15))

    def test_each_further_failure_in_the_run_pushes_the_lock_end(self):
        attempts = failures(0, 60, 120, 180, 240, 300)
        assert locked_until(attempts, at(301), DEFAULT) == at(300 + minutes(15))

    def test_attempts_given_out_of_order_are_read_in_time_order(self):
        attempts = [*failures(240, 0, 180), success(30), *failures(60, 120)]
        # In time order: F(0) S(30) F(60) F(120) F(180) F(240) -> only four after the success.
        assert locked_until(attempts, at(241), DEFAULT) is None

    def test_single_failure_locks_when_the_policy_allows_one(self):
        policy = LockoutPolicy(max_failures=1, lock_for=timedelta(minutes=2))
        assert locked_until(failures(10), at(11), policy) == at(10 + minutes(2))

    def test_policy_defaults_are_five_failures_in_fifteen_minutes_for_fifteen_minutes(self):
        assert DEFAULT.max_failures == 5
        assert DEFAULT.window == timedelta(minutes=15)
        assert DEFAULT.lock_for == timedelta(minutes=15)


class TestLockedUntilProperties:
    @given(policy=policies, data=st.data())
    def test_fewer_than_max_failures_never_lock(self, policy, data):
        offsets = data.draw(
            st.lists(
                st.integers(min_value=0, max_value=3600),
                unique=True,
                max_size=policy.max_failures - 1,
            )
        )
        now = at(data.draw(now_offsets))
        assert locked_until(failures(*offsets), now, policy) is None

    @given(policy=policies, data=st.data())
    def test_success_after_failures_resets_the_run(self, policy, data):
        # max_failures - 1 failures, a success, then max_failures - 1 failures again, all
        # packed into one window: neither side of the success reaches the limit.
        n = policy.max_failures - 1
        span_ms = int(policy.window.total_seconds() * 1000)
        offsets = sorted(
            ms / 1000
            for ms in data.draw(
                st.lists(
                    st.integers(min_value=0, max_value=span_ms - 1),
                    unique=True,
                    min_size=2 * n + 1,
                    max_size=2 * n + 1,
                )
            )
        )
        before, success_at, after = offsets[:n], offsets[n], offsets[n + 1 :]
        attempts = [*failures(*before), success(success_at), *failures(*after)]
        now = at(offsets[-1])
        assert locked_until(attempts, now, policy) is None
        # Without the success the same failures would lock (there are at least max_failures).
        if 2 * n >= policy.max_failures:
            assert locked_until(failures(*before, *after), now, policy) is not None

    @given(policy=policies, attempts=attempt_histories(), now_s=now_offsets)
    def test_lock_never_lasts_beyond_last_failure_plus_lock_for(self, policy, attempts, now_s):
        now = at(now_s)
        until = locked_until(attempts, now, policy)
        if until is None:
            return
        failed_at = [a.at for a in attempts if not a.succeeded]
        assert failed_at, "only failures can lock"
        assert until > now
        assert until <= max(failed_at) + policy.lock_for
        # The end is always lock_for after one of the failures.
        assert until - policy.lock_for in failed_at

    @given(policy=policies, data=st.data())
    def test_failures_spread_wider_than_the_window_do_not_lock(self, policy, data):
        # Any max_failures consecutive failures span at least one whole window.
        if policy.max_failures == 1:
            return
        window_s = policy.window.total_seconds()
        min_gap = math.ceil(window_s / (policy.max_failures - 1))
        gaps = data.draw(
            st.lists(
                st.integers(min_value=min_gap, max_value=min_gap + 600), min_size=1, max_size=15
            )
        )
        offsets = [0]
        for gap in gaps:
            offsets.append(offsets[-1] + gap)
        now = at(data.draw(st.integers(min_value=0, max_value=offsets[-1] + 3600)))
        assert locked_until(failures(*offsets), now, policy) is None

    @given(policy=policies, data=st.data())
    def test_max_failures_within_the_window_lock_until_last_plus_lock_for(self, policy, data):
        window_s = int(policy.window.total_seconds())
        # Distinct whole seconds inside one window: the window must hold enough of them.
        assume(window_s >= policy.max_failures)
        offsets = data.draw(
            st.lists(
                st.integers(min_value=0, max_value=window_s - 1),
                unique=True,
                min_size=policy.max_failures,
                max_size=policy.max_failures,
            )
        )
        last = at(max(offsets))
        expected_end = last + policy.lock_for
        lock_s = int(policy.lock_for.total_seconds())
        into_lock = data.draw(st.integers(min_value=0, max_value=lock_s - 1))
        now = last + timedelta(seconds=into_lock)
        assert locked_until(failures(*offsets), now, policy) == expected_end
        assert locked_until(failures(*offsets), expected_end, policy) is None

    @given(policy=policies, attempts=attempt_histories(), now_s=now_offsets, data=st.data())
    def test_order_of_the_attempts_does_not_matter(self, policy, attempts, now_s, data):
        shuffled = data.draw(st.permutations(attempts))
        now = at(now_s)
        assert locked_until(shuffled, now, policy) == locked_until(attempts, now, policy)

    @given(policy=policies, attempts=attempt_histories(), now_s=now_offsets)
    def test_attempts_older_than_window_plus_lock_for_cannot_matter(self, policy, attempts, now_s):
        # The service only loads attempts newer than now - window - lock_for.
        now = at(now_s)
        horizon = now - policy.window - policy.lock_for
        recent = [a for a in attempts if a.at > horizon]
        assert locked_until(recent, now, policy) == locked_until(attempts, now, policy)


def test_a_success_and_a_failure_at_the_same_instant_do_not_lift_a_lock():
    policy = LockoutPolicy()
    start = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    failures = [Attempt(start + timedelta(minutes=m), False) for m in range(4)]
    tie = start + timedelta(minutes=4)
    one_way = [*failures, Attempt(tie, False), Attempt(tie, True)]
    other_way = [*failures, Attempt(tie, True), Attempt(tie, False)]
    expected = tie + policy.lock_for
    assert locked_until(one_way, tie, policy) == expected
    assert locked_until(other_way, tie, policy) == expected
