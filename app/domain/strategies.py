"""Collection strategies: a partner's policy per delinquency stage, as validated data.

A strategy document holds one entry per :class:`~app.domain.stages.Stage`: the channels
allowed, contact caps per channel (stricter than the law, never looser), whether field
visits are allowed, the payment plans that may be offered and their limits, who approves a
discount of which size, what escalates an account to a team lead, how late and how short a
payment may be and still keep a promise, and the stage's weight in the work queue.

Documents arrive as JSON-like mappings (a request body, a stored JSONB value) and leave as
frozen dataclasses; :func:`document_to_json` turns them back into what is stored. Nothing
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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from typing import Any

from app.domain.compliance import RESULT_CODES, ContactChannel, StrategyLimits, pack_for
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

    broken_promises: int | None
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


# --- reading a document -------------------------------------------------------------------

_STAGE_REQUIRED = (
    "channels",
    "visits_allowed",
    "approvals",
    "escalation",
    "promises",
    "priority_weight",
)
_STAGE_POLICIES = ("older_adult_debtors_vulnerable", "calls_across_debts")
_STAGE_KEYS = frozenset((*_STAGE_REQUIRED, "caps", "plans", *_STAGE_POLICIES))
_PLAN_KEYS = (
    "max_discount_pct",
    "max_installments",
    "min_down_payment_pct",
    "max_term_extension_months",
)
_PLAN_OPTIONAL_KEYS = ("missed_installments_to_break", "days_late_to_break")
MAX_DAYS_LATE_TO_BREAK = 180


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(path, N_("must be an object"))
    return value


def _known_keys(raw: Mapping[str, Any], allowed: Sequence[str] | frozenset[str], path: str) -> None:
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        raise InvalidInput(f"{path}.{unknown[0]}", N_("not a field here"))


def _required(raw: Mapping[str, Any], key: str, path: str) -> Any:
    if raw.get(key) is None:
        raise InvalidInput(f"{path}.{key}", N_("required"))
    return raw[key]


def _int(value: Any, path: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(path, N_("must be a whole number"))
    if not low <= value <= high:
        raise InvalidInput(path, N_("must be between {low} and {high}"), {"low": low, "high": high})
    return value


def _decimal(value: Any, path: str, low: Decimal, high: Decimal) -> Decimal:
    """A number with at most two decimal places in [low, high], kept with two places."""
    if isinstance(value, bool):
        raise InvalidInput(path, N_("must be a number"))
    try:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, float | str):
            number = Decimal(str(value).strip())
        else:
            raise InvalidInput(path, N_("must be a number"))
    except InvalidOperation as exc:
        raise InvalidInput(path, N_("must be a number")) from exc
    if not number.is_finite():
        raise InvalidInput(path, N_("must be a number"))
    if not low <= number <= high:
        raise InvalidInput(path, N_("must be between {low} and {high}"), {"low": low, "high": high})
    if number != number.quantize(_CENT):
        raise InvalidInput(path, N_("at most two decimal places"))
    return number.quantize(_CENT)


def _pct_field(value: Any, path: str, high: Decimal = HUNDRED) -> Decimal:
    return _decimal(value, path, Decimal(0), high)


def _channels(value: Any, path: str) -> frozenset[ContactChannel]:
    if not isinstance(value, list | tuple | set | frozenset):
        raise InvalidInput(path, N_("must be a list of channels"))
    channels: set[ContactChannel] = set()
    for index, name in enumerate(value):
        try:
            channels.add(ContactChannel(name))
        except ValueError as exc:
            raise InvalidInput(f"{path}.{index}", N_("not a channel")) from exc
    return frozenset(channels)


def _cap_table(value: Any, path: str) -> dict[ContactChannel, ChannelCaps]:
    caps: dict[ContactChannel, ChannelCaps] = {}
    for key, raw in _mapping(value, path).items():
        try:
            channel = ContactChannel(key)
        except ValueError as exc:
            raise InvalidInput(f"{path}.{key}", N_("not a channel")) from exc
        if raw is None:
            continue
        entry = _mapping(raw, f"{path}.{key}")
        _known_keys(entry, ("per_day", "per_week"), f"{path}.{key}")
        limits = [
            None if entry.get(k) is None else _int(entry[k], f"{path}.{key}.{k}", 0, MAX_CAP)
            for k in ("per_day", "per_week")
        ]
        per_day, per_week = limits
        if per_day is not None and per_week is not None and per_day > per_week:
            raise InvalidInput(
                f"{path}.{key}.per_day",
                N_("greater than per_week ({per_week}): a day cannot allow more than its week"),
                {"per_week": per_week},
            )
        if per_day is not None or per_week is not None:
            caps[channel] = ChannelCaps(per_day, per_week)
    return caps


def _plan_limits(value: Any, path: str) -> PlanLimits:
    raw = _mapping(value, path)
    _known_keys(raw, (*_PLAN_KEYS, *_PLAN_OPTIONAL_KEYS), path)
    for key in _PLAN_KEYS:
        _required(raw, key, path)
    missed = raw.get("missed_installments_to_break")
    days_late = raw.get("days_late_to_break")
    return PlanLimits(
        max_discount_pct=_pct_field(raw["max_discount_pct"], f"{path}.max_discount_pct"),
        max_installments=_int(
            raw["max_installments"], f"{path}.max_installments", 1, MAX_INSTALLMENTS
        ),
        min_down_payment_pct=_pct_field(
            raw["min_down_payment_pct"], f"{path}.min_down_payment_pct"
        ),
        max_term_extension_months=_int(
            raw["max_term_extension_months"],
            f"{path}.max_term_extension_months",
            0,
            MAX_TERM_EXTENSION_MONTHS,
        ),
        missed_installments_to_break=2
        if missed is None
        else _int(missed, f"{path}.missed_installments_to_break", 1, MAX_INSTALLMENTS),
        days_late_to_break=30
        if days_late is None
        else _int(days_late, f"{path}.days_late_to_break", 1, MAX_DAYS_LATE_TO_BREAK),
    )


def _plan_table(value: Any, path: str) -> dict[PlanType, PlanLimits]:
    plans: dict[PlanType, PlanLimits] = {}
    for key, raw in _mapping(value, path).items():
        try:
            plan_type = PlanType(key)
        except ValueError as exc:
            raise InvalidInput(f"{path}.{key}", N_("not a plan type")) from exc
        if raw is not None:
            plans[plan_type] = _plan_limits(raw, f"{path}.{key}")
    return plans


def _approvals(value: Any, path: str) -> ApprovalLimits:
    raw = _mapping(value, path)
    keys = ("collector_up_to", "team_lead_up_to")
    _known_keys(raw, keys, path)
    collector, lead = (
        _decimal(_required(raw, k, path), f"{path}.{k}", Decimal(0), MAX_AMOUNT) for k in keys
    )
    if lead < collector:
        raise InvalidInput(
            f"{path}.team_lead_up_to",
            N_("must be at least collector_up_to ({collector}): thresholds are inverted"),
            {"collector": collector},
        )
    return ApprovalLimits(collector, lead)


def _escalation(value: Any, path: str) -> EscalationRule:
    raw = _mapping(value, path)
    _known_keys(raw, ("broken_promises", "refusal_codes"), path)
    if "broken_promises" not in raw:
        raise InvalidInput(f"{path}.broken_promises", N_("required (null: never on that count)"))
    count = raw["broken_promises"]
    broken = (
        None if count is None else _int(count, f"{path}.broken_promises", 1, MAX_BROKEN_PROMISES)
    )
    codes = raw.get("refusal_codes") or []
    if not isinstance(codes, list | tuple | set | frozenset):
        raise InvalidInput(f"{path}.refusal_codes", N_("must be a list of result codes"))
    for index, code in enumerate(codes):
        if code not in RESULT_CODES:
            raise InvalidInput(f"{path}.refusal_codes.{index}", N_("not a result code"))
    return EscalationRule(broken, frozenset(codes))


def _promises(value: Any, path: str) -> PromiseTerms:
    raw = _mapping(value, path)
    keys = ("grace_days", "tolerance_pct")
    _known_keys(raw, keys, path)
    return PromiseTerms(
        grace_days=_int(
            _required(raw, "grace_days", path), f"{path}.grace_days", 0, MAX_GRACE_DAYS
        ),
        tolerance_pct=_pct_field(
            _required(raw, "tolerance_pct", path), f"{path}.tolerance_pct", MAX_TOLERANCE_PCT
        ),
    )


def _stage_entry(value: Any, path: str) -> StageStrategy:
    raw = _mapping(value, path)
    _known_keys(raw, _STAGE_KEYS, path)
    for key in _STAGE_REQUIRED:
        _required(raw, key, path)
    visits_allowed = raw["visits_allowed"]
    if not isinstance(visits_allowed, bool):
        raise InvalidInput(f"{path}.visits_allowed", N_("must be true or false"))
    channels = _channels(raw["channels"], f"{path}.channels")
    if ContactChannel.VISIT in channels and not visits_allowed:
        raise InvalidInput(f"{path}.channels", N_("lists 'visit' while visits_allowed is false"))
    policies: dict[str, bool] = {}
    for key in _STAGE_POLICIES:
        value = raw.get(key, False)
        if not isinstance(value, bool):
            raise InvalidInput(f"{path}.{key}", N_("must be true or false"))
        policies[key] = value
    caps = _cap_table(raw.get("caps") or {}, f"{path}.caps")
    for channel in caps:
        if channel not in channels:
            raise InvalidInput(
                f"{path}.caps.{channel.value}",
                N_("has caps but is not one of the stage's channels"),
            )
    return StageStrategy(
        channels=channels,
        visits_allowed=visits_allowed,
        caps=caps,
        plans=_plan_table(raw.get("plans") or {}, f"{path}.plans"),
        approvals=_approvals(raw["approvals"], f"{path}.approvals"),
        escalation=_escalation(raw["escalation"], f"{path}.escalation"),
        promises=_promises(raw["promises"], f"{path}.promises"),
        priority_weight=_pct_field(raw["priority_weight"], f"{path}.priority_weight"),
        older_adult_debtors_vulnerable=policies["older_adult_debtors_vulnerable"],
        calls_across_debts=policies["calls_across_debts"],
    )


def parse_document(
    raw: Mapping[str, Any], *, base: StrategyDocument = DEFAULT, field: str = "body"
) -> StrategyDocument:
    """A document from its JSON form (``{"stages": {stage: entry}}``), each entry checked on
    its own (shape, ranges, consistency), stages left out taken from ``base``. The law is
    not consulted here: see :func:`check_law` and :func:`validate_document`."""
    _known_keys(_mapping(raw, field), ("stages",), field)
    path = f"{field}.stages"
    given = _mapping(raw.get("stages") or {}, path)
    unknown = sorted(str(k) for k in given if k not in {s.value for s in Stage})
    if unknown:
        raise InvalidInput(f"{path}.{unknown[0]}", N_("not a delinquency stage"))
    return StrategyDocument(
        stages={
            stage: base[stage]
            if given.get(stage.value) is None
            else _stage_entry(given[stage.value], f"{path}.{stage.value}")
            for stage in Stage
        }
    )


def check_law(document: StrategyDocument, country: str, field: str = "body") -> None:
    """Refuse what is looser than the law of ``country``: field visits where its rule pack
    forbids them, and any cap above the pack's frequency caps."""
    pack = pack_for(country)
    for stage, entry in document.stages.items():
        if entry.visits_allowed and not pack.visits_allowed:
            raise InvalidInput(
                f"{field}.stages.{stage.value}.visits_allowed",
                N_("looser than the law in {country}: it forbids field visits"),
                {"country": country},
            )
        for channel, caps in entry.caps.items():
            path = f"{field}.stages.{stage.value}.caps.{channel.value}"
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


def validate_document(
    raw: Mapping[str, Any], country: str, field: str = "body"
) -> StrategyDocument:
    """A partner's new strategy from a request: checked entry by entry and against the law
    of the partner's country; stages left out take the country's default entry."""
    document = parse_document(raw, base=default_for(country), field=field)
    check_law(document, country, field)
    return document


def document_from_json(data: Mapping[str, Any]) -> StrategyDocument:
    """A stored document (validated when it was written)."""
    return parse_document(data, field="document")


def _decimal_json(value: Decimal) -> str:
    return str(value.quantize(_CENT))


def _stage_json(entry: StageStrategy) -> dict[str, Any]:
    return {
        "channels": [c.value for c in ContactChannel if c in entry.channels],
        "caps": {
            c.value: {"per_day": entry.caps[c].per_day, "per_week": entry.caps[c].per_week}
            for c in ContactChannel
            if c in entry.caps
        },
        "visits_allowed": entry.visits_allowed,
        "plans": {
            p.value: {
                "max_discount_pct": _decimal_json(entry.plans[p].max_discount_pct),
                "max_installments": entry.plans[p].max_installments,
                "min_down_payment_pct": _decimal_json(entry.plans[p].min_down_payment_pct),
                "max_term_extension_months": entry.plans[p].max_term_extension_months,
                "missed_installments_to_break": entry.plans[p].missed_installments_to_break,
                "days_late_to_break": entry.plans[p].days_late_to_break,
            }
            for p in PlanType
            if p in entry.plans
        },
        "approvals": {
            "collector_up_to": _decimal_json(entry.approvals.collector_up_to),
            "team_lead_up_to": _decimal_json(entry.approvals.team_lead_up_to),
        },
        "escalation": {
            "broken_promises": entry.escalation.broken_promises,
            "refusal_codes": sorted(entry.escalation.refusal_codes),
        },
        "promises": {
            "grace_days": entry.promises.grace_days,
            "tolerance_pct": _decimal_json(entry.promises.tolerance_pct),
        },
        "priority_weight": _decimal_json(entry.priority_weight),
        "older_adult_debtors_vulnerable": entry.older_adult_debtors_vulnerable,
        "calls_across_debts": entry.calls_across_debts,
    }


def document_to_json(document: StrategyDocument) -> dict[str, Any]:
    """The stored form: every stage, in order; decimals as strings; sorted lists."""
    return {"stages": {stage.value: _stage_json(document[stage]) for stage in Stage}}


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
