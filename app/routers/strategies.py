from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from app.deps import SessionDep, require
from app.domain.roles import Role
from app.problems import problem_responses
from app.schemas.strategies import (
    StrategyDocumentRead,
    StrategyHistoryRead,
    StrategyRead,
    StrategyVersionRead,
    StrategyWrite,
)
from app.security import Principal
from app.services import strategies as service

router = APIRouter(tags=["strategies"])

# Staff who set, audit or work by strategies, and a partner's own system (its own only).
ReadsStrategies = Annotated[
    Principal,
    Depends(
        require(
            Role.ADMIN, Role.MANAGER, Role.TEAM_LEAD, Role.COLLECTOR, Role.AUDITOR, Role.PARTNER
        )
    ),
]
SetsStrategies = Annotated[Principal, Depends(require(Role.ADMIN, Role.MANAGER))]


def _read(view: service.StrategyView) -> StrategyRead:
    return StrategyRead(
        partner_id=view.partner_id,
        version=view.version,
        document=StrategyDocumentRead.model_validate(service.document_to_json(view.document)),
        created_by=view.created_by,
        created_at=view.created_at,
    )


@router.get(
    "/partners/{partner_id}/strategy",
    summary="Read a partner's strategy in force and its versions",
    response_model=StrategyHistoryRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def read_strategy(
    session: SessionDep, principal: ReadsStrategies, partner_id: uuid.UUID
) -> StrategyHistoryRead:
    """The version in force with every stage filled in (version 0 is the default strategy,
    for a partner that has none of its own), and every stored version, newest first. A
    partner's system asking for another partner gets a 404."""
    history = await service.read_strategy(session, principal, partner_id)
    return StrategyHistoryRead(
        current=_read(history.current),
        versions=[
            StrategyVersionRead(version=v.version, created_by=v.created_by, created_at=v.created_at)
            for v in history.versions
        ],
    )


@router.put(
    "/partners/{partner_id}/strategy",
    summary="Set a partner's strategy (stores a new version)",
    response_model=StrategyRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def set_strategy(
    session: SessionDep, principal: SetsStrategies, partner_id: uuid.UUID, body: StrategyWrite
) -> StrategyRead:
    """Stores the next version; earlier versions never change. Stages left out take the
    default strategy's entry. Refused (422, naming the field) when a cap is looser than the
    law of the partner's country, a daily cap exceeds its weekly cap, a capped channel is not
    allowed, `visit` is allowed without `visits_allowed`, the approval thresholds are
    inverted, or a refusal code is not a result code. A 409 when another change of the same
    strategy won the race."""
    return _read(await service.create_strategy(session, principal, partner_id, body))
