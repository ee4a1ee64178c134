"""May this person be contacted now, by this channel? The pure pre-contact check.

:func:`check_contact` weighs a :class:`ContactRequest` (the moment, channel, party, the
contact point's time zone, the account's and debtor's state, the debtor's recent contacts
over all their accounts, the partner's strategy limits) against a country's
:class:`~app.domain.packs.RulePack` and answers a :class:`Decision`: allowed or not, every
reason with whether it is *hard* (the law or a debtor's standing request forbids it, so an
interaction that breaks it must not be recorded), the next moment the same contact would be
allowed, and what may be said to whom.

Time is a parameter: nothing here reads the clock. Every window is evaluated in the request's
IANA zone, including the weekday and the holiday date.

Choices made here:

- Reasons are *standing* (the account's status, a pause, the debtor's flags, consent,
  opt-outs, the party or channel being barred, an invalid contact point, the strategy's
  channels) or *timed* (hours, days, holidays, frequency caps and after-contact rules, the
  strategy's caps). ``next_allowed_at`` is computed only when every reason is timed: it is
  the earliest instant at or after the request's at which the same request, same history,
  is allowed, looked for up to :data:`HORIZON` ahead (None if none).
- A paused account (dispute, hardship, legal agreement), an invalid contact point and the
  strategy's limits are soft (refused, but not against the law); a dispute flag is hard
  where the law stops collection on dispute (US), soft elsewhere.
- Cease-contact, deceased and insolvency (the claim goes through the proceeding) stop
  contact with every party; a ``vulnerable`` flag recorded by staff does not stop contact (it
  is shown on the profile and the work queue, for care); an attorney, and in Mexico a
  minor or an older adult, stop contact with the debtor and with references (a guarantor is
  an obligor of their own and may still be contacted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.domain.errors import InvalidInput
from app.domain.packs import (
    PACKS,
    WEEKDAYS,
    AfterContactRule,
    Channel,
    DebtorFlag,
    FrequencyCap,
    HourWindow,
    Party,
    ReferenceRule,
    RulePack,
    Trigger,
    pack_for,
)

__all__ = [
    "CONVERSATION_CODES",
    "HORIZON",
    "PACKS",
    "RESULT_CODES",
    "RIGHT_PARTY_CODES",
    "TIMED_REASONS",
    "AfterContactRule",
    "Channel",
    "ContactRequest",
    "DebtorFlag",
    "Decision",
    "FrequencyCap",
    "HourWindow",
    "Party",
    "PastContact",
    "Reason",
    "ReferenceRule",
    "RulePack",
    "StrategyLimits",
    "check_contact",
    "local_instant",
    "pack_for",
    "past_contact",
]

# The canonical result codes of a gestión (DESIGN.md, "Result codes").
RIGHT_PARTY_CODES: frozenset[str] = frozenset(
    {"RPC", "RPC_PTP", "RPC_PAID", "RPC_REFUSE", "RPC_DISPUTE", "RPC_CALLBACK"}
)
# A third-party conversation still counts as a conversation for the frequency rules.
CONVERSATION_CODES: frozenset[str] = RIGHT_PARTY_CODES | {"TPC"}
RESULT_CODES: frozenset[str] = CONVERSATION_CODES | {
    "WRONG_NUMBER",
    "NO_ANSWER",
    "VOICEMAIL",
    "BUSY",
    "DISCONNECTED",
    "DECEASED",
    "ATTORNEY",
    "CEASE_REQUEST",
    "CHANNEL_OPT_OUT",
    "ADDRESS_VERIFIED",
    "ADDRESS_NOT_FOUND",
    "MOVED",
}

# Reasons that lift with time alone; any other reason makes ``next_allowed_at`` None.
TIMED_REASONS: frozenset[str] = frozenset(
    {
        "outside_hours",
        "sunday",
        "closed_day",
        "holiday",
        "frequency_cap",
        "after_contact",
        "one_channel_a_week",
        "strategy_cap",
    }
)
HORIZON = timedelta(days=60)
STRATEGY_WEEK_DAYS = 7


@dataclass(frozen=True, slots=True)
class PastContact:
    """One earlier attempt or contact with this debtor, over all their accounts and partners."""

    at: datetime  # aware
    channel: Channel
    party: Party
    conversation: bool  # the person was reached (RPC* or TPC)
    direct: bool  # the debtor themself was reached (RPC*)


def past_contact(at: datetime, channel: Channel, party: Party, result_code: str) -> PastContact:
    """A recorded gestión as history for the rules, from its result code."""
    return PastContact(
        at=at,
        channel=channel,
        party=party,
        conversation=result_code in CONVERSATION_CODES,
        direct=result_code in RIGHT_PARTY_CODES,
    )


@dataclass(frozen=True, slots=True)
class StrategyLimits:
    """What the partner's strategy says for the account's stage (None fields: no limit)."""

    allowed_channels: frozenset[Channel] | None = None  # None = every channel
    per_day: Mapping[Channel, int] = field(default_factory=dict)
    per_week: Mapping[Channel, int] = field(default_factory=dict)
    visits_allowed: bool = True
    version: int | None = None


@dataclass(frozen=True, slots=True)
class ContactRequest:
    at: datetime  # aware; the moment of the contact
    channel: Channel
    party: Party
    time_zone: str  # IANA zone of the contact point (or the debtor's)
    account_status: str  # active | recalled | closed (anything but active forbids contact)
    paused: bool  # a delinquency pause covers `at` (dispute/hardship/legal)
    flags: frozenset[DebtorFlag]
    consented_channels: frozenset[Channel] | None  # None = never asked
    opted_out_channels: frozenset[Channel]
    history: Sequence[PastContact]
    strategy: StrategyLimits = StrategyLimits()
    contact_point_valid: bool = True


@dataclass(frozen=True, slots=True)
class Reason:
    code: str  # stable machine code, e.g. "outside_hours"
    message: str  # short English text
    hard: bool  # breaking it is prohibited: an interaction that breaks it must be refused


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reasons: tuple[Reason, ...]  # empty when allowed
    next_allowed_at: datetime | None  # aware UTC; None when allowed now or never
    script: str  # what may be said to this party
    pack_version: str


def check_contact(pack: RulePack, request: ContactRequest) -> Decision:
    """Whether ``request`` is allowed under ``pack``, why not, and when it next would be."""
    zone = _zone(request.time_zone)
    at = _utc(request.at, "at")
    seen = _seen(pack, request, zone, at)
    reasons = _standing_reasons(pack, request)
    timed = _timed_reasons(pack, request, zone, at, seen)
    script = pack.script_for(request.party)
    if not reasons and not timed:
        return Decision(True, (), None, script, pack.version)
    next_at = None if reasons else _next_allowed(pack, request, zone, at, seen)
    return Decision(False, (*reasons, *timed), next_at, script, pack.version)


def local_instant(zone: ZoneInfo, day: date, minutes: int) -> datetime:
    """The first instant (UTC) at which the wall clock in ``zone`` reads ``minutes`` after
    midnight of ``day`` or later: where the clocks jump over that time, the jump itself."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minutes)
    guess = wall.replace(tzinfo=zone).astimezone(UTC)
    if guess.astimezone(zone).replace(tzinfo=None) == wall:
        return guess  # fold=0: the first of two, where the clocks went back
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = int(min(guess, other).timestamp()), int(max(guess, other).timestamp())
    while high - low > 1:  # wall(low) < wall <= wall(high); transitions fall on whole seconds
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


# --- standing reasons --------------------------------------------------------------------


def _standing_reasons(pack: RulePack, request: ContactRequest) -> list[Reason]:
    reasons: list[Reason] = []
    party, channel, flags = request.party, request.channel, request.flags
    status = request.account_status
    if status != "active":
        code = f"account_{status}" if status in ("recalled", "closed") else "account_inactive"
        reasons.append(Reason(code, f"The account is {status}: no collection contact.", True))
    if request.paused:
        reasons.append(
            Reason(
                "account_paused", "A pause (dispute, hardship or legal) covers this date.", False
            )
        )
    if DebtorFlag.CEASE_CONTACT in flags:
        reasons.append(Reason("cease_contact", "The debtor asked that contact cease.", True))
    if DebtorFlag.DECEASED in flags:
        reasons.append(Reason("deceased", "The debtor is deceased.", True))
    if DebtorFlag.ATTORNEY in flags and party is not Party.GUARANTOR:
        reasons.append(
            Reason("attorney", "The debtor has an attorney: contact the attorney instead.", True)
        )
    if DebtorFlag.INSOLVENCY in flags:
        reasons.append(
            Reason(
                "insolvency",
                "The debtor is under an insolvency proceeding: the claim goes through it.",
                True,
            )
        )
    if DebtorFlag.DISPUTE in flags:
        reasons.append(
            Reason(
                "dispute",
                "The debt is disputed: resolve the dispute before collecting.",
                pack.dispute_is_hard,
            )
        )
    vulnerable = flags & pack.vulnerable_flags
    if vulnerable and party is not Party.GUARANTOR:
        kinds = " and ".join(sorted(f.value.replace("_", " ") for f in vulnerable))
        reasons.append(
            Reason("vulnerable_person", f"No collection with a {kinds} in {pack.country}.", True)
        )
    if party is Party.REFERENCE and pack.references is ReferenceRule.FORBIDDEN:
        reasons.append(
            Reason(
                "third_party_prohibited",
                f"References may not be contacted in {pack.country}.",
                True,
            )
        )
    if channel in request.opted_out_channels:
        reasons.append(Reason("channel_opted_out", f"The debtor opted out of {channel}.", True))
    if pack.consent_required and (
        request.consented_channels is None or channel not in request.consented_channels
    ):
        reasons.append(
            Reason(
                "channel_not_consented",
                f"The debtor has not authorised contact by {channel} ({pack.country}).",
                True,
            )
        )
    if channel is Channel.VISIT and not pack.visits_allowed:
        reasons.append(
            Reason(
                "visits_prohibited", f"Home and work visits are prohibited in {pack.country}.", True
            )
        )
    if not request.contact_point_valid:
        reasons.append(
            Reason("invalid_contact_point", "The contact point is marked invalid.", False)
        )
    strategy = request.strategy
    if strategy.allowed_channels is not None and channel not in strategy.allowed_channels:
        reasons.append(
            Reason(
                "channel_not_in_strategy",
                f"The strategy for this stage does not use {channel}.",
                False,
            )
        )
    elif channel is Channel.VISIT and not strategy.visits_allowed:
        reasons.append(
            Reason(
                "channel_not_in_strategy",
                "The strategy for this stage allows no field visits.",
                False,
            )
        )
    return reasons


# --- timed reasons -----------------------------------------------------------------------


class _Seen(NamedTuple):
    """A past contact as the timed rules read it: its instant in UTC, its local date."""

    at: datetime
    day: date
    channel: Channel
    conversation: bool
    direct: bool


def _seen(pack: RulePack, request: ContactRequest, zone: ZoneInfo, at: datetime) -> list[_Seen]:
    """The history that can still count at ``at`` or later, oldest first."""
    longest = max(
        (
            2,
            *(cap.period_days for cap in pack.caps),
            *(cap.min_days_between + 2 for cap in pack.caps),
            *(rule.days for rule in pack.after_contact),
            STRATEGY_WEEK_DAYS,
        )
    )
    since = at - timedelta(days=longest + 1)
    seen = []
    for past in request.history:
        moment = _utc(past.at, "history.at")
        if moment > since:
            seen.append(
                _Seen(
                    moment,
                    moment.astimezone(zone).date(),
                    past.channel,
                    past.conversation,
                    past.direct,
                )
            )
    seen.sort()
    return seen


def _timed_reasons(
    pack: RulePack,
    request: ContactRequest,
    zone: ZoneInfo,
    at: datetime,
    seen: Sequence[_Seen],
    *,
    first_only: bool = False,
) -> list[Reason]:
    reasons: list[Reason] = []
    channel = request.channel
    local = at.astimezone(zone)
    today = local.date()
    past = [s for s in seen if s.at <= at]

    if channel not in pack.untimed_channels:
        reason = _window_reason(pack, local)
        if reason is not None:
            reasons.append(reason)
            if first_only:
                return reasons

    for cap in pack.caps:
        if channel not in cap.channels:
            continue
        counted = [s for s in past if s.channel in cap.channels]
        in_period = [s for s in counted if _within(s, at, today, cap.period_days)]
        names = "/".join(sorted(cap.channels))
        if len(in_period) >= cap.limit:
            period = "a day" if cap.period_days == 1 else f"in {cap.period_days} days"
            reasons.append(
                Reason(
                    "frequency_cap",
                    f"The law of {pack.country} allows {cap.limit} {names} contact(s) {period}.",
                    True,
                )
            )
        elif cap.min_days_between and any(
            (today - s.day).days <= cap.min_days_between for s in counted
        ):
            reasons.append(
                Reason(
                    "frequency_cap",
                    f"The law of {pack.country} requires {cap.min_days_between} whole days "
                    f"between {names} contacts.",
                    True,
                )
            )
        if first_only and reasons:
            return reasons

    for rule in pack.after_contact:
        reason = _after_contact_reason(rule, channel, past, at, today)
        if reason is not None:
            reasons.append(reason)
            if first_only:
                return reasons

    strategy = request.strategy
    day_cap = strategy.per_day.get(channel)
    if day_cap is not None and sum(1 for s in past if s.channel is channel and s.day == today) >= (
        day_cap
    ):
        reasons.append(
            Reason(
                "strategy_cap", f"The strategy allows {day_cap} {channel} contact(s) a day.", False
            )
        )
    week_cap = strategy.per_week.get(channel)
    if (
        week_cap is not None
        and sum(
            1 for s in past if s.channel is channel and _within(s, at, today, STRATEGY_WEEK_DAYS)
        )
        >= week_cap
    ):
        reasons.append(
            Reason(
                "strategy_cap",
                f"The strategy allows {week_cap} {channel} contact(s) a week.",
                False,
            )
        )
    return reasons


def _window_reason(pack: RulePack, local: datetime) -> Reason | None:
    weekday = local.weekday()
    window = pack.window_on(weekday)
    if window is None:
        if weekday == 6:
            return Reason("sunday", f"No contact on Sundays in {pack.country}.", True)
        return Reason("closed_day", f"No contact on {_day_name(local)}s in {pack.country}.", True)
    holiday = pack.holiday_on(local.date())
    if holiday is not None:
        return Reason(
            "holiday",
            f"{local.date().isoformat()} is a holiday in {pack.country} ({holiday}).",
            True,
        )
    if not window.contains(local.hour * 60 + local.minute):
        return Reason(
            "outside_hours",
            f"Contact in {pack.country} only {window.label} local time on {_day_name(local)}s.",
            True,
        )
    return None


def _day_name(local: datetime) -> str:
    return WEEKDAYS[local.weekday()].capitalize()


def _within(seen: _Seen, at: datetime, today: date, days: int) -> bool:
    """Whether ``seen`` falls in the period of ``days`` ending at ``at``: the local day for 1
    (and for 0, "the rest of that day"), a rolling window of ``days`` × 24 hours otherwise."""
    if days <= 1:
        return seen.day == today
    return seen.at > at - timedelta(days=days)


def _after_contact_reason(
    rule: AfterContactRule, channel: Channel, past: Sequence[_Seen], at: datetime, today: date
) -> Reason | None:
    if rule.blocked_channels is not None and channel not in rule.blocked_channels:
        return None
    for seen in past:
        reached = seen.direct if rule.trigger is Trigger.DIRECT else seen.conversation
        if not reached:
            continue
        if rule.trigger_channels is not None and seen.channel not in rule.trigger_channels:
            continue
        if not _within(seen, at, today, rule.days):
            continue
        if rule.other_channels_only and seen.channel is channel:
            continue
        return Reason(rule.code, rule.description, True)
    return None


# --- the next allowed moment -------------------------------------------------------------


def _next_allowed(
    pack: RulePack,
    request: ContactRequest,
    zone: ZoneInfo,
    at: datetime,
    seen: Sequence[_Seen],
) -> datetime | None:
    """The earliest instant after ``at`` with no timed reason, within :data:`HORIZON`.

    Timed reasons lift only at a window's opening, at a local midnight (a new day, the end
    of "that day", the next calendar day of a days-between rule) or when a counted contact
    leaves a rolling period; those instants are tried in order.
    """
    horizon = at + HORIZON
    timed = request.channel not in pack.untimed_channels
    first_day = at.astimezone(zone).date()
    candidates: set[datetime] = set()
    for offset in range(HORIZON.days + 2):
        day = first_day + timedelta(days=offset)
        candidates.add(local_instant(zone, day, 0))
        window = pack.window_on(day.weekday())
        if timed and window is not None and pack.holiday_on(day) is None:
            candidates.add(local_instant(zone, day, window.start))
    periods = {cap.period_days for cap in pack.caps if cap.period_days > 1}
    periods |= {rule.days for rule in pack.after_contact if rule.days > 1}
    if request.strategy.per_week:
        periods.add(STRATEGY_WEEK_DAYS)
    for past in seen:
        for days in periods:
            candidates.add(past.at + timedelta(days=days))
    for candidate in sorted(c for c in candidates if at < c <= horizon):
        if not _timed_reasons(pack, request, zone, candidate, seen, first_only=True):
            return candidate
    return None


# --- inputs ------------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise InvalidInput("time_zone", "not an IANA time zone") from exc


def _utc(moment: datetime, field_name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(field_name, "must carry a time zone (an aware datetime)")
    return moment.astimezone(UTC)


# ---------------------------------------------------------------------------------------
# What the services need around a check: the point a channel uses, ages, several zones.

# Which kind of contact point each channel uses.
POINT_KIND: dict[Channel, str] = {
    Channel.CALL: "phone",
    Channel.SMS: "phone",
    Channel.WHATSAPP: "phone",
    Channel.EMAIL: "email",
    Channel.VISIT: "address",
    Channel.LETTER: "address",
}

ADULT_AGE = 18
# "Persona adulta mayor" from 60 (Ley de los Derechos de las Personas Adultas Mayores, art. 3).
OLDER_ADULT_AGE = 60


def age_flags(birth_date: date | None, on: date) -> frozenset[DebtorFlag]:
    """Minors and older adults, from the birth date the partner sent (Mexico's rules forbid
    collecting from them; the pack decides what the flags mean elsewhere)."""
    if birth_date is None:
        return frozenset()
    age = on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    if age < ADULT_AGE:
        return frozenset({DebtorFlag.MINOR})
    if age >= OLDER_ADULT_AGE:
        return frozenset({DebtorFlag.OLDER_ADULT})
    return frozenset()


def strictest(decisions: Sequence[Decision]) -> Decision:
    """Of the checks in each zone a person may be in, the one that says no the longest: a
    permanent no, else the latest next_allowed_at; allowed only if every zone allows."""
    denied = [d for d in decisions if not d.allowed]
    if not denied:
        return decisions[0]
    permanent = [d for d in denied if d.next_allowed_at is None]
    if permanent:
        return permanent[0]
    return max(denied, key=lambda d: d.next_allowed_at or datetime.min.replace(tzinfo=UTC))
