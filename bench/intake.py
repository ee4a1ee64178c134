"""Intake benchmark: a CSV push end to end (store, validate, COPY, merge) against a raw
asyncpg ``copy_records_to_table`` of the same rows into an unindexed staging table.

    python bench/intake.py --rows 100000          # throughput, both ways, same run
    python bench/intake.py --rows 1000000 --memory-only   # peak RSS of a 1M-row push

Runs on CARTERA_DATABASE_URL when set, otherwise on a throwaway embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import HEADER, database, save_result, write_csv

from app import migrations
from app.config import get_settings
from app.db import open_database
from app.models.partner import Partner, PartnerBucket
from app.security import SYSTEM
from app.services import assignments, file_kit
from app.services.tabular_uploads import SourceFormat


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while piece := handle.read(256 * 1024):
            yield piece


MONEY_COLUMNS = ("amount", "principal", "interest", "fees", "total")


def _sql_type(name: str) -> str:
    if name.endswith(MONEY_COLUMNS):
        return "numeric(18,2)"
    return "date" if name.endswith("date") else "text"


def typed(record: list[str]) -> tuple[object, ...]:
    """A CSV record with the column types the staging table has."""
    out: list[object] = []
    for name, value in zip(HEADER, record, strict=True):
        if value == "":
            out.append(None)
        elif name.endswith(MONEY_COLUMNS):
            out.append(Decimal(value))
        elif name.endswith("date"):
            out.append(date.fromisoformat(value))
        else:
            out.append(value)
    return tuple(out)


async def raw_copy(url: str, path: Path) -> float:
    """Seconds to read the CSV and COPY it into an unindexed table with asyncpg."""
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        columns = ", ".join(f"{name} {_sql_type(name)}" for name in HEADER)
        await connection.execute(
            f"DROP TABLE IF EXISTS bench_raw; CREATE UNLOGGED TABLE bench_raw ({columns})"
        )
        started = time.perf_counter()
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            batch: list[tuple[object, ...]] = []
            for record in reader:
                batch.append(typed(record))
                if len(batch) == 5000:
                    await connection.copy_records_to_table(
                        "bench_raw", records=batch, columns=HEADER
                    )
                    batch.clear()
            if batch:
                await connection.copy_records_to_table("bench_raw", records=batch, columns=HEADER)
        elapsed = time.perf_counter() - started
        await connection.execute("DROP TABLE bench_raw")
        return elapsed
    finally:
        await connection.close()


async def probe(db: object, stop: asyncio.Event, latencies: list[float]) -> None:
    """Meanwhile, on the same event loop, a query every 50 ms: how long does another
    request wait while the push is being processed?"""
    from sqlalchemy import text

    while not stop.is_set():
        tick = time.perf_counter()
        async with db.engine.connect() as connection:  # type: ignore[attr-defined]
            await connection.execute(text("SELECT 1"))
        latencies.append(time.perf_counter() - tick)
        await asyncio.sleep(0.05)


def _workers_peak_rss_mib() -> list[int]:
    """Each validation worker's peak resident memory (VmHWM), MiB."""
    from app.services import assignment_staging

    pool = assignment_staging._pool
    peaks: list[int] = []
    for pid in list(getattr(pool, "_processes", None) or {}):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(round(int(line.split()[1]) / 1024))
    return peaks


async def push(
    url: str, path: Path, key: str, workers: int | None, *, dry_run: bool = False
) -> tuple[float, dict[str, object]]:
    """Seconds for submit (store the upload) + process (validate, COPY, merge), committed;
    with ``dry_run``, a dry run of the same file first (its seconds in the counts)."""
    settings = get_settings()
    db = open_database(url, settings)
    try:
        async with db.sessionmaker() as session, session.begin():
            partner = await session.get(Partner, PARTNER_ID)
            if partner is None:
                partner = Partner(
                    id=PARTNER_ID, legal_name="Banco Bench", tax_id="BBE9901017Q3", country="MX",
                    currency="MXN", time_zone="America/Mexico_City",
                )  # fmt: skip
                session.add(partner)
                await session.flush()
                for product in ("revolving", "installment", "single_payment"):
                    session.add(PartnerBucket(
                        partner_id=PARTNER_ID, product_type=product, early_from=1, mid_from=30,
                        late_from=60, nonaccrual_from=90, chargeoff_from=180,
                    ))  # fmt: skip
        # The pool's processes start once per job process, not per push: started (and timed)
        # before the push is.
        from app.services import assignment_staging

        tick = time.perf_counter()
        await assignment_staging.start(
            assignment_staging.configured_workers() if workers is None else workers
        )
        pool_start_seconds = time.perf_counter() - tick
        dry: dict[str, object] = {}
        if dry_run:
            # The same file as a dry run first (validated in the same pool, nothing stored).
            tick = time.perf_counter()
            async with db.sessionmaker() as session, session.begin():
                report = await file_kit.dry_run_assignment(
                    session, SYSTEM, PARTNER_ID, SourceFormat.CSV, file_chunks(path),
                    max_json_bytes=settings.max_json_push_bytes, workers=workers,
                )  # fmt: skip
            dry = {
                "dry_run_seconds": round(time.perf_counter() - tick, 2),
                "dry_run_accepted": report.accepted,
                "dry_run_rejected": report.rejected,
            }
        stop = asyncio.Event()
        latencies: list[float] = []
        prober = asyncio.create_task(probe(db, stop, latencies))
        started = time.perf_counter()
        cpu = time.process_time()
        async with db.sessionmaker() as session, session.begin():
            assignment, _ = await assignments.submit_assignment(
                session, SYSTEM, PARTNER_ID, key, SourceFormat.CSV, file_chunks(path),
                max_json_bytes=settings.max_json_push_bytes,
            )  # fmt: skip
        async with db.sessionmaker() as session, session.begin():
            done = await assignments.process_assignment(session, assignment.id, workers=workers)
        elapsed = time.perf_counter() - started
        job_cpu = time.process_time() - cpu
        stop.set()
        await prober
        counts: dict[str, object] = {
            k: getattr(done, k) for k in ("received", "created", "updated", "unchanged", "rejected")
        }
        latencies.sort()
        counts["probe_queries"] = len(latencies)
        counts["probe_p50_ms"] = round(latencies[len(latencies) // 2] * 1000, 1)
        counts["probe_p99_ms"] = round(latencies[int(len(latencies) * 0.99)] * 1000, 1)
        counts["probe_max_ms"] = round(latencies[-1] * 1000, 1)
        counts["workers_peak_rss_mib"] = _workers_peak_rss_mib()
        counts["pool_start_seconds"] = round(pool_start_seconds, 2)
        # CPU of the job process itself over the push (its own threads; not the workers').
        counts["job_process_cpu_seconds"] = round(job_cpu, 2)
        counts.update(dry)
        return elapsed, counts
    finally:
        await db.dispose()


import uuid

PARTNER_ID = uuid.UUID("01a20000-0000-7000-8000-00000000b001")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--memory-only", action="store_true", help="only the push; report peak RSS")
    parser.add_argument(
        "--workers", type=int, default=None, help="validation processes (default: the setting)"
    )
    args = parser.parse_args()
    as_of = datetime.now(UTC).date() - timedelta(days=1)
    with tempfile.TemporaryDirectory() as folder, database() as url:
        migrations.upgrade(url)
        path = Path(folder) / "push.csv"
        size = write_csv(path, args.rows, as_of=as_of, prefix=f"R{args.rows}")
        from app.services.assignment_staging import configured_workers

        workers = configured_workers() if args.workers is None else args.workers
        result: dict[str, object] = {
            "rows": args.rows,
            "csv_bytes": size,
            "intake_workers": workers,
            "load_average_before": list(os.getloadavg()),
        }
        if not args.memory_only:
            raw = asyncio.run(raw_copy(url, path))
            result["raw_copy_seconds"] = round(raw, 2)
            result["raw_copy_rows_per_second"] = round(args.rows / raw)
        elapsed, counts = asyncio.run(
            push(url, path, f"bench-{time.time()}", workers, dry_run=not args.memory_only)
        )
        result["push_seconds"] = round(elapsed, 2)
        result["push_rows_per_second"] = round(args.rows / elapsed)
        result["counts"] = counts
        if not args.memory_only:
            result["push_vs_raw_copy"] = round(raw / elapsed, 3)
            # A dry run of the same file against the push (validation only, nothing stored).
            result["dry_run_vs_push"] = round(counts["dry_run_seconds"] / elapsed, 3)  # type: ignore[operator]
        result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        worker_peaks = counts.pop("workers_peak_rss_mib")
        assert isinstance(worker_peaks, list)
        result["workers_peak_rss_mib"] = worker_peaks
        # The push's whole footprint: the job process and every validation worker at their peaks.
        result["peak_rss_with_workers_mib"] = result["peak_rss_mib"] + sum(worker_peaks)  # type: ignore[operator]
        result["load_average_after"] = list(os.getloadavg())
        print(json.dumps(result, indent=2))
        save_result("intake_memory" if args.memory_only else "intake", result)


if __name__ == "__main__":
    main()
