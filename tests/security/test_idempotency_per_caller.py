"""Idempotency keys are the caller's own (issue 17): another caller replaying a key gets a
new request of its own, never the first caller's payment or upload, and learns nothing of it."""

from __future__ import annotations

import uuid

from sqlmodel import func, select

from app.models.assignment import Assignment
from app.models.payment import Payment
from tests.helpers.assignments import push_json, row
from tests.helpers.payments import body, pay


async def count(session, model) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


class TestPayments:
    async def test_the_partner_replaying_a_collectors_key_does_not_get_its_payment(
        self, client, session, desk
    ):
        payload = body(desk["mine"], "100.00")
        first = await pay(client, desk["collector"], payload, key="shared-key")
        assert first.status_code == 201, first.text
        before = await count(session, Payment)
        # Same key, same body, another caller: a new payment, not the collector's replayed.
        bank = await pay(client, desk["partner_system"], payload, key="shared-key")
        assert bank.status_code == 201, bank.text
        assert "Idempotent-Replayed" not in bank.headers
        assert bank.json()["id"] != first.json()["id"]
        assert first.json()["id"] not in bank.text
        assert bank.json()["recorded_by"] != first.json()["recorded_by"]
        assert await count(session, Payment) == before + 1
        # Each caller's own replay still returns its own payment and writes nothing.
        again = await pay(client, desk["partner_system"], payload, key="shared-key")
        assert again.status_code == 200 and again.json()["id"] == bank.json()["id"]
        mine = await pay(client, desk["collector"], payload, key="shared-key")
        assert mine.status_code == 200 and mine.json()["id"] == first.json()["id"]
        assert await count(session, Payment) == before + 1

    async def test_another_body_under_another_callers_key_is_not_refused_as_reuse(
        self, client, session, desk
    ):
        """The reuse refusal would tell the partner the collector used the key."""
        first = await pay(client, desk["collector"], body(desk["mine"], "100.00"), key="k-9")
        assert first.status_code == 201, first.text
        other = await pay(client, desk["manager"], body(desk["mine"], "55.00"), key="k-9")
        assert other.status_code == 201, other.text
        assert other.json()["id"] != first.json()["id"]


class TestAssignmentPushes:
    async def test_staff_replaying_the_partners_key_push_their_own(self, client, session, desk):
        partner = desk["partner"]
        key = uuid.uuid4().hex
        first = await push_json(client, desk["partner_system"], partner, [row("P-1")], key=key)
        assert first.status_code == 202, first.text
        before = await count(session, Assignment)
        staff = await push_json(client, desk["manager"], partner, [row("P-1")], key=key)
        assert staff.status_code == 202, staff.text
        assert staff.json()["id"] != first.json()["id"]
        assert "Idempotent-Replayed" not in staff.headers
        assert await count(session, Assignment) == before + 1
        # A different body under the partner's key is the manager's own new push too.
        other = await push_json(client, desk["admin"], partner, [row("P-2")], key=key)
        assert other.status_code == 202, other.text
        assert await count(session, Assignment) == before + 2
