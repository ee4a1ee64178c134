"""The audit trail's hash chain and the value reduction it hashes (``app.domain.audit``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.audit import (
    GENESIS_HASH,
    ChainedEvent,
    EventContent,
    chain_hash,
    diff,
    first_broken_link,
    to_json_value,
)
from app.domain.roles import Role

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
CONTENT_FIELDS = [f.name for f in dataclasses.fields(EventContent)]


def make_content(**overrides) -> EventContent:
    values = {
        "occurred_at": T0,
        "actor_id": str(uuid.UUID(int=1)),
        "actor_role": "admin",
        "action": "user.update",
        "entity_type": "user",
        "entity_id": str(uuid.UUID(int=2)),
        "before": {"role": "collector", "version": 1},
        "after": {"role": "team_lead", "version": 2},
        "request_id": "req-1",
    }
    values.update(overrides)
    return EventContent(**values)


def build_chain(contents: list[EventContent], start_hash: str = GENESIS_HASH) -> list[ChainedEvent]:
    """Link the contents as the service does: seq from 1, each prev_hash the hash before it."""
    events = []
    prev = start_hash
    for seq, content in enumerate(contents, start=1):
        digest = chain_hash(prev, content)
        events.append(ChainedEvent(seq=seq, prev_hash=prev, hash=digest, content=content))
        prev = digest
    return events


# --- strategies -------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.text(max_size=12),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=2, max_value=10**9, min_value=-(10**9)
    ),
    st.uuids(),
    st.datetimes(timezones=st.just(UTC)),
    st.dates(),
)
snapshots = st.one_of(
    st.none(),
    st.dictionaries(st.text(min_size=1, max_size=8), json_scalars, max_size=5),
)
contents = st.builds(
    EventContent,
    occurred_at=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    actor_id=st.uuids().map(str),
    actor_role=st.sampled_from([r.value for r in Role]),
    action=st.sampled_from(["user.create", "user.update", "user.deactivate", "team.create"]),
    entity_type=st.sampled_from(["user", "team", "account"]),
    entity_id=st.uuids().map(str),
    before=snapshots,
    after=snapshots,
    request_id=st.none() | st.text(min_size=1, max_size=16),
)
# Fixed offsets: zone rules make ambiguous local times compare unequal across zones (PEP 495).
fixed_offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)
chains = st.lists(contents, min_size=1, max_size=8).map(build_chain)


def tampered_value(field: str, content: EventContent):
    """A value for ``field`` that differs from the current one in canonical (hashed) form."""
    current = getattr(content, field)
    if field == "occurred_at":
        return current + timedelta(microseconds=1)
    if field in ("before", "after"):
        if current is None:
            return {"tampered": "yes"}
        marker = "a" if current.get("_tampered") != "a" else "b"
        return {**current, "_tampered": marker}
    if field == "request_id" and current is None:
        return "forged"
    return current + "x"


def flipped(digest: str) -> str:
    return digest[:-1] + ("0" if digest[-1] != "0" else "1")


# --- chain_hash -------------------------------------------------------------------------------


class TestChainHash:
    def test_is_sha256_of_previous_hash_and_sorted_compact_json(self):
        content = make_content(before=None, after={"b": Decimal("10.50"), "a": 1})
        canonical = json.dumps(
            {
                "action": "user.update",
                "actor_id": str(uuid.UUID(int=1)),
                "actor_role": "admin",
                "after": {"a": 1, "b": "10.50"},
                "before": None,
                "entity_id": str(uuid.UUID(int=2)),
                "entity_type": "user",
                "occurred_at": "2025-03-01T09:30:00+00:00",
                "request_id": "req-1",
            },
            separators=(",", ":"),
        )
        expected = hashlib.sha256(GENESIS_HASH.encode() + canonical.encode()).hexdigest()
        assert content.canonical() == canonical.encode()
        assert chain_hash(GENESIS_HASH, content) == expected

    def test_genesis_hash_is_sixty_four_zeros(self):
        assert GENESIS_HASH == "0" * 64

    def test_non_ascii_text_is_kept_as_utf8_in_the_canonical_form(self):
        content = make_content(after={"nombre": "Peña"})
        assert "Peña".encode() in content.canonical()

    @given(content=contents)
    def test_is_deterministic_and_64_lowercase_hex(self, content):
        first = chain_hash(GENESIS_HASH, content)
        rebuilt = EventContent(**{f: getattr(content, f) for f in CONTENT_FIELDS})
        assert chain_hash(GENESIS_HASH, rebuilt) == first
        assert len(first) == 64
        assert set(first) <= set("0123456789abcdef")

    @given(
        items=st.dictionaries(st.text(max_size=6), json_scalars, min_size=2, max_size=6),
        data=st.data(),
    )
    def test_does_not_depend_on_key_order_of_before_and_after(self, items, data):
        reordered = dict(data.draw(st.permutations(list(items.items()))))
        nested = {"inner": items, "z": 1}
        nested_reordered = {"z": 1, "inner": reordered}
        one = make_content(before=items, after=nested)
        other = make_content(before=reordered, after=nested_reordered)
        assert chain_hash(GENESIS_HASH, one) == chain_hash(GENESIS_HASH, other)

    @given(content=contents, field=st.sampled_from(CONTENT_FIELDS))
    def test_changes_when_any_field_changes(self, content, field):
        changed = dataclasses.replace(content, **{field: tampered_value(field, content)})
        assert chain_hash(GENESIS_HASH, changed) != chain_hash(GENESIS_HASH, content)

    @given(content=contents)
    def test_changes_when_the_previous_hash_changes(self, content):
        other_prev = "f" * 64
        assert chain_hash(other_prev, content) != chain_hash(GENESIS_HASH, content)


# --- first_broken_link ------------------------------------------------------------------------


class TestFirstBrokenLink:
    def test_empty_chain_has_no_broken_link(self):
        assert first_broken_link([]) is None

    @given(events=chains)
    def test_intact_chain_of_any_length_has_no_broken_link(self, events):
        assert first_broken_link(events) is None

    @given(events=chains)
    def test_intact_chain_checked_from_a_later_start_hash(self, events):
        # A verification that resumes after a checkpoint passes that checkpoint's hash.
        tail = events[1:]
        assert first_broken_link(tail, start_hash=events[0].hash) is None
        if tail:
            broken = first_broken_link(tail)
            assert broken is not None and broken.seq == tail[0].seq

    @given(events=chains, data=st.data())
    def test_changed_content_field_is_found_at_that_event(self, events, data):
        k = data.draw(st.integers(min_value=0, max_value=len(events) - 1))
        field = data.draw(st.sampled_from(CONTENT_FIELDS))
        content = events[k].content
        forged = dataclasses.replace(content, **{field: tampered_value(field, content)})
        events[k] = dataclasses.replace(events[k], content=forged)
        broken = first_broken_link(events)
        assert broken is not None
        assert broken.seq == events[k].seq
        assert "content" in broken.reason

    @given(events=chains, data=st.data())
    def test_changed_prev_hash_is_found_at_that_event(self, events, data):
        k = data.draw(st.integers(min_value=0, max_value=len(events) - 1))
        events[k] = dataclasses.replace(events[k], prev_hash=flipped(events[k].prev_hash))
        broken = first_broken_link(events)
        assert broken is not None
        assert broken.seq == events[k].seq
        assert "previous" in broken.reason

    @given(events=st.lists(contents, min_size=2, max_size=8).map(build_chain), data=st.data())
    def test_rewritten_event_with_recomputed_hash_is_found_at_the_next_event(self, events, data):
        k = data.draw(st.integers(min_value=0, max_value=len(events) - 2))
        content = events[k].content
        forged = dataclasses.replace(content, actor_id=content.actor_id + "x")
        events[k] = dataclasses.replace(
            events[k], content=forged, hash=chain_hash(events[k].prev_hash, forged)
        )
        broken = first_broken_link(events)
        assert broken is not None
        assert broken.seq == events[k + 1].seq

    @given(events=st.lists(contents, min_size=2, max_size=8).map(build_chain), data=st.data())
    def test_swapped_events_are_found_at_the_earlier_position(self, events, data):
        i, j = sorted(
            data.draw(
                st.lists(
                    st.integers(min_value=0, max_value=len(events) - 1),
                    unique=True,
                    min_size=2,
                    max_size=2,
                )
            )
        )
        # Rows read back in seq order: the two events trade places, each row keeps its seq.
        first, second = events[i], events[j]
        events[i] = dataclasses.replace(second, seq=first.seq)
        events[j] = dataclasses.replace(first, seq=second.seq)
        broken = first_broken_link(events)
        assert broken is not None
        assert broken.seq == i + 1

    @given(events=st.lists(contents, min_size=2, max_size=8).map(build_chain), data=st.data())
    def test_removed_event_is_found_at_the_event_after_it(self, events, data):
        k = data.draw(st.integers(min_value=0, max_value=len(events) - 2))
        follower_seq = events[k + 1].seq
        del events[k]
        broken = first_broken_link(events)
        assert broken is not None
        assert broken.seq == follower_seq
        assert "previous" in broken.reason

    def test_chain_from_genesis_fails_against_another_start_hash(self):
        events = build_chain([make_content(), make_content(action="user.deactivate")])
        broken = first_broken_link(events, start_hash="a" * 64)
        assert broken is not None and broken.seq == 1


# --- to_json_value ----------------------------------------------------------------------------


class Colour(Enum):
    RED = "red"


class Level(IntEnum):
    HIGH = 3


class TestToJsonValue:
    @given(value=st.decimals(allow_nan=False))
    def test_decimal_becomes_a_string_without_precision_loss(self, value):
        result = to_json_value(value)
        assert isinstance(result, str)
        # Same value and same digits and exponent: "10.50" stays "10.50", not 10.5.
        assert Decimal(result).as_tuple() == value.as_tuple()

    def test_decimal_keeps_trailing_zeros_and_large_precision(self):
        assert to_json_value(Decimal("10.50")) == "10.50"
        big = Decimal("12345678901234567890.123456789012345678")
        assert Decimal(to_json_value(big)) == big

    @given(value=st.datetimes(timezones=st.none() | fixed_offsets))
    def test_datetime_becomes_its_isoformat(self, value):
        result = to_json_value(value)
        assert result == value.isoformat()
        parsed = datetime.fromisoformat(result)
        assert parsed == value and parsed.utcoffset() == value.utcoffset()

    def test_aware_datetime_keeps_its_offset(self):
        value = datetime(2025, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
        assert to_json_value(value) == "2025-03-01T09:30:00-05:00"

    @given(value=st.dates())
    def test_date_becomes_its_isoformat(self, value):
        assert date.fromisoformat(to_json_value(value)) == value

    @given(value=st.uuids())
    def test_uuid_becomes_its_canonical_string(self, value):
        result = to_json_value(value)
        assert result == str(value)
        assert uuid.UUID(result) == value

    @given(value=st.floats(allow_nan=False, allow_infinity=False))
    def test_float_becomes_a_string_that_reads_back_exactly(self, value):
        result = to_json_value(value)
        assert isinstance(result, str) and float(result) == value

    @pytest.mark.parametrize("value", [None, True, False, 0, -7, 10**30, "", "texto"])
    def test_json_scalars_pass_through_unchanged(self, value):
        result = to_json_value(value)
        assert result == value and type(result) is type(value)

    def test_enums_become_their_values(self):
        assert to_json_value(Colour.RED) == "red"
        assert to_json_value(Level.HIGH) == 3
        assert json.dumps(to_json_value(Role.TEAM_LEAD)) == '"team_lead"'

    def test_nested_containers_are_reduced_recursively(self):
        uid = uuid.UUID(int=5)
        value = {"amounts": (Decimal("1.10"), Decimal("2")), "owner": {"id": uid}, 7: [T0]}
        assert to_json_value(value) == {
            "amounts": ["1.10", "2"],
            "owner": {"id": str(uid)},
            "7": [T0.isoformat()],
        }

    @given(items=st.sets(st.integers() | st.text(max_size=5), max_size=8))
    def test_set_becomes_a_list_in_an_order_independent_of_insertion(self, items):
        forward = to_json_value(set(items))
        backward = to_json_value(frozenset(reversed(list(items))))
        assert forward == backward
        assert sorted(map(repr, forward)) == sorted(map(repr, items))

    @given(value=st.recursive(json_scalars, lambda kids: st.lists(kids, max_size=3)
                               | st.dictionaries(st.text(max_size=4), kids, max_size=3),
                               max_leaves=12))  # fmt: skip
    def test_result_is_always_serialisable_as_json(self, value):
        json.dumps(to_json_value(value))

    @pytest.mark.parametrize(
        "value",
        [object(), b"bytes", bytearray(b"x"), 1 + 2j, {"nested": object()}, [1, b"x"]],
        ids=["object", "bytes", "bytearray", "complex", "nested-in-dict", "nested-in-list"],
    )
    def test_unsupported_types_raise_type_error(self, value):
        with pytest.raises(TypeError):
            to_json_value(value)


# --- diff -------------------------------------------------------------------------------------


class TestDiff:
    def test_returns_only_changed_keys(self):
        before = {"name": "Ana", "role": "collector", "version": 1}
        after = {"name": "Ana", "role": "team_lead", "version": 2}
        assert diff(before, after) == (
            {"role": "collector", "version": 1},
            {"role": "team_lead", "version": 2},
        )

    def test_identical_snapshots_have_no_diff(self):
        snapshot = {"name": "Ana", "active": True}
        assert diff(snapshot, dict(snapshot)) == ({}, {})

    def test_added_key_shows_none_before(self):
        assert diff({"a": 1}, {"a": 1, "b": 2}) == ({"b": None}, {"b": 2})

    def test_removed_key_shows_none_after(self):
        assert diff({"a": 1, "b": 2}, {"a": 1}) == ({"b": 2}, {"b": None})

    @given(
        before=st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 3)),
        after=st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 3)),
    )
    def test_applying_the_diff_to_before_gives_after(self, before, after):
        old, new = diff(before, after)
        assert old.keys() == new.keys()
        for key in new:
            assert old[key] != new[key]
        # Unchanged keys are left out; every key that differs is there.
        for key in set(before) | set(after):
            assert (key in new) == (before.get(key) != after.get(key))
        patched = {**before, **new}
        assert {k: v for k, v in patched.items() if v is not None} == after
