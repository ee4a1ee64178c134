"""Reading tabular uploads of every kind (portfolio pushes, payment files, SPEI statements):
JSON, CSV (UTF-8) and Excel workbooks, row by row. Assignment pushes
use the default :data:`ASSIGNMENT_LAYOUT`; payment files pass their own columns.

Uploads are checked as they stream in (:class:`UploadCheck`), so a file in the wrong encoding
or with a wrong header is refused before anything is queued; the job later reads the stored
file from disk one row at a time (:func:`read_rows`), so memory stays flat whatever its size.
Workbooks are read by :mod:`app.services.workbooks`, bounded by :class:`WorkbookLimits`.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from app.domain.assignments import AMOUNT_COLUMNS, RowError, check_header, nest_flat_row
from app.domain.errors import Text, UnreadableUpload
from app.domain.money import DecimalCommaText
from app.i18n import N_, Message
from app.services import workbooks
from app.services.workbooks import DEFAULT_LIMITS, WorkbookLimits

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_HEADER_BYTES = 64 * 1024
# A workbook being uploaded is held in memory up to this size, then in a temporary file.
WORKBOOK_IN_MEMORY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Layout:
    """A kind of flat file: how its header is checked, how a line becomes a row, and which
    columns hold amounts (read with a decimal comma in a CSV separated by semicolons)."""

    check_header: Callable[[Sequence[str]], list[RowError]]
    shape: Callable[[Mapping[str, Any]], Any]
    amount_columns: frozenset[str] = frozenset()


ASSIGNMENT_LAYOUT = Layout(check_header, nest_flat_row, AMOUNT_COLUMNS)


class SourceFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


MEDIA_TYPES: dict[str, SourceFormat] = {
    "application/json": SourceFormat.JSON,
    "text/csv": SourceFormat.CSV,
    XLSX_MEDIA_TYPE: SourceFormat.XLSX,
}


def format_of(media_type: str | None, filename: str | None = None) -> SourceFormat | None:
    """The format a Content-Type (or, for a multipart part, the file name) announces."""
    if media_type:
        found = MEDIA_TYPES.get(media_type.split(";")[0].strip().lower())
        if found is not None:
            return found
    if filename:
        suffix = Path(filename).suffix.lower()
        return {
            ".json": SourceFormat.JSON,
            ".csv": SourceFormat.CSV,
            ".xlsx": SourceFormat.XLSX,
        }.get(suffix)
    return None


def _pairs(errors: list[RowError]) -> list[tuple[str, Text]]:
    return [(e.field, e.message) for e in errors]


class UploadCheck:
    """Fed the body chunk by chunk: hashes it, counts it, and refuses early what cannot be
    read (a CSV that is not UTF-8 or has a wrong header, a workbook that is not a zip, that
    expands past ``limits`` or whose first sheet's header row is wrong). A workbook is kept
    in a temporary file while it arrives (its header can only be read from the whole zip);
    :meth:`finish` then expands every part of it, counting, so callers run it off the event
    loop."""

    def __init__(
        self,
        source: SourceFormat,
        layout: Layout = ASSIGNMENT_LAYOUT,
        limits: WorkbookLimits = DEFAULT_LIMITS,
    ) -> None:
        self.source = source
        self.layout = layout
        self.limits = limits
        self.sha256 = hashlib.sha256()
        self.size = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._head = bytearray()
        self._header_checked = source is not SourceFormat.CSV
        self._line_bytes = 0  # bytes of the CSV line being received
        self._lines = 1
        self._workbook = (
            tempfile.SpooledTemporaryFile(max_size=WORKBOOK_IN_MEMORY_BYTES)  # noqa: SIM115
            if source is SourceFormat.XLSX
            else None
        )

    def feed(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        offset = self.size
        self.size += len(chunk)
        if self.source is SourceFormat.CSV:
            self._decode(chunk, offset, final=False)
            self._bound_lines(chunk)
        if self._workbook is not None:
            self._workbook.write(chunk)
        if len(self._head) < MAX_HEADER_BYTES:
            self._head.extend(chunk[: MAX_HEADER_BYTES - len(self._head)])
            if not self._header_checked and (b"\n" in self._head or b"\r" in self._head):
                self._check_csv_header()

    def _bound_lines(self, chunk: bytes) -> None:
        """Refuse at once a line no real row could be (the reader refuses it later anyway,
        but then the upload would have been stored and queued)."""
        pieces = re.split(rb"\r\n|\r|\n", chunk)
        for index, piece in enumerate(pieces):
            self._line_bytes += len(piece)
            if self._line_bytes > MAX_LINE_BYTES:
                raise UnreadableUpload(
                    N_("line {lines} is longer than {max_line_chars} characters"),
                    params={"lines": self._lines, "max_line_chars": MAX_LINE_CHARS},
                )
            if index < len(pieces) - 1:
                self._line_bytes = 0
                self._lines += 1

    def finish(self) -> None:
        if self.size == 0:
            raise UnreadableUpload(N_("the upload is empty"))
        if self.source is SourceFormat.CSV:
            self._decode(b"", self.size, final=True)
            if not self._header_checked:
                self._check_csv_header()
        elif self._workbook is not None:
            with self._workbook:
                if not self._head.startswith(b"PK\x03\x04"):
                    raise UnreadableUpload(N_("the file is not an Excel workbook (.xlsx)"))
                first = workbooks.check_upload(self._workbook, self.limits, MAX_COLUMNS)
                _workbook_header(first, self.layout)

    def close(self) -> None:
        """Let go of the workbook's temporary file (finish does; a failed upload must too)."""
        if self._workbook is not None:
            self._workbook.close()

    def _decode(self, chunk: bytes, offset: int, *, final: bool) -> None:
        try:
            self._decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            if exc.start >= len(chunk):
                raise UnreadableUpload(
                    N_("the CSV file is not UTF-8: it ends in the middle of a character")
                ) from exc
            raise UnreadableUpload(
                N_(
                    "the CSV file is not UTF-8 (byte 0x{byte:02x} at offset {offset} cannot be "
                    "read); save it as 'CSV UTF-8' and send it again"
                ),
                params={"byte": chunk[exc.start], "offset": offset + exc.start},
            ) from exc

    def _check_csv_header(self) -> None:
        self._header_checked = True
        # Lines may end in \r\n, \n or a bare \r (old Mac exports).
        first_line = re.split(rb"\r\n|\r|\n", bytes(self._head), maxsplit=1)[0]
        text = first_line.decode("utf-8", errors="replace")
        # One BOM, as the reader's utf-8-sig strips: a second one is part of the header.
        text = text.removeprefix("\ufeff")
        try:
            header = next(csv.reader([text], delimiter=csv_delimiter(text)), [])
        except csv.Error as exc:
            # (The csv module's reason is English prose, not for every reader.)
            raise UnreadableUpload(N_("the CSV header row cannot be read")) from exc
        errors = self.layout.check_header([name.strip() for name in header])
        if errors:
            raise UnreadableUpload(
                N_("the CSV header row is not the documented one"), _pairs(errors)
            )


def check_json(path: Path) -> None:
    """A JSON push must be an object with a ``rows`` list of objects."""
    try:
        with path.open("rb") as handle:
            document = json.load(handle, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:
        raise UnreadableUpload(N_("the body is not valid UTF-8 JSON")) from exc
    rows = document.get("rows") if isinstance(document, dict) else None
    if not isinstance(rows, list):
        raise UnreadableUpload(
            N_("the body must be an object with a 'rows' list"), [("rows", N_("is required"))]
        )


def read_rows(
    source: SourceFormat,
    path: Path,
    layout: Layout = ASSIGNMENT_LAYOUT,
    limits: WorkbookLimits = DEFAULT_LIMITS,
) -> Iterator[tuple[int, Any]]:
    """(row number, row) pairs, shaped by ``layout``. CSV and Excel rows are numbered as a
    spreadsheet shows them (the header is row 1); JSON rows from 1."""
    shape, records = read_records(source, path, layout, limits)
    if shape is None:
        yield from records
    else:
        for number, cells in records:
            yield number, shape(cells)


def read_records(
    source: SourceFormat,
    path: Path,
    layout: Layout = ASSIGNMENT_LAYOUT,
    limits: WorkbookLimits = DEFAULT_LIMITS,
) -> tuple[FlatShape | None, Iterator[tuple[int, Any]]]:
    """The rows as read, not yet shaped: (row number, cells) of a CSV or a workbook with the
    :class:`FlatShape` that turns cells into a row (a picklable object, so the shaping can
    happen where the row is validated, in another process), or (row number, row) of a JSON
    push and None. Reads the header at once: a wrong one raises here."""
    if source is SourceFormat.JSON:
        return None, _json_rows(path)
    records = (
        _csv_records(path, layout)
        if source is SourceFormat.CSV
        else _xlsx_records(path, layout, limits)
    )
    header = next(records)
    assert isinstance(header, FlatShape)
    return header, records  # type: ignore[return-value]


def count_rows(
    source: SourceFormat,
    path: Path,
    layout: Layout = ASSIGNMENT_LAYOUT,
    limits: WorkbookLimits = DEFAULT_LIMITS,
) -> int | None:
    """How many rows :func:`read_rows` will give (a reading pass, no validation), or None
    when the upload cannot be read (processing then says why)."""
    try:
        return sum(1 for _ in read_records(source, path, layout, limits)[1])
    except Exception:  # the processing pass reports the real error
        return None


def _json_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open("rb") as handle:
        document = json.load(handle, parse_float=Decimal)
    yield from enumerate(document["rows"], start=1)


def _flat_records(records: Iterator[list[Any]], first_row: int) -> Iterator[tuple[int, list[Any]]]:
    """(row number, cells) of each line that is not blank, at most :data:`MAX_ROWS`."""
    for number, cells in enumerate(records, start=first_row):
        if number - first_row >= MAX_ROWS:
            raise UnreadableUpload(
                N_("a push may have at most {max_rows} rows; split the file"),
                params={"max_rows": MAX_ROWS},
            )
        if not any(cell not in (None, "") for cell in cells):
            continue  # blank line
        yield number, cells


@dataclass(frozen=True, slots=True)
class FlatShape:
    """Turns a flat record (a CSV line's or a sheet row's cells under ``header``) into the
    row ``layout`` shapes; a record wider than its header is a :class:`RowShapeError`. With
    ``decimal_comma`` (a CSV separated by semicolons) the amount cells are marked
    :class:`~app.domain.money.DecimalCommaText`."""

    header: tuple[str, ...]
    layout: Layout
    decimal_comma: bool = False

    def __call__(self, cells: list[Any]) -> Any:
        header = self.header
        width = len(header)
        if len(cells) > width and any(c not in (None, "") for c in cells[width:]):
            return RowShapeError(
                Message(
                    N_("the row has {cells} cells, the header {width}"),
                    {"cells": len(cells), "width": width},
                )
            )
        values = {name: (cells[i] if i < len(cells) else None) for i, name in enumerate(header)}
        if self.decimal_comma:
            for name in self.layout.amount_columns & values.keys():
                if isinstance(values[name], str) and values[name]:
                    values[name] = DecimalCommaText(values[name])
        return self.layout.shape({k: (v if v != "" else None) for k, v in values.items()})


@dataclass(frozen=True, slots=True)
class RowShapeError:
    """A row that could not even be split into columns; validation reports it as is."""

    text: Message


MAX_LINE_CHARS = 64 * 1024  # a real row is a few hundred characters
MAX_LINE_BYTES = 4 * MAX_LINE_CHARS  # UTF-8 takes up to 4 bytes a character
MAX_ROWS = 2_000_000
MAX_COLUMNS = 200


def _bounded_lines(handle: Any) -> Iterator[str]:
    """Lines for the CSV reader, refusing one so long it can only be an attack or an
    accident (a line of commas would become millions of empty cells)."""
    for number, line in enumerate(handle, start=1):
        if len(line) > MAX_LINE_CHARS:
            raise UnreadableUpload(
                N_("line {number} is longer than {max_line_chars} characters"),
                params={"number": number, "max_line_chars": MAX_LINE_CHARS},
            )
        yield line


# Enough of the first line to tell the separator; a header is far shorter.
MAX_HEADER_CHARS = 64 * 1024


def csv_delimiter(header_line: str) -> str:
    """The separator of a CSV file, from its header line: a comma, or a semicolon when more
    semicolons than commas stand outside quotes (Excel in Spanish and Portuguese locales
    saves "CSV" with semicolons, the comma being their decimal mark)."""
    quoted = False
    counts = {",": 0, ";": 0}
    for char in header_line:
        if char == '"':
            quoted = not quoted  # a doubled quote inside a quoted name toggles twice
        elif not quoted and char in counts:
            counts[char] += 1
    return ";" if counts[";"] > counts[","] else ","


def _csv_records(path: Path, layout: Layout) -> Iterator[FlatShape | tuple[int, list[Any]]]:
    """The header's :class:`FlatShape` first, then (row number, cells) per line."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            delimiter = csv_delimiter(handle.readline(MAX_HEADER_CHARS))
            handle.seek(0)
            reader = csv.reader(_bounded_lines(handle), delimiter=delimiter)
            header = [name.strip() for name in next(reader, [])]
            errors = layout.check_header(header)
            if errors:
                raise UnreadableUpload(
                    N_("the CSV header row is not the documented one"), _pairs(errors)
                )
            yield FlatShape(tuple(header), layout, decimal_comma=delimiter == ";")
            yield from _flat_records(reader, 2)
    except UnicodeDecodeError as exc:
        raise UnreadableUpload(N_("the CSV file is not UTF-8")) from exc
    except csv.Error as exc:
        raise UnreadableUpload(N_("the CSV file cannot be read")) from exc


def _cell_text(value: Any) -> str | None:
    """An Excel cell as the text a CSV would carry."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Excel keeps numbers as doubles; their shortest repr is what the sender typed.
        return repr(value) if not value.is_integer() else str(int(value))
    return str(value).strip()


def _workbook_header(first: list[Any], layout: Layout) -> list[str]:
    """The first sheet's header row, checked."""
    header = [_cell_text(v) or "" for v in first]
    while header and header[-1] == "":
        header.pop()
    errors = layout.check_header(header)
    if errors:
        raise UnreadableUpload(
            N_("the workbook's header row is not the documented one"), _pairs(errors)
        )
    return header


def _xlsx_records(
    path: Path, layout: Layout, limits: WorkbookLimits
) -> Iterator[FlatShape | tuple[int, list[Any]]]:
    # Never trust the sheet's declared dimensions: only MAX_COLUMNS columns are kept.
    with (
        path.open("rb") as handle,
        closing(workbooks.sheet_rows(handle, limits, MAX_COLUMNS)) as rows,
    ):
        header = _workbook_header(next(rows, []), layout)
        yield FlatShape(tuple(header), layout)
        yield from _flat_records(([_cell_text(v) for v in row] for row in rows), 2)


def _inert(cell: object) -> object:
    """Text a spreadsheet would run as a formula is written with a leading quote."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


def table_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """Rows as CSV text, a line at a time, with cells a spreadsheet would run made inert."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_inert(cell) for cell in row])
        yield buffer.getvalue()


def rejections_csv(rows: Iterator[tuple[int, str | None, str, str]]) -> Iterator[str]:
    """The rejected rows of a push as CSV text, a line at a time."""
    return table_csv(["row_number", "external_ref", "field", "message"], rows)
