"""Payment plan quotes: the schedule for asked terms, exact to the currency's minor unit,
and how those terms stand against the partner's strategy.

Three plan types (:class:`~app.domain.strategies.PlanType`):

- ``regularization``: the past-due amount, less any down payment, in equal installments;
  the contract is otherwise unchanged (no interest is charged on the plan);
- ``restructuring``: the outstanding total, less any down payment, re-amortised at an annual
  rate with French amortisation (equal payments, each split into interest and principal on
  the balance still owed; a zero rate allowed) over the installments at the frequency;
- ``settlement``: the total less a discount ("quita"), as one payment or a short schedule;
  the discount is the forgiven amount.

Choices made here:

- Amounts are rounded to the currency's minor unit (``app.domain.money``) with
  ``ROUND_HALF_UP``: the regular installment, the forgiven amount and each installment's
  interest. The rounding remainder goes to the LAST installment, so the down payment and the
  installments sum exactly to the agreed total, and (restructuring) the principals sum
  exactly to the financed amount. When half-up rounding of the regular installment would
  overdraw the balance before the last one (a tiny amount over many installments), the
  regular installment is rounded down instead (then one minor unit less, for restructuring)
  so that the last installment carries a non-negative remainder.
- The periodic rate of a restructuring is the annual rate divided by the periods in a year
  (52 weekly, 26 biweekly, 12 monthly).
- Due dates: weekly every 7 days, biweekly every 14 days, monthly on the first due date's
  day of each following month (clamped to the month's end, counted from the first date so
  that a 31st stays a 31st where the month has one). A date on a weekend or a holiday of
  the country moves to the next business day; dates are kept strictly increasing.
- The term of a restructuring, compared with the strategy's ``max_term_extension_months``,
  is the number of calendar months from the quote date to the last due date (a part month
  counts as a whole one): the account's remaining contractual term is not known here.
- The down payment ("enganche") is the plan's first obligation: installment number 0, due
  on ``down_payment_due_date`` (the quote date when not given; never after the first
  installment), paid before any installment, and counted by the breaking rule like any
  other. A plan completes only when every obligation, the down payment included, is paid.
- The minimum down payment is a percentage of what the plan covers (the past-due amount,
  the total, or the discounted total); a settlement in a single payment needs none.
- Breaking any strategy limit makes the quote a manager's to approve; otherwise the
  strategy's approval thresholds decide on the forgiven amount.

Nothing here does I/O or reads a clock: the quote date and the holiday calendar are given.
"""

from __future__ import annotations

import calendar
from collections.abc import Container, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Protocol

from app.domain.errors import InvalidInput, PermissionDenied, PlanNotOpen, PlanNotPending
from app.domain.money import minor_unit, round_money
from app.domain.roles import Role, check_maker_checker
from app.domain.stages import Stage
from app.domain.strategies import PlanType, StrategyDocument, approver_for, plan_limits
from app.i18n import N_, Message

MAX_INSTALLMENTS = 360
MAX_RATE_PCT = Decimal(200)
MAX_FIRST_DUE_DAYS = 90
HUNDRED = Decimal(100)
ZERO = Decimal(0)


class Frequency(StrEnum):
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"  # every 14 days (quincenal-ish, but a fixed step)
    MONTHLY = "monthly"


PERIODS_PER_YEAR: dict[Frequency, int] = {
    Frequency.WEEKLY: 52,
    Frequency.BIWEEKLY: 26,
    Frequency.MONTHLY: 12,
}


@dataclass(frozen=True, slots=True)
class QuoteTerms:
    plan_type: PlanType
    installments: int
    frequency: Frequency
    first_due_date: date
    down_payment: Decimal = ZERO
    discount_pct: Decimal = ZERO  # settlement only
    annual_rate_pct: Decimal = ZERO  # restructuring only
    # When the down payment is due; the quote date when not given.
    down_payment_due_date: date | None = None


@dataclass(frozen=True, slots=True)
class AccountFacts:
    total: Decimal
    past_due_amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class Installment:
    number: int
    due_date: date
    amount: Decimal
    principal: Decimal | None = None  # restructuring only
    interest: Decimal | None = None  # restructuring only


@dataclass(frozen=True, slots=True)
class Breach:
    """A strategy limit the terms break: ``text`` in the reader's language, ``message`` in
    English."""

    code: str
    text: Message

    @property
    def message(self) -> str:
        return str(self.text)


@dataclass(frozen=True, slots=True)
class Quote:
    plan_type: PlanType
    currency: str
    down_payment: Decimal
    schedule: tuple[Installment, ...]
    agreed_total: Decimal  # down payment + installments
    financed: Decimal  # what the installments pay off (before interest)
    interest_total: Decimal
    forgiven: Decimal
    breaches: tuple[Breach, ...]
    approver_role: Role
    breaking: BreakingRule
    # When the down payment is due (None without one).
    down_payment_due_date: date | None = None

    @property
    def obligations(self) -> tuple[Installment, ...]:
        """Everything the plan asks for, in order: the down payment as number 0 (when there
        is one), then the installments. They sum to ``agreed_total`` exactly."""
        if self.down_payment_due_date is None:
            return self.schedule
        down = Installment(number=0, due_date=self.down_payment_due_date, amount=self.down_payment)
        return (down, *self.schedule)


# --- dates --------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clamped to that month's last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def is_business_day(day: date, holidays: Container[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def next_business_day(day: date, holidays: Container[date]) -> date:
    """``day`` itself when it is a business day, else the next one."""
    while not is_business_day(day, holidays):
        day += timedelta(days=1)
    return day


def due_dates(
    first: date, count: int, frequency: Frequency, holidays: Container[date]
) -> list[date]:
    """``count`` due dates from ``first`` at ``frequency``, each moved to a business day and
    strictly after the one before."""
    dates: list[date] = []
    for k in range(count):
        if frequency is Frequency.MONTHLY:
            nominal = add_months(first, k)
        else:
            nominal = first + timedelta(days=k * (7 if frequency is Frequency.WEEKLY else 14))
        if dates and nominal <= dates[-1]:
            nominal = dates[-1] + timedelta(days=1)
        dates.append(next_business_day(nominal, holidays))
    return dates


def months_spanned(start: date, end: date) -> int:
    """Calendar months from ``start`` to ``end``, a part month counted as a whole one."""
    months = (end.year - start.year) * 12 + end.month - start.month
    return months + (1 if end.day > start.day else 0)


# --- schedules ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Line:
    amount: Decimal
    principal: Decimal
    interest: Decimal


def _amortise(
    financed: Decimal, rate: Decimal, count: int, payment: Decimal, currency: str
) -> list[_Line] | None:
    """Equal payments of ``payment`` on ``financed`` at periodic ``rate``; the last pays off
    what is left. ``None`` when a payment would pay off more than is owed before the last."""
    balance = financed
    lines: list[_Line] = []
    for k in range(count):
        interest = round_money(balance * rate, currency)
        principal = balance if k == count - 1 else payment - interest
        if principal < 0 or principal > balance:
            return None
        lines.append(_Line(principal + interest, principal, interest))
        balance -= principal
    return lines


def level_schedule(
    financed: Decimal, count: int, currency: str, rate: Decimal = ZERO
) -> list[_Line]:
    """French amortisation of ``financed`` over ``count`` periods at periodic ``rate`` (zero:
    equal shares of the principal), exact to the minor unit, the remainder in the last."""
    level = financed * rate / (1 - (1 + rate) ** -count) if rate else ZERO
    exact = level if rate else financed / count
    half_up = round_money(exact, currency)
    down = round_money(exact, currency, ROUND_DOWN)
    floor = round_money(financed * rate, currency)  # interest-only: never overdraws
    candidates = (half_up, down, max(down - minor_unit(currency), floor))
    for payment in candidates:
        lines = _amortise(financed, rate, count, payment, currency)
        if lines is not None:
            return lines
    raise AssertionError("an interest-only payment cannot overdraw")  # pragma: no cover


# --- validation ---------------------------------------------------------------------------


def _check_terms(terms: QuoteTerms, facts: AccountFacts, quoted_on: date) -> None:
    unit = minor_unit(facts.currency)
    if not 1 <= terms.installments <= MAX_INSTALLMENTS:
        raise InvalidInput(
            "installments",
            N_("must be between 1 and {max_installments}"),
            {"max_installments": MAX_INSTALLMENTS},
        )
    if terms.down_payment < 0:
        raise InvalidInput("down_payment", N_("cannot be negative"))
    if terms.down_payment != terms.down_payment.quantize(unit):
        raise InvalidInput(
            "down_payment",
            N_("more decimals than {currency} has ({unit})"),
            {"currency": facts.currency, "unit": unit},
        )
    if not ZERO <= terms.discount_pct <= HUNDRED:
        raise InvalidInput("discount_pct", N_("must be between 0 and 100"))
    if terms.discount_pct and terms.plan_type is not PlanType.SETTLEMENT:
        raise InvalidInput("discount_pct", N_("only a settlement has a discount"))
    if not ZERO <= terms.annual_rate_pct <= MAX_RATE_PCT:
        raise InvalidInput(
            "annual_rate_pct",
            N_("must be between 0 and {max_rate_pct}"),
            {"max_rate_pct": MAX_RATE_PCT},
        )
    if terms.annual_rate_pct and terms.plan_type is not PlanType.RESTRUCTURING:
        raise InvalidInput("annual_rate_pct", N_("only a restructuring has a rate"))
    if terms.first_due_date < quoted_on:
        raise InvalidInput("first_due_date", N_("cannot be before the quote date"))
    if terms.first_due_date > quoted_on + timedelta(days=MAX_FIRST_DUE_DAYS):
        raise InvalidInput(
            "first_due_date",
            N_("at most {max_first_due_days} days after the quote date"),
            {"max_first_due_days": MAX_FIRST_DUE_DAYS},
        )
    due = terms.down_payment_due_date
    if due is not None:
        if terms.down_payment == ZERO:
            raise InvalidInput("down_payment_due_date", N_("there is no down payment"))
        if not quoted_on <= due <= terms.first_due_date:
            raise InvalidInput(
                "down_payment_due_date",
                N_("must be from the quote date to the first installment's due date"),
            )


def _base(terms: QuoteTerms, facts: AccountFacts) -> tuple[Decimal, Decimal]:
    """(what the plan covers before any down payment, the forgiven amount)."""
    total = round_money(facts.total, facts.currency)
    if terms.plan_type is PlanType.REGULARIZATION:
        past_due = round_money(facts.past_due_amount, facts.currency)
        if past_due <= 0:
            raise InvalidInput("plan_type", N_("the account has nothing past due"))
        return past_due, ZERO
    if total <= 0:
        raise InvalidInput("plan_type", N_("the account owes nothing"))
    if terms.plan_type is PlanType.SETTLEMENT:
        forgiven = round_money(total * terms.discount_pct / HUNDRED, facts.currency)
        if forgiven >= total:
            raise InvalidInput("discount_pct", N_("would forgive the whole debt"))
        return total - forgiven, forgiven
    return total, ZERO


# --- limits -------------------------------------------------------------------------------


def _breaches(
    terms: QuoteTerms,
    base: Decimal,
    last_due: date,
    quoted_on: date,
    document: StrategyDocument,
    stage: Stage,
) -> list[Breach]:
    limits = plan_limits(document, stage, terms.plan_type)
    if limits is None:
        return [
            Breach(
                "plan_type_not_offered",
                Message(
                    N_("the strategy offers no '{plan_type}' plan in the '{stage}' stage"),
                    {"plan_type": terms.plan_type.value, "stage": stage.value},
                ),
            )
        ]
    found: list[Breach] = []
    if terms.discount_pct > limits.max_discount_pct:
        found.append(
            Breach(
                "discount_above_max",
                Message(
                    N_("discount {discount}% is above the maximum {maximum}%"),
                    {"discount": terms.discount_pct, "maximum": limits.max_discount_pct},
                ),
            )
        )
    if terms.installments > limits.max_installments:
        found.append(
            Breach(
                "installments_above_max",
                Message(
                    N_("{installments} installments is above the maximum {maximum}"),
                    {"installments": terms.installments, "maximum": limits.max_installments},
                ),
            )
        )
    # down / base < min% without rounding: down * 100 < min% * base. A settlement in one
    # payment is paid whole at once: no down payment is asked of it.
    lump_sum = terms.plan_type is PlanType.SETTLEMENT and terms.installments == 1
    if not lump_sum and terms.down_payment * HUNDRED < limits.min_down_payment_pct * base:
        found.append(
            Breach(
                "down_payment_below_min",
                Message(
                    N_("down payment is below the minimum {minimum}% of {base}"),
                    {"minimum": limits.min_down_payment_pct, "base": base},
                ),
            )
        )
    if terms.plan_type is PlanType.RESTRUCTURING:
        months = months_spanned(quoted_on, last_due)
        if months > limits.max_term_extension_months:
            found.append(
                Breach(
                    "term_above_max",
                    Message(
                        N_("the schedule runs {months} months, above the maximum {maximum}"),
                        {"months": months, "maximum": limits.max_term_extension_months},
                    ),
                )
            )
    return found


# --- the quote ----------------------------------------------------------------------------


def quote(
    terms: QuoteTerms,
    facts: AccountFacts,
    holidays: Container[date],
    document: StrategyDocument,
    stage: Stage,
    *,
    quoted_on: date,
) -> Quote:
    """The schedule for ``terms`` on an account, the strategy limits it breaks and the role
    that must approve it. ``holidays`` is the country's calendar (``date in holidays``).
    Raises :class:`InvalidInput` for terms that cannot be quoted at all."""
    _check_terms(terms, facts, quoted_on)
    currency = facts.currency
    base, forgiven = _base(terms, facts)
    if terms.down_payment >= base:
        raise InvalidInput(
            "down_payment", N_("must be less than the amount covered ({base})"), {"base": base}
        )
    financed = base - terms.down_payment
    if financed < terms.installments * minor_unit(currency):
        raise InvalidInput(
            "installments",
            N_("more installments than {financed} {currency} can be split into"),
            {"financed": financed, "currency": currency},
        )
    restructuring = terms.plan_type is PlanType.RESTRUCTURING
    rate = (
        terms.annual_rate_pct / HUNDRED / PERIODS_PER_YEAR[terms.frequency]
        if restructuring
        else ZERO
    )
    lines = level_schedule(financed, terms.installments, currency, rate)
    dates = due_dates(terms.first_due_date, terms.installments, terms.frequency, holidays)
    schedule = tuple(
        Installment(
            number=k + 1,
            due_date=day,
            amount=line.amount,
            principal=line.principal if restructuring else None,
            interest=line.interest if restructuring else None,
        )
        for k, (line, day) in enumerate(zip(lines, dates, strict=True))
    )
    interest_total = sum((line.interest for line in lines), ZERO)
    breaches = _breaches(terms, base, dates[-1], quoted_on, document, stage)
    approver = Role.MANAGER if breaches else approver_for(document, stage, forgiven)
    return Quote(
        plan_type=terms.plan_type,
        currency=currency,
        down_payment=round_money(terms.down_payment, currency),
        schedule=schedule,
        agreed_total=terms.down_payment + sum((i.amount for i in schedule), ZERO),
        financed=financed,
        interest_total=interest_total,
        forgiven=forgiven,
        breaches=tuple(breaches),
        approver_role=approver,
        breaking=breaking_rule(document, stage, terms.plan_type),
        down_payment_due_date=(terms.down_payment_due_date or quoted_on)
        if terms.down_payment > ZERO
        else None,
    )


# --- plans: proposal, approval, cancellation ----------------------------------------------
#
# Choices made here:
#
# - Roles rank collector < team_lead < manager < admin. A plan is ``active`` at once when its
#   proposer's role ranks at or above the role its quote requires, else ``pending_approval``
#   (the quote's breaches and the strategy's discount thresholds decide that role).
# - Approve and reject: a role at or above the required one, never the proposer
#   (maker-checker), only from ``pending_approval``.
# - Cancel: from ``proposed``, ``pending_approval`` or ``active``, by a manager or admin, or
#   by a team lead who proposed the plan or leads the proposer's team.


class PlanStatus(StrEnum):
    PROPOSED = "proposed"
    PENDING_APPROVAL = "pending_approval"
    ACTIVE = "active"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    BROKEN = "broken"


# The statuses as a person reads them (answers and the portal's pages).
PLAN_STATUS_WORDS = {
    PlanStatus.PROPOSED.value: N_("proposed"),
    PlanStatus.PENDING_APPROVAL.value: N_("pending approval"),
    PlanStatus.ACTIVE.value: N_("active"),
    PlanStatus.REJECTED.value: N_("rejected"),
    PlanStatus.CANCELLED.value: N_("cancelled"),
    PlanStatus.COMPLETED.value: N_("completed"),
    PlanStatus.BROKEN.value: N_("broken"),
}

OPEN_STATUSES: frozenset[PlanStatus] = frozenset(
    {PlanStatus.PROPOSED, PlanStatus.PENDING_APPROVAL, PlanStatus.ACTIVE}
)

# Who may approve: the approval ladder, lowest first.
APPROVAL_RANK: dict[Role, int] = {
    Role.COLLECTOR: 1,
    Role.TEAM_LEAD: 2,
    Role.MANAGER: 3,
    Role.ADMIN: 4,
}


def may_approve(role: Role, required: Role) -> bool:
    """Whether ``role`` ranks at or above ``required`` on the approval ladder."""
    return APPROVAL_RANK.get(role, 0) >= APPROVAL_RANK[required]


def initial_status(proposer: Role, required: Role) -> PlanStatus:
    """``active`` when the proposer may approve the plan themselves, else pending."""
    return PlanStatus.ACTIVE if may_approve(proposer, required) else PlanStatus.PENDING_APPROVAL


def may_cancel(role: Role, *, is_proposer: bool, leads_proposer: bool) -> bool:
    if role in (Role.MANAGER, Role.ADMIN):
        return True
    return role is Role.TEAM_LEAD and (is_proposer or leads_proposer)


@dataclass(frozen=True, slots=True)
class PlanDecision:
    """What deciding on a plan reads: the plan's state and who asks."""

    status: PlanStatus
    approver_role: Role
    decider: Role
    # The decider proposed the plan themselves (maker-checker).
    is_proposer: bool


def decided_status(decision: PlanDecision, *, approve: bool) -> PlanStatus:
    """The status a plan moves to when ``decision.decider`` approves or rejects it: a role at
    or above the plan's approver role, never its proposer, and only from
    ``pending_approval``."""
    if not may_approve(decision.decider, decision.approver_role):
        raise PermissionDenied({"role": decision.decider.value})
    check_maker_checker(decision.decider, is_maker=decision.is_proposer)
    if decision.status is not PlanStatus.PENDING_APPROVAL:
        raise PlanNotPending(decision.status)
    return PlanStatus.ACTIVE if approve else PlanStatus.REJECTED


def check_cancellation(
    role: Role, status: PlanStatus, *, is_proposer: bool, leads_proposer: bool
) -> None:
    """Refuse cancelling a plan the role may not cancel, or one no longer open."""
    if not may_cancel(role, is_proposer=is_proposer, leads_proposer=leads_proposer):
        raise PermissionDenied({"role": role.value})
    if status not in OPEN_STATUSES:
        raise PlanNotOpen(status)


# ---------------------------------------------------------------------------------------
# When an active plan breaks: the rule of the strategy limits it was agreed under, kept with
# the plan (so a later strategy change does not rewrite an agreement already signed).


@dataclass(frozen=True, slots=True)
class BreakingRule:
    """Broken once ``missed_installments`` are past due and unpaid, or one of them is more
    than ``days_late`` days late."""

    missed_installments: int = 2
    days_late: int = 30


def breaking_rule(document: StrategyDocument, stage: Stage, plan_type: PlanType) -> BreakingRule:
    """The rule of ``plan_type`` in ``stage``; the common floor where the type is not offered
    there (such a plan needs a manager anyway)."""
    limits = plan_limits(document, stage, plan_type)
    if limits is None:
        return BreakingRule()
    return BreakingRule(limits.missed_installments_to_break, limits.days_late_to_break)


@dataclass(frozen=True, slots=True)
class InstallmentState:
    due_date: date
    amount: Decimal
    paid_amount: Decimal


class DueInstallment(Protocol):
    """What the breaking rule reads of an installment (this module's InstallmentState, or
    the payment ledger's)."""

    @property
    def due_date(self) -> date: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def paid_amount(self) -> Decimal: ...


def plan_is_broken(installments: Sequence[DueInstallment], as_of: date, rule: BreakingRule) -> bool:
    """Broken when ``rule.missed_installments`` are past due and not fully paid, or one of
    them is more than ``rule.days_late`` days late. ``cartera jobs plans`` applies the same
    rule in SQL."""
    missed = [i for i in installments if i.due_date < as_of and i.paid_amount < i.amount]
    if len(missed) >= rule.missed_installments:
        return True
    return any((as_of - i.due_date).days > rule.days_late for i in missed)
