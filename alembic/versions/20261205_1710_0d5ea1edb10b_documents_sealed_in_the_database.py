"""documents sealed in the database: document_blob and document_blob_chunk, the files of the
data folder moved in

Revision ID: 0d5ea1edb10b
Revises: 9a1b2c3d4e5f
Create Date: 2026-12-05 17:10:00.000000+00:00

Upgrade seals every file the documents reference (``<data_dir>/documents/<sha[:2]>/<sha>``)
into one blob per partner and SHA-256, checking each file's hash on the way; a referenced
file that is missing or does not hash to its name stops the upgrade, which then changes
nothing. The files are left where they were but made readable by their owner only (0600):
the migration's transaction may still roll back after it read them. Once it has committed,
``cartera jobs documents-sweep`` deletes them.

Downgrade writes every blob back into the old layout (files 0600, written whole and then
renamed into place) and drops the tables.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
import sqlmodel
from sqlalchemy.engine import Connection

from alembic import op
from app.domain.crypto import SealedBytes, Vault
from app.domain.documents import CHUNK_BYTES, chunk_count, open_chunk, seal_chunk

revision: str = "0d5ea1edb10b"
down_revision: str | None = "9a1b2c3d4e5f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOCUMENTS_FOLDER = "documents"

_INSERT_CHUNK = sa.text(
    "INSERT INTO document_blob_chunk (blob_id, seq, key_id, nonce, ciphertext) "
    "VALUES (:blob_id, :seq, :key_id, :nonce, :ciphertext)"
)


def _legacy_path(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256


def move_files_into_database(bind: Connection, root: Path, sealer: Vault) -> int:
    """Seal every file the documents without a blob reference (``root/<sha[:2]>/<sha>``) into
    a blob of their partner, and point the documents at it; how many blobs were written. A
    missing file, or one of another size or hash, raises (the caller's transaction then
    rolls back). The files are made 0600 and left in place."""
    wanted = bind.execute(
        sa.text(
            "SELECT partner_id, sha256, min(size_bytes), max(size_bytes) FROM account_document "
            "WHERE blob_id IS NULL GROUP BY partner_id, sha256 ORDER BY partner_id, sha256"
        )
    ).all()
    unusable: list[str] = []
    for _partner_id, sha256, smallest, largest in wanted:
        path = _legacy_path(root, sha256)
        if smallest != largest or not path.is_file() or path.stat().st_size != smallest:
            unusable.append(sha256)
    if unusable:
        _refuse(bind, root, unusable, "missing or not the size on record")
    moved = 0
    for partner_id, sha256, size_bytes, _largest in wanted:
        path = _legacy_path(root, sha256)
        os.chmod(path, 0o600)
        blob_id = uuid.uuid4()
        chunks = chunk_count(size_bytes)
        bind.execute(
            sa.text(
                "INSERT INTO document_blob (id, partner_id, sha256, size_bytes, chunks, "
                "created_at) VALUES (:id, :partner_id, :sha256, :size, :chunks, now())"
            ),
            {"id": blob_id, "partner_id": partner_id, "sha256": sha256, "size": size_bytes,
             "chunks": chunks},
        )  # fmt: skip
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for seq in range(chunks):
                piece = handle.read(CHUNK_BYTES)
                digest.update(piece)
                sealed = seal_chunk(sealer, blob_id, seq, piece, final=seq == chunks - 1)
                bind.execute(
                    _INSERT_CHUNK,
                    {"blob_id": blob_id, "seq": seq, "key_id": sealed.key_id,
                     "nonce": sealed.nonce, "ciphertext": sealed.ciphertext},
                )  # fmt: skip
        if digest.hexdigest() != sha256:
            _refuse(bind, root, [sha256], "not the bytes on record (another SHA-256)")
        bind.execute(
            sa.text(
                "UPDATE account_document SET blob_id = :blob_id "
                "WHERE partner_id = :partner_id AND sha256 = :sha256 AND blob_id IS NULL"
            ),
            {"blob_id": blob_id, "partner_id": partner_id, "sha256": sha256},
        )
        moved += 1
    for folder in (root, root / "tmp"):
        if folder.is_dir():
            for path in folder.rglob("*"):
                if path.is_file():
                    os.chmod(path, 0o600)
    return moved


def _refuse(bind: Connection, root: Path, shas: list[str], why: str) -> None:
    """Stop the upgrade naming the documents concerned (ids, never content)."""
    ids = bind.execute(
        sa.text("SELECT id FROM account_document WHERE sha256 = ANY(:shas) ORDER BY id LIMIT 10"),
        {"shas": shas},
    ).scalars()
    raise RuntimeError(
        f"{len(shas)} stored document file(s) under {root} are {why}; documents "
        f"{', '.join(str(i) for i in ids)}. Point CARTERA_DATA_DIR at the folder that holds "
        "them (or restore them) and upgrade again: nothing was changed."
    )


def write_files_back(bind: Connection, root: Path, sealer: Vault) -> int:
    """Write every blob into the old layout (``root/<sha[:2]>/<sha>``, 0600); how many files
    were written. A file already there with the right size is left alone."""
    blobs = bind.execute(
        sa.text("SELECT id, sha256, size_bytes, chunks FROM document_blob ORDER BY sha256, id")
    ).all()
    temp_dir = root / "tmp"
    temp_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    written = 0
    for blob_id, sha256, size_bytes, chunks in blobs:
        target = _legacy_path(root, sha256)
        if target.is_file() and target.stat().st_size == size_bytes:
            continue
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = temp_dir / f"{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                for seq in range(chunks):
                    row = bind.execute(
                        sa.text(
                            "SELECT key_id, nonce, ciphertext FROM document_blob_chunk "
                            "WHERE blob_id = :blob_id AND seq = :seq"
                        ),
                        {"blob_id": blob_id, "seq": seq},
                    ).one()
                    sealed = SealedBytes(row[0], bytes(row[1]), bytes(row[2]))
                    piece = open_chunk(sealer, blob_id, seq, sealed, final=seq == chunks - 1)
                    digest.update(piece)
                    handle.write(piece)
                handle.flush()
                os.fsync(handle.fileno())
            if digest.hexdigest() != sha256:
                raise RuntimeError(f"document blob {blob_id} does not hash to its SHA-256")
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        written += 1
    return written


def _documents_root() -> Path:
    from app.config import get_settings

    return get_settings().data_dir / DOCUMENTS_FOLDER


def upgrade() -> None:
    op.create_table(
        "document_blob",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("chunks > 0", name=op.f("ck_document_blob_chunks")),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_document_blob_sha256")),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_document_blob_size_bytes")),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_document_blob_partner_id_partner")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_blob")),
        sa.UniqueConstraint("partner_id", "sha256", name=op.f("uq_document_blob_partner_id")),
    )
    op.create_table(
        "document_blob_chunk",
        sa.Column("blob_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.SmallInteger(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("key_id BETWEEN 1 AND 255", name=op.f("ck_document_blob_chunk_key_id")),
        sa.CheckConstraint("octet_length(nonce) = 12", name=op.f("ck_document_blob_chunk_nonce")),
        sa.CheckConstraint("seq >= 0", name=op.f("ck_document_blob_chunk_seq")),
        sa.ForeignKeyConstraint(
            ["blob_id"],
            ["document_blob.id"],
            name=op.f("fk_document_blob_chunk_blob_id_document_blob"),
            ondelete="CASCADE",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.PrimaryKeyConstraint("blob_id", "seq", name=op.f("pk_document_blob_chunk")),
    )
    op.create_index(
        "ix_document_blob_chunk_key_id", "document_blob_chunk", ["key_id"], unique=False
    )
    # Ciphertext does not compress: store it out of line without trying.
    op.execute("ALTER TABLE document_blob_chunk ALTER COLUMN ciphertext SET STORAGE EXTERNAL")

    op.add_column("account_document", sa.Column("blob_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_account_document_blob_id_document_blob"),
        "account_document",
        "document_blob",
        ["blob_id"],
        ["id"],
    )
    op.create_index("ix_account_document_blob_id", "account_document", ["blob_id"], unique=False)

    from app import vault

    move_files_into_database(op.get_bind(), _documents_root(), vault.current())
    op.alter_column("account_document", "blob_id", nullable=False)


def downgrade() -> None:
    from app import vault

    write_files_back(op.get_bind(), _documents_root(), vault.current())
    op.drop_index("ix_account_document_blob_id", table_name="account_document")
    op.drop_constraint(
        op.f("fk_account_document_blob_id_document_blob"), "account_document", type_="foreignkey"
    )
    op.drop_column("account_document", "blob_id")
    op.drop_index("ix_document_blob_chunk_key_id", table_name="document_blob_chunk")
    op.drop_table("document_blob_chunk")
    op.drop_table("document_blob")
