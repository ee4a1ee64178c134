"""The contact law's readings, each test named with its source: hour edges in every zone a
pack touches, Mexico's older adults, Regulation F's per-debt counting, law or policy on every
reason, and the debtor's clock as a set of zones (hypothesis properties)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.contact_check import (
    PACKS,
    Basis,
    ContactChannel,
    ContactRequest,
    DebtorFlag,
    Decision,
    Party,
    StrategyLimits,
    check_contact,
    pack_for,
    past_contact,
    strictest,
)
from app.domain.geography import (
    COUNTRY_ZONES,
    ZoneEvidence,
    candidate_zones,
    zones_for_address,
    zones_for_phone,
)


def request(at: datetime, zone: str, **changes: object) -> ContactRequest:
    base = ContactRequest(
        at=at,
        channel=ContactChannel.CALL,
        party=Party.DEBTOR,
        time_zone=zone,
        account_status="active",
        paused=False,
        flags=frozenset(),
        consented_channels=frozenset(ContactChannel),
        opted_out_channels=frozenset(),
        history=(),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def local(zone: str, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def codes(decision: Decision) -> list[str]:
    return [r.code for r in decision.reasons]


def check(country: str, req: ContactRequest) -> Decision:
    return check_contact(PACKS[country], req)


# --- hour edges: one minute before and at each bound, in every zone -----------------------

# (country, zones, a date open in law, start, end, end included)
EDGES = [
    (
        "MX",
        (
            "America/Mexico_City",
            "America/Chihuahua",
            "America/Ciudad_Juarez",
            "America/Ojinaga",
            "America/Matamoros",
            "America/Monterrey",
            "America/Mazatlan",
            "America/Hermosillo",
            "America/Tijuana",
            "America/Cancun",
            "America/Merida",
        ),
        date(2026, 3, 10),
        (7, 0),
        (22, 0),
        False,
    ),
    ("CO", ("America/Bogota",), date(2026, 3, 10), (7, 0), (19, 0), False),
    ("CO", ("America/Bogota",), date(2026, 3, 14), (8, 0), (15, 0), False),  # Saturday
    ("PE", ("America/Lima",), date(2026, 3, 10), (7, 0), (20, 0), False),
    (
        "CL",
        ("America/Santiago", "America/Punta_Arenas", "America/Coyhaique", "Pacific/Easter"),
        date(2026, 3, 10),
        (8, 0),
        (20, 0),
        False,
    ),
    (
        "US",
        (
            "America/New_York",
            "America/Chicago",
            "America/Denver",
            "America/Phoenix",
            "America/Los_Angeles",
            "America/Anchorage",
            "America/Adak",
            "Pacific/Honolulu",
        ),
        date(2026, 4, 14),
        (8, 0),
        (21, 0),
        True,
    ),
]
CASES = [
    (country, zone, day, start, end, included)
    for country, zones, day, start, end, included in EDGES
    for zone in zones
]
IDS = [f"{c[0]}-{c[1]}-{c[2].isoformat()}" for c in CASES]


@pytest.mark.parametrize(("country", "zone", "day", "start", "end", "included"), CASES, ids=IDS)
def test_hour_edges_in_each_zone_mx_condusef_co_ley2300_art3_pe_29571_art62_cl_19496_art37_us_1006_6_b_1_i(  # noqa: E501
    country, zone, day, start, end, included
):
    def at(hour: int, minute: int) -> Decision:
        moment = local(zone, day.year, day.month, day.day, hour, minute)
        return check(country, request(moment, zone))

    opening = datetime(2000, 1, 1, *start)
    closing = datetime(2000, 1, 1, *end)
    before = opening - timedelta(minutes=1)
    assert codes(at(before.hour, before.minute)) == ["outside_hours"]
    assert at(*start).allowed
    last = closing - timedelta(minutes=1)
    assert at(last.hour, last.minute).allowed
    after = closing + timedelta(minutes=1)
    if included:
        # 12 CFR 1006.6(b)(1)(i): only *after* 9:00 p.m. is inconvenient.
        assert at(*end).allowed
        assert codes(at(after.hour, after.minute)) == ["outside_hours"]
    else:
        assert codes(at(*end)) == ["outside_hours"]
    refused = at(before.hour, before.minute).reasons[0]
    assert refused.basis is Basis.LAW and refused.citation


def test_an_operators_narrower_hours_are_policy_not_law():
    pack = pack_for("MX", {"hours": {"start": "09:00", "end": "20:00"}})
    zone = "America/Mexico_City"
    [operator] = check_contact(pack, request(local(zone, 2026, 3, 10, 8, 0), zone)).reasons
    assert operator.basis is Basis.POLICY and operator.citation is None
    [law] = check_contact(pack, request(local(zone, 2026, 3, 10, 6, 59), zone)).reasons
    assert law.basis is Basis.LAW and law.citation


# --- Mexico: older adults "a menos que este último sea el deudor" -------------------------

NOON_CDMX = local("America/Mexico_City", 2026, 3, 10, 12)


def test_an_older_adult_debtor_may_be_contacted_condusef_a_menos_que_sea_el_deudor():
    flags = frozenset({DebtorFlag.OLDER_ADULT})
    assert check("MX", request(NOON_CDMX, "America/Mexico_City", flags=flags)).allowed


def test_a_reference_of_an_older_adult_debtor_may_be_asked_where_they_are_condusef():
    flags = frozenset({DebtorFlag.OLDER_ADULT})
    req = request(NOON_CDMX, "America/Mexico_City", flags=flags, party=Party.REFERENCE)
    assert check("MX", req).allowed


@pytest.mark.parametrize("party", [Party.REFERENCE, Party.GUARANTOR])
def test_an_older_adult_third_party_may_not_be_collected_from_condusef(party):
    older = frozenset({DebtorFlag.OLDER_ADULT})
    decision = check(
        "MX", request(NOON_CDMX, "America/Mexico_City", party=party, party_flags=older)
    )
    [reason] = decision.reasons
    assert reason.code == "older_adult_third_party"
    assert reason.basis is Basis.LAW and reason.hard
    assert "a menos que este último sea el deudor" in (reason.citation or "")
    assert decision.next_allowed_at is None


def test_a_minor_third_party_may_not_be_collected_from_condusef():
    minor = frozenset({DebtorFlag.MINOR})
    req = request(NOON_CDMX, "America/Mexico_City", party=Party.REFERENCE, party_flags=minor)
    assert codes(check("MX", req)) == ["vulnerable_person"]


def test_the_debtors_own_age_is_not_read_as_a_third_partys():
    # party_flags describe the person reached only when it is not the debtor.
    older = frozenset({DebtorFlag.OLDER_ADULT})
    assert check("MX", request(NOON_CDMX, "America/Mexico_City", party_flags=older)).allowed


def test_older_adult_debtors_as_vulnerable_is_a_soft_policy_never_law():
    strategy = StrategyLimits(older_adult_debtors_vulnerable=True)
    flags = frozenset({DebtorFlag.OLDER_ADULT})
    decision = check(
        "MX", request(NOON_CDMX, "America/Mexico_City", flags=flags, strategy=strategy)
    )
    [reason] = decision.reasons
    assert reason.code == "older_adult_policy"
    assert reason.basis is Basis.POLICY and not reason.hard and reason.citation is None
    assert "not the law" in reason.message
    # The policy is about debtors: a reference of that debtor is not affected.
    reference = request(
        NOON_CDMX,
        "America/Mexico_City",
        flags=flags,
        strategy=strategy,
        party=Party.REFERENCE,
    )
    assert check("MX", reference).allowed


def test_older_adults_are_a_mexican_rule():
    older = frozenset({DebtorFlag.OLDER_ADULT})
    now = local("America/New_York", 2026, 4, 14, 12)
    req = request(now, "America/New_York", party=Party.REFERENCE, party_flags=older)
    assert check("US", req).allowed


# --- Regulation F: per debt, per person, calls only, local calendar days -----------------

NY = "America/New_York"


def call(at: datetime, result: str = "NO_ANSWER", **kw: object):
    return past_contact(at, ContactChannel.CALL, Party.DEBTOR, result, **kw)  # type: ignore[arg-type]


def test_seven_calls_about_another_debt_do_not_count_reg_f_1006_14_b_2_i_a():
    others = [call(local(NY, 2026, 4, d, 9), same_debt=False) for d in range(8, 15)]
    now = local(NY, 2026, 4, 14, 12)
    assert check("US", request(now, NY, history=others)).allowed


def test_the_eighth_call_about_this_debt_is_refused_reg_f_1006_14_b_2_i_a():
    mine = [call(local(NY, 2026, 4, d, 9)) for d in range(8, 15)]
    decision = check("US", request(local(NY, 2026, 4, 14, 12), NY, history=mine))
    [reason] = decision.reasons
    assert reason.code == "frequency_cap" and reason.basis is Basis.LAW
    assert "1006.14(b)(2)(i)(A)" in (reason.citation or "")


def test_seven_days_are_local_calendar_days_not_168_hours_reg_f_1006_14_b_2_i_a():
    # Seven calls from Wednesday the 8th 23:30 local to Tuesday the 14th: on Wednesday the
    # 15th at 08:00 the 8th is no longer one of the 7 consecutive days (15th back to 9th),
    # though fewer than 168 hours have passed since it.
    mine = [call(local(NY, 2026, 4, 8, 23, 30))]
    mine += [call(local(NY, 2026, 4, d, 9)) for d in range(9, 15)]
    assert not check("US", request(local(NY, 2026, 4, 14, 20), NY, history=mine)).allowed
    assert check("US", request(local(NY, 2026, 4, 15, 8), NY, history=mine)).allowed


def test_texts_and_emails_are_not_calls_reg_f_1006_14_b_2():
    texts = [
        past_contact(local(NY, 2026, 4, d, 9), ContactChannel.SMS, Party.DEBTOR, "NO_ANSWER")
        for d in range(8, 15)
    ]
    assert check("US", request(local(NY, 2026, 4, 14, 12), NY, history=texts)).allowed


def test_calls_the_consumer_placed_are_not_calls_placed_by_the_collector_reg_f():
    inbound = [call(local(NY, 2026, 4, d, 9), placed=False) for d in range(8, 15)]
    assert check("US", request(local(NY, 2026, 4, 14, 12), NY, history=inbound)).allowed


def test_the_conversations_date_is_the_first_of_the_seven_days_reg_f_1006_14_b_2_i_b():
    talked = [call(local(NY, 2026, 4, 12, 20, 30), "RPC")]
    # The 12th is day 1, the 18th day 7: refused up to the 18th's last minute.
    assert codes(check("US", request(local(NY, 2026, 4, 18, 20, 59), NY, history=talked))) == [
        "after_contact"
    ]
    decision = check("US", request(local(NY, 2026, 4, 19, 8), NY, history=talked))
    assert decision.allowed


def test_a_conversation_about_another_debt_does_not_block_this_one_reg_f_1006_14_b_2_i_b():
    talked = [call(local(NY, 2026, 4, 12, 15), "RPC", same_debt=False)]
    assert check("US", request(local(NY, 2026, 4, 14, 12), NY, history=talked)).allowed


def test_an_unanswered_call_is_no_conversation_reg_f_1006_14_b_2_i_b():
    tried = [call(local(NY, 2026, 4, 12, 15), "VOICEMAIL")]
    assert check("US", request(local(NY, 2026, 4, 14, 12), NY, history=tried)).allowed


def test_counting_across_debts_is_a_strategy_policy_never_presented_as_law():
    strategy = StrategyLimits(calls_across_debts=True)
    others = [call(local(NY, 2026, 4, d, 9), same_debt=False) for d in range(8, 15)]
    decision = check(
        "US", request(local(NY, 2026, 4, 14, 12), NY, history=others, strategy=strategy)
    )
    [reason] = decision.reasons
    assert reason.code == "strategy_cap"
    assert reason.basis is Basis.POLICY and not reason.hard and reason.citation is None
    assert "law of" not in reason.message and "not the law" in reason.message
    assert decision.next_allowed_at == local(NY, 2026, 4, 15, 8)

    talked = [call(local(NY, 2026, 4, 12, 15), "RPC", same_debt=False)]
    after = check("US", request(local(NY, 2026, 4, 14, 12), NY, history=talked, strategy=strategy))
    assert codes(after) == ["strategy_cap"] and after.reasons[0].basis is Basis.POLICY


@settings(max_examples=60, deadline=None)
@given(
    days=st.lists(st.integers(0, 13), max_size=20),
    other=st.lists(st.booleans(), min_size=20, max_size=20),
    hour=st.integers(8, 20),
)
def test_calls_about_other_debts_never_change_the_laws_answer_reg_f(days, other, hour):
    now = local(NY, 2026, 4, 20, hour)
    history = [
        call(now - timedelta(days=d, minutes=5), same_debt=not o)
        for d, o in zip(days, other, strict=False)
    ]
    mine = [h for h in history if h.same_debt]
    with_others = check("US", request(now, NY, history=history))
    alone = check("US", request(now, NY, history=mine))
    assert with_others.allowed == alone.allowed


# --- every reason says law or policy ------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    country=st.sampled_from(sorted(PACKS)),
    hour=st.integers(0, 23),
    flags=st.frozensets(st.sampled_from(list(DebtorFlag))),
    party=st.sampled_from(list(Party)),
    channel=st.sampled_from(list(ContactChannel)),
)
def test_every_law_reason_carries_a_citation(country, hour, flags, party, channel):
    zone = COUNTRY_ZONES[country][0]
    req = request(local(zone, 2026, 3, 8, hour), zone, flags=flags, party=party, channel=channel)
    for reason in check(country, req).reasons:
        assert reason.basis in (Basis.LAW, Basis.POLICY)
        if reason.basis is Basis.LAW:
            assert reason.hard and reason.citation
        else:
            assert reason.citation is None
            assert "the law of" not in reason.message.lower()


# --- the debtor's clock --------------------------------------------------------------------


def test_chihuahua_phones_and_addresses_are_on_chihuahua_time():
    assert zones_for_phone("+526141234567") == {"America/Chihuahua"}
    assert zones_for_address("MX", "Chihuahua") == {"America/Chihuahua"}
    assert zones_for_phone("+526561234567") == {"America/Ciudad_Juarez"}
    assert zones_for_address("MX", "Chihuahua", "Juárez") == {"America/Ciudad_Juarez"}
    assert zones_for_address("MX", "Chihuahua", None, "32310") == {"America/Ciudad_Juarez"}
    assert zones_for_address("MX", "Chihuahua", "Ojinaga") == {"America/Ojinaga"}
    assert zones_for_address("MX", "Tamaulipas", "Reynosa") == {"America/Matamoros"}


def test_chihuahua_is_utc_minus_6_all_year_and_juarez_follows_the_us():
    for month in (1, 7):
        moment = datetime(2026, month, 15, 12, tzinfo=UTC)
        assert moment.astimezone(ZoneInfo("America/Chihuahua")).utcoffset() == timedelta(hours=-6)
    assert datetime(2026, 1, 15, tzinfo=ZoneInfo("America/Ciudad_Juarez")).utcoffset() == (
        timedelta(hours=-7)
    )
    assert datetime(2026, 7, 15, tzinfo=ZoneInfo("America/Ciudad_Juarez")).utcoffset() == (
        timedelta(hours=-6)
    )


def test_an_area_spanning_zones_gives_every_zone():
    alaska = zones_for_phone("+19075550123")
    assert {"America/Anchorage", "America/Adak"} <= alaska
    assert zones_for_phone("+18505550123") == {"America/New_York", "America/Chicago"}
    assert zones_for_address("US", "TX") == {"America/Chicago", "America/Denver"}
    assert zones_for_address("US", "NY") == {"America/New_York"}


def test_chile_magallanes_aysen_and_easter_island():
    assert zones_for_address("CL", "Magallanes") == {"America/Punta_Arenas"}
    assert zones_for_address("CL", "Región de Magallanes y de la Antártica Chilena") == {
        "America/Punta_Arenas"
    }
    assert zones_for_address("CL", "Aysén") == {"America/Coyhaique"}
    assert zones_for_address("CL", "Valparaíso", "Isla de Pascua") == {"Pacific/Easter"}
    assert zones_for_address("CL", "Valparaíso", "Viña del Mar") == {"America/Santiago"}
    assert zones_for_address("CL", "Valparaíso") == {"America/Santiago", "Pacific/Easter"}
    assert zones_for_phone("+56612345678") == {"America/Punta_Arenas"}


def test_no_evidence_gives_every_zone_of_the_country_never_the_partners_alone():
    assert set(candidate_zones([], "MX")) == set(COUNTRY_ZONES["MX"])
    assert set(candidate_zones([ZoneEvidence("email")], "CL")) == set(COUNTRY_ZONES["CL"])


def test_a_chihuahua_debtor_at_22_30_is_refused_and_at_07_30_allowed_condusef():
    zones = candidate_zones([ZoneEvidence("phone", "MX", "+526141234567")], "MX")
    assert zones == ("America/Chihuahua",)
    for month, day in ((1, 13), (7, 14)):
        late = local("America/Chihuahua", 2026, month, day, 22, 30)
        early = local("America/Chihuahua", 2026, month, day, 7, 30)
        assert not check("MX", request(late, zones[0])).allowed
        assert check("MX", request(early, zones[0])).allowed


def decide(country: str, at: datetime, zones: tuple[str, ...]) -> Decision:
    return strictest([check(country, request(at, zone)) for zone in zones])


def test_allowed_only_if_allowed_in_every_zone_and_the_answer_names_the_zone():
    zones = ("America/Adak", "America/Anchorage")
    # 08:30 in Anchorage is 07:30 in Adak.
    at = local("America/Anchorage", 2026, 4, 14, 8, 30)
    decision = decide("US", at, zones)
    assert not decision.allowed and decision.time_zone == "America/Adak"
    assert decide("US", local("America/Anchorage", 2026, 4, 14, 9, 30), zones).allowed


EVIDENCE = st.one_of(
    st.builds(
        ZoneEvidence,
        kind=st.just("phone"),
        country=st.none(),
        value=st.sampled_from(
            [
                "+525512345678",
                "+526141234567",
                "+526561234567",
                "+526641234567",
                "+529981234567",
                "+19075550123",
                "+12125550123",
                "+18505550123",
                "+56912345678",
                "+56612345678",
                "+999",
            ]
        ),
    ),
    st.builds(
        ZoneEvidence,
        kind=st.just("address"),
        country=st.sampled_from(["MX", "US", "CL", "CO"]),
        state=st.sampled_from(
            ["Chihuahua", "Sonora", "TX", "AK", "Magallanes", "Valparaíso", "Antioquia", "?"]
        ),
        municipality=st.sampled_from([None, "Juárez", "Isla de Pascua", "Centro"]),
    ),
    st.builds(ZoneEvidence, kind=st.just("email")),
)


@settings(max_examples=150, deadline=None)
@given(
    evidence=st.lists(EVIDENCE, max_size=4),
    extra=EVIDENCE,
    country=st.sampled_from(["MX", "US", "CL", "CO"]),
)
def test_the_zone_set_is_never_empty_and_real(evidence, extra, country):
    zones = candidate_zones(evidence, country)
    assert zones
    for zone in zones:
        ZoneInfo(zone)


@settings(max_examples=150, deadline=None)
@given(
    evidence=st.lists(EVIDENCE, min_size=1, max_size=4),
    extra=EVIDENCE,
    country=st.sampled_from(["MX", "US"]),
    minute=st.integers(0, 7 * 24 * 60),
)
def test_adding_evidence_never_widens_what_is_allowed(evidence, extra, country, minute):
    before = candidate_zones(evidence, country)
    after = candidate_zones([*evidence, extra], country)
    if set(before) <= set(after):  # evidence adds zones; with none, the country's were used
        at = datetime(2026, 3, 9, tzinfo=UTC) + timedelta(minutes=minute)
        if decide(country, at, after).allowed:
            assert decide(country, at, before).allowed
    else:
        # The first set was the country's fallback (no placing evidence); the second is
        # within the country's own zones or names somewhere the person might be.
        assert not any(evidence_places(e) for e in evidence)


def evidence_places(item: ZoneEvidence) -> bool:
    return bool(candidate_zones([item], "ZZ") != ("UTC",))


@settings(max_examples=100, deadline=None)
@given(minute=st.integers(0, 2 * 24 * 60))
def test_the_same_instant_is_read_in_each_zones_own_clock(minute):
    at = datetime(2026, 1, 13, tzinfo=UTC) + timedelta(minutes=minute)
    for zone in ("America/Chihuahua", "America/Ciudad_Juarez", "America/Mexico_City"):
        hour = at.astimezone(ZoneInfo(zone)).hour
        assert check("MX", request(at, zone)).allowed == (7 <= hour < 22)
