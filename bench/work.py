"""Work-queue and reports benchmark (issue 7, "Speed, measured in bench/"): the collector's
queue, ``next`` under concurrent collectors, and each report's time, on a portfolio of a
million accounts and five million interactions.

    python bench/work.py                # 1,000,000 accounts, 5,000,000 interactions
    python bench/work.py --accounts 200000 --interactions 1000000
    python bench/work.py --accounts 3000 --interactions 15000 --requests 10 --claims 2 --smoke

Requests go through the app in process (httpx ``ASGITransport``, like contact_check.py): the
figures are the app's own latency with its real database work, without uvicorn and wrk.
Runs on CARTERA_DATABASE_URL when set, otherwise on a throwaway embedded PostgreSQL.

**How the data is made (set-based, in seconds per million rows).** The demo seed (users,
Banco Demo in Mexico and Almacenes Demo in Colombia with their strategies, ~2,000 accounts
pushed through intake with their debtors, contact points and history) is the template. Then,
in SQL only (``INSERT … SELECT`` over ``generate_series``, no row-by-row work):

- ``--collectors`` phone collectors (``benchNNNN``, the demo password), in the demo team;
- the template accounts cloned until there are ``--accounts`` generated accounts, each with
  its own debtor and its own copies of the template's debtor contact points (phone, email,
  address), assigned round-robin to the bench collectors; the template's ``created`` event
  is cloned 120 days back (its stage and total set to the clone's, so history and the
  account agree, as the services keep them), and one account in five gets a
  ``stage_changed`` event in the last 60 days (for roll rates);
- ``--interactions`` outbound calls over the last 90 days, spread over the generated
  accounts (each on the account's first phone, by its collector, a mix of no answers and
  right-party contacts);
- one payment per 10 accounts in the last 60 days (one in 200 reversed), so recovery and
  commissions have payments to credit. No commission terms are set (the demo sets none):
  the commissions report still credits every payment of the month to its collector, with
  a zero rate. No promises or plans beyond the demo's.

Sealed columns: a clone keeps its template's ciphertext (national id, contact value) and
blind index, so the values decrypt and time zones resolve as for real rows. A debtor's
national id blind index must be unique, so a cloned debtor's index is
``sha256(template index || clone number)``: unique, but not the HMAC of its (template)
national id, so a clone cannot be found by national id search (nothing here searches).
A cloned contact point shares its template's value and index with ~500 other debtors
(a shared phone, as with family numbers). Foreign keys are not re-checked while loading
(``session_replication_role = replica``, the rows are consistent by construction); the
database has no insert triggers on these tables.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import hashlib
import json
import os
import socket
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from common import StatementTimer, database, save_result
from httpx import ASGITransport, AsyncClient
from sqlalchemy import event, text

from app import migrations
from app.config import get_settings
from app.db import open_database
from app.main import create_app
from app.services import demo, snapshots
from app.services import worklists as queue

API = "/api/v1"
TEMPLATE_AS_OF_SHIFT = 120  # days the cloned accounts arrived before today


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000, 2)


def _latency(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 2),
        "p99_ms": _pct(values, 0.99),
        "max_ms": round(max(values) * 1000, 2),
    }


# ---------------------------------------------------------------------------------------
# Loading


async def _columns(conn: Any, table: str) -> list[str]:
    rows = await conn.execute(
        text(
            "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
            "AND table_schema = current_schema() AND is_generated = 'NEVER' "
            "ORDER BY ordinal_position"
        ),
        {"t": table},
    )
    return [r[0] for r in rows]


async def _clone(
    conn: Any, table: str, alias: str, source: str, overrides: dict[str, str], skip: tuple = ()
) -> int:
    """INSERT INTO table (every column) SELECT each column from ``alias`` unless overridden."""
    columns = [c for c in await _columns(conn, table) if c not in skip]
    values = [overrides.get(c, f"{alias}.{c}") for c in columns]
    statement = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} {source}"
    result = await conn.execute(text(statement))
    return int(result.rowcount)


async def load(url: str, accounts: int, interactions: int, collectors: int) -> dict[str, Any]:
    settings = get_settings()
    db = open_database(url, settings)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - since, 1)
        print(f"  {name}: {timings[name]} s", flush=True)
        return now

    try:
        async with db.sessionmaker() as session, session.begin():
            await demo.seed(session)
        at = lap("demo_seed", started)
        async with db.engine.connect() as conn:
            await conn.execute(text("SET session_replication_role = replica"))
            await conn.execute(text("SET maintenance_work_mem = '256MB'"))
            await conn.execute(text("SET work_mem = '64MB'"))
            # Collectors, all in the demo team, with the demo password.
            await _clone(
                conn,
                "app_user",
                "u",
                f"FROM app_user u CROSS JOIN generate_series(1, {collectors}) g "
                "WHERE u.username = 'phone1'",
                {
                    "id": "uuidv7()",
                    "username": "'bench' || lpad(g::text, 5, '0')",
                    "full_name": "'Bench Collector ' || g",
                    "email": "NULL",
                },
            )
            await conn.execute(
                text(
                    "INSERT INTO team_member (user_id, team_id) SELECT u.id, tm.team_id "
                    "FROM app_user u, team_member tm JOIN app_user p ON p.id = tm.user_id "
                    "WHERE p.username = 'phone1' AND u.username LIKE 'bench%'"
                )
            )
            await conn.execute(
                text(
                    "CREATE TEMP TABLE coll AS SELECT row_number() OVER (ORDER BY u.username) - 1"
                    " AS k, u.id, tm.team_id FROM app_user u JOIN team_member tm ON"
                    " tm.user_id = u.id WHERE u.username LIKE 'bench%'"
                )
            )
            template = int(await conn.scalar(text("SELECT count(*) FROM account")))
            rounds = -(-accounts // template)
            # The clone map: template account x round -> new account and debtor ids.
            await conn.execute(
                text(
                    f"""
CREATE TEMP TABLE dmap AS
SELECT d.id AS old_id, g AS k, uuidv7() AS new_id
FROM debtor d CROSS JOIN generate_series(1, {rounds}) g
WHERE d.id IN (SELECT debtor_id FROM account)"""
                )
            )
            await conn.execute(
                text(
                    f"""
CREATE TEMP TABLE amap AS
SELECT x.*, c.id AS collector_id, c.team_id
FROM (
  SELECT row_number() OVER (ORDER BY g, a.id) AS n, a.id AS old_id, g AS k,
         uuidv7() AS new_id, dm.new_id AS new_debtor, a.partner_id
  FROM account a CROSS JOIN generate_series(1, {rounds}) g
  JOIN dmap dm ON dm.old_id = a.debtor_id AND dm.k = g
) x
JOIN coll c ON c.k = (x.n - 1) % {collectors}
WHERE x.n <= {accounts}"""
                )
            )
            await conn.execute(text("CREATE INDEX ON amap (old_id)"))
            await conn.execute(text("ANALYZE amap"))
            await conn.execute(text("ANALYZE dmap"))
            at = lap("maps", at)
            await _clone(
                conn,
                "debtor",
                "d",
                "FROM debtor d JOIN dmap m ON m.old_id = d.id "
                "WHERE m.new_id IN (SELECT new_debtor FROM amap)",
                {
                    "id": "m.new_id",
                    "national_id_index": "sha256(d.national_id_index || m.k::text::bytea)",
                },
            )
            at = lap("debtors", at)
            await _clone(
                conn,
                "account",
                "a",
                "FROM account a JOIN amap m ON m.old_id = a.id",
                {
                    "id": "m.new_id",
                    "debtor_id": "m.new_debtor",
                    "external_ref": "a.external_ref || '-' || m.k",
                    "assigned_collector_id": "m.collector_id",
                    "assigned_team_id": "m.team_id",
                    "status": "'active'",
                    "recalled_at": "NULL",
                    "has_pauses": "false",
                    "last_assignment_id": "NULL",
                },
                skip=("payment_serial",),
            )
            at = lap("accounts", at)
            await conn.execute(
                text(
                    """
CREATE TEMP TABLE cpmap AS
SELECT cp.id AS old_id, m.new_id AS account_id, m.new_debtor, uuidv7() AS new_id,
       cp.kind, cp.position
FROM contact_point cp JOIN amap m ON m.old_id = cp.account_id
WHERE cp.related_party_id IS NULL"""
                )
            )
            await _clone(
                conn,
                "contact_point",
                "cp",
                "FROM contact_point cp JOIN cpmap m ON m.old_id = cp.id",
                {
                    "id": "m.new_id",
                    "account_id": "m.account_id",
                    "debtor_id": "m.new_debtor",
                    "verified_at": "NULL",
                },
            )
            at = lap("contact_points", at)
            await _clone(
                conn,
                "account_event",
                "e",
                "FROM account_event e JOIN amap m ON m.old_id = e.account_id "
                "WHERE e.kind = 'created'",
                {
                    "account_id": "m.new_id",
                    "as_of": f"e.as_of - {TEMPLATE_AS_OF_SHIFT}",
                    "occurred_at": f"e.occurred_at - interval '{TEMPLATE_AS_OF_SHIFT} days'",
                },
                skip=("seq",),
            )
            stages = "ARRAY['current','early','mid','late','nonaccrual','chargeoff']"
            await conn.execute(
                text(
                    f"""
INSERT INTO account_event (account_id, partner_id, kind, as_of, occurred_at, actor_id,
                           before, after)
SELECT a.id, a.partner_id, 'stage_changed', current_date - (m.n % 60)::int,
       now() - make_interval(days => (m.n % 60)::int), 'system:aging',
       jsonb_build_object('stage', ({stages})[array_position({stages}, a.stage) - 1]),
       jsonb_build_object('stage', a.stage, 'dpd', a.dpd)
FROM amap m JOIN account a ON a.id = m.new_id
WHERE m.n % 5 = 0 AND a.stage <> 'current'"""
                )
            )
            # A clone's history tells its own story, as the services keep it: its ``created``
            # event carries the stage before its stage change (if any, else its stage now)
            # and its balance now (no balance change is cloned).
            await conn.execute(
                text(
                    """
UPDATE account_event e
SET after = e.after || jsonb_build_object('stage', COALESCE(sc.before ->> 'stage', a.stage),
                                          'total', CAST(a.total AS text))
FROM amap m JOIN account a ON a.id = m.new_id
LEFT JOIN account_event sc ON sc.account_id = m.new_id AND sc.kind = 'stage_changed'
WHERE e.account_id = m.new_id AND e.kind = 'created'"""
                )
            )
            at = lap("account_events", at)
            # Interactions: the first phone of each generated account, by its collector.
            await conn.execute(
                text(
                    """
CREATE TEMP TABLE pick AS
SELECT m.n, m.new_id AS account_id, m.partner_id, m.new_debtor AS debtor_id,
       m.collector_id, fp.new_id AS contact_point_id
FROM amap m
LEFT JOIN (SELECT DISTINCT ON (account_id) account_id, new_id FROM cpmap
           WHERE kind = 'phone' ORDER BY account_id, position) fp
  ON fp.account_id = m.new_id"""
                )
            )
            await conn.execute(text("CREATE UNIQUE INDEX ON pick (n)"))
            await conn.execute(text("ANALYZE pick"))
            generated = int(await conn.scalar(text("SELECT count(*) FROM pick")))
            sample = (
                await conn.execute(text("SELECT pack_version, compliance FROM interaction LIMIT 1"))
            ).one()
            await conn.execute(
                text(
                    f"""
INSERT INTO interaction (id, account_id, partner_id, debtor_id, collector_id, channel,
                         direction, contact_point_id, party, result_code, started_at,
                         ended_at, pack_version, compliance, created_by, created_at)
SELECT uuidv7(), p.account_id, p.partner_id, p.debtor_id, p.collector_id, 'call',
       'outbound', p.contact_point_id,
       CASE WHEN r.code LIKE 'RPC%' THEN 'debtor' ELSE 'none' END, r.code,
       t.at, t.at + interval '3 minutes', :pack, CAST(:compliance AS jsonb), 'bench', t.at
FROM generate_series(1, {interactions}) g
JOIN pick p ON p.n = 1 + (g % {generated})
CROSS JOIN LATERAL (SELECT (ARRAY['NO_ANSWER','NO_ANSWER','VOICEMAIL','BUSY','RPC',
                                  'RPC_CALLBACK','RPC_REFUSE'])[1 + (g % 7)] AS code) r
CROSS JOIN LATERAL (SELECT now() - make_interval(secs => 3600 + (g::bigint * 104729)
                                                  % (90 * 86400)) AS at) t"""
                ),
                {"pack": sample[0], "compliance": json.dumps(sample[1])},
            )
            at = lap("interactions", at)
            await conn.execute(
                text(
                    """
INSERT INTO payment (id, account_id, partner_id, amount, currency, paid_on, channel,
                     payer_reference, idempotency_key, body_sha256, status, allocation,
                     credit_amount, recorded_by, created_at, reversed_at, reversed_by)
SELECT uuidv7(), a.id, a.partner_id, greatest(1, least(a.total, 500 + (m.n % 5000))),
       a.currency, current_date - (m.n % 60)::int, 'spei', 'BENCH-' || m.n,
       'bench-' || m.n, md5(m.n::text) || md5(m.n::text), x.status,
       jsonb_build_object('to_fees', 0, 'to_interest', 0, 'to_principal', 0),
       0, 'bench', now() - make_interval(days => (m.n % 60)::int),
       CASE WHEN x.status = 'reversed' THEN now() END,
       CASE WHEN x.status = 'reversed' THEN 'bench' END
FROM amap m JOIN account a ON a.id = m.new_id
CROSS JOIN LATERAL (SELECT CASE WHEN m.n % 200 = 0 THEN 'reversed'
                                ELSE 'applied' END AS status) x
WHERE m.n % 10 = 0"""
                )
            )
            at = lap("payments", at)
            await conn.commit()
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
            at = lap("vacuum_analyze", at)
            shape = (
                await conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM account), (SELECT count(*) FROM debtor),"
                        " (SELECT count(*) FROM contact_point),"
                        " (SELECT count(*) FROM interaction), (SELECT count(*) FROM payment),"
                        " (SELECT count(*) FROM account_event),"
                        " (SELECT json_object_agg(stage, n) FROM (SELECT stage, count(*) AS n"
                        "  FROM account GROUP BY stage) s),"
                        " pg_size_pretty(pg_database_size(current_database()))"
                    )
                )
            ).one()
        return {
            "accounts": shape[0],
            "generated_accounts": generated,
            "debtors": shape[1],
            "contact_points": shape[2],
            "interactions": shape[3],
            "payments": shape[4],
            "account_events": shape[5],
            "stages": shape[6],
            "database_size": shape[7],
            "collectors": collectors,
            "accounts_per_collector": round(generated / collectors),
            "load_seconds": timings,
            "seconds_to_load": round(time.perf_counter() - started, 1),
        }
    finally:
        await db.dispose()


# ---------------------------------------------------------------------------------------
# Measuring


async def _token(client: AsyncClient, username: str) -> dict[str, str]:
    answer = await client.post(
        f"{API}/auth/token", data={"username": username, "password": demo.DEMO_PASSWORD}
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _plan_hotspots(plan: dict[str, Any], top: int = 5) -> list[dict[str, Any]]:
    """The plan's nodes by exclusive time (their total × loops less their children's)."""
    nodes: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> float:
        loops = node.get("Actual Loops", 1) or 1
        total = node.get("Actual Total Time", 0.0) * loops
        children = sum(walk(child) for child in node.get("Plans", []))
        nodes.append(
            {
                "node": node.get("Node Type"),
                "relation": node.get("Relation Name"),
                "index": node.get("Index Name"),
                "alias": node.get("Alias"),
                "exclusive_ms": round(max(0.0, total - children), 1),
                "rows": node.get("Actual Rows"),
                "loops": loops,
                "shared_hit": node.get("Shared Hit Blocks"),
                "shared_read": node.get("Shared Read Blocks"),
                "temp_written": node.get("Temp Written Blocks"),
            }
        )
        return total

    walk(plan["Plan"])
    nodes.sort(key=lambda n: n["exclusive_ms"], reverse=True)
    return nodes[:top]


def mexico_city_moment(wall: str, *, now: datetime | None = None) -> datetime:
    """The latest moment, not after ``now``, at which Mexico City's clock read ``wall``
    (HH:MM): "03:10" is the night (every Mexican zone closed), "19:00" the evening."""
    zone = ZoneInfo("America/Mexico_City")
    local = (now or datetime.now(UTC)).astimezone(zone)
    hours, minutes = (int(part) for part in wall.split(":"))
    moment = local.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    if moment > local:
        moment -= timedelta(days=1)
    return moment.astimezone(UTC)


async def measure(
    url: str,
    requests: int,
    concurrent: int,
    claims: int,
    collectors: int,
    *,
    at: datetime | None = None,
    reports: bool = True,
    reports_only: bool = False,
) -> dict[str, Any]:
    """The queue, ``next`` and (with ``reports``) the reports; ``at`` fixes the app's clock
    (the contact law's "now") for the queue and ``next``, else the real clock is used."""
    settings = get_settings().model_copy(update={"log_level": "WARNING"})
    db = open_database(url, settings)
    timer = StatementTimer()
    statements, before, after = timer.statements, timer.before, timer.after

    result: dict[str, Any] = {}
    clocked: dict[str, Any] = {}
    try:
        app = create_app(settings, db)
        # As the app's lifespan does at startup (httpx's ASGI transport does not run it).
        gc.freeze()
        if at is not None:
            # The queue's and next's "now" only (sign-in keeps the real clock).
            clocked = {name: getattr(queue, name) for name in ("my_worklist", "claim_next")}
            for name, function in clocked.items():
                setattr(queue, name, functools.partial(_at, function, at))
            result["clock"] = at.isoformat()
        async with db.engine.begin() as conn:  # claims of an earlier run on this database
            await conn.execute(text("DELETE FROM worklist_claim"))
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://bench") as client:
            if not reports_only:
                # 1. One collector's queue, sequential requests.
                me = await _token(client, "bench00001")
                latencies: list[float] = []
                sizes: list[int] = []
                for n in range(requests + 5):
                    started = time.perf_counter()
                    answer = await client.get(f"{API}/worklists/me?limit=20", headers=me)
                    elapsed = time.perf_counter() - started
                    assert answer.status_code == 200, answer.text
                    if n >= 5:  # warm-up
                        latencies.append(elapsed)
                        sizes.append(len(answer.json()["items"]))
                event.listen(db.engine.sync_engine, "before_cursor_execute", before)
                event.listen(db.engine.sync_engine, "after_cursor_execute", after)
                statements.clear()
                await client.get(f"{API}/worklists/me?limit=20", headers=me)
                result["worklist"] = {
                    "requests": requests,
                    "limit": 20,
                    "items_listed_min": min(sizes),
                    "items_listed_max": max(sizes),
                    "statements_per_request": len(statements),
                    **_latency(latencies),
                }
                print("worklist:", json.dumps(result["worklist"]), flush=True)
                event.remove(db.engine.sync_engine, "before_cursor_execute", before)
                event.remove(db.engine.sync_engine, "after_cursor_execute", after)

                # 2. `next` under concurrent collectors; then one collector's concurrent sessions.
                async def sessions(headers: list[dict[str, str]], label: str) -> dict[str, Any]:
                    claimed: list[tuple[int, str]] = []
                    times: list[float] = []
                    empty = 0

                    async def one(who: int) -> None:
                        nonlocal empty
                        for _ in range(claims):
                            started = time.perf_counter()
                            answer = await client.post(
                                f"{API}/worklists/me/next", headers=headers[who]
                            )
                            times.append(time.perf_counter() - started)
                            if answer.status_code == 204:
                                empty += 1
                                continue
                            assert answer.status_code == 200, answer.text
                            claimed.append((who, answer.json()["account_id"]))

                    load = [round(x, 2) for x in os.getloadavg()]
                    counted = [0]

                    def count(*_: Any) -> None:
                        counted[0] += 1

                    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
                    started = time.perf_counter()
                    try:
                        await asyncio.gather(*(one(w) for w in range(len(headers))))
                    finally:
                        wall = time.perf_counter() - started
                        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
                    ids = [a for _, a in claimed]
                    figures = {
                        "sessions": len(headers),
                        "claims_each": claims,
                        "claims": len(claimed),
                        "no_account_204": empty,
                        "seconds": round(wall, 2),
                        "claims_per_second": round(len(times) / wall, 1),
                        # Sign-in's statements included (the principal kept per process).
                        "statements_per_call": round(counted[0] / len(times), 2),
                        "load_average_before": load,
                        **_latency(times),
                        "accounts_returned_twice": len(ids) - len(set(ids)),
                    }
                    print(f"{label}:", json.dumps(figures), flush=True)
                    return figures

                headers = [await _token(client, f"bench{n + 1:05d}") for n in range(concurrent)]
                result["next"] = await sessions(headers, "next, distinct collectors")
                same = await _token(client, f"bench{concurrent + 1:05d}")
                result["next_one_collector"] = await sessions(
                    [same] * concurrent, "next, one collector's sessions"
                )
                async with db.engine.connect() as conn:
                    counts = (
                        await conn.execute(
                            text(
                                "SELECT count(*), count(DISTINCT wc.account_id),"
                                " count(*) FILTER"
                                " (WHERE a.assigned_collector_id <> wc.collector_id)"
                                " FROM worklist_claim wc JOIN account a ON a.id = wc.account_id"
                            )
                        )
                    ).one()
                total_claims = result["next"]["claims"] + result["next_one_collector"]["claims"]
                result["claims_check"] = {
                    "claims_answered": total_claims,
                    "worklist_claim_rows": counts[0],
                    "distinct_accounts": counts[1],
                    "claimed_by_someone_not_assigned": counts[2],
                    "double_claims": (counts[0] - counts[1])
                    + result["next"]["accounts_returned_twice"]
                    + result["next_one_collector"]["accounts_returned_twice"],
                    "rows_match_answers": counts[0] == total_claims,
                }
                print("claims:", json.dumps(result["claims_check"]), flush=True)

            if not reports:
                return result
            # 3. Each report once, as the manager, twice: first as the portfolio stands after
            # the load (no snapshot taken: the reports replay history, as before snapshots),
            # then after the nightly snapshots of the 30 days the periods read (taken here
            # from history, timed); the slowest one's plan.
            manager = await _token(client, "manager")
            today = datetime.now(UTC).date()
            month = today.strftime("%Y-%m")
            span30 = f"from={today - timedelta(days=29)}&to={today}"
            span7 = f"from={today - timedelta(days=6)}&to={today}"
            reports = {
                "aging": f"{API}/reports/aging",
                "roll_rates": f"{API}/reports/roll-rates?{span30}",
                "recovery": f"{API}/reports/recovery?{span30}",
                "agents": f"{API}/reports/agents?{span7}",
                "commissions": f"{API}/reports/commissions?period={month}",
            }

            async def time_reports(label: str) -> tuple[dict[str, Any], dict[str, Any]]:
                event.listen(db.engine.sync_engine, "before_cursor_execute", before)
                event.listen(db.engine.sync_engine, "after_cursor_execute", after)
                result[f"load_average_before_reports_{label.replace(' ', '_')}"] = [
                    round(x, 2) for x in os.getloadavg()
                ]
                timed: dict[str, Any] = {}
                slowest: dict[str, tuple[str, Any, float]] = {}
                for name, path in reports.items():
                    statements.clear()
                    started = time.perf_counter()
                    answer = await client.get(path, headers=manager)
                    seconds = time.perf_counter() - started
                    assert answer.status_code == 200, (path, answer.text)
                    body = answer.json()
                    timed[name] = {
                        "path": path.removeprefix(API).split("?")[0],
                        "query": path.split("?", 1)[1] if "?" in path else "",
                        "seconds": round(seconds, 3),
                        "rows": len(body.get("items", body.get("rows", []))),
                        "statements": len(statements),
                        "answer_sha256": hashlib.sha256(
                            json.dumps(body.get("items", body), sort_keys=True).encode()
                        ).hexdigest(),
                    }
                    slowest[name] = max(statements, key=lambda s: s[2])
                    print(f"report {name} ({label}):", json.dumps(timed[name]), flush=True)
                event.remove(db.engine.sync_engine, "before_cursor_execute", before)
                event.remove(db.engine.sync_engine, "after_cursor_execute", after)
                return timed, slowest

            history, _ = await time_reports("from history")
            result["reports_from_history"] = history
            started = time.perf_counter()
            async with db.sessionmaker() as session, session.begin():
                taken = await snapshots.backfill(
                    session, today - timedelta(days=30), today - timedelta(days=1)
                )
            result["snapshots"] = {
                "days": len(taken),
                "rows": sum(t.accounts for t in taken),
                "backfill_seconds": round(time.perf_counter() - started, 1),
            }
            print("snapshots:", json.dumps(result["snapshots"]), flush=True)
            async with db.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE portfolio_snapshot"))
            # The backfill can outlast an access token: sign in again.
            manager = await _token(client, "manager")
            timed, slowest_sql = await time_reports("from snapshots")
            result["reports"] = timed
            result["same_answers"] = {
                name: timed[name]["answer_sha256"] == history[name]["answer_sha256"]
                for name in timed
            }
            print("same answers:", json.dumps(result["same_answers"]), flush=True)
            worst = max(timed, key=lambda k: timed[k]["seconds"])
            statement, parameters, _ = slowest_sql[worst]
            result["slowest_report"] = {"report": worst, **await explain(db, statement, parameters)}
            print("slowest report plan:", json.dumps(result["slowest_report"]), flush=True)
        return result
    finally:
        for name, function in clocked.items():
            setattr(queue, name, function)
        await db.dispose()


async def _at(function: Any, at: datetime, *args: Any, **kwargs: Any) -> Any:
    return await function(*args, **{**kwargs, "now": at})


async def explain(db: Any, statement: str, parameters: Any) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the report's longest statement, with the same values."""
    params = list(parameters or ())
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        as_json = await raw.fetchval(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}", *params
        )
        plan = json.loads(as_json)[0] if isinstance(as_json, str) else as_json[0]
        lines = [r[0] for r in await raw.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", *params)]
    return {
        "execution_ms": round(plan.get("Execution Time", 0.0), 1),
        "planning_ms": round(plan.get("Planning Time", 0.0), 1),
        "hotspots": _plan_hotspots(plan),
        "plan_head": [line for line in lines[:25]],
        "plan_tail": [line for line in lines[-3:]],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--interactions", type=int, default=5_000_000)
    parser.add_argument("--collectors", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=200, help="sequential worklist GETs")
    parser.add_argument("--concurrent", type=int, default=20, help="collectors calling next")
    parser.add_argument("--claims", type=int, default=10, help="next calls per collector")
    parser.add_argument("--smoke", action="store_true", help="label the figures as a smoke run")
    parser.add_argument(
        "--at",
        default="",
        help="Mexico City wall times (HH:MM, comma-separated; e.g. 03:10,19:00) to measure the "
        "queue and next at, the app's clock fixed to the latest such moment (default: now)",
    )
    parser.add_argument(
        "--no-load",
        action="store_true",
        help="measure on CARTERA_DATABASE_URL as an earlier run loaded it (no loading)",
    )
    parser.add_argument("--no-reports", action="store_true", help="skip the reports part")
    parser.add_argument("--reports-only", action="store_true", help="skip the queue and next parts")
    args = parser.parse_args()
    collectors = max(args.concurrent + 1, min(args.collectors, args.accounts // 10))
    with database() as url:
        migrations.upgrade(url)
        data: dict[str, Any] = {"loaded": "by an earlier run"}
        if not args.no_load:
            print(
                f"loading ({args.accounts:,} accounts, {args.interactions:,} interactions, "
                f"{collectors:,} collectors) ...",
                flush=True,
            )
            data = asyncio.run(load(url, args.accounts, args.interactions, collectors))
        print(json.dumps(data), flush=True)
        moments = [mexico_city_moment(w.strip()) for w in args.at.split(",") if w.strip()]
        result = asyncio.run(
            measure(
                url,
                args.requests,
                args.concurrent,
                args.claims,
                collectors,
                at=moments[0] if moments else None,
                reports=not args.no_reports,
                reports_only=args.reports_only,
            )
        )
        for wall, moment in zip(args.at.split(",")[1:], moments[1:], strict=True):
            print(f"at {wall.strip()} in Mexico City:", flush=True)
            result[f"at_{wall.strip()}"] = asyncio.run(
                measure(
                    url,
                    args.requests,
                    args.concurrent,
                    args.claims,
                    collectors,
                    at=moment,
                    reports=False,
                )
            )
    result |= {
        "data": data,
        "client": "httpx ASGITransport, in process (one app, one event loop)",
        "measured_local_time_mx": datetime.now(UTC)
        .astimezone(__import__("zoneinfo").ZoneInfo("America/Mexico_City"))
        .strftime("%Y-%m-%d %H:%M"),
        "host": socket.gethostname(),
        "smoke": args.smoke,
        "as_of": date.today().isoformat(),
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    save_result("work", result)
    if any(
        part.get("claims_check", {}).get("double_claims")
        for part in (result, *(v for k, v in result.items() if k.startswith("at_")))
    ):
        sys.exit("double claims found")


if __name__ == "__main__":
    main()
