"""Rows encoded as COPY text (``uploads.copy_line``, what intake workers write) come back from
PostgreSQL as the values that were encoded, whatever characters the text holds."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import text

from app.services import uploads

COLUMNS = ("n", "words", "blob", "amount", "day", "ref", "flag")
_TABLE = """
CREATE TEMP TABLE copy_probe (
    n int, words text, blob bytea, amount numeric(18, 2), day date, ref uuid, flag boolean
) ON COMMIT DROP
"""


async def _round_trip(session, records):
    await session.execute(text(_TABLE))
    data = "".join(uploads.copy_line(r) for r in records).encode()
    await uploads.copy_text(session, "copy_probe", COLUMNS, data)
    rows = await session.execute(text(f"SELECT {', '.join(COLUMNS)} FROM copy_probe ORDER BY n"))
    back = [tuple(r) for r in rows]
    await session.execute(text("DROP TABLE copy_probe"))
    return back


async def test_escapes_nulls_and_every_type_survive(session):
    ref = uuid.uuid4()
    records = [
        (1, "tab\there\nnew\rline \\N back\\slash \\x00 ñ 漢字 😀", b"\x00\\\t\xff",
         Decimal("12.50"),
         date(2026, 1, 31), ref, True),
        (2, "", b"", Decimal("0"), None, None, False),
        (3, None, None, None, None, None, None),
        (4, "\\", b"\\x", Decimal("-1.05"), date(1900, 1, 1), ref, None),
    ]  # fmt: skip
    back = await _round_trip(session, records)
    assert back == [
        (1, "tab\there\nnew\rline \\N back\\slash \\x00 ñ 漢字 😀", b"\x00\\\t\xff",
         Decimal("12.50"),
         date(2026, 1, 31), ref, True),
        (2, "", b"", Decimal("0.00"), None, None, False),
        (3, None, None, None, None, None, None),
        (4, "\\", b"\\x", Decimal("-1.05"), date(1900, 1, 1), ref, None),
    ]  # fmt: skip


async def test_every_ascii_character_and_byte_comes_back_unchanged(session):
    characters = [chr(c) for c in range(1, 128)] + ["é", "\u2028", "\U0001f600"]
    words = [*characters, "".join(characters), "\\\\N", "\\.", "\\x41"]
    blob = bytes(range(256))
    records = [(i, w, blob, None, None, None, None) for i, w in enumerate(words)]
    back = await _round_trip(session, records)
    assert [(w, b) for _, w, b, *_ in back] == [(w, blob) for w in words]
