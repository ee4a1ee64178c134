"""Shared table plumbing: stable constraint names and the column types every aggregate uses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel

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
