"""Champion/challenger experiments on a partner's strategy, and their report."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from app.deps import SessionDep, require
from app.domain.experiments import ExperimentStatus
from app.domain.roles import Role
from app.domain.stages import Stage
from app.pagination import CursorQuery, LimitQuery, Page, decode_id_cursor, split_page
from app.problems import problem_responses
from app.schemas.experiments import (
    ArmRead,
    ArmReportRow,
    ExperimentCreate,
    ExperimentPromote,
    ExperimentRead,
    ExperimentReportRead,
    MeanEstimate,
    RateEstimate,
)
from app.schemas.strategies import StageStrategyRead
from app.security import Principal
from app.services import experiments as service
from app.services import strategies

router = APIRouter(tags=["strategies"])

# As the strategy itself: staff who set, audit or work by it, and a partner's own system.
ReadsExperiments = Annotated[
    Principal,
    Depends(
        require(
            Role.ADMIN, Role.MANAGER, Role.TEAM_LEAD, Role.COLLECTOR, Role.AUDITOR, Role.PARTNER
        )
    ),
]
# Who sets strategies, and a partner's system for its own portfolio.
RunsExperiments = Annotated[
    Principal, Depends(require(Role.ADMIN, Role.MANAGER, Role.PARTNER))
]  # fmt: skip
# Who reads portfolio-wide results: management, audit, and a partner for its own.
ReadsResults = Annotated[
    Principal, Depends(require(Role.ADMIN, Role.MANAGER, Role.AUDITOR, Role.PARTNER))
]


def _read(view: service.ExperimentView) -> ExperimentRead:
    e = view.experiment
    stage = Stage(e.stage)

    def entry(document: dict[str, object] | None) -> StageStrategyRead | None:
        if document is None:
            return None
        stored = strategies.entry_to_json(strategies.entry_from_json(document))
        return StageStrategyRead.model_validate(stored)

    return ExperimentRead(
        id=e.id,
        partner_id=e.partner_id,
        stage=stage,
        name=e.name,
        status=e.status,
        created_by=e.created_by,
        created_at=e.created_at,
        ended_by=e.ended_by,
        ended_at=e.ended_at,
        promoted_arm_id=e.promoted_arm_id,
        promoted_version=e.promoted_version,
        arms=[
            ArmRead(
                id=a.id,
                position=a.position,
                name=a.name,
                champion=a.position == 0,
                share=a.share_pct,
                document=entry(a.document),
            )
            for a in view.arms
        ],
    )


@router.post(
    "/partners/{partner_id}/experiments",
    summary="Start a champion/challenger experiment on a stage of the partner's strategy",
    status_code=status.HTTP_201_CREATED,
    response_model=ExperimentRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def create_experiment(
    session: SessionDep, principal: RunsExperiments, partner_id: uuid.UUID, body: ExperimentCreate
) -> ExperimentRead:
    """The champion (the strategy in force) and one to five challengers, each a strategy
    entry for `stage` validated as `PUT /partners/{id}/strategy` validates it (the law of
    the partner's country included), with shares adding up to exactly 100 %. Each account of
    the partner in the stage is assigned an arm by a stable hash of the experiment and the
    account (the same arm every time) and works under that arm's strategy: contact caps,
    channels, plan limits and approvals, promise terms, escalations. A 409
    (`experiment_already_running`) when the stage already runs one. A partner's system runs
    experiments on its own strategy only."""
    return _read(await service.create_experiment(session, principal, partner_id, body))


@router.get(
    "/partners/{partner_id}/experiments",
    summary="List a partner's strategy experiments, newest first",
    response_model=Page[ExperimentRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_experiments(
    session: SessionDep,
    principal: ReadsExperiments,
    partner_id: uuid.UUID,
    status: Annotated[ExperimentStatus | None, Query(description="Only this status.")] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[ExperimentRead]:
    """Every experiment of the partner, running or ended, with its arms."""
    rows = await service.list_experiments(
        session,
        principal,
        partner_id,
        status=status,
        after=decode_id_cursor(cursor),
        limit=limit,
    )
    page, next_cursor = split_page(rows, limit, key=lambda v: v.experiment.id)
    return Page(items=[_read(v) for v in page], next_cursor=next_cursor)


@router.get(
    "/experiments/{experiment_id}",
    summary="Read a strategy experiment and its arms",
    response_model=ExperimentRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_experiment(
    session: SessionDep, principal: ReadsExperiments, experiment_id: uuid.UUID
) -> ExperimentRead:
    """Another partner's experiment is a 404 for a partner's system."""
    return _read(await service.get_experiment(session, principal, experiment_id))


@router.post(
    "/experiments/{experiment_id}/stop",
    summary="Stop an experiment: every account returns to the champion",
    response_model=ExperimentRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def stop_experiment(
    session: SessionDep, principal: RunsExperiments, experiment_id: uuid.UUID
) -> ExperimentRead:
    """From now on every account of the stage works under the strategy in force. What was
    recorded under an arm keeps its arm. A 409 (`experiment_ended`) when already ended."""
    return _read(await service.stop_experiment(session, principal, experiment_id))


@router.post(
    "/experiments/{experiment_id}/promote",
    summary="Promote a challenger: its entry becomes the next strategy version",
    response_model=ExperimentRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def promote_experiment(
    session: SessionDep,
    principal: RunsExperiments,
    experiment_id: uuid.UUID,
    body: ExperimentPromote,
) -> ExperimentRead:
    """The strategy in force with the stage's entry replaced by the challenger's is stored
    as the partner's next version (`promoted_version`), and the experiment ends. A 422 when
    `arm_id` is not a challenger of the experiment, a 409 (`experiment_ended`) when it has
    already ended."""
    return _read(await service.promote_arm(session, principal, experiment_id, body.arm_id))


def _rate(figure: service.RateFigure | None) -> RateEstimate | None:
    if figure is None:
        return None
    return RateEstimate(
        value=figure.value,
        low=figure.low,
        high=figure.high,
        successes=figure.successes,
        trials=figure.trials,
    )


@router.get(
    "/reports/experiments/{experiment_id}",
    tags=["reports"],
    summary="Experiment results per arm, with 95 % confidence intervals",
    response_model=ExperimentReportRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def report_experiment(
    session: SessionDep, principal: ReadsResults, experiment_id: uuid.UUID
) -> ExperimentReportRead:
    """Per arm: accounts, contact rate, right-party contact rate, promise rate, kept rate
    (each with its Wilson score interval), the amount recovered per account (with a Student
    t interval) and the cure rate, from the start of the experiment to its end (or now).
    The definitions are those of the agents and recovery reports. Rates are fractions to
    four places; amounts are in the partner's currency, to its minor unit."""
    report = await service.experiment_report(session, principal, experiment_id)
    e = report.experiment
    return ExperimentReportRead(
        experiment_id=e.id,
        partner_id=e.partner_id,
        stage=Stage(e.stage),
        status=e.status,
        currency=report.currency,
        started_at=e.created_at,
        ended_at=e.ended_at,
        arms=[
            ArmReportRow(
                arm_id=a.arm_id,
                name=a.name,
                champion=a.champion,
                share=a.share,
                accounts=a.accounts,
                attempts=a.attempts,
                contacts=a.contacts,
                right_party_contacts=a.right_party_contacts,
                promises=a.promises,
                promises_resolved=a.promises_resolved,
                promises_kept=a.promises_kept,
                recovered=a.recovered,
                past_due_accounts=a.past_due_accounts,
                cured=a.cured,
                contact_rate=_rate(a.contact_rate),
                rpc_rate=_rate(a.rpc_rate),
                promise_rate=_rate(a.promise_rate),
                kept_rate=_rate(a.kept_rate),
                recovered_per_account=None
                if a.recovered_per_account is None
                else MeanEstimate(
                    value=a.recovered_per_account.mean,
                    low=a.recovered_per_account.interval.low
                    if a.recovered_per_account.interval
                    else None,
                    high=a.recovered_per_account.interval.high
                    if a.recovered_per_account.interval
                    else None,
                ),
                cure_rate=_rate(a.cure_rate),
            )
            for a in report.arms
        ],
    )
