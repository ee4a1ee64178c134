"""Collection strategies: read a partner's strategy in force and its history, and store a
new version.

Versions are append-only: a change stores the next version and never touches the earlier
ones, so every decision can name the version it was made under. A partner without a
strategy of its own works under version 0, the default for its country
(:func:`app.domain.strategies.default_for`).

Two changes to one partner's strategy at once are serialised by a row lock on the partner
(``FOR NO KEY UPDATE``: it does not hold back inserts that merely reference the partner);
the unique (partner, version) constraint is the backstop.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import false, func
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.domain.contact_check import ContactChannel
from app.domain.errors import InvalidInput, NotFound
from app.domain.money import fits_minor_unit, too_many_decimals
from app.domain.roles import Role
from app.domain.stages import Stage
from app.domain.strategies import (
    DEFAULT_VERSION,
    StageStrategy,
    StrategyDocument,
    default_for,
    validate_document,
)
from app.models.partner import Partner
from app.models.strategy import CollectionStrategy
from app.schemas.strategies import StageStrategyWrite, StrategyWrite
from app.security import Principal
from app.services import audit
from app.services.partners import readable_partners

# Staff who read any partner's strategy: those who set it, audit it, or work by it.
READS_ALL_STRATEGIES: frozenset[Role] = frozenset(
    {Role.ADMIN, Role.MANAGER, Role.TEAM_LEAD, Role.COLLECTOR, Role.AUDITOR}
)


# --- the stored form ------------------------------------------------------------------------
#
# A document is stored as its domain dataclasses dumped by pydantic (decimals as strings,
# sets as lists in a fixed order), and read back by pydantic into the same dataclasses; a
# written entry becomes one the same way. Stored documents were checked when written.

_DOCUMENT = TypeAdapter(StrategyDocument)
_ENTRY = TypeAdapter(StageStrategy)


def entry_from_json(stored: Any) -> StageStrategy:
    """A stored stage entry (a strategy's, or an experiment arm's)."""
    return _ENTRY.validate_python(stored)


def entry_to_json(entry: StageStrategy) -> dict[str, Any]:
    """The stored form of an entry: channels in the enum's order, refusal codes sorted."""
    dumped: dict[str, Any] = _ENTRY.dump_python(entry, mode="json")
    dumped["channels"] = [c.value for c in ContactChannel if c in entry.channels]
    dumped["escalation"]["refusal_codes"] = sorted(entry.escalation.refusal_codes)
    return dumped


def entry_from_write(entry: StageStrategyWrite) -> StageStrategy:
    """A stage entry of a request (its shape and ranges checked by the schema), as the
    domain's dataclass: channels and plan types left out or null are not there."""
    return _ENTRY.validate_python(entry.model_dump(exclude_none=True))


def document_from_json(stored: Any) -> StrategyDocument:
    return _DOCUMENT.validate_python(stored)


def document_to_json(document: StrategyDocument) -> dict[str, Any]:
    """The stored form: every stage, in order."""
    return {"stages": {stage.value: entry_to_json(document[stage]) for stage in Stage}}


@dataclass(frozen=True, slots=True)
class StrategyView:
    """A version of a partner's strategy; version 0 (the default) has no author or time."""

    partner_id: uuid.UUID
    version: int
    document: StrategyDocument
    created_by: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class VersionEntry:
    version: int
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StrategyHistory:
    current: StrategyView
    versions: list[VersionEntry]  # newest first


def strategy_readable_partners(principal: Principal) -> SelectOfScalar[Partner]:
    """The partners whose strategy a principal may read: every one for staff, its own for a
    partner's system. (Wider than partners' own visibility: collectors and team leads work
    by the strategy without seeing the partner's registration.)"""
    query = select(Partner)
    if principal.role in READS_ALL_STRATEGIES:
        return query
    if principal.role is Role.PARTNER and principal.partner_id is not None:
        return query.where(col(Partner.id) == principal.partner_id)
    return query.where(false())


def _view(row: CollectionStrategy) -> StrategyView:
    return StrategyView(
        partner_id=row.partner_id,
        version=row.version,
        document=document_from_json(row.document),
        created_by=row.created_by,
        created_at=row.created_at,
    )


async def _latest(session: AsyncSession, partner_id: uuid.UUID) -> CollectionStrategy | None:
    return await session.scalar(
        select(CollectionStrategy)
        .where(col(CollectionStrategy.partner_id) == partner_id)
        .order_by(col(CollectionStrategy.version).desc())
        .limit(1)
    )


async def _default_of(session: AsyncSession, partner_id: uuid.UUID) -> StrategyDocument:
    country = await session.scalar(
        select(col(Partner.country)).where(col(Partner.id) == partner_id)
    )
    if country is None:
        raise NotFound({"entity": "partner"})
    return default_for(country)


async def current_strategy(
    session: AsyncSession, partner_id: uuid.UUID
) -> tuple[int, StrategyDocument]:
    """(version, document) in force for a partner: its latest version, or (0, the default
    for its country) when it has none. NotFound for an unknown partner."""
    row = await _latest(session, partner_id)
    if row is not None:
        return row.version, document_from_json(row.document)
    country = await session.scalar(
        select(col(Partner.country)).where(col(Partner.id) == partner_id)
    )
    if country is None:
        raise NotFound({"entity": "partner"})
    return DEFAULT_VERSION, default_for(country)


async def strategy_version(
    session: AsyncSession, partner_id: uuid.UUID, version: int
) -> StrategyDocument:
    """The document of one version (0: the country's default), for decisions recorded under
    an earlier version. NotFound when the partner or that version does not exist."""
    if version == DEFAULT_VERSION:
        return await _default_of(session, partner_id)
    document = await session.scalar(
        select(col(CollectionStrategy.document)).where(
            col(CollectionStrategy.partner_id) == partner_id,
            col(CollectionStrategy.version) == version,
        )
    )
    if document is None:
        raise NotFound({"entity": "collection_strategy"})
    return document_from_json(document)


async def read_strategy(
    session: AsyncSession, principal: Principal, partner_id: uuid.UUID
) -> StrategyHistory:
    """The version in force and every version's author and time, newest first."""
    partner = await session.scalar(
        strategy_readable_partners(principal).where(col(Partner.id) == partner_id)
    )
    if partner is None:
        raise NotFound({"entity": "partner"})
    rows = await session.execute(
        core_select(
            col(CollectionStrategy.version),
            col(CollectionStrategy.created_by),
            col(CollectionStrategy.created_at),
        )
        .where(col(CollectionStrategy.partner_id) == partner.id)
        .order_by(col(CollectionStrategy.version).desc())
    )
    versions = [VersionEntry(v, by, at) for v, by, at in rows]
    latest = await _latest(session, partner.id) if versions else None
    current = (
        _view(latest)
        if latest is not None
        else StrategyView(partner.id, DEFAULT_VERSION, default_for(partner.country))
    )
    return StrategyHistory(current, versions)


def _snapshot(row: CollectionStrategy) -> dict[str, Any]:
    return {"partner_id": row.partner_id, "version": row.version, "document": row.document}


def check_stage_amounts(entry: StageStrategyWrite, currency: str, path: str) -> None:
    """A stage entry's approval thresholds are amounts in the partner's currency: at most
    its decimals (``path``: where the entry is in the request)."""
    for key in ("collector_up_to", "team_lead_up_to"):
        if not fits_minor_unit(getattr(entry.approvals, key), currency):
            raise InvalidInput(f"{path}.approvals.{key}", too_many_decimals(currency))


def _check_amounts_fit(data: StrategyWrite, currency: str) -> None:
    for stage in Stage:
        entry = getattr(data.stages, stage.value)
        if entry is not None:
            check_stage_amounts(entry, currency, f"stages.{stage.value}")


async def create_strategy(
    session: AsyncSession, actor: Principal, partner_id: uuid.UUID, data: StrategyWrite
) -> StrategyView:
    """Store the partner's next strategy version, checked against the law of its country;
    stages left out take the default entry."""
    partner = await session.scalar(
        readable_partners(actor)
        .where(col(Partner.id) == partner_id)
        .with_for_update(key_share=True)
    )
    if partner is None:
        raise NotFound({"entity": "partner"})
    _check_amounts_fit(data, partner.currency)
    entries = {
        stage: entry_from_write(entry)
        for stage in Stage
        if (entry := getattr(data.stages, stage.value)) is not None
    }
    document = validate_document(entries, partner.country)
    return await store_version(session, actor, partner, document)


async def store_version(
    session: AsyncSession, actor: Principal, partner: Partner, document: StrategyDocument
) -> StrategyView:
    """Store ``document`` (already validated) as the partner's next version, audited. The
    caller holds the partner's row lock."""
    latest = await session.scalar(
        select(func.max(col(CollectionStrategy.version))).where(
            col(CollectionStrategy.partner_id) == partner.id
        )
    )
    row = CollectionStrategy(
        partner_id=partner.id,
        version=(latest or DEFAULT_VERSION) + 1,
        document=document_to_json(document),
        created_by=actor.audit_id,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session, actor, "strategy.created", "collection_strategy", row.id, after=_snapshot(row)
    )
    return StrategyView(partner.id, row.version, document, row.created_by, row.created_at)
