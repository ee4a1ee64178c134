"""Collection strategies: a partner's policy per delinquency stage, as validated data.

A strategy document holds one entry per :class:`~app.domain.stages.Stage`: the channels
allowed, contact caps per channel (stricter than the law, never looser), whether field
visits are allowed, the payment plans that may be offered and their limits, who approves a
discount of which size, what escalates an account to a team lead, how late and how short a
payment may be and still keep a promise, and the stage's weight in the work queue.

A document is these frozen dataclasses and nothing else: the API's schemas
(``app/schemas/strategies.py``) check a request's shape and ranges, and the stored JSON is
these types as pydantic validates and dumps them (``app/services/strategies.py``). Nothing
here does I/O: services load documents, this module checks and evaluates them.

Choices made here:

- Every stage entry is complete: ``channels``, ``visits_allowed``, ``approvals``,
  ``escalation``, ``promises`` and ``priority_weight`` are required; ``caps`` and ``plans``
  may be left out (no cap of the strategy's own, no plan offered). A stage left out of a
  document takes the default strategy's entry for that stage.
- A document is checked against the law of the partner's country (:func:`pack_for`): a
  daily cap above the law's daily cap, or above its weekly cap, and a weekly cap above the
  law's weekly cap are refused, and so are field visits where the law forbids them
  (Colombia). Stages without caps of their own are not "looser": the law still applies at
  every contact check. Rules the law states per contact rather than as a count (Colombia's
  "no second contact that day after a direct one") are the contact check's, not a cap's.
- :data:`DEFAULT` is written for a Mexican agency, where the law sets no frequency caps. For
  a partner in another country the default is :func:`default_for` that country: the same
  policy with each cap lowered to the law's and without visits where they are forbidden, so
  the default is valid everywhere.
- Percentages, amounts and weights keep two decimal places (stored as decimal strings).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from functools import cache

from app.domain.contact_check import ContactChannel, StrategyLimits, pack_for
from app.domain.errors import InvalidInput
from app.domain.roles import Role
from app.domain.stages import Stage
from app.i18n import N_

# Where the law's frequency caps are read: per day and per rolling week.
DAY, WEEK = 1, 7

MAX_CAP = 1000  # contacts by one channel in a period: more is a typo, not a policy
MAX_INSTALLMENTS = 360
MAX_TERM_EXTENSION_MONTHS = 360
MAX_BROKEN_PROMISES = 99
MAX_GRACE_DAYS = 30
MAX_TOLERANCE_PCT = Decimal(50)
HUNDRED = Decimal(100)
MAX_AMOUNT = Decimal("9999999999999999.99")  # NUMERIC(18,2)
_CENT = Decimal("0.01")


class PlanType(StrEnum):
    REGULARIZATION = "regularization"  # programa de regularización: arrears in installments
    RESTRUCTURING = "restructuring"  # reestructura: new terms on the outstanding balance
    SETTLEMENT = "settlement"  # liquidación con quita: less than owed, closes the debt


@dataclass(frozen=True, slots=True)
class ChannelCaps:
    """The strategy's own caps on one channel; ``None`` leaves that period to the law."""

    per_day: int | None = None
    per_week: int | None = None


@dataclass(frozen=True, slots=True)
class PlanLimits:
    max_discount_pct: Decimal
    max_installments: int
    min_down_payment_pct: Decimal
    max_term_extension_months: int
    # When a plan agreed under these limits breaks: this many installments missed, or one
    # more than this many days late (the floors Mexican collection commonly applies).
    missed_installments_to_break: int = 2
    days_late_to_break: int = 30


@dataclass(frozen=True, slots=True)
class ApprovalLimits:
    """Discounts up to ``collector_up_to`` a collector grants; up to ``team_lead_up_to`` a
    team lead approves; above it a manager. Amounts in the partner's currency."""

    collector_up_to: Decimal
    team_lead_up_to: Decimal


@dataclass(frozen=True, slots=True)
class EscalationRule:
    """Escalate to a team lead after ``broken_promises`` broken promises (``None``: never on
    that count) or on an interaction with one of ``refusal_codes``."""

    broken_promises: int | None = None
    refusal_codes: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PromiseTerms:
    """A payment up to ``grace_days`` after the promised date and short of the promised
    amount by at most ``tolerance_pct`` percent still keeps the promise."""

    grace_days: int
    tolerance_pct: Decimal


@dataclass(frozen=True, slots=True)
class StageStrategy:
    channels: frozenset[ContactChannel]
    visits_allowed: bool
    approvals: ApprovalLimits
    escalation: EscalationRule
    promises: PromiseTerms
    priority_weight: Decimal
    caps: Mapping[ContactChannel, ChannelCaps] = field(default_factory=dict)
    plans: Mapping[PlanType, PlanLimits] = field(default_factory=dict)
    # Contact policies stricter than any law (reasons labelled `policy`, never law): no
    # collection contact with debtors aged 60 or over; the law's per-debt call caps (Reg F)
    # counted over all the debtor's debts and everyone reached.
    older_adult_debtors_vulnerable: bool = False
    calls_across_debts: bool = False


@dataclass(frozen=True, slots=True)
class StrategyDocument:
    """One entry per stage, every stage present."""

    stages: Mapping[Stage, StageStrategy]

    def __getitem__(self, stage: Stage) -> StageStrategy:
        return self.stages[stage]


# --- the default --------------------------------------------------------------------------


def _pct(value: str) -> Decimal:
    return Decimal(value).quantize(_CENT)


def _caps(**caps: tuple[int, int]) -> dict[ContactChannel, ChannelCaps]:
    return {ContactChannel(name): ChannelCaps(day, week) for name, (day, week) in caps.items()}


def _plan(discount: str, installments: int, down: str, extension: int) -> PlanLimits:
    return PlanLimits(_pct(discount), installments, _pct(down), extension)


_PROMISES = PromiseTerms(grace_days=3, tolerance_pct=_pct("5"))
_ESCALATE = EscalationRule(broken_promises=2, refusal_codes=frozenset({"RPC_REFUSE"}))
_REMOTE = (ContactChannel.CALL, ContactChannel.SMS, ContactChannel.EMAIL, ContactChannel.WHATSAPP)
_REMOTE_CAPS = {"call": (3, 10), "sms": (2, 6), "email": (1, 5), "whatsapp": (2, 6)}
_FIELD_CAPS = _REMOTE_CAPS | {"letter": (1, 1), "visit": (1, 2)}


def _late_stage(
    plans: Mapping[PlanType, PlanLimits], approvals: tuple[str, str], weight: str
) -> StageStrategy:
    return StageStrategy(
        channels=frozenset((*_REMOTE, ContactChannel.LETTER, ContactChannel.VISIT)),
        visits_allowed=True,
        caps=_caps(**_FIELD_CAPS),
        plans=dict(plans),
        approvals=ApprovalLimits(_pct(approvals[0]), _pct(approvals[1])),
        escalation=_ESCALATE,
        promises=_PROMISES,
        priority_weight=_pct(weight),
    )


# For a Mexican agency: reminders while current; calls and messages from the first day past
# due (3 calls a day, 10 a week); letters from mid, field visits from late; regularization
# early, restructuring from mid, settlements from nonaccrual on with bigger discounts at
# charge-off; two broken promises or a refusal escalate; 3 days' grace and 5% tolerance.
DEFAULT = StrategyDocument(
    stages={
        Stage.CURRENT: StageStrategy(
            channels=frozenset({ContactChannel.SMS, ContactChannel.EMAIL, ContactChannel.WHATSAPP}),
            visits_allowed=False,
            caps=_caps(sms=(1, 2), email=(1, 3), whatsapp=(1, 2)),
            plans={},
            approvals=ApprovalLimits(_pct("0"), _pct("0")),
            escalation=EscalationRule(broken_promises=2),
            promises=_PROMISES,
            priority_weight=_pct("5"),
        ),
        Stage.EARLY: StageStrategy(
            channels=frozenset(_REMOTE),
            visits_allowed=False,
            caps=_caps(**_REMOTE_CAPS),
            plans={PlanType.REGULARIZATION: _plan("0", 3, "10", 0)},
            approvals=ApprovalLimits(_pct("500"), _pct("2000")),
            escalation=_ESCALATE,
            promises=_PROMISES,
            priority_weight=_pct("40"),
        ),
        Stage.MID: StageStrategy(
            channels=frozenset((*_REMOTE, ContactChannel.LETTER)),
            visits_allowed=False,
            caps=_caps(**_REMOTE_CAPS, letter=(1, 1)),
            plans={
                PlanType.REGULARIZATION: _plan("5", 6, "10", 0),
                PlanType.RESTRUCTURING: _plan("0", 24, "5", 12),
            },
            approvals=ApprovalLimits(_pct("1000"), _pct("5000")),
            escalation=_ESCALATE,
            promises=_PROMISES,
            priority_weight=_pct("60"),
        ),
        Stage.LATE: _late_stage(
            {
                PlanType.REGULARIZATION: _plan("10", 6, "10", 0),
                PlanType.RESTRUCTURING: _plan("5", 36, "5", 24),
            },
            ("2000", "10000"),
            "80",
        ),
        Stage.NONACCRUAL: _late_stage(
            {
                PlanType.RESTRUCTURING: _plan("10", 48, "10", 24),
                PlanType.SETTLEMENT: _plan("30", 6, "20", 0),
            },
            ("5000", "25000"),
            "100",
        ),
        Stage.CHARGEOFF: _late_stage(
            {
                PlanType.RESTRUCTURING: _plan("20", 48, "10", 36),
                PlanType.SETTLEMENT: _plan("60", 12, "10", 0),
            },
            ("10000", "50000"),
            "50",
        ),
    }
)
DEFAULT_VERSION = 0


def _within_law(country: str, channel: ContactChannel, caps: ChannelCaps) -> ChannelCaps:
    pack = pack_for(country)
    day, week = pack.law_cap(channel, DAY), pack.law_cap(channel, WEEK)
    per_day, per_week = caps.per_day, caps.per_week
    if per_day is not None:
        per_day = min(c for c in (per_day, day, week) if c is not None)
    if per_week is not None and week is not None:
        per_week = min(per_week, week)
    return ChannelCaps(per_day, per_week)


def _entry_within_law(country: str, entry: StageStrategy) -> StageStrategy:
    caps = {ch: _within_law(country, ch, c) for ch, c in entry.caps.items()}
    if pack_for(country).visits_allowed:
        return replace(entry, caps=caps)
    return replace(
        entry,
        channels=entry.channels - {ContactChannel.VISIT},
        caps={ch: c for ch, c in caps.items() if ch is not ContactChannel.VISIT},
        visits_allowed=False,
    )


@cache
def default_for(country: str) -> StrategyDocument:
    """The default strategy for a partner in ``country``: :data:`DEFAULT` with every cap
    lowered to the law's where the law is stricter, and without field visits where the law
    forbids them (for Mexico, :data:`DEFAULT` itself)."""
    return StrategyDocument(
        stages={stage: _entry_within_law(country, e) for stage, e in DEFAULT.stages.items()}
    )


# --- checking a document ------------------------------------------------------------------
#
# A document's shape and ranges are checked where it arrives (the API's schemas; a stored
# document was checked when it was written). What is checked here is what no field alone
# can say: how an entry's fields agree with each other, and the law of the country.

MAX_DAYS_LATE_TO_BREAK = 180


def check_entry(entry: StageStrategy, path: str) -> None:
    """Refuse a stage entry whose fields contradict each other: a visit channel without
    visits allowed, caps on a channel the stage does not use, a day allowing more than its
    week, approval thresholds in the wrong order. ``path`` names the entry in errors."""
    if ContactChannel.VISIT in entry.channels and not entry.visits_allowed:
        raise InvalidInput(f"{path}.channels", N_("lists 'visit' while visits_allowed is false"))
    for channel in ContactChannel:
        caps = entry.caps.get(channel)
        if caps is None:
            continue
        if channel not in entry.channels:
            raise InvalidInput(
                f"{path}.caps.{channel.value}",
                N_("has caps but is not one of the stage's channels"),
            )
        if caps.per_day is not None and caps.per_week is not None and caps.per_day > caps.per_week:
            raise InvalidInput(
                f"{path}.caps.{channel.value}.per_day",
                N_("greater than per_week ({per_week}): a day cannot allow more than its week"),
                {"per_week": caps.per_week},
            )
    if entry.approvals.team_lead_up_to < entry.approvals.collector_up_to:
        raise InvalidInput(
            f"{path}.approvals.team_lead_up_to",
            N_("must be at least collector_up_to ({collector}): thresholds are inverted"),
            {"collector": entry.approvals.collector_up_to},
        )


def with_entries(
    base: StrategyDocument, entries: Mapping[Stage, StageStrategy]
) -> StrategyDocument:
    """``base`` with the stages of ``entries`` replaced by theirs. A cap entry that caps
    neither period is no cap: it is left out."""
    given = {
        stage: replace(
            entry,
            caps={
                ch: c
                for ch, c in entry.caps.items()
                if c.per_day is not None or c.per_week is not None
            },
        )
        for stage, entry in entries.items()
    }
    return StrategyDocument(stages={stage: given.get(stage, base[stage]) for stage in Stage})


def check_law(document: StrategyDocument, country: str) -> None:
    """Refuse what is looser than the law of ``country``: field visits where its rule pack
    forbids them, and any cap above the pack's frequency caps."""
    pack = pack_for(country)
    for stage, entry in document.stages.items():
        if entry.visits_allowed and not pack.visits_allowed:
            raise InvalidInput(
                f"stages.{stage.value}.visits_allowed",
                N_("looser than the law in {country}: it forbids field visits"),
                {"country": country},
            )
        for channel, caps in entry.caps.items():
            path = f"stages.{stage.value}.caps.{channel.value}"
            day, week = pack.law_cap(channel, DAY), pack.law_cap(channel, WEEK)
            if caps.per_day is not None:
                if day is not None and caps.per_day > day:
                    raise InvalidInput(
                        f"{path}.per_day",
                        N_("looser than the law in {country}: at most {day} a day by {channel}"),
                        {"country": country, "day": day, "channel": channel, **{"law_cap": day}},
                    )
                if week is not None and caps.per_day > week:
                    raise InvalidInput(
                        f"{path}.per_day",
                        N_("looser than the law in {country}: at most {week} a week by {channel}"),
                        {"country": country, "week": week, "channel": channel, **{"law_cap": week}},
                    )
            if caps.per_week is not None and week is not None and caps.per_week > week:
                raise InvalidInput(
                    f"{path}.per_week",
                    N_("looser than the law in {country}: at most {week} a week by {channel}"),
                    {"country": country, "week": week, "channel": channel, **{"law_cap": week}},
                )


def validate_document(entries: Mapping[Stage, StageStrategy], country: str) -> StrategyDocument:
    """A partner's new strategy: the country's default with ``entries`` in place of its
    stages, each entry checked for consistency and the whole against the law of
    ``country``."""
    for stage, entry in entries.items():
        check_entry(entry, f"stages.{stage.value}")
    document = with_entries(default_for(country), entries)
    check_law(document, country)
    return document


# --- evaluating a document ----------------------------------------------------------------


def limits_for(document: StrategyDocument, stage: Stage, version: int) -> StrategyLimits:
    """What the contact rules need of the strategy for an account in ``stage``."""
    entry = document[stage]
    return StrategyLimits(
        allowed_channels=entry.channels,
        per_day={c: caps.per_day for c, caps in entry.caps.items() if caps.per_day is not None},
        per_week={c: caps.per_week for c, caps in entry.caps.items() if caps.per_week is not None},
        visits_allowed=entry.visits_allowed,
        version=version,
        older_adult_debtors_vulnerable=entry.older_adult_debtors_vulnerable,
        calls_across_debts=entry.calls_across_debts,
    )


def promise_terms(document: StrategyDocument, stage: Stage) -> PromiseTerms:
    return document[stage].promises


def escalation_rule(document: StrategyDocument, stage: Stage) -> EscalationRule:
    return document[stage].escalation


def plan_limits(document: StrategyDocument, stage: Stage, plan_type: PlanType) -> PlanLimits | None:
    """The limits of ``plan_type`` in ``stage``; ``None`` when it may not be offered."""
    return document[stage].plans.get(plan_type)


def approver_for(document: StrategyDocument, stage: Stage, discount_amount: Decimal) -> Role:
    """Who approves a plan granting ``discount_amount`` off the debt: a collector up to their
    limit (included), a team lead up to theirs (included), a manager above."""
    if discount_amount < 0:
        raise ValueError("a discount cannot be negative")
    approvals = document[stage].approvals
    if discount_amount <= approvals.collector_up_to:
        return Role.COLLECTOR
    if discount_amount <= approvals.team_lead_up_to:
        return Role.TEAM_LEAD
    return Role.MANAGER
