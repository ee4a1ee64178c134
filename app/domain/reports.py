"""KPIs and reports: the pure part. Periods, rates, the roll-rate matrix, and whether a
request asked for CSV.

The figures themselves are computed set-based in SQL (``app/services/reports.py``); what is
left here works on a handful of aggregate rows, never on accounts one by one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from app.domain.errors import InvalidInput
from app.domain.stages import STAGE_ORDER, Stage
from app.i18n import N_

# A report period is at most a (leap) year, both ends included.
MAX_PERIOD_DAYS = 366
# Rates are fractions (0.2500 is 25 %), four decimals, rounded half-up.
RATE_PLACES = Decimal("0.0001")


def check_period(start: date, end: date) -> None:
    """``start`` ≤ ``end`` and at most :data:`MAX_PERIOD_DAYS` days, both included."""
    if start > end:
        raise InvalidInput("query.from", N_("must not be after 'to'"))
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidInput(
            "query.to",
            N_("the period may span at most {max_period_days} days"),
            {"max_period_days": MAX_PERIOD_DAYS},
        )


def ratio(numerator: Decimal | int, denominator: Decimal | int) -> Decimal | None:
    """``numerator / denominator`` to four places (half-up); ``None`` when nothing to divide
    by (a rate over zero accounts or a zero balance is undefined, not 0)."""
    if denominator == 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATE_PLACES, ROUND_HALF_UP)


# ---------------------------------------------------------------------------------------
# Roll rates


@dataclass(frozen=True, slots=True)
class RollRow:
    """Where the accounts that were in ``from_stage`` at the start ended up.

    ``counts`` has every stage (zeros included) and sums to ``accounts``; ``rates`` are the
    counts over ``accounts``. ``worse``/``same``/``better`` split the same accounts by the
    direction of the move; ``roll_forward_rate`` is the share that rolled to a worse stage
    (rodamiento).
    """

    partner_id: uuid.UUID
    from_stage: Stage
    accounts: int
    counts: dict[Stage, int] = field(default_factory=dict)
    rates: dict[Stage, Decimal | None] = field(default_factory=dict)
    worse: int = 0
    same: int = 0
    better: int = 0

    @property
    def roll_forward_rate(self) -> Decimal | None:
        return ratio(self.worse, self.accounts)

    @property
    def cure_rate(self) -> Decimal | None:
        """Share that ended ``current`` (None for rows that started current)."""
        if self.from_stage is Stage.CURRENT:
            return None
        return ratio(self.counts[Stage.CURRENT], self.accounts)


def roll_matrix(cells: Iterable[tuple[uuid.UUID, str, str, int]]) -> list[RollRow]:
    """The transition matrix from ``(partner_id, from_stage, to_stage, accounts)`` cells.

    One row per partner and starting stage that has accounts, in partner order (as given
    first) and stage severity; every row's counts add up to its starting count.
    """
    grid: dict[tuple[uuid.UUID, Stage], dict[Stage, int]] = {}
    for partner_id, start, end, count in cells:
        if count < 0:
            raise ValueError("a cell counts accounts: never negative")
        row = grid.setdefault((partner_id, Stage(start)), dict.fromkeys(Stage, 0))
        row[Stage(end)] += count
    partners = list(dict.fromkeys(key[0] for key in grid))
    rows: list[RollRow] = []
    for key in sorted(grid, key=lambda k: (partners.index(k[0]), STAGE_ORDER[k[1]])):
        partner_id, start = key
        counts = grid[key]
        total = sum(counts.values())
        if total == 0:
            continue
        rank = STAGE_ORDER[start]
        rows.append(
            RollRow(
                partner_id=partner_id,
                from_stage=start,
                accounts=total,
                counts=counts,
                rates={stage: ratio(n, total) for stage, n in counts.items()},
                worse=sum(n for s, n in counts.items() if STAGE_ORDER[s] > rank),
                same=counts[start],
                better=sum(n for s, n in counts.items() if STAGE_ORDER[s] < rank),
            )
        )
    return rows


# ---------------------------------------------------------------------------------------
# Content negotiation

CSV_MEDIA_TYPE = "text/csv"
JSON_MEDIA_TYPE = "application/json"


def _weights(accept: str) -> Mapping[str, float]:
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media:
            weights[media.lower()] = max(quality, weights.get(media.lower(), 0.0))
    return weights


def wants_csv(accept: str | None) -> bool:
    """True when ``Accept`` names ``text/csv`` with a higher weight than
    ``application/json``; wildcards, a missing header and ties give JSON (the default)."""
    if not accept:
        return False
    weights = _weights(accept)
    csv_q = weights.get(CSV_MEDIA_TYPE, 0.0)
    return csv_q > 0 and csv_q > weights.get(JSON_MEDIA_TYPE, 0.0)
