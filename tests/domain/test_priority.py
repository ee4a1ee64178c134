"""The work queue's priority: hand-built cases for each reason, and properties."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.priority import (
    BEST_HOUR,
    PROMISE_BROKEN,
    PROMISE_DUE_TODAY,
    UNTRIED_CONTACTABILITY,
    Priority,
    PriorityFacts,
    balance_points,
    rank,
    score_account,
)

A = uuid.UUID(int=1)
B = uuid.UUID(int=2)


def facts(**changes: object) -> PriorityFacts:
    base: dict[str, object] = {
        "account_id": A,
        "balance": Decimal("10000.00"),
        "stage_weight": Decimal("60"),
        "days_since_contact": 2,
        "contactability": Decimal("0.50"),
        "best_hour": 10,
        "local_hour": 15,
    }
    return PriorityFacts(**(base | changes))  # type: ignore[arg-type]


def codes(priority: Priority) -> dict[str, int]:
    return {r.code: r.points for r in priority.reasons}


class TestReasons:
    def test_a_plain_account_scores_balance_contact_and_contactability(self):
        # 60/100 × 50 × log10(10001) = 120.0; 2 days × 5; 0.50 × 100.
        priority = score_account(facts())
        assert codes(priority) == {
            "balance_stage": 120,
            "days_since_contact": 10,
            "contactability": 50,
        }
        assert priority.score == 180

    def test_a_promise_due_today_comes_first_with_its_reason(self):
        priority = score_account(facts(promise_due_today=True))
        assert priority.reasons[0].code == "promise_due_today"
        assert priority.reasons[0].points == PROMISE_DUE_TODAY
        assert priority.score == 180 + PROMISE_DUE_TODAY

    def test_a_broken_promise_adds_its_points(self):
        assert codes(score_account(facts(promise_broken=True)))["promise_broken"] == PROMISE_BROKEN

    def test_best_hour_only_when_now_is_that_hour(self):
        assert "best_hour" not in codes(score_account(facts()))
        assert codes(score_account(facts(local_hour=10)))["best_hour"] == BEST_HOUR

    def test_never_contacted_counts_thirty_days_and_untried_point_a_fair_chance(self):
        found = codes(score_account(facts(days_since_contact=None, contactability=None)))
        assert found["days_since_contact"] == 150
        assert found["contactability"] == UNTRIED_CONTACTABILITY

    def test_days_without_contact_are_capped(self):
        assert codes(score_account(facts(days_since_contact=400)))["days_since_contact"] == 150

    def test_balance_points_are_capped_and_zero_weight_gives_none(self):
        assert balance_points(Decimal("10") ** 12, Decimal("100")) == 300
        assert balance_points(Decimal("99999"), Decimal("0")) == 0
        assert balance_points(Decimal("0"), Decimal("100")) == 0

    def test_bad_facts_are_refused(self):
        with pytest.raises(ValueError):
            score_account(facts(contactability=Decimal("1.5")))
        with pytest.raises(ValueError):
            score_account(facts(days_since_contact=-1))
        with pytest.raises(ValueError):
            balance_points(Decimal("-1"), Decimal("10"))


class TestOrder:
    def test_promise_due_today_beats_a_bigger_balance(self):
        small = score_account(facts(account_id=B, balance=Decimal("500"), promise_due_today=True))
        big = score_account(facts(balance=Decimal("900000")))
        assert [p.account_id for p in rank([big, small])] == [B, A]

    def test_equal_scores_go_by_account_id(self):
        first = score_account(facts(account_id=B))
        second = score_account(facts(account_id=A))
        assert [p.account_id for p in rank([first, second])] == [A, B]


money = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False)
weights = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False)
rates = st.none() | st.decimals(min_value=0, max_value=1, places=2, allow_nan=False)
hours = st.none() | st.integers(0, 23)


@st.composite
def any_facts(draw: st.DrawFn) -> PriorityFacts:
    return PriorityFacts(
        account_id=uuid.UUID(int=draw(st.integers(0, 2**64))),
        balance=draw(money),
        stage_weight=draw(weights),
        promise_due_today=draw(st.booleans()),
        promise_broken=draw(st.booleans()),
        days_since_contact=draw(st.none() | st.integers(0, 5000)),
        contactability=draw(rates),
        best_hour=draw(hours),
        local_hour=draw(hours),
    )


@given(any_facts())
def test_the_score_is_the_sum_of_its_reasons_and_never_negative(f):
    priority = score_account(f)
    assert priority.score == sum(r.points for r in priority.reasons)
    assert all(r.points >= 0 for r in priority.reasons)
    assert len({r.code for r in priority.reasons}) == len(priority.reasons)


@given(any_facts())
def test_a_promise_due_today_never_lowers_the_score(f):
    with_promise = score_account(replace(f, promise_due_today=True))
    assert with_promise.score >= score_account(replace(f, promise_due_today=False)).score


@given(st.lists(any_facts(), max_size=20, unique_by=lambda f: f.account_id), st.randoms())
def test_the_order_does_not_depend_on_the_input_order(many, rnd):
    priorities = [score_account(f) for f in many]
    shuffled = list(priorities)
    rnd.shuffle(shuffled)
    assert rank(priorities) == rank(shuffled)
    ordered = rank(priorities)
    assert all(
        (a.score, -a.account_id.int) >= (b.score, -b.account_id.int)
        for a, b in itertools.pairwise(ordered)
    )
