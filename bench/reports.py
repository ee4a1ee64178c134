"""The reports alone, on a database an earlier ``bench/work.py`` run loaded and snapshotted
(issue 20, "reports from snapshots"): nothing is loaded, taken or deleted.

    CARTERA_DATABASE_URL=postgresql+asyncpg://... python bench/reports.py
    python bench/reports.py --repeat 5 --only recovery,agents --explain recovery
    python bench/reports.py --history      # also the event-based reading, answers compared

Each report is asked as the manager through the app in process (httpx ``ASGITransport``, as
``bench/work.py`` does), over the same periods as work.py (roll rates and recovery the last
30 days, agents the last 7, commissions this month), ``--repeat`` times: the best and the
median seconds, the statements and a digest of the answer. ``--history`` asks each one again
with the snapshots ignored (``from_snapshots=False``, what the reports read before them) and
says whether the digests agree (``same_answers``). ``--explain`` runs ``EXPLAIN (ANALYZE,
BUFFERS)`` on the longest statement of the named reports (default: the slowest one).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from common import StatementTimer, database, save_result
from httpx import ASGITransport, AsyncClient
from sqlalchemy import event
from work import API, _token, explain

from app.config import get_settings
from app.db import open_database
from app.main import create_app
from app.services import reports as service

SNAPSHOT_READERS = ("roll_rates", "recovery", "agents")


def _paths() -> dict[str, str]:
    today = datetime.now(UTC).date()
    span30 = f"from={today - timedelta(days=29)}&to={today}"
    span7 = f"from={today - timedelta(days=6)}&to={today}"
    return {
        "aging": f"{API}/reports/aging",
        "roll_rates": f"{API}/reports/roll-rates?{span30}",
        "recovery": f"{API}/reports/recovery?{span30}",
        "agents": f"{API}/reports/agents?{span7}",
        "commissions": f"{API}/reports/commissions?period={today:%Y-%m}",
    }


def _digest(items: Any) -> str:
    return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()


def _head(statement: str) -> str:
    return " ".join(statement.split())[:60]


async def _plan_text(db: Any, statement: str, parameters: Any) -> list[str]:
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        rows = await raw.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", *(parameters or ()))
    return [r[0] for r in rows]


async def measure(
    url: str, names: list[str], repeat: int, history: bool, plans: list[str], plan_dir: str
) -> dict:
    settings = get_settings().model_copy(update={"log_level": "WARNING"})
    db = open_database(url, settings)
    timer = StatementTimer()
    statements, before, after = timer.statements, timer.before, timer.after

    paths = {name: path for name, path in _paths().items() if name in names}
    result: dict[str, Any] = {}
    longest: dict[str, tuple[str, Any, float]] = {}
    try:
        app = create_app(settings, db)
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://bench") as client:
            manager = await _token(client, "manager")

            async def run(label: str) -> dict[str, Any]:
                timed: dict[str, Any] = {"load_average": [round(x, 2) for x in os.getloadavg()]}
                event.listen(db.engine.sync_engine, "before_cursor_execute", before)
                event.listen(db.engine.sync_engine, "after_cursor_execute", after)
                try:
                    for name, path in paths.items():
                        seconds: list[float] = []
                        digests: set[str] = set()
                        for _ in range(repeat):
                            statements.clear()
                            started = time.perf_counter()
                            answer = await client.get(path, headers=manager)
                            seconds.append(time.perf_counter() - started)
                            assert answer.status_code == 200, (path, answer.text)
                            body = answer.json()
                            items = body.get("items", body)
                            digests.add(_digest(items))
                        timed[name] = {
                            "best_s": round(min(seconds), 3),
                            "median_s": round(statistics.median(seconds), 3),
                            "runs_s": [round(s, 3) for s in seconds],
                            "rows": len(items) if isinstance(items, list) else None,
                            "statements": len(statements),
                            "statement_s": [[round(t, 3), _head(q)] for q, _, t in statements],
                            "answer_sha256": sorted(digests)[0][:16],
                            "stable_answer": len(digests) == 1,
                        }
                        if label == "snapshots":
                            longest[name] = max(statements, key=lambda s: s[2])
                        print(f"{name} ({label}):", json.dumps(timed[name]), flush=True)
                finally:
                    event.remove(db.engine.sync_engine, "before_cursor_execute", before)
                    event.remove(db.engine.sync_engine, "after_cursor_execute", after)
                return timed

            result["reports"] = await run("snapshots")
            if history:
                saved = {name: getattr(service, name) for name in SNAPSHOT_READERS}
                try:
                    for name, function in saved.items():
                        setattr(service, name, functools.partial(function, from_snapshots=False))
                    result["reports_from_history"] = await run("history")
                finally:
                    for name, function in saved.items():
                        setattr(service, name, function)
                result["same_answers"] = {
                    name: result["reports"][name]["answer_sha256"]
                    == result["reports_from_history"][name]["answer_sha256"]
                    for name in paths
                }
                print("same answers:", json.dumps(result["same_answers"]), flush=True)
        timed = {k: v for k, v in result["reports"].items() if k != "load_average"}
        for name in plans or [max(timed, key=lambda k: timed[k]["best_s"])]:
            statement, parameters, _ = longest[name]
            plan = await explain(db, statement, parameters)
            if plan_dir:
                lines = await _plan_text(db, statement, parameters)
                (Path(plan_dir) / f"{name}.plan.txt").write_text("\n".join(lines) + "\n")
                (Path(plan_dir) / f"{name}.sql").write_text(
                    f"{statement}\n-- parameters: {parameters!r}\n"
                )
            result.setdefault("plans", {})[name] = plan
            print(f"plan of {name}'s longest statement:", flush=True)
            print(json.dumps(plan["hotspots"], indent=1), flush=True)
            print("\n".join(plan["plan_head"] + plan["plan_tail"]), flush=True)
        return result
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3, help="times each report is asked")
    parser.add_argument("--only", default="", help="comma-separated report names")
    parser.add_argument("--history", action="store_true", help="compare with history")
    parser.add_argument("--explain", default="", help="reports to EXPLAIN (default: slowest)")
    parser.add_argument("--plan-dir", default="", help="write each explained plan and SQL here")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(_paths())
    plans = [n.strip() for n in args.explain.split(",") if n.strip()]
    with database() as url:
        result = asyncio.run(measure(url, names, args.repeat, args.history, plans, args.plan_dir))
    result["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    if not args.no_save:
        save_result("reports", result)


if __name__ == "__main__":
    main()
