"""Concurrency scenarios of issue 9 not covered elsewhere, on real connections (a pool, as in
production) and committed data.

Covered elsewhere and not repeated here (see tests/reliability/README.md):
- two managers approving one plan at once: tests/integration/test_plan_races.py;
- 20 collectors calling ``next`` at once: tests/integration/test_worklist_races.py;
- six and fifty payments on one plan, and one payment key replayed at once:
  tests/integration/test_payment_races.py;
- workers racing for one push: tests/integration/test_worker.py.
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select
from sqlmodel import col

from app.domain.roles import Role
from app.models.assignment import Assignment
from app.models.audit import AuditEvent
from tests.conftest import bearer_for
from tests.factories import make_partner
from tests.security._world import PORTFOLIO_CSV

PAYMENTS = 50


async def _push_twice(live, settings, first: bytes, second: bytes):
    client, add_user, database = live
    manager = await add_user(Role.MANAGER)
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
    headers = {
        **bearer_for(settings, manager),
        "Content-Type": "text/csv",
        "Idempotency-Key": f"push-{uuid.uuid4().hex}",
    }
    url = f"/api/v1/partners/{partner.id}/assignments"
    responses = await asyncio.gather(
        client.post(url, content=first, headers=headers),
        client.post(url, content=second, headers=headers),
    )
    async with database.sessionmaker() as session:
        pushes = await session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(col(Assignment.partner_id) == partner.id)
        )
        submitted = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(col(AuditEvent.action) == "assignment.submitted")
        )
    return responses, pushes, submitted


async def test_one_push_sent_twice_at_once_with_one_key_is_one_push_and_one_replay(live, settings):
    responses, pushes, submitted = await _push_twice(live, settings, PORTFOLIO_CSV, PORTFOLIO_CSV)
    assert [r.status_code for r in responses] == [202, 202], [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    replayed = sorted(r.headers.get("Idempotent-Replayed", "") for r in responses)
    assert replayed == ["", "true"]
    assert (pushes, submitted) == (1, 1)


async def test_two_different_pushes_at_once_with_one_key_store_one(live, settings):
    other = PORTFOLIO_CSV.replace(b"TC-900002", b"TC-900003")
    responses, pushes, submitted = await _push_twice(live, settings, PORTFOLIO_CSV, other)
    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 202 and 400 <= statuses[1] < 500, [r.text for r in responses]
    loser = next(r for r in responses if r.status_code != 202)
    assert loser.headers["content-type"].startswith("application/problem+json")
    assert (pushes, submitted) == (1, 1)
