"""Delinquency stages (``app.domain.stages``): days past due with pauses, stages from a
partner's bucket edges, the bucket table's validation and the Buró MOP codes."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import InvalidInput
from app.domain.stages import (
    DEFAULT_EDGES,
    MAX_EDGE,
    OVERDUE_STAGES,
    STAGE_ORDER,
    BucketEdges,
    Pause,
    ProductType,
    Stage,
    check_bucket_table,
    check_edges,
    days_past_due,
    mop_code,
    paused_days,
    stage_for,
)

edges = st.lists(
    st.integers(min_value=1, max_value=MAX_EDGE), min_size=5, max_size=5, unique=True
).map(lambda values: BucketEdges(*sorted(values)))
dpds = st.integers(min_value=-400, max_value=MAX_EDGE + 400)
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))
pauses = st.builds(
    lambda start, length: Pause(start, start + timedelta(days=length)),
    days,
    st.integers(min_value=0, max_value=120),
)

# DESIGN.md, "Domain core": the default buckets and Buró de Crédito's MOP codes.
DEFAULT_STAGES = [
    (-30, Stage.CURRENT),
    (0, Stage.CURRENT),
    (1, Stage.EARLY),
    (29, Stage.EARLY),
    (30, Stage.MID),
    (59, Stage.MID),
    (60, Stage.LATE),
    (89, Stage.LATE),
    (90, Stage.NONACCRUAL),
    (179, Stage.NONACCRUAL),
    (180, Stage.CHARGEOFF),
    (5000, Stage.CHARGEOFF),
]
MOP_CODES = [
    (-10, "01"),
    (0, "01"),
    (1, "02"),
    (29, "02"),
    (30, "03"),
    (59, "03"),
    (60, "04"),
    (89, "04"),
    (90, "05"),
    (119, "05"),
    (120, "06"),
    (179, "06"),
    (180, "07"),
    (2000, "07"),
]


def stages_containing(dpd: int, edge: BucketEdges) -> list[Stage]:
    """Each stage as the interval [its first day, the next stage's first day), from the edges
    alone: the stages whose interval holds ``dpd``."""
    starts = [(Stage.CURRENT, None), *zip(OVERDUE_STAGES, edge.as_tuple(), strict=True)]
    found = []
    for index, (stage, first) in enumerate(starts):
        following = starts[index + 1][1] if index + 1 < len(starts) else None
        if (first is None or dpd >= first) and (following is None or dpd < following):
            found.append(stage)
    return found


class TestStageFor:
    @pytest.mark.parametrize(("dpd", "stage"), DEFAULT_STAGES)
    def test_default_buckets_match_the_design(self, dpd, stage):
        assert stage_for(dpd) is stage

    def test_default_edges_are_the_designs(self):
        assert DEFAULT_EDGES.as_dict() == {
            "early": 1,
            "mid": 30,
            "late": 60,
            "nonaccrual": 90,
            "chargeoff": 180,
        }

    def test_a_partners_edges_move_the_stages(self):
        single_payment = BucketEdges(early=1, mid=15, late=30, nonaccrual=60, chargeoff=120)
        assert stage_for(45, single_payment) is Stage.LATE
        assert stage_for(45) is Stage.MID
        assert stage_for(120, single_payment) is Stage.CHARGEOFF

    @given(edge=edges, a=dpds, b=dpds)
    def test_is_monotone_in_days_past_due(self, edge, a, b):
        low, high = sorted((a, b))
        assert STAGE_ORDER[stage_for(low, edge)] <= STAGE_ORDER[stage_for(high, edge)]

    @given(edge=edges, dpd=dpds)
    def test_every_dpd_falls_in_exactly_one_stage(self, edge, dpd):
        assert stages_containing(dpd, edge) == [stage_for(dpd, edge)]

    @given(edge=edges)
    def test_each_stage_starts_on_its_edge(self, edge):
        for stage, first in zip(OVERDUE_STAGES, edge.as_tuple(), strict=True):
            assert stage_for(first, edge) is stage
            assert STAGE_ORDER[stage_for(first - 1, edge)] == STAGE_ORDER[stage] - 1

    @given(edge=edges, dpd=st.integers(max_value=0))
    def test_nothing_overdue_is_current(self, edge, dpd):
        assert stage_for(dpd, edge) is Stage.CURRENT


class TestMopCode:
    @pytest.mark.parametrize(("dpd", "code"), MOP_CODES)
    def test_boundaries_match_the_bureau(self, dpd, code):
        assert mop_code(dpd) == code

    @given(a=dpds, b=dpds)
    def test_is_monotone_in_days_past_due(self, a, b):
        low, high = sorted((a, b))
        assert mop_code(low) <= mop_code(high)

    @given(dpd=dpds)
    def test_lines_up_with_the_default_stages(self, dpd):
        by_stage = {
            Stage.CURRENT: {"01"},
            Stage.EARLY: {"02"},
            Stage.MID: {"03"},
            Stage.LATE: {"04"},
            Stage.NONACCRUAL: {"05", "06"},
            Stage.CHARGEOFF: {"07"},
        }
        assert mop_code(dpd) in by_stage[stage_for(dpd)]


def covered_days(all_pauses: list[Pause], after: date, through: date) -> int:
    """Days in (after, through] inside some pause, by looking at each day."""
    count = 0
    day = after + timedelta(days=1)
    while day <= through:
        if any(p.starts_on <= day <= p.ends_on for p in all_pauses):
            count += 1
        day += timedelta(days=1)
    return count


class TestDaysPastDue:
    def test_is_the_days_since_the_oldest_unpaid_due_date(self):
        assert days_past_due(date(2025, 3, 31), date(2025, 3, 1)) == 30

    def test_nothing_unpaid_is_zero(self):
        assert days_past_due(date(2025, 3, 31), None) == 0

    def test_a_due_date_ahead_is_negative_and_ignores_pauses(self):
        pause = Pause(date(2025, 3, 1), date(2025, 3, 31))
        assert days_past_due(date(2025, 3, 10), date(2025, 3, 15), [pause]) == -5

    def test_paused_days_are_subtracted(self):
        pause = Pause(date(2025, 3, 11), date(2025, 3, 20))  # ten days, both ends included
        assert days_past_due(date(2025, 3, 31), date(2025, 3, 1), [pause]) == 20

    def test_overlapping_pauses_count_each_day_once(self):
        first = Pause(date(2025, 3, 5), date(2025, 3, 14))
        second = Pause(date(2025, 3, 10), date(2025, 3, 19))  # 5 days shared with the first
        assert days_past_due(date(2025, 3, 31), date(2025, 3, 1), [first, second]) == 15
        assert days_past_due(date(2025, 3, 31), date(2025, 3, 1), [first, first]) == 20

    def test_pause_days_before_the_due_date_or_after_the_as_of_date_do_not_count(self):
        straddling = Pause(date(2025, 2, 20), date(2025, 3, 5))  # only 2..5 March count
        after = Pause(date(2025, 4, 1), date(2025, 4, 30))
        assert days_past_due(date(2025, 3, 31), date(2025, 3, 1), [straddling, after]) == 26
        before = Pause(date(2025, 1, 1), date(2025, 2, 28))
        assert days_past_due(date(2025, 3, 31), date(2025, 3, 1), [before]) == 30

    def test_the_due_date_itself_is_never_a_paused_day(self):
        pause = Pause(date(2025, 3, 1), date(2025, 3, 1))
        assert days_past_due(date(2025, 3, 31), date(2025, 3, 1), [pause]) == 30

    @given(as_of=days, due=days, some=st.lists(pauses, max_size=4))
    def test_equals_elapsed_days_less_the_days_some_pause_covers(self, as_of, due, some):
        elapsed = (as_of - due).days
        expected = elapsed if elapsed <= 0 else elapsed - covered_days(some, due, as_of)
        assert days_past_due(as_of, due, some) == expected

    @given(as_of=days, due=days, some=st.lists(pauses, max_size=4))
    def test_pauses_never_make_an_overdue_account_negative_or_older(self, as_of, due, some):
        elapsed = (as_of - due).days
        dpd = days_past_due(as_of, due, some)
        if elapsed > 0:
            assert 0 <= dpd <= elapsed
        assert paused_days(some, due, as_of) == covered_days(some, due, as_of)

    @given(due=days, some=st.lists(pauses, max_size=4), step=st.integers(0, 60))
    def test_never_decreases_as_the_as_of_date_moves_on(self, due, some, step):
        as_of = due + timedelta(days=30)
        later = as_of + timedelta(days=step)
        assert days_past_due(later, due, some) >= days_past_due(as_of, due, some)


FAST = {"early": 1, "mid": 15, "late": 30, "nonaccrual": 60, "chargeoff": 120}


class TestCheckBucketTable:
    def test_no_table_means_the_defaults_for_every_product_type(self):
        assert check_bucket_table(None, "f") == dict.fromkeys(ProductType, DEFAULT_EDGES)

    def test_overrides_replace_their_product_type_only(self):
        table = check_bucket_table({"single_payment": FAST}, "f")
        assert table[ProductType.SINGLE_PAYMENT] == BucketEdges(**FAST)
        assert table[ProductType.REVOLVING] == table[ProductType.INSTALLMENT] == DEFAULT_EDGES

    @given(edge=edges, product=st.sampled_from(ProductType))
    def test_any_increasing_edges_in_range_round_trip(self, edge, product):
        table = check_bucket_table({product.value: edge.as_dict()}, "f")
        assert table[product] == edge

    @pytest.mark.parametrize(
        ("table", "field", "message"),
        [
            ({"mortgage": FAST}, "t.mortgage", "not a product type"),
            ({"revolving": [1, 30, 60, 90, 180]}, "t.revolving", "must map"),
            ({"revolving": {**FAST, "recovery": 365}}, "t.revolving.recovery", "not a delinquency"),
            ({"revolving": {**FAST, "mid": 1}}, "t.revolving.mid", "after the one before"),
            ({"revolving": {**FAST, "late": 10}}, "t.revolving.late", "after the one before"),
            ({"revolving": {**FAST, "early": 0}}, "t.revolving.early", "between 1 and"),
            (
                {"revolving": {**FAST, "chargeoff": MAX_EDGE + 1}},
                "t.revolving.chargeoff",
                "between",
            ),
            ({"revolving": {**FAST, "mid": 15.0}}, "t.revolving.mid", "whole number"),
            ({"revolving": {**FAST, "early": True}}, "t.revolving.early", "whole number"),
            ({"installment": {"early": 1}}, "t.installment.mid", "needs its first DPD"),
        ],
    )
    def test_bad_tables_name_the_field_at_fault(self, table, field, message):
        with pytest.raises(InvalidInput) as raised:
            check_bucket_table(table, "t")
        assert raised.value.field == field
        assert message in raised.value.message

    @given(
        values=st.lists(st.integers(1, MAX_EDGE), min_size=5, max_size=5).filter(
            lambda v: any(b <= a for a, b in pairwise(v))
        )
    )
    def test_edges_that_do_not_strictly_increase_are_always_refused(self, values):
        with pytest.raises(InvalidInput):
            check_edges(dict(zip((s.value for s in OVERDUE_STAGES), values, strict=True)), "e")
