"""What a recorded gestión must carry, and how a promise resolves."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.contact_check import ContactChannel
from app.domain.errors import InvalidInput
from app.domain.interactions import (
    Direction,
    InteractionDraft,
    PartyReached,
    Pcr,
    PromiseStatus,
    check_interaction,
    promise_outcome,
)

NOW = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
FULL_PCR = Pcr(
    "unemployment", "Lost his job in May", "Two children, wife works", "Pays 1,500 on the 30th"
)


def draft(**changes: object) -> InteractionDraft:
    base = InteractionDraft(
        channel=ContactChannel.CALL,
        direction=Direction.OUTBOUND,
        party=PartyReached.DEBTOR,
        result_code="RPC",
        started_at=NOW - timedelta(minutes=10),
        ended_at=NOW - timedelta(minutes=5),
        pcr=FULL_PCR,
        has_position=False,
        promise_amount=None,
        promise_due=None,
        account_total=Decimal("10000.00"),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def refused_field(d: InteractionDraft) -> str:
    with pytest.raises(InvalidInput) as caught:
        check_interaction(d, NOW)
    return caught.value.field


def test_a_complete_right_party_contact_passes() -> None:
    check_interaction(draft(), NOW)


@pytest.mark.parametrize("missing", ["problem", "circumstance", "resolution"])
def test_right_party_contacts_need_every_part_of_the_pcr(missing: str) -> None:
    pcr = replace(FULL_PCR, **{missing: "  "})
    assert refused_field(draft(pcr=pcr)) == f"pcr.{missing}"


def test_the_problem_category_comes_from_the_fixed_list() -> None:
    assert refused_field(draft(pcr=replace(FULL_PCR, problem_category="bad luck"))) == (
        "pcr.problem_category"
    )


def test_no_answer_needs_no_pcr() -> None:
    empty = Pcr(None, None, None, None)
    check_interaction(draft(result_code="NO_ANSWER", party=PartyReached.NONE, pcr=empty), NOW)


def test_unknown_result_codes_are_refused() -> None:
    assert refused_field(draft(result_code="MAYBE")) == "result_code"


def test_a_right_party_contact_reaches_the_debtor() -> None:
    assert refused_field(draft(party=PartyReached.REFERENCE)) == "party"


def test_a_third_party_contact_reaches_someone_else() -> None:
    assert refused_field(draft(result_code="TPC", party=PartyReached.DEBTOR)) == "party"


def test_times_must_be_plausible() -> None:
    assert refused_field(draft(started_at=NOW + timedelta(hours=1))) == "started_at"
    assert refused_field(draft(started_at=NOW - timedelta(days=31))) == "started_at"
    assert refused_field(draft(ended_at=NOW - timedelta(hours=1))) == "ended_at"


def test_visits_carry_a_position_and_address_results_belong_to_visits() -> None:
    assert refused_field(draft(channel=ContactChannel.VISIT)) == "position"
    empty = Pcr(None, None, None, None)
    moved = draft(result_code="MOVED", party=PartyReached.NONE, pcr=empty)
    assert refused_field(moved) == "result_code"
    check_interaction(replace(moved, channel=ContactChannel.VISIT, has_position=True), NOW)


def test_a_promise_comes_with_rpc_ptp_and_only_with_it() -> None:
    assert refused_field(draft(result_code="RPC_PTP")) == "promise"
    assert refused_field(draft(promise_amount=Decimal("100"), promise_due=NOW.date())) == (
        "promise"
    )
    check_interaction(
        draft(
            result_code="RPC_PTP",
            promise_amount=Decimal("1500.00"),
            promise_due=NOW.date() + timedelta(days=6),
        ),
        NOW,
    )


def test_a_promise_is_within_the_balance_and_ninety_days() -> None:
    ptp = draft(result_code="RPC_PTP", promise_due=NOW.date() + timedelta(days=6))
    assert refused_field(replace(ptp, promise_amount=Decimal("10000.01"))) == ("promise.amount")
    late = replace(ptp, promise_amount=Decimal("10"), promise_due=NOW.date() + timedelta(days=91))
    assert refused_field(late) == "promise.due_date"


DUE = date(2026, 11, 30)


def test_a_promise_paid_within_tolerance_is_kept() -> None:
    assert (
        promise_outcome(Decimal("1000"), Decimal("960"), DUE, DUE, 3, Decimal("5"))
        is PromiseStatus.KEPT
    )


def test_a_promise_stays_pending_through_its_grace_days() -> None:
    for offset in range(4):
        day = DUE + timedelta(days=offset)
        assert (
            promise_outcome(Decimal("1000"), Decimal("0"), DUE, day, 3, Decimal("5"))
            is PromiseStatus.PENDING
        )


def test_after_the_grace_days_it_is_partially_kept_or_broken() -> None:
    day = DUE + timedelta(days=4)
    assert (
        promise_outcome(Decimal("1000"), Decimal("500"), DUE, day, 3, Decimal("5"))
        is PromiseStatus.PARTIALLY_KEPT
    )
    assert (
        promise_outcome(Decimal("1000"), Decimal("0"), DUE, day, 3, Decimal("5"))
        is PromiseStatus.BROKEN
    )


@given(
    amount=st.decimals(min_value=Decimal("1"), max_value=Decimal("100000"), places=2),
    paid=st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=2),
    tolerance=st.decimals(min_value=Decimal("0"), max_value=Decimal("50"), places=2),
    late=st.integers(min_value=-10, max_value=40),
    grace=st.integers(min_value=0, max_value=30),
)
def test_more_paid_never_makes_a_promise_worse(
    amount: Decimal, paid: Decimal, tolerance: Decimal, late: int, grace: int
) -> None:
    rank = {
        PromiseStatus.BROKEN: 0,
        PromiseStatus.PARTIALLY_KEPT: 1,
        PromiseStatus.PENDING: 1,
        PromiseStatus.KEPT: 2,
    }
    day = DUE + timedelta(days=late)
    less = promise_outcome(amount, paid, DUE, day, grace, tolerance)
    more = promise_outcome(amount, paid + Decimal("0.01"), DUE, day, grace, tolerance)
    assert rank[more] >= rank[less]


@pytest.mark.parametrize("channel", [ContactChannel.VISIT, ContactChannel.LETTER])
def test_visits_and_letters_are_never_inbound(channel: ContactChannel) -> None:
    inbound = draft(channel=channel, direction=Direction.INBOUND, has_position=True)
    assert refused_field(inbound) == "direction"


@pytest.mark.parametrize(
    "channel", [ContactChannel.CALL, ContactChannel.SMS, ContactChannel.EMAIL, ContactChannel.VISIT]
)
def test_an_outbound_contact_names_the_point_it_used(channel: ContactChannel) -> None:
    unnamed = draft(channel=channel, names_contact_point=False, has_position=True)
    assert refused_field(unnamed) == "contact_point_id"


def test_a_letter_or_an_inbound_call_names_no_point() -> None:
    letter = draft(
        channel=ContactChannel.LETTER,
        names_contact_point=False,
        result_code="NO_ANSWER",
        party=PartyReached.NONE,
    )
    check_interaction(letter, NOW)
    check_interaction(draft(direction=Direction.INBOUND, names_contact_point=False), NOW)
