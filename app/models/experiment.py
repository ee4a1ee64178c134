"""Champion/challenger experiments on a partner's strategy for one delinquency stage."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Column, Index, Numeric, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.domain.experiments import ExperimentStatus
from app.ids import new_id
from app.models.base import EnumText, optional_timestamp_field, timestamp_field


class StrategyExperiment(SQLModel, table=True):
    """An experiment: while ``running`` each account of the partner in ``stage`` works under
    its arm's strategy (app/domain/experiments.py assigns the arm); once ``stopped`` or
    ``promoted`` every account is back on the champion."""

    __tablename__ = "strategy_experiment"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'stopped', 'promoted')", name="status"),
        CheckConstraint(
            "stage IN ('current', 'early', 'mid', 'late', 'nonaccrual', 'chargeoff')",
            name="stage",
        ),
        CheckConstraint("(status = 'running') = (ended_at IS NULL)", name="ended_consistent"),
        CheckConstraint(
            "(status = 'promoted') = (promoted_version IS NOT NULL)", name="promoted_consistent"
        ),
        # One running experiment per partner and stage.
        Index(
            "uq_strategy_experiment_running",
            "partner_id",
            "stage",
            unique=True,
            postgresql_where=text("status = 'running'"),
        ),
        Index("ix_strategy_experiment_partner", "partner_id", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    partner_id: uuid.UUID = Field(foreign_key="partner.id")
    stage: str = Field(max_length=16)
    name: str = Field(max_length=120)
    status: ExperimentStatus = Field(
        default=ExperimentStatus.RUNNING, sa_type=EnumText(ExperimentStatus, 16)
    )
    created_by: str = Field(max_length=80)
    created_at: datetime = timestamp_field()
    ended_by: str | None = Field(default=None, max_length=80)
    ended_at: datetime | None = optional_timestamp_field()
    promoted_arm_id: uuid.UUID | None = None
    # The strategy version the promoted challenger became.
    promoted_version: int | None = None


class ExperimentArm(SQLModel, table=True):
    """An arm: position 0 is the champion (``document`` null: the strategy in force), the
    others challengers carrying their stage entry. ``bucket_low``/``bucket_high``: the arm's
    basis points ``[low, high)`` of the cumulative shares."""

    __tablename__ = "experiment_arm"
    __table_args__ = (
        UniqueConstraint("experiment_id", "position", name="uq_experiment_arm_position"),
        CheckConstraint("share_pct > 0 AND share_pct <= 100", name="share"),
        CheckConstraint(
            "0 <= bucket_low AND bucket_low < bucket_high AND bucket_high <= 10000",
            name="buckets",
        ),
        CheckConstraint("(position = 0) = (document IS NULL)", name="champion_has_no_document"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    experiment_id: uuid.UUID = Field(foreign_key="strategy_experiment.id", index=True)
    partner_id: uuid.UUID = Field(foreign_key="partner.id")
    position: int
    name: str = Field(max_length=60)
    share_pct: Decimal = Field(sa_type=Numeric(5, 2))
    bucket_low: int
    bucket_high: int
    # SQL NULL for the champion (not JSON null).
    document: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSONB(none_as_null=True), nullable=True)
    )
