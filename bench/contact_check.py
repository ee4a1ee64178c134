"""Contact-check benchmark: latency of ``POST /accounts/{id}/contact-check`` through the app
(ASGI, in process, real PostgreSQL) on the demo portfolio, with its three weeks of gestiones,
as phone1 checks the accounts assigned to them.

    python bench/contact_check.py --requests 2000

Runs on CARTERA_DATABASE_URL when set, otherwise on a throwaway embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import database, save_result
from httpx import ASGITransport, AsyncClient

from app import migrations
from app.config import get_settings
from app.db import open_database
from app.main import create_app
from app.services import demo


async def run(url: str, requests: int) -> dict[str, object]:
    settings = get_settings()
    db = open_database(url, settings)
    try:
        async with db.sessionmaker() as session, session.begin():
            await demo.seed(session)
        app = create_app(settings, db)
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://bench") as client:
            token = (
                await client.post(
                    "/api/v1/auth/token", data={"username": "phone1", "password": "cartera-demo"}
                )
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            accounts = (await client.get("/api/v1/accounts?limit=200", headers=headers)).json()
            ids = [a["id"] for a in accounts["items"]]
            latencies: list[float] = []
            allowed = 0
            for n in range(requests):
                started = time.perf_counter()
                response = await client.post(
                    f"/api/v1/accounts/{ids[n % len(ids)]}/contact-check",
                    json={"channel": "call", "party": "debtor"},
                    headers=headers,
                )
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
                allowed += response.json()["allowed"]
        latencies.sort()
        return {
            "requests": requests,
            "accounts": len(ids),
            "allowed": allowed,
            "p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
            "max_ms": round(latencies[-1] * 1000, 2),
            "checks_per_second_one_client": round(requests / sum(latencies)),
        }
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with database() as url:
        migrations.upgrade(url)
        result = asyncio.run(run(url, args.requests))
    print(json.dumps(result, indent=2))
    save_result("contact_check", result)


if __name__ == "__main__":
    main()
