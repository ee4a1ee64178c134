"""Commission rules: a payment's base and recovery type, validating terms, choosing a rate,
volume tiers, the target accelerator, the month's commission and clawback."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.commissions import (
    Accelerator,
    CommissionTerms,
    LineFacts,
    RecoveryType,
    Tier,
    VolumeTier,
    accelerator_share,
    applied_to_debt,
    check_terms,
    clawed_back,
    commission,
    commission_line,
    month_commission,
    next_month,
    parse_month,
    rate_for,
    recovery_type_of,
    select_tier,
    terms_to_json,
    volume_bands,
    volume_commission,
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
            {"stage": "late", "recovery_type": "plan_installment", "rate_pct": "7.5"},
        ],
    }
)


def allocation(
    *,
    fees: str = "0",
    interest: str = "0",
    principal: str = "0",
    credit: str = "0",
    total_before: str = "1000.00",
    plan_id: str | None = None,
    installments: int = 0,
    account_closed: bool = False,
) -> dict:
    """The parts of a stored allocation (app.domain.payments.Allocation.as_json) read here."""
    return {
        "balance": {"past_due": "0", "fees": fees, "interest": interest, "principal": principal},
        "credit": credit,
        "plan_id": plan_id,
        "installments": [{"installment_id": str(i), "amount": "1"} for i in range(installments)],
        "account_closed": account_closed,
        "before": {"total": total_before, "stage": "early"},
    }


class TestBase:
    def test_fees_interest_and_principal_not_credit(self):
        paid = allocation(fees="10.00", interest="20.50", principal="100.00", credit="30.00")
        assert applied_to_debt(paid) == D("130.50")

    def test_credit_only_payment_on_a_closed_account(self):
        # The user's report: 50 on a closed account is all credit.
        paid = allocation(credit="50.00", total_before="0.00")
        assert applied_to_debt(paid) == 0
        assert recovery_type_of(paid, None) is None

    def test_allocation_without_balance_parts(self):
        assert applied_to_debt({"amount": "10"}) == 0


class TestRecoveryType:
    def test_partial_payment(self):
        paid = allocation(principal="300.00", total_before="1000.00")
        assert recovery_type_of(paid, None) is RecoveryType.PARTIAL_PAYMENT

    def test_closing_the_account_is_a_full_payment(self):
        paid = allocation(principal="1000.00", account_closed=True)
        assert recovery_type_of(paid, None) is RecoveryType.FULL_PAYMENT

    def test_paying_the_whole_total_is_a_full_payment(self):
        # The account was not active (so not "closed" by the payment) but nothing is left.
        paid = allocation(interest="100.00", principal="900.00", credit="5.00")
        assert recovery_type_of(paid, None) is RecoveryType.FULL_PAYMENT

    @pytest.mark.parametrize("plan_type", ["regularization", "restructuring"])
    def test_plan_installment(self, plan_type):
        paid = allocation(principal="100.00", plan_id="p", installments=1)
        assert recovery_type_of(paid, plan_type) is RecoveryType.PLAN_INSTALLMENT

    def test_settlement_beats_everything(self):
        # The last settlement installment closes the account: still a settlement.
        paid = allocation(principal="400.00", plan_id="p", installments=1, account_closed=True)
        assert recovery_type_of(paid, "settlement") is RecoveryType.SETTLEMENT

    def test_plan_installment_beats_full_payment(self):
        paid = allocation(principal="1000.00", plan_id="p", installments=2, account_closed=True)
        assert recovery_type_of(paid, "regularization") is RecoveryType.PLAN_INSTALLMENT

    def test_plan_without_installments_paid_is_judged_by_the_debt(self):
        paid = allocation(principal="10.00", plan_id="p", installments=0)
        assert recovery_type_of(paid, "regularization") is RecoveryType.PARTIAL_PAYMENT

    def test_no_base_is_no_recovery_even_in_a_settlement(self):
        paid = allocation(credit="10.00", plan_id="p", installments=0)
        assert recovery_type_of(paid, "settlement") is None


class TestTierSelection:
    def test_stage_and_type_beats_stage_only(self):
        assert rate_for(TERMS, Stage.EARLY, RecoveryType.FULL_PAYMENT) == D("10")

    def test_stage_only_beats_type_only(self):
        # early settlement: (early, any) 5 % wins over (any, settlement) 3 %.
        assert rate_for(TERMS, Stage.EARLY, RecoveryType.SETTLEMENT) == D("5")

    def test_type_only_beats_catch_all(self):
        assert rate_for(TERMS, Stage.MID, RecoveryType.SETTLEMENT) == D("3")

    def test_catch_all(self):
        assert rate_for(TERMS, Stage.CHARGEOFF, RecoveryType.PLAN_INSTALLMENT) == D("2")
        assert rate_for(TERMS, None, RecoveryType.FULL_PAYMENT) == D("2")

    def test_exact_tier(self):
        assert rate_for(TERMS, Stage.LATE, RecoveryType.PLAN_INSTALLMENT) == D("7.5")

    def test_no_match_and_no_terms_pay_nothing(self):
        only = (Tier(Stage.EARLY, RecoveryType.PLAN_INSTALLMENT, D("4")),)
        assert select_tier(only, Stage.MID, RecoveryType.PLAN_INSTALLMENT) is None
        assert rate_for(CommissionTerms(0, only), Stage.MID, RecoveryType.PLAN_INSTALLMENT) == 0
        assert rate_for(None, Stage.EARLY, RecoveryType.PLAN_INSTALLMENT) == 0


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


def facts(
    base: str,
    clawed: str = "0",
    *,
    kind: RecoveryType = RecoveryType.PARTIAL_PAYMENT,
    stage: Stage | None = Stage.MID,
    version: int | None = 1,
) -> LineFacts:
    return LineFacts(
        stage=stage, recovery_type=kind, terms_version=version, payments=1, base=D(base),
        clawed_back_payments=1 if D(clawed) else 0, clawed_back_base=D(clawed),
    )  # fmt: skip


class TestLine:
    def test_hand_computed_line(self):
        # mid partial payments: 400.00 kept + 250.00 reversed inside the window, at 2 %.
        line = commission_line(facts("650.00", "250.00"), TERMS)
        assert (line.rate_pct, line.earned, line.clawed_back, line.net) == (
            D("2"),
            D("13.00"),
            D("5.00"),
            D("8.00"),
        )

    def test_clawback_larger_than_the_base_is_a_bug(self):
        with pytest.raises(ValueError):
            facts("1.00", "2.00")


# Bands: 0–10,000 at 2 %, 10,000–25,000 at 3 %, from 25,000 at 4 %.
BANDS = (VolumeTier(D("0"), D("2")), VolumeTier(D("10000"), D("3")), VolumeTier(D("25000"), D("4")))
BY_VOLUME = CommissionTerms(30, (), BANDS)


class TestVolumeTiers:
    def test_marginal_hand_computed(self):
        # 30,000: 10,000 × 2 % = 200 + 15,000 × 3 % = 450 + 5,000 × 4 % = 200 → 850.
        assert volume_commission(BANDS, D("30000.00")) == D("850.00")
        shares = volume_bands(BANDS, D("30000.00"))
        assert [(s.base, s.commission) for s in shares] == [
            (D("10000.00"), D("200.00")),
            (D("15000.00"), D("450.00")),
            (D("5000.00"), D("200.00")),
        ]
        assert [s.to_amount for s in shares] == [D("10000"), D("25000"), None]

    def test_inside_the_first_band(self):
        assert volume_commission(BANDS, D("9999.99")) == D("200.00")  # 199.9998

    def test_no_cliff_at_a_threshold(self):
        # One peso over 10,000 earns 3 % of one peso more, not 3 % of everything.
        assert volume_commission(BANDS, D("10001.00")) == D("200.03")

    def test_month_paid_by_volume_with_clawback(self):
        # 12,000 recovered, 2,500 of it reversed inside the window: earned on 12,000
        # (200 + 60 = 260), net on 9,500 (190), clawed back 70.
        month = month_commission(
            [facts("12000.00", "2500.00")], terms={1: BY_VOLUME}, month_version=1
        )
        assert (month.earned, month.net, month.clawed_back) == (
            D("260.00"),
            D("190.00"),
            D("70.00"),
        )
        assert month.lines[0].rate_pct is None
        assert [b.base for b in month.bands] == [D("9500.00"), D("0"), D("0")]


class TestAccelerator:
    ACC = Accelerator(above_target_pct=D("100"), extra_rate_pct=D("1.5"))

    def test_hand_computed_single_partner(self):
        # Target 20,000, accelerator above 100 %: 26,000 recovered → 6,000 × 1.5 % = 90.
        share = accelerator_share(
            self.ACC, target=D("20000"), row_base=D("26000"), collector_base=D("26000")
        )
        assert (share.threshold, share.excess, share.amount) == (
            D("20000.00"),
            D("6000.00"),
            D("90.00"),
        )

    def test_below_the_threshold_pays_nothing(self):
        share = accelerator_share(
            self.ACC, target=D("20000"), row_base=D("19999.99"), collector_base=D("19999.99")
        )
        assert share.amount == 0

    def test_shared_among_partners_by_base(self):
        # Collector base 30,000 across partners (this row 7,500: a quarter), threshold
        # 90 % of 20,000 = 18,000 → excess 12,000, this row's quarter 3,000 × 2 % = 60.
        acc = Accelerator(D("90"), D("2"))
        share = accelerator_share(
            acc, target=D("20000"), row_base=D("7500"), collector_base=D("30000")
        )
        assert (share.excess, share.amount) == (D("3000.00"), D("60.00"))

    def test_on_top_of_volume_tiers(self):
        terms = CommissionTerms(30, (), BANDS, self.ACC)
        month = month_commission(
            [facts("30000.00")], terms={1: terms}, month_version=1, target=D("25000")
        )
        # Bands 850 (above) + 5,000 × 1.5 % = 75.
        assert month.net == month.earned == D("925.00")

    def test_no_target_no_accelerator(self):
        terms = CommissionTerms(30, (), BANDS, self.ACC)
        month = month_commission([facts("30000.00")], terms={1: terms}, month_version=1)
        assert month.accelerator is None
        assert month.net == D("850.00")


class TestMonthTerms:
    def test_table_version_without_rates_falls_back_to_the_months(self):
        # A volume version (1) replaced mid-month by a table version (2): the payment made
        # under version 1 is paid by version 2's table.
        table = CommissionTerms(30, (Tier(None, None, D("5")),))
        month = month_commission(
            [facts("100.00", version=1), facts("200.00", version=2)],
            terms={1: BY_VOLUME, 2: table},
            month_version=2,
        )
        assert month.net == D("15.00")

    def test_month_version_with_volume_tiers_pays_the_whole_month(self):
        table = CommissionTerms(30, (Tier(None, None, D("5")),))
        month = month_commission(
            [facts("4000.00", version=1), facts("8000.00", version=2)],
            terms={1: table, 2: BY_VOLUME},
            month_version=2,
        )
        assert month.net == D("260.00")  # 10,000 × 2 % + 2,000 × 3 %

    def test_by_recovery_type(self):
        month = month_commission(
            [
                facts("100.00", kind=RecoveryType.SETTLEMENT, stage=Stage.EARLY),
                facts("50.00", kind=RecoveryType.SETTLEMENT, stage=Stage.LATE),
                facts("25.00", kind=RecoveryType.FULL_PAYMENT),
            ],
            terms={1: TERMS},
            month_version=1,
        )
        assert [(t.recovery_type, t.payments, t.base) for t in month.by_recovery_type] == [
            (RecoveryType.FULL_PAYMENT, 1, D("25.00")),
            (RecoveryType.SETTLEMENT, 2, D("150.00")),
        ]


amounts = st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False)
rates = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False)


@given(amount=amounts, part=st.integers(0, 100), rate=rates)
def test_commission_never_negative_and_net_is_earned_less_clawed_back(amount, part, rate):
    clawed = min((amount * part / 100).quantize(D("0.01")), amount)
    line = commission_line(
        facts(str(amount), str(clawed)), CommissionTerms(10, (Tier(None, None, rate),))
    )
    assert line.earned is not None and line.clawed_back is not None and line.net is not None
    assert line.earned >= 0
    assert line.clawed_back >= 0
    assert line.net >= 0
    assert line.net == line.earned - line.clawed_back
    assert line.earned <= amount


@given(a=amounts, b=amounts, rate=rates)
def test_commission_is_monotone_in_the_amount(a, b, rate):
    low, high = sorted((a, b))
    assert commission(low, rate) <= commission(high, rate)


@st.composite
def volume_terms(draw):
    starts = sorted(draw(st.sets(st.decimals(1, 10**7, places=2), max_size=5)))
    rates_ = draw(st.lists(rates, min_size=len(starts) + 1, max_size=len(starts) + 1))
    bands = tuple(VolumeTier(s, r) for s, r in zip([D("0"), *starts], rates_, strict=True))
    acc = draw(
        st.none() | st.builds(Accelerator, st.decimals(0, 1000, places=2), rates.filter(bool))
    )
    return CommissionTerms(30, (), bands, acc)


targets = st.none() | st.decimals(min_value=1, max_value=10**7, places=2)


@given(terms=volume_terms(), a=amounts, b=amounts, other=amounts, target=targets)
def test_month_commission_is_monotone_in_the_base(terms, a, b, other, target):
    """More recovered never pays less, whatever the bands, the accelerator and the target
    (``other``: what the collector recovered on other partners)."""
    low, high = sorted((a, b))

    def paid(base):
        return month_commission(
            [facts(str(base))], terms={1: terms}, month_version=1, target=target,
            collector_base=base + other, collector_kept_base=base + other,
        ).net  # fmt: skip

    assert paid(low) <= paid(high)


@given(terms=volume_terms(), target=targets)
def test_zero_base_earns_zero(terms, target):
    month = month_commission(
        [facts("0")], terms={1: terms}, month_version=1, target=target,
        collector_base=D("0"), collector_kept_base=D("0"),
    )  # fmt: skip
    assert (month.earned, month.net) == (0, 0)


@given(amount=amounts, rate=rates)
def test_one_band_is_the_flat_rate(amount, rate):
    flat = CommissionTerms(30, (Tier(None, None, rate),))
    banded = CommissionTerms(30, (), (VolumeTier(D("0"), rate),))
    for kind in RecoveryType:
        line = facts(str(amount), kind=kind)
        assert (
            month_commission([line], terms={1: banded}, month_version=1).net
            == month_commission([line], terms={1: flat}, month_version=1).net
            == commission(amount, rate)
        )


@given(
    credit=amounts.filter(bool),
    plan_type=st.sampled_from([None, "settlement", "regularization", "restructuring"]),
    closed=st.booleans(),
    installments=st.integers(0, 3),
)
def test_credit_only_payments_earn_nothing(credit, plan_type, closed, installments):
    paid = allocation(
        credit=str(credit), total_before="0.00", plan_id=None if plan_type is None else "p",
        installments=installments, account_closed=closed,
    )  # fmt: skip
    assert applied_to_debt(paid) == 0
    assert recovery_type_of(paid, plan_type) is None


@given(terms=volume_terms(), base=amounts, part=st.integers(0, 100), target=targets)
def test_clawback_never_exceeds_what_was_earned(terms, base, part, target):
    clawed = (base * part / 100).quantize(D("0.01"))
    month = month_commission(
        [facts(str(base), str(min(clawed, base)))], terms={1: terms}, month_version=1,
        target=target,
    )  # fmt: skip
    assert 0 <= month.net <= month.earned


class TestCheckTerms:
    def test_round_trip(self):
        assert check_terms(terms_to_json(TERMS)) == TERMS

    @pytest.mark.parametrize(
        ("tier", "field"),
        [
            ({"rate_pct": "-1"}, "tiers.0.rate_pct"),
            ({"rate_pct": "100.01"}, "tiers.0.rate_pct"),
            ({"rate_pct": "1.234"}, "tiers.0.rate_pct"),
            ({"rate_pct": "NaN"}, "tiers.0.rate_pct"),
            ({"rate_pct": 1.5}, "tiers.0.rate_pct"),
            ({"stage": "overdue", "rate_pct": "1"}, "tiers.0.stage"),
            ({"recovery_type": "partial", "rate_pct": "1"}, "tiers.0.recovery_type"),
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
        assert caught.value.field == "tiers.1"

    @pytest.mark.parametrize("days", [-1, 366, True, "3", None])
    def test_bad_window(self, days):
        with pytest.raises(InvalidInput):
            check_terms({"clawback_days": days, "tiers": [{"rate_pct": "1"}]})

    def test_no_tiers(self):
        with pytest.raises(InvalidInput):
            check_terms({"clawback_days": 1, "tiers": []})

    def test_volume_round_trip(self):
        terms = CommissionTerms(5, (), BANDS, Accelerator(D("110"), D("1.25")))
        assert check_terms(terms_to_json(terms)) == terms

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"volume_tiers": [{"from_amount": "10", "rate_pct": "1"}]},
             "volume_tiers.0.from_amount"),
            ({"volume_tiers": [{"from_amount": "0", "rate_pct": "1"},
                               {"from_amount": "0", "rate_pct": "2"}]},
             "volume_tiers.1.from_amount"),
            ({"volume_tiers": [{"from_amount": "0", "rate_pct": "1"},
                               {"from_amount": "500", "rate_pct": "2"},
                               {"from_amount": "400", "rate_pct": "3"}]},
             "volume_tiers.2.from_amount"),
            ({"volume_tiers": [{"from_amount": "0", "rate_pct": "101"}]},
             "volume_tiers.0.rate_pct"),
            ({"volume_tiers": [{"from_amount": "0", "rate_pct": "1"},
                               {"from_amount": "100.5", "rate_pct": "2"}]},
             "volume_tiers.1.from_amount"),
            ({"volume_tiers": [{"from_amount": "0", "rate_pct": "1"}],
              "tiers": [{"rate_pct": "1"}]}, "volume_tiers"),
            ({"tiers": [{"rate_pct": "1"}],
              "accelerator": {"above_target_pct": "100", "extra_rate_pct": "0"}},
             "accelerator.extra_rate_pct"),
            ({"tiers": [{"rate_pct": "1"}],
              "accelerator": {"above_target_pct": "1000.01", "extra_rate_pct": "1"}},
             "accelerator.above_target_pct"),
        ],
    )  # fmt: skip
    def test_bad_volume_terms(self, body, field):
        with pytest.raises(InvalidInput) as caught:
            check_terms({"clawback_days": 1, **body}, currency="CLP")
        assert caught.value.field == field

    def test_thresholds_follow_the_currency(self):
        body = {
            "clawback_days": 1,
            "volume_tiers": [
                {"from_amount": "0", "rate_pct": "1"},
                {"from_amount": "100.50", "rate_pct": "2"},
            ],
        }
        assert check_terms(body, currency="MXN").volume_tiers[1].from_amount == D("100.50")
        with pytest.raises(InvalidInput):
            check_terms(body, currency="CLP")  # no minor unit


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
