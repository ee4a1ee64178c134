"""The brute-force lockout rules of the grants (``app.domain.auth``): the run rule
(``locked_until``), the per name-and-address and per-address locks, and the client address.

Times are built as whole seconds after a fixed instant so that the expected lock end can be
worked out from the inputs. The properties use distinct timestamps: with two attempts at the
very same instant the rule has no order to go by.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address, ip_network

from hypothesis import assume, given
from hypothesis import strategies as st

from app.domain.auth import (
    UNKNOWN_ADDRESS,
    Attempt,
    Lock,
    LockoutPolicy,
    LockScope,
    LoginLimits,
    address_key,
    client_address,
    locked_until,
    locks_begun,
    login_lock,
)

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


# --- Per-address lockout (issue 17 item 1) ------------------------------------------------

LIMITS = LoginLimits(
    name_address=LockoutPolicy(max_failures=5),
    address=LockoutPolicy(max_failures=12),
)


class TestLoginLock:
    def test_defaults_lock_a_name_after_five_and_an_address_after_fifty(self):
        limits = LoginLimits()
        assert limits.name_address == LockoutPolicy()
        assert limits.address.max_failures == 50
        assert limits.address.window == limits.address.lock_for == timedelta(minutes=15)

    def test_nothing_on_record_is_no_lock(self):
        assert login_lock([], [], at(0), LIMITS) is None

    def test_five_failures_of_the_name_from_the_address_lock_the_pair(self):
        pair = failures(0, 60, 120, 180, 240)
        lock = login_lock(pair, pair, at(241), LIMITS)
        assert lock == Lock(LockScope.NAME_ADDRESS, at(240 + minutes(15)))

    def test_failures_under_many_names_lock_the_address(self):
        # Four failures each under three names: no pair reaches five, the address has twelve.
        address = failures(*range(12))
        assert login_lock(failures(8, 9, 10, 11), address, at(12), LIMITS) == Lock(
            LockScope.ADDRESS, at(11 + minutes(15))
        )
        assert login_lock([], address[:-1], at(12), LIMITS) is None

    def test_successes_do_not_reset_the_count_of_an_address(self):
        # An attacker logging in with their own account between guesses gains nothing.
        address = [a for i in range(12) for a in (*failures(2 * i), success(2 * i + 1))]
        assert login_lock([], address, at(30), LIMITS) == Lock(
            LockScope.ADDRESS, at(22 + minutes(15))
        )

    def test_a_success_of_the_name_from_the_address_resets_the_pair(self):
        pair = [*failures(0, 60, 120, 180), success(200), *failures(240)]
        assert login_lock(pair, pair, at(241), LIMITS) is None

    def test_the_lock_that_ends_last_is_the_one_in_force(self):
        pair = failures(0, 1, 2, 3, 100)
        address = [*failures(*range(4, 11)), *pair]  # twelve failures, the last at 100
        lock = login_lock(pair, address, at(101), LIMITS)
        assert lock is not None and lock.until == at(100 + minutes(15))
        longer = LoginLimits(LIMITS.name_address, LockoutPolicy(12, lock_for=timedelta(hours=1)))
        assert login_lock(pair, address, at(101), longer) == Lock(
            LockScope.ADDRESS, at(100 + minutes(60))
        )


class TestLocksBegun:
    def test_the_failure_that_completes_the_run_begins_the_pair_lock(self):
        pair = failures(0, 60, 120, 180)
        assert locks_begun(pair, pair, at(240), LIMITS) == [
            Lock(LockScope.NAME_ADDRESS, at(240 + minutes(15)))
        ]

    def test_a_failure_short_of_the_limit_begins_nothing(self):
        pair = failures(0, 60, 120)
        assert locks_begun(pair, pair, at(180), LIMITS) == []

    def test_a_lock_already_in_force_is_not_begun_again(self):
        pair = failures(0, 60, 120, 180, 240)
        assert locks_begun(pair, pair, at(300), LIMITS) == []

    def test_the_twelfth_failure_of_an_address_begins_its_lock(self):
        address = failures(*range(11))
        assert locks_begun([], address, at(11), LIMITS) == [
            Lock(LockScope.ADDRESS, at(11 + minutes(15)))
        ]

    def test_one_failure_may_begin_both_locks(self):
        pair = failures(0, 1, 2, 3)
        address = [*failures(*range(4, 11)), *pair]
        begun = locks_begun(pair, address, at(20), LIMITS)
        assert {lock.scope for lock in begun} == {LockScope.NAME_ADDRESS, LockScope.ADDRESS}


limits_strategy = st.builds(LoginLimits, name_address=policies, address=policies)


class TestLockoutProperties:
    @given(
        limits=limits_strategy,
        pair=attempt_histories(max_size=10),
        others=attempt_histories(max_size=10),
        after_s=st.integers(min_value=1, max_value=600),
    )
    def test_a_begun_lock_is_in_force_right_after_and_was_not_before(
        self, limits, pair, others, after_s
    ):
        address = [*pair, *(a for a in others if a.at not in {p.at for p in pair})]
        failed_at = max((a.at for a in address), default=at(0)) + timedelta(seconds=after_s)
        failure = Attempt(failed_at, succeeded=False)
        for lock in locks_begun(pair, address, failed_at, limits):
            policy = limits.name_address if lock.scope is LockScope.NAME_ADDRESS else limits.address
            assert lock.until == failed_at + policy.lock_for
            before = login_lock(pair, address, failed_at, limits)
            assert before is None or before.scope is not lock.scope or before.until < lock.until
            after = login_lock([*pair, failure], [*address, failure], failed_at, limits)
            assert after is not None and after.until >= lock.until

    @given(limits=limits_strategy, attempts=attempt_histories(), now_s=now_offsets)
    def test_successes_never_lift_an_address_lock(self, limits, attempts, now_s):
        now = at(now_s)
        only_failures = [a for a in attempts if not a.succeeded]
        assert login_lock([], attempts, now, limits) == login_lock([], only_failures, now, limits)

    @given(
        names=st.lists(st.sampled_from("abcdefghij"), min_size=60, max_size=60),
        address_max=st.integers(min_value=1, max_value=50),
    )
    def test_one_address_guessing_many_names_is_refused_after_its_limit(self, names, address_max):
        """A burst within one window: the first refusal comes after exactly ``address_max``
        failures unless one name reaches its own limit first, and then it is for that name
        only."""
        limits = LoginLimits(LockoutPolicy(max_failures=5), LockoutPolicy(address_max))
        history: dict[str, list[Attempt]] = {}
        everything: list[Attempt] = []
        failed = 0
        for second, name in enumerate(names):
            now = at(second)
            lock = login_lock(history.get(name, []), everything, now, limits)
            if failed >= address_max:
                # Refused under any name (the pair's lock may be the one that ends last).
                assert lock is not None
                continue
            if lock is not None:
                assert lock.scope is LockScope.NAME_ADDRESS
                assert len(history[name]) >= 5
                continue
            failure = Attempt(now, succeeded=False)
            history.setdefault(name, []).append(failure)
            everything.append(failure)
            failed += 1
        assert failed == min(address_max, sum(min(5, names.count(n)) for n in set(names)))


# --- The client's address -----------------------------------------------------------------

PROXIES = [ip_network("10.0.0.0/8"), ip_network("192.0.2.7/32"), ip_network("fd00::/8")]


class TestClientAddress:
    def test_without_trusted_proxies_the_header_is_ignored(self):
        assert client_address("203.0.113.9", ["198.51.100.1"], []) == ip_address("203.0.113.9")

    def test_a_spoofed_header_from_an_untrusted_peer_changes_nothing(self):
        for spoof in (["198.51.100.1"], ["10.0.0.1"], ["198.51.100.1, 10.0.0.1"], ["garbage"]):
            assert client_address("203.0.113.9", spoof, PROXIES) == ip_address("203.0.113.9")

    def test_a_trusted_peer_names_the_client(self):
        assert client_address("10.1.2.3", ["198.51.100.1"], PROXIES) == ip_address("198.51.100.1")

    def test_a_single_trusted_address_is_a_network_of_one(self):
        assert client_address("192.0.2.7", ["198.51.100.1"], PROXIES) == ip_address("198.51.100.1")
        assert client_address("192.0.2.8", ["198.51.100.1"], PROXIES) == ip_address("192.0.2.8")

    def test_hops_are_walked_from_the_right_skipping_trusted_proxies(self):
        # The client wrote "1.1.1.1"; the edge proxy appended the client's real address, an
        # inner proxy (10.0.0.5) appended the edge's; the peer is the inner one.
        header = ["1.1.1.1, 198.51.100.1, 10.0.0.5"]
        assert client_address("10.0.0.6", header, PROXIES) == ip_address("198.51.100.1")

    def test_several_header_lines_are_one_list_in_order(self):
        lines = ["1.1.1.1", "198.51.100.1", "10.0.0.5"]
        assert client_address("10.0.0.6", lines, PROXIES) == ip_address("198.51.100.1")

    def test_every_hop_trusted_gives_the_leftmost(self):
        assert client_address("10.0.0.6", ["10.9.9.9, 10.0.0.5"], PROXIES) == ip_address("10.9.9.9")

    def test_a_malformed_hop_met_on_the_walk_gives_the_peer(self):
        for header in (["not-an-ip"], ["198.51.100.1, unknown"], ["1.2.3.4, , 10.0.0.5"]):
            assert client_address("10.0.0.6", header, PROXIES) == ip_address("10.0.0.6")

    def test_a_malformed_hop_left_of_the_client_is_never_read(self):
        assert client_address("10.0.0.6", ["junk, 198.51.100.1"], PROXIES) == ip_address(
            "198.51.100.1"
        )

    def test_no_or_empty_header_from_a_trusted_peer_gives_the_peer(self):
        assert client_address("10.0.0.6", [], PROXIES) == ip_address("10.0.0.6")
        assert client_address("10.0.0.6", [" "], PROXIES) == ip_address("10.0.0.6")

    def test_ipv6_peers_and_hops(self):
        assert client_address("fd00::1", ["2001:db8::42"], PROXIES) == ip_address("2001:db8::42")
        assert client_address("fd00::1", ["[2001:db8::42]:5555"], PROXIES) == ip_address(
            "2001:db8::42"
        )
        assert client_address("2001:db8::1", ["198.51.100.1"], PROXIES) == ip_address("2001:db8::1")

    def test_ports_and_mapped_addresses_are_read_as_their_address(self):
        assert client_address("10.0.0.6", ["198.51.100.1:4711"], PROXIES) == ip_address(
            "198.51.100.1"
        )
        # A dual-stack socket reports an IPv4 client as ::ffff:a.b.c.d.
        assert client_address("::ffff:10.0.0.6", ["198.51.100.1"], PROXIES) == ip_address(
            "198.51.100.1"
        )
        assert client_address("::ffff:203.0.113.9", [], []) == ip_address("203.0.113.9")

    def test_an_unknown_peer_is_none(self):
        assert client_address(None, ["198.51.100.1"], PROXIES) is None
        assert client_address("testclient", ["198.51.100.1"], PROXIES) is None

    @given(
        peer=st.ip_addresses(),
        header=st.lists(st.text(max_size=40), max_size=4),
    )
    def test_an_untrusted_peer_is_the_client_whatever_the_header_says(self, peer, header):
        assume(not any(peer in net for net in PROXIES if net.version == peer.version))
        assume(not (peer.version == 6 and peer.ipv4_mapped is not None))
        assert client_address(str(peer), header, PROXIES) == peer

    @given(
        client=st.ip_addresses(v=4),
        junk=st.lists(st.text(alphabet="0123456789abcdef.:, x", max_size=20), max_size=3),
        hops=st.lists(st.ip_addresses(network="10.0.0.0/8"), max_size=3),
    )
    def test_what_the_client_writes_before_its_address_is_never_believed(self, client, junk, hops):
        assume(not any(client in net for net in PROXIES if net.version == 4))
        header = [*junk, str(client), *(str(h) for h in hops)]
        assert client_address("10.0.0.1", header, PROXIES) == client


class TestAddressKey:
    def test_ipv4_is_itself(self):
        assert address_key(ip_address("203.0.113.9")) == "203.0.113.9"

    def test_ipv6_is_its_slash_64(self):
        one = address_key(ip_address("2001:db8:1:2:aaaa::1"))
        other = address_key(ip_address("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        assert one == other == "2001:db8:1:2::/64"
        assert address_key(ip_address("2001:db8:1:3::1")) != one

    def test_unknown_is_its_own_key(self):
        assert address_key(None) == UNKNOWN_ADDRESS == "unknown"

    @given(address=st.ip_addresses())
    def test_a_key_fits_the_column_and_holds_no_separator(self, address):
        key = address_key(address)
        assert len(key) <= 64 and "|" not in key and key != "address"
