"""Key rotation: re-seal every sealed column (personal data, webhook signing secrets, SPEI
payers' names: every column of the ``Sealed`` type) and every document chunk under the
vault's current key, a batch at a time; and recompute the blind indexes under the current
index key.

Each batch is one read and one ``UPDATE … FROM unnest(…)`` and commits on its own, so a
rotation of millions of rows holds no long transaction and can be stopped and run again: it
only ever picks rows still sealed under another key. Documents are rotated the same way,
chunk rows (up to 256 KiB each) in smaller batches: each chunk is opened and sealed again
in its own place (blob, position, last or not), so it still opens only there. A re-index
walks each table by id and writes only the indexes that differ; run again, it finds nothing
to write.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.crypto import SealedBytes, SealError, Vault
from app.domain.documents import open_chunk, seal_chunk
from app.models.base import Sealed, metadata
from app.models.debtor import CONTACT, NATIONAL_ID, contact_index


@dataclass(frozen=True, slots=True)
class SealedColumn:
    """A column of the ``Sealed`` type: its table, name, purpose, and the table's primary
    key as (column, SQL type) pairs, to write each re-sealed value back to its row."""

    table: str
    column: str
    purpose: str
    key: tuple[tuple[str, str], ...]


def sealed_columns() -> tuple[SealedColumn, ...]:
    """Every column stored with the ``Sealed`` type, read from the tables' metadata (importing
    ``app.models`` registers them all): a new sealed column is rotated without being listed
    here. Names come from the models, never from input."""
    dialect = postgresql.dialect()
    found: list[SealedColumn] = []
    for table in metadata.sorted_tables:
        key = tuple((c.name, c.type.compile(dialect=dialect)) for c in table.primary_key.columns)
        for column in table.columns:
            if isinstance(column.type, Sealed):
                found.append(SealedColumn(table.name, column.name, column.type.purpose, key))
    return tuple(sorted(found, key=lambda c: (c.table, c.column)))


@dataclass(frozen=True, slots=True)
class Rotated:
    table: str
    column: str
    rows: int


async def reseal_batch(
    session: AsyncSession, *, sealer: Vault, sealed: SealedColumn, size: int
) -> int:
    """Re-seal up to ``size`` rows of one column still under an older key; how many."""
    table, column = sealed.table, sealed.column
    keys = ", ".join(name for name, _ in sealed.key)
    rows = (
        await session.execute(
            text(
                f"SELECT {keys}, {column} FROM {table} WHERE {column} IS NOT NULL "
                f"AND get_byte({column}, 0) <> :current ORDER BY {keys} LIMIT :size"
            ),
            {"current": sealer.current, "size": size},
        )
    ).all()
    if not rows:
        return 0
    arrays = ", ".join(f"CAST(:k{i} AS {kind}[])" for i, (_, kind) in enumerate(sealed.key))
    matches = " AND ".join(f"t.{name} = v.{name}" for name, _ in sealed.key)
    width = len(sealed.key)
    await session.execute(
        text(
            f"UPDATE {table} t SET {column} = v.sealed "
            f"FROM unnest({arrays}, CAST(:sealed AS bytea[])) AS v({keys}, sealed) "
            f"WHERE {matches}"
        ),
        {
            **{f"k{i}": [row[i] for row in rows] for i in range(width)},
            "sealed": [
                sealer.seal(sealer.open(bytes(row[width]), sealed.purpose), sealed.purpose)
                for row in rows
            ],
        },
    )
    return len(rows)


# Document chunks: (table, column) as reported; their rows are up to 256 KiB each.
DOCUMENT_CHUNKS = ("document_blob_chunk", "ciphertext")


async def reseal_document_chunks(session: AsyncSession, *, sealer: Vault, size: int) -> int:
    """Re-seal up to ``size`` document chunks still under an older key; how many."""
    rows = (
        await session.execute(
            text(
                "SELECT c.blob_id, c.seq, b.chunks, c.key_id, c.nonce, c.ciphertext "
                "FROM document_blob_chunk c JOIN document_blob b ON b.id = c.blob_id "
                "WHERE c.key_id <> :current ORDER BY c.blob_id, c.seq LIMIT :size"
            ),
            {"current": sealer.current, "size": size},
        )
    ).all()
    if not rows:
        return 0
    resealed: list[SealedBytes] = []
    for blob_id, seq, chunks, key_id, nonce, ciphertext in rows:
        final = seq == chunks - 1
        try:
            plaintext = open_chunk(
                sealer, blob_id, seq, SealedBytes(key_id, bytes(nonce), bytes(ciphertext)),
                final=final,
            )  # fmt: skip
        except SealError as exc:
            raise SealError(f"document blob {blob_id}, chunk {seq}: {exc}") from exc
        resealed.append(seal_chunk(sealer, blob_id, seq, plaintext, final=final))
    await session.execute(
        text(
            "UPDATE document_blob_chunk t SET key_id = :current, nonce = v.nonce, "
            "ciphertext = v.ciphertext FROM unnest(CAST(:blob_ids AS uuid[]), "
            "CAST(:seqs AS integer[]), CAST(:nonces AS bytea[]), CAST(:ciphertexts AS bytea[])) "
            "AS v(blob_id, seq, nonce, ciphertext) WHERE t.blob_id = v.blob_id AND t.seq = v.seq"
        ),
        {
            "current": sealer.current,
            "blob_ids": [row[0] for row in rows],
            "seqs": [row[1] for row in rows],
            "nonces": [sealed.nonce for sealed in resealed],
            "ciphertexts": [sealed.ciphertext for sealed in resealed],
        },
    )
    return len(rows)


async def rotate(
    run_batch: Callable[[Callable[[AsyncSession], Awaitable[int]]], Awaitable[int]],
    sealer: Vault,
    *,
    size: int = 1000,
    document_size: int = 32,
) -> list[Rotated]:
    """Re-seal every column and every document chunk (``document_size`` chunks a batch);
    ``run_batch`` runs one batch in its own committed transaction."""
    done: list[Rotated] = []
    for sealed in sealed_columns():
        total = 0
        while True:
            count = await run_batch(partial(reseal_batch, sealer=sealer, sealed=sealed, size=size))
            total += count
            if count < size:
                break
        done.append(Rotated(sealed.table, sealed.column, total))
    total = 0
    while True:
        count = await run_batch(partial(reseal_document_chunks, sealer=sealer, size=document_size))
        total += count
        if count < document_size:
            break
    done.append(Rotated(*DOCUMENT_CHUNKS, total))
    return done


# Every blind index: (table, index column, what it indexes). Names are constants.
BLIND_INDEXES: tuple[tuple[str, str, str], ...] = (
    ("debtor", "national_id_index", "national_id"),
    ("related_party", "national_id_index", "national_id"),
    ("contact_point", "value_index", "kind, value"),
)


# (rows read, indexes rewritten, the last id read)
IndexBatch = tuple[int, int, uuid.UUID]


@dataclass(frozen=True, slots=True)
class Reindexed:
    table: str
    rows: int
    changed: int


async def reindex_batch(
    session: AsyncSession,
    *,
    sealer: Vault,
    table: str,
    index_column: str,
    source: str,
    after: uuid.UUID,
    size: int,
) -> IndexBatch:
    """Recompute the index of up to ``size`` rows with ids after ``after``: (rows read,
    indexes rewritten, the last id read)."""
    rows = (
        await session.execute(
            text(
                f"SELECT id, {index_column}, {source} FROM {table} "
                f"WHERE id > :after AND {index_column} IS NOT NULL ORDER BY id LIMIT :size"
            ),
            {"after": after, "size": size},
        )
    ).all()
    if not rows:
        return 0, 0, after
    changed: list[tuple[uuid.UUID, bytes]] = []
    for row in rows:
        if table == "contact_point":
            index = contact_index(row[2], sealer.open(bytes(row[3]), CONTACT), sealer)
        else:
            index = sealer.index(sealer.open(bytes(row[2]), NATIONAL_ID), NATIONAL_ID)
        if bytes(row[1]) != index:
            changed.append((row[0], index))
    if changed:
        await session.execute(
            text(
                f"UPDATE {table} t SET {index_column} = v.index "
                "FROM unnest(CAST(:ids AS uuid[]), CAST(:indexes AS bytea[])) AS v(id, index) "
                "WHERE t.id = v.id"
            ),
            {"ids": [c[0] for c in changed], "indexes": [c[1] for c in changed]},
        )
    return len(rows), len(changed), rows[-1][0]


async def reindex(
    run_batch: Callable[
        [Callable[[AsyncSession], Awaitable[tuple[int, int, uuid.UUID]]]],
        Awaitable[tuple[int, int, uuid.UUID]],
    ],
    sealer: Vault,
    *,
    size: int = 1000,
) -> list[Reindexed]:
    """Recompute every blind index under the vault's index key, a committed batch at a time.
    Searches and intake match on these indexes: run it with the API and workers stopped,
    right after changing CARTERA_BLIND_INDEX_KEY."""
    done: list[Reindexed] = []
    for table, index_column, source in BLIND_INDEXES:
        after = uuid.UUID(int=0)
        rows = changed = 0
        while True:
            batch = partial(
                reindex_batch, sealer=sealer, table=table, index_column=index_column,
                source=source, after=after, size=size,
            )  # fmt: skip
            read, rewritten, after = await run_batch(batch)
            rows += read
            changed += rewritten
            if read < size:
                break
        done.append(Reindexed(table, rows, changed))
    return done
