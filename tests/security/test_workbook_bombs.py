"""Workbooks built to exhaust the API's memory (issue 17 item 2).

An attacker found that a part expanding 73 times (an 11 MB upload whose ``sheet1.xml`` is
800 MiB, one huge cell) passed the zip-bomb ratio check and took the API process from 287 MiB
to a 1.8 GiB peak. Each shape below is uploaded as a client would send it (64 KiB at a time)
and must be refused at once with a 422 ``application/problem+json`` and a stable code, with
nothing stored (no upload row, no stored chunk, no temporary file left open or on disk),
while the process's resident memory rises by at most :data:`RSS_BUDGET` at its peak.

The peak is the kernel's high-water mark (``VmHWM``), reset before each upload by writing
``5`` to ``/proc/self/clear_refs`` (Linux), so what earlier tests raised it to does not count.
Unlike tracemalloc, it sees what C code allocates (expat, zlib, openpyxl's lxml-free trees).

The shapes are written a chunk at a time with ``compresslevel=1``; the big ones carry some
incompressible text so they expand 60-75 times, under the old ratio check's 100.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import random
import re
import struct
import sys
import tempfile
import uuid
import zipfile
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from httpx import ASGITransport, AsyncClient

from app.db import Database
from app.domain.roles import Role
from app.main import create_app
from tests.factories import make_partner
from tests.helpers.bad_input import public_tables, snapshot

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from common import HEADER, rows, write_xlsx

MIB = 1024 * 1024
RSS_BUDGET = 100 * MIB
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
OLD_RATIO_LIMIT = 100  # the check this replaces refused a part expanding more than this

ASSIGNMENT_HEADER = [
    "external_ref", "product_type", "currency", "principal", "interest", "fees", "total",
    "past_due_amount", "oldest_unpaid_due_date", "debtor_first_names", "debtor_last_names",
    "debtor_national_id_type", "debtor_national_id", "debtor_phones",
]  # fmt: skip
PAYMENT_HEADER = ["external_ref", "payment_reference", "amount", "paid_on", "payer_reference"]
ENDPOINTS = {
    "assignments": ("/api/v1/partners/{}/assignments", ASSIGNMENT_HEADER),
    "payment-files": ("/api/v1/partners/{}/payment-files", PAYMENT_HEADER),
}


# ---------------------------------------------------------------------------------------
# Writing workbooks a chunk at a time

MAIN = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
RELS = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE = b'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"'
SPREADSHEET = b"application/vnd.openxmlformats-officedocument.spreadsheetml"
CONTENT_TYPES = (
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/xl/workbook.xml" ContentType="%s.sheet.main+xml"/>%%s</Types>'
    % SPREADSHEET
)
# 16 KiB of random letters repeated every MiB: deflate (a 32 KiB window) cannot reuse them.
_NOISE = bytes(random.Random(17).choices(b"bcdefghijklmnopqrstuvwxyz", k=16 * 1024))


def filler(size: int) -> Iterator[bytes]:
    """``size`` bytes of text with no markup, a MiB at a time, expanding about 70 times."""
    block = _NOISE + b"A" * (MIB - len(_NOISE))
    for _ in range(size // MIB):
        yield block


def inline(reference: str, text: str) -> bytes:
    return f'<c r="{reference}" t="inlineStr"><is><t>{text}</t></is></c>'.encode()


def header_row(columns: list[str], skip: int = 0) -> bytes:
    cells = b"".join(inline(f"{chr(65 + i)}1", name) for i, name in enumerate(columns) if i >= skip)
    return b'<row r="1">' + cells + b"</row>"


def sheet(*pieces: bytes | Iterable[bytes]) -> Iterator[bytes]:
    yield b"<worksheet " + MAIN + b"><sheetData>"
    for piece in pieces:
        if isinstance(piece, bytes):
            yield piece
        else:
            yield from piece
    yield b"</sheetData></worksheet>"


def huge_inline_cell(reference: str, size: int) -> Iterator[bytes]:
    yield f'<c r="{reference}" t="inlineStr"><is><t>'.encode()
    yield from filler(size)
    yield b"</t></is></c>"


def workbook(
    sheet_xml: Iterable[bytes],
    *,
    shared_strings: Iterable[bytes] | None = None,
    styles: Iterable[bytes] | None = None,
    extra: dict[str, Iterable[bytes]] | None = None,
    directory_says: dict[str, int] | None = None,
) -> bytes:
    """A workbook whose parts are written from chunks (none is held whole). With
    ``directory_says``, those parts' sizes in their local headers and in the central
    directory are overwritten with the given (understated) ones."""
    relationships = [(b"worksheet", b"worksheets/sheet1.xml")]  # (type, target under xl/)
    parts: dict[str, Iterable[bytes]] = {"xl/worksheets/sheet1.xml": sheet_xml}
    if shared_strings is not None:
        relationships.append((b"sharedStrings", b"sharedStrings.xml"))
        parts["xl/sharedStrings.xml"] = shared_strings
    if styles is not None:
        relationships.append((b"styles", b"styles.xml"))
        parts["xl/styles.xml"] = styles
    parts.update(extra or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr(
            "[Content_Types].xml",
            CONTENT_TYPES
            % b"".join(
                b'<Override PartName="/xl/%s" ContentType="%s.%s+xml"/>'
                % (target, SPREADSHEET, kind)
                for kind, target in relationships
            ),
        )
        archive.writestr(
            "_rels/.rels",
            b"<Relationships " + PACKAGE + b'><Relationship Id="rId1" Type="' + RELS
            + b'/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )  # fmt: skip
        archive.writestr(
            "xl/workbook.xml",
            b"<workbook " + MAIN + b' xmlns:r="' + RELS + b'"><sheets>'
            b'<sheet name="Cartera" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )  # fmt: skip
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            b"<Relationships " + PACKAGE + b">"
            + b"".join(
                b'<Relationship Id="rId%d" Type="%s/%s" Target="%s"/>' % (n, RELS, kind, target)
                for n, (kind, target) in enumerate(relationships, start=1)
            )
            + b"</Relationships>",
        )  # fmt: skip
        for name, chunks in parts.items():
            with archive.open(name, "w", force_zip64=True) as part:
                for chunk in chunks:
                    part.write(chunk)
    data = bytearray(buffer.getvalue())
    for name, size in (directory_says or {}).items():
        _understate(data, name, size)
    return bytes(data)


def _understate(data: bytearray, name: str, size: int) -> None:
    """Write ``size`` as the part's expanded size wherever the zip records it: the local
    header's zip64 field (zipfile wrote one, ``force_zip64``) and the central directory's
    32-bit field."""
    encoded = name.encode()
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        local = archive.getinfo(name).header_offset
    extra = local + 30 + len(encoded)
    assert data[extra : extra + 2] == b"\x01\x00", "expected a zip64 extra field"
    data[extra + 4 : extra + 12] = struct.pack("<Q", size)
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_length, extra_length, comment_length = struct.unpack("<HHH", data[at + 28 : at + 34])
        if data[at + 46 : at + 46 + name_length] == encoded:
            assert data[at + 24 : at + 28] != b"\xff\xff\xff\xff"
            data[at + 24 : at + 28] = struct.pack("<L", size)
            return
        at = data.find(b"PK\x01\x02", at + 46 + name_length + extra_length + comment_length)
    raise AssertionError(f"{name} is not in the central directory")


def expansion(body: bytes, name: str) -> float:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        info = archive.getinfo(name)
        return info.file_size / info.compress_size


# ---------------------------------------------------------------------------------------
# Measuring and sending


def _status_bytes(field: str) -> int:
    found = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    assert found is not None
    return int(found.group(1)) * 1024


@contextlib.contextmanager
def peak_rss_growth() -> Iterator[Callable[[], int]]:
    """How far the process's resident memory rose above where it was at the start, at its
    peak during the block."""
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    except OSError:
        pytest.skip("resetting the peak needs Linux's /proc/self/clear_refs")
    start = _status_bytes("VmRSS")
    result = {"grew": 0}
    try:
        yield lambda: result["grew"]
    finally:
        result["grew"] = _status_bytes("VmHWM") - start


def _temporary_files() -> list[str]:
    """What is in the temporary folder (the test's own, see ``sender``) and every file the
    process holds open there, deleted or not."""
    folder = tempfile.gettempdir()
    held = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(folder):
                held.append(target)
    return sorted(os.listdir(folder)) + held


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    view = memoryview(body)
    for start in range(0, len(body), 64 * 1024):
        yield bytes(view[start : start + 64 * 1024])


async def upload(client, headers, partner, body: bytes, endpoint: str = "assignments"):
    path = ENDPOINTS[endpoint][0].format(partner.id)
    return await client.post(
        path,
        content=_chunks(body),
        headers={**headers, "Content-Type": XLSX, "Idempotency-Key": uuid.uuid4().hex},
    )


class Refusals:
    """Uploads a body as the partner's manager and checks it is refused with nothing
    written, in bounded memory."""

    def __init__(self, client, connection, partner, headers, tables) -> None:
        self.client = client
        self.connection = connection
        self.partner = partner
        self.headers = headers
        self.tables = tables

    async def __call__(
        self, body: bytes, code: str, endpoint: str = "assignments", app=None
    ) -> dict:
        before = await snapshot(self.connection, self.tables)
        async with contextlib.AsyncExitStack() as stack:
            client = self.client
            if app is not None:
                transport = ASGITransport(app=app)
                client = await stack.enter_async_context(
                    AsyncClient(transport=transport, base_url="http://t")
                )
            with peak_rss_growth() as grew:
                response = await upload(client, self.headers, self.partner, body, endpoint)
        after = await snapshot(self.connection, self.tables)
        growth = grew()
        print(
            f"\n{len(body) / MIB:.1f} MiB upload: {response.status_code}"
            f" {response.json().get('code')}, peak +{growth / MIB:.0f} MiB"
        )
        assert response.status_code == 422, response.text[:500]
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["code"] == code, problem
        assert after == before  # no upload row, no stored chunk, no audit event
        assert _temporary_files() == []  # nothing on disk, nothing held open
        assert growth <= RSS_BUDGET, f"peak memory grew {growth / MIB:.0f} MiB"
        return problem


@pytest.fixture
async def sender(
    client, connection, session, make_user, auth_headers, tmp_path, monkeypatch
) -> Refusals:
    """Refusals for a new partner, with a temporary folder of the test's own (the
    spooled workbook goes there when it outgrows memory)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    partner = await make_partner(session)
    headers = auth_headers(await make_user(Role.MANAGER))
    return Refusals(client, connection, partner, headers, await public_tables(connection))


# ---------------------------------------------------------------------------------------
# The attacker's shapes


@pytest.mark.parametrize("size_mib", [400, 800])
async def test_one_huge_cell_in_the_header_row_is_refused(sender, size_mib):
    """The reported attack: one inline cell of 400 or 800 MiB where the header starts,
    the part expanding ~70 times (under the old check's 100)."""
    body = workbook(sheet(b'<row r="1">', huge_inline_cell("A1", size_mib * MIB), b"</row>"))
    assert 60 < expansion(body, "xl/worksheets/sheet1.xml") < OLD_RATIO_LIMIT
    problem = await sender(body, "workbook_cell_too_long")
    assert re.fullmatch(
        r"The workbook's part 'xl/worksheets/sheet1.xml' holds a cell or tag longer than "
        r"32767 characters \(byte \d+\); Excel itself holds at most 32,767 characters in a "
        r"cell\.",
        problem["detail"],
    )


async def test_one_huge_cell_after_the_header_is_refused_at_upload(sender):
    """Behind a good header, where reading the header alone would not see it."""
    body = workbook(
        sheet(
            header_row(ASSIGNMENT_HEADER),
            b'<row r="2">',
            huge_inline_cell("B2", 400 * MIB),
            b"</row>",
        )
    )
    assert expansion(body, "xl/worksheets/sheet1.xml") < OLD_RATIO_LIMIT
    problem = await sender(body, "workbook_cell_too_long")
    assert problem["title"] == "Workbook cell too long"


async def test_the_refusal_is_in_spanish_when_asked(client, session, make_user, auth_headers):
    partner = await make_partner(session)
    headers = auth_headers(await make_user(Role.MANAGER))
    body = workbook(sheet(b'<row r="1">', huge_inline_cell("A1", 2 * MIB), b"</row>"))
    response = await upload(client, {**headers, "Accept-Language": "es-MX"}, partner, body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "workbook_cell_too_long"
    assert problem["title"] == "Celda del libro demasiado larga"
    assert problem["detail"].startswith(
        "La parte 'xl/worksheets/sheet1.xml' del libro de Excel contiene una celda o etiqueta "
        "de más de 32767 caracteres"
    )


@pytest.mark.parametrize("endpoint", ["assignments", "payment-files"])
async def test_a_400_mib_styles_part_is_refused_from_the_directory(sender, endpoint):
    """A part every reader reads whole (openpyxl did: 400 MiB of bytes, then a tree)."""
    columns = ENDPOINTS[endpoint][1]

    def styles() -> Iterator[bytes]:
        yield b"<styleSheet " + MAIN + b"><cellXfs><!--"
        yield from filler(400 * MIB)
        yield b'--><xf numFmtId="0"/></cellXfs></styleSheet>'

    body = workbook(sheet(header_row(columns)), styles=styles())
    assert expansion(body, "xl/styles.xml") < OLD_RATIO_LIMIT
    problem = await sender(body, "workbook_too_large", endpoint)
    assert problem["detail"].startswith(
        "The workbook's part 'xl/styles.xml' holds more than 33554432 bytes once expanded"
    )


async def test_one_huge_shared_string_is_refused(sender):
    def strings() -> Iterator[bytes]:
        yield b"<sst " + MAIN + b' count="1" uniqueCount="1"><si><t>'
        yield from filler(400 * MIB)
        yield b"</t></si></sst>"

    cell = b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
    body = workbook(sheet(cell), shared_strings=strings())
    assert expansion(body, "xl/sharedStrings.xml") < OLD_RATIO_LIMIT
    problem = await sender(body, "workbook_cell_too_long")
    assert "'xl/sharedStrings.xml'" in problem["detail"]


async def test_a_cell_of_millions_of_short_runs_is_refused(sender):
    """Rich text: each run is short, the cell they make is 48 MiB (no byte scan sees it;
    the reader counts the cell's characters as they come)."""
    run = b"<r><t>" + b"x" * 500 + b"</t></r>"

    def runs() -> Iterator[bytes]:
        yield b'<row r="1"><c r="A1" t="inlineStr"><is>'
        for _ in range(100):
            yield run * 1000
        yield b"</is></c></row>"

    problem = await sender(workbook(sheet(runs())), "workbook_cell_too_long")
    assert "(A1)" in problem["detail"]


async def test_a_directory_that_understates_a_part_is_counted_as_it_expands(sender):
    """The central directory and the local header say 2 KiB; the part is 100 MiB. What
    comes out is counted, and expanding stops at the bound for the part (32 MiB)."""

    def styles() -> Iterator[bytes]:
        yield b"<styleSheet " + MAIN + b"><cellXfs>"
        for _ in range(100):
            yield b'<xf numFmtId="0"/>' * (MIB // 18)
        yield b"</cellXfs></styleSheet>"

    body = workbook(
        sheet(header_row(ASSIGNMENT_HEADER)),
        styles=styles(),
        directory_says={"xl/styles.xml": 2048},
    )
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.getinfo("xl/styles.xml").file_size == 2048
    await sender(body, "workbook_too_large")


async def test_a_sheet_the_directory_understates_is_scanned_whole(sender):
    """A huge cell far into a sheet whose directory entry says 4 KiB."""
    body = workbook(
        sheet(
            header_row(ASSIGNMENT_HEADER),
            b'<row r="2">',
            huge_inline_cell("C2", 200 * MIB),
            b"</row>",
        ),
        directory_says={"xl/worksheets/sheet1.xml": 4096},
    )
    await sender(body, "workbook_cell_too_long")


async def test_a_row_of_two_million_cells_is_refused(sender):
    """Excel's rows have 16,384 columns; a reader that builds the row first would hold
    two million cells."""

    def wide() -> Iterator[bytes]:
        yield b'<row r="1">'
        for _ in range(20):
            yield b"<c/>" * 100_000
        yield b"</row>"

    problem = await sender(workbook(sheet(wide())), "unreadable_upload")
    assert "more than 16384 cells" in problem["detail"]


async def test_elements_nested_a_million_deep_are_refused(sender):
    body = workbook(sheet(b"<x>" * 1_000_000, b"</x>" * 1_000_000))
    problem = await sender(body, "unreadable_upload")
    assert "nests elements more than 64 deep" in problem["detail"]


async def test_a_document_type_with_entities_is_refused(sender):
    laughs = (
        b'<!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    )
    body = workbook([laughs, *sheet(b'<row r="1"><c r="A1"><v>&c;</v></c></row>')])
    problem = await sender(body, "unreadable_upload")
    assert "document type" in problem["detail"]


async def test_a_number_format_built_to_be_slow_is_refused(sender):
    """openpyxl's date test for a number format backtracks on '[': 100,000 of them took
    about 17 seconds of CPU per format. Excel's formats are at most 255 characters."""
    styles = (
        b"<styleSheet " + MAIN + b'><numFmts count="1"><numFmt numFmtId="164" formatCode="'
        + b"[" * 100_000 + b'"/></numFmts><cellXfs count="1"><xf numFmtId="164"/></cellXfs>'
        b"</styleSheet>"
    )  # fmt: skip
    body = workbook(sheet(header_row(ASSIGNMENT_HEADER)), styles=[styles])
    problem = await sender(body, "unreadable_upload")
    assert "number format longer than 255 characters" in problem["detail"]


async def test_a_central_directory_of_fifty_thousand_parts_is_refused(sender):
    """zipfile would hold every entry of the directory in memory before anything else."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for n in range(50_000):
            archive.writestr(f"xl/media/{n:040d}.bin", b"")
    problem = await sender(buffer.getvalue(), "workbook_too_large")
    assert "'[central directory]'" in problem["detail"]


async def test_the_bounds_are_the_settings(engine, sessionmaker, settings, sender):
    """A sheet of ordinary rows past a 16 MiB sheet bound, declared and understated."""
    limited = settings.model_copy(update={"workbook_sheet_max_bytes": 16 * MIB})
    app = create_app(limited, Database(engine, sessionmaker))

    def ordinary() -> Iterator[bytes]:
        for n in range(2, 300_000):
            yield b'<row r="%d">' % n + inline(f"A{n}", f"TC-{n}") + b"</row>"

    body = workbook(sheet(header_row(ASSIGNMENT_HEADER), ordinary()))
    problem = await sender(body, "workbook_too_large", app=app)
    assert "more than 16777216 bytes" in problem["detail"]
    lying = workbook(
        sheet(header_row(ASSIGNMENT_HEADER), ordinary()),
        directory_says={"xl/worksheets/sheet1.xml": 4096},
    )
    await sender(lying, "workbook_too_large", app=app)


# ---------------------------------------------------------------------------------------
# What must still be accepted, in bounded memory


async def test_four_million_shared_strings_are_accepted_without_holding_them(
    client, session, make_user, auth_headers
):
    """Within the bounds, a large shared-strings part is fine, and is not loaded: the
    header's strings are looked up, the rest are only counted and scanned (openpyxl held
    every string of the table in a list)."""
    partner = await make_partner(session)
    headers = auth_headers(await make_user(Role.MANAGER))

    def strings() -> Iterator[bytes]:
        yield b"<sst " + MAIN + b">"
        yield b"".join(f"<si><t>{name}</t></si>".encode() for name in ASSIGNMENT_HEADER)
        for block in range(400):
            yield b"".join(b"<si><t>D-%08d</t></si>" % (block * 10_000 + n) for n in range(10_000))
        yield b"</sst>"

    cells = b"".join(
        b'<c r="%s1" t="s"><v>%d</v></c>' % (chr(65 + i).encode(), i)
        for i in range(len(ASSIGNMENT_HEADER))
    )
    body = workbook(sheet(b'<row r="1">' + cells + b"</row>"), shared_strings=strings())
    with peak_rss_growth() as grew:
        response = await upload(client, headers, partner, body)
    print(f"\n4 M shared strings ({len(body) / MIB:.1f} MiB): peak +{grew() / MIB:.0f} MiB")
    assert response.status_code == 202, response.text
    assert grew() <= RSS_BUDGET


async def test_a_workbook_of_ten_thousand_rows_as_excel_saves_it_is_accepted(
    client, session, make_user, auth_headers
):
    """Every documented column, text in the shared strings, amounts as numbers and dates as
    date-styled serial numbers: accepted, read in bounded memory, every row created."""
    from app.services import assignments

    partner = await make_partner(session)
    headers = auth_headers(await make_user(Role.MANAGER))
    buffer = io.BytesIO()
    write_xlsx(buffer, HEADER, rows(10_000, as_of=date.today() - timedelta(days=1), prefix="XL"))
    body = buffer.getvalue()
    with peak_rss_growth() as at_upload:
        response = await upload(client, headers, partner, body)
    assert response.status_code == 202, response.text
    with peak_rss_growth() as processing:
        done = await assignments.process_assignment(session, uuid.UUID(response.json()["id"]))
    print(
        f"\n10,000 rows ({len(body) / MIB:.1f} MiB): upload peak +{at_upload() / MIB:.0f} MiB,"
        f" processing peak +{processing() / MIB:.0f} MiB"
    )
    assert (done.status, done.received, done.created, done.rejected) == (
        "completed",
        10_000,
        10_000,
        0,
    ), done.failure
    assert at_upload() <= RSS_BUDGET


async def test_the_job_reads_under_the_same_bounds(client, session, make_user, auth_headers):
    """A workbook accepted under looser bounds (cells up to 100,000 characters) and
    processed under the default ones fails in the job, with the reason, nothing merged."""
    from app.services import assignments
    from app.services.tabular_uploads import SourceFormat
    from app.services.workbooks import WorkbookLimits
    from tests.conftest import principal_of

    partner = await make_partner(session)
    user = await make_user(Role.MANAGER)
    body = workbook(
        sheet(
            header_row(ASSIGNMENT_HEADER),
            b'<row r="2">' + inline("A2", "x" * 50_000) + b"</row>",
        )
    )
    # The default bounds refuse it at upload ...
    response = await upload(client, auth_headers(user), partner, body)
    assert response.json()["code"] == "workbook_cell_too_long"
    # ... and a push stored under looser ones fails in the job, read under the defaults.
    assignment, _ = await assignments.submit_assignment(
        session,
        principal_of(user),
        partner.id,
        uuid.uuid4().hex,
        SourceFormat.XLSX,
        _chunks(body),
        max_json_bytes=MIB,
        workbook_limits=WorkbookLimits(cell_chars=100_000),
    )
    done = await assignments.process_assignment(session, assignment.id)
    assert (done.status, done.created) == ("failed", 0)
    assert "longer than 32767 characters (A2)" in (done.failure or "")
