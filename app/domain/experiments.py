"""Champion/challenger strategy experiments ("campeón / retador"): the pure part.

A partner's strategy for one delinquency stage can run an experiment: the champion (the
strategy version in force) and one or more challengers (other entries for that stage), each
with a share of the stage's accounts. Choices made here:

- **Assignment is a pure function of (experiment, account).** The account's position is the
  first 48 bits of ``SHA-256("<experiment id>:<account id>")`` (both UUIDs in their canonical
  lower-case hyphenated text) read as a fraction ``u`` of ``2**48``, so ``u`` lies in
  ``[0, 1)``. The account goes to the first arm whose cumulative share exceeds ``u``. Shares
  are percentages with two decimals, so the comparison is done exactly on whole
  basis points: ``bucket = floor(u * 10000)`` and arm ``k`` owns the buckets
  ``[low_k, high_k)`` of its cumulative shares. No state is stored and no random number is
  drawn: the same account lands in the same arm every time, in Python and in SQL
  (:data:`BUCKET_SQL`, used by set-based statements, computes the same bucket).
- **A challenger is a stage entry**, validated exactly as a strategy's entry for that stage is
  (shape, ranges, the law of the partner's country). Its effective document is the champion
  in force with that one stage replaced (:func:`with_stage`), so a challenger follows the
  champion's other stages and any new champion version. Promoting a challenger stores the
  champion with the stage replaced as the next version.
- **Intervals** for the report: proportions get the Wilson score interval
  (:func:`wilson`); the mean amount recovered per account gets a Student t interval
  (:func:`mean_interval`), computed from the count, sum and sum of squares that SQL returns.

No I/O, no clock.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext
from enum import StrEnum

from app.domain.errors import DomainError, InvalidInput
from app.domain.stages import Stage
from app.domain.strategies import StageStrategy, StrategyDocument
from app.i18n import N_

BUCKETS = 10_000  # a share is a whole number of basis points (a percent with two decimals)
HASH_BITS = 48
HUNDRED = Decimal(100)
MAX_CHALLENGERS = 5
_SHARE_PLACES = Decimal("0.01")

# The same bucket as :func:`bucket`, for set-based statements: ``:experiment`` and
# ``{account}`` are substituted by the caller (an expression of type uuid each).
BUCKET_SQL = (
    "((('x' || substr(encode(sha256(convert_to(CAST({experiment} AS text) || ':' || "
    "CAST({account} AS text), 'UTF8')), 'hex'), 1, 12))::bit(48)::bigint * 10000) >> 48)"
)


class ExperimentStatus(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"  # every account back on the champion
    PROMOTED = "promoted"  # a challenger became the champion's next version


class ExperimentAlreadyRunning(DomainError):
    """The partner's stage already runs an experiment: stop or promote it first."""

    code = "experiment_already_running"


class ExperimentEnded(DomainError):
    """The experiment was stopped or promoted: it can change no more."""

    code = "experiment_ended"


# --- assignment -------------------------------------------------------------------------


def position(experiment_id: uuid.UUID, account_id: uuid.UUID) -> int:
    """The account's 48-bit position in the experiment: ``u = position / 2**48`` in [0, 1)."""
    digest = hashlib.sha256(f"{experiment_id}:{account_id}".encode()).digest()
    return int.from_bytes(digest[: HASH_BITS // 8], "big")


def bucket(experiment_id: uuid.UUID, account_id: uuid.UUID) -> int:
    """``floor(u * 10000)``: the basis point of [0, 1) the account falls in, 0 … 9999."""
    return (position(experiment_id, account_id) * BUCKETS) >> HASH_BITS


@dataclass(frozen=True, slots=True)
class ArmRange:
    """An arm's buckets ``[low, high)``; the ranges of an experiment tile 0 … 10000."""

    arm_id: uuid.UUID
    low: int
    high: int


def assign(experiment_id: uuid.UUID, account_id: uuid.UUID, arms: Sequence[ArmRange]) -> uuid.UUID:
    """The arm the account belongs to: the one whose range holds its bucket."""
    spot = bucket(experiment_id, account_id)
    for arm in arms:
        if arm.low <= spot < arm.high:
            return arm.arm_id
    raise ValueError("the arms do not cover every bucket")


def share_ranges(shares: Sequence[Decimal]) -> list[tuple[int, int]]:
    """The bucket ranges of ``shares`` (champion first, then each challenger), which must be
    percentages above 0 with at most two decimals that add up to exactly 100."""
    ranges: list[tuple[int, int]] = []
    low = 0
    for index, share in enumerate(shares):
        path = "champion_share" if index == 0 else f"challengers.{index - 1}.share"
        if not share.is_finite() or share <= 0 or share > HUNDRED:
            raise InvalidInput(path, N_("must be a percentage above 0 and at most 100"))
        if share != share.quantize(_SHARE_PLACES):
            raise InvalidInput(path, N_("at most two decimal places"))
        width = int(share * 100)
        ranges.append((low, low + width))
        low += width
    if low != BUCKETS:
        total = (Decimal(low) / 100).quantize(_SHARE_PLACES)
        raise InvalidInput(
            "challengers",
            N_("the shares add up to {total} %, not 100 %"),
            {"total": str(total)},
        )
    return ranges


def with_stage(document: StrategyDocument, stage: Stage, entry: StageStrategy) -> StrategyDocument:
    """``document`` with ``stage``'s entry replaced by ``entry`` (a challenger's document)."""
    return replace(document, stages={**document.stages, stage: entry})


# --- the report's intervals -------------------------------------------------------------

Z95 = Decimal("1.959963984540054")  # the standard normal's 0.975 quantile
RATE_PLACES = Decimal("0.0001")

# Student t 0.975 quantiles for 1 … 30 degrees of freedom (standard tables).
_T975 = (
    Decimal("12.706"), Decimal("4.303"), Decimal("3.182"), Decimal("2.776"), Decimal("2.571"),
    Decimal("2.447"), Decimal("2.365"), Decimal("2.306"), Decimal("2.262"), Decimal("2.228"),
    Decimal("2.201"), Decimal("2.179"), Decimal("2.160"), Decimal("2.145"), Decimal("2.131"),
    Decimal("2.120"), Decimal("2.110"), Decimal("2.101"), Decimal("2.093"), Decimal("2.086"),
    Decimal("2.080"), Decimal("2.074"), Decimal("2.069"), Decimal("2.064"), Decimal("2.060"),
    Decimal("2.056"), Decimal("2.052"), Decimal("2.048"), Decimal("2.045"), Decimal("2.042"),
)  # fmt: skip


def t975(df: int) -> Decimal:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom: the table up to 30,
    above it the Cornish-Fisher expansion around the normal quantile (error below 1e-5)."""
    if df < 1:
        raise ValueError("at least one degree of freedom")
    if df <= len(_T975):
        return _T975[df - 1]
    z, n = Z95, Decimal(df)
    return (
        z
        + (z**3 + z) / (4 * n)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * n**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * n**3)
    ).quantize(Decimal("0.00001"), ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Interval:
    low: Decimal
    high: Decimal


def wilson(successes: int, trials: int, z: Decimal = Z95) -> Interval | None:
    """The Wilson score interval of a proportion (95 % by default), four decimals, widened
    outward when rounded; ``None`` without trials. Unlike the normal ("Wald") interval it
    stays inside [0, 1] and keeps its coverage at 0 or 100 % and on small samples."""
    if trials == 0:
        return None
    if not 0 <= successes <= trials:
        raise ValueError("successes must lie between 0 and the number of trials")
    with localcontext() as ctx:
        ctx.prec = 34
        n, p = Decimal(trials), Decimal(successes) / Decimal(trials)
        z2 = z * z
        denominator = 1 + z2 / n
        centre = (p + z2 / (2 * n)) / denominator
        half = z / denominator * (p * (1 - p) / n + z2 / (4 * n * n)).sqrt()
        low, high = max(Decimal(0), centre - half), min(Decimal(1), centre + half)
    return Interval(
        low.quantize(RATE_PLACES, ROUND_FLOOR), high.quantize(RATE_PLACES, ROUND_CEILING)
    )


@dataclass(frozen=True, slots=True)
class MeanEstimate:
    mean: Decimal
    interval: Interval | None


def mean_interval(
    count: int, total: Decimal, squares: Decimal, unit: Decimal
) -> MeanEstimate | None:
    """The mean of ``count`` per-account amounts (their ``total`` and sum of ``squares``)
    with its 95 % Student t interval, in the currency's minor ``unit`` (mean half-up, the
    interval widened outward, never below 0: no account recovers a negative amount).

    Why t: the amounts' variance is unknown and estimated from the sample, which is what the
    t interval accounts for (it is wider than the normal one for small arms and tends to it
    for large ones). Recovery per account is skewed (most accounts pay nothing, a few pay a
    lot); the interval rests on the central limit theorem for the mean, which holds for the
    hundreds or thousands of accounts an arm has in practice. A bootstrap would need the
    amounts one by one; this needs three sums, which SQL returns in one pass.

    ``None`` without accounts; no interval with a single account (no variance to estimate)."""
    if count == 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 34
        n = Decimal(count)
        mean = total / n
        if count < 2:
            return MeanEstimate(mean.quantize(unit, ROUND_HALF_UP), None)
        variance = max(Decimal(0), (squares - total * total / n) / (n - 1))
        half = t975(count - 1) * (variance / n).sqrt()
        low, high = max(Decimal(0), mean - half), mean + half
    return MeanEstimate(
        mean.quantize(unit, ROUND_HALF_UP),
        Interval(low.quantize(unit, ROUND_FLOOR), high.quantize(unit, ROUND_CEILING)),
    )
