"""Shared table plumbing: stable constraint names and the column types every aggregate uses."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import DateTime, LargeBinary, String
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

E = TypeVar("E", bound=StrEnum)


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


class EnumText(TypeDecorator[E]):
    """A status column typed with its domain enum and stored as the enum's value in a plain
    ``varchar`` (the same text as before: no database enum type, no data migration). The ORM
    reads members back; it writes a member, or a string that must be one of its values."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum
        self.length = length

    def process_bind_param(self, value: E | str | None, dialect: Any) -> str | None:
        # A member or its text (a query's filter): the table's CHECK refuses anything else.
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Any) -> E | None:
        return None if value is None else self.enum(value)
