"""Every benchmark part, one after the other, each in its own process and on its own throwaway
database, into one results file; then the Markdown table and the chart (``report.py``).

    python bench/run.py                  # what `make bench` runs (the 1M-row parts take minutes)
    python bench/run.py --smoke          # tiny sizes, every code path, under a minute
    python bench/run.py --parts api,workers

Figures go to bench/results/<date>-<host>.json (a smoke run: <date>-<host>-smoke.json).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from forker import Forker

BENCH = Path(__file__).resolve().parent

# part -> (full arguments, smoke arguments)
PARTS: dict[str, tuple[list[str], list[str]]] = {
    # Smoke: one validation process (the pool's code path; each process imports the app).
    "intake": (["intake.py", "--rows", "100000"], ["intake.py", "--rows", "300", "--workers", "1"]),
    "intake_memory": (
        ["intake.py", "--rows", "1000000", "--memory-only"],
        ["intake.py", "--rows", "300", "--memory-only", "--workers", "1"],
    ),
    "aging": (
        ["aging.py", "--accounts", "1000000"],
        ["aging.py", "--accounts", "2000", "--rounds", "1"],
    ),
    "ledger": (
        ["ledger.py", "--accounts", "1000000"],
        ["ledger.py", "--accounts", "2000", "--rounds", "1"],
    ),
    "contact_check": (
        ["contact_check.py", "--requests", "2000"],
        ["contact_check.py", "--requests", "20"],
    ),
    "work": (
        ["work.py"],
        ["work.py", "--accounts", "1000", "--interactions", "5000", "--requests", "10",
         "--concurrent", "4", "--claims", "2", "--smoke"],
    ),
    "jobs": (
        ["jobs.py", "--uploads", "400", "--partners", "50"],
        ["jobs.py", "--uploads", "20", "--partners", "5", "--rounds", "1"],
    ),
    # One seeded database for both halves of the api part. Smoke: a light load (2
    # connections, 10 ms between requests), a run made again (3 times at most) while it
    # answers nothing: a cold server's first requests on a busy machine take seconds.
    "api": (
        ["api.py", "--part", "both"],
        ["api.py", "--part", "both", "--accounts", "300", "--duration", "1", "--warmup", "0",
         "--connections", "2", "--pause-ms", "10", "--retries", "3", "--samples", "3", "--smoke"],
    ),
}  # fmt: skip
# The parts that load the demo: a smoke run gives them a copy of a database where it is loaded.
DEMO_PARTS = frozenset({"contact_check", "work", "api"})
# A smoke run's settings for a part: the api part's few hundred rows are staged in a thread
# of their own (starting the intake processes took longer than their work; the intake parts
# still go through them).
SMOKE_ENV: dict[str, dict[str, str]] = {"api": {"CARTERA_INTAKE_WORKERS": "0"}}
# A smoke run's order: the longest first, as soon as its database is ready. The api part is
# the longest (its servers' start-up, then a second of load per endpoint and worker count)
# and starts at once: its servers start while the demo loads, and its database is created
# once the demo is (it waits for it). The parts without the demo run while it loads.
SMOKE_ORDER = ["api", "intake", "intake_memory", "work", "contact_check", "ledger", "aging", "jobs"]
EARLY_PARTS = frozenset({"api"})
# How long a part started before its database exists waits for it, at most.
EARLY_WAIT_SECONDS = "300"
# Parts a smoke run runs side by side (the machine's two vCPUs).
SMOKE_LANES = 2

_PRINTING = threading.Lock()
RUN_STARTED = time.perf_counter()


def run_part(
    part: str,
    smoke: bool,
    env: dict[str, str],
    *,
    forker: Forker | None = None,
    logs: Path | None = None,
) -> int:
    """One part in a process of its own; its exit status. With ``forker`` (a smoke run), in a
    child forked from it, its output held and printed whole when it ends (parts running side
    by side do not interleave)."""
    full, small = PARTS[part]
    script, *rest = small if smoke else full
    env = env | (SMOKE_ENV.get(part, {}) if smoke else {})
    command = f"{script} {' '.join(rest)}"
    started = time.perf_counter()
    if forker is not None:
        assert logs is not None
        log = logs / f"{part}.log"
        status, cpu = forker.run(str(BENCH / script), rest, env, log)
        output = log.read_text(encoding="utf-8", errors="replace")
    else:
        print(f"== {part}: {command}", flush=True)
        process = subprocess.Popen([sys.executable, str(BENCH / script), *rest], env=env)
        # Its CPU, and that of the processes it started and waited for (servers, pools).
        _, wait_status, usage = os.wait4(process.pid, 0)
        process.returncode = status = os.waitstatus_to_exitcode(wait_status)
        cpu = usage.ru_utime + usage.ru_stime
    with _PRINTING:
        if forker is not None:
            print(f"== {part}: {command}\n{output}", end="", flush=True)
        print(
            f"== {part}: {time.perf_counter() - started:.1f} s "
            f"(from {started - RUN_STARTED:.1f} s, CPU {cpu:.1f} s)",
            flush=True,
        )
    return status


def smoke_on_one_server(chosen: list[str]) -> list[str]:
    """A smoke run on one embedded server (:class:`common.SmokeDatabases`), each part in a
    child of the forker (:class:`forker.Forker`, which imports the scripts once), two parts
    at a time, each on a fresh copy of its database, in :data:`SMOKE_ORDER` as soon as its
    database is ready (the parts without the demo run while it loads, the api part starts
    at once); the names of those that failed. Smoke figures mean nothing, so parts sharing
    the machine costs nothing but keeps the run short."""
    from forker import Forker

    started = time.perf_counter()
    # Started first: it imports the scripts while this process imports the app and migrates.
    scripts = sorted({PARTS[part][1][0] for part in chosen})
    with (
        Forker(scripts) as forker,
        tempfile.TemporaryDirectory(prefix="cartera-smoke-") as logs,
    ):
        from common import SmokeDatabases

        with SmokeDatabases() as shared, ThreadPoolExecutor(SMOKE_LANES + 1) as pool:
            print(f"== databases: migrated in {time.perf_counter() - started:.1f} s", flush=True)
            seeded = pool.submit(shared.load_demo)
            waiting = sorted(chosen, key=SMOKE_ORDER.index)
            status: dict[str, int] = {}
            picking = threading.Lock()

            def next_part() -> str | None:
                while True:
                    with picking:
                        ready = [
                            p
                            for p in waiting
                            if p not in DEMO_PARTS or p in EARLY_PARTS or seeded.done()
                        ]
                        if ready:
                            waiting.remove(ready[0])
                            return ready[0]
                        if not waiting:
                            return None
                    time.sleep(0.2)

            def lane() -> None:
                while (part := next_part()) is not None:
                    with_demo = part in DEMO_PARTS
                    early = with_demo and not seeded.done()
                    if with_demo and not early:
                        seeded.result()  # its failure ends the run
                    env = dict(os.environ)
                    if early:
                        env["BENCH_DATABASE_WAIT"] = EARLY_WAIT_SECONDS
                    with shared.copy(with_demo=with_demo, demo=seeded if early else None) as url:
                        env["CARTERA_DATABASE_URL"] = url
                        status[part] = run_part(part, True, env, forker=forker, logs=Path(logs))

            lanes = [pool.submit(lane) for _ in range(SMOKE_LANES)]
            seeded.result()
            print(f"== databases: demo loaded at {time.perf_counter() - started:.1f} s", flush=True)
            for running in lanes:
                running.result()
            print(f"== databases: PostgreSQL CPU {shared.cpu_seconds():.1f} s", flush=True)
    return [part for part in chosen if status.get(part) != 0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds of load")
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated, of: {', '.join(PARTS)}"
    )
    args = parser.parse_args()
    chosen = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(chosen) - set(PARTS)
    if unknown:
        sys.exit(f"unknown parts: {', '.join(sorted(unknown))}")
    if args.smoke:
        name = f"{date.today().isoformat()}-{socket.gethostname()}-smoke.json"
        os.environ["BENCH_RESULTS"] = str(BENCH / "results" / name)
        Path(os.environ["BENCH_RESULTS"]).unlink(missing_ok=True)
    sys.path.insert(0, str(BENCH))
    sys.path.insert(0, str(BENCH.parent))
    from common import results_path

    target = results_path()
    run_started = time.perf_counter()
    if args.smoke and not os.environ.get("CARTERA_DATABASE_URL"):
        failed = smoke_on_one_server(chosen)
    else:
        failed = [part for part in chosen if run_part(part, args.smoke, dict(os.environ)) != 0]
    print(f"== all parts: {time.perf_counter() - run_started:.1f} s", flush=True)
    from report import report

    report(target)
    if failed:
        sys.exit(f"parts failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
