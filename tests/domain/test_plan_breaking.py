"""When an active payment plan counts as broken."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from app.domain.plans import DAYS_LATE_TO_BREAK, InstallmentState, plan_is_broken

TODAY = date(2026, 11, 24)
FULL = Decimal("1000.00")


def due(days_ago: int, paid: str = "0") -> InstallmentState:
    return InstallmentState(TODAY - timedelta(days=days_ago), FULL, Decimal(paid))


def test_nothing_missed_is_not_broken() -> None:
    assert not plan_is_broken([due(40, "1000.00"), due(10, "1000.00"), due(-20)], TODAY)


def test_an_installment_due_today_is_not_yet_missed() -> None:
    assert not plan_is_broken([due(0), due(-30)], TODAY)


def test_two_missed_installments_break_it_even_if_partly_paid() -> None:
    assert plan_is_broken([due(20, "999.99"), due(5, "500.00")], TODAY)


def test_one_missed_installment_breaks_it_only_after_a_month() -> None:
    assert not plan_is_broken([due(DAYS_LATE_TO_BREAK)], TODAY)
    assert plan_is_broken([due(DAYS_LATE_TO_BREAK + 1)], TODAY)
