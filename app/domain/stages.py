"""Delinquency stages: days past due, the partner's bucket table, and the Buró MOP code.

A stage is a pure function of DPD, product type and the partner's bucket edges. The SQL that
ages accounts in bulk (``app/services/aging.py``) mirrors :func:`stage_for`; a test holds the
two to the same answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from app.domain.errors import InvalidInput
from app.i18n import N_


class ProductType(StrEnum):
    REVOLVING = "revolving"
    INSTALLMENT = "installment"
    SINGLE_PAYMENT = "single_payment"


class Stage(StrEnum):
    """In order of severity; ``CURRENT`` is DPD ≤ 0."""

    CURRENT = "current"
    EARLY = "early"  # mora temprana
    MID = "mid"
    LATE = "late"
    NONACCRUAL = "nonaccrual"  # cartera vencida, sin devengo de intereses
    CHARGEOFF = "chargeoff"  # castigo


# The stages after CURRENT, each starting at a configurable DPD.
OVERDUE_STAGES: tuple[Stage, ...] = (
    Stage.EARLY,
    Stage.MID,
    Stage.LATE,
    Stage.NONACCRUAL,
    Stage.CHARGEOFF,
)
STAGE_ORDER: dict[Stage, int] = {stage: rank for rank, stage in enumerate(Stage)}
MAX_EDGE = 3650  # ten years: an edge further out is a typo, not a policy


@dataclass(frozen=True, slots=True)
class BucketEdges:
    """The first DPD of each overdue stage; strictly increasing, EARLY starts at 1 or later."""

    early: int = 1
    mid: int = 30
    late: int = 60
    nonaccrual: int = 90
    chargeoff: int = 180

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        return (self.early, self.mid, self.late, self.nonaccrual, self.chargeoff)

    def as_dict(self) -> dict[str, int]:
        return dict(zip((s.value for s in OVERDUE_STAGES), self.as_tuple(), strict=True))


DEFAULT_EDGES = BucketEdges()


def check_edges(edges: Mapping[str, Any], field: str) -> BucketEdges:
    """Edges from a partner's request: every overdue stage, integers, strictly increasing."""
    unknown = sorted(set(edges) - {s.value for s in OVERDUE_STAGES})
    if unknown:
        raise InvalidInput(f"{field}.{unknown[0]}", N_("not a delinquency stage with an edge"))
    values: list[int] = []
    for stage in OVERDUE_STAGES:
        value = edges.get(stage.value)
        if value is None:
            raise InvalidInput(
                f"{field}.{stage.value}", N_("every overdue stage needs its first DPD")
            )
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidInput(f"{field}.{stage.value}", N_("must be a whole number of days"))
        if not 1 <= value <= MAX_EDGE:
            raise InvalidInput(
                f"{field}.{stage.value}",
                N_("must be between 1 and {max_edge}"),
                {"max_edge": MAX_EDGE},
            )
        if values and value <= values[-1]:
            raise InvalidInput(
                f"{field}.{stage.value}", N_("each stage must start after the one before it")
            )
        values.append(value)
    return BucketEdges(*values)


def check_bucket_table(
    table: Mapping[str, Any] | None, field: str
) -> dict[ProductType, BucketEdges]:
    """A partner's bucket table: edges per product type; product types left out use defaults."""
    result = {product: DEFAULT_EDGES for product in ProductType}
    for key, edges in (table or {}).items():
        try:
            product = ProductType(key)
        except ValueError as exc:
            raise InvalidInput(f"{field}.{key}", N_("not a product type")) from exc
        if not isinstance(edges, Mapping):
            raise InvalidInput(f"{field}.{key}", N_("must map each overdue stage to its first DPD"))
        result[product] = check_edges(edges, f"{field}.{key}")
    return result


def stage_for(dpd: int, edges: BucketEdges = DEFAULT_EDGES) -> Stage:
    """The stage an account with ``dpd`` days past due is in."""
    stage = Stage.CURRENT
    for candidate, first_day in zip(OVERDUE_STAGES, edges.as_tuple(), strict=True):
        if dpd >= first_day:
            stage = candidate
    return stage


def mop_code(dpd: int) -> str:
    """Buró de Crédito's MOP (manner of payment) code for a DPD, fixed by the bureau."""
    for code, first_day in (("07", 180), ("06", 120), ("05", 90), ("04", 60), ("03", 30)):
        if dpd >= first_day:
            return code
    return "02" if dpd >= 1 else "01"


@dataclass(frozen=True, slots=True)
class Pause:
    """A delinquency pause (dispute, hardship, legal): both dates included."""

    starts_on: date
    ends_on: date


def paused_days(pauses: Iterable[Pause], after: date, through: date) -> int:
    """Days in (after, through] covered by at least one pause, overlaps counted once."""
    covered: set[int] = set()
    for pause in pauses:
        first = max(pause.starts_on.toordinal(), after.toordinal() + 1)
        last = min(pause.ends_on.toordinal(), through.toordinal())
        covered.update(range(first, last + 1))
    return len(covered)


def days_past_due(as_of: date, oldest_unpaid_due: date | None, pauses: Iterable[Pause] = ()) -> int:
    """As-of date − oldest unpaid due date, less the paused days since that due date.

    Nothing unpaid is DPD 0; a due date still ahead gives a negative DPD (current).
    """
    if oldest_unpaid_due is None:
        return 0
    elapsed = as_of.toordinal() - oldest_unpaid_due.toordinal()
    if elapsed <= 0:
        return elapsed
    return elapsed - paused_days(pauses, oldest_unpaid_due, as_of)
