"""Contact rules (``app.domain.contact_check`` and ``app.domain.contact_check_packs``):
each country pack's hours, days and frequency rules, the standing blockers, strategy limits,
stricter-only overrides, the law's caps, phone time zones, and the next-allowed-moment
invariants."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.contact_check import (
    CONVERSATION_CODES,
    PACKS,
    RESULT_CODES,
    RIGHT_PARTY_CODES,
    TIMED_REASONS,
    ContactChannel,
    ContactRequest,
    DebtorFlag,
    Decision,
    Party,
    PastContact,
    RulePack,
    StrategyLimits,
    check_contact,
    local_instant,
    pack_for,
    party_counted,
    past_contact,
)
from app.domain.errors import InvalidInput
from app.domain.geography import time_zone_for_phone

MEXICO_CITY = "America/Mexico_City"
TIJUANA = "America/Tijuana"
CANCUN = "America/Cancun"
BOGOTA = "America/Bogota"
LIMA = "America/Lima"
SANTIAGO = "America/Santiago"
SAO_PAULO = "America/Sao_Paulo"
NEW_YORK = "America/New_York"
LOS_ANGELES = "America/Los_Angeles"


def local(zone: str, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def request(at: datetime, zone: str = MEXICO_CITY, **changes: object) -> ContactRequest:
    """A contact nothing stands against: active account, no flags, every channel consented."""
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


def contact(
    at: datetime, result: str = "NO_ANSWER", channel: ContactChannel = ContactChannel.CALL, **kw
):
    return past_contact(at, channel, kw.get("party", Party.DEBTOR), result)


def codes(decision: Decision) -> list[str]:
    return [r.code for r in decision.reasons]


def check(country: str, req: ContactRequest) -> Decision:
    return check_contact(PACKS[country], req)


class TestResultCodes:
    def test_the_canonical_set(self):
        assert len(RESULT_CODES) == 19
        assert {"RPC", "TPC", "NO_ANSWER", "CHANNEL_OPT_OUT", "MOVED"} <= RESULT_CODES
        assert all(code.startswith("RPC") for code in RIGHT_PARTY_CODES)
        assert {c for c in RESULT_CODES if c.startswith("RPC")} == RIGHT_PARTY_CODES
        assert RIGHT_PARTY_CODES | {"TPC"} == CONVERSATION_CODES

    def test_past_contact_reads_the_result(self):
        at = utc(2026, 3, 10, 15)
        assert past_contact(at, ContactChannel.CALL, Party.DEBTOR, "RPC_PTP").direct
        third = past_contact(at, ContactChannel.CALL, Party.REFERENCE, "TPC")
        assert third.conversation and not third.direct
        missed = past_contact(at, ContactChannel.CALL, Party.DEBTOR, "VOICEMAIL")
        assert not missed.conversation and not missed.direct


class TestPacks:
    def test_every_pack_is_versioned_and_sourced(self):
        assert set(PACKS) == {"MX", "CO", "PE", "CL", "BR", "US"}
        for country, pack in PACKS.items():
            assert pack.country == country
            assert pack.version.startswith(f"{country}-")
            assert pack.sources and all(pack.sources)
            assert len(pack.hours) == 7
            assert pack.prohibitions

    @pytest.mark.parametrize(
        ("country", "channel", "days", "cap"),
        [
            ("MX", ContactChannel.CALL, 1, None),
            ("MX", ContactChannel.CALL, 7, None),
            ("CO", ContactChannel.CALL, 7, None),
            ("PE", ContactChannel.SMS, 7, None),
            ("BR", ContactChannel.CALL, 7, None),
            ("US", ContactChannel.CALL, 1, 7),
            ("US", ContactChannel.CALL, 7, 7),
            ("US", ContactChannel.SMS, 7, None),
            ("CL", ContactChannel.CALL, 1, 1),
            ("CL", ContactChannel.CALL, 7, 1),
            ("CL", ContactChannel.VISIT, 7, 1),
            ("CL", ContactChannel.SMS, 1, 1),  # two whole days between: one a day at most
            ("CL", ContactChannel.EMAIL, 7, 2),
            ("CL", ContactChannel.LETTER, 7, 2),
        ],
    )
    def test_law_caps(self, country, channel, days, cap):
        assert PACKS[country].law_cap(channel, days) == cap


class TestMexico:
    def test_hours_end_at_ten_at_night_mexico_city_time(self):
        assert check("MX", request(local(MEXICO_CITY, 2026, 3, 10, 21, 59))).allowed
        late = check("MX", request(local(MEXICO_CITY, 2026, 3, 10, 22, 0)))
        assert not late.allowed
        assert codes(late) == ["outside_hours"]
        assert late.reasons[0].hard
        assert late.next_allowed_at == local(MEXICO_CITY, 2026, 3, 11, 7, 0)
        assert late.next_allowed_at.tzinfo is UTC

    def test_hours_start_at_seven(self):
        early = check("MX", request(local(MEXICO_CITY, 2026, 3, 10, 6, 59)))
        assert codes(early) == ["outside_hours"]
        assert early.next_allowed_at == local(MEXICO_CITY, 2026, 3, 10, 7, 0)
        assert check("MX", request(local(MEXICO_CITY, 2026, 3, 10, 7, 0))).allowed

    def test_the_same_instant_in_tijuana_and_cancun(self):
        instant = utc(2026, 6, 15, 3, 30)  # 20:30 in Tijuana (UTC-7), 22:30 in Cancún (UTC-5)
        assert check("MX", request(instant, TIJUANA)).allowed
        cancun = check("MX", request(instant, CANCUN))
        assert codes(cancun) == ["outside_hours"]
        assert cancun.next_allowed_at == local(CANCUN, 2026, 6, 15, 7, 0)

    def test_every_day_holidays_and_sundays_included(self):
        assert check("MX", request(local(MEXICO_CITY, 2026, 3, 15, 12))).allowed  # Sunday
        assert check("MX", request(local(MEXICO_CITY, 2026, 12, 25, 12))).allowed

    def test_no_frequency_cap_in_law(self):
        now = local(MEXICO_CITY, 2026, 3, 10, 18)
        history = [contact(now - timedelta(hours=h)) for h in range(1, 10)]
        assert check("MX", request(now, history=history)).allowed

    def test_no_collection_with_a_minor_debtor(self):
        # Older-adult debtors are no longer here: the CONDUSEF rule excepts an older adult
        # who is the debtor (tests/domain/test_contact_law.py).
        flag = DebtorFlag.MINOR
        now = local(MEXICO_CITY, 2026, 3, 10, 12)
        decision = check("MX", request(now, flags=frozenset({flag})))
        assert codes(decision) == ["vulnerable_person"]
        assert decision.reasons[0].hard
        assert decision.next_allowed_at is None
        guarantor = check("MX", request(now, flags=frozenset({flag}), party=Party.GUARANTOR))
        assert guarantor.allowed

    def test_minors_are_a_mexican_rule(self):
        now = local(NEW_YORK, 2026, 3, 10, 12)
        assert check("US", request(now, NEW_YORK, flags=frozenset({DebtorFlag.MINOR}))).allowed

    def test_references_get_the_whereabouts_script_and_guarantors_pay(self):
        now = local(MEXICO_CITY, 2026, 3, 10, 12)
        reference = check("MX", request(now, party=Party.REFERENCE))
        assert reference.allowed
        assert "whereabouts" in reference.script
        assert "Never mention the debt" in reference.script
        guarantor = check("MX", request(now, party=Party.GUARANTOR))
        assert "aval" in guarantor.script
        debtor = check("MX", request(now))
        assert "creditor" in debtor.script
        assert len({reference.script, guarantor.script, debtor.script}) == 3
        assert debtor.pack_version == "MX-2026.1"

    def test_letters_are_not_bound_by_hours(self):
        midnight = local(MEXICO_CITY, 2026, 3, 10, 23, 30)
        assert check("MX", request(midnight, channel=ContactChannel.LETTER)).allowed


class TestColombia:
    def test_weekday_and_saturday_windows(self):
        zone = BOGOTA
        assert check("CO", request(local(zone, 2026, 3, 10, 18, 59), zone)).allowed
        evening = check("CO", request(local(zone, 2026, 3, 10, 19, 0), zone))
        assert codes(evening) == ["outside_hours"]
        assert check("CO", request(local(zone, 2026, 3, 14, 14, 59), zone)).allowed  # Saturday
        saturday = check("CO", request(local(zone, 2026, 3, 14, 15, 0), zone))
        assert codes(saturday) == ["outside_hours"]
        # Sunday is closed: the next window is Monday at seven.
        assert saturday.next_allowed_at == local(zone, 2026, 3, 16, 7, 0)

    def test_never_on_sundays(self):
        sunday = check("CO", request(local(BOGOTA, 2026, 3, 15, 10), BOGOTA))
        assert codes(sunday) == ["sunday"]
        assert sunday.reasons[0].hard
        assert sunday.next_allowed_at == local(BOGOTA, 2026, 3, 16, 7, 0)

    def test_never_on_a_colombian_holiday(self):
        calendar = holidays.country_holidays("CO", years=2026)
        holiday = next(d for d in sorted(calendar) if d.weekday() < 5)
        decision = check("CO", request(local(BOGOTA, *holiday.timetuple()[:3], 10), BOGOTA))
        assert codes(decision) == ["holiday"]
        assert decision.next_allowed_at is not None
        reopens = decision.next_allowed_at.astimezone(ZoneInfo(BOGOTA))
        assert reopens.date() > holiday and reopens.date() not in calendar
        assert check("CO", request(decision.next_allowed_at, BOGOTA)).allowed

    def test_an_observed_holiday_moved_to_monday(self):
        assert date(2026, 1, 12) in holidays.country_holidays("CO", years=2026)
        decision = check("CO", request(local(BOGOTA, 2026, 1, 12, 10), BOGOTA))
        assert codes(decision) == ["holiday"]
        assert decision.next_allowed_at == local(BOGOTA, 2026, 1, 13, 7, 0)

    def test_the_holiday_date_is_the_local_one(self):
        # 2026-01-01 04:00 UTC is still 31 December in Bogotá: not the holiday, but night.
        decision = check("CO", request(utc(2026, 1, 1, 4), BOGOTA))
        assert codes(decision) == ["outside_hours"]

    def test_no_second_contact_the_day_of_a_direct_contact(self):
        reached = contact(local(BOGOTA, 2026, 3, 10, 9), "RPC_PTP")
        later = check("CO", request(local(BOGOTA, 2026, 3, 10, 11), BOGOTA, history=[reached]))
        assert codes(later) == ["after_contact"]
        assert later.reasons[0].hard
        assert later.next_allowed_at == local(BOGOTA, 2026, 3, 11, 7, 0)
        tomorrow = request(local(BOGOTA, 2026, 3, 11, 10), BOGOTA, history=[reached])
        assert check("CO", tomorrow).allowed

    def test_attempts_without_a_direct_contact_do_not_close_the_day(self):
        missed = contact(local(BOGOTA, 2026, 3, 10, 9), "NO_ANSWER")
        assert check(
            "CO", request(local(BOGOTA, 2026, 3, 10, 11), BOGOTA, history=[missed])
        ).allowed

    def test_one_channel_a_week_after_a_direct_contact(self):
        reached = contact(local(BOGOTA, 2026, 3, 10, 9), "RPC")
        sms = request(
            local(BOGOTA, 2026, 3, 11, 10), BOGOTA, channel=ContactChannel.SMS, history=[reached]
        )
        decision = check("CO", sms)
        assert codes(decision) == ["one_channel_a_week"]
        assert decision.next_allowed_at == local(BOGOTA, 2026, 3, 17, 9, 0)
        assert check("CO", replace(sms, at=local(BOGOTA, 2026, 3, 17, 9, 0))).allowed

    def test_no_visits_no_references_only_authorised_channels(self):
        now = local(BOGOTA, 2026, 3, 10, 10)
        visit = check("CO", request(now, BOGOTA, channel=ContactChannel.VISIT))
        assert codes(visit) == ["visits_prohibited"]
        assert visit.next_allowed_at is None
        reference = check("CO", request(now, BOGOTA, party=Party.REFERENCE))
        assert codes(reference) == ["third_party_prohibited"]
        assert reference.reasons[0].hard
        never_asked = check("CO", request(now, BOGOTA, consented_channels=None))
        assert codes(never_asked) == ["channel_not_consented"]
        other = check(
            "CO", request(now, BOGOTA, consented_channels=frozenset({ContactChannel.SMS}))
        )
        assert codes(other) == ["channel_not_consented"]
        assert check(
            "CO", request(now, BOGOTA, consented_channels=frozenset({ContactChannel.CALL}))
        ).allowed

    def test_consent_is_a_colombian_rule(self):
        now = local(MEXICO_CITY, 2026, 3, 10, 12)
        assert check("MX", request(now, consented_channels=None)).allowed


class TestPeru:
    def test_weekdays_seven_to_eight(self):
        assert check("PE", request(local(LIMA, 2026, 3, 10, 19, 59), LIMA)).allowed
        late = check("PE", request(local(LIMA, 2026, 3, 10, 20, 0), LIMA))
        assert codes(late) == ["outside_hours"]
        assert late.next_allowed_at == local(LIMA, 2026, 3, 11, 7, 0)

    def test_never_on_weekends_or_holidays(self):
        saturday = check("PE", request(local(LIMA, 2026, 3, 14, 10), LIMA))
        assert codes(saturday) == ["closed_day"]
        assert saturday.next_allowed_at == local(LIMA, 2026, 3, 16, 7, 0)
        assert codes(check("PE", request(local(LIMA, 2026, 3, 15, 10), LIMA))) == ["sunday"]
        assert date(2026, 7, 28) in holidays.country_holidays("PE", years=2026)
        independence = check("PE", request(local(LIMA, 2026, 7, 28, 10), LIMA))
        assert codes(independence) == ["holiday"]

    def test_references_only_asked_for_whereabouts(self):
        reference = check("PE", request(local(LIMA, 2026, 3, 10, 10), LIMA, party=Party.REFERENCE))
        assert reference.allowed and "Never mention the debt" in reference.script


class TestChile:
    def test_monday_to_saturday_eight_to_eight(self):
        assert check("CL", request(local(SANTIAGO, 2026, 3, 14, 19, 59), SANTIAGO)).allowed
        assert codes(check("CL", request(local(SANTIAGO, 2026, 3, 10, 7, 59), SANTIAGO))) == [
            "outside_hours"
        ]
        assert codes(check("CL", request(local(SANTIAGO, 2026, 3, 15, 12), SANTIAGO))) == ["sunday"]

    def test_one_call_or_visit_a_week(self):
        called = contact(local(SANTIAGO, 2026, 3, 9, 10))
        wednesday = local(SANTIAGO, 2026, 3, 11, 11)
        call = check("CL", request(wednesday, SANTIAGO, history=[called]))
        assert codes(call) == ["frequency_cap"]
        assert call.reasons[0].hard
        assert call.next_allowed_at == local(SANTIAGO, 2026, 3, 16, 10, 0)
        visit = check(
            "CL", request(wednesday, SANTIAGO, channel=ContactChannel.VISIT, history=[called])
        )
        assert codes(visit) == ["frequency_cap"]
        assert check(
            "CL", request(wednesday, SANTIAGO, channel=ContactChannel.SMS, history=[called])
        ).allowed

    def test_other_media_twice_a_week_two_days_apart(self):
        first = contact(local(SANTIAGO, 2026, 3, 9, 10), channel=ContactChannel.SMS)
        soon = check(
            "CL",
            request(
                local(SANTIAGO, 2026, 3, 11, 10),
                SANTIAGO,
                channel=ContactChannel.EMAIL,
                history=[first],
            ),
        )
        assert codes(soon) == ["frequency_cap"]
        assert soon.next_allowed_at == local(SANTIAGO, 2026, 3, 12, 8, 0)
        second = contact(local(SANTIAGO, 2026, 3, 12, 9), channel=ContactChannel.EMAIL)
        third = check(
            "CL",
            request(
                local(SANTIAGO, 2026, 3, 13, 10),
                SANTIAGO,
                channel=ContactChannel.WHATSAPP,
                history=[first, second],
            ),
        )
        assert codes(third) == ["frequency_cap"]
        # Two in the rolling week until the first leaves it on Monday at ten.
        assert third.next_allowed_at == local(SANTIAGO, 2026, 3, 16, 10, 0)


class TestBrazil:
    def test_no_hour_window_in_law(self):
        pack = PACKS["BR"]
        assert not pack.hours_in_law
        assert check("BR", request(local(SAO_PAULO, 2026, 3, 15, 3), SAO_PAULO)).allowed

    def test_never_expose_the_debtor_to_third_parties(self):
        now = local(SAO_PAULO, 2026, 3, 10, 10)
        reference = check("BR", request(now, SAO_PAULO, party=Party.REFERENCE))
        assert "Never mention the debt" in reference.script


class TestUnitedStates:
    def test_eight_to_nine_in_each_zone(self):
        # 12 CFR 1006.6(b)(1)(i) bars only "after 9:00 p.m.": 21:00 itself is allowed (this
        # test used to refuse 21:00).
        assert check("US", request(local(NEW_YORK, 2026, 4, 14, 20, 59), NEW_YORK)).allowed
        assert check("US", request(local(NEW_YORK, 2026, 4, 14, 21), NEW_YORK)).allowed
        assert codes(check("US", request(local(NEW_YORK, 2026, 4, 14, 21, 1), NEW_YORK))) == [
            "outside_hours"
        ]
        early = check("US", request(local(LOS_ANGELES, 2026, 4, 14, 7, 59), LOS_ANGELES))
        assert early.next_allowed_at == local(LOS_ANGELES, 2026, 4, 14, 8, 0)
        instant = utc(2026, 4, 15, 1, 30)  # 21:30 in New York, 18:30 in Los Angeles
        assert not check("US", request(instant, NEW_YORK)).allowed
        assert check("US", request(instant, LOS_ANGELES)).allowed

    def test_seven_calls_in_seven_days(self):
        calls = [contact(local(NEW_YORK, 2026, 4, day, 9)) for day in range(8, 15)]
        now = local(NEW_YORK, 2026, 4, 14, 12)
        eighth = check("US", request(now, NEW_YORK, history=calls))
        assert codes(eighth) == ["frequency_cap"]
        # Seven consecutive local calendar days (1006.14(b)(2)(i)(A)): on the 15th the 8th's
        # call has left the period, so the window's opening is the next allowed time.
        assert eighth.next_allowed_at == local(NEW_YORK, 2026, 4, 15, 8, 0)
        assert check("US", request(now, NEW_YORK, history=calls[1:])).allowed
        assert check(
            "US", request(now, NEW_YORK, channel=ContactChannel.SMS, history=calls)
        ).allowed

    def test_no_call_within_seven_days_after_a_conversation(self):
        talked = contact(local(NEW_YORK, 2026, 4, 12, 15), "RPC_CALLBACK")
        now = local(NEW_YORK, 2026, 4, 14, 12)
        call = check("US", request(now, NEW_YORK, history=[talked]))
        assert codes(call) == ["after_contact"]
        # The conversation's date is the first of the 7 days: the 12th to the 18th.
        assert call.next_allowed_at == local(NEW_YORK, 2026, 4, 19, 8, 0)
        assert check(
            "US", request(now, NEW_YORK, channel=ContactChannel.EMAIL, history=[talked])
        ).allowed

    def test_a_conversation_with_a_third_party_does_not_start_the_debtors_seven_days(self):
        # 1006.14(b)(2)(i)(B) speaks of a conversation "with the person" called (this test
        # used to block the debtor after a third-party conversation).
        talked = contact(local(NEW_YORK, 2026, 4, 12, 15), "TPC", party=Party.REFERENCE)
        talked = replace(talked, same_person=False)
        now = local(NEW_YORK, 2026, 4, 14, 12)
        assert check("US", request(now, NEW_YORK, history=[talked])).allowed

    def test_a_dispute_stops_collection(self):
        now = local(NEW_YORK, 2026, 4, 14, 12)
        us = check("US", request(now, NEW_YORK, flags=frozenset({DebtorFlag.DISPUTE})))
        assert codes(us) == ["dispute"] and us.reasons[0].hard
        mx = check("MX", request(now, flags=frozenset({DebtorFlag.DISPUTE})))
        assert codes(mx) == ["dispute"] and not mx.reasons[0].hard
        assert us.next_allowed_at is None and mx.next_allowed_at is None

    def test_third_parties_are_asked_for_location_only(self):
        now = local(NEW_YORK, 2026, 4, 14, 12)
        assert "location" in check("US", request(now, NEW_YORK, party=Party.REFERENCE)).script
        assert "debt collector" in check("US", request(now, NEW_YORK)).script


class TestStandingBlockers:
    NOW = local(MEXICO_CITY, 2026, 3, 10, 12)

    @pytest.mark.parametrize("channel", list(ContactChannel))
    def test_cease_contact_stops_every_channel(self, channel):
        decision = check(
            "MX", request(self.NOW, channel=channel, flags=frozenset({DebtorFlag.CEASE_CONTACT}))
        )
        assert codes(decision) == ["cease_contact"]
        assert decision.reasons[0].hard and decision.next_allowed_at is None

    @pytest.mark.parametrize("status", ["recalled", "closed"])
    def test_an_account_not_active(self, status):
        decision = check("MX", request(self.NOW, account_status=status))
        assert codes(decision) == [f"account_{status}"]
        assert decision.reasons[0].hard and decision.next_allowed_at is None

    def test_a_recalled_account_outside_hours_has_no_next_moment(self):
        night = local(MEXICO_CITY, 2026, 3, 10, 23)
        decision = check("MX", request(night, account_status="recalled"))
        assert codes(decision) == ["account_recalled", "outside_hours"]
        assert decision.next_allowed_at is None

    def test_a_pause_refuses_softly(self):
        decision = check("MX", request(self.NOW, paused=True))
        assert codes(decision) == ["account_paused"]
        assert not decision.reasons[0].hard and decision.next_allowed_at is None

    def test_deceased_and_attorney(self):
        dead = check(
            "MX", request(self.NOW, party=Party.GUARANTOR, flags=frozenset({DebtorFlag.DECEASED}))
        )
        assert codes(dead) == ["deceased"] and dead.reasons[0].hard
        lawyer = frozenset({DebtorFlag.ATTORNEY})
        assert codes(check("MX", request(self.NOW, flags=lawyer))) == ["attorney"]
        assert check("MX", request(self.NOW, flags=lawyer, party=Party.GUARANTOR)).allowed

    def test_an_opted_out_channel(self):
        out = frozenset({ContactChannel.WHATSAPP})
        decision = check(
            "MX", request(self.NOW, channel=ContactChannel.WHATSAPP, opted_out_channels=out)
        )
        assert codes(decision) == ["channel_opted_out"] and decision.reasons[0].hard
        assert check("MX", request(self.NOW, opted_out_channels=out)).allowed

    def test_an_invalid_contact_point(self):
        decision = check("MX", request(self.NOW, contact_point_valid=False))
        assert codes(decision) == ["invalid_contact_point"]
        assert not decision.reasons[0].hard

    def test_a_naive_moment_or_an_unknown_zone_is_refused(self):
        with pytest.raises(InvalidInput):
            check("MX", request(datetime(2026, 3, 10, 12)))
        with pytest.raises(InvalidInput):
            check("MX", request(self.NOW, "Mars/Olympus_Mons"))


class TestStrategy:
    NOW = local(MEXICO_CITY, 2026, 3, 10, 12)

    def test_a_channel_the_strategy_does_not_use(self):
        limits = StrategyLimits(allowed_channels=frozenset({ContactChannel.SMS}))
        decision = check("MX", request(self.NOW, strategy=limits))
        assert codes(decision) == ["channel_not_in_strategy"]
        assert not decision.reasons[0].hard and decision.next_allowed_at is None
        assert check("MX", request(self.NOW, channel=ContactChannel.SMS, strategy=limits)).allowed

    def test_no_visits_in_the_strategy(self):
        limits = StrategyLimits(visits_allowed=False)
        decision = check("MX", request(self.NOW, channel=ContactChannel.VISIT, strategy=limits))
        assert codes(decision) == ["channel_not_in_strategy"]

    def test_a_daily_cap_counts_every_account_of_the_debtor(self):
        limits = StrategyLimits(per_day={ContactChannel.CALL: 2}, version=3)
        calls = [contact(local(MEXICO_CITY, 2026, 3, 10, h)) for h in (9, 10)]
        decision = check("MX", request(self.NOW, strategy=limits, history=calls))
        assert codes(decision) == ["strategy_cap"]
        assert not decision.reasons[0].hard
        assert decision.next_allowed_at == local(MEXICO_CITY, 2026, 3, 11, 7, 0)
        assert check("MX", request(self.NOW, strategy=limits, history=calls[:1])).allowed

    def test_a_weekly_cap_is_a_rolling_week(self):
        limits = StrategyLimits(per_week={ContactChannel.SMS: 1})
        sent = contact(local(MEXICO_CITY, 2026, 3, 8, 12), channel=ContactChannel.SMS)
        decision = check(
            "MX", request(self.NOW, channel=ContactChannel.SMS, strategy=limits, history=[sent])
        )
        assert codes(decision) == ["strategy_cap"]
        assert decision.next_allowed_at == local(MEXICO_CITY, 2026, 3, 15, 12, 0)


class TestOverrides:
    def test_no_overrides_is_the_pack_itself(self):
        assert pack_for("MX") is PACKS["MX"]
        assert pack_for("mx", {}) is PACKS["MX"]

    def test_narrower_hours_for_every_day(self):
        pack = pack_for("MX", {"hours": {"start": "08:00", "end": "21:00"}})
        assert pack.version.startswith("MX-2026.1+")
        assert not check_contact(pack, request(local(MEXICO_CITY, 2026, 3, 10, 21, 30))).allowed
        assert not check_contact(pack, request(local(MEXICO_CITY, 2026, 3, 10, 7, 30))).allowed
        assert check_contact(pack, request(local(MEXICO_CITY, 2026, 3, 10, 20, 59))).allowed

    def test_one_window_meets_each_days_own(self):
        pack = pack_for("CO", {"hours": {"start": "08:00", "end": "18:00"}})
        assert [w.label if w else None for w in pack.hours] == [
            *["08:00–18:00"] * 5,
            "08:00–15:00",
            None,
        ]

    def test_per_weekday_windows_closed_days_and_dates(self):
        pack = pack_for(
            "MX",
            {
                "hours": {"saturday": {"start": "09:00", "end": "14:00"}, "sunday": None},
                "excluded_dates": ["2026-12-24"],
                "exclude_holidays": True,
            },
        )
        assert codes(check_contact(pack, request(local(MEXICO_CITY, 2026, 3, 15, 12)))) == [
            "sunday"
        ]
        assert codes(check_contact(pack, request(local(MEXICO_CITY, 2026, 3, 14, 15)))) == [
            "outside_hours"
        ]
        assert codes(check_contact(pack, request(local(MEXICO_CITY, 2026, 12, 24, 12)))) == [
            "holiday"
        ]
        assert codes(check_contact(pack, request(local(MEXICO_CITY, 2026, 9, 16, 12)))) == [
            "holiday"
        ]

    def test_lower_caps_and_no_visits(self):
        pack = pack_for(
            "US",
            {
                "caps": [{"channels": ["call"], "period_days": 7, "limit": 3}],
                "visits_allowed": False,
                "excluded_weekdays": ["sunday"],
            },
        )
        assert pack.law_cap(ContactChannel.CALL, 7) == 3
        calls = [contact(local(NEW_YORK, 2026, 4, d, 9)) for d in (10, 11, 13)]
        now = local(NEW_YORK, 2026, 4, 14, 12)
        assert codes(check_contact(pack, request(now, NEW_YORK, history=calls))) == [
            "frequency_cap"
        ]
        visit = check_contact(pack, request(now, NEW_YORK, channel=ContactChannel.VISIT))
        assert codes(visit) == ["visits_prohibited"]

    @pytest.mark.parametrize(
        ("country", "overrides", "message"),
        [
            ("MX", {"hours": {"start": "06:00", "end": "22:00"}}, "looser"),
            ("MX", {"hours": {"monday": {"start": "07:00", "end": "23:00"}}}, "looser"),
            ("CO", {"hours": {"start": "08:00", "end": "20:00"}}, "looser"),
            ("CO", {"hours": {"sunday": {"start": "09:00", "end": "12:00"}}}, "no contact"),
            ("CO", {"exclude_holidays": False}, "excludes holidays"),
            ("CO", {"visits_allowed": True}, "prohibits visits"),
            ("CO", {"consent_required": False}, "requires consent"),
            ("US", {"caps": [{"channels": ["call"], "period_days": 7, "limit": 8}]}, "looser"),
            ("CL", {"caps": [{"channels": ["sms"], "period_days": 1, "limit": 2}]}, "looser"),
            ("MX", {"quiet_hours": True}, "unknown override"),
            ("MX", {"hours": {"start": "25:00", "end": "26:00"}}, "HH:MM"),
            ("MX", {"excluded_weekdays": ["someday"]}, "not a weekday"),
            ("AR", {}, "no rule pack"),
        ],
    )
    def test_looser_or_malformed_overrides_are_refused(self, country, overrides, message):
        with pytest.raises(ValueError, match=message):
            pack_for(country, overrides or None)

    def test_a_cap_the_law_does_not_set_is_stricter(self):
        pack = pack_for(
            "MX", {"caps": [{"channels": ["call", "sms"], "period_days": 1, "limit": 4}]}
        )
        assert pack.law_cap(ContactChannel.SMS, 1) == 4
        assert pack.law_cap(ContactChannel.EMAIL, 1) is None


class TestPhoneTimeZones:
    @pytest.mark.parametrize(
        ("phone", "zone"),
        [
            ("+526641234567", "America/Tijuana"),
            ("+529981234567", "America/Cancun"),
            ("+525512345678", "America/Mexico_City"),
            ("+12125551234", "America/New_York"),
            ("+14155551234", "America/Los_Angeles"),
            ("+573001234567", "America/Bogota"),
        ],
    )
    def test_a_prefix_with_one_zone(self, phone, zone):
        assert time_zone_for_phone(phone) == zone

    @pytest.mark.parametrize("phone", ["+18005551234", "+56912345678", "not a phone", ""])
    def test_otherwise_the_default(self, phone):
        assert time_zone_for_phone(phone) is None
        assert time_zone_for_phone(phone, "America/Santiago") == "America/Santiago"


class TestLocalInstant:
    def test_a_time_the_clocks_skip_is_the_jump(self):
        # New York springs forward at 02:00 on 2026-03-08: 02:30 never happens.
        assert local_instant(ZoneInfo(NEW_YORK), date(2026, 3, 8), 150) == utc(2026, 3, 8, 7)
        # Santiago springs forward at midnight on 2026-09-06: the day starts at 01:00.
        assert local_instant(ZoneInfo(SANTIAGO), date(2026, 9, 6), 0) == utc(2026, 9, 6, 4)

    def test_a_repeated_time_is_the_first(self):
        assert local_instant(ZoneInfo(NEW_YORK), date(2026, 11, 1), 90) == utc(2026, 11, 1, 5, 30)


# --- properties --------------------------------------------------------------------------

PROPERTY_ZONES = [
    MEXICO_CITY,
    TIJUANA,
    CANCUN,
    "America/Hermosillo",
    "America/Chihuahua",
    BOGOTA,
    NEW_YORK,
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    LOS_ANGELES,
    "Pacific/Honolulu",
]
instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31, 23, 59), timezones=st.just(UTC)
)
packs = st.sampled_from(list(PACKS.values()))
strategies = st.builds(
    StrategyLimits,
    per_day=st.dictionaries(st.sampled_from(list(ContactChannel)), st.integers(1, 3), max_size=2),
    per_week=st.dictionaries(st.sampled_from(list(ContactChannel)), st.integers(1, 5), max_size=2),
)


@st.composite
def temporary_requests(draw: st.DrawFn) -> tuple[RulePack, ContactRequest]:
    """A request with nothing but time standing against it (no standing blocker)."""
    pack = draw(packs)
    at = draw(instants)
    channels = [c for c in ContactChannel if pack.visits_allowed or c is not ContactChannel.VISIT]
    parties = [
        p for p in Party if p is not Party.REFERENCE or pack.references.value == "locate_only"
    ]
    history = draw(
        st.lists(
            st.builds(
                PastContact,
                at=st.integers(1, 10 * 24 * 3600).map(lambda s: at - timedelta(seconds=s)),
                channel=st.sampled_from(list(ContactChannel)),
                party=st.sampled_from(list(Party)),
                conversation=st.booleans(),
                direct=st.booleans(),
            ).map(lambda p: replace(p, conversation=p.conversation or p.direct)),
            max_size=8,
        )
    )
    return pack, request(
        at,
        draw(st.sampled_from(PROPERTY_ZONES)),
        channel=draw(st.sampled_from(channels)),
        party=draw(st.sampled_from(parties)),
        history=history,
        strategy=draw(strategies),
    )


@settings(max_examples=300, deadline=None)
@given(temporary_requests())
def test_the_next_allowed_moment_is_allowed_and_the_earliest(case):
    pack, req = case
    decision = check_contact(pack, req)
    assert decision.allowed == (not decision.reasons)
    assert all(r.code in TIMED_REASONS for r in decision.reasons)
    if decision.allowed:
        assert decision.next_allowed_at is None
        return
    moment = decision.next_allowed_at
    if moment is None:
        return
    assert moment.tzinfo is UTC
    assert moment >= req.at
    assert check_contact(pack, replace(req, at=moment)).allowed
    just_before = moment - timedelta(seconds=1)
    if just_before >= req.at:
        assert not check_contact(pack, replace(req, at=just_before)).allowed


@settings(max_examples=200, deadline=None)
@given(
    temporary_requests(),
    st.sampled_from(["active", "active", "recalled", "closed"]),
    st.booleans(),
    st.frozensets(st.sampled_from(list(DebtorFlag))),
    st.frozensets(st.sampled_from(list(ContactChannel)), max_size=2),
    st.none() | st.frozensets(st.sampled_from(list(ContactChannel))),
    st.booleans(),
)
def test_a_denied_contact_always_says_why(case, status, paused, flags, opted_out, consented, valid):
    pack, req = case
    req = replace(
        req,
        account_status=status,
        paused=paused,
        flags=flags,
        opted_out_channels=opted_out,
        consented_channels=consented,
        contact_point_valid=valid,
    )
    decision = check_contact(pack, req)
    assert decision.allowed == (not decision.reasons)
    assert decision.pack_version == pack.version
    if any(r.code not in TIMED_REASONS for r in decision.reasons):
        assert decision.next_allowed_at is None
    if status != "active" or DebtorFlag.CEASE_CONTACT in flags or req.channel in opted_out:
        assert not decision.allowed
        assert any(r.hard for r in decision.reasons)


def test_a_recorded_party_counts_as_who_was_tried_and_nobody_answering_is_the_debtor():
    # An unanswered call to the debtor is still an attempt on the debtor (the per-day and
    # per-week caps count attempts, not only conversations).
    assert party_counted("none") is Party.DEBTOR
    assert party_counted("debtor") is Party.DEBTOR
    assert party_counted("reference") is Party.REFERENCE
    assert party_counted("guarantor") is Party.GUARANTOR
    with pytest.raises(ValueError):
        party_counted("neighbour")
