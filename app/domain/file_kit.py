"""A partner's file kit: the columns of each kind of flat file (assignment pushes, payment
files, SPEI statements) described once, so that the reader that checks a header, the
templates a partner downloads and the column table in the API's description all come from
the same definitions.

A :class:`FileColumn` says a column's name, whether it is required, its kind (text, amount,
date, …, which also tells the reader which cells are amounts) and what it means. Each kind
of file lists its columns in its own domain module (``app/domain/assignments.py``,
``payment_files.py``, ``spei_files.py``) in the documented order, with example rows that its
own rules accept.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from app.i18n import N_, Language, Message


class ColumnKind(StrEnum):
    TEXT = "text"
    AMOUNT = "amount"
    DATE = "date"
    CHOICE = "choice"
    LIST = "list"
    DECIMAL = "decimal"


_KIND_FORMATS: dict[ColumnKind, str] = {
    ColumnKind.TEXT: N_("text"),
    ColumnKind.AMOUNT: N_(
        "amount with a decimal point and at most the currency's decimals (1234.50); in a CSV "
        "separated by ';', a decimal comma (1234,50 or 1.234,50)"
    ),
    ColumnKind.DATE: N_("date as YYYY-MM-DD, not in the future"),
    ColumnKind.CHOICE: N_("one of: {choices}"),
    ColumnKind.LIST: N_("values separated by '|'"),
    ColumnKind.DECIMAL: N_("decimal number with a point"),
}
# The headers of the table that describes the columns (the template's second sheet and the
# API's description).
DESCRIPTION_HEADER: tuple[str, ...] = (
    N_("Column"),
    N_("Required"),
    N_("Format"),
    N_("Example"),
    N_("Meaning"),
)
YES = N_("yes")
NO = N_("no")


@dataclass(frozen=True, slots=True)
class FileColumn:
    """One column of a flat file. ``meaning`` is English marked N_ (a template over
    ``params``); ``choices`` are the values a ``choice`` column accepts."""

    name: str
    kind: ColumnKind
    meaning: str
    required: bool = False
    choices: tuple[str, ...] = ()
    params: Mapping[str, object] | None = None

    @property
    def meaning_text(self) -> Message:
        return Message(self.meaning, dict(self.params or {}))

    @property
    def format_text(self) -> Message:
        return Message(_KIND_FORMATS[self.kind], {"choices": ", ".join(self.choices)})


def column_names(columns: Sequence[FileColumn]) -> tuple[str, ...]:
    return tuple(c.name for c in columns)


def required_names(columns: Sequence[FileColumn]) -> frozenset[str]:
    return frozenset(c.name for c in columns if c.required)


def amount_names(columns: Sequence[FileColumn]) -> frozenset[str]:
    """The columns whose cells are amounts (read with a decimal comma in a ';' CSV)."""
    return frozenset(c.name for c in columns if c.kind is ColumnKind.AMOUNT)


def description_rows(
    columns: Sequence[FileColumn], example: Mapping[str, str], language: Language
) -> list[tuple[str, str, str, str, str]]:
    """Each column as (name, required, format, example, meaning) in ``language``; the
    example is the cell of ``example`` (a template row) under the column."""
    return [
        (
            c.name,
            Message(YES if c.required else NO).render(language),
            c.format_text.render(language),
            example.get(c.name, ""),
            c.meaning_text.render(language),
        )
        for c in columns
    ]


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: Sequence[FileColumn], example: Mapping[str, str]) -> str:
    """The columns as a Markdown table in English (the API's description), in file order."""
    lines = [
        "| " + " | ".join(DESCRIPTION_HEADER) + " |",
        "|" + "---|" * len(DESCRIPTION_HEADER),
    ]
    for row in description_rows(columns, example, "en"):
        name, *rest = row
        cells = [f"`{name}`", *(_markdown_cell(cell) for cell in rest)]
        if cells[3]:
            cells[3] = f"`{cells[3]}`"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
