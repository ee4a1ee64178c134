"""Flag reach and knowledge (``app.domain.flags``): which accounts a flag raised through one
account reaches, who may know of it, and how a contact check names a flag that came from
elsewhere (the answer never depends on where it came from; only the reason's name does)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.contact_check import (
    ContactChannel,
    ContactRequest,
    DebtorFlag,
    Party,
    check_contact,
    pack_for,
)
from app.domain.flags import (
    AGENCY_SAFETY_FLAG,
    REACH,
    FlagsOnAccount,
    Origin,
    RaisedFlag,
    Reach,
    check_contact_with_flags,
    flags_on,
    origin,
    reaches,
    visible_to_partner,
    visible_to_staff,
)

PARTNER_A, PARTNER_B = uuid.uuid4(), uuid.uuid4()
ACCOUNT_A, SECOND_A, ACCOUNT_B = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
NOON = datetime(2026, 11, 17, 18, tzinfo=UTC)  # 12:00 in Mexico City, 13:00 in New York
FLAG_CODES = {"cease_contact", "deceased", "attorney", "insolvency", "dispute"}


def raised_on_a(kind: DebtorFlag) -> RaisedFlag:
    return RaisedFlag(kind, ACCOUNT_A, PARTNER_A)


def request(**changes: object) -> ContactRequest:
    base = ContactRequest(
        at=NOON,
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
    return replace(base, **changes)  # type: ignore[arg-type]


class TestReach:
    def test_every_kind_has_a_reach(self):
        assert set(REACH) == set(DebtorFlag)
        assert {k for k, r in REACH.items() if r is not Reach.AGENCY} == {
            DebtorFlag.DISPUTE,
            DebtorFlag.CEASE_CONTACT,
        }

    @pytest.mark.parametrize(
        ("kind", "second_a", "at_b"),
        [
            (DebtorFlag.DISPUTE, False, False),
            (DebtorFlag.CEASE_CONTACT, True, False),
            (DebtorFlag.DECEASED, True, True),
            (DebtorFlag.ATTORNEY, True, True),
            (DebtorFlag.INSOLVENCY, True, True),
            (DebtorFlag.MINOR, True, True),
            (DebtorFlag.OLDER_ADULT, True, True),
            (DebtorFlag.VULNERABLE, True, True),
        ],
    )
    def test_what_a_flag_raised_through_a_reaches(self, kind, second_a, at_b):
        flag = raised_on_a(kind)
        assert reaches(flag, ACCOUNT_A, PARTNER_A)
        assert reaches(flag, SECOND_A, PARTNER_A) is second_a
        assert reaches(flag, ACCOUNT_B, PARTNER_B) is at_b

    def test_a_flag_of_unknown_origin_reaches_every_account(self):
        flag = RaisedFlag(DebtorFlag.CEASE_CONTACT, None, None)
        assert reaches(flag, ACCOUNT_B, PARTNER_B)
        assert origin(flag, ACCOUNT_B, PARTNER_B) is Origin.ELSEWHERE

    def test_origins(self):
        flag = raised_on_a(DebtorFlag.DECEASED)
        assert origin(flag, ACCOUNT_A, PARTNER_A) is Origin.THIS_ACCOUNT
        assert origin(flag, SECOND_A, PARTNER_A) is Origin.SAME_CREDITOR
        assert origin(flag, ACCOUNT_B, PARTNER_B) is Origin.ELSEWHERE


class TestWhoMayKnow:
    @pytest.mark.parametrize("kind", list(DebtorFlag))
    def test_a_partner_knows_only_its_own_accounts_flags(self, kind):
        flag = raised_on_a(kind)
        assert visible_to_partner(flag, PARTNER_A)
        assert not visible_to_partner(flag, PARTNER_B)
        assert not visible_to_partner(RaisedFlag(kind, None, None), PARTNER_A)

    def test_staff_know_what_reaches_their_accounts(self):
        assert visible_to_staff(raised_on_a(DebtorFlag.DECEASED), [(ACCOUNT_B, PARTNER_B)])
        assert not visible_to_staff(raised_on_a(DebtorFlag.DISPUTE), [(ACCOUNT_B, PARTNER_B)])
        assert not visible_to_staff(raised_on_a(DebtorFlag.CEASE_CONTACT), [(ACCOUNT_B, PARTNER_B)])
        assert visible_to_staff(raised_on_a(DebtorFlag.CEASE_CONTACT), [(SECOND_A, PARTNER_A)])


class TestContactCheckNames:
    def test_an_own_flag_is_the_packs_reason_itself(self):
        pack = pack_for("US")
        on = flags_on(ACCOUNT_A, PARTNER_A, [raised_on_a(DebtorFlag.ATTORNEY)])
        mine = request(flags=on.own, time_zone="America/New_York")
        assert check_contact_with_flags(pack, mine, on) == check_contact(pack, mine)

    def test_another_creditors_flag_is_the_agency_safety_flag(self):
        pack = pack_for("US")
        on = flags_on(ACCOUNT_B, PARTNER_B, [raised_on_a(DebtorFlag.ATTORNEY)])
        assert on == FlagsOnAccount(elsewhere=frozenset({DebtorFlag.ATTORNEY}))
        decision = check_contact_with_flags(pack, request(time_zone="America/New_York"), on)
        assert not decision.allowed and decision.next_allowed_at is None
        [reason] = decision.reasons
        assert reason.code == AGENCY_SAFETY_FLAG and reason.hard
        assert "attorney" in reason.message and "policy" in reason.message
        # A law reason of the debt it was raised on is policy elsewhere (Reg F is per debt).
        assert getattr(reason, "basis", "policy") == "policy"
        assert getattr(reason, "citation", None) is None

    def test_several_foreign_flags_are_one_reason(self):
        flags = [raised_on_a(DebtorFlag.DECEASED), raised_on_a(DebtorFlag.INSOLVENCY)]
        on = flags_on(ACCOUNT_B, PARTNER_B, flags)
        decision = check_contact_with_flags(pack_for("MX"), request(), on)
        [reason] = decision.reasons
        assert reason.code == AGENCY_SAFETY_FLAG
        assert "deceased" in reason.message and "insolvency" in reason.message
        assert reason.text.render("es") == (
            "No contactar: marca de seguridad del despacho. El deudor falleció. El deudor está "
            "en concurso mercantil o insolvencia: el cobro sigue ese procedimiento. (Registrado "
            "en la cuenta de otro acreedor; el despacho lo aplica para todos los acreedores: "
            "política.)"
        )

    def test_the_creditors_other_account_keeps_the_code_as_policy(self):
        on = flags_on(SECOND_A, PARTNER_A, [raised_on_a(DebtorFlag.CEASE_CONTACT)])
        decision = check_contact_with_flags(pack_for("US"), request(), on)
        [reason] = decision.reasons
        assert reason.code == "cease_contact" and reason.hard
        assert "another account of this creditor" in reason.message
        assert reason.text.render("pt-BR").startswith(
            "O devedor pediu que o contato cesse. (Registrado em outra conta deste credor;"
        )

    def test_an_own_reason_is_not_repeated_for_the_same_flag_from_elsewhere(self):
        flags = [
            raised_on_a(DebtorFlag.DECEASED),
            RaisedFlag(DebtorFlag.DECEASED, ACCOUNT_B, PARTNER_B),
        ]
        on = flags_on(ACCOUNT_B, PARTNER_B, flags)
        decision = check_contact_with_flags(pack_for("MX"), request(flags=on.own), on)
        assert [r.code for r in decision.reasons] == ["deceased"]


ORIGINS = st.sampled_from(
    [(ACCOUNT_A, PARTNER_A), (SECOND_A, PARTNER_A), (ACCOUNT_B, PARTNER_B), (None, None)]
)


@settings(max_examples=200, deadline=None)
@given(
    raised=st.lists(st.tuples(st.sampled_from(list(DebtorFlag)), ORIGINS), max_size=6),
    country=st.sampled_from(["MX", "CO", "US"]),
    party=st.sampled_from([Party.DEBTOR, Party.GUARANTOR, Party.REFERENCE]),
    hour=st.integers(0, 23),
)
def test_where_a_flag_came_from_changes_the_name_never_the_answer(raised, country, party, hour):
    """Checked from B's account: allowed and next time are those of every reaching flag
    applied directly; no reason names a flag B's own account did not bring; every hard
    reason of the direct check has a hard counterpart."""
    flags = [RaisedFlag(kind, account, partner) for kind, (account, partner) in raised]
    on = flags_on(ACCOUNT_B, PARTNER_B, flags)
    pack = pack_for(country)
    mine = request(
        flags=on.own,
        party=party,
        at=NOON.replace(hour=hour),
        consented_channels=frozenset(ContactChannel),
    )
    direct = check_contact(pack, replace(mine, flags=on.every))
    named = check_contact_with_flags(pack, mine, on)
    assert (named.allowed, named.next_allowed_at) == (direct.allowed, direct.next_allowed_at)
    assert any(r.hard for r in named.reasons) == any(r.hard for r in direct.reasons)
    own_codes = {r.code for r in check_contact(pack, mine).reasons}
    for reason in named.reasons:
        if reason.code in FLAG_CODES:
            assert reason.code in own_codes  # B never sees a flag code A's account brought
    if on.elsewhere - on.own and not direct.allowed:
        extra = {r.code for r in direct.reasons} - own_codes
        assert not extra or AGENCY_SAFETY_FLAG in {r.code for r in named.reasons}
