"""Ledger benchmark: ``cartera ledger verify`` over N accounts against the irreducible work it
does (one scan of the accounts and one grouped scan of their entries, in the same run), and
the latency of verifying one account.

    python bench/ledger.py --accounts 1000000

Accounts and their entries are made set-based (opening entries as a push writes them, then a
payment's entries on every third account with the account moved to match), so every account
verifies. Runs on CARTERA_DATABASE_URL when set, otherwise on a throwaway embedded PostgreSQL.
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

from aging import DEBTORS_PLAIN, DEBTORS_SEALED, SETUP, UUID_FUNCTION
from common import database, save_result
from sqlalchemy import text

from app import migrations
from app.config import get_settings
from app.db import open_database
from app.services import ledger

OPENING = """
INSERT INTO ledger_entry (account_id, partner_id, currency, component, kind, amount_minor,
                          as_of, occurred_at, actor_id)
SELECT a.id, a.partner_id, a.currency, v.component, 'opening',
       (v.amount * 100)::bigint, a.aged_as_of, now(), 'bench'
FROM account a
CROSS JOIN LATERAL (VALUES ('principal', a.principal), ('interest', a.interest),
                           ('fees', a.fees), ('past_due', a.past_due_amount)) v(component, amount)
WHERE v.amount <> 0
"""
# A payment of 150 on every third account: fees 50, interest 50, principal 50, past due 100.
PAYMENTS = """
INSERT INTO ledger_entry (account_id, partner_id, currency, component, kind, amount_minor,
                          as_of, occurred_at, actor_id)
SELECT a.id, a.partner_id, a.currency, v.component, 'payment', v.units, a.aged_as_of, now(),
       'bench'
FROM account a
CROSS JOIN (VALUES ('fees', -5000), ('interest', -5000), ('principal', -5000),
                   ('past_due', -10000)) v(component, units)
WHERE substr(a.external_ref, 4)::int % 3 = 0;
UPDATE account SET fees = fees - 50, interest = interest - 50, principal = principal - 50,
       total = total - 150, past_due_amount = past_due_amount - 100
WHERE substr(external_ref, 4)::int % 3 = 0
"""
# What verify cannot avoid: every account read, every entry summed per account and component.
BASELINE = """
SELECT (SELECT count(*) FROM (SELECT id, principal, interest, fees, past_due_amount, credit
                              FROM account) a),
       (SELECT count(*) FROM (SELECT account_id, component, sum(amount_minor)
                              FROM ledger_entry GROUP BY account_id, component) s)
"""


async def run(url: str, accounts: int, rounds: int) -> dict[str, object]:
    db = open_database(url, get_settings())
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text(UUID_FUNCTION))
            sealed = await conn.scalar(
                text(
                    "SELECT count(*) FROM information_schema.columns"
                    " WHERE table_name = 'debtor' AND column_name = 'national_id_index'"
                )
            )
            setup = SETUP.replace("DEBTORS", DEBTORS_SEALED if sealed else DEBTORS_PLAIN)
            for statement in setup.split(";"):
                if statement.strip():
                    await conn.execute(text(statement), {"n": accounts})
            await conn.execute(text(OPENING))
            for statement in PAYMENTS.split(";"):
                await conn.execute(text(statement))
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE account"))
            await conn.execute(text("VACUUM ANALYZE ledger_entry"))
            entries = await conn.scalar(text("SELECT count(*) FROM ledger_entry"))

        verify_s, baseline_s = [], []
        for _ in range(rounds):
            async with db.sessionmaker() as session:
                tick = time.perf_counter()
                result = await ledger.verify(session)
                verify_s.append(time.perf_counter() - tick)
                assert result.ok and result.accounts_checked == accounts, result
                tick = time.perf_counter()
                await session.execute(text(BASELINE))
                baseline_s.append(time.perf_counter() - tick)
        one_s = []
        async with db.sessionmaker() as session:
            some = (await session.execute(text("SELECT id FROM account LIMIT 50"))).scalars()
            for account_id in some:
                tick = time.perf_counter()
                assert (await ledger.verify(session, account_id)).ok
                one_s.append(time.perf_counter() - tick)
        verify = statistics.median(verify_s)
        baseline = statistics.median(baseline_s)
        return {
            "accounts": accounts,
            "entries": entries,
            "verify_all_seconds": round(verify, 3),
            "baseline_scan_seconds": round(baseline, 3),
            "verify_over_baseline": round(verify / baseline, 2),
            "verify_one_account_p50_ms": round(statistics.median(one_s) * 1000, 2),
        }
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with database() as url:
        migrations.upgrade(url)
        result = asyncio.run(run(url, args.accounts, args.rounds))
    print(json.dumps(result, indent=2))
    save_result("ledger", result)


if __name__ == "__main__":
    main()
