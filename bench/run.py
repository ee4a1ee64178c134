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
import time
from contextlib import ExitStack
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
    from common import SmokeDatabases, results_path

    env = dict(os.environ)
    target = results_path()
    failed: list[str] = []
    run_started = time.perf_counter()
    with ExitStack() as stack:
        # A smoke run on the embedded server: one server, migrated and seeded once.
        shared = None
        if args.smoke and not env.get("CARTERA_DATABASE_URL"):
            print("== databases: one embedded server, migrated, the demo loaded", flush=True)
            started = time.perf_counter()
            shared = stack.enter_context(SmokeDatabases())
            print(f"== databases: {time.perf_counter() - started:.1f} s", flush=True)
        for part in chosen:
            full, smoke = PARTS[part]
            script, *rest = smoke if args.smoke else full
            print(f"== {part}: {script} {' '.join(rest)}", flush=True)
            started = time.perf_counter()
            with ExitStack() as database:
                if shared is not None:
                    env["CARTERA_DATABASE_URL"] = database.enter_context(
                        shared.copy(with_demo=part in DEMO_PARTS)
                    )
                extra = SMOKE_ENV.get(part, {}) if args.smoke else {}
                done = subprocess.run(
                    [sys.executable, str(BENCH / script), *rest], env=env | extra, check=False
                )
            print(f"== {part}: {time.perf_counter() - started:.1f} s", flush=True)
            if done.returncode != 0:
                failed.append(part)
    print(f"== all parts: {time.perf_counter() - run_started:.1f} s", flush=True)
    from report import report

    report(target)
    if failed:
        sys.exit(f"parts failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
