"""The pure rules of events to partners: payload shapes, destination (SSRF) rules, the retry
schedule and the signing secrets during a rotation."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.webhooks import (
    PAYLOAD_SHAPES,
    DestinationRefused,
    EventKind,
    PaymentReversed,
    PlanEvent,
    RetryPolicy,
    address_refusal,
    check_addresses,
    next_attempt,
    parse_destination,
    payload_of,
    signing_secrets,
)

POLICY = RetryPolicy(timedelta(seconds=30), timedelta(hours=1), timedelta(hours=72))
T0 = datetime(2026, 12, 5, 12, tzinfo=UTC)
NONE: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []


def test_every_kind_has_a_shape_without_personal_fields():
    assert set(PAYLOAD_SHAPES) == set(EventKind)
    personal = {"name", "full_name", "first_names", "last_names", "national_id", "phone",
                "email", "address", "notes", "reason_text"}  # fmt: skip
    for shape in PAYLOAD_SHAPES.values():
        assert not personal & set(shape.__dataclass_fields__)


def test_a_payload_must_be_its_kinds_shape():
    plan = PlanEvent("p", "a", "r", "settlement", "active")
    assert payload_of(EventKind.PLAN_CREATED, plan)["plan_id"] == "p"
    with pytest.raises(TypeError):
        payload_of(EventKind.PAYMENT_REVERSED, plan)
    assert payload_of(EventKind.PAYMENT_REVERSED, PaymentReversed("p", "a", "r", "1.00", "MXN"))


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"), ("10.1.2.3", "private"), ("192.168.0.1", "private"),
        ("169.254.169.254", "link-local"), ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"), ("100.64.0.1", "reserved"), ("::1", "loopback"),
        ("fe80::1", "link-local"), ("fc00::1", "private"), ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::7f00:1", "loopback"), ("2002:c0a8:1::", "private"),
    ],
)  # fmt: skip
def test_non_public_addresses_are_refused(address, reason):
    found = address_refusal(ipaddress.ip_address(address), NONE)
    assert found is not None and reason in found


def test_public_addresses_pass_and_the_allow_list_opens_a_network():
    assert address_refusal(ipaddress.ip_address("93.184.216.34"), NONE) is None
    assert address_refusal(ipaddress.ip_address("2606:4700::1"), NONE) is None
    allowed = [ipaddress.ip_network("127.0.0.1/32")]
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert address_refusal(ipaddress.ip_address("127.0.0.2"), allowed) is not None


def test_one_private_answer_refuses_the_whole_name():
    public, private = ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.1")
    with pytest.raises(DestinationRefused, match="private"):
        check_addresses([public, private], NONE)
    with pytest.raises(DestinationRefused, match="does not resolve"):
        check_addresses([], NONE)


def test_urls():
    assert parse_destination("https://h.example/x", require_https=True).port == 443
    for bad in ("http://h.example/x", "https://u:p@h.example/", "https://h.example/#f",
                "https:///x", "gopher://h/"):  # fmt: skip
        with pytest.raises(DestinationRefused):
            parse_destination(bad, require_https=True)


@given(
    attempts=st.integers(min_value=1, max_value=60),
    fraction=st.floats(min_value=0, max_value=1),
    elapsed=st.integers(min_value=0, max_value=100 * 3600),
)
def test_backoff_is_bounded_jittered_and_stops_at_the_maximum_age(attempts, fraction, elapsed):
    now = T0 + timedelta(seconds=elapsed)
    when = next_attempt(POLICY, attempts, T0, now, fraction)
    delay = min(POLICY.cap, POLICY.base * 2 ** min(attempts - 1, 30))
    if when is None:
        assert now + delay / 2 > T0 + POLICY.max_age
    else:
        assert now + delay / 2 <= when <= now + delay
        assert when <= T0 + POLICY.max_age


def test_backoff_grows():
    waits = [next_attempt(POLICY, n, T0, T0, 1.0) for n in (1, 2, 3, 4)]
    assert [w - T0 for w in waits if w] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]


def test_the_previous_secret_signs_only_inside_the_overlap():
    until = T0 + timedelta(hours=2)
    assert signing_secrets("new", "old", until, T0) == ["new", "old"]
    assert signing_secrets("new", "old", until, until) == ["new"]
    assert signing_secrets("new", None, None, T0) == ["new"]
