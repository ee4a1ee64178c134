"""Optimistic concurrency over HTTP: a row's ``version`` as its ETag, checked by If-Match."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header

from app.domain.errors import InvalidInput
from app.i18n import N_

# What parse_if_match reads, for the contract: blanks around, an optional weak marker, the
# version (1 to 9 digits) in quotes (they are stripped, so unbalanced ones pass too).
_VERSION = r'(W/)?"*[0-9]{1,9}"*'
IF_MATCH_PATTERN = rf"^\s*(\*|{_VERSION})\s*$"
# Where the header is required, `*` names no version and is a 428 like a missing header.
VERSION_IF_MATCH_PATTERN = rf"^\s*{_VERSION}\s*$"


def _if_match_schema(schema: dict[str, Any]) -> None:
    # A header is text or absent: no `null` branch (a client would send the word "null").
    schema.pop("anyOf", None)
    schema.update(type="string", pattern=IF_MATCH_PATTERN)


# The optional form: without it the change applies to whatever version is current.
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The ETag you read (`"3"`); the change is refused (412) if it moved on.',
        json_schema_extra=_if_match_schema,
    ),
]


def if_match_parameter(description: str) -> dict[str, Any]:
    """A required If-Match for ``openapi_extra={"parameters": [...]}``: the operation answers
    its absence with a 428 (FastAPI would answer a missing required header with a 422), so
    the parameter itself is declared optional and left out of the schema."""
    return {
        "name": "If-Match",
        "in": "header",
        "required": True,
        "description": description,
        "schema": {"type": "string", "pattern": VERSION_IF_MATCH_PATTERN},
    }


# Versions start at 1: a version no row ever has.
NEVER_MATCHES = 0


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(header: str | None) -> int | None:
    """The version an If-Match header names; None when absent or ``*``. A weak tag
    (``W/"3"``) names no version: If-Match compares strongly (RFC 9110 §13.1.1), so it never
    matches and the change is refused (412)."""
    if header is None or header.strip() == "*":
        return None
    value = header.strip()
    weak = value.startswith("W/")
    if weak:
        value = value[2:]
    value = value.strip('"')
    # isascii: str.isdigit() also admits '²' and other digits int() cannot read.
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise InvalidInput("header.if-match", N_('must be an ETag this API issued, like "3"'))
    return NEVER_MATCHES if weak else int(value)
