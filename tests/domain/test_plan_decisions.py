"""Who decides on a plan and who cancels it: the approval ladder, maker-checker and the
statuses each step starts from, as properties over every role and status."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import PermissionDenied, PlanNotOpen, PlanNotPending
from app.domain.plans import (
    PlanDecision,
    PlanStatus,
    check_cancellation,
    decided_status,
    initial_status,
)
from app.domain.roles import Role, check_maker_checker

# The approval ladder as the design states it, lowest first; auditors and partners are off it.
LADDER = [Role.COLLECTOR, Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN]
OFF_LADDER = [Role.AUDITOR, Role.PARTNER]
OPEN = {PlanStatus.PROPOSED, PlanStatus.PENDING_APPROVAL, PlanStatus.ACTIVE}

roles = st.sampled_from(list(Role))
ladder = st.sampled_from(LADDER)
statuses = st.sampled_from(list(PlanStatus))


def ranks_at_least(role: Role, required: Role) -> bool:
    return role in LADDER and LADDER.index(role) >= LADDER.index(required)


class TestDecidedStatus:
    @given(roles, ladder, statuses, st.booleans(), st.booleans())
    def test_a_decision_stands_only_for_a_checker_on_the_ladder_of_a_pending_plan(
        self, decider, required, status, is_proposer, approve
    ):
        decision = PlanDecision(status, required, decider, is_proposer)
        allowed = ranks_at_least(decider, required) and not is_proposer
        if not allowed:
            with pytest.raises(PermissionDenied):
                decided_status(decision, approve=approve)
        elif status is not PlanStatus.PENDING_APPROVAL:
            with pytest.raises(PlanNotPending) as raised:
                decided_status(decision, approve=approve)
            assert raised.value.params["status"] == status.value
        else:
            expected = PlanStatus.ACTIVE if approve else PlanStatus.REJECTED
            assert decided_status(decision, approve=approve) is expected

    @given(ladder, ladder, statuses)
    def test_the_proposer_is_refused_as_maker_checker_whatever_the_rank(
        self, decider, required, status
    ):
        decision = PlanDecision(status, required, decider, is_proposer=True)
        with pytest.raises(PermissionDenied) as raised:
            decided_status(decision, approve=True)
        if ranks_at_least(decider, required):
            assert raised.value.params == {"role": decider.value, "reason": "maker_checker"}
        else:
            assert "reason" not in raised.value.params

    @given(ladder, ladder)
    def test_whoever_may_approve_so_may_everyone_above_them(self, decider, required):
        decision = PlanDecision(PlanStatus.PENDING_APPROVAL, required, decider, False)
        if ranks_at_least(decider, required):
            for higher in LADDER[LADDER.index(decider) :]:
                above = PlanDecision(PlanStatus.PENDING_APPROVAL, required, higher, False)
                assert decided_status(above, approve=True) is PlanStatus.ACTIVE
        else:
            with pytest.raises(PermissionDenied):
                decided_status(decision, approve=False)

    @given(roles, ladder)
    def test_a_plan_is_active_on_proposal_when_its_proposer_could_approve_it(
        self, proposer, required
    ):
        expected = (
            PlanStatus.ACTIVE if ranks_at_least(proposer, required) else PlanStatus.PENDING_APPROVAL
        )
        assert initial_status(proposer, required) is expected


class TestCancellation:
    @given(st.sampled_from([Role.MANAGER, Role.ADMIN]), statuses, st.booleans(), st.booleans())
    def test_managers_and_admins_cancel_any_open_plan(self, role, status, proposer, leads):
        if status in OPEN:
            check_cancellation(role, status, is_proposer=proposer, leads_proposer=leads)
        else:
            with pytest.raises(PlanNotOpen):
                check_cancellation(role, status, is_proposer=proposer, leads_proposer=leads)

    @given(statuses, st.booleans(), st.booleans())
    def test_a_team_lead_cancels_their_own_or_their_teams_plans(self, status, proposer, leads):
        if not (proposer or leads):
            with pytest.raises(PermissionDenied):
                check_cancellation(
                    Role.TEAM_LEAD, status, is_proposer=proposer, leads_proposer=leads
                )
        elif status in OPEN:
            check_cancellation(Role.TEAM_LEAD, status, is_proposer=proposer, leads_proposer=leads)
        else:
            with pytest.raises(PlanNotOpen):
                check_cancellation(
                    Role.TEAM_LEAD, status, is_proposer=proposer, leads_proposer=leads
                )

    @given(st.sampled_from([Role.COLLECTOR, *OFF_LADDER]), statuses, st.booleans(), st.booleans())
    def test_collectors_auditors_and_partners_never_cancel(self, role, status, proposer, leads):
        with pytest.raises(PermissionDenied):
            check_cancellation(role, status, is_proposer=proposer, leads_proposer=leads)


class TestMakerChecker:
    @given(roles)
    def test_the_maker_is_refused_and_anyone_else_passes(self, role):
        check_maker_checker(role, is_maker=False)
        with pytest.raises(PermissionDenied) as raised:
            check_maker_checker(role, is_maker=True)
        assert raised.value.params["reason"] == "maker_checker"
