"""Excel workbooks (.xlsx) read as streams, in bounded memory whatever the file holds.

A workbook is a zip of XML parts. Every part is bounded three times (issue 17):

- by the zip's central directory: the sizes it declares, before anything is expanded;
- while it is expanded: the bytes that actually come out are counted and expanding stops at
  the bound (a directory may understate them);
- while its XML is parsed: no cell's text (inline, or a shared string) may pass
  :attr:`WorkbookLimits.cell_chars` characters and no tag, comment or stretch of text that
  the parser must hold whole may pass :attr:`WorkbookLimits.markup_bytes`.

Nothing is ever read whole: the XML goes through expat a chunk at a time, the shared strings
are written to a temporary file and looked up there, and styles keep one flag per cell style.
What is kept grows with nothing an upload controls beyond these bounds.

:func:`check_upload` is what an upload goes through before it is stored (every part expanded
and counted, the sheet and the shared strings scanned for oversized text, the header row
read); :func:`sheet_rows` is what the job reads the rows with.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any
from xml.parsers import expat

from app.domain.errors import UnreadableUpload, WorkbookCellTooLong, WorkbookTooLarge
from app.domain.errors import shown_part_name as _shown
from app.i18n import N_

if TYPE_CHECKING:
    from app.config import Settings

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

# Excel's own limits: a sheet has 16,384 columns; a cell holds 32,767 characters.
EXCEL_COLUMNS = 16_384
EXCEL_CELL_CHARS = 32_767
# A real package has tens of parts and a central directory of a few kilobytes.
MAX_DIRECTORY_BYTES = 1 * MIB
MAX_PARTS = 10_000
# Styles: Excel allows 64,000 cell formats and about 250 number formats of at most 255
# characters (their date test is a regular expression that is slow on long ones).
MAX_STYLES = 65_536
MAX_NUMBER_FORMATS = 1_000
MAX_NUMBER_FORMAT_CHARS = 255
# Relationships are one per part.
MAX_RELATIONSHIPS = MAX_PARTS
# Spreadsheet XML nests six or seven deep; expat keeps every open element.
MAX_XML_DEPTH = 64
# Bytes expanded and fed to the parser at a time.
READ_BYTES = 64 * KIB

_NOT_A_WORKBOOK = "the file is not an Excel workbook (.xlsx)"
_WORKSHEET = "/worksheet"
_SHARED_STRINGS = "/sharedStrings"
_STYLES = "/styles"
_OFFICE_DOCUMENT = "/officeDocument"


@dataclass(frozen=True, slots=True)
class WorkbookLimits:
    """How far a workbook may expand; the defaults are :class:`app.config.Settings`'."""

    # A worksheet, or the shared strings: these grow with the rows.
    sheet_bytes: int = 2 * GIB
    # Any other part: workbook, relationships, styles, theme, properties, images.
    part_bytes: int = 32 * MIB
    # All parts together.
    expanded_bytes: int = 4 * GIB
    cell_chars: int = EXCEL_CELL_CHARS

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkbookLimits:
        return cls(
            sheet_bytes=settings.workbook_sheet_max_bytes,
            part_bytes=settings.workbook_part_max_bytes,
            expanded_bytes=settings.workbook_expanded_max_bytes,
            cell_chars=settings.workbook_cell_max_chars,
        )

    @property
    def markup_bytes(self) -> int:
        """The longest stretch of XML without a ``<`` a cell can explain: its text at ten
        bytes a character at most (``&#1114111;``), and a tag."""
        return 10 * self.cell_chars + 4 * KIB


DEFAULT_LIMITS = WorkbookLimits()


# ---------------------------------------------------------------------------------------
# The zip: its directory checked, its parts expanded and counted


_END = b"PK\x05\x06"
_END64_LOCATOR = b"PK\x06\x07"
_END64 = b"PK\x06\x06"
_LOCAL = b"PK\x03\x04"


def _directory_size(handle: IO[bytes]) -> tuple[int, int]:
    """(bytes, entries) of the central directory, read from its end record before
    :mod:`zipfile` reads the directory into memory."""
    handle.seek(0, 2)
    size = handle.tell()
    tail_start = max(0, size - (22 + 0xFFFF))
    handle.seek(tail_start)
    tail = handle.read()
    at = len(tail) - 22 if tail[-22:-18] == _END and tail[-2:] == b"\0\0" else tail.rfind(_END)
    if at < 0 or len(tail) - at < 22:
        raise UnreadableUpload(_NOT_A_WORKBOOK)
    entries, directory_bytes = struct.unpack("<10xHL6x", tail[at : at + 22])
    if entries == 0xFFFF or directory_bytes == 0xFFFFFFFF:
        # Zip64: the locator sits right before the end record and points at the real one.
        locator_at = tail_start + at - 20
        if locator_at < 0:
            raise UnreadableUpload(_NOT_A_WORKBOOK)
        handle.seek(locator_at)
        locator = handle.read(20)
        if locator[:4] != _END64_LOCATOR:
            raise UnreadableUpload(_NOT_A_WORKBOOK)
        (record_at,) = struct.unpack("<8xQ4x", locator)
        handle.seek(record_at)
        record = handle.read(56)
        if len(record) < 56 or record[:4] != _END64:
            raise UnreadableUpload(_NOT_A_WORKBOOK)
        entries, directory_bytes = struct.unpack("<32xQQ8x", record)
    return directory_bytes, entries


class Package:
    """A workbook's zip: the directory checked against the limits, each part readable as
    a stream of expanded chunks that is counted as it comes out."""

    def __init__(self, handle: IO[bytes], limits: WorkbookLimits) -> None:
        self.handle = handle
        self.limits = limits
        directory_bytes, entries = _directory_size(handle)
        if directory_bytes > MAX_DIRECTORY_BYTES or entries > MAX_PARTS:
            raise WorkbookTooLarge("[central directory]", MAX_DIRECTORY_BYTES)
        handle.seek(0)
        try:
            with zipfile.ZipFile(handle) as archive:  # leaves the handle open
                infos = archive.infolist()
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise UnreadableUpload(_NOT_A_WORKBOOK) from exc
        if len(infos) > MAX_PARTS:
            raise WorkbookTooLarge("[central directory]", MAX_DIRECTORY_BYTES)
        self.parts: dict[str, zipfile.ZipInfo] = {}
        declared = 0
        for info in infos:
            name = info.filename
            if name in self.parts:
                raise UnreadableUpload(
                    N_("the workbook has two parts named '{part}'"), params={"part": _shown(name)}
                )
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise UnreadableUpload(
                    N_("the workbook's part '{part}' is compressed in a way Excel never uses"),
                    params={"part": _shown(name)},
                )
            if info.flag_bits & 0x1:
                raise UnreadableUpload(N_("the workbook is encrypted"))
            if info.file_size > limits.sheet_bytes:
                raise WorkbookTooLarge(name, limits.sheet_bytes)
            declared += info.file_size
            if declared > limits.expanded_bytes:
                raise WorkbookTooLarge("[all parts]", limits.expanded_bytes)
            self.parts[name] = info
        self.expanded = 0  # bytes expanded so far, every part together
        self._seen: dict[str, int] = {}  # the most of each part expanded so far

    def has(self, name: str) -> bool:
        return name in self.parts

    def check_declared(self, name: str, bound: int) -> None:
        if self.parts[name].file_size > bound:
            raise WorkbookTooLarge(name, bound)

    def _expand(self, info: Any, inflater: Any) -> Iterator[bytes]:
        """The part's data expanded, at most :data:`READ_BYTES` at a time; the compressed
        data ends where the directory says (it is the expanded size that may lie)."""
        handle = self.handle
        handle.seek(info.header_offset)
        header = handle.read(30)
        if len(header) < 30 or header[:4] != _LOCAL:
            raise UnreadableUpload(
                N_("the workbook's part '{part}' is damaged"),
                params={"part": _shown(info.filename)},
            )
        name_length, extra_length = struct.unpack("<26xHH", header)
        position = info.header_offset + 30 + name_length + extra_length
        left = info.compress_size
        while left > 0:
            handle.seek(position)
            raw = handle.read(min(left, READ_BYTES))
            if not raw:
                break
            position += len(raw)
            left -= len(raw)
            if inflater is None:
                yield raw
                continue
            data = inflater.decompress(raw, READ_BYTES)
            while True:
                if data:
                    yield data
                if not inflater.unconsumed_tail:
                    break
                data = inflater.decompress(inflater.unconsumed_tail, READ_BYTES)
            if inflater.eof:
                break
        if inflater is not None and not inflater.eof:
            data = inflater.flush()  # at most one match's worth: all input was taken
            if data:
                yield data

    def chunks(self, name: str, bound: int, *, whole: bool = False) -> Iterator[bytes]:
        """The part's bytes as they are expanded, at most :data:`READ_BYTES` at a time.
        More than ``bound`` of them, or more than the limit for every part together, is
        refused as it happens, whatever the directory says. With ``whole``, the part is
        read to its end and checked against its directory entry (size and CRC)."""
        info = self.parts.get(name)
        if info is None:
            raise UnreadableUpload(
                N_("the workbook has no part '{part}'"), params={"part": _shown(name)}
            )
        self.check_declared(name, bound)
        produced = 0
        already = self._seen.get(name, 0)
        crc = 0
        deflated = info.compress_type == zipfile.ZIP_DEFLATED
        inflater = zlib.decompressobj(-zlib.MAX_WBITS) if deflated else None
        try:
            for data in self._expand(info, inflater):
                produced += len(data)
                if produced > bound:
                    raise WorkbookTooLarge(name, bound)
                if produced > already:
                    # Every part together counts once, however often a part is read again.
                    self.expanded += min(len(data), produced - already)
                    if self.expanded > self.limits.expanded_bytes:
                        raise WorkbookTooLarge("[all parts]", self.limits.expanded_bytes)
                if whole:
                    crc = zlib.crc32(data, crc)
                yield data
        finally:
            self._seen[name] = max(already, produced)
        if whole and (
            (inflater is not None and not inflater.eof)
            or produced != info.file_size
            or crc != info.CRC
        ):
            raise UnreadableUpload(
                N_("the workbook is damaged: its part '{part}' is not what its directory says"),
                params={"part": _shown(name)},
            )


# ---------------------------------------------------------------------------------------
# XML, a chunk at a time

Event = tuple[int, str, Any]
START, END, TEXT = 0, 1, 2


def xml_events(
    package: Package, name: str, bound: int, limits: WorkbookLimits
) -> Iterator[list[Event]]:
    """The part's XML as lists of (START, local name, attributes), (END, local name, None)
    and (TEXT, text, None) events, one list per chunk fed to expat. Text comes in pieces
    (expat never holds a text node whole); a tag, comment or processing instruction longer
    than ``limits.markup_bytes`` (expat must hold those whole) is refused, and so are a
    document type declaration (entities) and nesting deeper than :data:`MAX_XML_DEPTH`."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = False
    events: list[Event] = []
    append = events.append
    depth = 0
    local_names: dict[str, str] = {}  # "namespace name" -> "name", for the names seen first

    def local(tag: str) -> str:
        found = local_names.get(tag)
        if found is None:
            found = tag[tag.rfind(" ") + 1 :]
            if len(local_names) < 1024:
                local_names[tag] = found
        return found

    def start(tag: str, attributes: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_XML_DEPTH:
            raise UnreadableUpload(
                N_("the workbook's part '{part}' nests elements more than {depth} deep"),
                params={"part": _shown(name), "depth": MAX_XML_DEPTH},
            )
        append((START, local_names.get(tag) or local(tag), attributes))

    def end(tag: str) -> None:
        nonlocal depth
        depth -= 1
        append((END, local_names.get(tag) or local(tag), None))

    def text(data: str) -> None:
        append((TEXT, data, None))

    def doctype(*_: Any) -> None:
        raise UnreadableUpload(
            N_("the workbook's part '{part}' declares a document type (entities)"),
            params={"part": _shown(name)},
        )

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    fed = 0
    try:
        for chunk in package.chunks(name, bound):
            parser.Parse(chunk, False)
            fed += len(chunk)
            # What expat still holds unparsed: one tag, comment or instruction.
            held = fed - max(parser.CurrentByteIndex, 0)
            if held > limits.markup_bytes:
                raise WorkbookCellTooLong(name, f"byte {fed - held}", limits.cell_chars)
            if events:
                yield events
                events = []
                append = events.append
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise UnreadableUpload(
            N_(
                "the workbook's part '{part}' is not well-formed XML (line {line}, column {column})"
            ),
            params={"part": _shown(name), "line": exc.lineno, "column": exc.offset},
        ) from exc
    if events:
        yield events


_ENTITY = re.compile(rb"&[^;&<]{1,12};")


def scan_markup(package: Package, name: str, bound: int, limits: WorkbookLimits) -> None:
    """Expand the whole part, counting it, and refuse it if the text between two ``<`` is
    longer than any cell's can be: its text (after the tag it follows) more than
    ``limits.cell_chars`` characters, or the whole stretch more than ``limits.cell_chars``
    bytes with no tag end. Done at C speed: stretches longer than ``limits.cell_chars``
    bytes are found by looking for aligned blocks of half that with no ``<`` (one ``find``
    each), and only those are decoded and counted. A sheet of a million rows is scanned in
    seconds; this finds at upload what :func:`xml_events` finds in the job, save a cell
    split into runs, which the reader counts."""
    most = limits.cell_chars
    step = max(most // 2, 1)

    def check(stretch: bytes, at: int) -> None:
        if len(stretch) <= most:
            return
        if len(stretch) > limits.markup_bytes:
            raise WorkbookCellTooLong(name, f"byte {at}", most)
        tag_end = stretch.find(b">")
        if tag_end < 0 or tag_end > most:
            raise WorkbookCellTooLong(name, f"byte {at}", most)
        text = _ENTITY.sub(b"&", stretch[tag_end + 1 :])
        if len(text) > most and len(text.decode("utf-8", "replace")) > most:
            raise WorkbookCellTooLong(name, f"byte {at}", most)

    offset = 0
    carry = b""  # the stretch that the last chunk ended in, from its '<'
    for chunk in package.chunks(name, bound, whole=True):
        size = len(chunk)
        first = chunk.find(b"<")
        if first < 0:
            carry += chunk
            if len(carry) > limits.markup_bytes:
                raise WorkbookCellTooLong(name, f"byte {offset + size - len(carry)}", most)
            offset += size
            continue
        check(carry + chunk[:first], offset - len(carry))
        # A longer stretch inside the chunk holds a whole aligned block of `step` bytes
        # without '<': look for such blocks, then measure the stretch around each.
        for block in range(first, size - step + 1, step):
            if chunk.find(b"<", block, block + step) < 0:
                before = chunk.rfind(b"<", 0, block)
                after = chunk.find(b"<", block + step)
                if after >= 0:
                    check(chunk[before:after], offset + before)
        last = chunk.rfind(b"<")
        carry = chunk[last:]
        offset += size
    check(carry, offset - len(carry))


# ---------------------------------------------------------------------------------------
# The package's structure: which part is the first sheet, the shared strings, the styles


@dataclass(frozen=True, slots=True)
class Structure:
    sheet: str
    shared_strings: str | None
    styles: str | None
    date1904: bool
    # Worksheets and shared strings may take limits.sheet_bytes; every other part less.
    row_parts: frozenset[str]


def _relationships(
    package: Package, name: str, limits: WorkbookLimits
) -> list[tuple[str, str, str]]:
    """(id, type, target part) of each internal relationship in ``name``."""
    base = posixpath.dirname(posixpath.dirname(name))  # "xl/_rels/x.rels" -> "xl"
    found: list[tuple[str, str, str]] = []
    for events in xml_events(package, name, limits.part_bytes, limits):
        for kind, tag, attributes in events:
            if kind != START or tag != "Relationship":
                continue
            if attributes.get("TargetMode") == "External":
                continue
            target = attributes.get("Target", "")
            if target.startswith("/"):
                target = target[1:]
            else:
                target = posixpath.normpath(posixpath.join(base, target))
            found.append((attributes.get("Id", ""), attributes.get("Type", ""), target))
            if len(found) > MAX_RELATIONSHIPS:
                raise UnreadableUpload(
                    N_("the workbook's part '{part}' has more than {limit} relationships"),
                    params={"part": _shown(name), "limit": MAX_RELATIONSHIPS},
                )
    return found


def _rels_of(part: str) -> str:
    folder, file = posixpath.split(part)
    return posixpath.join(folder, "_rels", file + ".rels")


def structure(package: Package, limits: WorkbookLimits) -> Structure:
    root = _relationships(package, "_rels/.rels", limits) if package.has("_rels/.rels") else []
    workbook = next((t for _, kind, t in root if kind.endswith(_OFFICE_DOCUMENT)), None)
    if workbook is None or not package.has(workbook):
        workbook = "xl/workbook.xml"
    if not package.has(workbook):
        raise UnreadableUpload(_NOT_A_WORKBOOK)
    rels_name = _rels_of(workbook)
    rels = _relationships(package, rels_name, limits) if package.has(rels_name) else []
    by_id = {rid: (kind, target) for rid, kind, target in rels}
    shared = next((t for _, k, t in rels if k.endswith(_SHARED_STRINGS) and package.has(t)), None)
    styles = next((t for _, k, t in rels if k.endswith(_STYLES) and package.has(t)), None)
    sheet: str | None = None
    date1904 = False
    for events in xml_events(package, workbook, limits.part_bytes, limits):
        for kind, tag, attributes in events:
            if kind != START:
                continue
            if tag == "workbookPr":
                date1904 = attributes.get("date1904", "").lower() in ("1", "true")
            elif tag == "sheet":
                rid = next((v for k, v in attributes.items() if k.endswith(" id")), None)
                kind_target = by_id.get(rid or "")
                if (
                    kind_target
                    and kind_target[0].endswith(_WORKSHEET)
                    and package.has(kind_target[1])
                ):
                    sheet = kind_target[1]
                    break
        if sheet is not None:
            break
    if sheet is None:
        raise UnreadableUpload(N_("the workbook has no worksheet"))
    row_parts = {t for _, k, t in rels if k.endswith((_WORKSHEET, _SHARED_STRINGS))}
    return Structure(sheet, shared, styles, date1904, frozenset(row_parts))


def bound_of(structure: Structure, name: str, limits: WorkbookLimits) -> int:
    return limits.sheet_bytes if name in structure.row_parts else limits.part_bytes


# ---------------------------------------------------------------------------------------
# Styles: which cell styles show numbers as dates


@dataclass(frozen=True, slots=True)
class DateStyles:
    dates: frozenset[int]
    durations: frozenset[int]


def date_styles(package: Package, name: str | None, limits: WorkbookLimits) -> DateStyles:
    from openpyxl.styles.numbers import builtin_format_code, is_date_format, is_timedelta_format

    if name is None:
        return DateStyles(frozenset(), frozenset())
    custom: dict[int, tuple[bool, bool]] = {}
    dates: set[int] = set()
    durations: set[int] = set()
    in_formats = False  # inside <numFmts> (a <dxf> has number formats of its own)
    in_cell_xfs = False
    index = 0
    for events in xml_events(package, name, limits.part_bytes, limits):
        for kind, tag, attributes in events:
            if tag == "numFmts":
                in_formats = kind == START
            elif kind == START and in_formats and tag == "numFmt":
                if len(custom) >= MAX_NUMBER_FORMATS:
                    raise UnreadableUpload(
                        N_("the workbook has more than {limit} number formats"),
                        params={"limit": MAX_NUMBER_FORMATS},
                    )
                code = attributes.get("formatCode", "")
                if len(code) > MAX_NUMBER_FORMAT_CHARS:
                    raise UnreadableUpload(
                        N_(
                            "the workbook has a number format longer than {limit} characters, "
                            "Excel's limit"
                        ),
                        params={"limit": MAX_NUMBER_FORMAT_CHARS},
                    )
                number = _integer(attributes.get("numFmtId"))
                custom[number] = (is_date_format(code), is_timedelta_format(code))
            elif tag == "cellXfs":
                in_cell_xfs = kind == START
            elif kind == START and in_cell_xfs and tag == "xf":
                if index >= MAX_STYLES:
                    raise UnreadableUpload(N_("the workbook has more cell styles than Excel"))
                number = _integer(attributes.get("numFmtId"))
                if number in custom:
                    is_date, is_duration = custom[number]
                else:
                    code = builtin_format_code(number)
                    is_date, is_duration = is_date_format(code), is_timedelta_format(code)
                if is_date:
                    dates.add(index)
                if is_duration:
                    durations.add(index)
                index += 1
    return DateStyles(frozenset(dates), frozenset(durations))


def _integer(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return -1


# ---------------------------------------------------------------------------------------
# Shared strings


def shared_strings(
    package: Package, name: str, limits: WorkbookLimits
) -> Iterator[tuple[int, str]]:
    """(index, text) of each shared string, in order, each refused past
    ``limits.cell_chars`` characters while it is read. Text is the string's own ``<t>`` and
    its runs' (phonetic guides left out), as openpyxl reads it."""
    index = -1
    pieces: list[str] = []
    chars = 0
    taking = False  # inside a <t> that counts
    skip = 0  # depth inside <rPh> (phonetic runs)
    for events in xml_events(package, name, limits.sheet_bytes, limits):
        for kind, tag, _ in events:
            if kind == TEXT:
                if taking:
                    pieces.append(tag)
                    chars += len(tag)
                    if chars > limits.cell_chars:
                        raise WorkbookCellTooLong(name, f"string {index}", limits.cell_chars)
            elif kind == START:
                if tag == "si":
                    index += 1
                    pieces = []
                    chars = 0
                elif tag == "rPh":
                    skip += 1
                elif tag == "t" and not skip:
                    taking = True
            else:
                if tag == "t":
                    taking = False
                elif tag == "rPh":
                    skip -= 1
                elif tag == "si":
                    yield index, "".join(pieces).replace("x005F_", "")


class SpooledStrings:
    """Shared strings written to a temporary file and read back by index: memory holds
    none of them, however many there are."""

    def __init__(self, strings: Iterator[tuple[int, str]]) -> None:
        self._text = tempfile.TemporaryFile()  # noqa: SIM115  (closed by close())
        self._offsets = tempfile.TemporaryFile()  # noqa: SIM115
        packer = struct.Struct("<Q")
        position = 0
        self.count = 0
        with contextlib.ExitStack() as on_error:
            on_error.callback(self.close)
            for _, text in strings:
                data = text.encode("utf-8", "surrogatepass")
                self._offsets.write(packer.pack(position))
                self._text.write(data)
                position += len(data)
                self.count += 1
            self._offsets.write(packer.pack(position))
            on_error.pop_all()
        self._text.seek(0)
        self._offsets.seek(0)

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < self.count:
            raise IndexError(index)
        self._offsets.seek(8 * index)
        start, end = struct.unpack("<QQ", self._offsets.read(16))
        self._text.seek(start)
        return self._text.read(end - start).decode("utf-8", "surrogatepass")

    def close(self) -> None:
        self._text.close()
        self._offsets.close()


# ---------------------------------------------------------------------------------------
# The sheet's rows

_COORDINATE = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d+)$")

# A cell as the sheet holds it: (column, type, text, style).
RawCell = tuple[int, str, str | None, int]


_COLUMNS: dict[str, int] = {}  # "AB" -> 28, filled as letters are met (at most 18,278)


def _column(reference: str) -> int | None:
    """The column of a cell reference such as ``B7``; None if it is not one of Excel's."""
    letters = reference.rstrip("0123456789")
    column = _COLUMNS.get(letters)
    if column is not None and len(letters) < len(reference):
        return column
    match = _COORDINATE.match(reference)
    if match is None:
        return None
    column = 0
    for letter in match.group(1).upper():
        column = column * 26 + ord(letter) - 64
    if column > EXCEL_COLUMNS:
        return None
    if letters.isupper() and letters.isalpha() and letters.isascii():
        _COLUMNS[letters] = column
    return column


def _row_number(text: str | None, previous: int) -> int:
    if text is None:
        return previous + 1
    try:
        return int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            value = 0.5
        if not value.is_integer():
            raise UnreadableUpload(
                N_("'{text}' is not a row number"), params={"text": text[:20]}
            ) from None
        return int(value)


def raw_rows(
    package: Package, name: str, bound: int, limits: WorkbookLimits, max_columns: int
) -> Iterator[tuple[int, list[RawCell]]]:
    """(row number, cells) for each ``<row>`` of the sheet, in the sheet's order; cells
    past ``max_columns`` are dropped as they are read, and each cell's text is refused
    past ``limits.cell_chars`` characters."""
    row = 0
    column = 0
    cells: list[RawCell] = []
    count = 0  # <c> elements in the row, kept or not
    in_cell = False
    kind = "n"
    style = 0
    reference = ""
    taking = False  # inside the <v> of a cell, or a <t> of its inline string
    inline = 0  # depth inside <is>
    skip = 0  # depth inside <rPh>
    pieces: list[str] = []
    chars = 0
    for events in xml_events(package, name, bound, limits):
        for event, tag, payload in events:
            if event == TEXT:
                if taking:
                    pieces.append(tag)
                    chars += len(tag)
                    if chars > limits.cell_chars:
                        raise WorkbookCellTooLong(name, reference, limits.cell_chars)
            elif event == START:
                if tag == "c" and not in_cell:
                    count += 1
                    if count > EXCEL_COLUMNS:
                        raise UnreadableUpload(
                            N_("row {row} of the sheet has more than {limit} cells"),
                            params={"row": row, "limit": EXCEL_COLUMNS},
                        )
                    reference = payload.get("r") or ""
                    if reference:
                        found = _column(reference)
                        if found is None:
                            raise UnreadableUpload(
                                N_("'{reference}' is not a cell reference"),
                                params={"reference": reference[:20]},
                            )
                        column = found
                    else:
                        column += 1
                        reference = f"row {row} column {column}"
                    kind = payload.get("t") or "n"
                    style = _integer(payload.get("s"))
                    in_cell = True
                    pieces = []
                    chars = 0
                elif tag == "row":
                    row = _row_number(payload.get("r"), row)
                    column = 0
                    count = 0
                    cells = []
                elif not in_cell:
                    pass
                elif tag == "v" and not inline:
                    taking = kind != "inlineStr"
                elif tag == "is":
                    inline += 1
                elif tag == "rPh":
                    skip += 1
                elif tag == "t" and inline and not skip:
                    taking = kind == "inlineStr"
            else:
                if tag in ("v", "t"):
                    taking = False
                elif tag == "is":
                    inline -= 1
                elif tag == "rPh":
                    skip -= 1
                elif tag == "c" and in_cell:
                    in_cell = False
                    if column <= max_columns:
                        text = "".join(pieces)
                        if kind == "inlineStr":
                            cells.append((column, kind, text, style))
                        else:
                            cells.append((column, kind, text or None, style))
                elif tag == "row":
                    yield row, cells
                    cells = []


class CellValues:
    """Turns raw cells into the values openpyxl would give (``data_only``): numbers, dates
    where the cell's style shows a date, shared strings looked up, booleans."""

    def __init__(self, strings: Callable[[int], str], styles: DateStyles, date1904: bool):
        from openpyxl.utils import datetime as excel_dates

        self.strings = strings
        self.styles = styles
        self.epoch = (
            excel_dates.CALENDAR_MAC_1904 if date1904 else excel_dates.CALENDAR_WINDOWS_1900
        )
        self._from_excel = excel_dates.from_excel
        self._from_iso = excel_dates.from_ISO8601

    def value(self, cell: RawCell) -> Any:
        _, kind, text, style = cell
        if text is None:
            return None
        try:
            if kind == "n":
                number: float | int = (
                    float(text) if ("." in text or "e" in text or "E" in text) else int(text)
                )
                if style in self.styles.dates:
                    try:
                        return self._from_excel(
                            number, self.epoch, timedelta=style in self.styles.durations
                        )
                    except (OverflowError, ValueError):
                        return "#VALUE!"
                return number
            if kind == "s":
                return self.strings(int(text))
            if kind == "b":
                return bool(int(text))
            if kind == "d":
                return self._from_iso(text)
        except (ValueError, LookupError, OverflowError) as exc:
            raise UnreadableUpload(
                N_("a cell of type '{kind}' holds '{text}', which cannot be read"),
                params={"kind": kind[:10], "text": text[:40]},
            ) from exc
        return text  # inlineStr, str (a formula's text), e (an error such as #N/A)


def value_rows(raw: Iterator[tuple[int, list[RawCell]]], values: CellValues) -> Iterator[list[Any]]:
    """One list of values per row from the first: a row the sheet skips is an empty list, a
    row out of order is dropped (as openpyxl does)."""
    expected = 1
    for number, cells in raw:
        if number < expected:
            continue
        while expected < number:
            yield []
            expected += 1
        width = max((c[0] for c in cells), default=0)
        row: list[Any] = [None] * width
        for cell in cells:
            row[cell[0] - 1] = values.value(cell)
        yield row
        expected += 1


# ---------------------------------------------------------------------------------------
# What uploads and jobs call


@contextlib.contextmanager
def _reading() -> Iterator[None]:
    """Any failure of a damaged workbook is an unreadable upload, never a 500."""
    try:
        yield
    except UnreadableUpload:
        raise
    except (RecursionError, MemoryError):
        raise
    except Exception as exc:  # a damaged zip or sheet fails in many ways
        raise UnreadableUpload(
            N_("the workbook cannot be read: {name}"), params={"name": type(exc).__name__}
        ) from exc


def check_upload(handle: IO[bytes], limits: WorkbookLimits, max_columns: int) -> list[Any]:
    """Check a whole uploaded workbook and return its first row's values.

    Every part is expanded to its end and counted (its directory entry may lie), the sheet
    and the shared strings are scanned for oversized text, then the first row is read and
    its shared strings looked up (only as far as they go)."""
    with _reading():
        package = Package(handle, limits)
        shape = structure(package, limits)
        scanned = {shape.sheet, shape.shared_strings}
        for name in package.parts:
            bound = bound_of(shape, name, limits)
            if name in scanned:
                scan_markup(package, name, bound, limits)
            else:
                for _ in package.chunks(name, bound, whole=True):
                    pass
        styles = date_styles(package, shape.styles, limits)
        first: list[RawCell] = []
        for number, cells in raw_rows(
            package, shape.sheet, bound_of(shape, shape.sheet, limits), limits, max_columns
        ):
            if number >= 1:  # an earlier one is dropped, as value_rows does
                first = cells if number == 1 else []
                break
        wanted: dict[int, str] = {}
        needed = {int(text) for _, kind, text, _ in first if kind == "s" and text is not None}
        if needed and shape.shared_strings is not None:
            last = max(needed)
            for index, text in shared_strings(package, shape.shared_strings, limits):
                if index in needed:
                    wanted[index] = text
                if index >= last:
                    break
        values = CellValues(wanted.__getitem__, styles, shape.date1904)  # KeyError: damaged
        return next(value_rows(iter([(1, first)]), values))


def sheet_rows(
    handle: IO[bytes], limits: WorkbookLimits, max_columns: int
) -> Generator[list[Any], None, None]:
    """The first sheet's rows, from row 1, as lists of values (None for an empty cell)."""
    with _reading():
        package = Package(handle, limits)
        shape = structure(package, limits)
        styles = date_styles(package, shape.styles, limits)
        strings: SpooledStrings | None = None
        if shape.shared_strings is not None:
            strings = SpooledStrings(shared_strings(package, shape.shared_strings, limits))
        try:
            values = CellValues(
                strings.__getitem__ if strings is not None else [].__getitem__,
                styles,
                shape.date1904,
            )
            raw = raw_rows(
                package, shape.sheet, bound_of(shape, shape.sheet, limits), limits, max_columns
            )
            yield from value_rows(raw, values)
        finally:
            if strings is not None:
                strings.close()
