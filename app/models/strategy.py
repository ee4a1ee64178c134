"""Collection strategies: a partner's policy per delinquency stage, versioned."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.ids import new_id
from app.models.base import timestamp_field


class CollectionStrategy(SQLModel, table=True):
    """One version of a partner's strategy; the highest version is the one in force. Versions
    are never changed: decisions record the version they were made under."""

    __tablename__ = "collection_strategy"
    __table_args__ = (UniqueConstraint("partner_id", "version", name="uq_strategy_version"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    partner_id: uuid.UUID = Field(foreign_key="partner.id")
    version: int
    document: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    created_by: str = Field(max_length=80)
    created_at: datetime = timestamp_field()
