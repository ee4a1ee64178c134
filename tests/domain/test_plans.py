"""Plan quotes: schedules exact to the minor unit, business-day due dates, limits broken and
who approves."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_UP, Decimal
from itertools import pairwise

import holidays
import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from app.domain.errors import InvalidInput
from app.domain.money import MINOR_UNITS
from app.domain.plans import (
    AccountFacts,
    Frequency,
    QuoteTerms,
    add_months,
    due_dates,
    quote,
)
from app.domain.roles import Role
from app.domain.stages import Stage
from app.domain.strategies import DEFAULT, PlanType

TODAY = date(2025, 1, 10)  # a Friday
MX = holidays.country_holidays("MX")
NO_HOLIDAYS: frozenset[date] = frozenset()
CENT = Decimal("0.01")


def facts(total: str, past_due: str = "0", currency: str = "MXN") -> AccountFacts:
    return AccountFacts(Decimal(total), Decimal(past_due), currency)


def terms(plan_type: PlanType, installments: int = 1, **changes: object) -> QuoteTerms:
    values: dict[str, object] = {
        "plan_type": plan_type,
        "installments": installments,
        "frequency": Frequency.MONTHLY,
        "first_due_date": date(2025, 1, 15),
    }
    values.update(changes)
    return QuoteTerms(**values)  # type: ignore[arg-type]


def run(t: QuoteTerms, f: AccountFacts, stage: Stage = Stage.NONACCRUAL, cal=MX):
    return quote(t, f, cal, DEFAULT, stage, quoted_on=TODAY)


def codes(q) -> list[str]:
    return [b.code for b in q.breaches]


# --- properties ---------------------------------------------------------------------------

COUNTRIES = ["MX", "CO", "PE", "CL", "BR", "US"]
CALENDARS = {c: holidays.country_holidays(c) for c in COUNTRIES}


@st.composite
def quote_cases(draw):
    currency = draw(st.sampled_from(sorted(MINOR_UNITS)))
    unit = Decimal(1).scaleb(-MINOR_UNITS[currency])
    plan_type = draw(st.sampled_from(list(PlanType)))
    installments = draw(st.integers(1, 360))
    total = draw(st.integers(1, 10**11)) * unit
    past_due = draw(st.integers(1, int(total / unit))) * unit
    base = past_due if plan_type is PlanType.REGULARIZATION else total
    down = draw(st.integers(0, int(base / unit) - 1)) * unit
    discount = Decimal(draw(st.integers(0, 9999))) / 100 if plan_type is PlanType.SETTLEMENT else 0
    rate = Decimal(draw(st.integers(0, 20000))) / 100 if plan_type is PlanType.RESTRUCTURING else 0
    t = QuoteTerms(
        plan_type=plan_type,
        installments=installments,
        frequency=draw(st.sampled_from(list(Frequency))),
        first_due_date=TODAY + timedelta(days=draw(st.integers(0, 90))),
        down_payment=down,
        discount_pct=Decimal(discount),
        annual_rate_pct=Decimal(rate),
    )
    country = draw(st.sampled_from(COUNTRIES))
    stage = draw(st.sampled_from(list(Stage)))
    return t, AccountFacts(total, past_due, currency), country, stage, unit


def quoted(case):
    t, f, country, stage, _ = case
    try:
        return quote(t, f, CALENDARS[country], DEFAULT, stage, quoted_on=TODAY)
    except InvalidInput:
        reject()  # too small an amount for so many installments, or a 100% discount


@settings(max_examples=150, deadline=None)
@given(quote_cases())
def test_installments_sum_exactly_to_the_agreed_total(case):
    q = quoted(case)
    t, f, _, _, unit = case
    assert q.down_payment + sum(i.amount for i in q.schedule) == q.agreed_total
    assert q.agreed_total == q.down_payment + q.financed + q.interest_total
    assert len(q.schedule) == t.installments
    assert [i.number for i in q.schedule] == list(range(1, t.installments + 1))
    for amount in (q.agreed_total, q.financed, q.forgiven, q.interest_total, q.down_payment):
        assert amount == amount.quantize(unit)
    for i in q.schedule:
        assert i.amount >= 0
        assert i.amount == i.amount.quantize(unit)
        assert i.amount.as_tuple().exponent == unit.as_tuple().exponent
    if t.plan_type is PlanType.SETTLEMENT:
        assert q.agreed_total + q.forgiven == f.total
    else:
        assert q.forgiven == 0


@settings(max_examples=150, deadline=None)
@given(quote_cases().filter(lambda c: c[0].plan_type is PlanType.RESTRUCTURING))
def test_restructuring_principals_sum_to_the_financed_amount(case):
    q = quoted(case)
    _, f, _, _, unit = case
    assert sum(i.principal for i in q.schedule) == q.financed == f.total - q.down_payment
    assert sum(i.interest for i in q.schedule) == q.interest_total
    for i in q.schedule:
        assert i.interest >= 0
        assert i.principal >= 0
        assert i.principal + i.interest == i.amount
        assert i.interest == i.interest.quantize(unit)


@settings(max_examples=100, deadline=None)
@given(quote_cases().filter(lambda c: c[0].plan_type is not PlanType.RESTRUCTURING))
def test_without_interest_installments_are_equal_but_the_last(case):
    q = quoted(case)
    t, _, _, _, unit = case
    assert q.interest_total == 0
    regular = {i.amount for i in q.schedule[:-1]}
    assert len(regular) <= 1
    if regular:
        # the remainder in the last: less than one minor unit per installment away
        assert abs(q.schedule[-1].amount - regular.pop()) < unit * t.installments


@settings(max_examples=100, deadline=None)
@given(
    quote_cases().map(
        lambda c: (
            QuoteTerms(
                plan_type=PlanType.RESTRUCTURING,
                installments=c[0].installments,
                frequency=c[0].frequency,
                first_due_date=c[0].first_due_date,
                down_payment=min(c[0].down_payment, c[1].total - c[4]),
            ),
            *c[1:],
        )
    )
)
def test_a_zero_rate_restructuring_has_no_interest(case):
    q = quoted(case)
    assert q.interest_total == 0
    assert all(i.interest == 0 and i.principal == i.amount for i in q.schedule)
    assert len({i.amount for i in q.schedule[:-1]}) <= 1


@settings(max_examples=150, deadline=None)
@given(
    first=st.dates(date(2024, 1, 1), date(2030, 12, 31)),
    count=st.integers(1, 120),
    frequency=st.sampled_from(list(Frequency)),
    country=st.sampled_from(COUNTRIES),
)
def test_due_dates_are_business_days_strictly_increasing(first, count, frequency, country):
    calendar = CALENDARS[country]
    dates = due_dates(first, count, frequency, calendar)
    assert len(dates) == count
    assert dates[0] >= first
    for day in dates:
        assert day.weekday() < 5
        assert day not in calendar
    assert all(a < b for a, b in pairwise(dates))


# --- due dates ----------------------------------------------------------------------------


class TestDueDates:
    def test_monthly_clamps_to_month_end_and_keeps_the_day(self):
        assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
        assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
        assert add_months(date(2025, 1, 31), 2) == date(2025, 3, 31)
        assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)

    def test_weekend_and_holiday_move_to_the_next_business_day(self):
        # 15 Feb 2025 is a Saturday; 15 Mar a Saturday and Monday 17 Mar is Benito Juárez.
        dates = due_dates(date(2025, 1, 15), 3, Frequency.MONTHLY, MX)
        assert dates == [date(2025, 1, 15), date(2025, 2, 17), date(2025, 3, 18)]

    def test_weekly_and_biweekly_steps(self):
        weekly = due_dates(date(2025, 1, 13), 3, Frequency.WEEKLY, NO_HOLIDAYS)
        assert weekly == [date(2025, 1, 13), date(2025, 1, 20), date(2025, 1, 27)]
        biweekly = due_dates(date(2025, 1, 13), 3, Frequency.BIWEEKLY, NO_HOLIDAYS)
        assert biweekly == [date(2025, 1, 13), date(2025, 1, 27), date(2025, 2, 10)]

    def test_new_year_is_skipped(self):
        assert due_dates(date(2026, 1, 1), 1, Frequency.WEEKLY, MX) == [date(2026, 1, 2)]


# --- examples -----------------------------------------------------------------------------


class TestRegularization:
    def test_past_due_less_down_payment_in_equal_installments(self):
        q = run(
            terms(PlanType.REGULARIZATION, 3, down_payment=Decimal("100.00")),
            facts("5000.00", past_due="1000.00"),
            Stage.EARLY,
        )
        assert [i.amount for i in q.schedule] == [Decimal("300.00")] * 3
        assert [i.due_date for i in q.schedule] == [
            date(2025, 1, 15),
            date(2025, 2, 17),
            date(2025, 3, 18),
        ]
        assert (q.agreed_total, q.financed, q.interest_total, q.forgiven) == (
            Decimal("1000.00"),
            Decimal("900.00"),
            0,
            0,
        )
        assert all(i.principal is None and i.interest is None for i in q.schedule)
        assert q.breaches == ()
        assert q.approver_role is Role.COLLECTOR

    def test_the_remainder_goes_to_the_last_installment(self):
        q = run(terms(PlanType.REGULARIZATION, 3), facts("5000", "1000.00"), Stage.EARLY)
        assert [i.amount for i in q.schedule] == [
            Decimal("333.33"),
            Decimal("333.33"),
            Decimal("333.34"),
        ]

    def test_half_up_rounding_and_a_smaller_last(self):
        # 200 / 3 = 66.666… → 66.67 half-up; the last takes 200 − 133.34 = 66.66
        q = run(terms(PlanType.REGULARIZATION, 3), facts("5000", "200.00"), Stage.EARLY)
        assert [i.amount for i in q.schedule] == [
            Decimal("66.67"),
            Decimal("66.67"),
            Decimal("66.66"),
        ]

    def test_pesos_chilenos_have_no_decimals(self):
        q = run(terms(PlanType.REGULARIZATION, 3), facts("50000", "1000", "CLP"), Stage.EARLY)
        assert [i.amount for i in q.schedule] == [Decimal(333), Decimal(333), Decimal(334)]
        assert all(i.amount.as_tuple().exponent == 0 for i in q.schedule)

    def test_nothing_past_due_cannot_be_regularised(self):
        with pytest.raises(InvalidInput) as caught:
            run(terms(PlanType.REGULARIZATION, 3), facts("5000", "0"), Stage.EARLY)
        assert caught.value.field == "plan_type"


class TestRestructuring:
    def test_french_amortisation(self):
        # 10,000 at 12% a year monthly (1% a month) over 12: P = B·r / (1 − (1 + r)^−n)
        r, n, balance = 0.01, 12, 10000.0
        payment = Decimal(str(round(balance * r / (1 - (1 + r) ** -n), 2)))
        assert payment == Decimal("888.49")
        q = run(
            terms(PlanType.RESTRUCTURING, n, annual_rate_pct=Decimal("12")),
            facts("10000.00"),
            Stage.MID,
        )
        first = q.schedule[0]
        assert (first.amount, first.interest, first.principal) == (
            Decimal("888.49"),
            Decimal("100.00"),
            Decimal("788.49"),
        )
        # second: interest on 9,211.51 at 1% = 92.1151 → 92.12
        assert q.schedule[1].interest == Decimal("92.12")
        assert q.schedule[1].principal == Decimal("796.37")
        assert all(i.amount == payment for i in q.schedule[:-1])
        assert abs(q.schedule[-1].amount - payment) <= Decimal("0.05")
        assert sum(i.principal for i in q.schedule) == Decimal("10000.00")
        assert q.financed == Decimal("10000.00")
        # ≈ 12 × 888.4878… − 10,000 = 661.85
        assert abs(q.interest_total - Decimal("661.85")) <= Decimal("0.05")
        assert q.agreed_total == Decimal("10000.00") + q.interest_total

    def test_zero_rate_is_equal_principal(self):
        q = run(
            terms(PlanType.RESTRUCTURING, 4, down_payment=Decimal("1000")),
            facts("5000.00"),
            Stage.MID,
        )
        assert [(i.amount, i.principal, i.interest) for i in q.schedule] == [
            (Decimal("1000.00"), Decimal("1000.00"), Decimal("0.00"))
        ] * 4
        assert q.breaches == ()

    def test_a_term_longer_than_the_strategy_allows(self):
        # mid stage: at most 12 months; 13 monthly from 15 Jan runs to Jan 2026
        q = run(
            terms(PlanType.RESTRUCTURING, 13, down_payment=Decimal("500")),
            facts("5000.00"),
            Stage.MID,
        )
        assert codes(q) == ["term_above_max"]
        assert q.approver_role is Role.MANAGER
        within = run(
            terms(PlanType.RESTRUCTURING, 12, down_payment=Decimal("500")),
            facts("5000.00"),
            Stage.MID,
        )
        assert within.breaches == ()


class TestSettlement:
    def test_one_payment_at_a_discount(self):
        q = run(
            terms(PlanType.SETTLEMENT, 1, discount_pct=Decimal("30")),
            facts("10000.00"),
        )
        assert [(i.amount, i.due_date) for i in q.schedule] == [
            (Decimal("7000.00"), date(2025, 1, 15))
        ]
        assert (q.agreed_total, q.forgiven) == (Decimal("7000.00"), Decimal("3000.00"))
        assert q.breaches == ()
        assert q.approver_role is Role.COLLECTOR  # 3,000 ≤ the collector's 5,000

    def test_short_schedule_after_a_down_payment(self):
        # 10,000 less 30% = 7,000; less 1,400 down = 5,600 over 3: 1,866.67 ×2 and 1,866.66
        q = run(
            terms(
                PlanType.SETTLEMENT,
                3,
                discount_pct=Decimal("30"),
                down_payment=Decimal("1400"),
                frequency=Frequency.WEEKLY,
            ),
            facts("10000.00"),
        )
        assert [i.amount for i in q.schedule] == [
            Decimal("1866.67"),
            Decimal("1866.67"),
            Decimal("1866.66"),
        ]
        assert q.agreed_total == Decimal("7000.00")
        assert q.financed == Decimal("5600.00")

    def test_forgiven_is_rounded_half_up(self):
        # 33.33% of 100.05 = 33.346665 → 33.35
        q = run(terms(PlanType.SETTLEMENT, 1, discount_pct=Decimal("33.33")), facts("100.05"))
        assert q.forgiven == Decimal("33.35")
        assert q.schedule[0].amount == Decimal("66.70")


class TestBreaches:
    def test_discount_above_the_maximum(self):
        q = run(terms(PlanType.SETTLEMENT, 1, discount_pct=Decimal("30.01")), facts("1000"))
        assert codes(q) == ["discount_above_max"]
        assert q.approver_role is Role.MANAGER

    def test_installments_and_down_payment(self):
        # early: regularization up to 3 installments with at least 10% down
        q = run(terms(PlanType.REGULARIZATION, 4), facts("5000", "1000.00"), Stage.EARLY)
        assert codes(q) == ["installments_above_max", "down_payment_below_min"]
        assert q.approver_role is Role.MANAGER

    def test_down_payment_at_the_minimum_is_enough(self):
        at_min = terms(PlanType.REGULARIZATION, 3, down_payment=Decimal("100.00"))
        assert run(at_min, facts("5000", "1000.00"), Stage.EARLY).breaches == ()
        below = terms(PlanType.REGULARIZATION, 3, down_payment=Decimal("99.99"))
        assert codes(run(below, facts("5000", "1000.00"), Stage.EARLY)) == [
            "down_payment_below_min"
        ]

    def test_plan_type_not_offered_at_the_stage(self):
        q = run(terms(PlanType.SETTLEMENT, 1), facts("1000"), Stage.EARLY)
        assert codes(q) == ["plan_type_not_offered"]
        assert q.approver_role is Role.MANAGER


class TestApprover:
    # nonaccrual: a collector up to 5,000 forgiven, a team lead up to 25,000, then a manager
    @pytest.mark.parametrize(
        ("total", "expected"),
        [
            ("20000.00", Role.COLLECTOR),  # 25% = 5,000.00
            ("20000.04", Role.TEAM_LEAD),  # 5,000.01
            ("100000.00", Role.TEAM_LEAD),  # 25,000.00
            ("100000.04", Role.MANAGER),  # 25,000.01
        ],
    )
    def test_thresholds_on_the_forgiven_amount(self, total, expected):
        q = run(
            terms(
                PlanType.SETTLEMENT,
                1,
                discount_pct=Decimal("25"),
                down_payment=(Decimal(total) * Decimal("0.2")).quantize(CENT, ROUND_UP),
            ),
            facts(total),
        )
        assert q.breaches == ()
        assert q.approver_role is expected


class TestValidation:
    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"installments": 0}, "installments"),
            ({"installments": 361}, "installments"),
            ({"down_payment": Decimal("-1")}, "down_payment"),
            ({"down_payment": Decimal("10000.00")}, "down_payment"),
            ({"down_payment": Decimal("0.001")}, "down_payment"),
            ({"discount_pct": Decimal("100.01")}, "discount_pct"),
            ({"discount_pct": Decimal("-1")}, "discount_pct"),
            ({"discount_pct": Decimal("100")}, "discount_pct"),
            ({"first_due_date": TODAY - timedelta(days=1)}, "first_due_date"),
            ({"first_due_date": TODAY + timedelta(days=91)}, "first_due_date"),
        ],
    )
    def test_settlement_terms(self, changes, field):
        with pytest.raises(InvalidInput) as caught:
            run(terms(PlanType.SETTLEMENT, **({"installments": 1} | changes)), facts("10000.00"))
        assert caught.value.field == field

    def test_rate_bounds_and_only_for_restructuring(self):
        with pytest.raises(InvalidInput) as caught:
            run(
                terms(PlanType.RESTRUCTURING, 3, annual_rate_pct=Decimal("200.01")),
                facts("1000"),
            )
        assert caught.value.field == "annual_rate_pct"
        with pytest.raises(InvalidInput) as caught:
            run(terms(PlanType.SETTLEMENT, 1, annual_rate_pct=Decimal("5")), facts("1000"))
        assert caught.value.field == "annual_rate_pct"

    def test_clp_down_payment_has_no_decimals(self):
        with pytest.raises(InvalidInput) as caught:
            run(
                terms(PlanType.SETTLEMENT, 1, down_payment=Decimal("10.50")),
                facts("10000", currency="CLP"),
            )
        assert caught.value.field == "down_payment"

    def test_first_due_date_on_the_quote_date_and_90_days_later(self):
        for offset in (0, 90):
            first = TODAY + timedelta(days=offset)
            run(terms(PlanType.SETTLEMENT, 1, first_due_date=first), facts("1000"))

    def test_more_installments_than_minor_units(self):
        with pytest.raises(InvalidInput) as caught:
            run(terms(PlanType.RESTRUCTURING, 10), facts("9", currency="CLP"))
        assert caught.value.field == "installments"
