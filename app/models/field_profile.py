"""A field collector's route settings: where their day starts, their shift, how many visits
fit in it, and how long a visit and the travel between visits take (app/domain/field_routes.py)."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from decimal import Decimal

from sqlalchemy import CheckConstraint, Numeric
from sqlmodel import Field, SQLModel

from app.models.base import timestamp_field


class FieldProfile(SQLModel, table=True):
    __tablename__ = "field_profile"
    __table_args__ = (
        CheckConstraint(
            "(start_latitude IS NULL) = (start_longitude IS NULL)", name="start_point_whole"
        ),
        CheckConstraint("start_latitude BETWEEN -90 AND 90", name="start_latitude"),
        CheckConstraint("start_longitude BETWEEN -180 AND 180", name="start_longitude"),
        CheckConstraint("daily_capacity BETWEEN 1 AND 60", name="daily_capacity"),
        CheckConstraint("service_minutes BETWEEN 5 AND 240", name="service_minutes"),
        CheckConstraint("speed_kmh BETWEEN 5 AND 120", name="speed_kmh"),
        CheckConstraint("shift_start < shift_end", name="shift_ordered"),
    )

    user_id: uuid.UUID = Field(foreign_key="app_user.id", primary_key=True, ondelete="CASCADE")
    start_latitude: Decimal | None = Field(default=None, sa_type=Numeric(9, 6))
    start_longitude: Decimal | None = Field(default=None, sa_type=Numeric(9, 6))
    daily_capacity: int = 12
    # The shift, local wall-clock time in ``time_zone`` (null: the zone of the day's stops).
    shift_start: time = time(9, 0)
    shift_end: time = time(19, 0)
    time_zone: str | None = Field(default=None, max_length=64)
    service_minutes: int = 20
    speed_kmh: int = 25
    version: int = Field(default=1)
    updated_by: str = Field(max_length=80)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
