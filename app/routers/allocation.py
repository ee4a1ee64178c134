"""Allocation rules and runs: which accounts go to which team or collector."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.contract import ETAG, LOCATION, response_headers
from app.deps import LanguageDep, SessionDep, require
from app.domain.roles import Role, Skill
from app.domain.stages import ProductType, Stage
from app.models.allocation import AllocationRule
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.schemas.allocation import (
    AllocationRuleOutcome,
    AllocationRuleRead,
    AllocationRuleWrite,
    AllocationRunRead,
    TerritoryRead,
)
from app.security import Principal
from app.services import allocation as service
from app.versioning import IfMatch, etag, parse_if_match

router = APIRouter(prefix="/allocation", tags=["work"])

ReadsRules = Annotated[
    Principal, Depends(require(Role.ADMIN, Role.MANAGER, Role.TEAM_LEAD, Role.AUDITOR))
]
WritesRules = Annotated[Principal, Depends(require(Role.ADMIN, Role.MANAGER))]


def _read(rule: AllocationRule) -> AllocationRuleRead:
    return AllocationRuleRead(
        id=rule.id,
        name=rule.name,
        priority=rule.priority,
        partner_id=rule.partner_id,
        stages=[Stage(s) for s in rule.stages],
        product_types=[ProductType(p) for p in rule.product_types],
        skill=Skill(rule.skill),
        territory=TerritoryRead(
            states=list(rule.states),
            municipalities=list(rule.municipalities),
            postal_prefixes=list(rule.postal_prefixes),
        ),
        team_id=rule.team_id,
        collector_id=rule.collector_id,
        capacity=rule.capacity,
        version=rule.version,
        created_by=rule.created_by,
        updated_by=rule.updated_by,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


_RULE_DOC = """A rule takes the active accounts that match it and that no rule of lower
`priority` took (ties: the older rule first): of its partner (none: any), in one of its
stages, of one of its product types (none: any) and inside its territory (any of its states,
municipalities or postal-code prefixes matches the debtor's first valid address; empty:
anywhere; names compare without accents or case and are stored that way). It gives them to
a team (spread over its active members with the `skill`) or to one collector, never beyond
`capacity` active accounts per collector. A team without such members is accepted; runs
report it. A 422 names the field when a stage, product type or skill is unknown, the
capacity is not 1 to 100000, both or neither of `team_id` and `collector_id` are given, the
partner or team does not exist, or the collector is not an active collector with the skill."""


@router.post(
    "/rules",
    summary="Create an allocation rule",
    status_code=status.HTTP_201_CREATED,
    response_model=AllocationRuleRead,
    responses=problem_responses(401, 403, 422) | response_headers(201, headers=(ETAG, LOCATION)),
    description=_RULE_DOC,
)
async def create_allocation_rule(
    session: SessionDep, principal: WritesRules, body: AllocationRuleWrite, response: Response
) -> AllocationRuleRead:
    rule = await service.create_rule(session, principal, body)
    response.headers["Location"] = f"/api/v1/allocation/rules/{rule.id}"
    response.headers["ETag"] = etag(rule.version)
    return _read(rule)


@router.get(
    "/rules",
    summary="List allocation rules in the order runs try them",
    response_model=Page[AllocationRuleRead],
    responses=problem_responses(401, 403, 422),
)
async def list_allocation_rules(
    session: SessionDep,
    principal: ReadsRules,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[AllocationRuleRead]:
    """Managers and admins write rules; team leads and auditors read them."""
    rules, next_cursor = await service.list_rules(session, limit=limit, cursor=cursor)
    return Page(items=[_read(r) for r in rules], next_cursor=next_cursor)


@router.get(
    "/rules/{rule_id}",
    summary="Read an allocation rule",
    response_model=AllocationRuleRead,
    responses=problem_responses(401, 403, 404, 422) | response_headers(200, headers=(ETAG,)),
)
async def read_allocation_rule(
    session: SessionDep, principal: ReadsRules, rule_id: uuid.UUID, response: Response
) -> AllocationRuleRead:
    rule = await service.get_rule(session, rule_id)
    response.headers["ETag"] = etag(rule.version)
    return _read(rule)


@router.put(
    "/rules/{rule_id}",
    summary="Replace an allocation rule",
    response_model=AllocationRuleRead,
    responses=problem_responses(401, 403, 404, 412, 422) | response_headers(200, headers=(ETAG,)),
    description=_RULE_DOC + "\n\nWith `If-Match`, refused (412) when the rule changed since.",
)
async def replace_allocation_rule(
    session: SessionDep,
    principal: WritesRules,
    rule_id: uuid.UUID,
    body: AllocationRuleWrite,
    response: Response,
    if_match: IfMatch = None,
) -> AllocationRuleRead:
    rule = await service.replace_rule(session, principal, rule_id, body, parse_if_match(if_match))
    response.headers["ETag"] = etag(rule.version)
    return _read(rule)


@router.delete(
    "/rules/{rule_id}",
    summary="Delete an allocation rule",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 412, 422),
)
async def delete_allocation_rule(
    session: SessionDep, principal: WritesRules, rule_id: uuid.UUID, if_match: IfMatch = None
) -> Response:
    """Accounts it placed keep their collector until a later run decides them again."""
    await service.delete_rule(session, principal, rule_id, parse_if_match(if_match))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/run",
    summary="Apply the allocation rules to every active account",
    response_model=AllocationRunRead,
    responses=problem_responses(401, 403, 409, 422),
)
async def run_allocation(
    session: SessionDep,
    principal: WritesRules,
    language: LanguageDep,
    dry_run: Annotated[
        bool, Query(description="Compute and report the counts, write nothing.")
    ] = False,
    reassign_manual: Annotated[
        bool,
        Query(description="Treat accounts assigned by hand like any other for this run."),
    ] = False,
) -> AllocationRunRead:
    """Each active account is decided by the first rule it matches. An account whose
    collector still qualifies under that rule stays (`kept`); the others go to the rule's
    collectors with room under the capacity, least loaded first (`assigned`), or stay
    without a collector in the rule's team when no one has room (`unassigned`). Each change
    is an `assigned` event in the account's history (as a manual assignment writes) and the
    run is one audit event.

    Manual assignments win: an account given to a collector by hand (or before allocation
    ever ran) keeps that collector and counts as `manual`, unless `reassign_manual=true`;
    unassigning the collector by hand hands it back to allocation. A run never takes
    accounts from a collector above the capacity, and accounts no rule matches stay as they
    are. One run at a time: a run while another is under way is refused with 409."""
    result = await service.run_allocation(
        session, principal, dry_run=dry_run, reassign_manual=reassign_manual
    )
    return AllocationRunRead(
        run_id=result.run_id,
        dry_run=result.dry_run,
        reassign_manual=result.reassign_manual,
        started_at=result.started_at,
        active_accounts=result.active_accounts,
        unmatched=result.unmatched,
        changed=result.changed,
        rules=[
            AllocationRuleOutcome(
                rule_id=o.rule_id,
                name=o.name,
                priority=o.priority,
                collectors=o.collectors,
                matched=o.matched,
                manual=o.manual,
                kept=o.kept,
                assigned=o.assigned,
                unassigned=o.unassigned,
                changed=o.changed,
                warnings=[w.render(language) for w in o.warnings],
            )
            for o in result.rules
        ],
    )
