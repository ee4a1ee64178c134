"""Conflicts name nothing the caller may not read (issue 17): a payer reference already used
on an account the caller cannot see is a 409 that does not give away that payment's id."""

from __future__ import annotations

from sqlmodel import func, select

from app.models.audit import AuditEvent
from app.models.payment import Payment
from tests.factories import assert_problem
from tests.helpers.payments import body, pay


async def count(session, model) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


class TestPayerReferenceConflict:
    async def test_a_collector_does_not_learn_the_id_of_a_payment_it_cannot_see(
        self, client, session, desk
    ):
        # The manager records a payment on the account nobody assigned to the collector.
        hidden = await pay(
            client, desk["manager"], body(desk["unassigned"], payer_reference="SPEI-77")
        )
        assert hidden.status_code == 201, hidden.text
        hidden_id = hidden.json()["id"]
        seen = await client.get(f"/api/v1/payments/{hidden_id}", headers=desk["collector"])
        assert seen.status_code == 404  # the control: the collector may not read it
        payments, events = await count(session, Payment), await count(session, AuditEvent)

        again = await pay(client, desk["collector"], body(desk["mine"], payer_reference="SPEI-77"))
        assert_problem(again, 409, "payer_reference_used")
        assert hidden_id not in again.text
        assert hidden_id.replace("-", "") not in again.text.replace("-", "")
        assert "payer reference" in again.json()["detail"]
        assert await count(session, Payment) == payments
        assert await count(session, AuditEvent) == events
