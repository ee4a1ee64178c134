"""Pause rules: they may not become a way to erase days past due."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.accounts import (
    MAX_PAUSE_BACKDATE_DAYS,
    MAX_TOTAL_PAUSE_DAYS,
    check_pause,
)
from app.domain.errors import Conflict, InvalidInput
from app.domain.stages import Pause

TODAY = date(2026, 11, 24)


def test_a_pause_from_today_for_ninety_days_is_fine() -> None:
    check_pause(Pause(TODAY, TODAY + timedelta(days=89)), [], TODAY)


def test_a_pause_starting_long_ago_is_refused() -> None:
    start = TODAY - timedelta(days=MAX_PAUSE_BACKDATE_DAYS + 1)
    with pytest.raises(InvalidInput) as caught:
        check_pause(Pause(start, start + timedelta(days=10)), [], TODAY)
    assert caught.value.field == "starts_on"


def test_a_pause_starting_far_ahead_is_refused() -> None:
    start = TODAY + timedelta(days=400)
    with pytest.raises(InvalidInput):
        check_pause(Pause(start, start + timedelta(days=10)), [], TODAY)


def test_chained_pauses_cannot_exceed_the_total() -> None:
    earlier = [
        Pause(date(2024, 1, 1), date(2024, 12, 30)),
        Pause(date(2025, 1, 1), date(2025, 12, 30)),
    ]
    with pytest.raises(Conflict):
        check_pause(Pause(TODAY, TODAY + timedelta(days=9)), earlier, TODAY)


@given(
    lengths=st.lists(st.integers(min_value=1, max_value=365), min_size=1, max_size=6),
    new_length=st.integers(min_value=1, max_value=365),
)
def test_whatever_is_accepted_stays_within_the_total(lengths: list[int], new_length: int) -> None:
    # Earlier pauses laid end to end, ending long before today; the new one starts today.
    existing: list[Pause] = []
    end = TODAY - timedelta(days=MAX_PAUSE_BACKDATE_DAYS + 10)
    for length in lengths:
        start = end - timedelta(days=length - 1)
        existing.append(Pause(start, end))
        end = start - timedelta(days=2)
    new = Pause(TODAY, TODAY + timedelta(days=new_length - 1))
    try:
        check_pause(new, existing, TODAY)
    except Conflict:
        assert sum(lengths) + new_length > MAX_TOTAL_PAUSE_DAYS
    else:
        assert sum(lengths) + new_length <= MAX_TOTAL_PAUSE_DAYS
