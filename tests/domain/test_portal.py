"""The portal's pure rules: link tokens, the second factor, and offers a debtor may accept
alone (properties over any balance and strategy stage)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.errors import InvalidInput
from app.domain.plans import AccountFacts, quote
from app.domain.portal import (
    LinkState,
    PortalLinkInvalid,
    PortalLinkLocked,
    PortalOfferNotAllowed,
    SecondFactor,
    check_factor_shape,
    check_link,
    chosen_offer,
    factor_matches,
    link_id_of,
    make_token,
    offers,
    token_digest,
)
from app.domain.roles import Role
from app.domain.stages import Stage
from app.domain.strategies import DEFAULT, PlanType

KEY = b"k" * 32
NOW = datetime(2026, 12, 5, 18, tzinfo=UTC)
TODAY = date(2026, 12, 7)


class TestTokens:
    def test_a_signed_token_names_its_link(self):
        link = uuid.uuid4()
        assert link_id_of(KEY, make_token(KEY, link, "secret")) == link

    @pytest.mark.parametrize("mangle", [
        lambda t: t + "x", lambda t: t.replace(".", "", 1),
        lambda t: ("b" if t[0] == "a" else "a") + t[1:], lambda t: t.split(".")[0], lambda t: "",
    ])  # fmt: skip
    def test_anything_else_is_invalid(self, mangle):
        token = make_token(KEY, uuid.uuid4(), "secret")
        with pytest.raises(PortalLinkInvalid):
            link_id_of(KEY, mangle(token))

    def test_another_key_does_not_verify(self):
        with pytest.raises(PortalLinkInvalid):
            link_id_of(b"other", make_token(KEY, uuid.uuid4(), "secret"))

    def _state(self, token: str, **changes: object) -> LinkState:
        fields: dict[str, object] = {
            "token_sha256": token_digest(token), "expires_at": NOW + timedelta(days=7),
            "revoked": False, "locked": False, "failed_attempts": 0,
        }  # fmt: skip
        return LinkState(**(fields | changes))  # type: ignore[arg-type]

    def test_a_link_opens_until_it_expires(self):
        token = make_token(KEY, uuid.uuid4(), "s")
        check_link(self._state(token), token, NOW)
        with pytest.raises(PortalLinkInvalid):
            check_link(self._state(token), token, NOW + timedelta(days=7))
        with pytest.raises(PortalLinkInvalid):
            check_link(self._state(token, revoked=True), token, NOW)
        with pytest.raises(PortalLinkInvalid):
            check_link(self._state(token), make_token(KEY, uuid.uuid4(), "t"), NOW)
        with pytest.raises(PortalLinkLocked):
            check_link(self._state(token, locked=True), token, NOW)
        with pytest.raises(PortalLinkInvalid):
            check_link(None, token, NOW)


class TestSecondFactor:
    def test_birth_date(self):
        assert factor_matches(SecondFactor(birth_date=date(1985, 4, 30)), date(1985, 4, 30), None)
        assert not factor_matches(SecondFactor(birth_date=date(1985, 4, 30)), None, "X")
        assert not factor_matches(
            SecondFactor(birth_date=date(1985, 4, 29)), date(1985, 4, 30), None
        )

    def test_last_four_of_the_id_in_any_case(self):
        factor = SecondFactor(national_id_last4="rr09")
        assert factor_matches(factor, None, "LOGM850430MDFPRR09")
        assert not factor_matches(factor, None, "LOGM850430MDFPRR08")
        assert not factor_matches(factor, None, None)
        assert not factor_matches(SecondFactor(national_id_last4="----"), None, "AB")

    @pytest.mark.parametrize("factor", [
        SecondFactor(), SecondFactor(date(1980, 1, 1), "1234"),
        SecondFactor(national_id_last4="12 4"), SecondFactor(national_id_last4="ñ123"),
    ])  # fmt: skip
    def test_exactly_one_well_formed_answer(self, factor):
        with pytest.raises(InvalidInput):
            check_factor_shape(factor)


def _facts(total: Decimal, past_due: Decimal) -> AccountFacts:
    return AccountFacts(total=total, past_due_amount=past_due, currency="MXN")


money = st.decimals(min_value=Decimal("50.00"), max_value=Decimal("2000000.00"), places=2)


class TestOffers:
    @settings(max_examples=60, deadline=None)
    @given(
        total=money,
        share=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1"), places=2),
        stage=st.sampled_from(list(Stage)),
    )
    def test_every_offer_is_within_limits_and_needs_no_approval(self, total, share, stage):
        facts = _facts(total, (total * share).quantize(Decimal("0.01")))
        found = offers(DEFAULT, stage, facts, set(), quoted_on=TODAY)
        assert len({o.terms.plan_type for o in found}) == len(found)
        for offer in found:
            again = quote(offer.terms, facts, set(), DEFAULT, stage, quoted_on=TODAY)
            assert again == offer.quote
            assert not again.breaches
            assert again.approver_role is Role.COLLECTOR
            assert offer.terms.plan_type in DEFAULT[stage].plans

    def test_the_settlement_discount_stops_at_the_collectors_threshold(self):
        # Nonaccrual: 30% at most, 5,000 forgiven by a collector alone.
        small = offers(DEFAULT, Stage.NONACCRUAL, _facts(Decimal("10000"), Decimal("1000")),
                       set(), quoted_on=TODAY)  # fmt: skip
        big = offers(DEFAULT, Stage.NONACCRUAL, _facts(Decimal("50000"), Decimal("1000")),
                     set(), quoted_on=TODAY)  # fmt: skip
        by_small = {o.terms.plan_type: o for o in small}
        by_big = {o.terms.plan_type: o for o in big}
        assert by_small[PlanType.SETTLEMENT].terms.discount_pct == Decimal("30.00")
        assert by_big[PlanType.SETTLEMENT].terms.discount_pct == Decimal("10.00")
        assert by_big[PlanType.SETTLEMENT].quote.forgiven == Decimal("5000.00")

    def test_nothing_while_current(self):
        assert offers(DEFAULT, Stage.CURRENT, _facts(Decimal("1000"), Decimal("0")), set(),
                      quoted_on=TODAY) == []  # fmt: skip

    def test_only_an_offer_exactly_as_shown_is_accepted(self):
        found = offers(DEFAULT, Stage.NONACCRUAL, _facts(Decimal("10000"), Decimal("1000")),
                       set(), quoted_on=TODAY)  # fmt: skip
        settlement = next(o for o in found if o.terms.plan_type is PlanType.SETTLEMENT)
        assert chosen_offer(found, settlement.terms) is settlement
        with pytest.raises(PortalOfferNotAllowed):
            chosen_offer(found, replace(settlement.terms, discount_pct=Decimal("31")))
