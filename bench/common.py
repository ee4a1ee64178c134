"""What the benchmarks share: synthetic portfolio rows (realistic shape, valid ids and
phones) and the database they run on."""

from __future__ import annotations

import csv
import os
import random
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from stdnum.mx import curp

# The benchmarks load the demo (published passwords) under the development secrets, so they
# say development explicitly: an unset CARTERA_ENV is production, which refuses both. Every
# bench script imports this module before the app; run.py's children and bench/api.py's
# servers inherit it.
os.environ.setdefault("CARTERA_ENV", "development")

HEADER = [
    "external_ref", "product_type", "currency", "original_amount", "principal", "interest",
    "fees", "total", "past_due_amount", "oldest_unpaid_due_date", "last_payment_date",
    "last_payment_amount", "debtor_first_names", "debtor_last_names",
    "debtor_national_id_type", "debtor_national_id", "debtor_birth_date", "debtor_phones",
    "debtor_emails", "address_line", "address_state", "address_municipality",
    "address_postal_code", "reference1_name", "reference1_relationship", "reference1_phones",
]  # fmt: skip

STATES = ["Ciudad de México", "Jalisco", "Nuevo León", "Sonora", "Quintana Roo", "Baja California"]
AREAS = ["55", "33", "81", "662", "998", "664"]
LETTERS = "ABCDEFGHIJKLMNPQRSTUVWXYZ"


def _curp(n: int) -> str:
    born = date(1950, 1, 1) + timedelta(days=n % 20000)
    name = "".join(LETTERS[(n // 20000 // 25**i) % 25] for i in range(4))
    base = f"{name[0]}A{name[1:3]}{born:%y%m%d}HDF{name[2:]}XX{n % 10}"[:17]
    return base + curp.calc_check_digit(base)


def rows(count: int, *, as_of: date, seed: int = 7, prefix: str = "B") -> Iterator[list[str]]:
    rng = random.Random(seed)
    for n in range(count):
        principal = rng.randint(1_000, 500_000)
        interest = rng.randint(0, 50_000)
        fees = rng.randint(0, 2_000)
        total = principal + interest + fees
        dpd = rng.randint(-10, 400)
        area = rng.randrange(len(AREAS))
        local = f"{rng.randint(0, 10 ** (10 - len(AREAS[area])) - 1):0{10 - len(AREAS[area])}d}"
        yield [
            f"{prefix}-{n:08d}", rng.choice(("revolving", "installment", "single_payment")), "MXN",
            f"{total + 1000}.00", f"{principal}.00", f"{interest}.50", f"{fees}.00",
            f"{total}.50", f"{min(total, principal // 3)}.00",
            (as_of - timedelta(days=dpd)).isoformat() if dpd > 0 else "",
            "", "", "María José", "Hernández López", "CURP", _curp(n), "",
            f"{AREAS[area]} {local[:4]} {local[4:]}", f"cliente{n}@example.mx",
            f"Calle {n % 500} #{n % 97}", STATES[area], "Centro", f"{10000 + n % 89999:05d}",
            "Pedro Hernández", "brother", f"33 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
        ]  # fmt: skip


def write_csv(path: Path, count: int, *, as_of: date, prefix: str = "B") -> int:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows(count, as_of=as_of, prefix=prefix))
    return path.stat().st_size


@contextmanager
def database() -> Iterator[str]:
    """CARTERA_DATABASE_URL when set, otherwise a throwaway embedded PostgreSQL."""
    from app.config import get_settings
    from app.db import EmbeddedPostgres

    configured = get_settings().async_database_url
    if configured:
        yield configured
        return
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="cartera-bench-")), delete_on_stop=True)
    try:
        yield server.start()
    finally:
        server.stop()


def wait_for_database(url: str) -> None:
    """Return once the database at ``url`` accepts connections, when ``BENCH_DATABASE_WAIT``
    (seconds) says it may not exist yet: a smoke run starts the api part before the demo its
    database is copied from is loaded (:meth:`SmokeDatabases.copy`). Otherwise at once."""
    import asyncio
    import time

    patience = float(os.environ.get("BENCH_DATABASE_WAIT") or 0)
    if not patience:
        return

    async def connects() -> bool:
        import asyncpg

        try:
            connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        except asyncpg.InvalidCatalogNameError:
            return False
        await connection.close()
        return True

    deadline = time.monotonic() + patience
    while not asyncio.run(connects()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no database at {url} after {patience:g} s")
        time.sleep(0.2)


class SmokeDatabases:
    """One embedded PostgreSQL for a whole smoke run (``run.py --smoke``): the schema migrated
    once, the demo loaded once on a copy of it (:meth:`load_demo`, which parts without the
    demo need not wait for), and each part given a fresh database copied
    from either (``CREATE DATABASE … TEMPLATE``, a file copy of a few MB) and dropped after.
    A part then finds its database at head (its own upgrade does nothing) and, for those
    that seed the demo, already seeded (their seed does nothing). Starting a cluster, the
    migrations and the demo seed are what took a smoke run's minutes, seven and three times
    over; a full run still gives each part a server of its own."""

    SCHEMA = "bench_schema"
    DEMO = "bench_demo"

    def __init__(self) -> None:
        self._server: Any = None
        self._admin = ""
        self._copies = 0
        self._lock = threading.Lock()

    def __enter__(self) -> SmokeDatabases:

        from app import migrations
        from app.db import EmbeddedPostgres

        self._server = EmbeddedPostgres(
            Path(tempfile.mkdtemp(prefix="cartera-bench-")), delete_on_stop=True
        )
        self._admin = self._server.start(self.SCHEMA)
        # Nothing on this server outlives the run: no waiting for the disk.
        self._run(
            "ALTER SYSTEM SET fsync = off",
            "ALTER SYSTEM SET synchronous_commit = off",
            "ALTER SYSTEM SET full_page_writes = off",
            "SELECT pg_reload_conf()",
        )
        migrations.upgrade(self._admin)
        return self

    def __exit__(self, *exc: object) -> None:
        # A fast shutdown's checkpoint, without fsync: a fraction of a second.
        self._server.stop()
        with suppress(OSError):
            self._server.pgdata.parent.rmdir()  # the wheel deletes pgdata, not its folder

    def _postmaster_pid(self) -> int:
        return int((self._server.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])

    def cpu_seconds(self) -> float:
        """The CPU the server has used so far (the postmaster and its ended backends)."""
        fields = Path(f"/proc/{self._postmaster_pid()}/stat").read_text().rsplit(")", 1)[1]
        utime, stime, cutime, cstime = (int(x) for x in fields.split()[11:15])
        return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")

    def _run(self, *statements: str) -> None:
        import asyncio

        asyncio.run(self._execute(*statements))

    def url(self, name: str) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self._admin).set(database=name).render_as_string(hide_password=False)

    async def _execute(self, *statements: str) -> None:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                for statement in statements:
                    await conn.execute(text(statement))
        finally:
            await engine.dispose()

    def load_demo(self) -> None:
        """The demo database, copied from the migrated one, the demo loaded once."""
        import asyncio

        asyncio.run(self._load_demo())

    async def _load_demo(self) -> None:
        from unittest import mock

        from app.config import get_settings
        from app.db import open_database
        from app.services import assignment_staging, demo

        await self._execute(f"CREATE DATABASE {self.DEMO} TEMPLATE {self.SCHEMA}")
        db = open_database(self.url(self.DEMO), get_settings())
        try:
            # The demo's 2,000 rows staged in a thread of this process: starting the intake
            # processes beside the parts running meanwhile cost more than their work.
            with mock.patch.object(assignment_staging, "configured_workers", return_value=0):
                async with db.sessionmaker() as session, session.begin():
                    await demo.seed(session)
        finally:
            await db.dispose()

    @contextmanager
    def copy(self, *, with_demo: bool, demo: Future[None] | None = None) -> Iterator[str]:
        """A fresh database for one part (the demo loaded or not); dropped when it ends.
        With ``demo`` (the loading of the demo, not done yet) its URL at once and the copy
        once the demo is loaded (or, should that fail, of the migrated database: the part's
        own seed then fails the same way): the part waits for it (:func:`wait_for_database`)."""
        with self._lock:  # parts may start side by side (run.py)
            self._copies += 1
            name = f"bench_part_{self._copies}"

        def create(loading: Future[None] | None = None) -> None:
            loaded = with_demo and (loading is None or loading.exception() is None)
            source = self.DEMO if loaded else self.SCHEMA
            with self._lock:  # one CREATE DATABASE … TEMPLATE at a time per source
                self._run(f"CREATE DATABASE {name} TEMPLATE {source}")

        if demo is None or not with_demo:
            create()
        else:
            demo.add_done_callback(create)
        try:
            yield self.url(name)
        finally:
            self._run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# --- Colombian rows: cédulas, mobile numbers, two departments -----------------------------
CO_PLACES = [("Cundinamarca", "Bogotá"), ("Antioquia", "Medellín"), ("Valle del Cauca", "Cali")]
CO_MOBILE = ["300", "301", "302", "304", "305", "310", "311", "312", "313", "314", "315", "316",
             "317", "318", "319", "320", "321", "350"]  # fmt: skip


def co_rows(count: int, *, as_of: date, seed: int = 11, prefix: str = "C") -> Iterator[list[str]]:
    """The same columns as :func:`rows` for a Colombian portfolio (COP, cédula de ciudadanía,
    mobile numbers), DPD from -10 to 400."""
    rng = random.Random(seed)
    for n in range(count):
        principal = rng.randint(300_000, 40_000_000)
        interest = rng.randint(0, 2_000_000)
        fees = rng.choice((0, 0, 35_000))
        total = principal + interest + fees
        dpd = rng.randint(-10, 400)
        state, city = CO_PLACES[n % len(CO_PLACES)]
        yield [
            f"{prefix}-{n:08d}", rng.choice(("revolving", "installment")), "COP",
            f"{total + 100_000}.00", f"{principal}.00", f"{interest}.00", f"{fees}.00",
            f"{total}.00", f"{min(total, principal // 3)}.00",
            (as_of - timedelta(days=dpd)).isoformat() if dpd > 0 else "",
            "", "", "Juan Camilo", "Rodríguez Gómez", "CC", str(10_000_000 + n * 37),
            (date(1970, 1, 1) + timedelta(days=n % 12000)).isoformat(),
            f"{rng.choice(CO_MOBILE)} {rng.randint(2000000, 9999999)}",
            f"cliente{n}@correo.example.co", f"Carrera {n % 120} # {n % 90}-{n % 50}", state,
            city, "", "Luz Gómez", "madre",
            f"31{rng.randint(0, 9)} {rng.randint(2000000, 9999999)}",
        ]  # fmt: skip


def write_rows_csv(path: Path, records: Iterator[list[str]]) -> int:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(records)
    return path.stat().st_size


# --- Results: every part writes its figures into one file per day and machine -------------
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def results_path() -> Path:
    """bench/results/<date>-<host>.json, or BENCH_RESULTS when set (the smoke run's file)."""
    import os
    import socket

    configured = os.environ.get("BENCH_RESULTS")
    if configured:
        return Path(configured)
    return RESULTS_DIR / f"{date.today().isoformat()}-{socket.gethostname()}.json"


def machine() -> dict[str, object]:
    import os
    import platform

    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "host": platform.node(),
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gib": memory_gib,
        "python": platform.python_version(),
    }


def save_result(part: str, result: dict[str, object]) -> Path:
    """Merge one part's figures into the results file (read, update, write back)."""
    import fcntl
    import json
    from datetime import UTC, datetime

    path = results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Parts of a smoke run end side by side: one writer at a time.
    with path.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data: dict[str, object] = {}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                data = {}
        data["machine"] = machine()
        parts = data.setdefault("parts", {})
        assert isinstance(parts, dict)
        parts[part] = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"), **result}
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# --- Excel workbooks, shaped as Excel saves them ------------------------------------------

XLSX_AMOUNTS = {
    "original_amount", "principal", "interest", "fees", "total", "past_due_amount",
    "last_payment_amount", "amount",
}  # fmt: skip
_SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def _column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_xlsx(target: Any, header: list[str], data: Iterator[list[str]]) -> None:
    """``header`` and ``data`` as an .xlsx shaped as Excel saves one: text in the shared
    strings, amounts as numbers, ``*_date`` columns as serial numbers styled as dates (style
    1, number format 14). ``target`` is a path or a binary file. The sheet is written as
    rows come; the distinct texts are kept in a dict until the shared strings are written."""
    import zipfile

    strings: dict[str, int] = {}
    uses = 0
    epoch = date(1899, 12, 30)
    letters = [_column_letters(i) for i in range(len(header))]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<worksheet xmlns="{_SHEET_NS}" xmlns:r="{_REL_NS}"><sheetData>'.encode()
            )
            for number, values in enumerate(_rows(header, data), 1):
                cells = []
                for column, (name, value) in enumerate(zip(header, values, strict=True)):
                    if value in (None, ""):
                        continue
                    reference = f"{letters[column]}{number}"
                    if number > 1 and name in XLSX_AMOUNTS:
                        cells.append(f'<c r="{reference}"><v>{float(value)!r}</v></c>')
                    elif number > 1 and name.endswith("_date"):
                        serial = (date.fromisoformat(value) - epoch).days
                        cells.append(f'<c r="{reference}" s="1"><v>{serial}</v></c>')
                    else:
                        index = strings.setdefault(value, len(strings))
                        uses += 1
                        cells.append(f'<c r="{reference}" t="s"><v>{index}</v></c>')
                span = f"1:{len(header)}"
                sheet.write(f'<row r="{number}" spans="{span}">{"".join(cells)}</row>'.encode())
            sheet.write(b"</sheetData></worksheet>")
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as shared:
            shared.write(
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{_SHEET_NS}"'
                f' count="{uses}" uniqueCount="{len(strings)}">'.encode()
            )
            block: list[str] = []
            for text in strings:
                block.append(f"<si><t>{_xml_text(text)}</t></si>")
                if len(block) >= 10_000:
                    shared.write("".join(block).encode())
                    block.clear()
            shared.write(("".join(block) + "</sst>").encode())
        archive.writestr(
            "xl/styles.xml",
            f'<styleSheet xmlns="{_SHEET_NS}"><fonts count="1"><font><sz val="11"/>'
            '<name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill '
            'patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
            '</fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/>'
            '</border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" '
            'fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0" '
            'fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="14" fontId="0" '
            'fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs><cellStyles '
            'count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            "</styleSheet>",
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{_SHEET_NS}" xmlns:r="{_REL_NS}"><sheets>'
            '<sheet name="Cartera" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{_PACKAGE_RELS}">'
            f'<Relationship Id="rId1" Type="{_REL_NS}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_REL_NS}/sharedStrings" Target="sharedStrings.xml"/>'
            f'<Relationship Id="rId3" Type="{_REL_NS}/styles" Target="styles.xml"/>'
            "</Relationships>",
        )
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{_PACKAGE_RELS}"><Relationship Id="rId1" '
            f'Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_CT}.worksheet+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_CT}.sharedStrings+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.styles+xml"/></Types>',
        )


def _rows(header: list[str], data: Iterator[list[str]]) -> Iterator[list[str]]:
    yield header
    yield from data


class StatementTimer:
    """Each statement an engine runs, with its parameters and seconds: listen ``before`` and
    ``after`` as the engine's ``before_cursor_execute`` and ``after_cursor_execute`` (BEGIN
    and COMMIT are not cursor statements and are not counted)."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any, float]] = []
        self._started = 0.0

    def before(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self._started = time.perf_counter()

    def after(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.statements.append((statement, parameters, time.perf_counter() - self._started))
