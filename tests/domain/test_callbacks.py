"""Callbacks and inbound calls: the pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain import priority
from app.domain.callbacks import (
    MAX_AHEAD,
    CallbackInPast,
    CallbackRequired,
    CallbackStatus,
    agreed_instant,
    callback_zone,
    check_callback,
    due_moment,
    status_of,
)
from app.domain.contact_check import Decision, Reason
from app.domain.errors import InvalidInput
from app.domain.identity import Country, normalise_phone
from app.domain.inbound import desk_name, is_inbound_desk
from app.domain.roles import Role, Skill

TIJUANA = ZoneInfo("America/Tijuana")
NOW = datetime(2027, 3, 10, 18, 0, tzinfo=UTC)
GRACE = timedelta(minutes=30)


class TestWhatACallbackResultCarries:
    def test_rpc_callback_needs_its_time(self):
        with pytest.raises(CallbackRequired) as raised:
            check_callback("RPC_CALLBACK", given=False)
        assert raised.value.field_errors == [
            ("callback", "a RPC_CALLBACK result carries the agreed callback time")
        ]
        check_callback("RPC_CALLBACK", given=True)

    def test_no_other_result_carries_one(self):
        check_callback("RPC", given=False)
        with pytest.raises(InvalidInput):
            check_callback("RPC_PTP", given=True)


class TestTheDebtorsClock:
    def test_the_zone_is_the_only_candidate_or_the_one_named(self):
        assert callback_zone(None, ("America/Cancun",)) == "America/Cancun"
        assert callback_zone("America/Tijuana", ("America/Cancun", "America/Tijuana")) == (
            "America/Tijuana"
        )
        with pytest.raises(InvalidInput) as ambiguous:
            callback_zone(None, ("America/Cancun", "America/Tijuana"))
        assert "name the zone" in ambiguous.value.message
        with pytest.raises(InvalidInput) as elsewhere:
            callback_zone("Europe/Madrid", ("America/Cancun",))
        assert elsewhere.value.message.startswith("not a zone the debtor may be in")

    def test_a_local_time_is_read_on_the_debtors_clock(self):
        assert agreed_instant(datetime(2027, 3, 10, 19, 30), "America/Tijuana", NOW) == datetime(
            2027, 3, 11, 3, 30, tzinfo=UTC
        )

    def test_seconds_are_dropped(self):
        assert agreed_instant(
            datetime(2027, 3, 10, 19, 30, 59), "America/Tijuana", NOW
        ) == datetime(2027, 3, 11, 3, 30, tzinfo=UTC)

    def test_a_time_the_clocks_skip_is_the_first_instant_after_the_jump(self):
        # Tijuana springs forward on 14 March 2027: 02:00 becomes 03:00.
        now = datetime(2027, 3, 13, 18, 0, tzinfo=UTC)
        moment = agreed_instant(datetime(2027, 3, 14, 2, 30), "America/Tijuana", now)
        assert moment.astimezone(TIJUANA).replace(tzinfo=None) == datetime(2027, 3, 14, 3, 0)

    @pytest.mark.parametrize(
        "local",
        [datetime(2027, 3, 10, 9, 0), datetime(2027, 3, 1, 12, 0), datetime(1, 1, 1, 0, 0)],
    )
    def test_a_time_already_past_is_refused(self, local):
        with pytest.raises(CallbackInPast):
            agreed_instant(local, "America/Tijuana", NOW)

    @pytest.mark.parametrize("local", [datetime(2027, 5, 1, 9, 0), datetime(9999, 12, 31, 23, 59)])
    def test_too_far_ahead_is_refused(self, local):
        with pytest.raises(InvalidInput) as raised:
            agreed_instant(local, "America/Tijuana", NOW)
        assert f"{MAX_AHEAD.days} days" in raised.value.message

    def test_an_offset_is_not_a_wall_clock_time(self):
        with pytest.raises(InvalidInput):
            agreed_instant(datetime(2027, 3, 10, 19, 30, tzinfo=UTC), "America/Tijuana", NOW)


def decision(allowed: bool, next_at: datetime | None, *codes: str) -> Decision:
    reasons = tuple(Reason(c, c, True) for c in codes)
    return Decision(allowed, reasons, next_at, "", "MX-test", "America/Mexico_City")


class TestWhenTheQueueTakesItUp:
    def test_at_the_agreed_instant_when_a_call_is_allowed_then(self):
        assert due_moment(NOW, decision(True, None)) == (NOW, ())

    def test_at_the_next_lawful_moment_otherwise(self):
        later = NOW + timedelta(hours=9)
        due, reasons = due_moment(NOW, decision(False, later, "outside_hours"))
        assert due == later and [r.code for r in reasons] == ["outside_hours"]

    def test_a_standing_block_keeps_the_agreed_instant_and_says_why(self):
        due, reasons = due_moment(NOW, decision(False, None, "cease_contact"))
        assert due == NOW and [r.code for r in reasons] == ["cease_contact"]


class TestStatus:
    def test_from_scheduled_to_due_to_missed(self):
        due = NOW
        assert status_of(due, None, None, due - timedelta(seconds=1), GRACE) == "scheduled"
        assert status_of(due, None, None, due, GRACE) == "due"
        assert status_of(due, None, None, due + GRACE - timedelta(seconds=1), GRACE) == "due"
        assert status_of(due, None, None, due + GRACE, GRACE) == "missed"

    def test_done_and_cancelled_are_final(self):
        assert status_of(NOW, NOW, None, NOW + GRACE * 5, GRACE) == "done"
        assert status_of(NOW, None, NOW, NOW + GRACE * 5, GRACE) == "cancelled"

    @given(minutes=st.integers(-10_000, 10_000))
    def test_an_open_callback_moves_forward_only(self, minutes):
        order = [CallbackStatus.SCHEDULED, CallbackStatus.DUE, CallbackStatus.MISSED]
        now = NOW + timedelta(minutes=minutes)
        first = status_of(NOW, None, None, now, GRACE)
        then = status_of(NOW, None, None, now + timedelta(minutes=1), GRACE)
        assert order.index(then) >= order.index(first)


def test_a_due_callback_outranks_every_other_reason_together():
    others = (
        priority.PROMISE_DUE_TODAY
        + priority.PROMISE_BROKEN
        + priority.BALANCE_CAP
        + priority.PER_DAY_WITHOUT_CONTACT * priority.MAX_DAYS_WITHOUT_CONTACT
        + priority.MAX_POINT_POINTS
    )
    assert others < priority.CALLBACK_DUE


class TestInbound:
    @pytest.mark.parametrize(
        ("written", "country"),
        [
            ("+52 1 55 1234 5678", Country.MX),
            ("+5215512345678", Country.CO),
            ("0052 1 55 1234 5678", Country.MX),
            ("044 55 1234 5678", Country.MX),
            ("045 (55) 1234-5678", Country.MX),
            ("01 55 1234 5678", Country.MX),
            ("55 1234 5678", Country.MX),
        ],
    )
    def test_mexicos_retired_dialling_prefixes_name_todays_number(self, written, country):
        assert normalise_phone(written, country) == "+525512345678"

    def test_outside_mexico_the_national_forms_stay_what_they_were(self):
        with pytest.raises(ValueError):
            normalise_phone("044 55 1234 5678", Country.CO)

    def test_the_desk_sees_names_and_initials(self):
        assert desk_name("María Fernanda", "López García") == "María Fernanda L. G."
        assert desk_name("José", "") == "José"
        assert desk_name("", "") == "***"

    def test_the_desk_is_a_collector_with_the_inbound_skill(self):
        assert is_inbound_desk(Role.COLLECTOR, {Skill.INBOUND, Skill.PHONE})
        assert not is_inbound_desk(Role.COLLECTOR, {Skill.PHONE})
        assert not is_inbound_desk(Role.TEAM_LEAD, {Skill.INBOUND})
