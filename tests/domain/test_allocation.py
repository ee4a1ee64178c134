"""Allocation rules: order, matching, territory, validation and distribution."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.allocation import (
    AccountFacts,
    Address,
    Rule,
    Territory,
    check_rule_shape,
    check_territory,
    distribute,
    first_match,
    in_territory,
    matches,
    ordered,
    plain,
    postal,
)
from app.domain.errors import InvalidInput
from app.domain.roles import Skill
from app.domain.stages import ProductType, Stage

PARTNER = uuid.UUID(int=1)
OTHER = uuid.UUID(int=2)


def rule(priority: int = 10, n: int = 0, **overrides) -> Rule:
    fields = {
        "id": uuid.UUID(int=1000 + n),
        "priority": priority,
        "skill": Skill.PHONE,
        "capacity": 100,
        "team_id": uuid.UUID(int=77),
    }
    return Rule(**(fields | overrides))


def account(**overrides) -> AccountFacts:
    fields = {
        "partner_id": PARTNER,
        "stage": Stage.EARLY,
        "product_type": ProductType.INSTALLMENT,
        "address": Address("Jalisco", "Guadalajara", "44100"),
    }
    return AccountFacts(**(fields | overrides))


class TestMatching:
    def test_a_rule_without_criteria_matches_every_account(self):
        assert matches(rule(), account(address=None))

    def test_partner_stage_and_product_must_all_hold(self):
        r = rule(
            partner_id=PARTNER,
            stages=frozenset({Stage.EARLY, Stage.MID}),
            product_types=frozenset({ProductType.INSTALLMENT}),
        )
        assert matches(r, account())
        assert not matches(r, account(partner_id=OTHER))
        assert not matches(r, account(stage=Stage.LATE))
        assert not matches(r, account(product_type=ProductType.REVOLVING))

    def test_the_lowest_priority_matching_rule_decides(self):
        late_only = rule(1, n=1, stages=frozenset({Stage.LATE}))
        general = rule(5, n=2)
        specific = rule(3, n=3, partner_id=PARTNER)
        rules = [general, late_only, specific]
        assert first_match(rules, account()) == specific
        assert first_match(rules, account(stage=Stage.LATE)) == late_only
        assert first_match(rules, account(partner_id=OTHER)) == general

    def test_equal_priorities_go_to_the_older_rule(self):
        older, newer = rule(5, n=1), rule(5, n=2)
        assert first_match([newer, older], account()) == older
        assert ordered([newer, older]) == [older, newer]

    def test_no_rule_matching_gives_none(self):
        assert first_match([rule(stages=frozenset({Stage.LATE}))], account()) is None


class TestTerritory:
    def test_empty_territory_is_anywhere(self):
        assert in_territory(Territory(), None)

    def test_by_state_ignoring_accents_case_and_blanks(self):
        t = check_territory(["Nuevo León"], [], [])
        assert in_territory(t, Address("  NUEVO   leon ", None, None))
        assert not in_territory(t, Address("Jalisco", None, None))

    def test_by_municipality(self):
        t = check_territory([], ["Zapopan"], [])
        assert in_territory(t, Address("Jalisco", "zapopan", "45000"))
        assert not in_territory(t, Address("Jalisco", "Guadalajara", "44100"))

    def test_by_postal_prefix(self):
        t = check_territory([], [], ["441", " 06 "])
        assert in_territory(t, Address(None, None, "44100"))
        assert in_territory(t, Address(None, None, "06 600"))
        assert not in_territory(t, Address(None, None, "45100"))

    def test_any_entry_is_enough(self):
        t = check_territory(["Sonora"], ["Zapopan"], ["06"])
        assert in_territory(t, Address("Sonora", "Hermosillo", "83000"))
        assert in_territory(t, Address("Jalisco", "Zapopan", "45000"))
        assert in_territory(t, Address("CDMX", "Cuauhtémoc", "06600"))

    def test_a_territory_never_matches_an_account_without_address(self):
        t = check_territory(["Jalisco"], [], [])
        assert not in_territory(t, None)
        assert not in_territory(t, Address())

    @given(st.text(max_size=30))
    def test_plain_is_idempotent(self, text):
        assert plain(plain(text)) == plain(text)
        assert postal(postal(text)) == postal(text)


class TestValidation:
    def shape(self, **overrides):
        fields = {
            "priority": 1,
            "capacity": 10,
            "stages": [Stage.EARLY],
            "team_id": uuid.UUID(int=1),
            "collector_id": None,
        }
        check_rule_shape(**(fields | overrides))

    @pytest.mark.parametrize("capacity", [0, -1, 100_001])
    def test_capacity_out_of_range(self, capacity):
        with pytest.raises(InvalidInput) as error:
            self.shape(capacity=capacity)
        assert error.value.field == "capacity"

    def test_exactly_one_target(self):
        with pytest.raises(InvalidInput):
            self.shape(team_id=None)
        with pytest.raises(InvalidInput):
            self.shape(collector_id=uuid.UUID(int=2))

    def test_at_least_one_stage(self):
        with pytest.raises(InvalidInput):
            self.shape(stages=[])

    @pytest.mark.parametrize("prefix", ["", "  ", "44-1", "12345678901"])
    def test_bad_postal_prefixes(self, prefix):
        with pytest.raises(InvalidInput) as error:
            check_territory([], [], [prefix])
        assert error.value.field == "territory.postal_prefixes.0"

    def test_blank_names(self):
        with pytest.raises(InvalidInput) as error:
            check_territory(["Jalisco", " "], [], [])
        assert error.value.field == "territory.states.1"


collector_ids = st.integers(1, 30).map(lambda i: uuid.UUID(int=i))


class TestDistribution:
    def test_the_least_loaded_collectors_fill_first(self):
        a, b, c = (uuid.UUID(int=i) for i in (1, 2, 3))
        placed = distribute({a: 5, b: 2, c: 3}, capacity=10, count=4)
        # Levels after: b 3, b 4, c 4, b 5 → loads a 5, b 5, c 4.
        assert placed == [b, b, c, b]

    def test_beyond_capacity_nothing_is_placed(self):
        a, b = uuid.UUID(int=1), uuid.UUID(int=2)
        placed = distribute({a: 3, b: 0}, capacity=3, count=5)
        assert placed.count(b) == 3
        assert placed.count(a) == 0
        assert placed[3:] == [None, None]

    def test_no_collectors_places_nothing(self):
        assert distribute({}, capacity=5, count=2) == [None, None]

    @given(
        st.dictionaries(collector_ids, st.integers(0, 40), max_size=8),
        st.integers(1, 50),
        st.integers(0, 120),
    )
    def test_invariants(self, loads, capacity, count):
        placed = distribute(loads, capacity, count)
        assert len(placed) == count
        room = sum(max(0, capacity - load) for load in loads.values())
        assert sum(1 for x in placed if x is not None) == min(count, room)
        # Never past the capacity; a placed account never goes above anyone with room left.
        final = dict(loads)
        for x in placed:
            if x is not None:
                final[x] += 1
        gained = {c for c in placed if c is not None}
        for c in gained:
            assert final[c] <= capacity
            for load in final.values():
                if load < capacity:
                    assert final[c] <= load + 1
