"""Staff profile rules (``app.domain.staff``) and the roles they rest on (``app.domain.roles``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import InvalidInput, LastAdmin
from app.domain.roles import STAFF_ROLES, Role, Skill
from app.domain.staff import (
    StaffProfile,
    change_profile,
    check_admin_remains,
    check_new_member,
    check_profile,
    check_team_lead,
)

NON_COLLECTOR_STAFF = sorted(STAFF_ROLES - {Role.COLLECTOR})
SKILL_SETS = [frozenset({Skill.PHONE}), frozenset({Skill.FIELD}), frozenset(Skill)]


class TestRoles:
    def test_staff_roles_are_every_role_but_partner(self):
        assert {Role.ADMIN, Role.MANAGER, Role.TEAM_LEAD, Role.COLLECTOR, Role.AUDITOR} == set(
            STAFF_ROLES
        )
        assert Role.PARTNER not in STAFF_ROLES

    def test_role_and_skill_values_are_the_wire_names(self):
        assert Role("team_lead") is Role.TEAM_LEAD
        assert {s.value for s in Skill} == {"phone", "field", "inbound"}


class TestCheckProfile:
    @pytest.mark.parametrize("skills", SKILL_SETS, ids=lambda s: "+".join(sorted(s)))
    def test_collector_with_a_skill_is_accepted(self, skills):
        check_profile(Role.COLLECTOR, skills)

    def test_collector_without_skills_is_refused_on_the_skills_field(self):
        with pytest.raises(InvalidInput) as caught:
            check_profile(Role.COLLECTOR, [])
        assert caught.value.field == "skills"
        assert caught.value.params == {"field": "skills"}

    @pytest.mark.parametrize("role", NON_COLLECTOR_STAFF)
    def test_non_collector_without_skills_is_accepted(self, role):
        check_profile(role, set())

    @pytest.mark.parametrize("role", NON_COLLECTOR_STAFF)
    def test_non_collector_with_a_skill_is_refused_on_the_skills_field(self, role):
        with pytest.raises(InvalidInput) as caught:
            check_profile(role, {Skill.FIELD})
        assert caught.value.field == "skills"

    @pytest.mark.parametrize(
        "skills", [frozenset(), *SKILL_SETS], ids=lambda s: "+".join(sorted(s)) or "none"
    )
    def test_partner_role_is_refused_on_the_role_field(self, skills):
        with pytest.raises(InvalidInput) as caught:
            check_profile(Role.PARTNER, skills)
        assert caught.value.field == "role"

    @given(role=st.sampled_from(sorted(STAFF_ROLES)), skills=st.frozensets(st.sampled_from(Skill)))
    def test_accepted_exactly_when_skills_fit_the_role(self, role, skills):
        fits = bool(skills) if role is Role.COLLECTOR else not skills
        try:
            check_profile(role, skills)
        except InvalidInput as error:
            assert not fits
            assert error.field == "skills"
        else:
            assert fits


class TestCheckAdminRemains:
    @pytest.mark.parametrize("remaining", [1, 2, 50])
    def test_passes_while_an_active_admin_remains(self, remaining):
        check_admin_remains(remaining)

    @pytest.mark.parametrize("remaining", [0, -1])
    def test_leaving_no_active_admin_is_a_conflict(self, remaining):
        with pytest.raises(LastAdmin) as caught:
            check_admin_remains(remaining)
        assert caught.value.code == "last_admin"


profiles = st.builds(
    StaffProfile,
    role=st.sampled_from(sorted(STAFF_ROLES)),
    skills=st.frozensets(st.sampled_from(Skill), min_size=1),
    is_active=st.booleans(),
).map(lambda p: p if p.role is Role.COLLECTOR else StaffProfile(p.role, frozenset(), p.is_active))


class TestChangeProfile:
    @given(current=profiles)
    def test_an_empty_change_keeps_the_profile(self, current):
        assert change_profile(current) == current

    @given(current=profiles, new_role=st.sampled_from(sorted(STAFF_ROLES - {Role.COLLECTOR})))
    def test_leaving_collector_drops_the_skills(self, current, new_role):
        changed = change_profile(current, role=new_role)
        assert changed.role is new_role and changed.skills == frozenset()
        assert changed.is_active == current.is_active

    def test_a_collector_keeps_their_skills_when_only_activation_changes(self):
        current = StaffProfile(Role.COLLECTOR, frozenset({Skill.FIELD}), True)
        assert change_profile(current, is_active=False) == StaffProfile(
            Role.COLLECTOR, frozenset({Skill.FIELD}), False
        )

    def test_becoming_a_collector_needs_a_skill(self):
        current = StaffProfile(Role.AUDITOR, frozenset(), True)
        with pytest.raises(InvalidInput):
            change_profile(current, role=Role.COLLECTOR)
        assert change_profile(current, role=Role.COLLECTOR, skills=[Skill.PHONE]).skills == {
            Skill.PHONE
        }


class TestTeamComposition:
    @given(profile=profiles)
    def test_only_an_active_team_lead_leads(self, profile):
        leads = profile.role is Role.TEAM_LEAD and profile.is_active
        try:
            check_team_lead(profile)
        except InvalidInput as error:
            assert not leads and error.field == "lead_id"
        else:
            assert leads

    @given(profile=profiles, index=st.integers(0, 499))
    def test_only_active_collectors_join(self, profile, index):
        joins = profile.role is Role.COLLECTOR and profile.is_active
        try:
            check_new_member(index, profile)
        except InvalidInput as error:
            assert not joins and error.field == f"member_ids.{index}"
        else:
            assert joins

    def test_unknown_people_are_refused(self):
        with pytest.raises(InvalidInput):
            check_team_lead(None)
        with pytest.raises(InvalidInput):
            check_new_member(0, None)
