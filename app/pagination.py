"""Keyset (cursor) pagination shared by every list: opaque cursors and a bounded limit."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from app.domain.errors import InvalidInput
from app.i18n import N_

T = TypeVar("T")

MAX_LIMIT = 200

LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1 to {MAX_LIMIT}.")]
CursorQuery = Annotated[
    str | None,
    Query(
        max_length=512, description="The `next_cursor` of the previous page; omit for the first."
    ),
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


def encode_cursor(*values: Any) -> str:
    raw = json.dumps([str(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[str] | None:
    """The key values a cursor carries, or None for the first page; bad cursors are a 422."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidInput("query.cursor", N_("not a cursor this API issued")) from exc
    if (
        not isinstance(values, list)
        or len(values) != arity
        or not all(isinstance(v, str) for v in values)
    ):
        raise InvalidInput("query.cursor", N_("not a cursor this API issued"))
    return values


def decode_id_cursor(cursor: str | None) -> uuid.UUID | None:
    """For lists ordered by their UUIDv7 id alone."""
    values = decode_cursor(cursor, 1)
    if values is None:
        return None
    try:
        return uuid.UUID(values[0])
    except ValueError as exc:
        raise InvalidInput("query.cursor", N_("not a cursor this API issued")) from exc


def decode_int_cursor(cursor: str | None) -> int | None:
    """For lists ordered by an integer sequence."""
    values = decode_cursor(cursor, 1)
    if values is None:
        return None
    if not (values[0].isascii() and values[0].isdigit()) or len(values[0]) > 18:
        raise InvalidInput("query.cursor", N_("not a cursor this API issued"))
    return int(values[0])


def decode_moment_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """For lists ordered newest first by a moment and then an id (``split_moment_page``)."""
    values = decode_cursor(cursor, 2)
    if values is None:
        return None
    try:
        return datetime.fromisoformat(values[0]), uuid.UUID(values[1])
    except ValueError as exc:
        raise InvalidInput("query.cursor", N_("not a cursor this API issued")) from exc


def decode_day_cursor(cursor: str | None) -> tuple[date, uuid.UUID] | None:
    """For lists ordered by a calendar date and then an id (``split_page`` with both)."""
    values = decode_cursor(cursor, 2)
    if values is None:
        return None
    try:
        return date.fromisoformat(values[0]), uuid.UUID(values[1])
    except ValueError as exc:
        raise InvalidInput("query.cursor", N_("not a cursor this API issued")) from exc


def split_moment_page(
    rows: Sequence[T], limit: int, key: Callable[[T], tuple[datetime, uuid.UUID]]
) -> tuple[list[T], str | None]:
    """:func:`split_page` for (moment, id) keys: the cursor carries both."""
    if len(rows) > limit:
        moment, row_id = key(rows[limit - 1])
        return list(rows[:limit]), encode_cursor(moment.isoformat(), row_id)
    return list(rows), None


def split_page(
    rows: Sequence[T], limit: int, key: Callable[[T], Any]
) -> tuple[list[T], str | None]:
    """Rows fetched with ``LIMIT limit + 1`` → (the page, the cursor after its last row or None).

    The one extra row only tells whether another page exists; it is never returned. A key
    that is a tuple puts each of its values in the cursor.
    """
    if len(rows) > limit:
        last = key(rows[limit - 1])
        cursor = encode_cursor(*last) if isinstance(last, tuple) else encode_cursor(last)
        return list(rows[:limit]), cursor
    return list(rows), None
