"""KYC search results: debtors within the caller's visibility, masked."""

from __future__ import annotations

import uuid
from enum import StrEnum

from pydantic import BaseModel, Field


class Criterion(StrEnum):
    NATIONAL_ID = "national_id"
    PHONE = "phone"
    EMAIL = "email"
    NAME = "name"


class KycAccountMatch(BaseModel):
    """An account of the debtor the caller may see that matched the search."""

    id: uuid.UUID
    partner_id: uuid.UUID
    external_ref: str
    stage: str
    status: str
    debtor_first_names: str = Field(
        description="The debtor's names as this account's partner sent them."
    )
    debtor_last_names: str


class KycDebtorMatch(BaseModel):
    """One debtor found, as far as the caller's accounts show them."""

    debtor_id: uuid.UUID
    national_id_type: str
    national_id_masked: str = Field(examples=["****5678"])
    names: list[str] = Field(
        description="The distinct full names on the caller-visible matching accounts."
    )
    score: float | None = Field(
        description="Name searches: trigram similarity (0–1) of the best matching account; "
        "null for exact searches."
    )
    accounts: list[KycAccountMatch]


class KycSearchResults(BaseModel):
    """The best matches, at most ``limit`` debtors. Not paginated on purpose: a look-up
    shows the top matches and a caller refines the query rather than paging through the
    population (each search is audited and rate-limited)."""

    criterion: Criterion
    items: list[KycDebtorMatch]
    truncated: bool = Field(description="More debtors matched than `limit`; refine the query.")
