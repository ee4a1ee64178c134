"""Collector commissions (comisiones): the partner's terms, what a payment recovered and of
which kind, the month's commission with volume tiers and a target accelerator, and clawback.
Pure: no SQL, no clock.

Definitions (the report in ``app/services/commissions.py`` follows them):

- **Base** of a payment: the money it applied to the debt, the fees + interest + principal
  parts of its stored allocation (``balance``). Credit (``saldo a favor``: money beyond what
  was owed) is never a base, so a payment on a closed account, all credit, earns nothing.
  The past-due part is not added: it is a part of the other three.
- **Recovery type** of a payment (:func:`recovery_type_of`), first match wins:

  1. no base: not a recovery (the report leaves it out; it earns nothing);
  2. ``settlement``: the payment belongs to a settlement plan ("liquidación": the
     allocation names a plan whose type is ``settlement``);
  3. ``plan_installment``: it paid installments of another plan (regularization,
     restructuring);
  4. ``full_payment``: it paid off the debt: the account closed with it, or its base is the
     whole total owed before it;
  5. ``partial_payment``: anything else applied to the debt.
- **Stage** of a payment: the account's delinquency stage just before it was applied (the
  allocation's ``before.stage``), so a payment that cures an account still pays the rate of
  the stage it was recovered from.
- **Rate table** (``tiers``): a list of rates, each a percentage for a stage and a recovery
  type; either may be left out (null) to mean "any". A payment takes the most specific rate
  that matches it: stage and type, then stage only, then type only, then the catch-all. No
  matching rate (or no terms at all) is 0. Commission = base × rate / 100, half-up to cents,
  on the bases aggregated per (collector, partner, terms version, stage, recovery type).
- **Volume tiers** (``volume_tiers``), the other way to pay: bands of the collector's
  month's base on the partner's portfolio, each from an amount (the first from 0, ascending)
  with a rate. They are *marginal* (graduated, like income tax): a band's rate applies only
  to the part of the month's base that falls inside the band, so earning one more peso never
  lowers the commission and there is no cliff at a threshold. Each band's commission is
  rounded half-up to cents. Terms have a rate table or volume tiers, never both.
- **Accelerator** (``accelerator``): ``extra_rate_pct`` more on the part of the collector's
  month's base above ``above_target_pct`` % of their recovery target for the month (scope
  collector, same currency). It is on top of the rate table or the bands. The target is the
  collector's across partners, so the excess is measured on the collector's base in that
  currency across partners and shared among their partner rows in proportion to each row's
  base; each partner's accelerator pays on its share. No target, no accelerator.
- **Which terms**: a payment's rate in the table is from the version in effect on its date;
  volume tiers and the accelerator are monthly and come from the version in effect on the
  month's last day. When that version has volume tiers the whole month is paid by them;
  otherwise by the table of each payment's version (or of the month's version, when the
  payment's own version has only volume tiers).
- **Clawback**: a payment reversed, or whose plan broke, within ``clawback_days`` days after
  it was paid (both dates in the partner's time zone, the window's last day included) gives
  back what it earned: the net commission is computed as if it had not been paid (its base
  leaves the line, the bands and the accelerator). A reversal or break after the window does
  not. Earned counts every payment of the month (reversed or not); net is what is paid;
  clawed back = earned − net, never negative.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from app.domain.errors import InvalidInput, field_path
from app.domain.money import MINOR_UNITS
from app.domain.stages import Stage
from app.i18n import N_

ZERO = Decimal("0")
HUNDRED = Decimal("100")
CENT = Decimal("0.01")
MAX_CLAWBACK_DAYS = 365
MAX_TIERS = 100
MAX_VOLUME_TIERS = 20
MAX_ABOVE_TARGET_PCT = Decimal("1000")
# Volume thresholds up to NUMERIC(18, 2).
MAX_THRESHOLD = Decimal("9999999999999999.99")
# The allocation's parts that are money applied to the debt (past_due is a part of them).
DEBT_PARTS = ("fees", "interest", "principal")


class RecoveryType(StrEnum):
    FULL_PAYMENT = "full_payment"
    PARTIAL_PAYMENT = "partial_payment"
    PLAN_INSTALLMENT = "plan_installment"
    SETTLEMENT = "settlement"


def _decimal(value: Any) -> Decimal:
    try:
        return ZERO if value is None else Decimal(str(value))
    except InvalidOperation:
        return ZERO


def applied_to_debt(allocation: Mapping[str, Any]) -> Decimal:
    """A payment's base: the fees, interest and principal parts of its stored allocation
    (``app.domain.payments.Allocation.as_json``); its credit is not."""
    parts = allocation.get("balance") or {}
    return sum((_decimal(parts.get(part)) for part in DEBT_PARTS), ZERO)


def recovery_type_of(allocation: Mapping[str, Any], plan_type: str | None) -> RecoveryType | None:
    """The recovery type of a payment from its stored allocation and the type of the plan
    it names (None: no plan); None when it applied nothing to the debt. The precedence is
    the module docstring's; the report's SQL mirrors it."""
    base = applied_to_debt(allocation)
    if base <= ZERO:
        return None
    has_plan = allocation.get("plan_id") is not None and plan_type is not None
    if has_plan and plan_type == "settlement":
        return RecoveryType.SETTLEMENT
    if has_plan and allocation.get("installments"):
        return RecoveryType.PLAN_INSTALLMENT
    total_before = (allocation.get("before") or {}).get("total")
    if allocation.get("account_closed") is True or (
        total_before is not None and base >= _decimal(total_before)
    ):
        return RecoveryType.FULL_PAYMENT
    return RecoveryType.PARTIAL_PAYMENT


@dataclass(frozen=True, slots=True)
class Tier:
    """A rate (percent, 0–100) for a stage and a recovery type; None matches any."""

    stage: Stage | None
    recovery_type: RecoveryType | None
    rate_pct: Decimal

    def matches(self, stage: Stage | None, recovery_type: RecoveryType) -> bool:
        return (self.stage is None or self.stage == stage) and (
            self.recovery_type is None or self.recovery_type == recovery_type
        )

    @property
    def specificity(self) -> int:
        return (2 if self.stage is not None else 0) + (1 if self.recovery_type is not None else 0)


@dataclass(frozen=True, slots=True)
class VolumeTier:
    """The rate of the part of the month's base from ``from_amount`` up to the next band."""

    from_amount: Decimal
    rate_pct: Decimal


@dataclass(frozen=True, slots=True)
class Accelerator:
    """``extra_rate_pct`` more on the base above ``above_target_pct`` % of the target."""

    above_target_pct: Decimal
    extra_rate_pct: Decimal


@dataclass(frozen=True, slots=True)
class CommissionTerms:
    clawback_days: int
    tiers: tuple[Tier, ...]
    volume_tiers: tuple[VolumeTier, ...] = ()
    accelerator: Accelerator | None = None

    @property
    def pays_by_volume(self) -> bool:
        return bool(self.volume_tiers)


def _percent(
    value: Any, field: str, maximum: Decimal = HUNDRED, *, positive: bool = False
) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise InvalidInput(field, N_("must be a decimal percentage"))
    try:
        rate = Decimal(value)
    except ArithmeticError as exc:
        raise InvalidInput(field, N_("must be a decimal percentage")) from exc
    if not rate.is_finite() or not ZERO <= rate <= maximum or (positive and rate == ZERO):
        raise InvalidInput(
            field,
            N_("must be above 0 and at most {maximum}")
            if positive
            else N_("must be between 0 and {maximum}"),
            {"maximum": maximum},
        )
    if rate != rate.quantize(CENT):
        raise InvalidInput(field, N_("at most two decimal places"))
    return rate.quantize(CENT)


def _rate(value: Any, field: str) -> Decimal:
    return _percent(value, field)


def _threshold(value: Any, field: str, currency: str | None) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise InvalidInput(field, N_("must be a decimal amount"))
    try:
        amount = Decimal(value)
    except ArithmeticError as exc:
        raise InvalidInput(field, N_("must be a decimal amount")) from exc
    if not amount.is_finite() or not ZERO <= amount <= MAX_THRESHOLD:
        raise InvalidInput(field, N_("must be an amount from 0"))
    places = MINOR_UNITS.get(currency, 2) if currency is not None else 2
    if amount != amount.quantize(Decimal(1).scaleb(-places)):
        if currency is None:
            raise InvalidInput(field, N_("at most {places} decimal places"), {"places": places})
        raise InvalidInput(
            field,
            N_("at most {places} decimal places for {currency}"),
            {"places": places, "currency": currency},
        )
    return amount.quantize(CENT)


def _check_volume_tiers(raw: Any, field: str, currency: str | None) -> tuple[VolumeTier, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidInput(field, N_("must be a list"))
    if len(raw) > MAX_VOLUME_TIERS:
        raise InvalidInput(
            field,
            N_("at most {max_volume_tiers} volume tiers"),
            {"max_volume_tiers": MAX_VOLUME_TIERS},
        )
    bands: list[VolumeTier] = []
    for i, item in enumerate(raw):
        where = f"{field}.{i}"
        if not isinstance(item, Mapping):
            raise InvalidInput(where, N_("must be an object"))
        start = _threshold(item.get("from_amount"), f"{where}.from_amount", currency)
        if i == 0 and start != ZERO:
            raise InvalidInput(f"{where}.from_amount", N_("the first volume tier starts at 0"))
        if bands and start <= bands[-1].from_amount:
            raise InvalidInput(
                f"{where}.from_amount", N_("volume tiers go in ascending order of from_amount")
            )
        bands.append(VolumeTier(start, _rate(item.get("rate_pct"), f"{where}.rate_pct")))
    return tuple(bands)


def _check_accelerator(raw: Any, field: str) -> Accelerator | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise InvalidInput(field, N_("must be an object"))
    return Accelerator(
        _percent(raw.get("above_target_pct"), f"{field}.above_target_pct", MAX_ABOVE_TARGET_PCT),
        _percent(raw.get("extra_rate_pct"), f"{field}.extra_rate_pct", positive=True),
    )


def check_terms(
    data: Mapping[str, Any], field: str = "", currency: str | None = None
) -> CommissionTerms:
    """Terms from their JSON form: a clawback window of 0–365 days; either a rate table
    (``tiers``: rates of 0–100 %, known stages and recovery types, no two for the same
    (stage, type)) or ``volume_tiers`` (from 0, ascending amounts with at most the
    ``currency``'s minor-unit decimals, rates 0–100 %), not both; and an optional
    ``accelerator`` (above 0–1000 % of the target, an extra rate above 0 and up to 100 %)."""
    days = data.get("clawback_days")
    if isinstance(days, bool) or not isinstance(days, int):
        raise InvalidInput(field_path(field, "clawback_days"), N_("must be a whole number of days"))
    if not 0 <= days <= MAX_CLAWBACK_DAYS:
        raise InvalidInput(
            field_path(field, "clawback_days"),
            N_("must be between 0 and {max_clawback_days}"),
            {"max_clawback_days": MAX_CLAWBACK_DAYS},
        )
    volume = _check_volume_tiers(
        data.get("volume_tiers"), field_path(field, "volume_tiers"), currency
    )
    raw = data.get("tiers")
    if raw is None and volume:
        raw = []
    if not isinstance(raw, list):
        raise InvalidInput(field_path(field, "tiers"), N_("must be a list"))
    if volume and raw:
        raise InvalidInput(
            field_path(field, "volume_tiers"),
            N_("volume tiers replace the rate table: leave tiers empty"),
        )
    if not volume and not raw:
        raise InvalidInput(field_path(field, "tiers"), N_("at least one tier, or volume tiers"))
    if len(raw) > MAX_TIERS:
        raise InvalidInput(
            field_path(field, "tiers"), N_("at most {max_tiers} tiers"), {"max_tiers": MAX_TIERS}
        )
    tiers: list[Tier] = []
    seen: set[tuple[Stage | None, RecoveryType | None]] = set()
    for i, item in enumerate(raw):
        where = field_path(field, "tiers", i)
        if not isinstance(item, Mapping):
            raise InvalidInput(where, N_("must be an object"))
        stage_value = item.get("stage")
        type_value = item.get("recovery_type")
        try:
            stage = None if stage_value is None else Stage(stage_value)
        except ValueError as exc:
            raise InvalidInput(f"{where}.stage", N_("not a delinquency stage")) from exc
        try:
            kind = None if type_value is None else RecoveryType(type_value)
        except ValueError as exc:
            raise InvalidInput(f"{where}.recovery_type", N_("not a recovery type")) from exc
        if (stage, kind) in seen:
            raise InvalidInput(where, N_("another tier has the same stage and recovery type"))
        seen.add((stage, kind))
        tiers.append(Tier(stage, kind, _rate(item.get("rate_pct"), f"{where}.rate_pct")))
    accelerator = _check_accelerator(data.get("accelerator"), field_path(field, "accelerator"))
    return CommissionTerms(days, tuple(tiers), volume, accelerator)


def terms_to_json(terms: CommissionTerms) -> dict[str, Any]:
    acc = terms.accelerator
    return {
        "clawback_days": terms.clawback_days,
        "tiers": [
            {
                "stage": None if t.stage is None else t.stage.value,
                "recovery_type": None if t.recovery_type is None else t.recovery_type.value,
                "rate_pct": str(t.rate_pct),
            }
            for t in terms.tiers
        ],
        "volume_tiers": [
            {"from_amount": str(b.from_amount), "rate_pct": str(b.rate_pct)}
            for b in terms.volume_tiers
        ],
        "accelerator": None
        if acc is None
        else {
            "above_target_pct": str(acc.above_target_pct),
            "extra_rate_pct": str(acc.extra_rate_pct),
        },
    }


def select_tier(
    tiers: Iterable[Tier], stage: Stage | None, recovery_type: RecoveryType
) -> Tier | None:
    """The most specific tier matching a payment's stage and recovery type, or None."""
    best: Tier | None = None
    for tier in tiers:
        if tier.matches(stage, recovery_type) and (
            best is None or tier.specificity > best.specificity
        ):
            best = tier
    return best


def rate_for(
    terms: CommissionTerms | None, stage: Stage | None, recovery_type: RecoveryType
) -> Decimal:
    if terms is None:
        return ZERO
    tier = select_tier(terms.tiers, stage, recovery_type)
    return ZERO if tier is None else tier.rate_pct


def commission(amount: Decimal, rate_pct: Decimal) -> Decimal:
    """amount × rate / 100, half-up to cents; never negative for a non-negative amount."""
    return (amount * rate_pct / HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP)


def clawed_back(paid_on: date, undone_on: date | None, clawback_days: int) -> bool:
    """True when the payment was undone (reversed, or its plan broke) no later than
    ``clawback_days`` days after ``paid_on``. The report's SQL mirrors this rule."""
    return undone_on is not None and (undone_on - paid_on).days <= clawback_days


# ---------------------------------------------------------------------------------------
# Volume tiers and the accelerator


@dataclass(frozen=True, slots=True)
class BandShare:
    """The part of a month's base inside one volume band and what it earned."""

    from_amount: Decimal
    to_amount: Decimal | None  # None: no upper end
    rate_pct: Decimal
    base: Decimal
    commission: Decimal


def volume_bands(tiers: Sequence[VolumeTier], base: Decimal) -> tuple[BandShare, ...]:
    """The month's base split across the (marginal) bands, each with its commission."""
    shares: list[BandShare] = []
    for i, band in enumerate(tiers):
        upper = tiers[i + 1].from_amount if i + 1 < len(tiers) else None
        top = base if upper is None else min(base, upper)
        inside = max(top - band.from_amount, ZERO)
        shares.append(
            BandShare(
                band.from_amount, upper, band.rate_pct, inside, commission(inside, band.rate_pct)
            )
        )
    return tuple(shares)


def volume_commission(tiers: Sequence[VolumeTier], base: Decimal) -> Decimal:
    return sum((share.commission for share in volume_bands(tiers, base)), ZERO)


@dataclass(frozen=True, slots=True)
class AcceleratorShare:
    """How the accelerator paid a collector's row (one partner, one currency)."""

    above_target_pct: Decimal
    extra_rate_pct: Decimal
    target: Decimal
    threshold: Decimal  # target × above_target_pct / 100
    collector_base: Decimal  # the collector's month's base in the currency, every partner
    excess: Decimal  # this row's share of collector_base − threshold (never below 0)
    amount: Decimal


def accelerator_share(
    accelerator: Accelerator,
    *,
    target: Decimal,
    row_base: Decimal,
    collector_base: Decimal,
) -> AcceleratorShare:
    """The accelerator on a row: the collector's base above the threshold, times the row's
    part of the collector's base, times the extra rate (half-up to cents)."""
    if not ZERO <= row_base <= collector_base:
        raise ValueError("a row's base is a part of the collector's base")
    threshold = target * accelerator.above_target_pct / HUNDRED
    over = max(collector_base - threshold, ZERO)
    excess = ZERO if collector_base == ZERO else over * row_base / collector_base
    excess = excess.quantize(CENT, rounding=ROUND_HALF_UP)
    return AcceleratorShare(
        above_target_pct=accelerator.above_target_pct,
        extra_rate_pct=accelerator.extra_rate_pct,
        target=target,
        threshold=threshold.quantize(CENT, rounding=ROUND_HALF_UP),
        collector_base=collector_base,
        excess=excess,
        amount=commission(excess, accelerator.extra_rate_pct),
    )


# ---------------------------------------------------------------------------------------
# A collector's month on one partner's portfolio


@dataclass(frozen=True, slots=True)
class LineFacts:
    """A collector's payments of one stage and recovery type under one terms version."""

    stage: Stage | None
    recovery_type: RecoveryType
    terms_version: int | None
    payments: int
    base: Decimal
    clawed_back_payments: int
    clawed_back_base: Decimal

    def __post_init__(self) -> None:
        if not ZERO <= self.clawed_back_base <= self.base:
            raise ValueError("the clawed-back base is a part of the base")


@dataclass(frozen=True, slots=True)
class CommissionLine:
    """A line of the report; its rate and commission are None when the month is paid by
    volume tiers (the commission is then the month's, in the bands)."""

    facts: LineFacts
    rate_pct: Decimal | None
    earned: Decimal | None
    clawed_back: Decimal | None

    @property
    def net(self) -> Decimal | None:
        if self.earned is None or self.clawed_back is None:
            return None
        return self.earned - self.clawed_back


def commission_line(facts: LineFacts, terms: CommissionTerms | None) -> CommissionLine:
    """The table rate on an aggregated line: earned on its whole base, clawed back on the
    part that was undone within the window."""
    rate = rate_for(terms, facts.stage, facts.recovery_type)
    earned = commission(facts.base, rate)
    back = commission(facts.clawed_back_base, rate)
    # Rounding both the same way keeps the clawback within what was earned.
    return CommissionLine(facts, rate, earned, min(back, earned))


@dataclass(frozen=True, slots=True)
class TypeTotal:
    recovery_type: RecoveryType
    payments: int
    base: Decimal


@dataclass(frozen=True, slots=True)
class MonthCommission:
    """A collector's commission for a month on one partner's portfolio (one currency).

    ``bands`` and ``accelerator`` describe the net (what is paid): the bands split the base
    that was kept (not clawed back)."""

    lines: tuple[CommissionLine, ...]
    terms_version: int | None  # the version in effect on the month's last day
    bands: tuple[BandShare, ...]
    accelerator: AcceleratorShare | None
    earned: Decimal
    net: Decimal

    @property
    def clawed_back(self) -> Decimal:
        return self.earned - self.net

    @property
    def payments(self) -> int:
        return sum(line.facts.payments for line in self.lines)

    @property
    def base(self) -> Decimal:
        return sum((line.facts.base for line in self.lines), ZERO)

    @property
    def kept_base(self) -> Decimal:
        return self.base - sum((line.facts.clawed_back_base for line in self.lines), ZERO)

    @property
    def by_recovery_type(self) -> tuple[TypeTotal, ...]:
        totals: dict[RecoveryType, tuple[int, Decimal]] = {}
        for line in self.lines:
            n, base = totals.get(line.facts.recovery_type, (0, ZERO))
            totals[line.facts.recovery_type] = (n + line.facts.payments, base + line.facts.base)
        return tuple(TypeTotal(kind, *totals[kind]) for kind in RecoveryType if kind in totals)


def month_commission(
    lines: Sequence[LineFacts],
    *,
    terms: Mapping[int, CommissionTerms],
    month_version: int | None,
    target: Decimal | None = None,
    collector_base: Decimal | None = None,
    collector_kept_base: Decimal | None = None,
) -> MonthCommission:
    """The month's commission of a collector's lines on one partner (module docstring):
    ``terms`` by version, ``month_version`` the version in effect on the month's last day,
    ``target`` the collector's target for the month in the currency (None: none), and the
    collector's base and kept base in the currency across partners (default: these lines')."""
    month_terms = None if month_version is None else terms[month_version]
    base = sum((f.base for f in lines), ZERO)
    kept = base - sum((f.clawed_back_base for f in lines), ZERO)
    if month_terms is not None and month_terms.pays_by_volume:
        out = tuple(CommissionLine(f, None, None, None) for f in lines)
        earned = volume_commission(month_terms.volume_tiers, base)
        net = volume_commission(month_terms.volume_tiers, kept)
        bands = volume_bands(month_terms.volume_tiers, kept)
    else:
        table: list[CommissionLine] = []
        for f in lines:
            own = None if f.terms_version is None else terms[f.terms_version]
            table.append(commission_line(f, own if own is None or own.tiers else month_terms))
        out = tuple(table)
        earned = sum((line.earned or ZERO for line in out), ZERO)
        net = sum((line.net or ZERO for line in out), ZERO)
        bands = ()
    acc = None if month_terms is None else month_terms.accelerator
    share = None
    if acc is not None and target is not None:
        gross = accelerator_share(
            acc, target=target, row_base=base,
            collector_base=base if collector_base is None else collector_base,
        )  # fmt: skip
        share = accelerator_share(
            acc, target=target, row_base=kept,
            collector_base=kept if collector_kept_base is None else collector_kept_base,
        )  # fmt: skip
        earned += gross.amount
        net += share.amount
    return MonthCommission(out, month_version, bands, share, earned, min(net, earned))


def parse_month(value: str, field: str) -> date:
    """``YYYY-MM`` as the first day of that month."""
    parts = value.split("-")
    if (
        len(parts) != 2
        or len(parts[0]) != 4
        or len(parts[1]) != 2
        or not all(p.isascii() and p.isdigit() for p in parts)
    ):
        raise InvalidInput(field, N_("must be a month as YYYY-MM"))
    year, month = int(parts[0]), int(parts[1])
    if not (1 <= month <= 12 and 1900 <= year <= 9999):
        raise InvalidInput(field, N_("must be a month as YYYY-MM"))
    return date(year, month, 1)


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)
