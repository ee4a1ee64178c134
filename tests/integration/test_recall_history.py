"""A recalled account is no collector's from the day of the recall: history, the nightly
snapshot and the agents report read for a day after it show no collector (and for a day
before it, the collector who had it)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import text

from app.domain.roles import Role
from app.models.payment import Payment
from app.models.user import User
from app.security import Principal
from app.services import reports, snapshots
from app.services.history import collector_on
from app.services.recalls import recall_accounts
from tests.factories import business_today, make_account, make_partner

MANAGER = Principal(subject="manager", role=Role.MANAGER)


async def test_after_a_recall_the_account_is_no_collectors(session):
    partner = await make_partner(session)
    collector = User(
        username=f"recall-{uuid.uuid4().hex[:6]}", full_name="Recall", role="collector",
        skills=["phone"], password_hash="x",
    )  # fmt: skip
    session.add(collector)
    await session.flush()
    account = await make_account(
        session,
        partner,
        assigned_collector_id=collector.id,
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    # Recalled three days ago, at noon in Mexico City (18:00 UTC).
    recall_day = business_today() - timedelta(days=3)
    moment = datetime.combine(recall_day, time(18), UTC)
    result = await recall_accounts(
        session, MANAGER, partner.id, [account.external_ref], "pagado", now=moment
    )
    assert result.recalled == 1
    before, after = recall_day - timedelta(days=1), recall_day + timedelta(days=1)

    day = "CAST(:day AS date)"
    read = text(
        f"SELECT {collector_on('a.id', day, 'a.assigned_collector_id')} FROM account a"
        " WHERE a.id = :id"
    )
    assert await session.scalar(read, {"id": account.id, "day": before}) == str(collector.id)
    assert await session.scalar(read, {"id": account.id, "day": recall_day}) is None
    assert await session.scalar(read, {"id": account.id, "day": after}) is None

    for day in (before, after):
        await snapshots.take(session, day)
    photographed = dict(
        (
            await session.execute(
                text(
                    "SELECT snapshot_date, collector_id FROM portfolio_snapshot"
                    " WHERE account_id = :id"
                ),
                {"id": account.id},
            )
        ).all()
    )
    assert photographed == {before: collector.id, after: None}

    for n, day in enumerate((before, after)):
        session.add(
            Payment(
                account_id=account.id, partner_id=partner.id, amount=Decimal("100.00"),
                currency=partner.currency, paid_on=day, channel="spei",
                idempotency_key=f"recall-{n}-{uuid.uuid4().hex}", body_sha256="0" * 64,
                status="applied", allocation={}, recorded_by="test",
            )
        )  # fmt: skip
    await session.flush()
    for from_snapshots in (False, True):
        rows = await reports.agents(
            session, MANAGER, start=before, end=after, partner_id=partner.id,
            from_snapshots=from_snapshots,
        )  # fmt: skip
        collected = {(r.collector_id, r.day): r.amount_collected for r in rows}
        # Only the payment of the day before the recall is the collector's recovery.
        assert collected == {(collector.id, before): Decimal("100.00")}, from_snapshots
