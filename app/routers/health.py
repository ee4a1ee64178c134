"""Probes and metrics, outside ``/api/v1`` where orchestrators expect them."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.db import DatabaseUnreachable
from app.deps import SessionDep
from app.domain.errors import NotReady
from app.migrations import head_revision
from app.problems import problem_responses

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    database: Literal["ok"] = "ok"
    migration: str


@router.get("/healthz", summary="Is the process up", response_model=Health)
async def check_health() -> Health:
    """Answers as long as the process serves requests; touches nothing else."""
    return Health()


@router.get(
    "/readyz",
    summary="Can the service take traffic",
    response_model=Readiness,
    responses=problem_responses(503),
)
async def check_readiness(session: SessionDep) -> Readiness:
    """200 when the database answers and its schema is at the code's migration head."""
    try:
        current = await session.scalar(text("SELECT version_num FROM alembic_version"))
    except (SQLAlchemyError, DatabaseUnreachable) as exc:
        raise NotReady({"reason": "database unreachable or not migrated"}) from exc
    head = head_revision()
    if current != head:
        raise NotReady({"reason": f"schema at {current or 'base'}, code expects {head}"})
    return Readiness(migration=str(current))


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format.",
        }
    },
)
async def export_metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
