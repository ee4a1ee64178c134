"""Field types every resource shares: text PostgreSQL can store, instants in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


def _storable_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError("out of the supported date range") from exc


PlainText = Annotated[str, AfterValidator(_storable_text)]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
