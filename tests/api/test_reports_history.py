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
from app.services.history import (
    COLLECTOR,
    STAGE,
    STATUS,
    TOTAL,
    Fact,
    _history,
    _history_value,
)
from app.services.history import (
    as_of as _as_of,
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


@pytest.mark.parametrize("fact", [STAGE, TOTAL, STATUS, COLLECTOR], ids=lambda f: f.key)
async def test_one_pass_over_the_history_reads_what_the_per_account_look_up_reads(
    session, fact: Fact
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
        # Each account read on a day of its own (as recovery reads each on its first day):
        # the same day for all, then staggered by the account's position.
        for stagger in (0, 1):
            cohort = (
                "SELECT a.id, a.partner_id, CAST(:first AS date) + CAST(:offset AS int)"
                " + CAST(:stagger AS int) * (row_number() OVER (ORDER BY a.id))::int % 5 AS day"
                " FROM account a WHERE a.partner_id = :partner"
            )
            params = {"partner": partner.id, "first": FIRST, "offset": offset, "stagger": stagger}
            per_account = dict(
                (
                    await session.execute(
                        text(
                            f"WITH cohort AS ({cohort}) SELECT c.id,"
                            f" {_as_of('c.id', fact, 'c.day', fallback)} FROM cohort c"
                        ),
                        params,
                    )
                ).all()
            )
            one_pass = dict(
                (
                    await session.execute(
                        text(
                            f"WITH cohort AS ({cohort}), {_history(('x', fact, 'c.day'))}"
                            f" SELECT c.id, {_history_value('x', fallback)}"
                            " FROM cohort c LEFT JOIN h ON h.account_id = c.id"
                        ),
                        params,
                    )
                ).all()
            )
            assert one_pass == per_account, (offset, stagger)
            assert len(per_account) == len(accounts)
    # The histories are varied enough to matter: values read from events, JSON nulls, and
    # the fallback (no event carries the key).
    assert {"now", None} <= set(per_account.values())
    assert len(set(per_account.values())) >= 3
