"""Events counted by a rate limit shared by every API process (app/services/rate_limit.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Index
from sqlmodel import Field, SQLModel


class RateLimitHit(SQLModel, table=True):
    """One admitted event of ``key`` under the limit named ``bucket``, at the database's
    clock. Rows older than the bucket's window count for nothing and are swept as new ones
    come."""

    __tablename__ = "rate_limit_hit"
    __table_args__ = (
        # The key's events in the window, oldest first …
        Index("ix_rate_limit_hit_bucket_key_at", "bucket", "key", "at"),
        # … and the bucket's expired ones, for the sweep.
        Index("ix_rate_limit_hit_bucket_at", "bucket", "at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    bucket: str = Field(max_length=40)
    key: str = Field(max_length=80)
    at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
