"""May this person be contacted now, by this channel? The pure pre-contact check.

:func:`check_contact` weighs a :class:`ContactRequest` (the moment, channel, party, the
contact point's time zone, the account's and debtor's state, the debtor's recent contacts
over all their accounts, the partner's strategy limits) against a country's
:class:`~app.domain.contact_check_packs.RulePack` and answers a :class:`Decision`: allowed
or not, every reason with whether it is *hard* (the law or a debtor's standing request
forbids it, so an interaction that breaks it must not be recorded), the next moment the
same contact would be allowed, and what may be said to whom.

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

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.domain.contact_check_packs import (
    CHANNEL_WORDS,
    ON_WEEKDAYS,
    OPERATOR_SOURCE,
    PACKS,
    AfterContactRule,
    ContactChannel,
    DebtorFlag,
    FrequencyCap,
    HourWindow,
    Party,
    ReferenceRule,
    RulePack,
    Trigger,
    channel_words,
    pack_for,
)
from app.domain.errors import InvalidInput
from app.i18n import N_, Message

__all__ = [
    "CONVERSATION_CODES",
    "HORIZON",
    "PACKS",
    "REASON_CODES",
    "RESULT_CODES",
    "RIGHT_PARTY_CODES",
    "TIMED_REASONS",
    "AfterContactRule",
    "Basis",
    "ContactChannel",
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
    "window_open",
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
    channel: ContactChannel
    party: Party
    conversation: bool  # the person was reached (RPC* or TPC)
    direct: bool  # the debtor themself was reached (RPC*)
    # About the account being checked (Reg F counts calls "about a particular debt").
    same_debt: bool = True
    # With the same person as the contact being checked (the debtor, or that very reference).
    same_person: bool = True
    # Made by the agency (outbound); a call the debtor placed is no call "placed" by it.
    placed: bool = True


def party_counted(reached: str) -> Party:
    """The party a recorded gestión counts against, from its ``party_reached``: a call to
    the debtor that nobody answered (``none``) is still an attempt on the debtor."""
    return Party.DEBTOR if reached == "none" else Party(reached)


def past_contact(
    at: datetime,
    channel: ContactChannel,
    party: Party,
    result_code: str,
    *,
    same_debt: bool = True,
    same_person: bool = True,
    placed: bool = True,
) -> PastContact:
    """A recorded gestión as history for the rules, from its result code."""
    return PastContact(
        at=at,
        channel=channel,
        party=party,
        conversation=result_code in CONVERSATION_CODES,
        direct=result_code in RIGHT_PARTY_CODES,
        same_debt=same_debt,
        same_person=same_person,
        placed=placed,
    )


@dataclass(frozen=True, slots=True)
class StrategyLimits:
    """What the partner's strategy says for the account's stage (None fields: no limit)."""

    allowed_channels: frozenset[ContactChannel] | None = None  # None = every channel
    per_day: Mapping[ContactChannel, int] = field(default_factory=dict)
    per_week: Mapping[ContactChannel, int] = field(default_factory=dict)
    visits_allowed: bool = True
    version: int | None = None
    # Policy options, never the law: treat debtors aged 60+ as vulnerable (no collection
    # contact with them), and count the law's call caps over all the debtor's debts and
    # every person reached rather than per debt and person (Reg F counts per debt).
    older_adult_debtors_vulnerable: bool = False
    calls_across_debts: bool = False


@dataclass(frozen=True, slots=True)
class ContactRequest:
    at: datetime  # aware; the moment of the contact
    channel: ContactChannel
    party: Party
    time_zone: str  # IANA zone of the contact point (or the debtor's)
    account_status: str  # active | recalled | closed (anything but active forbids contact)
    paused: bool  # a delinquency pause covers `at` (dispute/hardship/legal)
    flags: frozenset[DebtorFlag]
    consented_channels: frozenset[ContactChannel] | None  # None = never asked
    opted_out_channels: frozenset[ContactChannel]
    history: Sequence[PastContact]
    strategy: StrategyLimits = StrategyLimits()
    contact_point_valid: bool = True
    # What is known of the person reached when it is not the debtor (a reference or guarantor
    # who is a minor or an older adult); the debtor's own are in ``flags``.
    party_flags: frozenset[DebtorFlag] = frozenset()


class Basis(StrEnum):
    """Why a reason stands: the country's ``law`` (with its citation) or a ``policy`` (the
    partner's strategy, the operator's stricter settings, the agency's own practice)."""

    LAW = "law"
    POLICY = "policy"


@dataclass(frozen=True, slots=True)
class Reason:
    code: str  # stable machine code, e.g. "outside_hours"
    # What a person reads, rendered in their language where it is shown (``message`` is the
    # English); an English text marked N_ without values may be given instead.
    text: Message
    hard: bool  # breaking it is prohibited: an interaction that breaks it must be refused
    basis: Basis = Basis.POLICY
    # Statute, article and paragraph; set on every law reason. Never translated: it quotes.
    citation: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, Message):
            object.__setattr__(self, "text", Message(self.text))

    @property
    def message(self) -> str:
        return str(self.text)


# Every code a contact check may give (the catalogue labels each; a property test checks
# that no check gives another).
REASON_CODES: frozenset[str] = frozenset(
    {
        # The account
        "account_recalled",
        "account_closed",
        "account_inactive",
        "account_paused",
        # The person
        "cease_contact",
        "deceased",
        "attorney",
        "dispute",
        "insolvency",
        "vulnerable_person",
        "older_adult_policy",
        "older_adult_third_party",
        "third_party_prohibited",
        "agency_safety_flag",
        # The channel and the contact point
        "channel_opted_out",
        "channel_not_consented",
        "channel_not_in_strategy",
        "visits_prohibited",
        "invalid_contact_point",
        # The clock and the count
        "sunday",
        "closed_day",
        "holiday",
        "outside_hours",
        "frequency_cap",
        "after_contact",
        "one_channel_a_week",
        "strategy_cap",
    }
)


def _text(template: str, **params: object) -> Message:
    """A reason's words: an English template marked N_ where it is written, and its values."""
    return Message(template, params)


def _law(code: str, message: Message, citation: str) -> Reason:
    """A reason the law gives: always hard, always cited."""
    return Reason(code, message, True, Basis.LAW, citation)


def _policy(code: str, message: Message, *, hard: bool = False) -> Reason:
    return Reason(code, message, hard, Basis.POLICY, None)


def _law_or_policy(pack: RulePack, code: str, message: Message, *, hard: bool) -> Reason:
    """Law where the pack cites a source for ``code``; else the agency's policy."""
    citation = pack.citations.get(code)
    if citation is not None:
        return _law(code, message, citation)
    return _policy(code, message, hard=hard)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reasons: tuple[Reason, ...]  # empty when allowed
    next_allowed_at: datetime | None  # aware UTC; None when allowed now or never
    script: str  # what may be said to this party
    pack_version: str
    time_zone: str = ""  # the zone this answer was reached in (the one that decided)


def check_contact(pack: RulePack, request: ContactRequest) -> Decision:
    """Whether ``request`` is allowed under ``pack``, why not, and when it next would be."""
    zone = _zone(request.time_zone)
    at = _utc(request.at, "at")
    seen = _seen(pack, request, zone, at)
    reasons = _standing_reasons(pack, request)
    timed = _timed_reasons(pack, request, zone, at, seen)
    script = pack.script_for(request.party)
    if not reasons and not timed:
        return Decision(True, (), None, script, pack.version, request.time_zone)
    next_at = None if reasons else _next_allowed(pack, request, zone, at, seen)
    return Decision(False, (*reasons, *timed), next_at, script, pack.version, request.time_zone)


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


def window_open(pack: RulePack, time_zone: str, at: datetime) -> bool:
    """Whether the day and hour rules (weekday, holiday, hours) let a timed channel through
    at ``at`` in ``time_zone``. A contact there is refused whatever else holds when not: the
    work queue uses this to set aside, once per zone, the accounts none of whose candidate
    zones is open."""
    return _window_check(pack, _utc(at, "at").astimezone(_zone(time_zone))) is None


# --- standing reasons --------------------------------------------------------------------


def _standing_reasons(pack: RulePack, request: ContactRequest) -> list[Reason]:
    reasons: list[Reason] = []
    party, channel, flags = request.party, request.channel, request.flags
    status = request.account_status
    if status != "active":
        code = f"account_{status}" if status in ("recalled", "closed") else "account_inactive"
        # The agency's mandate from the creditor ended: not the law, but nothing to collect.
        reasons.append(
            _policy(
                code,
                _text(
                    N_("The account's status is '{status}': no collection contact."), status=status
                ),
                hard=True,
            )
        )
    if request.paused:
        reasons.append(
            _policy(
                "account_paused",
                _text(N_("A pause (dispute, hardship or legal) covers this date.")),
            )
        )
    if DebtorFlag.CEASE_CONTACT in flags:
        reasons.append(
            _law_or_policy(
                pack, "cease_contact", _text(N_("The debtor asked that contact cease.")), hard=True
            )
        )
    if DebtorFlag.DECEASED in flags:
        reasons.append(_policy("deceased", _text(N_("The debtor is deceased.")), hard=True))
    if DebtorFlag.ATTORNEY in flags and party is not Party.GUARANTOR:
        reasons.append(
            _law_or_policy(
                pack,
                "attorney",
                _text(N_("The debtor has an attorney: contact the attorney instead.")),
                hard=True,
            )
        )
    if DebtorFlag.INSOLVENCY in flags:
        reasons.append(
            _policy(
                "insolvency",
                _text(
                    N_("The debtor is under an insolvency proceeding: the claim goes through it.")
                ),
                hard=True,
            )
        )
    if DebtorFlag.DISPUTE in flags:
        message = _text(N_("The debt is disputed: resolve the dispute before collecting."))
        if pack.dispute_is_hard:
            reasons.append(_law_or_policy(pack, "dispute", message, hard=True))
        else:
            reasons.append(_policy("dispute", message))
    reasons.extend(_vulnerable_reasons(pack, request))
    if party is Party.REFERENCE and pack.references is ReferenceRule.FORBIDDEN:
        reasons.append(
            _law_or_policy(
                pack,
                "third_party_prohibited",
                _text(N_("References may not be contacted in {country}."), country=pack.country),
                hard=True,
            )
        )
    if channel in request.opted_out_channels:
        reasons.append(
            _law_or_policy(
                pack,
                "channel_opted_out",
                _text(N_("The debtor opted out of contact by {channel}."), channel=_words(channel)),
                hard=True,
            )
        )
    if pack.consent_required and (
        request.consented_channels is None or channel not in request.consented_channels
    ):
        message = _text(
            N_("The debtor has not authorised contact by {channel} ({country})."),
            channel=_words(channel),
            country=pack.country,
        )
        citation = pack.citations.get("channel_not_consented")
        law = PACKS.get(pack.country)
        if citation is not None and law is not None and law.consent_required:
            reasons.append(_law("channel_not_consented", message, citation))
        else:  # required by the operator's stricter settings only
            reasons.append(_policy("channel_not_consented", message, hard=True))
    if channel is ContactChannel.VISIT and not pack.visits_allowed:
        message = _text(
            N_("Home and work visits are prohibited in {country}."), country=pack.country
        )
        law = PACKS.get(pack.country)
        if law is not None and not law.visits_allowed:
            reasons.append(_law_or_policy(pack, "visits_prohibited", message, hard=True))
        else:
            reasons.append(
                _policy(
                    "visits_prohibited",
                    _text(N_("The operator allows no field visits.")),
                    hard=True,
                )
            )
    if not request.contact_point_valid:
        reasons.append(
            _policy("invalid_contact_point", _text(N_("The contact point is marked invalid.")))
        )
    strategy = request.strategy
    if strategy.allowed_channels is not None and channel not in strategy.allowed_channels:
        reasons.append(
            _policy(
                "channel_not_in_strategy",
                _text(
                    N_("The strategy for this stage does not use contact by {channel}."),
                    channel=_words(channel),
                ),
            )
        )
    elif channel is ContactChannel.VISIT and not strategy.visits_allowed:
        reasons.append(
            _policy(
                "channel_not_in_strategy",
                _text(N_("The strategy for this stage allows no field visits.")),
            )
        )
    return reasons


def _vulnerable_reasons(pack: RulePack, request: ContactRequest) -> list[Reason]:
    """Minors and older adults (the pack's ``vulnerable_flags``).

    Mexico (CONDUSEF despachos rules) bars collection, negotiation or restructuring with
    minors and with older adults "a menos que este último sea el deudor": a minor debtor may
    not be collected from (nor pursued through references); an older adult who *is* the
    debtor may be; an older adult reached as a third party (a reference, a relative
    answering) may not. A guarantor is an obligor of their own: their own age counts, not
    the debtor's. Treating older-adult debtors as vulnerable is the strategy's choice, a
    soft policy reason.
    """
    reasons: list[Reason] = []
    party, flags = request.party, request.flags
    citation = pack.citations.get("vulnerable_person", "")
    if DebtorFlag.MINOR in pack.vulnerable_flags:
        minor_debtor = DebtorFlag.MINOR in flags and party is not Party.GUARANTOR
        minor_party = DebtorFlag.MINOR in request.party_flags and party is not Party.DEBTOR
        if minor_debtor or minor_party:
            message = (
                _text(N_("No collection with a minor in {country}."), country=pack.country)
                if minor_party
                else _text(
                    N_("No collection with a debtor who is a minor in {country}."),
                    country=pack.country,
                )
            )
            reasons.append(_law("vulnerable_person", message, citation))
    older_party = DebtorFlag.OLDER_ADULT in request.party_flags and party is not Party.DEBTOR
    if DebtorFlag.OLDER_ADULT in pack.vulnerable_flags and older_party:
        reasons.append(
            _law(
                "older_adult_third_party",
                _text(
                    N_("No collection with an older adult who is not the debtor in {country}."),
                    country=pack.country,
                ),
                pack.citations.get("older_adult_third_party", citation),
            )
        )
    if (
        request.strategy.older_adult_debtors_vulnerable
        and DebtorFlag.OLDER_ADULT in flags
        and party is Party.DEBTOR
    ):
        reasons.append(
            _policy(
                "older_adult_policy",
                _text(
                    N_(
                        "The strategy treats debtors aged 60 or over as vulnerable: no "
                        "collection contact (the partner's policy, not the law)."
                    )
                ),
            )
        )
    return reasons


# --- timed reasons -----------------------------------------------------------------------


class _Seen(NamedTuple):
    """A past contact as the timed rules read it: its instant in UTC, its local date."""

    at: datetime
    day: date
    channel: ContactChannel
    conversation: bool
    direct: bool
    same_debt: bool
    same_person: bool
    placed: bool


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
                    past.same_debt,
                    past.same_person,
                    past.placed,
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
        reason = _cap_reason(pack, cap, request, past, at, today)
        if reason is not None:
            reasons.append(reason)
            if first_only:
                return reasons

    for rule in pack.after_contact:
        reason = _after_contact_reason(rule, request, past, at, today)
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
                "strategy_cap",
                _text(
                    N_("The strategy allows {count} contact(s) a day by {channel}."),
                    count=day_cap,
                    channel=_words(channel),
                ),
                False,
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
                _text(
                    N_("The strategy allows {count} contact(s) a week by {channel}."),
                    count=week_cap,
                    channel=_words(channel),
                ),
                False,
            )
        )
    return reasons


def _window_reason(pack: RulePack, local: datetime) -> Reason | None:
    """The day and hour rules at ``local``: law where the country's own pack refuses too,
    policy where only the operator's stricter settings do."""
    reason = _window_check(pack, local)
    if reason is None:
        return None
    law = PACKS.get(pack.country)
    if law is None or not law.hours_in_law or _window_check(law, local) is None:
        return _policy(
            reason.code,
            _text(N_("{reason} (the operator's setting)"), reason=reason.text),
            hard=True,
        )
    return _law(reason.code, reason.text, law.citations.get("hours", ""))


def _window_check(pack: RulePack, local: datetime) -> Reason | None:
    weekday = local.weekday()
    window = pack.window_on(weekday)
    if window is None:
        if weekday == 6:
            return Reason(
                "sunday",
                _text(N_("No contact on Sundays in {country}."), country=pack.country),
                True,
            )
        return Reason(
            "closed_day",
            _text(N_("No contact {days} in {country}."), days=_on_day(local), country=pack.country),
            True,
        )
    holiday = pack.holiday_on(local.date())
    if holiday is not None:
        return Reason(
            "holiday",
            _text(
                N_("{date} is a holiday in {country} ({holiday})."),
                date=local.date().isoformat(),
                country=pack.country,
                # A holiday's name is the calendar's own (a proper name); the operator's
                # exclusion is a text of ours, translated.
                holiday=Message(holiday),
            ),
            True,
        )
    if not window.contains(local.hour * 60 + local.minute):
        return Reason(
            "outside_hours",
            _text(
                N_("Contact in {country} only {window} local time {days}."),
                country=pack.country,
                window=window.text,
                days=_on_day(local),
            ),
            True,
        )
    return None


def _on_day(local: datetime) -> Message:
    return Message(ON_WEEKDAYS[local.weekday()])


def _words(channel: ContactChannel) -> Message:
    return Message(CHANNEL_WORDS[channel])


def _within(seen: _Seen, at: datetime, today: date, days: int, calendar: bool = False) -> bool:
    """Whether ``seen`` falls in the period of ``days`` ending at ``at``: the local day for 1
    (and for 0, "the rest of that day"); with ``calendar``, the ``days`` local calendar days
    ending today (the first of them ``days - 1`` days back); otherwise a rolling window of
    ``days`` × 24 hours."""
    if days <= 1:
        return seen.day == today
    if calendar:
        return 0 <= (today - seen.day).days < days
    return seen.at > at - timedelta(days=days)


def _cap_reason(
    pack: RulePack,
    cap: FrequencyCap,
    request: ContactRequest,
    past: Sequence[_Seen],
    at: datetime,
    today: date,
) -> Reason | None:
    """A frequency cap at ``at``: what the cap counts (per debt and person where the law
    counts so), and with the strategy's ``calls_across_debts`` the same cap over every call
    to the debtor's people about any of their debts, as policy."""
    names = channel_words(cap.channels)
    law = cap.source != OPERATOR_SOURCE

    def counted(s: _Seen, *, all_debts: bool) -> bool:
        if s.channel not in cap.channels:
            return False
        if cap.per_debt and not s.placed:
            return False
        return all_debts or not cap.per_debt or (s.same_debt and s.same_person)

    def over(*, all_debts: bool) -> Message | None:
        mine = [s for s in past if counted(s, all_debts=all_debts)]
        in_period = [s for s in mine if _within(s, at, today, cap.period_days, cap.calendar_days)]
        if len(in_period) >= cap.limit:
            about_this_debt = cap.per_debt and not all_debts
            if cap.period_days == 1:
                template = (
                    N_("{limit} contact(s) a day by {channels} about this debt")
                    if about_this_debt
                    else N_("{limit} contact(s) a day by {channels}")
                )
            else:
                template = (
                    N_("{limit} contact(s) in {days} days by {channels} about this debt")
                    if about_this_debt
                    else N_("{limit} contact(s) in {days} days by {channels}")
                )
            return _text(template, limit=cap.limit, days=cap.period_days, channels=names)
        if cap.min_days_between and any((today - s.day).days <= cap.min_days_between for s in mine):
            return _text(
                N_("{days} whole days between contacts by {channels}"),
                days=cap.min_days_between,
                channels=names,
            )
        return None

    found = over(all_debts=False)
    if found is not None:
        if law:
            return _law(
                "frequency_cap",
                _text(
                    N_("The law of {country} allows {limit}."), country=pack.country, limit=found
                ),
                cap.source,
            )
        return _policy(
            "frequency_cap",
            _text(N_("The operator's setting allows {limit}."), limit=found),
            hard=True,
        )
    if cap.per_debt and request.strategy.calls_across_debts:
        found = over(all_debts=True)
        if found is not None:
            return _policy(
                "strategy_cap",
                _text(
                    N_(
                        "The strategy counts contacts by {channels} over all the debtor's debts "
                        "and people reached: {limit} (the partner's policy, not the law)."
                    ),
                    channels=names,
                    limit=found,
                ),
            )
    return None


def _after_contact_reason(
    rule: AfterContactRule,
    request: ContactRequest,
    past: Sequence[_Seen],
    at: datetime,
    today: date,
) -> Reason | None:
    channel = request.channel
    if rule.blocked_channels is not None and channel not in rule.blocked_channels:
        return None

    def triggers(seen: _Seen, *, all_debts: bool) -> bool:
        if rule.trigger is Trigger.DIRECT:
            reached = seen.direct
        elif rule.trigger is Trigger.PERSON:
            if all_debts:
                reached = seen.conversation
            else:
                # A conversation with the very person to be called, about this debt: for the
                # debtor a right-party contact, for anyone else a conversation with them.
                person = seen.direct if request.party is Party.DEBTOR else seen.conversation
                reached = person and seen.same_person and seen.same_debt
        else:
            reached = seen.conversation
        if not reached:
            return False
        if rule.trigger_channels is not None and seen.channel not in rule.trigger_channels:
            return False
        if not _within(seen, at, today, rule.days, rule.calendar_days):
            return False
        return not (rule.other_channels_only and seen.channel is channel)

    if any(triggers(seen, all_debts=False) for seen in past):
        return _law(rule.code, Message(rule.description), rule.source)
    if (
        rule.trigger is Trigger.PERSON
        and request.strategy.calls_across_debts
        and any(triggers(seen, all_debts=True) for seen in past)
    ):
        return _policy(
            "strategy_cap",
            _text(
                N_(
                    "The strategy waits 7 days after a telephone conversation about any of the "
                    "debtor's debts, with anyone (the partner's policy, not the law)."
                )
            ),
        )
    return None


# --- the next allowed moment -------------------------------------------------------------
#
# The timed reasons lift only at a window's opening, at a local midnight (a new day, the end
# of "that day", the next calendar day of a days-between rule) or when a counted contact
# leaves a rolling period: those instants (the *candidates*) are the only ones the answer can
# be. Each rule refuses over intervals of time, so rather than trying every candidate in turn,
# the search asks the rule that refuses at a candidate how long it keeps refusing and jumps to
# the first candidate after that:
#
# - the day and hour rules (closed weekday, Sunday, holiday, outside hours): until the next
#   opening of a window on a day that is open and no holiday;
# - the counts and after-contact rules: at least until the next local midnight or the next end
#   of a rolling period, whichever is first (within those the local day and every rolling
#   period hold still, and a contact entering the history only adds refusals).
#
# Where the zone's offset to UTC changes inside such a stretch (a daylight-saving change, when
# the wall clock may run back into a window) the search steps to the very next candidate
# instead, so the answer is the earliest candidate at which no timed reason stands.

_STEADY_STEP = timedelta(hours=12)


def _next_allowed(
    pack: RulePack,
    request: ContactRequest,
    zone: ZoneInfo,
    at: datetime,
    seen: Sequence[_Seen],
) -> datetime | None:
    """The earliest instant after ``at`` with no timed reason, within :data:`HORIZON`."""
    horizon = at + HORIZON
    timed = request.channel not in pack.untimed_channels
    if timed and all(window is None for window in pack.hours):
        return None  # the day and hour rules never open
    candidates = _Candidates(pack, zone, at, timed, _period_ends(pack, request, seen))
    moment = candidates.after(at)
    while moment is not None and moment <= horizon:
        if timed and _window_check(pack, moment.astimezone(zone)) is not None:
            until = candidates.opening_after(moment)
        elif not _timed_reasons(pack, request, zone, moment, seen, first_only=True):
            return moment
        else:
            until = _earliest(
                candidates.midnight_after(moment), candidates.period_end_after(moment)
            )
        if until is None:
            moment = None if _steady(zone, moment, horizon) else candidates.after(moment)
        elif _steady(zone, moment, until):
            moment = candidates.at_or_after(until)
        else:
            moment = candidates.after(moment)
    return None


def _earliest(*moments: datetime | None) -> datetime | None:
    found = [m for m in moments if m is not None]
    return min(found) if found else None


def _period_ends(pack: RulePack, request: ContactRequest, seen: Sequence[_Seen]) -> list[datetime]:
    """When each past contact leaves each rolling period the rules count over, in order."""
    periods = {cap.period_days for cap in pack.caps if cap.period_days > 1}
    periods |= {rule.days for rule in pack.after_contact if rule.days > 1}
    if request.strategy.per_week:
        periods.add(STRATEGY_WEEK_DAYS)
    return sorted({past.at + timedelta(days=days) for past in seen for days in periods})


def _steady(zone: ZoneInfo, start: datetime, end: datetime) -> bool:
    """Whether ``zone``'s offset to UTC is the same all through ``start``–``end`` (looked at
    every 12 hours: no zone changes its clocks twice within that)."""
    offset = start.astimezone(zone).utcoffset()
    moment = start
    while moment < end:
        moment = min(moment + _STEADY_STEP, end)
        if moment.astimezone(zone).utcoffset() != offset:
            return False
    return True


class _Candidates:
    """The instants at which a timed reason may lift, from the local date of ``at`` to
    :data:`HORIZON` days and a day later: each local midnight, each window opening (on days
    open and not holidays, for a timed channel) and each end of a rolling period."""

    def __init__(
        self,
        pack: RulePack,
        zone: ZoneInfo,
        at: datetime,
        timed: bool,
        period_ends: list[datetime],
    ) -> None:
        self.pack = pack
        self.zone = zone
        self.timed = timed
        self.period_ends = period_ends
        self.first_day = at.astimezone(zone).date()
        self.last_day = self.first_day + timedelta(days=HORIZON.days + 1)

    def _from_day(self, moment: datetime) -> date:
        # A day early: where the clocks went back, the wall clock may read the day before.
        return max(self.first_day, moment.astimezone(self.zone).date() - timedelta(days=1))

    def _opening(self, day: date) -> datetime | None:
        window = self.pack.window_on(day.weekday())
        if window is None or self.pack.holiday_on(day) is not None:
            return None
        return local_instant(self.zone, day, window.start)

    def midnight_after(self, moment: datetime, *, strict: bool = True) -> datetime | None:
        day = self._from_day(moment)
        while day <= self.last_day:  # local midnights only grow with the day
            midnight = local_instant(self.zone, day, 0)
            if midnight > moment or (not strict and midnight == moment):
                return midnight
            day += timedelta(days=1)
        return None

    def opening_after(
        self, moment: datetime, *, strict: bool = True, before: datetime | None = None
    ) -> datetime | None:
        if not self.timed:
            return None
        day = self._from_day(moment)
        while day <= self.last_day:  # openings only grow with the day
            if before is not None and local_instant(self.zone, day, 0) > before:
                return None  # every later opening comes after ``before``
            opening = self._opening(day)
            if opening is not None and (opening > moment or (not strict and opening == moment)):
                return opening
            day += timedelta(days=1)
        return None

    def period_end_after(self, moment: datetime, *, strict: bool = True) -> datetime | None:
        ends = self.period_ends
        index = bisect_right(ends, moment) if strict else bisect_left(ends, moment)
        return ends[index] if index < len(ends) else None

    def _first(self, moment: datetime, *, strict: bool) -> datetime | None:
        bound = _earliest(
            self.midnight_after(moment, strict=strict),
            self.period_end_after(moment, strict=strict),
        )
        return _earliest(bound, self.opening_after(moment, strict=strict, before=bound))

    def after(self, moment: datetime) -> datetime | None:
        """The first candidate later than ``moment``."""
        return self._first(moment, strict=True)

    def at_or_after(self, moment: datetime) -> datetime | None:
        """The first candidate at ``moment`` or later."""
        return self._first(moment, strict=False)


# --- inputs ------------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise InvalidInput("time_zone", N_("not an IANA time zone")) from exc


def _utc(moment: datetime, field_name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(field_name, N_("must carry a time zone (an aware datetime)"))
    return moment.astimezone(UTC)


# ---------------------------------------------------------------------------------------
# What the services need around a check: the point a channel uses, ages, several zones.

# Which kind of contact point each channel uses.
POINT_KIND: dict[ContactChannel, str] = {
    ContactChannel.CALL: "phone",
    ContactChannel.SMS: "phone",
    ContactChannel.WHATSAPP: "phone",
    ContactChannel.EMAIL: "email",
    ContactChannel.VISIT: "address",
    ContactChannel.LETTER: "address",
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


@dataclass(frozen=True, slots=True)
class AgeNotice:
    """Why a debtor's age limits contact (or does not), for the profile and the queue."""

    flag: DebtorFlag
    basis: Basis
    effect: str  # English marked N_: translated where shown
    citation: str | None


def age_notices(birth_date: date | None, on: date, country: str) -> tuple[AgeNotice, ...]:
    """What the debtor's age means for contact under ``country``'s pack on ``on``."""
    pack = PACKS.get(country.upper())
    notices: list[AgeNotice] = []
    if pack is None:
        return ()
    for flag in sorted(age_flags(birth_date, on) & pack.vulnerable_flags):
        if flag is DebtorFlag.MINOR:
            notices.append(
                AgeNotice(
                    flag,
                    Basis.LAW,
                    N_(
                        "A minor: no collection contact with the debtor nor through references "
                        "(guarantors may be contacted)."
                    ),
                    pack.citations.get("vulnerable_person"),
                )
            )
        else:
            notices.append(
                AgeNotice(
                    flag,
                    Basis.POLICY,
                    N_(
                        "Aged 60 or over: the law allows contact because the older adult is the "
                        "debtor; only a strategy that treats older-adult debtors as vulnerable "
                        "blocks it (policy). Older adults reached as third parties may not be "
                        "collected from (law)."
                    ),
                    None,
                )
            )
    return tuple(notices)


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
