"""Allocation rules, and what the last allocation run decided for each account."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, CheckConstraint, Column, Index, String
from sqlmodel import Field, SQLModel

from app.ids import new_id
from app.models.base import timestamp_field


def _text_array(length: int) -> Any:
    return Field(
        default_factory=list,
        sa_column=Column(ARRAY(String(length)), nullable=False, server_default="{}"),
    )


class AllocationRule(SQLModel, table=True):
    """One rule of ``app/domain/allocation.py``: which accounts it takes and to whom they
    go. Territory names are stored normalised (no accents, lower case)."""

    __tablename__ = "allocation_rule"
    __table_args__ = (
        CheckConstraint("skill IN ('phone', 'field')", name="skill"),
        CheckConstraint("capacity BETWEEN 1 AND 100000", name="capacity"),
        CheckConstraint("priority BETWEEN 0 AND 1000000", name="priority"),
        CheckConstraint("(team_id IS NULL) <> (collector_id IS NULL)", name="one_target"),
        Index("ix_allocation_rule_order", "priority", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=120)
    priority: int
    partner_id: uuid.UUID | None = Field(default=None, foreign_key="partner.id")
    stages: list[str] = _text_array(16)
    product_types: list[str] = _text_array(16)
    skill: str = Field(max_length=8)
    states: list[str] = _text_array(60)
    municipalities: list[str] = _text_array(120)
    postal_prefixes: list[str] = _text_array(10)
    team_id: uuid.UUID | None = Field(default=None, foreign_key="team.id")
    collector_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    capacity: int
    version: int = Field(default=1)
    created_by: str = Field(max_length=80)
    updated_by: str = Field(max_length=80)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class AccountAllocation(SQLModel, table=True):
    """What allocation last set on an account. An account whose collector differs from
    this (or that has a collector and no row here) was assigned by hand, and allocation
    leaves it alone unless told otherwise."""

    __tablename__ = "account_allocation"

    account_id: uuid.UUID = Field(foreign_key="account.id", primary_key=True, ondelete="CASCADE")
    rule_id: uuid.UUID | None = Field(
        default=None, foreign_key="allocation_rule.id", index=True, ondelete="SET NULL"
    )
    collector_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    allocated_at: datetime = timestamp_field()
