"""Report helpers: periods, rates, the roll-rate matrix, and CSV negotiation."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import InvalidInput
from app.domain.reports import check_period, ratio, roll_matrix, wants_csv
from app.domain.stages import STAGE_ORDER, Stage

STAGES = st.sampled_from([s.value for s in Stage])
PARTNERS = [uuid.UUID(int=1), uuid.UUID(int=2)]


class TestPeriod:
    def test_a_day_and_a_leap_year_are_periods(self):
        check_period(date(2025, 3, 1), date(2025, 3, 1))
        check_period(date(2024, 1, 1), date(2024, 12, 31))

    @pytest.mark.parametrize(
        ("start", "end", "field"),
        [
            (date(2025, 3, 2), date(2025, 3, 1), "query.from"),
            (date(2024, 1, 1), date(2025, 1, 1), "query.to"),
        ],
    )
    def test_reversed_or_too_long_is_invalid(self, start, end, field):
        with pytest.raises(InvalidInput) as caught:
            check_period(start, end)
        assert caught.value.field == field

    @given(st.dates(max_value=date(9000, 1, 1)), st.integers(min_value=0, max_value=800))
    def test_at_most_366_days_both_included(self, start, span):
        end = start + timedelta(days=span)
        if span < 366:
            check_period(start, end)
        else:
            with pytest.raises(InvalidInput):
                check_period(start, end)


class TestRatio:
    def test_four_places_half_up_and_none_over_zero(self):
        assert ratio(2, 3) == Decimal("0.6667")
        assert ratio(Decimal("200.00"), Decimal("1500.00")) == Decimal("0.1333")
        assert ratio(1, 8) == Decimal("0.1250")
        assert ratio(5, 0) is None
        assert ratio(0, 4) == Decimal("0.0000")


class TestRollMatrix:
    def test_hand_computed_rows(self):
        p = PARTNERS[0]
        rows = roll_matrix(
            [(p, "mid", "current", 1), (p, "early", "mid", 2), (p, "early", "early", 1),
             (p, "mid", "mid", 1)]
        )  # fmt: skip
        assert [(r.from_stage, r.accounts) for r in rows] == [(Stage.EARLY, 3), (Stage.MID, 2)]
        early, mid = rows
        assert early.counts[Stage.MID] == 2 and early.rates[Stage.MID] == Decimal("0.6667")
        assert (early.worse, early.same, early.better) == (2, 1, 0)
        assert early.roll_forward_rate == Decimal("0.6667")
        assert mid.cure_rate == Decimal("0.5000")

    @given(
        st.lists(
            st.tuples(st.sampled_from(PARTNERS), STAGES, STAGES, st.integers(0, 1000)),
            max_size=40,
        )
    )
    def test_rows_sum_to_the_starting_counts(self, cells):
        rows = roll_matrix(cells)
        for row in rows:
            expected = sum(n for p, s, _, n in cells if p == row.partner_id and s == row.from_stage)
            assert row.accounts == expected > 0
            assert sum(row.counts.values()) == row.accounts
            assert row.worse + row.same + row.better == row.accounts
            assert set(row.counts) == set(Stage)
        keys = [(r.partner_id, r.from_stage) for r in rows]
        assert len(keys) == len(set(keys))
        starts = {(p, Stage(s)) for p, s, _, n in cells if n}
        assert set(keys) == starts

    @given(st.lists(st.tuples(STAGES, STAGES, st.integers(1, 50)), min_size=1, max_size=30))
    def test_a_worse_move_is_one_to_a_more_severe_stage(self, moves):
        rows = roll_matrix([(PARTNERS[0], a, b, n) for a, b, n in moves])
        for row in rows:
            rank = STAGE_ORDER[row.from_stage]
            assert row.worse == sum(n for s, n in row.counts.items() if STAGE_ORDER[s] > rank)


class TestWantsCsv:
    @pytest.mark.parametrize(
        ("accept", "csv"),
        [
            (None, False),
            ("", False),
            ("*/*", False),
            ("application/json", False),
            ("text/csv", True),
            ("text/csv; charset=utf-8", True),
            ("text/csv, */*;q=0.1", True),
            ("application/json, text/csv", False),
            ("application/json;q=0.5, text/csv", True),
            ("text/csv;q=0", False),
            ("text/csv;q=nonsense", False),
        ],
    )
    def test_negotiation(self, accept, csv):
        assert wants_csv(accept) is csv
