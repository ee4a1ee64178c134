"""Refresh-token families: rotation, reuse detection, expiry and revocation, directly and as a
stateful model (hypothesis ``RuleBasedStateMachine``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from app.domain.refresh_tokens import (
    Family,
    Holder,
    Refusal,
    Refused,
    Revocation,
    Rotated,
    SessionPolicy,
    refresh,
    revoke,
    start,
)

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
POLICY = SessionPolicy(lifetime=timedelta(days=14), idle=timedelta(hours=12))
HOLDER = Holder(active=True, credentials="pwf-1")


def rotated(outcome: Rotated | Refused) -> Family:
    assert isinstance(outcome, Rotated), outcome
    return outcome.family


class TestStart:
    def test_a_login_starts_generation_zero_with_its_lifetime(self):
        family = start(T0, POLICY, "pwf-1")
        assert (family.generation, family.renewed_at, family.revoked) == (0, T0, False)
        assert family.expires_at == T0 + POLICY.lifetime
        assert family.deadline(POLICY) == T0 + POLICY.idle


class TestRotation:
    def test_the_live_token_rotates_to_the_next_generation(self):
        later = T0 + timedelta(minutes=29)
        family = rotated(refresh(start(T0, POLICY, "pwf-1"), 0, HOLDER, later, POLICY))
        assert (family.generation, family.renewed_at) == (1, later)

    def test_rotation_never_extends_the_familys_lifetime(self):
        family = start(T0, POLICY, "pwf-1")
        now = T0
        for generation in range(60):
            now += timedelta(hours=6)
            outcome = refresh(family, generation, HOLDER, now, POLICY)
            if now >= family.expires_at:
                assert outcome == Refused(family, Refusal.EXPIRED)
                break
            family = rotated(outcome)
            assert family.expires_at == T0 + POLICY.lifetime
            assert family.deadline(POLICY) <= family.expires_at
        else:
            pytest.fail("the family never expired")

    def test_a_token_left_unused_past_the_idle_timeout_is_refused(self):
        family = start(T0, POLICY, "pwf-1")
        outcome = refresh(family, 0, HOLDER, T0 + POLICY.idle, POLICY)
        assert outcome == Refused(family, Refusal.IDLE)
        assert not outcome.revokes

    def test_the_deadline_is_the_earlier_of_idle_and_absolute_expiry(self):
        family = replace(start(T0, POLICY, "pwf-1"), renewed_at=T0 + timedelta(days=13, hours=20))
        assert family.deadline(POLICY) == family.expires_at


class TestReuse:
    def test_a_spent_token_presented_again_revokes_the_family(self):
        family = rotated(refresh(start(T0, POLICY, "pwf-1"), 0, HOLDER, T0, POLICY))
        later = T0 + timedelta(minutes=5)
        outcome = refresh(family, 0, HOLDER, later, POLICY)
        assert isinstance(outcome, Refused) and outcome.reason is Refusal.REUSED
        assert outcome.revokes
        assert (outcome.family.revoked_at, outcome.family.revoked_reason) == (
            later,
            Revocation.REUSE,
        )
        # The live token of the family dies with it.
        assert refresh(outcome.family, 1, HOLDER, later, POLICY) == Refused(
            outcome.family, Refusal.REVOKED
        )

    def test_reuse_is_detected_even_after_the_family_expired(self):
        family = rotated(refresh(start(T0, POLICY, "pwf-1"), 0, HOLDER, T0, POLICY))
        outcome = refresh(family, 0, HOLDER, T0 + timedelta(days=30), POLICY)
        assert isinstance(outcome, Refused) and outcome.reason is Refusal.REUSED

    def test_a_generation_never_issued_is_a_programming_error(self):
        with pytest.raises(ValueError):
            refresh(start(T0, POLICY, "pwf-1"), 1, HOLDER, T0, POLICY)


class TestRevocation:
    def test_a_new_password_revokes_on_the_next_refresh(self):
        family = start(T0, POLICY, "pwf-1")
        outcome = refresh(family, 0, Holder(True, "pwf-2"), T0, POLICY)
        assert isinstance(outcome, Refused) and outcome.reason is Refusal.PASSWORD_CHANGED
        assert outcome.family.revoked_reason is Revocation.PASSWORD_CHANGED

    def test_a_deactivated_user_revokes_on_the_next_refresh(self):
        outcome = refresh(start(T0, POLICY, "pwf-1"), 0, Holder(False, "pwf-1"), T0, POLICY)
        assert isinstance(outcome, Refused) and outcome.reason is Refusal.DEACTIVATED
        assert outcome.family.revoked_reason is Revocation.DEACTIVATED

    def test_revoking_twice_keeps_the_first_reason_and_time(self):
        once = revoke(start(T0, POLICY, "pwf-1"), Revocation.LOGOUT, T0)
        twice = revoke(once, Revocation.REUSE, T0 + timedelta(hours=1))
        assert twice == once

    def test_a_revoked_family_refuses_without_revoking_again(self):
        family = revoke(start(T0, POLICY, "pwf-1"), Revocation.LOGOUT, T0)
        outcome = refresh(family, 0, HOLDER, T0, POLICY)
        assert outcome == Refused(family, Refusal.REVOKED)
        assert not outcome.revokes


class FamilyModel(RuleBasedStateMachine):
    """One family under any sequence of rotations, replays, logouts, password changes,
    deactivations and the passing of time.

    Invariants: at most one issued token would be exchanged; a token that was spent or
    replayed never works again; once revoked, the family stays revoked and never issues.
    """

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.holder = HOLDER
        self.family = start(self.now, POLICY, self.holder.credentials)
        self.issued = [0]  # generations handed out
        self.spent: set[int] = set()  # exchanged, or presented when no longer live
        self.was_revoked = False

    def present(self, generation: int) -> None:
        before = self.family
        outcome = refresh(before, generation, self.holder, self.now, POLICY)
        if isinstance(outcome, Rotated):
            assert not before.revoked, "a revoked family issued a token"
            assert generation == before.generation
            self.spent.add(generation)
            self.issued.append(outcome.family.generation)
        else:
            if generation < before.generation:
                self.spent.add(generation)
            assert outcome.revokes == (outcome.family.revoked and not before.revoked)
        self.family = outcome.family

    @rule()
    def rotate(self) -> None:
        self.present(self.family.generation)

    @precondition(lambda self: len(self.issued) > 1)
    @rule(data=st.data())
    def replay_a_spent_token(self, data: st.DataObject) -> None:
        generation = data.draw(st.sampled_from(self.issued[:-1]))
        self.present(generation)
        assert self.family.revoked

    @rule()
    def logout(self) -> None:
        self.family = revoke(self.family, Revocation.LOGOUT, self.now)

    @rule()
    def change_password(self) -> None:
        self.holder = replace(self.holder, credentials=self.holder.credentials + "'")

    @rule()
    def deactivate(self) -> None:
        self.holder = replace(self.holder, active=False)

    @rule(minutes=st.integers(min_value=1, max_value=24 * 60 * 5))
    def wait(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    def works(self, generation: int) -> bool:
        return isinstance(refresh(self.family, generation, self.holder, self.now, POLICY), Rotated)

    @invariant()
    def at_most_one_live_token(self) -> None:
        assert sum(self.works(g) for g in self.issued) <= 1

    @invariant()
    def a_spent_or_replayed_token_never_works_again(self) -> None:
        assert not any(self.works(g) for g in self.spent)

    @invariant()
    def a_revoked_family_stays_revoked_and_never_issues(self) -> None:
        if self.was_revoked:
            assert self.family.revoked
            assert not any(self.works(g) for g in self.issued)
        self.was_revoked = self.family.revoked

    @invariant()
    def the_lifetime_never_moves(self) -> None:
        assert self.family.expires_at == T0 + POLICY.lifetime


TestFamilyModel = FamilyModel.TestCase
TestFamilyModel.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
