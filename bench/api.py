"""API benchmark: the real app served by uvicorn in its own process, on PostgreSQL seeded with
the demo data plus generated Mexican and Colombian portfolios, under wrk (a load generator
outside the app), side by side with a bare ASGI "hello" app served with the same uvicorn
settings as the ceiling.

    python bench/api.py                       # the api part: every endpoint, 64 connections
    python bench/api.py --part workers        # the workers part: 1 and 2 uvicorn workers
    python bench/api.py --part both           # both on one seeded database (what run.py does)
    python bench/api.py --accounts 2000 --duration 3 --smoke   # a few seconds, tiny data

For each endpoint: requests per second, p50/p99 latency, the ratio to the bare endpoint's
throughput, and SQL statements per request (counted in process with a SQLAlchemy event on the
same database, before the load). Runs on CARTERA_DATABASE_URL when set, otherwise on a
throwaway embedded PostgreSQL. Needs ``wrk`` on PATH (``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from common import co_rows, database, rows, save_result, wait_for_database, write_rows_csv
from sqlalchemy import event, select, text

from app import migrations
from app.config import get_settings
from app.db import open_database
from app.models.partner import Partner
from app.models.user import User
from app.security import SYSTEM
from app.services import assignments, demo
from app.services.tabular_uploads import SourceFormat

ENDPOINTS = {
    "hello": "GET / (bare ASGI app)",
    "healthz": "GET /healthz (the framework and middleware floor)",
    "get_account": "GET /api/v1/accounts/{id}",
    "list": "GET /api/v1/accounts?limit=50",
    "contact_check": "POST /api/v1/accounts/{id}/contact-check",
    "interaction": "POST /api/v1/accounts/{id}/interactions",
}
CONNECTIONS = 64
STARTED = time.perf_counter()


def since() -> str:
    """When, in the run: progress lines say it."""
    return f"(at {time.perf_counter() - STARTED:.1f} s)"


@dataclass(frozen=True)
class Load:
    """What wrk does in each run: ``duration`` seconds (whole, at least 1) after ``warmup``
    seconds, over ``connections``, each waiting ``pause_ms`` before each request (0: none; a
    smoke run's light load). A run that answered no request is made again, up to ``retries``
    times (a smoke run: a server's first requests, on a busy machine, can take longer than
    its one second; a broken endpoint answers errors, and one that never answers still
    fails)."""

    duration: float
    warmup: float
    connections: int = CONNECTIONS
    pause_ms: int = 0
    retries: int = 0

    def describe(self) -> str:
        pause = f", {self.pause_ms} ms between requests" if self.pause_ms else ""
        return f"wrk -t2 -c{self.connections} -d{max(1, round(self.duration))}s, api.lua{pause}"


USER = "phone1"  # a phone collector: every request goes through the visibility filter
PORTS = iter(range(18150, 18199))


# ---------------------------------------------------------------------------------------
# The data: the demo (users, partners, strategies, three weeks of gestiones) plus a generated
# Mexican and Colombian portfolio pushed through intake, all assigned to phone1.


async def _push(session: Any, partner_id: Any, path: Path, key: str) -> dict[str, int]:
    async def chunks() -> Any:
        with path.open("rb") as handle:
            while piece := handle.read(256 * 1024):
                yield piece

    assignment, _ = await assignments.submit_assignment(
        session, SYSTEM, partner_id, key, SourceFormat.CSV, chunks(), max_json_bytes=1 << 24
    )
    done = await assignments.process_assignment(session, assignment.id)
    return {k: getattr(done, k) for k in ("received", "created", "rejected")}


async def prepare(url: str, accounts: int, folder: Path) -> dict[str, Any]:
    settings = get_settings()
    db = open_database(url, settings)
    started = time.perf_counter()
    try:
        async with db.sessionmaker() as session, session.begin():
            await demo.seed(session)
        pushed: dict[str, Any] = {}
        async with db.sessionmaker() as session, session.begin():
            by_country = {p.country: p for p in (await session.scalars(select(Partner))).all()}
            today = datetime.now(UTC).date()
            mexican, colombian = accounts * 7 // 10, accounts - accounts * 7 // 10
            for country, records in (
                ("MX", rows(mexican, as_of=today, prefix="BMX")),
                ("CO", co_rows(colombian, as_of=today, prefix="BCO")),
            ):
                path = folder / f"{country}.csv"
                write_rows_csv(path, records)
                pushed[country] = await _push(
                    session, by_country[country].id, path, f"bench-api-{country}"
                )
        async with db.sessionmaker() as session, session.begin():
            user = (await session.scalars(select(User).where(User.username == USER))).one()
            team_id = await session.scalar(
                text("SELECT team_id FROM team_member WHERE user_id = :u"), {"u": user.id}
            )
            await session.execute(
                text(
                    "UPDATE account SET assigned_collector_id = :u, assigned_team_id = :t "
                    "WHERE assigned_collector_id IS NULL AND status = 'active'"
                ),
                {"u": user.id, "t": team_id},
            )
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
            shape = (
                await conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM account), (SELECT count(*) FROM debtor),"
                        " (SELECT count(*) FROM interaction),"
                        " (SELECT count(*) FROM account WHERE assigned_collector_id = :u),"
                        " (SELECT json_object_agg(stage, n) FROM (SELECT stage, count(*) AS n"
                        "  FROM account GROUP BY stage) s)"
                    ),
                    {"u": user.id},
                )
            ).one()
            ids = [
                str(r[0])
                for r in await conn.execute(
                    text(
                        "SELECT id FROM account WHERE assigned_collector_id = :u "
                        "ORDER BY md5(id::text) LIMIT 5000"
                    ),
                    {"u": user.id},
                )
            ]
        return {
            "ids": ids,
            "data": {
                "accounts": shape[0],
                "debtors": shape[1],
                "interactions": shape[2],
                "assigned_to_user": shape[3],
                "stages": shape[4],
                "pushed": pushed,
                "seconds_to_seed": round(time.perf_counter() - started, 1),
            },
        }
    finally:
        await db.dispose()


# ---------------------------------------------------------------------------------------
# Statements per request, counted in process (the same app, the same database).


async def count_queries(url: str, ids: list[str], samples: int) -> dict[str, Any]:
    from httpx import ASGITransport, AsyncClient

    from app.main import create_app

    settings = get_settings().model_copy(update={"log_level": "WARNING"})
    db = open_database(url, settings)
    statements: list[str] = []

    def on_execute(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        app = create_app(settings, db)
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://bench") as client:
            token = (
                await client.post(
                    "/api/v1/auth/token", data={"username": USER, "password": demo.DEMO_PASSWORD}
                )
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}

            async def per_request(method: str, path: str, body: Any = None) -> float:
                statements.clear()
                for n in range(samples):
                    target = path.format(id=ids[(n * 31) % len(ids)])
                    response = await client.request(method, target, json=body, headers=headers)
                    assert response.status_code < 300, (target, response.text)
                return round(len(statements) / samples, 2)

            counts = {
                "get_account": await per_request("GET", "/api/v1/accounts/{id}"),
                "list": await per_request("GET", "/api/v1/accounts?limit=50"),
                "list_limit_10": await per_request("GET", "/api/v1/accounts?limit=10"),
                "list_limit_100": await per_request("GET", "/api/v1/accounts?limit=100"),
                "contact_check": await per_request(
                    "POST",
                    "/api/v1/accounts/{id}/contact-check",
                    {"channel": "call", "party": "debtor"},
                ),
                "interaction": await per_request(
                    "POST", "/api/v1/accounts/{id}/interactions", interaction_body()
                ),
            }
        return counts
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", on_execute)
        await db.dispose()


def interaction_body() -> dict[str, Any]:
    """What api.lua posts: the debtor calls in, an inbound right-party contact with its PCR."""
    return {
        "channel": "call",
        "direction": "inbound",
        "party": "debtor",
        "result_code": "RPC",
        "started_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "pcr": {
            "problem_category": "reduced_income",
            "problem": "Hours cut at work",
            "circumstance": "Lives with parents",
            "resolution": "Calls back on payday",
        },
    }


# ---------------------------------------------------------------------------------------
# Servers and load.


def uvicorn_args(port: int, workers: int) -> list[str]:
    """The one set of uvicorn settings every target of the run gets."""
    return [
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--no-access-log", "--log-level", "warning", "--backlog", "2048",
    ]  # fmt: skip


class Server:
    """The app (``app.main:create_app``) or the bare app (``hello:app``) served by uvicorn in a
    process of its own, launched at once; :meth:`ready` waits until it answers."""

    def __init__(self, kind: str, url: str, workers: int, logs: Path) -> None:
        port = next(PORTS)
        env = dict(os.environ)
        env.update(
            CARTERA_ENV=env.get("CARTERA_ENV", "development"),  # the development secrets
            CARTERA_DATABASE_URL=url,
            CARTERA_WORKER_IN_PROCESS="false",  # no background jobs competing with the load
            CARTERA_ACCESS_TOKEN_MINUTES="600",
        )
        if kind == "app":
            target = ["--factory", "app.main:create_app", "--app-dir", str(ROOT)]
        else:
            target = ["hello:app", "--app-dir", str(BENCH)]
        self.kind = kind
        self.base = f"http://127.0.0.1:{port}"
        self.log = (logs / f"{kind}-{workers}w-{port}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", *target, *uvicorn_args(port, workers)],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._ready = False

    def ready(self) -> str:
        """Its base URL, once it answers (the app's /healthz, the bare app's /)."""
        probe = "/healthz" if self.kind == "app" else "/"
        deadline = time.monotonic() + 120
        while not self._ready:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.base + probe, timeout=2) as answer:
                    self._ready = answer.status == 200
            except OSError:
                pass
            if not self._ready:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.kind} server did not start; see {self.log.name}")
                time.sleep(0.2)
        return self.base

    def stop(self) -> None:
        self.process.terminate()
        self.wait()

    def wait(self) -> None:
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


class Servers:
    """The run's servers. Each is started when a measurement needs it and stopped after (a
    full run: one process at a time beside the load), unless :meth:`launch` started it ahead,
    which a smoke run does so that its start-up, an import of the app per process and
    several seconds of CPU, overlaps the seeding and the other measurements; those stop at
    :meth:`close`."""

    def __init__(self, url: str, logs: Path) -> None:
        self.url = url
        self.logs = logs
        self._ahead: dict[tuple[str, int], Server] = {}

    def launch(self, kind: str, workers: int) -> None:
        if (kind, workers) not in self._ahead:
            self._ahead[kind, workers] = Server(kind, self.url, workers, self.logs)

    @contextmanager
    def serving(self, kind: str, workers: int) -> Iterator[str]:
        launched = self._ahead.get((kind, workers))
        if launched is not None:
            yield launched.ready()
            return
        started = Server(kind, self.url, workers, self.logs)
        try:
            yield started.ready()
        finally:
            started.stop()

    def close(self) -> None:
        for launched in self._ahead.values():
            launched.process.terminate()
        for launched in self._ahead.values():  # they stop side by side
            launched.wait()
        self._ahead.clear()


def login(base: str) -> str:
    body = f"username={USER}&password={demo.DEMO_PASSWORD}".encode()
    request = urllib.request.Request(base + "/api/v1/auth/token", data=body, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(json.load(answer)["access_token"])


def wrk(
    base: str, mode: str, ids_file: Path, token: str, duration: float, load: Load
) -> dict[str, Any]:
    """One wrk run; its figures from api.lua's done()."""
    connections = load.connections
    command = [
        "wrk", "-t", "2", "-c", str(connections), "-d", f"{max(1, round(duration))}s",
        "--timeout", "10s", "-s", str(BENCH / "api.lua"), base, "--", mode, str(ids_file), token,
        str(load.pause_ms),
    ]  # fmt: skip
    # The machine is shared: the 1-minute load average before the run says how quiet it was.
    load_before = round(os.getloadavg()[0], 2)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(x for x in output.splitlines() if x.startswith("WRKJSON "))
    raw = json.loads(line.removeprefix("WRKJSON "))
    seconds = raw["duration_us"] / 1e6
    errors = sum(
        raw[k] for k in ("connect_errors", "read_errors", "write_errors", "non_2xx_3xx", "timeouts")
    )
    return {
        "requests": raw["requests"],
        "rps": round(raw["requests"] / seconds, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        "errors": errors,
        "non_2xx": raw["non_2xx_3xx"],
        "connections": connections,
        "pause_ms": load.pause_ms,
        "seconds": round(seconds, 1),
        "load_average_before": load_before,
    }


def measure(
    kind: str, modes: list[str], servers: Servers, workers: int, ids_file: Path, load: Load
) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    with servers.serving(kind, workers) as base:
        token = login(base) if kind == "app" else "-"
        for mode in modes:
            if load.warmup:
                wrk(base, mode, ids_file, token, load.warmup, load)
            runs = 0
            while True:
                runs += 1
                figures = wrk(base, mode, ids_file, token, load.duration, load)
                if figures["requests"] or figures["errors"] or runs > load.retries:
                    break
            results[mode] = figures | ({"runs": runs} if runs > 1 else {})
            print(f"  {workers}w {mode:14} {json.dumps(results[mode])} {since()}", flush=True)
    return results


def api_part(servers: Servers, ids_file: Path, load: Load) -> dict[str, Any]:
    endpoints = measure("hello", ["hello"], servers, 1, ids_file, load)
    endpoints |= measure(
        "app",
        ["healthz", "get_account", "list", "contact_check", "interaction"],
        servers,
        1,
        ids_file,
        load,
    )
    ceiling = endpoints["hello"]["rps"]
    for name, figures in endpoints.items():
        figures["endpoint"] = ENDPOINTS[name]
        figures["ratio_to_bare"] = round(figures["rps"] / ceiling, 4) if ceiling else None
        figures["p99_over_p50"] = (
            round(figures["p99_ms"] / figures["p50_ms"], 2) if figures["p50_ms"] else None
        )
    return {"endpoints": endpoints}


def workers_part(
    servers: Servers, ids_file: Path, load: Load, one_worker: dict[str, Any] | None = None
) -> dict[str, Any]:
    """1 and 2 workers; the 1-worker figures of the api part of the same run when given."""
    runs: dict[str, Any] = {}
    if one_worker is not None:
        runs["1"] = {"hello": one_worker["hello"], "get_account": one_worker["get_account"]}
    for workers in (1, 2):
        if str(workers) in runs:
            continue
        hello = measure("hello", ["hello"], servers, workers, ids_file, load)
        app = measure("app", ["get_account"], servers, workers, ids_file, load)
        runs[str(workers)] = {"hello": hello["hello"], "get_account": app["get_account"]}
    one, two = runs["1"]["get_account"]["rps"], runs["2"]["get_account"]["rps"]
    one_hello = runs["1"]["hello"]["rps"]
    return {
        "endpoint": ENDPOINTS["get_account"],
        "by_workers": runs,
        "get_account_scaling_2_over_1": round(two / one, 3) if one else None,
        "hello_scaling_2_over_1": round(runs["2"]["hello"]["rps"] / one_hello, 3)
        if one_hello
        else None,
    }


def goals(api: dict[str, Any]) -> dict[str, Any]:
    """Issue 20's goals for the request path (ratios to the bare app in the same run)."""
    endpoints = api["endpoints"]
    read = endpoints["get_account"]
    return {
        "get_account_ratio_ge_0.10": read["ratio_to_bare"] >= 0.10,
        "get_account_p99_le_5x_p50": read["p99_ms"] <= 5 * read["p50_ms"],
        "contact_check_ratio_ge_0.05": endpoints["contact_check"]["ratio_to_bare"] >= 0.05,
        "interaction_ratio_ge_0.03": endpoints["interaction"]["ratio_to_bare"] >= 0.03,
        "healthz_ratio_ge_0.35": endpoints["healthz"]["ratio_to_bare"] >= 0.35,
    }


def failures(where: str, runs: dict[str, dict[str, Any]]) -> list[str]:
    """The runs whose figures are not figures: a request failed, or none was answered."""
    return [
        f"{where} {name}" + (" (no request answered)" if not run["requests"] else "")
        for name, run in runs.items()
        if run["errors"] or not run["requests"]
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=("api", "workers", "both"), default="api")
    parser.add_argument("--accounts", type=int, default=50_000, help="generated, 70%% MX")
    parser.add_argument("--duration", type=float, default=20, help="seconds of load per run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds before each run")
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help="wrk's, per run")
    parser.add_argument(
        "--pause-ms", type=int, default=0, help="each connection's pause before each request"
    )
    parser.add_argument(
        "--retries", type=int, default=0, help="times a run that answered nothing is made again"
    )
    parser.add_argument("--samples", type=int, default=20, help="requests per query count")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a smoke run: the figures labelled as such, the servers started ahead",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk (make bench does it)")
    load = Load(args.duration, args.warmup, args.connections, args.pause_ms, args.retries)
    with tempfile.TemporaryDirectory() as folder_name, database() as url:
        folder = Path(folder_name)
        logs = Path(tempfile.mkdtemp(prefix="cartera-bench-logs-"))
        servers = Servers(url, logs)
        try:
            if args.smoke:
                # Started now, ready by the time they are measured: the 1-worker servers
                # while run.py loads the demo, the 2-worker ones while the database is
                # seeded and the 1-worker runs are made.
                servers.launch("hello", 1)
                servers.launch("app", 1)
            # run.py's smoke run creates this database once the demo it copies is loaded.
            wait_for_database(url)
            if args.smoke:
                servers.launch("hello", 2)
                servers.launch("app", 2)
            failed = run(args, url, folder, servers, load)
        finally:
            servers.close()
        print(f"server logs in {logs}")
    if failed:
        # Figures with failed requests, or none, are not figures: say so and fail the run.
        sys.exit(f"requests failed in: {', '.join(failed)} (see the server logs)")


def run(
    args: argparse.Namespace, url: str, folder: Path, servers: Servers, load: Load
) -> list[str]:
    """Seed, count, measure, save; the runs that failed."""
    migrations.upgrade(url)
    print(f"seeding ({args.accounts} generated accounts) ... {since()}", flush=True)
    prepared = asyncio.run(prepare(url, args.accounts, folder))
    ids_file = folder / "ids.txt"
    ids_file.write_text("\n".join(prepared["ids"]) + "\n")
    common = {"data": prepared["data"], "host": socket.gethostname(), "smoke": args.smoke}
    failed: list[str] = []
    print(json.dumps(prepared["data"]), flush=True)
    if args.part in ("api", "both"):
        queries = asyncio.run(count_queries(url, prepared["ids"], args.samples))
        print("statements per request:", json.dumps(queries), since(), flush=True)
        result = api_part(servers, ids_file, load)
        for name, count in queries.items():
            if name in result["endpoints"]:
                result["endpoints"][name]["queries_per_request"] = count
        result["queries_per_request"] = queries
        result["list_queries_independent_of_limit"] = (
            queries["list_limit_10"] == queries["list"] == queries["list_limit_100"]
        )
        result["goals"] = goals(result)
        result["uvicorn"] = " ".join(uvicorn_args(0, 1))
        result["load"] = load.describe()
        result |= common
        failed += failures("api", result["endpoints"])
        print(json.dumps(result, indent=2))
        save_result("api", result)
    if args.part in ("workers", "both"):
        one = result["endpoints"] if args.part == "both" else None
        result = workers_part(servers, ids_file, load, one) | common
        for count, runs in result["by_workers"].items():
            failed += failures(f"workers {count}", runs)
        print(json.dumps(result, indent=2))
        save_result("workers", result)
    return failed


if __name__ == "__main__":
    main()
