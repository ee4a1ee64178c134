"""The contact check's next allowed moment, worked out from the rules' intervals, is the one
the old search by stepping through every candidate instant found (issue 20, "The queue").

The oracle below is that old search, kept here only to judge the new one: it lists every
instant at which a timed reason may lift (each local midnight and window opening of the
next 62 days, each end of a rolling period) and tries them all in order.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.domain.contact_check import (
    HORIZON,
    PACKS,
    STRATEGY_WEEK_DAYS,
    AfterContactRule,
    ContactChannel,
    ContactRequest,
    FrequencyCap,
    HourWindow,
    Party,
    PastContact,
    RulePack,
    StrategyLimits,
    _next_allowed,
    _seen,
    _timed_reasons,
    _utc,
    check_contact,
    local_instant,
)
from app.domain.contact_check_packs import DAY_MINUTES, OPERATOR_SOURCE, Trigger


def stepping_next_allowed(pack: RulePack, request: ContactRequest) -> datetime | None:
    """The old answer: every candidate instant tried in order."""
    zone = ZoneInfo(request.time_zone)
    at = _utc(request.at, "at")
    seen = _seen(pack, request, zone, at)
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


def interval_next_allowed(pack: RulePack, request: ContactRequest) -> datetime | None:
    zone = ZoneInfo(request.time_zone)
    at = _utc(request.at, "at")
    return _next_allowed(pack, request, zone, at, _seen(pack, request, zone, at))


# Zones whose clocks change in every way there is: at 02:00 and at midnight (Santiago, Havana,
# Asunción, Beirut), by half an hour (Lord Howe), twice a year or never, east and west.
ZONES = [
    "America/Mexico_City",
    "America/Tijuana",
    "America/Cancun",
    "America/Bogota",
    "America/Santiago",
    "Pacific/Easter",
    "America/Havana",
    "America/Asuncion",
    "Asia/Beirut",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Africa/Casablanca",
    "UTC",
]

instants = st.datetimes(
    min_value=datetime(2018, 1, 1), max_value=datetime(2027, 12, 31, 23, 59), timezones=st.just(UTC)
)


@st.composite
def windows(draw: st.DrawFn) -> HourWindow | None:
    if draw(st.integers(0, 4)) == 0:
        return None
    # Some windows on the hours where the clocks change (00:00–03:00), some whole days.
    start = draw(
        st.sampled_from([0, 30, 60, 90, 120, 150, 180, 420, 480, 540]) | st.integers(0, 1380)
    )
    end = draw(st.integers(start + 1, DAY_MINUTES))
    included = end < DAY_MINUTES and draw(st.booleans())
    return HourWindow(start, end, included)


caps = st.builds(
    FrequencyCap,
    channels=st.frozensets(st.sampled_from(list(ContactChannel)), min_size=1),
    period_days=st.sampled_from([1, 1, 2, 7, 8, 30]),
    limit=st.integers(0, 4),
    min_days_between=st.sampled_from([0, 0, 1, 2, 5]),
    source=st.sampled_from(["Some law, art. 1", OPERATOR_SOURCE]),
    per_debt=st.booleans(),
    calendar_days=st.booleans(),
)
after_contact_rules = st.builds(
    AfterContactRule,
    code=st.just("after_contact"),
    trigger=st.sampled_from(list(Trigger)),
    days=st.sampled_from([0, 1, 2, 7]),
    description=st.just("No contact after a conversation."),
    source=st.just("Some law, art. 2"),
    trigger_channels=st.none() | st.frozensets(st.sampled_from(list(ContactChannel)), min_size=1),
    blocked_channels=st.none() | st.frozensets(st.sampled_from(list(ContactChannel)), min_size=1),
    other_channels_only=st.booleans(),
    calendar_days=st.booleans(),
)


@st.composite
def rule_sets(draw: st.DrawFn, at: datetime) -> RulePack:
    base = draw(st.sampled_from(list(PACKS.values())))
    local_day = at.date()
    return replace(
        base,
        hours=tuple(draw(windows()) for _ in range(7)),
        excludes_holidays=draw(st.booleans()),
        excluded_dates=frozenset(
            draw(
                st.lists(
                    st.integers(-2, 20).map(lambda n: local_day + timedelta(days=n)), max_size=4
                )
            )
        ),
        caps=tuple(draw(st.lists(caps, max_size=3))),
        after_contact=tuple(draw(st.lists(after_contact_rules, max_size=2))),
        untimed_channels=draw(
            st.sampled_from(
                [frozenset({ContactChannel.LETTER}), frozenset(), frozenset({ContactChannel.EMAIL})]
            )
        ),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[RulePack, ContactRequest]:
    at = draw(instants)
    pack = draw(rule_sets(at))
    history = draw(
        st.lists(
            st.builds(
                PastContact,
                # Mostly before the moment, a few after it (a contact logged for later).
                at=st.integers(-3 * 24 * 3600, 12 * 24 * 3600).map(
                    lambda s: at - timedelta(seconds=s)
                ),
                channel=st.sampled_from(list(ContactChannel)),
                party=st.sampled_from(list(Party)),
                conversation=st.booleans(),
                direct=st.booleans(),
                same_debt=st.booleans(),
                same_person=st.booleans(),
                placed=st.booleans(),
            ).map(lambda p: replace(p, conversation=p.conversation or p.direct)),
            max_size=8,
        )
    )
    strategy = StrategyLimits(
        per_day=draw(
            st.dictionaries(st.sampled_from(list(ContactChannel)), st.integers(1, 3), max_size=2)
        ),
        per_week=draw(
            st.dictionaries(st.sampled_from(list(ContactChannel)), st.integers(1, 5), max_size=2)
        ),
        calls_across_debts=draw(st.booleans()),
    )
    request = ContactRequest(
        at=at,
        channel=draw(st.sampled_from(list(ContactChannel))),
        party=draw(st.sampled_from(list(Party))),
        time_zone=draw(st.sampled_from(ZONES)),
        account_status="active",
        paused=False,
        flags=frozenset(),
        consented_channels=None,
        opted_out_channels=frozenset(),
        history=tuple(history),
        strategy=strategy,
    )
    return pack, request


@settings(max_examples=1500, deadline=None)
@given(cases())
def test_the_interval_answer_is_the_stepping_answer(case: tuple[RulePack, ContactRequest]) -> None:
    pack, request = case
    assert interval_next_allowed(pack, request) == stepping_next_allowed(pack, request)


def _mexico_night() -> tuple[RulePack, ContactRequest]:
    at = datetime(2026, 12, 7, 9, 10, tzinfo=UTC)  # 03:10 in Mexico City, a Monday
    request = ContactRequest(
        at=at,
        channel=ContactChannel.CALL,
        party=Party.DEBTOR,
        time_zone="America/Mexico_City",
        account_status="active",
        paused=False,
        flags=frozenset(),
        consented_channels=None,
        opted_out_channels=frozenset(),
        history=(),
    )
    return PACKS["MX"], request


@settings(max_examples=300, deadline=None)
@given(
    instants,
    st.sampled_from(list(PACKS)),
    st.sampled_from(ZONES),
    st.sampled_from(list(ContactChannel)),
)
def test_the_country_packs_agree_with_the_stepping_answer(
    at: datetime, country: str, zone: str, channel: ContactChannel
) -> None:
    pack, request = _mexico_night()
    pack = PACKS[country]
    request = replace(request, at=at, time_zone=zone, channel=channel)
    assert interval_next_allowed(pack, request) == stepping_next_allowed(pack, request)


def test_at_night_in_mexico_the_next_moment_is_the_morning_opening() -> None:
    pack, request = _mexico_night()
    decision = check_contact(pack, request)
    assert not decision.allowed
    window = pack.window_on(date(2026, 12, 7).weekday())
    assert window is not None
    opening = datetime(2026, 12, 7, tzinfo=ZoneInfo("America/Mexico_City")) + timedelta(
        minutes=window.start
    )
    assert decision.next_allowed_at == opening.astimezone(UTC)


@example(datetime(2026, 11, 1, 5, 30, tzinfo=UTC))  # the night New York's clocks go back
@given(instants)
@settings(max_examples=200, deadline=None)
def test_a_rolling_cap_lifts_when_its_oldest_contact_leaves_the_period(at: datetime) -> None:
    """Two calls a week, both made: the next call is allowed when the first of them is a week
    old, if the (whole-day) window is open then."""
    pack = replace(
        PACKS["MX"],
        hours=(HourWindow(0, DAY_MINUTES),) * 7,
        excludes_holidays=False,
        caps=(FrequencyCap(frozenset({ContactChannel.CALL}), 7, 2),),
        after_contact=(),
    )
    first, second = at - timedelta(days=3, hours=5), at - timedelta(days=1)
    _, request = _mexico_night()
    request = replace(
        request,
        at=at,
        time_zone="America/New_York",
        history=(
            PastContact(first, ContactChannel.CALL, Party.DEBTOR, False, False),
            PastContact(second, ContactChannel.CALL, Party.DEBTOR, False, False),
        ),
    )
    decision = check_contact(pack, request)
    assert not decision.allowed
    assert decision.next_allowed_at == first + timedelta(days=7)


def test_where_the_clocks_go_back_the_repeated_hour_opens_the_window_again() -> None:
    """Havana, 1 November 2026: at 01:00 the clocks go back to 00:00. A window of 00:00–00:30
    is shut at 00:45 (the first time), when the first of the week's two calls leaves its
    rolling period, and open again at 00:10 (the second time), when the second one does: that
    is the next allowed moment, not the next night's opening."""
    pack = replace(
        PACKS["MX"],
        hours=(HourWindow(0, 30),) * 7,
        excludes_holidays=False,
        caps=(FrequencyCap(frozenset({ContactChannel.CALL}), 7, 2),),
        after_contact=(),
    )
    at = datetime(2026, 11, 1, 4, 30, tzinfo=UTC)  # 00:30 in Havana, summer time
    shut = datetime(2026, 11, 1, 4, 45, tzinfo=UTC)  # 00:45, summer time
    again = datetime(2026, 11, 1, 5, 10, tzinfo=UTC)  # 00:10, standard time
    _, request = _mexico_night()
    request = replace(
        request,
        at=at,
        time_zone="America/Havana",
        history=tuple(
            PastContact(moment - timedelta(days=7), ContactChannel.CALL, Party.DEBTOR, False, False)
            for moment in (shut, again)
        ),
    )
    havana = ZoneInfo("America/Havana")
    assert [m.astimezone(havana).strftime("%H:%M") for m in (shut, again)] == ["00:45", "00:10"]
    assert stepping_next_allowed(pack, request) == again
    assert check_contact(pack, request).next_allowed_at == again
