"""Migrations build the schema from nothing, undo it completely, and match the models."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app import migrations


def tables(url: str) -> set[str]:
    async def go() -> set[str]:
        engine = create_async_engine(url, poolclass=NullPool)
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            names = {r[0] for r in rows}
        await engine.dispose()
        return names

    return asyncio.run(go())


@pytest.fixture
def empty_database(database_server):
    url = database_server.create_database("cartera_migrations")
    yield url
    database_server.drop_database(url)


def test_upgrade_to_head_then_downgrade_to_base_and_up_again(empty_database):
    migrations.upgrade(empty_database)
    created = tables(empty_database)
    assert {
        "app_user",
        "team",
        "team_member",
        "partner",
        "partner_client",
        "audit_event",
        "login_attempt",
        "alembic_version",
    } <= created
    migrations.downgrade(empty_database, "base")
    assert tables(empty_database) <= {"alembic_version"}
    migrations.upgrade(empty_database)
    assert tables(empty_database) == created


def test_models_and_migrations_agree(empty_database):
    migrations.upgrade(empty_database)
    migrations.check(empty_database)  # raises when autogenerate would produce a change


def run(url: str, *statements: str) -> list[tuple]:
    async def go() -> list[tuple]:
        engine = create_async_engine(url, poolclass=NullPool)
        rows: list[tuple] = []
        async with engine.begin() as connection:
            for statement in statements:
                result = await connection.execute(text(statement))
                if result.returns_rows:
                    rows = [tuple(r) for r in result]
        await engine.dispose()
        return rows

    return asyncio.run(go())


def test_commission_recovery_types_survive_upgrade_and_downgrade(empty_database):
    """f2a3b4c5d6e7 renames ``plan`` and splits ``full_payment`` in stored rate tables, so
    stored terms pay as before; downgrade gives the old table back."""
    migrations.upgrade(empty_database, "d0e1f2a3b4c5")
    old = (
        '[{"stage": "early", "recovery_type": "full_payment", "rate_pct": "10.00"},'
        ' {"stage": null, "recovery_type": "plan", "rate_pct": "7.50"},'
        ' {"stage": null, "recovery_type": null, "rate_pct": "2.00"}]'
    )
    run(
        empty_database,
        "INSERT INTO partner (id, legal_name, tax_id, country, currency, time_zone, is_active,"
        " version, created_at, updated_at) VALUES ('00000000-0000-0000-0000-000000000001',"
        " 'P', 'T', 'MX', 'MXN', 'America/Mexico_City', true, 1, now(), now())",
        "INSERT INTO commission_terms (id, partner_id, version, effective_from, clawback_days,"
        " tiers, created_by, created_at) VALUES ('00000000-0000-0000-0000-000000000002',"
        f" '00000000-0000-0000-0000-000000000001', 1, '2026-01-01', 30, '{old}', 't', now())",
    )
    migrations.upgrade(empty_database, "f2a3b4c5d6e7")
    ((tiers, volume),) = run(empty_database, "SELECT tiers, volume_tiers FROM commission_terms")
    assert volume == []
    assert [(t["stage"], t["recovery_type"], t["rate_pct"]) for t in tiers] == [
        ("early", "full_payment", "10.00"),
        ("early", "partial_payment", "10.00"),
        (None, "plan_installment", "7.50"),
        (None, None, "2.00"),
    ]
    migrations.downgrade(empty_database, "d0e1f2a3b4c5")
    ((tiers,),) = run(empty_database, "SELECT tiers FROM commission_terms")
    assert [(t["stage"], t["recovery_type"], t["rate_pct"]) for t in tiers] == [
        ("early", "full_payment", "10.00"),
        (None, "plan", "7.50"),
        (None, None, "2.00"),
    ]
