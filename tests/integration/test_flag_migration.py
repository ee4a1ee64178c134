"""Migration c5d6e7f8a9b0: flags written before they kept their account are attributed from
the interaction that raised them, or the debtor's only account, and get its partner; the
rest stay of unknown origin. Downgrade gives every flag but a dispute back its old meaning
(every account)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from app import migrations, vault
from app.models.interaction import Interaction
from tests.factories import make_account, make_debtor, make_partner

BEFORE = "e1f2a3b4c5d6"


@pytest.fixture
def url(database_server):
    url = database_server.create_database("cartera_flag_migration")
    yield url
    database_server.drop_database(url)


def run(url: str, work: Any) -> Any:
    async def go() -> Any:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_backfill_and_downgrade(url, settings):
    vault.configure(settings)
    migrations.upgrade(url)

    async def arrange(session: AsyncSession) -> dict[str, Any]:
        bank, store = await make_partner(session), await make_partner(session)
        shared, alone = await make_debtor(session), await make_debtor(session)
        at_bank = await make_account(session, bank, shared)
        at_store = await make_account(session, store, shared)
        only = await make_account(session, store, alone)
        call = Interaction(
            account_id=at_store.id, partner_id=store.id, debtor_id=shared.id, channel="call",
            direction="outbound", party="debtor", result_code="ATTORNEY", pack_version="MX-1",
            compliance={}, created_by="test",
        )  # fmt: skip
        session.add(call)
        await session.flush()
        return {
            "bank": bank.id, "store": store.id, "shared": shared.id, "alone": alone.id,
            "at_bank": at_bank.id, "at_store": at_store.id, "only": only.id, "call": call.id,
        }  # fmt: skip

    ids = run(url, arrange)
    migrations.downgrade(url, BEFORE)
    later = datetime.now(UTC) + timedelta(minutes=1)
    flags = {name: uuid.uuid4() for name in ("from_call", "only", "by_hand", "dispute")}

    async def legacy(session: AsyncSession) -> None:
        for name, debtor, account, kind, source in (
            ("from_call", ids["shared"], None, "attorney", ids["call"]),
            ("only", ids["alone"], None, "deceased", None),
            ("by_hand", ids["shared"], None, "insolvency", None),
            ("dispute", ids["shared"], ids["at_bank"], "dispute", None),
        ):
            await session.execute(
                text(
                    "INSERT INTO debtor_flag (id, debtor_id, account_id, kind, "
                    "source_interaction_id, set_by, set_at) "
                    "VALUES (:id, :debtor, :account, :kind, :source, 'legacy', :at)"
                ),
                {"id": flags[name], "debtor": debtor, "account": account, "kind": kind,
                 "source": source, "at": later},
            )  # fmt: skip

    run(url, legacy)
    migrations.upgrade(url)

    async def read(session: AsyncSession) -> dict[uuid.UUID, tuple[Any, Any]]:
        rows = await session.execute(text("SELECT id, account_id, partner_id FROM debtor_flag"))
        return {r.id: (r.account_id, r.partner_id) for r in rows}

    found = run(url, read)
    assert found[flags["from_call"]] == (ids["at_store"], ids["store"])
    assert found[flags["only"]] == (ids["only"], ids["store"])
    assert found[flags["by_hand"]] == (None, None)  # two accounts: origin unknown
    assert found[flags["dispute"]] == (ids["at_bank"], ids["bank"])

    migrations.downgrade(url, BEFORE)

    async def read_old(session: AsyncSession) -> dict[uuid.UUID, Any]:
        rows = await session.execute(text("SELECT id, account_id FROM debtor_flag"))
        return {r.id: r.account_id for r in rows}

    old = run(url, read_old)
    assert old == {
        flags["from_call"]: None,
        flags["only"]: None,
        flags["by_hand"]: None,
        flags["dispute"]: ids["at_bank"],
    }
    migrations.upgrade(url)
