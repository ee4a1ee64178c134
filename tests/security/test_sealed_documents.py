"""Documents at rest (issue 17, item 4): sealed in PostgreSQL, never on disk.

- What is uploaded downloads byte for byte, a file of several chunks included, and the
  tables hold only ciphertext; nothing is written to the data folder.
- Stored bytes that were altered, swapped, moved from another document, lost or cut short
  are never served: the download is refused (500, the server's fault, logged as
  ``document integrity failed``) before a byte is sent, and no download is on record.
- Key rotation re-seals every chunk under the new key; the old key can then leave the ring.
- Dedup never crosses partners.
- The upgrade that moved documents into the database seals the files of the old layout,
  checks their hash and refuses (changing nothing) when one is missing; the downgrade
  writes them back.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import stat
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import col, func, select

from app import migrations, vault
from app.config import DEFAULT_DATA_KEYS, get_settings
from app.domain.crypto import Vault, new_key_text, parse_key_ring
from app.domain.documents import CHUNK_BYTES
from app.domain.roles import Role
from app.models.audit import AuditEvent
from app.models.document import AccountDocument, DocumentBlob, DocumentBlobChunk
from app.services.keys import rotate
from tests.factories import make_account, make_partner

MARKER = b"CURP LOGA800101MDFPRR05 INE 1234567890123"
PIECE = 64 * 1024


def pdf_of(size: int, marker: bytes = MARKER) -> bytes:
    """A PDF of exactly ``size`` bytes whose lines all differ and all carry ``marker``."""
    head, end = b"%PDF-1.4\n", b"\n%%EOF\n"
    lines = bytearray()
    number = 0
    while len(lines) < size - len(head) - len(end):
        lines += b"%08d " % number + marker + b"\n"
        number += 1
    return head + bytes(lines[: size - len(head) - len(end)]) + end


async def pieces(content: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(content), PIECE):
        yield content[start : start + PIECE]


@pytest.fixture
async def desk(session, settings, make_user, auth_headers):
    partner = await make_partner(session)
    other_partner = await make_partner(session)
    collector = await make_user(Role.COLLECTOR)
    account = await make_account(session, partner, assigned_collector_id=collector.id)
    other = await make_account(session, other_partner, assigned_collector_id=collector.id)
    await session.commit()
    return {"account": account, "other": other, "collector": auth_headers(collector)}


async def upload(client, desk, content: bytes, account: str = "account") -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/accounts/{desk[account].id}/documents",
        params={"kind": "identity_document"},
        content=pieces(content),
        headers={**desk["collector"], "Content-Type": "application/pdf"},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def blob_of(session, document_id: str) -> DocumentBlob:
    document = await session.get_one(AccountDocument, uuid.UUID(document_id))
    return await session.get_one(DocumentBlob, document.blob_id, populate_existing=True)


async def downloads_on_record(session, document_id: str) -> int:
    return await session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            col(AuditEvent.action) == "document.downloaded",
            col(AuditEvent.entity_id) == document_id,
        )
    )


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


class TestRoundTrip:
    async def test_a_file_of_several_chunks_downloads_byte_for_byte(
        self, client, session, settings, desk
    ):
        content = pdf_of(5 * 1024 * 1024 + 12345)
        created = await upload(client, desk, content)
        blob = await blob_of(session, created["id"])
        assert blob.chunks == 21 and blob.size_bytes == len(content)
        # The chunks reference their blob, checked at commit: check now.
        await session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
        response = await client.get(created["content_url"], headers=desk["collector"])
        assert response.status_code == 200, response.text
        assert response.content == content
        assert response.headers["content-length"] == str(len(content))
        assert response.headers["x-content-sha256"] == hashlib.sha256(content).hexdigest()
        assert await downloads_on_record(session, created["id"]) == 1

    @pytest.mark.parametrize(
        "size", [CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 2 * CHUNK_BYTES]
    )
    async def test_sizes_at_the_chunk_edges(self, client, session, desk, size):
        content = pdf_of(size)
        created = await upload(client, desk, content)
        blob = await blob_of(session, created["id"])
        assert blob.chunks == -(-size // CHUNK_BYTES)
        response = await client.get(created["content_url"], headers=desk["collector"])
        assert response.content == content

    async def test_the_tables_hold_only_ciphertext_and_the_data_folder_nothing(
        self, client, session, settings, desk
    ):
        content = pdf_of(3 * CHUNK_BYTES)
        created = await upload(client, desk, content)
        blob = await blob_of(session, created["id"])
        found = await session.scalar(
            text(
                "SELECT count(*) FROM document_blob_chunk WHERE blob_id = :blob "
                "AND (position(:marker IN ciphertext) > 0 OR position(:head IN ciphertext) > 0)"
            ),
            {"blob": blob.id, "marker": MARKER, "head": b"%PDF-1.4"},
        )
        assert found == 0
        chunks = (
            await session.execute(
                select(DocumentBlobChunk).where(col(DocumentBlobChunk.blob_id) == blob.id)
            )
        ).all()
        assert len(chunks) == 3
        assert files_under(settings.data_dir) == []
        # GET /documents/{id}/download (the security review's name for it) gives the original.
        response = await client.get(
            f"/api/v1/documents/{created['id']}/download", headers=desk["collector"]
        )
        assert response.status_code == 200, response.text
        assert response.content == content
        assert await downloads_on_record(session, created["id"]) == 1


class TestIntegrity:
    """Each way the stored bytes can go wrong on the server is refused before a byte is
    sent: a 500 problem (the server's fault; nothing a client sent), logged, no download
    on record."""

    @staticmethod
    async def damage(session, blob: DocumentBlob, how: str, other: DocumentBlob) -> None:
        statements: dict[str, list[str]] = {
            "a flipped byte": [
                "UPDATE document_blob_chunk SET ciphertext = overlay(ciphertext placing "
                "'\\xff'::bytea from 100) WHERE blob_id = :blob AND seq = 1"
            ],
            "two chunks swapped": [
                "UPDATE document_blob_chunk SET seq = 9 WHERE blob_id = :blob AND seq = 0",
                "UPDATE document_blob_chunk SET seq = 0 WHERE blob_id = :blob AND seq = 1",
                "UPDATE document_blob_chunk SET seq = 1 WHERE blob_id = :blob AND seq = 9",
            ],
            "a chunk of another document": [
                "UPDATE document_blob_chunk t SET key_id = o.key_id, nonce = o.nonce, "
                "ciphertext = o.ciphertext FROM document_blob_chunk o "
                "WHERE t.blob_id = :blob AND t.seq = 0 AND o.blob_id = :other AND o.seq = 0"
            ],
            "a chunk lost": ["DELETE FROM document_blob_chunk WHERE blob_id = :blob AND seq = 1"],
            "a nonce replaced": [
                "UPDATE document_blob_chunk SET nonce = '\\x000000000000000000000000'::bytea "
                "WHERE blob_id = :blob AND seq = 2"
            ],
        }
        for statement in statements[how]:
            await session.execute(text(statement), {"blob": blob.id, "other": other.id})
        await session.commit()

    @pytest.mark.parametrize(
        "how",
        [
            "a flipped byte",
            "two chunks swapped",
            "a chunk of another document",
            "a chunk lost",
            "a nonce replaced",
        ],
    )
    async def test_damaged_bytes_are_never_served(self, client, session, desk, caplog, how):
        created = await upload(client, desk, pdf_of(3 * CHUNK_BYTES))
        other = await upload(client, desk, pdf_of(3 * CHUNK_BYTES, b"another document"))
        await self.damage(
            session, await blob_of(session, created["id"]), how, await blob_of(session, other["id"])
        )
        with caplog.at_level(logging.ERROR):
            response = await client.get(created["content_url"], headers=desk["collector"])
        self.assert_refused(response)
        assert await downloads_on_record(session, created["id"]) == 0
        assert any("document integrity failed" in str(r.msg) for r in caplog.records)
        logged = "\n".join(str(r.msg) for r in caplog.records)
        assert MARKER.decode() not in logged
        # The other document is untouched and still downloads.
        fine = await client.get(other["content_url"], headers=desk["collector"])
        assert fine.status_code == 200

    async def test_a_blob_cut_short_does_not_pass_for_a_shorter_document(
        self, client, session, desk
    ):
        """Even with every count and hash on record rewritten to match the shorter bytes,
        the new last chunk was not sealed as the last one."""
        content = pdf_of(3 * CHUNK_BYTES)
        created = await upload(client, desk, content)
        blob = await blob_of(session, created["id"])
        shorter = content[: 2 * CHUNK_BYTES]
        facts = {"blob": blob.id, "size": len(shorter),
                 "sha": hashlib.sha256(shorter).hexdigest()}  # fmt: skip
        await session.execute(
            text("DELETE FROM document_blob_chunk WHERE blob_id = :blob AND seq = 2"), facts
        )
        await session.execute(
            text("UPDATE document_blob SET chunks = 2, size_bytes = :size, sha256 = :sha "
                 "WHERE id = :blob"), facts,
        )  # fmt: skip
        await session.execute(
            text("UPDATE account_document SET size_bytes = :size, sha256 = :sha "
                 "WHERE blob_id = :blob"), facts,
        )  # fmt: skip
        await session.commit()
        response = await client.get(created["content_url"], headers=desk["collector"])
        self.assert_refused(response)

    async def test_a_document_pointed_at_another_blob_is_refused(self, client, session, desk):
        created = await upload(client, desk, pdf_of(1000))
        other = await upload(client, desk, pdf_of(2000, b"other"))
        await session.execute(
            text("UPDATE account_document SET blob_id = :other WHERE id = :id"),
            {"other": (await blob_of(session, other["id"])).id, "id": uuid.UUID(created["id"])},
        )
        await session.commit()
        response = await client.get(created["content_url"], headers=desk["collector"])
        self.assert_refused(response)

    @staticmethod
    def assert_refused(response) -> None:
        assert response.status_code == 500, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "internal_error"
        assert MARKER not in response.content


class TestRotation:
    async def test_rotation_reseals_every_chunk_and_the_old_key_can_go(self, client, session, desk):
        content = pdf_of(5 * CHUNK_BYTES + 7)
        created = await upload(client, desk, content)
        small = await upload(client, desk, pdf_of(999, b"small"))
        old = vault.current()
        ring = {**parse_key_ring(DEFAULT_DATA_KEYS), **parse_key_ring(new_key_text(7))}
        new = Vault(ring, 7, old.index_key)
        before = set(await session.scalars(text("SELECT ciphertext FROM document_blob_chunk")))

        async def run_batch(work):
            result = await work(session)
            await session.commit()
            return result

        with vault.using(new):
            rotated = await rotate(run_batch, new, document_size=4)
            done = {(r.table, r.column): r.rows for r in rotated}
            assert done[("document_blob_chunk", "ciphertext")] == 7
            keys = set(
                await session.scalars(text("SELECT DISTINCT key_id FROM document_blob_chunk"))
            )
            assert keys == {7}
            after = set(await session.scalars(text("SELECT ciphertext FROM document_blob_chunk")))
            assert not before & after
            again = {(r.table, r.column): r.rows for r in await rotate(run_batch, new)}
            assert again[("document_blob_chunk", "ciphertext")] == 0
        with vault.using(Vault({7: ring[7]}, 7, old.index_key)):
            for document, expected in ((created, content), (small, pdf_of(999, b"small"))):
                response = await client.get(document["content_url"], headers=desk["collector"])
                assert response.status_code == 200, response.text
                assert response.content == expected


class TestDedup:
    async def test_dedup_stays_within_a_partner(self, client, session, desk):
        content = pdf_of(CHUNK_BYTES + 10)
        mine = await upload(client, desk, content)
        again = await upload(client, desk, content)
        theirs = await upload(client, desk, content, account="other")
        assert (await blob_of(session, mine["id"])).id == (await blob_of(session, again["id"])).id
        assert (await blob_of(session, theirs["id"])).id != (await blob_of(session, mine["id"])).id
        for document in (mine, again, theirs):
            response = await client.get(document["content_url"], headers=desk["collector"])
            assert response.content == content


class TestMemory:
    async def test_a_large_upload_and_download_hold_a_few_chunks_at_most(
        self, client, session, desk, sessionmaker
    ):
        from app.services import documents

        size = 16 * 1024 * 1024

        async def generated() -> AsyncIterator[bytes]:
            line = b"%PDF-1.4\n" + b"x" * (PIECE - 9)
            yield line
            sent = len(line)
            while sent < size - PIECE:
                yield b"y" * PIECE
                sent += PIECE
            yield b"z" * (size - sent - 7) + b"\n%%EOF\n"

        tracemalloc.start()
        try:
            response = await client.post(
                f"/api/v1/accounts/{desk['account'].id}/documents",
                params={"kind": "other"},
                content=generated(),
                headers={**desk["collector"], "Content-Type": "application/pdf"},
            )
            _, upload_peak = tracemalloc.get_traced_memory()
            assert response.status_code == 201, response.text
            tracemalloc.reset_peak()
            document = await session.get_one(AccountDocument, uuid.UUID(response.json()["id"]))
            blob = await session.get_one(DocumentBlob, document.blob_id)
            ref = documents.BlobRef(blob.id, blob.sha256, blob.size_bytes, blob.chunks)
            total = 0
            async for piece in documents.document_content(
                sessionmaker, documents.Download(document, ref)
            ):
                total += len(piece)
            _, download_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert total == size
        # A few chunks and the app's own first-use allocations (about 4 MiB whatever the
        # size: 4 MiB and 18 MiB files peak alike), never the file.
        assert upload_peak < 6 * 1024 * 1024, upload_peak
        assert download_peak < 6 * 1024 * 1024, download_peak


# --- the migration that moved documents into the database -----------------------------

BEFORE = "d6e7f8a9b0c1"
MIGRATION = "0d5ea1edb10b"


@pytest.fixture
def empty_url(database_server):
    url = database_server.create_database("cartera_documents_migration")
    yield url
    database_server.drop_database(url)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch) -> Path:
    """The data folder the migration reads (CARTERA_DATA_DIR, through the settings)."""
    monkeypatch.setenv("CARTERA_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


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


class OldSchema:
    """Enough of a session for the factories on a database migrated only so far: each row
    is inserted with the columns its table has there (later migrations add others)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.pending: list[Any] = []
        self.columns: dict[str, set[str]] = {}

    def add(self, row: Any) -> None:
        self.pending.append(row)

    def add_all(self, rows: Any) -> None:
        self.pending.extend(rows)

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await self.session.execute(*args, **kwargs)

    async def flush(self) -> None:
        for row in self.pending:
            table = row.__table__
            if table.name not in self.columns:
                found = await self.session.scalars(
                    text(
                        "SELECT column_name FROM information_schema.columns WHERE table_name = :t"
                    ),
                    {"t": table.name},
                )
                self.columns[table.name] = set(found)
            values = {
                column.name: getattr(row, column.key)
                for column in table.columns
                if column.name in self.columns[table.name] and getattr(row, column.key) is not None
            }
            await self.session.execute(table.insert().values(**values))
        self.pending.clear()


def legacy_documents(url: str, files: dict[str, bytes]) -> dict[str, uuid.UUID]:
    """Documents as the old layout recorded them (no blob): one per named file."""

    async def arrange(session: AsyncSession) -> dict[str, uuid.UUID]:
        old = OldSchema(session)
        partner = await make_partner(old)  # type: ignore[arg-type]
        account = await make_account(old, partner)  # type: ignore[arg-type]
        ids = {}
        for name, content in files.items():
            ids[name] = uuid.uuid4()
            await session.execute(
                text(
                    "INSERT INTO account_document (id, account_id, partner_id, debtor_id, kind,"
                    " content_type, size_bytes, sha256, uploaded_by, uploaded_at,"
                    " custody_status) VALUES (:id, :account, :partner, :debtor, 'other',"
                    " 'application/pdf', :size, :sha, 'test', now(), 'digital_only')"
                ),
                {"id": ids[name], "account": account.id, "partner": partner.id,
                 "debtor": account.debtor_id, "size": len(content),
                 "sha": hashlib.sha256(content).hexdigest()},
            )  # fmt: skip
        return ids

    return run(url, arrange)


def place(data_dir: Path, content: bytes) -> Path:
    sha = hashlib.sha256(content).hexdigest()
    path = data_dir / "documents" / sha[:2] / sha
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    os.chmod(path, 0o644)  # as the old code left them
    return path


class TestMigration:
    def test_the_upgrade_seals_the_old_files_in_and_the_downgrade_writes_them_back(
        self, empty_url, data_dir, settings
    ):
        vault.configure(settings)
        migrations.upgrade(empty_url, BEFORE)
        big, small = pdf_of(2 * CHUNK_BYTES + 5), pdf_of(300, b"small")
        ids = legacy_documents(empty_url, {"big": big, "small": small, "again": small})
        paths = [place(data_dir, big), place(data_dir, small)]

        migrations.upgrade(empty_url, MIGRATION)

        async def stored(session: AsyncSession) -> list[Any]:
            return (
                await session.execute(
                    text(
                        "SELECT d.id, b.sha256, b.size_bytes, b.chunks, "
                        "(SELECT count(*) FROM document_blob_chunk c WHERE c.blob_id = b.id), "
                        "(SELECT count(*) FROM document_blob_chunk c WHERE c.blob_id = b.id AND "
                        " position(:marker IN c.ciphertext) > 0) "
                        "FROM account_document d JOIN document_blob b ON b.id = d.blob_id"
                    ),
                    {"marker": b"small"},
                )
            ).all()

        rows = {row[0]: row[1:] for row in run(empty_url, stored)}
        assert rows[ids["big"]] == (hashlib.sha256(big).hexdigest(), len(big), 3, 3, 0)
        assert rows[ids["small"]] == (hashlib.sha256(small).hexdigest(), len(small), 1, 1, 0)
        assert rows[ids["again"]] == rows[ids["small"]]
        assert run(empty_url, lambda s: s.scalar(text("SELECT count(*) FROM document_blob"))) == 2
        # Left in place, for the sweep, but readable by their owner only.
        for path in paths:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600

        # The app reads what the migration sealed.
        async def read_back(session: AsyncSession) -> bytes:
            from app.services import documents

            row = (
                await session.execute(
                    text(
                        "SELECT b.id, b.sha256, b.size_bytes, b.chunks FROM document_blob b "
                        "JOIN account_document d ON d.blob_id = b.id WHERE d.id = :id"
                    ),
                    {"id": ids["big"]},
                )
            ).one()
            ref = documents.BlobRef(row[0], row[1], row[2], row[3])
            read = bytearray()

            async def chunk(blob_id: uuid.UUID, seq: int):
                return await documents._read_chunk(session, blob_id, seq)

            async for piece in documents._plaintext(ref, chunk, vault.current()):
                read += piece
            return bytes(read)

        assert run(empty_url, read_back) == big

        for path in paths:
            path.unlink()
        migrations.downgrade(empty_url, BEFORE)
        assert [p.read_bytes() for p in paths] == [big, small]
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in paths)
        assert not [p for p in (data_dir / "documents" / "tmp").iterdir()]
        migrations.upgrade(empty_url, MIGRATION)  # and up again

    def test_a_missing_file_stops_the_upgrade_and_changes_nothing(
        self, empty_url, data_dir, settings
    ):
        vault.configure(settings)
        migrations.upgrade(empty_url, BEFORE)
        here, lost = pdf_of(400, b"here"), pdf_of(500, b"lost")
        ids = legacy_documents(empty_url, {"here": here, "lost": lost})
        place(data_dir, here)
        with pytest.raises(RuntimeError) as refused:
            migrations.upgrade(empty_url, MIGRATION)
        assert str(ids["lost"]) in str(refused.value)
        assert "nothing was changed" in str(refused.value)
        version = run(
            empty_url, lambda s: s.scalar(text("SELECT version_num FROM alembic_version"))
        )
        assert version == BEFORE
        place(data_dir, lost)
        migrations.upgrade(empty_url, MIGRATION)

    def test_a_file_that_is_not_its_hash_stops_the_upgrade(self, empty_url, data_dir, settings):
        vault.configure(settings)
        migrations.upgrade(empty_url, BEFORE)
        content = pdf_of(400)
        ids = legacy_documents(empty_url, {"swapped": content})
        path = place(data_dir, content)
        path.write_bytes(pdf_of(400, b"another file, same size"))
        with pytest.raises(RuntimeError, match=str(ids["swapped"])):
            migrations.upgrade(empty_url, MIGRATION)
