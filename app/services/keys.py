"""Key rotation: re-seal personal data under the vault's current key, a batch at a time.

Each batch is one read and one ``UPDATE … FROM unnest(…)`` and commits on its own, so a
rotation of millions of rows holds no long transaction and can be stopped and run again: it
only ever picks rows still sealed under another key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.crypto import Vault
from app.models.debtor import CONTACT, NATIONAL_ID

# Every sealed column: (table, column, purpose). Names are constants, never input.
SEALED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("debtor", "national_id", NATIONAL_ID),
    ("related_party", "national_id", NATIONAL_ID),
    ("contact_point", "value", CONTACT),
)


@dataclass(frozen=True, slots=True)
class Rotated:
    table: str
    column: str
    rows: int


async def reseal_batch(
    session: AsyncSession, *, sealer: Vault, table: str, column: str, purpose: str, size: int
) -> int:
    """Re-seal up to ``size`` rows of one column still under an older key; how many."""
    rows = (
        await session.execute(
            text(
                f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL "
                f"AND get_byte({column}, 0) <> :current ORDER BY id LIMIT :size"
            ),
            {"current": sealer.current, "size": size},
        )
    ).all()
    if not rows:
        return 0
    await session.execute(
        text(
            f"UPDATE {table} t SET {column} = v.sealed "
            "FROM unnest(CAST(:ids AS uuid[]), CAST(:sealed AS bytea[])) AS v(id, sealed) "
            "WHERE t.id = v.id"
        ),
        {
            "ids": [row[0] for row in rows],
            "sealed": [sealer.seal(sealer.open(bytes(row[1]), purpose), purpose) for row in rows],
        },
    )
    return len(rows)


async def rotate(
    run_batch: Callable[[Callable[[AsyncSession], Awaitable[int]]], Awaitable[int]],
    sealer: Vault,
    *,
    size: int = 1000,
) -> list[Rotated]:
    """Re-seal every column; ``run_batch`` runs one batch in its own committed transaction."""
    done: list[Rotated] = []
    for table, column, purpose in SEALED_COLUMNS:
        total = 0
        while True:
            batch = partial(
                reseal_batch, sealer=sealer, table=table, column=column, purpose=purpose,
                size=size,
            )  # fmt: skip
            count = await run_batch(batch)
            total += count
            if count < size:
                break
        done.append(Rotated(table, column, total))
    return done
