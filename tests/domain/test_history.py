"""The account history's event shapes (app/domain/history.py): the JSON each kind stores and
which kinds a reader looks in for a key."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.history import (
    EVENTS,
    Arrival,
    Assignee,
    Balances,
    Delinquency,
    HistoryKind,
    PauseEnd,
    PauseTaken,
    StatusAfter,
    StatusBefore,
    carrying,
    json_value,
    payload,
    records,
    sides,
)

ID = uuid.UUID("6f1d2c3b-0000-4000-8000-00000000000a")
TEAM = uuid.UUID("6f1d2c3b-0000-4000-8000-00000000000b")


class TestPayload:
    def test_a_new_account_records_its_push_stage_and_total(self):
        assert payload(Arrival(ID, "early", 12, Decimal("1150.5"))) == {
            "assignment_id": "6f1d2c3b-0000-4000-8000-00000000000a",
            "stage": "early",
            "dpd": 12,
            "total": "1150.50",
        }

    def test_balances_keep_every_component_and_null_dates(self):
        recorded = payload(
            Balances(
                principal=Decimal("1000"),
                interest=Decimal("120.5"),
                fees=Decimal("0.00"),
                total=Decimal("1120.50"),
                past_due_amount=Decimal("300.00"),
                oldest_unpaid_due_date=date(2026, 9, 1),
                last_payment_date=None,
                last_payment_amount=None,
            )
        )
        assert recorded == {
            "principal": "1000.00",
            "interest": "120.50",
            "fees": "0.00",
            "total": "1120.50",
            "past_due_amount": "300.00",
            "oldest_unpaid_due_date": "2026-09-01",
            "last_payment_date": None,
            "last_payment_amount": None,
        }

    def test_an_unassignment_records_nulls_not_absence(self):
        # A reader looks for the key: a null collector is a value (nobody), not "unknown".
        assert payload(Assignee(None, None)) == {
            "assigned_collector_id": None,
            "assigned_team_id": None,
        }

    def test_a_plain_status_change_leaves_the_recall_keys_out(self):
        assert payload(StatusBefore("active")) == {"status": "active"}
        assert payload(StatusAfter("closed")) == {"status": "closed"}

    def test_a_recall_records_whom_it_took_the_account_from_and_why(self):
        assert payload(StatusBefore("active", ID, None)) == {
            "status": "active",
            "assigned_collector_id": "6f1d2c3b-0000-4000-8000-00000000000a",
            "assigned_team_id": None,
        }
        assert payload(StatusAfter("recalled", reason=None)) == {
            "status": "recalled",
            "reason": None,
        }

    def test_a_reactivating_push_names_itself(self):
        assert payload(StatusAfter("active", assignment_id=TEAM)) == {
            "status": "active",
            "assignment_id": "6f1d2c3b-0000-4000-8000-00000000000b",
        }

    def test_pauses_record_their_dates_as_iso_text(self):
        assert payload(PauseTaken(ID, "dispute", date(2026, 12, 1), date(2026, 12, 31))) == {
            "pause_id": "6f1d2c3b-0000-4000-8000-00000000000a",
            "reason": "dispute",
            "starts_on": "2026-12-01",
            "ends_on": "2026-12-31",
        }
        assert payload(PauseEnd(ID, date(2026, 12, 5))) == {
            "pause_id": "6f1d2c3b-0000-4000-8000-00000000000a",
            "ends_on": "2026-12-05",
        }

    def test_nothing_before_is_null(self):
        assert payload(None) is None

    def test_a_side_that_is_not_a_shape_is_refused(self):
        with pytest.raises(TypeError):
            payload({"stage": "early"})

    @given(
        cents=st.integers(min_value=-(10**15), max_value=10**15),
        exponent=st.sampled_from([0, -1, -2]),
    )
    def test_money_is_written_with_two_decimals(self, cents, exponent):
        # However the amount was computed (1150, 1150.5, 1150.50), history stores what a
        # numeric(18, 2) column prints.
        amount = Decimal(cents).scaleb(-2).quantize(Decimal(1).scaleb(exponent), "ROUND_DOWN")
        written = json_value(amount)
        assert isinstance(written, str)
        _, _, fraction = written.partition(".")
        assert len(fraction) == 2
        assert Decimal(written) == amount


class TestKinds:
    def test_every_kind_has_its_class(self):
        assert set(EVENTS) == set(HistoryKind)
        assert all(cls.KIND is kind for kind, cls in EVENTS.items())

    def test_created_and_paused_record_nothing_before(self):
        assert sides(HistoryKind.CREATED) == (None, Arrival)
        assert sides(HistoryKind.PAUSED) == (None, PauseTaken)
        assert sides(HistoryKind.STAGE_CHANGED) == (Delinquency, Delinquency)

    def test_readers_find_the_stage_in_arrivals_and_stage_changes(self):
        assert carrying("stage") == (HistoryKind.CREATED, HistoryKind.STAGE_CHANGED)
        assert carrying("dpd") == (HistoryKind.CREATED, HistoryKind.STAGE_CHANGED)
        assert carrying("total") == (HistoryKind.CREATED, HistoryKind.BALANCE_CHANGED)
        assert carrying("principal") == (HistoryKind.BALANCE_CHANGED,)
        assert carrying("status") == (HistoryKind.STATUS_CHANGED,)

    def test_a_recall_s_collector_is_not_read_as_an_assignment(self):
        # Only ``assigned`` always records the collector; a recall records it sometimes.
        assert carrying("assigned_collector_id") == (HistoryKind.ASSIGNED,)
        assert records(HistoryKind.STATUS_CHANGED, "assigned_collector_id")

    def test_an_unknown_key_is_an_error(self):
        with pytest.raises(KeyError):
            carrying("balance")
