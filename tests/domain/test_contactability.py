"""Contactability, verification and merge rules of skip tracing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.contactability import (
    HourCount,
    Source,
    VerificationStatus,
    best_hour,
    contactability,
    is_valid,
    merge_duplicate,
    name_key,
    score,
    status_after_failure,
    verifies,
)

hours = st.integers(min_value=0, max_value=23)


@st.composite
def hour_counts(draw: st.DrawFn) -> list[HourCount]:
    counts = []
    for hour in draw(st.lists(hours, unique=True, max_size=24)):
        attempts = draw(st.integers(min_value=0, max_value=500))
        counts.append(HourCount(hour, attempts, draw(st.integers(0, attempts))))
    return counts


class TestScore:
    def test_none_before_the_first_attempt(self):
        assert score(0, 0) is None

    @pytest.mark.parametrize(
        ("rpc", "attempts", "expected"),
        [(1, 3, "0.33"), (2, 3, "0.67"), (1, 8, "0.13"), (5, 5, "1.00"), (0, 7, "0.00")],
    )
    def test_right_party_contacts_over_attempts_two_places_half_up(self, rpc, attempts, expected):
        assert score(rpc, attempts) == Decimal(expected)

    def test_more_contacts_than_attempts_is_refused(self):
        with pytest.raises(ValueError):
            score(3, 2)

    @given(st.integers(min_value=1, max_value=10_000), st.data())
    def test_a_score_is_a_fraction_with_two_places(self, attempts, data):
        rpc = data.draw(st.integers(min_value=0, max_value=attempts))
        value = score(rpc, attempts)
        assert value is not None
        assert Decimal(0) <= value <= Decimal(1)
        assert value.as_tuple().exponent == -2
        assert abs(value - Decimal(rpc) / Decimal(attempts)) <= Decimal("0.005")


class TestBestHour:
    def test_none_without_right_party_contacts(self):
        assert best_hour({}) is None
        assert best_hour({9: 0, 18: 0}) is None

    def test_the_hour_with_most_contacts(self):
        assert best_hour({9: 1, 19: 3, 13: 2}) == 19

    def test_ties_go_to_the_earliest_hour(self):
        assert best_hour({19: 2, 8: 2, 13: 1}) == 8

    @given(st.dictionaries(hours, st.integers(min_value=0, max_value=50)))
    def test_no_hour_has_more_and_no_earlier_hour_as_many(self, counts):
        best = best_hour(counts)
        if not any(counts.values()):
            assert best is None
            return
        assert best is not None
        assert all(c <= counts[best] for c in counts.values())
        assert all(counts[h] < counts[best] for h in counts if h < best)


class TestContactability:
    def test_from_counts_by_hour(self):
        reach = contactability(
            [HourCount(9, 3, 0), HourCount(18, 2, 2), HourCount(12, 3, 1), HourCount(8, 2, 2)]
        )
        assert (reach.attempts, reach.right_party_contacts) == (10, 5)
        assert reach.score == Decimal("0.50")
        assert reach.best_hour == 8

    def test_no_history(self):
        reach = contactability([])
        assert (reach.attempts, reach.right_party_contacts, reach.score, reach.best_hour) == (
            0,
            0,
            None,
            None,
        )

    @given(hour_counts())
    def test_totals_add_up_and_the_best_hour_had_contacts(self, counts):
        reach = contactability(counts)
        assert reach.attempts == sum(c.attempts for c in counts)
        assert reach.right_party_contacts == sum(c.right_party_contacts for c in counts)
        assert reach.right_party_contacts <= reach.attempts
        assert (reach.score is None) == (reach.attempts == 0)
        if reach.best_hour is None:
            assert reach.right_party_contacts == 0
        else:
            assert any(c.hour == reach.best_hour and c.right_party_contacts for c in counts)


class TestVerification:
    @pytest.mark.parametrize("code", ["RPC", "RPC_PTP", "RPC_REFUSE", "ADDRESS_VERIFIED"])
    def test_reaching_the_debtor_on_their_point_verifies_it(self, code):
        assert verifies(code, "debtor", "debtor")

    @pytest.mark.parametrize("code", ["NO_ANSWER", "VOICEMAIL", "WRONG_NUMBER", "BUSY", "TPC"])
    def test_other_results_do_not_verify_a_debtor_point(self, code):
        assert not verifies(code, "reference", "debtor")
        assert not verifies(code, "none", "debtor")

    def test_a_reference_reached_on_their_own_phone_verifies_it(self):
        assert verifies("TPC", "reference", "reference")
        assert not verifies("NO_ANSWER", "none", "reference")

    def test_enough_wrong_numbers_make_a_point_invalid(self):
        assert status_after_failure(VerificationStatus.UNVERIFIED, 1, 2) is (
            VerificationStatus.UNVERIFIED
        )
        assert status_after_failure(VerificationStatus.VERIFIED, 2, 2) is (
            VerificationStatus.INVALID
        )

    def test_is_valid_is_the_status_not_invalid(self):
        assert [is_valid(s) for s in VerificationStatus] == [True, True, False]


class TestMerge:
    def test_a_more_trustworthy_source_takes_over(self):
        outcome = merge_duplicate(
            Source.SKIP_TRACE, VerificationStatus.UNVERIFIED, Source.FIELD_VISIT
        )
        assert outcome.source is Source.FIELD_VISIT
        assert outcome.changes(Source.SKIP_TRACE, VerificationStatus.UNVERIFIED)

    def test_a_less_trustworthy_one_changes_nothing(self):
        outcome = merge_duplicate(Source.DEBTOR, VerificationStatus.VERIFIED, Source.SKIP_TRACE)
        assert not outcome.changes(Source.DEBTOR, VerificationStatus.VERIFIED)

    def test_partner_rows_stay_the_partners(self):
        outcome = merge_duplicate(Source.PARTNER, VerificationStatus.UNVERIFIED, Source.DEBTOR)
        assert outcome.source is Source.PARTNER

    def test_the_debtor_giving_an_invalid_number_reopens_it(self):
        outcome = merge_duplicate(Source.SKIP_TRACE, VerificationStatus.INVALID, Source.DEBTOR)
        assert (outcome.source, outcome.status, outcome.reset_failures) == (
            Source.DEBTOR,
            VerificationStatus.UNVERIFIED,
            True,
        )
        found = merge_duplicate(Source.PARTNER, VerificationStatus.INVALID, Source.SKIP_TRACE)
        assert found.status is VerificationStatus.INVALID

    @given(st.sampled_from(Source), st.sampled_from(VerificationStatus), st.sampled_from(Source))
    def test_a_merge_never_lowers_trust(self, old, status, new):
        outcome = merge_duplicate(old, status, new)
        assert outcome.source in (old, new)
        if old is Source.PARTNER:
            assert outcome.source is Source.PARTNER
        if outcome.status is not status:
            assert (status, outcome.status) == (
                VerificationStatus.INVALID,
                VerificationStatus.UNVERIFIED,
            )


class TestNameKey:
    def test_accents_case_and_spacing_do_not_count(self):
        assert name_key("José  Pérez") == name_key("JOSE PEREZ") == "jose perez"
        assert name_key(" María Núñez ") == name_key("maria nunez")

    def test_different_names_differ(self):
        assert name_key("Ana Pérez") != name_key("Ana Pérez López")

    @given(st.text(max_size=40))
    def test_the_key_is_its_own_key(self, text):
        assert name_key(name_key(text)) == name_key(text)
