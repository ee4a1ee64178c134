"""Which account a collector should work next: a priority score and the reasons behind it.

Pure: the service gathers the facts (:class:`PriorityFacts`) and hands in the moment's local
hour; nothing here reads the clock or the database.

The score is the sum of the points of its reasons, each a whole number (weights below):

==========================  ===========================================================
code                        points
==========================  ===========================================================
``callback_due``            :data:`CALLBACK_DUE` (2000): the debtor asked to be called
                            back and the time (or the law's next allowed moment after
                            it) has come; more than every other reason together, so the
                            account heads the queue until someone works it.
``promise_due_today``       :data:`PROMISE_DUE_TODAY` (400): the debtor promised to pay
                            today; a reminder call is what keeps most promises.
``promise_broken``          :data:`PROMISE_BROKEN` (300): a promise fell due yesterday
                            unpaid, or the follow-up job found one broken yesterday or
                            today; the call that follows a broken promise comes first.
``balance_stage``           stage weight (0–100, the strategy's ``priority_weight`` for
                            the account's stage) / 100 × :data:`BALANCE_SCALE` (50) ×
                            log10(1 + balance), at most :data:`BALANCE_CAP` (300): a
                            bigger balance counts, on a log scale so that one huge account
                            does not bury every other, scaled by how much the partner's
                            strategy wants that stage worked. Currency-blind on purpose:
                            a collector's queue mixes few currencies, and the cap bounds it.
``days_since_contact``      :data:`PER_DAY_WITHOUT_CONTACT` (5) a day since the last
                            gestión on the account, at most
                            :data:`MAX_DAYS_WITHOUT_CONTACT` (30) days; never worked
                            counts as the maximum.
``contactability``          the contact point's right-party rate (0–1) ×
                            :data:`CONTACTABILITY_SCALE` (100); a point never tried gets
                            :data:`UNTRIED_CONTACTABILITY` (25), a fair chance.
``best_hour``               :data:`BEST_HOUR` (50) when the point's local hour now is the
                            hour it most often reached the debtor.
==========================  ===========================================================

Ties are broken by the account id (ascending), so the order is total and deterministic.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.i18n import N_, Message

CALLBACK_DUE = 2000
PROMISE_DUE_TODAY = 400
PROMISE_BROKEN = 300
BALANCE_SCALE = 50
BALANCE_CAP = 300
PER_DAY_WITHOUT_CONTACT = 5
MAX_DAYS_WITHOUT_CONTACT = 30
CONTACTABILITY_SCALE = 100
UNTRIED_CONTACTABILITY = 25
BEST_HOUR = 50

# The most points a contact point can add: the service's SQL pre-score leaves these out.
MAX_POINT_POINTS = CONTACTABILITY_SCALE + BEST_HOUR


@dataclass(frozen=True, slots=True)
class PriorityFacts:
    """What the score is computed from, for one account at one moment."""

    account_id: uuid.UUID
    balance: Decimal  # the account's total owed, >= 0
    stage_weight: Decimal  # the strategy's priority_weight for the stage, 0-100
    promise_due_today: bool = False
    promise_broken: bool = False
    days_since_contact: int | None = None  # None: never contacted
    contactability: Decimal | None = None  # the point's right-party rate, 0-1; None: untried
    best_hour: int | None = None  # the point's best local hour, 0-23
    local_hour: int | None = None  # the point's local hour now
    # The earliest open callback on the account that is due (app/domain/callbacks.py).
    callback_due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ScoreReason:
    code: str
    points: int
    text: Message  # shown in the reader's language; ``detail`` is the English

    def __post_init__(self) -> None:
        if not isinstance(self.text, Message):
            object.__setattr__(self, "text", Message(self.text))

    @property
    def detail(self) -> str:
        return str(self.text)


@dataclass(frozen=True, slots=True)
class Priority:
    account_id: uuid.UUID
    score: int
    reasons: tuple[ScoreReason, ...]


def balance_points(balance: Decimal, stage_weight: Decimal) -> int:
    """Stage weight / 100 × 50 × log10(1 + balance), capped at 300, rounded half up."""
    if balance < 0 or not 0 <= stage_weight <= 100:
        raise ValueError("balance is not negative and the weight runs 0-100")
    raw = float(stage_weight) / 100 * BALANCE_SCALE * math.log10(1 + float(balance))
    return min(BALANCE_CAP, math.floor(raw + 0.5))


def score_account(facts: PriorityFacts) -> Priority:
    """The account's score and every reason that gave it points (in the table's order)."""
    reasons: list[ScoreReason] = []
    if facts.callback_due_at is not None:
        reasons.append(
            ScoreReason(
                "callback_due",
                CALLBACK_DUE,
                Message(
                    N_("The debtor asked to be called back; due since {due_at}."),
                    {"due_at": facts.callback_due_at.isoformat()},
                ),
            )
        )
    if facts.promise_due_today:
        reasons.append(
            ScoreReason(
                "promise_due_today",
                PROMISE_DUE_TODAY,
                Message(N_("A promise to pay is due today.")),
            )
        )
    if facts.promise_broken:
        reasons.append(
            ScoreReason(
                "promise_broken",
                PROMISE_BROKEN,
                Message(N_("A promise to pay was broken yesterday.")),
            )
        )
    points = balance_points(facts.balance, facts.stage_weight)
    reasons.append(
        ScoreReason(
            "balance_stage",
            points,
            Message(
                N_("Balance {balance} at stage weight {weight}."),
                {"balance": facts.balance, "weight": facts.stage_weight},
            ),
        )
    )
    if facts.days_since_contact is None:
        days, detail = MAX_DAYS_WITHOUT_CONTACT, Message(N_("Never contacted."))
    else:
        if facts.days_since_contact < 0:
            raise ValueError("days since contact are not negative")
        days = min(facts.days_since_contact, MAX_DAYS_WITHOUT_CONTACT)
        detail = Message(
            N_("{days} day(s) since the last contact."), {"days": facts.days_since_contact}
        )
    reasons.append(ScoreReason("days_since_contact", days * PER_DAY_WITHOUT_CONTACT, detail))
    if facts.contactability is None:
        reasons.append(
            ScoreReason(
                "contactability",
                UNTRIED_CONTACTABILITY,
                Message(N_("The contact point was never tried.")),
            )
        )
    else:
        if not 0 <= facts.contactability <= 1:
            raise ValueError("contactability runs 0-1")
        reasons.append(
            ScoreReason(
                "contactability",
                math.floor(float(facts.contactability) * CONTACTABILITY_SCALE + 0.5),
                Message(
                    N_("The contact point reaches the debtor {share:.0%} of the time."),
                    {"share": float(facts.contactability)},
                ),
            )
        )
    if (
        facts.best_hour is not None
        and facts.local_hour is not None
        and facts.best_hour == facts.local_hour
    ):
        reasons.append(
            ScoreReason(
                "best_hour",
                BEST_HOUR,
                Message(
                    N_("{hour:02d}:00 local is the hour the point most often answers."),
                    {"hour": facts.local_hour},
                ),
            )
        )
    return Priority(facts.account_id, sum(r.points for r in reasons), tuple(reasons))


def sort_key(priority: Priority) -> tuple[int, uuid.UUID]:
    """Highest score first; equal scores by account id, ascending."""
    return (-priority.score, priority.account_id)


def rank(priorities: Iterable[Priority]) -> list[Priority]:
    """The priorities in working order (highest score first, ties by account id)."""
    return sorted(priorities, key=sort_key)
