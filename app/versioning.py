"""Optimistic concurrency over HTTP: a row's ``version`` as its ETag, checked by If-Match."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from app.domain.errors import InvalidInput

# The optional form: without it the change applies to whatever version is current.
IfMatch = Annotated[
    str | None,
    Header(description='The ETag you read (`"3"`); the change is refused (412) if it moved on.'),
]


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(header: str | None) -> int | None:
    """The version an If-Match header names; None when absent or ``*``."""
    if header is None or header.strip() == "*":
        return None
    value = header.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    # isascii: str.isdigit() also admits '²' and other digits int() cannot read.
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise InvalidInput("header.if-match", 'must be an ETag this API issued, like "3"')
    return int(value)
