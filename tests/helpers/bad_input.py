"""Helpers shared by the tests of bad input and the tests that build on them."""

from __future__ import annotations

from sqlalchemy import text


async def snapshot(connection, tables: list[str]) -> tuple[dict[str, int], int]:
    query = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM \"{t}\"" for t in tables)
    counts = {row[0]: int(row[1]) for row in await connection.execute(text(query))}
    last = await connection.scalar(text("SELECT coalesce(max(seq), 0) FROM audit_event"))
    return counts, int(last)


async def public_tables(connection) -> list[str]:
    rows = await connection.execute(
        text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE' ORDER BY table_name"
        )
    )
    return [r.table_name for r in rows]
