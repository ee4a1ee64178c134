"""API shapes of allocation rules and allocation runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.allocation import MAX_CAPACITY, MAX_PRIORITY, MAX_TERRITORY_ENTRIES, MIN_CAPACITY
from app.domain.roles import Skill
from app.domain.stages import ProductType, Stage
from app.schemas.common import PlainText

PlaceName = Annotated[str, Field(min_length=1, max_length=60)]
MunicipalityName = Annotated[str, Field(min_length=1, max_length=120)]
PostalPrefix = Annotated[str, Field(min_length=1, max_length=10)]


class TerritoryWrite(BaseModel):
    """The account is inside when any entry matches the debtor's address; all empty means
    anywhere."""

    model_config = ConfigDict(extra="forbid")

    states: list[PlaceName] = Field(
        default_factory=list,
        max_length=MAX_TERRITORY_ENTRIES,
        description="State names; compared without accents, case or extra blanks.",
    )
    municipalities: list[MunicipalityName] = Field(
        default_factory=list,
        max_length=MAX_TERRITORY_ENTRIES,
        description="Municipality names (in any state); compared as states are.",
    )
    postal_prefixes: list[PostalPrefix] = Field(
        default_factory=list,
        max_length=MAX_TERRITORY_ENTRIES,
        description="Postal-code prefixes (letters and digits, e.g. `44` or `066`).",
    )


class TerritoryRead(BaseModel):
    states: list[str]
    municipalities: list[str]
    postal_prefixes: list[str]


class AllocationRuleWrite(BaseModel):
    """A whole rule (PUT replaces every field)."""

    model_config = ConfigDict(extra="forbid")

    name: PlainText = Field(min_length=1, max_length=120)
    priority: int = Field(
        ge=0, le=MAX_PRIORITY, strict=True, description="Lower is tried first; ties: older rule."
    )
    partner_id: uuid.UUID | None = Field(default=None, description="Null: any partner.")
    stages: list[Stage] = Field(min_length=1, max_length=len(Stage))
    product_types: list[ProductType] = Field(
        default_factory=list, max_length=len(ProductType), description="Empty: any product."
    )
    skill: Literal[Skill.PHONE, Skill.FIELD] = Field(
        description="The collectors' skill the accounts need (the inbound desk is given none)."
    )
    territory: TerritoryWrite = Field(default_factory=TerritoryWrite)
    team_id: uuid.UUID | None = Field(
        default=None,
        description="Spread the accounts over this team's active members with the skill.",
    )
    collector_id: uuid.UUID | None = Field(
        default=None, description="Give the accounts to this collector (instead of a team)."
    )
    capacity: int = Field(
        ge=MIN_CAPACITY,
        le=MAX_CAPACITY,
        strict=True,
        description="Most active accounts a collector may hold for a run to give them more.",
    )


class AllocationRuleRead(BaseModel):
    id: uuid.UUID
    name: str
    priority: int
    partner_id: uuid.UUID | None
    stages: list[Stage]
    product_types: list[ProductType]
    skill: Skill
    territory: TerritoryRead
    team_id: uuid.UUID | None
    collector_id: uuid.UUID | None
    capacity: int
    version: int
    created_by: str
    updated_by: str
    created_at: datetime
    updated_at: datetime


class AllocationRuleOutcome(BaseModel):
    rule_id: uuid.UUID
    name: str
    priority: int
    collectors: int = Field(description="Collectors who could take accounts under the rule.")
    matched: int = Field(description="Active accounts this rule decides (first match).")
    manual: int = Field(
        description="Of those, assigned to a collector by hand: left alone (see the run)."
    )
    kept: int = Field(description="Already with a collector who qualifies: stay.")
    assigned: int = Field(description="Given to a collector of the rule.")
    unassigned: int = Field(
        description="Left without a collector (in the rule's team) for lack of capacity."
    )
    changed: int = Field(description="Accounts whose assignment changed (history events).")
    warnings: list[str]


class AllocationRunRead(BaseModel):
    run_id: uuid.UUID
    dry_run: bool
    reassign_manual: bool
    started_at: datetime
    active_accounts: int
    unmatched: int = Field(description="Active accounts no rule matched: left as they were.")
    changed: int
    rules: list[AllocationRuleOutcome]
