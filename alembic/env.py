"""Alembic environment: async (asyncpg), URL from Cartera's settings or the caller."""

from __future__ import annotations

import asyncio

from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import app.models  # noqa: F401  (registers every table)
from alembic import context
from app.config import get_settings
from app.models.base import metadata

config = context.config
target_metadata = metadata


def _url() -> str:
    url = config.attributes.get("database_url") or get_settings().async_database_url
    if not url:
        raise RuntimeError(
            "no database: set CARTERA_DATABASE_URL or run through `cartera db upgrade`"
        )
    return str(url)


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    """The job queue's tables are procrastinate's (its schema, not our models)."""
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        include_name=_ours,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_async_engine(_url(), poolclass=pool.NullPool, hide_parameters=True)
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
