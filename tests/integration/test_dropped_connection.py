"""A pooled connection that died while idle (the server restarted it, a proxy dropped it) is
replaced on the transaction's first statement, without a ping before every checkout; one that
dies in the middle of a transaction is not retried behind the caller's back; one lent for
autocommit comes back to the pool transactional."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.db import open_database


async def _backend(session: Any) -> int:
    return int(await session.scalar(text("SELECT pg_backend_pid()")))


async def _terminate(engine: Any, pid: int) -> None:
    async with engine.connect() as killer:
        assert await killer.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


@pytest.fixture
async def one_connection(database_url: str, settings: Any) -> Any:
    """A pool of exactly one connection, so the next session gets the one we killed."""
    database = open_database(
        database_url, settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0})
    )
    try:
        yield database
    finally:
        await database.dispose()


async def test_the_first_statement_on_a_dead_pooled_connection_runs_on_a_new_one(
    one_connection, engine
):
    async with one_connection.sessionmaker() as session:
        first = await _backend(session)
        await session.commit()
    await _terminate(engine, first)

    async with one_connection.sessionmaker() as session:
        second = await _backend(session)
        # The same session goes on working on its new connection.
        assert await session.scalar(text("SELECT 41 + 1")) == 42
        await session.commit()
    assert second != first


async def test_a_connection_lost_mid_transaction_is_an_error_not_a_silent_retry(
    one_connection, engine
):
    async with one_connection.sessionmaker() as session:
        pid = await _backend(session)
        await _terminate(engine, pid)
        with pytest.raises(DBAPIError) as raised:
            await session.scalar(text("SELECT 1"))
        assert raised.value.connection_invalidated
        await session.rollback()
    # The pool recovers for the next unit of work.
    async with one_connection.sessionmaker() as session:
        assert await _backend(session) != pid


async def test_a_connection_lent_for_autocommit_goes_back_to_the_pool_transactional(
    one_connection,
):
    # A temporary table lives on its connection: with a pool of one, every unit below is on
    # the same connection, which autocommit() had.
    async with one_connection.autocommit() as connection:
        lent = int(await connection.scalar(text("SELECT pg_backend_pid()")))
        await connection.execute(text("CREATE TEMPORARY TABLE probe (n integer)"))

    with pytest.raises(RuntimeError):
        async with one_connection.sessionmaker() as session, session.begin():
            assert await _backend(session) == lent
            await session.execute(text("INSERT INTO probe VALUES (1)"))
            raise RuntimeError("the unit of work fails")

    async with one_connection.sessionmaker() as session:
        assert await _backend(session) == lent
        assert await session.scalar(text("SELECT count(*) FROM probe")) == 0
