"""Staff profile rules (``app.domain.staff``) and the roles they rest on (``app.domain.roles``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import Conflict, InvalidInput
from app.domain.roles import STAFF_ROLES, Role, Skill, skills_allowed
from app.domain.staff import check_admin_remains, check_profile

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
        assert {s.value for s in Skill} == {"phone", "field"}

    @pytest.mark.parametrize("skills", SKILL_SETS, ids=lambda s: "+".join(sorted(s)))
    def test_collector_may_carry_skills(self, skills):
        assert skills_allowed(Role.COLLECTOR, skills)

    @pytest.mark.parametrize("role", NON_COLLECTOR_STAFF)
    def test_other_roles_may_not_carry_skills(self, role):
        assert not skills_allowed(role, frozenset({Skill.PHONE}))
        assert skills_allowed(role, frozenset())


class TestCheckProfile:
    @pytest.mark.parametrize("skills", SKILL_SETS, ids=lambda s: "+".join(sorted(s)))
    def test_collector_with_a_skill_is_accepted(self, skills):
        check_profile(Role.COLLECTOR, skills)

    def test_collector_without_skills_is_refused_on_the_skills_field(self):
        with pytest.raises(InvalidInput) as caught:
            check_profile(Role.COLLECTOR, [])
        assert caught.value.field == "body.skills"
        assert caught.value.params == {"field": "body.skills"}

    @pytest.mark.parametrize("role", NON_COLLECTOR_STAFF)
    def test_non_collector_without_skills_is_accepted(self, role):
        check_profile(role, set())

    @pytest.mark.parametrize("role", NON_COLLECTOR_STAFF)
    def test_non_collector_with_a_skill_is_refused_on_the_skills_field(self, role):
        with pytest.raises(InvalidInput) as caught:
            check_profile(role, {Skill.FIELD})
        assert caught.value.field == "body.skills"

    @pytest.mark.parametrize("skills", [frozenset(), *SKILL_SETS], ids=repr)
    def test_partner_role_is_refused_on_the_role_field(self, skills):
        with pytest.raises(InvalidInput) as caught:
            check_profile(Role.PARTNER, skills)
        assert caught.value.field == "body.role"

    @given(role=st.sampled_from(sorted(STAFF_ROLES)), skills=st.frozensets(st.sampled_from(Skill)))
    def test_accepted_exactly_when_skills_fit_the_role(self, role, skills):
        fits = bool(skills) if role is Role.COLLECTOR else not skills
        try:
            check_profile(role, skills)
        except InvalidInput as error:
            assert not fits
            assert error.field == "body.skills"
        else:
            assert fits
            assert skills_allowed(role, skills)


class TestCheckAdminRemains:
    @pytest.mark.parametrize("remaining", [1, 2, 50])
    def test_passes_while_an_active_admin_remains(self, remaining):
        check_admin_remains(remaining)

    @pytest.mark.parametrize("remaining", [0, -1])
    def test_leaving_no_active_admin_is_a_conflict(self, remaining):
        with pytest.raises(Conflict) as caught:
            check_admin_remains(remaining)
        assert caught.value.code == "conflict"
        assert "last active admin" in caught.value.params["reason"]
