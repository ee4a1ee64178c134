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
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

BENCH = Path(__file__).resolve().parent

# part -> (full arguments, smoke arguments)
PARTS: dict[str, tuple[list[str], list[str]]] = {
    "intake": (["intake.py", "--rows", "100000"], ["intake.py", "--rows", "300"]),
    "intake_memory": (
        ["intake.py", "--rows", "1000000", "--memory-only"],
        ["intake.py", "--rows", "300", "--memory-only"],
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
    # One seeded database for both halves of the api part.
    "api": (
        ["api.py", "--part", "both"],
        ["api.py", "--part", "both", "--accounts", "300", "--duration", "1", "--warmup", "0",
         "--samples", "3", "--smoke"],
    ),
}  # fmt: skip
# The parts that load the demo: a smoke run gives them a copy of a database where it is loaded.
DEMO_PARTS = frozenset({"contact_check", "work", "api"})
# A smoke run's settings for a part: the api part's few hundred rows are staged in a thread
# of their own (starting the intake processes took longer than their work; the intake parts
# still go through them).
SMOKE_ENV: dict[str, dict[str, str]] = {"api": {"CARTERA_INTAKE_WORKERS": "0"}}
# How long a smoke part runs, roughly (the api part's servers, the work part's load).
SMOKE_WEIGHT = {"api": 3, "work": 2}


def run_part(part: str, smoke: bool, env: dict[str, str], *, capture: bool = False) -> int:
    """One part in a process of its own; its exit status. ``capture``: its output is held
    and printed whole when it ends (parts running side by side do not interleave)."""
    full, small = PARTS[part]
    script, *rest = small if smoke else full
    started = time.perf_counter()
    if not capture:
        print(f"== {part}: {script} {' '.join(rest)}", flush=True)
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *rest],
        env=env | (SMOKE_ENV.get(part, {}) if smoke else {}),
        check=False,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        text=True,
    )
    with _PRINTING:
        if capture:
            print(f"== {part}: {script} {' '.join(rest)}\n{done.stdout}", end="", flush=True)
        print(f"== {part}: {time.perf_counter() - started:.1f} s", flush=True)
    return done.returncode


_PRINTING = threading.Lock()
# Parts a smoke run runs side by side (the machine's two vCPUs).
SMOKE_LANES = 2


def smoke_on_one_server(chosen: list[str]) -> list[str]:
    """A smoke run on one embedded server (:class:`common.SmokeDatabases`): two parts at a
    time, each on a fresh copy of its database, the longest first as soon as its database is
    ready (the parts without the demo run while it loads); the names of those that failed.
    Smoke figures mean nothing, so parts sharing the machine costs nothing but keeps the run
    under a minute."""
    from common import SmokeDatabases

    started = time.perf_counter()
    with SmokeDatabases() as shared, ThreadPoolExecutor(max_workers=SMOKE_LANES + 1) as pool:
        print(f"== databases: migrated in {time.perf_counter() - started:.1f} s", flush=True)
        seeded = pool.submit(shared.load_demo)
        # Waiting parts, the longest first; one with the demo waits until it is loaded.
        waiting = sorted(chosen, key=lambda p: -SMOKE_WEIGHT.get(p, 0))
        status: dict[str, int] = {}
        picking = threading.Lock()

        def next_part() -> str | None:
            while True:
                with picking:
                    ready = [p for p in waiting if p not in DEMO_PARTS or seeded.done()]
                    if ready:
                        waiting.remove(ready[0])
                        return ready[0]
                    if not waiting:
                        return None
                time.sleep(0.2)

        def lane() -> None:
            while (part := next_part()) is not None:
                if part in DEMO_PARTS:
                    seeded.result()  # its failure ends the run
                with shared.copy(with_demo=part in DEMO_PARTS) as url:
                    env = dict(os.environ) | {"CARTERA_DATABASE_URL": url}
                    status[part] = run_part(part, True, env, capture=True)

        lanes = [pool.submit(lane) for _ in range(SMOKE_LANES)]
        seeded.result()
        print(f"== databases: demo loaded at {time.perf_counter() - started:.1f} s", flush=True)
        for running in lanes:
            running.result()
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
