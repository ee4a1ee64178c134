"""Shared table plumbing: stable constraint names and the column types every aggregate uses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, LargeBinary
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from app import vault

# Stable, predictable constraint names so migrations can refer to them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = SQLModel.metadata


def utcnow() -> datetime:
    return datetime.now(UTC)


def timestamp_field(*, index: bool = False) -> Any:
    """A ``timestamptz`` column (aware UTC), defaulting to now."""
    return Field(
        default_factory=utcnow, sa_type=DateTime(timezone=True), nullable=False, index=index
    )


def optional_timestamp_field() -> Any:
    """A nullable ``timestamptz`` column for moments that may not have happened yet."""
    return Field(default=None, sa_type=DateTime(timezone=True), nullable=True)


class Sealed(TypeDecorator[str]):
    """Text stored sealed (AES-256-GCM, app/domain/crypto.py) as ``bytea``: the ORM writes
    and reads plaintext, the table holds only ciphertext. Comparing a sealed column with a
    value never matches (every sealing has its own nonce): search by its blind index."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, purpose: str) -> None:
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: str | None, dialect: Any) -> bytes | None:
        return None if value is None else vault.current().seal(value, self.purpose)

    def process_result_value(self, value: bytes | None, dialect: Any) -> str | None:
        return None if value is None else vault.current().open(bytes(value), self.purpose)
