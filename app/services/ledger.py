"""The account ledger (app/domain/ledger.py): writing entries, reading them, proving them.

Choices made here:

- Entries are written in the same transaction as the balance change they explain, by the
  service that makes the change: payments and reversals through :func:`entries`, a
  portfolio push set-based through :data:`INTAKE_OPENING` and :data:`INTAKE_ADJUSTMENT`
  (one statement each per batch, whatever its size), a reversal by mirroring the stored
  entries of the payment (:func:`mirror_payment`) rather than recomputing them.
- :func:`verify` recomputes every account's components from its entries in one grouped
  statement and names the first account (by id) that disagrees; ``cartera ledger verify``
  prints it, as ``cartera audit verify`` does for the audit chain.
- The currency exponents reach SQL as a ``VALUES`` list built from the one table
  (:data:`app.domain.money.MINOR_UNITS`), so SQL and Python never disagree on them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.domain.errors import PermissionDenied
from app.domain.ledger import (
    Balances,
    Component,
    Disagreement,
    EntryKind,
    Posting,
    disagreements,
    opening_postings,
)
from app.domain.money import MINOR_UNITS
from app.domain.roles import Role
from app.models.account import Account
from app.models.ledger import LedgerEntry
from app.pagination import decode_int_cursor, split_page
from app.security import Principal
from app.services import accounts

READERS: frozenset[Role] = frozenset(
    {Role.ADMIN, Role.MANAGER, Role.TEAM_LEAD, Role.COLLECTOR, Role.AUDITOR, Role.PARTNER}
)


def exponents_sql() -> str:
    """``(VALUES ('MXN', 2), …)``: the currency exponents as a SQL relation (code, e)."""
    return "(VALUES " + ", ".join(f"('{c}', {e})" for c, e in MINOR_UNITS.items()) + ")"


def balances_of(account: Account) -> Balances:
    return Balances(
        principal=account.principal,
        interest=account.interest,
        fees=account.fees,
        past_due=account.past_due_amount,
        credit=account.credit,
    )


def entries(
    account: Account,
    postings: Iterable[Posting],
    kind: EntryKind,
    *,
    as_of: date,
    moment: datetime,
    actor_id: str,
    payment_id: uuid.UUID | None = None,
    plan_id: uuid.UUID | None = None,
    credit_movement_id: uuid.UUID | None = None,
) -> list[LedgerEntry]:
    """The rows for ``postings`` on ``account`` (the caller adds and flushes them)."""
    return [
        LedgerEntry(
            account_id=account.id,
            partner_id=account.partner_id,
            currency=account.currency,
            component=p.component.value,
            kind=kind.value,
            amount_minor=p.amount_minor,
            as_of=as_of,
            occurred_at=moment,
            actor_id=actor_id,
            payment_id=payment_id,
            plan_id=plan_id,
            credit_movement_id=credit_movement_id,
        )
        for p in postings
    ]


def opening_entries(
    account: Account, *, as_of: date, moment: datetime, actor_id: str
) -> list[LedgerEntry]:
    """The entries of an account created outside a push (at its current balances)."""
    return entries(
        account,
        opening_postings(balances_of(account), account.currency),
        EntryKind.OPENING,
        as_of=as_of,
        moment=moment,
        actor_id=actor_id,
    )


# --- a push, set-based ----------------------------------------------------------------------
# Both read the staged rows (intake_account) matched to accounts (intake_match); the
# adjustment runs before the accounts are updated, so ``a`` still holds the old balances.


def _intake_sql(*, new: bool) -> str:
    values = ", ".join(
        f"('{c}', s.{src}, {'0::numeric' if new else 'a.' + src})"
        for c, src in (
            ("principal", "principal"),
            ("interest", "interest"),
            ("fees", "fees"),
            ("past_due", "past_due_amount"),
        )
    )
    return f"""
INSERT INTO ledger_entry (account_id, partner_id, currency, component, kind, amount_minor,
                          as_of, occurred_at, actor_id, assignment_id)
SELECT m.account_id, :pid, s.currency, v.component,
       '{EntryKind.OPENING if new else EntryKind.PARTNER_ADJUSTMENT}',
       round((v.sent - v.held) * power(10::numeric, coalesce(x.e, 2)))::bigint,
       :as_of, :now, :actor, :aid
FROM intake_match m
JOIN intake_account s ON s.row_number = m.row_number
{"" if new else "JOIN account a ON a.id = m.account_id"}
LEFT JOIN {exponents_sql()} AS x(code, e) ON x.code = s.currency
CROSS JOIN LATERAL (VALUES {values}) AS v(component, sent, held)
WHERE {"m.is_new" if new else "m.is_changed"} AND v.sent <> v.held
ORDER BY m.account_id
"""  # noqa: S608 (names and numbers from this module only)


INTAKE_OPENING = _intake_sql(new=True)
INTAKE_ADJUSTMENT = _intake_sql(new=False)


# --- reversal -------------------------------------------------------------------------------


async def mirror_payment(
    session: AsyncSession,
    payment_id: uuid.UUID,
    *,
    as_of: date,
    moment: datetime,
    actor_id: str,
) -> None:
    """Write the mirror of every entry of ``payment_id`` not already mirrored."""
    await session.execute(
        text(
            """
            INSERT INTO ledger_entry (account_id, partner_id, currency, component, kind,
                                      amount_minor, as_of, occurred_at, actor_id, payment_id,
                                      plan_id, reverses_seq)
            SELECT e.account_id, e.partner_id, e.currency, e.component, 'reversal',
                   -e.amount_minor, :as_of, :now, :actor, e.payment_id, e.plan_id, e.seq
            FROM ledger_entry e
            WHERE e.payment_id = :pid AND e.kind <> 'reversal'
              AND NOT EXISTS (SELECT 1 FROM ledger_entry r WHERE r.reverses_seq = e.seq)
            ORDER BY e.seq
            """
        ),
        {"pid": payment_id, "as_of": as_of, "now": moment, "actor": actor_id},
    )


# --- proof ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountDisagreement:
    account_id: uuid.UUID
    currency: str
    components: tuple[Disagreement, ...]


@dataclass(frozen=True, slots=True)
class Verification:
    accounts_checked: int
    disagreeing: int
    first: AccountDisagreement | None

    @property
    def ok(self) -> bool:
        return self.disagreeing == 0


_COMPONENT_COLUMNS = {
    Component.PRINCIPAL: "principal",
    Component.INTEREST: "interest",
    Component.FEES: "fees",
    Component.PAST_DUE: "past_due_amount",
    Component.CREDIT: "credit",
}


def _verify_sql(one_account: bool) -> str:
    sums = ",\n       ".join(
        f"coalesce(sum(amount_minor) FILTER (WHERE component = '{c}'), 0) AS {c}" for c in Component
    )
    differs = " OR ".join(
        f"a.{column} * power(10::numeric, coalesce(x.e, 2)) <> coalesce(s.{c}, 0)"
        for c, column in _COMPONENT_COLUMNS.items()
    )
    only = "WHERE account_id = :account_id" if one_account else ""
    only_a = "WHERE a.id = :account_id" if one_account else ""
    return f"""
WITH s AS (
  SELECT account_id,
       {sums}
  FROM ledger_entry {only}
  GROUP BY account_id
), bad AS (
  SELECT a.id, a.currency, {", ".join(f"a.{c}" for c in _COMPONENT_COLUMNS.values())},
         {", ".join(f"coalesce(s.{c}, 0) AS e_{c}" for c in Component)}
  FROM account a
  LEFT JOIN s ON s.account_id = a.id
  LEFT JOIN {exponents_sql()} AS x(code, e) ON x.code = a.currency
  {only_a}
  {"AND" if one_account else "WHERE"} ({differs})
)
SELECT (SELECT count(*) FROM account a {only_a}) AS checked,
       (SELECT count(*) FROM bad) AS disagreeing,
       first.*
FROM (SELECT 1) one
LEFT JOIN LATERAL (SELECT * FROM bad ORDER BY id LIMIT 1) first ON true
"""  # noqa: S608 (names and numbers from this module only)


async def verify(session: AsyncSession, account_id: uuid.UUID | None = None) -> Verification:
    """Every account (or one) recomputed from its entries; the first that disagrees."""
    params: dict[str, Any] = {} if account_id is None else {"account_id": account_id}
    row = (await session.execute(text(_verify_sql(account_id is not None)), params)).mappings()
    found = row.one()
    first = None
    if found["id"] is not None:
        stored = Balances(
            principal=found["principal"],
            interest=found["interest"],
            fees=found["fees"],
            past_due=found["past_due_amount"],
            credit=found["credit"],
        )
        sums = {c: int(found[f"e_{c}"]) for c in Component}
        first = AccountDisagreement(
            found["id"], found["currency"], tuple(disagreements(stored, sums, found["currency"]))
        )
    return Verification(int(found["checked"]), int(found["disagreeing"]), first)


# --- reading --------------------------------------------------------------------------------


async def list_entries(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[Account, list[LedgerEntry], str | None]:
    """An account's entries, oldest first, for whoever may see the account."""
    if principal.role not in READERS:
        raise PermissionDenied({"role": principal.role.value})
    account = await accounts.get_account(session, principal, account_id)
    query = select(LedgerEntry).where(col(LedgerEntry.account_id) == account.id)
    after = decode_int_cursor(cursor)
    if after is not None:
        query = query.where(col(LedgerEntry.seq) > after)
    rows: Sequence[LedgerEntry] = (
        await session.scalars(query.order_by(col(LedgerEntry.seq)).limit(limit + 1))
    ).all()
    page, next_cursor = split_page(rows, limit, key=lambda e: e.seq)
    return account, list(page), next_cursor
