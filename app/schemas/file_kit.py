"""API shapes of a partner's file kit: the report of a dry run."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from app.schemas.assignments import RejectionRead


class DryRunReport(BaseModel):
    """What processing the file would report, with nothing stored (`dry_run=true`)."""

    dry_run: Literal[True] = True
    received: int = Field(description="Rows read (blank lines are skipped).")
    accepted: int = Field(description="Rows processing would accept.")
    rejected: int = Field(description="Rows processing would refuse.")
    rejections: list[RejectionRead] = Field(
        description="Why, in row order, one entry per problem, as a push's rejections list "
        "them; at most the first 1000 (`rejections_truncated` says when more were left out)."
    )
    rejections_truncated: bool
