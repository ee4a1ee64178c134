"""Reports read an account's history in two ways: a look-up per account (``_as_of``, for a
period's payments) and one grouped pass over every account's events (``_history_columns``,
for roll rates and recovery over whole portfolios). Both must tell the same story: random
histories (events on random days, of every kind, carrying the value, JSON null or nothing,
several on one day) are read both ways on every day around them."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from app.models.account import AccountEvent
from app.services.reports import (
    _ASSIGNED,
    _STAGE,
    _STATUS,
    _TOTAL,
    _as_of,
    _Fact,
    _history_columns,
    _history_value,
)
from tests.factories import make_account, make_partner

FIRST = date(2026, 3, 1)
VALUES = {
    "stage": ["current", "early", "late", "non_accrual", "charged_off", None],
    "total": ["10.00", "99.50", "0.00", None],
    "status": ["active", "paid_off", "recalled", None],
    "assigned_collector_id": ["a", "b", None],
}


def _payload(rng: random.Random) -> dict[str, object] | None:
    if rng.random() < 0.1:
        return None
    return {key: rng.choice(values) for key, values in VALUES.items() if rng.random() < 0.6}


@pytest.mark.parametrize("fact", [_STAGE, _TOTAL, _STATUS, _ASSIGNED], ids=lambda f: f.key)
async def test_one_pass_over_the_history_reads_what_the_per_account_look_up_reads(
    session, fact: _Fact
):
    rng = random.Random(f"history-{fact.key}")
    partner = await make_partner(session)
    accounts = [await make_account(session, partner) for _ in range(40)]
    kinds = ["created", "balance_changed", "stage_changed", "assigned", "status_changed"]
    for account in accounts[:-3]:  # the last three have no history at all
        for _ in range(rng.randint(0, 6)):
            session.add(
                AccountEvent(
                    account_id=account.id,
                    partner_id=partner.id,
                    kind=rng.choice(kinds),
                    as_of=FIRST + timedelta(days=rng.randint(0, 9)),
                    actor_id="test",
                    before=_payload(rng),
                    after=_payload(rng),
                )
            )
    await session.flush()

    fallback = "CAST('now' AS text)"
    for offset in range(-1, 12):
        day = f"DATE '{FIRST + timedelta(days=offset):%Y-%m-%d}'"
        per_account = dict(
            (
                await session.execute(
                    text(
                        f"SELECT a.id, {_as_of('a.id', fact, day, fallback)} FROM account a"
                        " WHERE a.partner_id = :partner"
                    ),
                    {"partner": partner.id},
                )
            ).all()
        )
        one_pass = dict(
            (
                await session.execute(
                    text(
                        f"SELECT a.id, {_history_value('x', fallback)} FROM account a"
                        " LEFT JOIN (SELECT e.account_id,"
                        f" {_history_columns('x', fact, day)} FROM account_event e"
                        " WHERE e.partner_id = :partner GROUP BY e.account_id) h"
                        " ON h.account_id = a.id WHERE a.partner_id = :partner"
                    ),
                    {"partner": partner.id},
                )
            ).all()
        )
        assert one_pass == per_account, day
        assert len(per_account) == len(accounts)
    # The histories are varied enough to matter: values read from events, JSON nulls, and
    # the fallback (no event carries the key).
    assert {"now", None} <= set(per_account.values())
    assert len(set(per_account.values())) >= 3
