"""Debtor flags as stored: the one way a flag row is made (raised through an account), and
the standing flags of debtors read for the rules of app/domain/flags.py.

Staff set and clear flags through ``app/services/debtors.py`` (the debtor's endpoints);
collectors raise them through interaction results (``app/services/interactions.py``);
contact checks, work queues and routes read them here.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.domain.contact_check_packs import DebtorFlag as FlagKind
from app.domain.flags import FlagsOnAccount, RaisedFlag, Reach, flags_on, kinds_reaching
from app.models.account import Account
from app.models.debtor import DebtorFlag

# For set-based statements (app/services/worklists.py), the kinds that reach an account from
# the debtor's other accounts: the SQL of ``app.domain.flags.reaches`` binds these.
REACH_PARAMS: dict[str, list[str]] = {
    "agency_flags": sorted(k.value for k in kinds_reaching(Reach.AGENCY)),
    "creditor_flags": sorted(k.value for k in kinds_reaching(Reach.CREDITOR)),
}


def new_flag(
    account: Account,
    kind: FlagKind,
    *,
    set_by: str,
    source_interaction_id: uuid.UUID | None = None,
    set_at: datetime | None = None,
) -> DebtorFlag:
    """A flag on the account's debtor, raised through ``account`` (added by the caller)."""
    flag = DebtorFlag(
        debtor_id=account.debtor_id,
        account_id=account.id,
        partner_id=account.partner_id,
        kind=kind.value,
        source_interaction_id=source_interaction_id,
        set_by=set_by,
    )
    if set_at is not None:
        flag.set_at = set_at
    return flag


def raised(flag: DebtorFlag) -> RaisedFlag:
    return RaisedFlag(FlagKind(flag.kind), flag.account_id, flag.partner_id)


async def standing_flags(
    session: AsyncSession, debtor_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[RaisedFlag]]:
    """The flags not cleared of each debtor, by debtor."""
    rows = await session.execute(
        select(
            col(DebtorFlag.debtor_id),
            col(DebtorFlag.kind),
            col(DebtorFlag.account_id),
            col(DebtorFlag.partner_id),
        ).where(col(DebtorFlag.debtor_id).in_(debtor_ids), col(DebtorFlag.cleared_at).is_(None))
    )
    found: dict[uuid.UUID, list[RaisedFlag]] = defaultdict(list)
    for debtor_id, kind, account_id, partner_id in rows:
        found[debtor_id].append(RaisedFlag(FlagKind(kind), account_id, partner_id))
    return found


async def flags_on_account(session: AsyncSession, account: Account) -> FlagsOnAccount:
    """The standing flags that reach ``account``, by where they came from."""
    found = await standing_flags(session, [account.debtor_id])
    return flags_on(account.id, account.partner_id, found.get(account.debtor_id, []))
