"""Jobs claimed per second: the job worker taking queued uploads, with the processing itself
replaced by marking the upload completed, so what is measured is the queue: claiming a job,
starting the upload, recording the outcome, and (procrastinate) fetching, the lock and the
job's own bookkeeping.

    python bench/jobs.py --uploads 400 --partners 50

Runs against whichever worker the code on ``PYTHONPATH`` has: the home-made queue
(``app.jobs.worker.process_next``, main before issue 21) or procrastinate. Each mode runs the
real worker loop (``run_worker``) until every upload is completed: ``1`` one worker taking one
job at a time, ``4`` four at once (four loops of the old worker in one process, as four
``cartera worker`` processes would; ``CARTERA_WORKER_CONCURRENCY=4`` for procrastinate).
Uploads are spread round-robin over the partners (a partner's uploads go one at a time in
both queues). The figure is uploads / seconds from the worker's start to the last upload
completed (the server's clock: its ``finished_at``), the median of ``--rounds`` rounds; the
load average is recorded before and after.
Beside it, the CPU each job cost: this process's (the worker and the bench's poll for the
end, which both queues pay alike) and PostgreSQL's (the postmaster and its backends), in
milliseconds per job, medians of the rounds. They depend far less on what else the machine
runs than jobs per second do.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import common
from sqlalchemy import text

from app import migrations
from app.config import get_settings
from app.db import Database, open_database
from app.jobs import worker
from app.models.assignment import Assignment
from app.models.partner import Partner
from app.services import uploads

PROCRASTINATE = not hasattr(worker, "process_next")


async def _complete(session: Any, upload_id: uuid.UUID, **_: Any) -> Any:
    """The stand-in for processing: the upload is done, nothing else."""
    await session.execute(
        text(
            "UPDATE assignment SET status = 'completed', finished_at = clock_timestamp()"
            " WHERE id = :id"
        ),
        {"id": upload_id},
    )
    return SimpleNamespace(status="completed", received=0)


def _stub_processing() -> None:
    if PROCRASTINATE:
        from app.jobs import tasks

        tasks._PUSH = dataclasses.replace(tasks._PUSH, process=_complete)
    else:
        worker._JOBS = tuple(  # type: ignore[attr-defined]
            dataclasses.replace(job, process=_complete) if job.name == "assignment" else job
            for job in worker._JOBS  # type: ignore[attr-defined]
        )


async def _queue(database: Database, partners: list[uuid.UUID], count: int) -> None:
    async with database.sessionmaker() as session, session.begin():
        for n in range(count):
            partner = partners[n % len(partners)]
            upload = Assignment(partner_id=partner, idempotency_key=uuid.uuid4().hex,
                                body_sha256="0" * 64, body_bytes=0, source_format="csv",
                                submitted_by="bench")  # fmt: skip
            session.add(upload)
            await session.flush()
            if PROCRASTINATE:
                await uploads.enqueue(session, uploads.ASSIGNMENTS, upload.id, partner)


async def _left(database: Database) -> int:
    async with database.sessionmaker() as session:
        return int(
            await session.scalar(
                text("SELECT count(*) FROM assignment WHERE status <> 'completed'")
            )
        )


async def _server_clock(database: Database, last_finished: bool = False) -> float:
    statement = "SELECT extract(epoch FROM clock_timestamp())"
    if last_finished:
        statement = "SELECT extract(epoch FROM max(finished_at)) FROM assignment"
    async with database.sessionmaker() as session:
        return float(await session.scalar(text(statement)))


def _cpu_seconds(pid: int, *, children: bool) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    spent = int(fields[11]) + int(fields[12])
    if children:  # the backends that have ended
        spent += int(fields[13]) + int(fields[14])
    return spent / os.sysconf("SC_CLK_TCK")


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


async def _postmaster(database: Database) -> int:
    async with database.sessionmaker() as session:
        return _parent(int(await session.scalar(text("SELECT pg_backend_pid()"))))


def _server_cpu_seconds(postmaster: int) -> float:
    """The server's CPU so far: the postmaster, its ended backends and its live ones."""
    spent = _cpu_seconds(postmaster, children=True)
    for task in Path(f"/proc/{postmaster}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                spent += _cpu_seconds(int(child), children=False)
            except FileNotFoundError:  # ended meanwhile: now in the postmaster's figure
                continue
    return spent


async def _round(
    database: Database, partners: list[uuid.UUID], count: int, lanes: int, postmaster: int
) -> tuple[float, float, float]:
    """Jobs per second, then this process's and the server's CPU milliseconds per job."""
    settings = get_settings()
    await _queue(database, partners, count)
    stop = asyncio.Event()
    cpu_before, server_before = time.process_time(), _server_cpu_seconds(postmaster)
    started = await _server_clock(database)
    run: Any = worker.run_worker
    if PROCRASTINATE:
        loops = [run(database, stop=stop, settings=settings, concurrency=lanes, periodic=False)]
    else:
        # The old worker: one job at a time per loop; it polls every 50 ms when idle.
        loops = [
            run(database, stop=stop, settings=settings, poll_seconds=0.05) for _ in range(lanes)
        ]
    running = [asyncio.create_task(loop) for loop in loops]
    # Seldom, so the poll's own CPU stays a small part of the figures; the time is the
    # server's, from the start to the last upload's completion, not to the poll seeing it.
    while await _left(database):  # noqa: ASYNC110 (the database says when all are done)
        await asyncio.sleep(0.05)
    cpu = time.process_time() - cpu_before
    elapsed = await _server_clock(database, last_finished=True) - started
    server = _server_cpu_seconds(postmaster) - server_before
    stop.set()
    await asyncio.gather(*running)
    return count / elapsed, 1000 * cpu / count, 1000 * server / count


async def main(
    url: str, count: int, partner_count: int, rounds: int, concurrencies: list[int]
) -> dict[str, Any]:
    database = open_database(url, get_settings())
    _stub_processing()
    try:
        async with database.sessionmaker() as session, session.begin():
            partners = []
            for n in range(partner_count):
                partner = Partner(legal_name=f"Bench {n}", tax_id=f"BEN{n:010d}", country="MX",
                                  currency="MXN", time_zone="America/Mexico_City")  # fmt: skip
                session.add(partner)
                await session.flush()
                partners.append(partner.id)
        postmaster = await _postmaster(database)
        load_before = [round(x, 2) for x in os.getloadavg()]
        figures: dict[str, Any] = {}
        for lanes in concurrencies:
            per_round = [
                await _round(database, partners, count, lanes, postmaster) for _ in range(rounds)
            ]
            # A concurrency asked for again (``--concurrency 4,4``) is its own entry.
            key = str(lanes) if str(lanes) not in figures else f"{lanes} ({len(figures) + 1})"
            figures[key] = {
                "jobs_per_second": round(statistics.median(r[0] for r in per_round), 1),
                "rounds": [round(r[0], 1) for r in per_round],
                "cpu_ms_per_job": round(statistics.median(r[1] for r in per_round), 3),
                "server_cpu_ms_per_job": round(statistics.median(r[2] for r in per_round), 3),
            }
        return {
            "queue": "procrastinate" if PROCRASTINATE else "home-made (SKIP LOCKED on the upload)",
            "uploads": count,
            "partners": partner_count,
            "by_concurrency": figures,
            "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        }
    finally:
        await database.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--uploads", type=int, default=400)
    parser.add_argument("--partners", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,4", help="jobs at once, one pass each")
    parser.add_argument("--label", default="jobs", help="the part's name in the results file")
    args = parser.parse_args()
    import json
    import logging

    logging.disable(logging.INFO)
    with common.database() as url:
        migrations.upgrade(url)
        concurrencies = [int(n) for n in args.concurrency.split(",")]
        result = asyncio.run(main(url, args.uploads, args.partners, args.rounds, concurrencies))
    print(json.dumps(result))
    common.save_result(args.label, result)
