"""The audit trail: append-only in the database, hash-chained, and tampering is found."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.domain.audit import GENESIS_HASH
from app.domain.roles import Role
from app.services import audit
from app.services.audit import verify_chain
from tests.conftest import principal_of


async def record_some(session, make_user, count: int = 3):
    actor = principal_of(await make_user(Role.ADMIN))
    events = []
    for index in range(count):
        events.append(
            await audit.record(
                session,
                actor,
                "thing.changed",
                "thing",
                f"t-{index}",
                before={"n": index},
                after={"n": index + 1, "note": "Ñandú"},
            )
        )
    await session.commit()
    return events


async def test_each_event_links_to_the_one_before(session, make_user):
    events = await record_some(session, make_user)
    for previous, current in itertools.pairwise(events):
        assert current.prev_hash == previous.hash
    assert len({e.hash for e in events}) == len(events)


async def test_the_chain_verifies_when_untouched(connection, session, make_user):
    await record_some(session, make_user)
    checked, broken = await verify_chain(connection)
    assert broken is None
    assert checked >= 3


async def test_the_app_cannot_update_or_delete_audit_rows(connection, session, make_user):
    events = await record_some(session, make_user, count=1)
    for statement in (
        "UPDATE audit_event SET action = 'forged' WHERE seq = :seq",
        "DELETE FROM audit_event WHERE seq = :seq",
    ):
        savepoint = await connection.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            await connection.execute(text(statement), {"seq": events[0].seq})
        await savepoint.rollback()


async def test_a_row_changed_behind_the_apps_back_is_found(connection, session, make_user):
    events = await record_some(session, make_user, count=3)
    target = events[1]
    # What an intruder with the table owner's rights could do: switch the guard off.
    await connection.execute(
        text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
    )
    await connection.execute(
        text("""UPDATE audit_event SET after = '{"n": 999}'::jsonb WHERE seq = :seq"""),
        {"seq": target.seq},
    )
    await connection.execute(text("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only"))
    _, broken = await verify_chain(connection)
    assert broken is not None
    assert broken.seq == target.seq


async def test_a_deleted_row_is_found_at_its_successor(connection, session, make_user):
    events = await record_some(session, make_user, count=3)
    await connection.execute(
        text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
    )
    await connection.execute(
        text("DELETE FROM audit_event WHERE seq = :seq"), {"seq": events[1].seq}
    )
    await connection.execute(text("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only"))
    _, broken = await verify_chain(connection)
    assert broken is not None and broken.seq == events[2].seq


async def test_the_first_event_links_to_the_genesis_hash(connection, session, make_user):
    await record_some(session, make_user, count=1)
    first_prev = await connection.scalar(
        text("SELECT prev_hash FROM audit_event ORDER BY seq LIMIT 1")
    )
    assert first_prev == GENESIS_HASH


async def test_an_event_timed_in_a_local_zone_still_verifies(connection, session, make_user):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    actor = principal_of(await make_user(Role.ADMIN))
    local_now = datetime.now(ZoneInfo("America/Mexico_City"))
    await audit.record(
        session, actor, "thing.changed", "thing", "tz-1", after={"n": 1}, now=local_now
    )
    await session.commit()
    _, broken = await verify_chain(connection)
    assert broken is None


async def test_a_creation_has_no_before_in_sql_terms(connection, session, make_user):
    actor = principal_of(await make_user(Role.ADMIN))
    created = await audit.record(session, actor, "thing.created", "thing", "c-1", after={"n": 1})
    await session.commit()
    is_null = await connection.scalar(
        text("SELECT before IS NULL FROM audit_event WHERE seq = :seq"), {"seq": created.seq}
    )
    assert is_null is True
