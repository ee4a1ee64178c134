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
        ["work.py", "--accounts", "3000", "--interactions", "15000", "--requests", "10",
         "--claims", "2", "--smoke"],
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
    env = dict(os.environ)
    sys.path.insert(0, str(BENCH))
    from common import results_path

    target = results_path()
    failed: list[str] = []
    for part in chosen:
        full, smoke = PARTS[part]
        script, *rest = smoke if args.smoke else full
        print(f"== {part}: {script} {' '.join(rest)}", flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(BENCH / script), *rest], env=env, check=False)
        print(f"== {part}: {time.perf_counter() - started:.1f} s", flush=True)
        if done.returncode != 0:
            failed.append(part)
    from report import report

    report(target)
    if failed:
        sys.exit(f"parts failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
