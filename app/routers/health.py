"""Probes and metrics, outside ``/api/v1`` where orchestrators expect them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.db import DatabaseUnreachable
from app.deps import SessionDep, SettingsDep, bearer, get_principal
from app.domain.errors import NotReady, PermissionDenied
from app.domain.roles import Role
from app.i18n import N_, Message
from app.migrations import head_revision
from app.observability import exposition, is_scraper
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
        raise NotReady({"reason": Message(N_("database unreachable or not migrated"))}) from exc
    head = head_revision()
    if current != head:
        raise NotReady(
            {
                "reason": Message(
                    N_("schema at {current}, code expects {head}"),
                    {"current": current or "base", "head": head},
                )
            }
        )
    return Readiness(migration=str(current))


async def _may_read_metrics(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(bearer)],
) -> None:
    """The scraper's own token (``CARTERA_METRICS_TOKEN``), or an admin's or auditor's: route
    counters and latencies describe the operation, so they are not for everyone."""
    if is_scraper(token, settings):
        return
    principal = await get_principal(request, session, settings, token)
    if principal.role not in (Role.ADMIN, Role.AUDITOR):
        raise PermissionDenied({"role": principal.role.value})


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="For the Prometheus scraper (bearer `CARTERA_METRICS_TOKEN`), admins and auditors.",
    response_class=Response,
    dependencies=[Depends(_may_read_metrics)],
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format.",
        },
        **problem_responses(401, 403),
    },
)
async def export_metrics(request: Request) -> Response:
    """Every worker's series under ``cartera serve --workers N`` (app/observability.py)."""
    body = await exposition(request.app.state.database)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
