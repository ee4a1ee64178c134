"""When an active payment plan counts as broken."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from app.domain.plans import BreakingRule, InstallmentState, breaking_rule, plan_is_broken
from app.domain.stages import Stage
from app.domain.strategies import DEFAULT, PlanType
from app.services.strategies import document_from_json, document_to_json

TODAY = date(2026, 11, 24)
COMMON = BreakingRule()
FULL = Decimal("1000.00")


def due(days_ago: int, paid: str = "0") -> InstallmentState:
    return InstallmentState(TODAY - timedelta(days=days_ago), FULL, Decimal(paid))


def test_nothing_missed_is_not_broken() -> None:
    assert not plan_is_broken([due(40, "1000.00"), due(10, "1000.00"), due(-20)], TODAY, COMMON)


def test_an_installment_due_today_is_not_yet_missed() -> None:
    assert not plan_is_broken([due(0), due(-30)], TODAY, COMMON)


def test_two_missed_installments_break_it_even_if_partly_paid() -> None:
    assert plan_is_broken([due(20, "999.99"), due(5, "500.00")], TODAY, COMMON)


def test_one_missed_installment_breaks_it_only_after_a_month() -> None:
    assert not plan_is_broken([due(COMMON.days_late)], TODAY, COMMON)
    assert plan_is_broken([due(COMMON.days_late + 1)], TODAY, COMMON)


def test_a_stricter_rule_breaks_sooner() -> None:
    strict = BreakingRule(missed_installments=1, days_late=5)
    assert plan_is_broken([due(1), due(-30)], TODAY, strict)
    assert not plan_is_broken([due(1), due(-30)], TODAY, COMMON)


def test_the_rule_comes_from_the_strategy_of_the_type_and_stage() -> None:
    raw = document_to_json(DEFAULT)
    raw["stages"]["nonaccrual"]["plans"]["settlement"]["missed_installments_to_break"] = 1
    raw["stages"]["nonaccrual"]["plans"]["settlement"]["days_late_to_break"] = 15
    document = document_from_json(raw)
    rule = breaking_rule(document, Stage.NONACCRUAL, PlanType.SETTLEMENT)
    assert rule == BreakingRule(missed_installments=1, days_late=15)
    # Left out of a strategy: the common floor; a type not offered in a stage: the same.
    assert breaking_rule(DEFAULT, Stage.NONACCRUAL, PlanType.SETTLEMENT) == COMMON
    assert breaking_rule(DEFAULT, Stage.CURRENT, PlanType.SETTLEMENT) == COMMON
