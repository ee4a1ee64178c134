"""field routes and visit positions

A field collector's route settings (start point, shift, daily capacity, visit length and
travel speed), and on each interaction the GPS check of a visit: the distance from the
address's coordinates and whether it was beyond the tolerance.

Revision ID: a7b8c9d0e1f2
Revises: f6a7b8c9d0e1
Create Date: 2026-11-24 23:58:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "a7b8c9d0e1f2"
down_revision: str | None = "f6a7b8c9d0e1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "field_profile",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("start_latitude", sa.Numeric(precision=9, scale=6), nullable=True),
        sa.Column("start_longitude", sa.Numeric(precision=9, scale=6), nullable=True),
        sa.Column("daily_capacity", sa.Integer(), nullable=False),
        sa.Column("shift_start", sa.Time(), nullable=False),
        sa.Column("shift_end", sa.Time(), nullable=False),
        sa.Column("time_zone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("service_minutes", sa.Integer(), nullable=False),
        sa.Column("speed_kmh", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(start_latitude IS NULL) = (start_longitude IS NULL)",
            name=op.f("ck_field_profile_start_point_whole"),
        ),
        sa.CheckConstraint(
            "start_latitude BETWEEN -90 AND 90", name=op.f("ck_field_profile_start_latitude")
        ),
        sa.CheckConstraint(
            "start_longitude BETWEEN -180 AND 180", name=op.f("ck_field_profile_start_longitude")
        ),
        sa.CheckConstraint(
            "daily_capacity BETWEEN 1 AND 60", name=op.f("ck_field_profile_daily_capacity")
        ),
        sa.CheckConstraint(
            "service_minutes BETWEEN 5 AND 240", name=op.f("ck_field_profile_service_minutes")
        ),
        sa.CheckConstraint("speed_kmh BETWEEN 5 AND 120", name=op.f("ck_field_profile_speed_kmh")),
        sa.CheckConstraint("shift_start < shift_end", name=op.f("ck_field_profile_shift_ordered")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_field_profile_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_field_profile")),
    )
    op.add_column("interaction", sa.Column("position_distance_m", sa.Integer(), nullable=True))
    op.add_column("interaction", sa.Column("position_mismatch", sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column("interaction", "position_mismatch")
    op.drop_column("interaction", "position_distance_m")
    op.drop_table("field_profile")
