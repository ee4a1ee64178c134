"""Commission rules: validating terms, choosing a tier, the commission of an amount, clawback."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.commissions import (
    CommissionTerms,
    RecoveryType,
    Tier,
    check_terms,
    clawed_back,
    commission,
    commission_line,
    next_month,
    parse_month,
    rate_for,
    recovery_type_of,
    select_tier,
    terms_to_json,
)
from app.domain.errors import InvalidInput
from app.domain.stages import Stage

D = Decimal

TERMS = check_terms(
    {
        "clawback_days": 30,
        "tiers": [
            {"stage": "early", "recovery_type": "full_payment", "rate_pct": "10"},
            {"stage": "early", "recovery_type": None, "rate_pct": "5"},
            {"stage": None, "recovery_type": "settlement", "rate_pct": "3"},
            {"stage": None, "recovery_type": None, "rate_pct": "2"},
            {"stage": "late", "recovery_type": "plan", "rate_pct": "7.5"},
        ],
    }
)


class TestRecoveryType:
    def test_no_plan_is_a_full_payment(self):
        assert recovery_type_of(None) is RecoveryType.FULL_PAYMENT

    def test_settlement_plan(self):
        assert recovery_type_of("settlement") is RecoveryType.SETTLEMENT

    @pytest.mark.parametrize("plan_type", ["regularization", "restructuring"])
    def test_other_plans(self, plan_type):
        assert recovery_type_of(plan_type) is RecoveryType.PLAN


class TestTierSelection:
    def test_stage_and_type_beats_stage_only(self):
        assert rate_for(TERMS, Stage.EARLY, RecoveryType.FULL_PAYMENT) == D("10")

    def test_stage_only_beats_type_only(self):
        # early settlement: (early, any) 5 % wins over (any, settlement) 3 %.
        assert rate_for(TERMS, Stage.EARLY, RecoveryType.SETTLEMENT) == D("5")

    def test_type_only_beats_catch_all(self):
        assert rate_for(TERMS, Stage.MID, RecoveryType.SETTLEMENT) == D("3")

    def test_catch_all(self):
        assert rate_for(TERMS, Stage.CHARGEOFF, RecoveryType.PLAN) == D("2")
        assert rate_for(TERMS, None, RecoveryType.FULL_PAYMENT) == D("2")

    def test_exact_tier(self):
        assert rate_for(TERMS, Stage.LATE, RecoveryType.PLAN) == D("7.5")

    def test_no_match_and_no_terms_pay_nothing(self):
        only = (Tier(Stage.EARLY, RecoveryType.PLAN, D("4")),)
        assert select_tier(only, Stage.MID, RecoveryType.PLAN) is None
        assert rate_for(CommissionTerms(0, only), Stage.MID, RecoveryType.PLAN) == 0
        assert rate_for(None, Stage.EARLY, RecoveryType.PLAN) == 0


class TestCommission:
    def test_rounds_half_up_to_cents(self):
        assert commission(D("333.33"), D("5")) == D("16.67")  # 16.6665
        assert commission(D("0.10"), D("5")) == D("0.01")  # 0.005
        assert commission(D("0.09"), D("5")) == D("0.00")  # 0.0045

    def test_hand_computed(self):
        assert commission(D("500.00"), D("7.5")) == D("37.50")
        assert commission(D("1000.00"), D("10")) == D("100.00")


class TestClawback:
    PAID = date(2026, 10, 25)

    def test_never_undone(self):
        assert not clawed_back(self.PAID, None, 30)

    def test_last_day_of_window_included(self):
        assert clawed_back(self.PAID, date(2026, 11, 24), 30)

    def test_after_the_window_kept(self):
        assert not clawed_back(self.PAID, date(2026, 11, 25), 30)

    def test_zero_window_only_same_day(self):
        assert clawed_back(self.PAID, self.PAID, 0)
        assert not clawed_back(self.PAID, self.PAID + timedelta(days=1), 0)


class TestLine:
    def test_hand_computed_line(self):
        # mid full payments: 400.00 kept + 250.00 reversed inside the window, at 2 %.
        line = commission_line(
            terms=TERMS,
            terms_version=1,
            stage=Stage.MID,
            recovery_type=RecoveryType.FULL_PAYMENT,
            payments=2,
            recovered=D("650.00"),
            clawed_back_payments=1,
            clawed_back_amount=D("250.00"),
        )
        assert (line.rate_pct, line.earned, line.clawed_back, line.net) == (
            D("2"),
            D("13.00"),
            D("5.00"),
            D("8.00"),
        )

    def test_clawback_larger_than_recovered_is_a_bug(self):
        with pytest.raises(ValueError):
            commission_line(
                terms=TERMS, terms_version=1, stage=Stage.MID,
                recovery_type=RecoveryType.PLAN, payments=1, recovered=D("1.00"),
                clawed_back_payments=1, clawed_back_amount=D("2.00"),
            )  # fmt: skip


amounts = st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False)
rates = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False)


@given(amount=amounts, part=st.integers(0, 100), rate=rates)
def test_commission_never_negative_and_net_is_earned_less_clawed_back(amount, part, rate):
    clawed = (amount * part / 100).quantize(D("0.01"))
    clawed = min(clawed, amount)
    terms = CommissionTerms(10, (Tier(None, None, rate),))
    line = commission_line(
        terms=terms, terms_version=1, stage=Stage.EARLY, recovery_type=RecoveryType.PLAN,
        payments=2, recovered=amount, clawed_back_payments=1, clawed_back_amount=clawed,
    )  # fmt: skip
    assert line.earned >= 0
    assert line.clawed_back >= 0
    assert line.net >= 0
    assert line.net == line.earned - line.clawed_back
    assert line.earned <= amount


@given(a=amounts, b=amounts, rate=rates)
def test_commission_is_monotone_in_the_amount(a, b, rate):
    low, high = sorted((a, b))
    assert commission(low, rate) <= commission(high, rate)


class TestCheckTerms:
    def test_round_trip(self):
        assert check_terms(terms_to_json(TERMS)) == TERMS

    @pytest.mark.parametrize(
        ("tier", "field"),
        [
            ({"rate_pct": "-1"}, "body.tiers.0.rate_pct"),
            ({"rate_pct": "100.01"}, "body.tiers.0.rate_pct"),
            ({"rate_pct": "1.234"}, "body.tiers.0.rate_pct"),
            ({"rate_pct": "NaN"}, "body.tiers.0.rate_pct"),
            ({"rate_pct": 1.5}, "body.tiers.0.rate_pct"),
            ({"stage": "overdue", "rate_pct": "1"}, "body.tiers.0.stage"),
            ({"recovery_type": "partial", "rate_pct": "1"}, "body.tiers.0.recovery_type"),
        ],
    )
    def test_bad_tier(self, tier, field):
        with pytest.raises(InvalidInput) as caught:
            check_terms({"clawback_days": 1, "tiers": [tier]})
        assert caught.value.field == field

    def test_duplicate_tier(self):
        tier = {"stage": "early", "recovery_type": None, "rate_pct": "1"}
        with pytest.raises(InvalidInput) as caught:
            check_terms({"clawback_days": 1, "tiers": [tier, dict(tier, rate_pct="2")]})
        assert caught.value.field == "body.tiers.1"

    @pytest.mark.parametrize("days", [-1, 366, True, "3", None])
    def test_bad_window(self, days):
        with pytest.raises(InvalidInput):
            check_terms({"clawback_days": days, "tiers": [{"rate_pct": "1"}]})

    def test_no_tiers(self):
        with pytest.raises(InvalidInput):
            check_terms({"clawback_days": 1, "tiers": []})


class TestMonths:
    def test_parse(self):
        assert parse_month("2026-02", "q") == date(2026, 2, 1)

    @pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-01", "2026/01", "2026-00", "abcd-ef"])
    def test_malformed(self, bad):
        with pytest.raises(InvalidInput):
            parse_month(bad, "q")

    def test_next_month(self):
        assert next_month(date(2026, 12, 1)) == date(2027, 1, 1)
        assert next_month(date(2026, 1, 1)) == date(2026, 2, 1)
