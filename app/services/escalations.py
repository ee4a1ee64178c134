"""Escalations: cases a collector (or a strategy trigger) refers to management; leads and
managers take and resolve them."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.domain.catalog import NOTE_REQUIRED_OUTCOMES, EscalationOutcome, EscalationStatus
from app.domain.errors import (
    EscalationNotOpen,
    EscalationResolved,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from app.domain.roles import Role
from app.i18n import N_
from app.models.account import Account
from app.models.escalation import Escalation, EscalationNote
from app.pagination import decode_id_cursor, split_page
from app.security import Principal
from app.services import accounts, audit
from app.services.strategies import current_strategy

HANDLERS = frozenset({Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN})

# The one writer of escalation rows: :func:`open_escalation` for one account (a collector's
# referral, a contact's result) and :func:`opening_sql` for the nightly jobs' sets.
_WORD = re.compile(r"[a-z_:]+")


async def open_escalation(
    session: AsyncSession,
    account: Account,
    *,
    source: str,
    reason: str,
    trigger: str | None,
    opened_by: str,
    strategy_version: int | None,
) -> Escalation | None:
    """Open one; an automatic trigger does not open a second while one is open."""
    if source == "trigger":
        already = await session.scalar(
            select(col(Escalation.id)).where(
                col(Escalation.account_id) == account.id,
                col(Escalation.status) != EscalationStatus.RESOLVED,
            )
        )
        if already is not None:
            return None
    escalation = Escalation(
        account_id=account.id,
        partner_id=account.partner_id,
        source=source,
        reason=reason,
        trigger=trigger,
        opened_by=opened_by,
        strategy_version=strategy_version,
    )
    session.add(escalation)
    await session.flush()
    return escalation


def opening_sql(
    candidates: str,
    *,
    trigger: str,
    opened_by: str,
    reason_sql: str,
    where: str = "TRUE",
    also_skip_when: str = "FALSE",
) -> str:
    """The set-based twin of :func:`open_escalation`: one ``INSERT … SELECT`` (usable as a
    CTE) opening an automatic escalation for each candidate whose account has none open.
    ``candidates`` is a FROM item aliased ``b`` with ``account_id``, ``partner_id`` and
    ``strategy_version``; ``reason_sql`` the reason as SQL over ``b``; ``where`` narrows the
    candidates; ``also_skip_when`` is a condition on an existing escalation ``e`` of the
    account that also holds the opening back. Binds ``:now``."""
    if not (_WORD.fullmatch(trigger) and _WORD.fullmatch(opened_by)):
        raise ValueError("trigger and opener are code words")
    return f"""
INSERT INTO escalation (id, account_id, partner_id, source, reason, trigger, status,
                        opened_by, opened_at, strategy_version, version)
SELECT gen_random_uuid(), b.account_id, b.partner_id, 'trigger', {reason_sql}, '{trigger}',
       'open', '{opened_by}', :now, b.strategy_version, 1
FROM {candidates}
WHERE ({where})
  AND NOT EXISTS (
      SELECT 1 FROM escalation e
      WHERE e.account_id = b.account_id AND (e.status <> 'resolved' OR ({also_skip_when}))
  )"""  # noqa: S608 (every fragment is written in code, never taken from input)


def readable_escalations(principal: Principal) -> SelectOfScalar[Escalation]:
    """Those of the accounts the caller may see."""
    visible = accounts.readable_accounts(principal).with_only_columns(col(Account.id))
    return select(Escalation).where(col(Escalation.account_id).in_(visible))


async def create_escalation(
    session: AsyncSession, principal: Principal, account_id: uuid.UUID, reason: str
) -> Escalation:
    if principal.role not in (Role.COLLECTOR, *HANDLERS):
        raise PermissionDenied({"role": principal.role.value})
    account = await accounts.get_account(session, principal, account_id)
    version, _ = await current_strategy(session, account.partner_id)
    escalation = await open_escalation(
        session,
        account,
        source="collector",
        reason=reason,
        trigger=None,
        opened_by=principal.audit_id,
        strategy_version=version,
    )
    assert escalation is not None
    await audit.record(
        session,
        principal,
        "escalation.opened",
        "escalation",
        escalation.id,
        after={"account_id": account.id, "reason": reason},
    )
    return escalation


async def list_escalations(
    session: AsyncSession,
    principal: Principal,
    scope: accounts.AccountScope,
    *,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> accounts.LabelledPage[Escalation]:
    if principal.role is Role.PARTNER:
        raise PermissionDenied({"role": principal.role.value})  # management's, not the partner's
    query = select(Escalation).where(
        col(Escalation.account_id).in_(accounts.scoped_account_ids(principal, scope))
    )
    if status is not None:
        query = query.where(col(Escalation.status) == status)
    after = decode_id_cursor(cursor)
    if after is not None:
        query = query.where(col(Escalation.id) > after)
    rows = (await session.scalars(query.order_by(col(Escalation.id)).limit(limit + 1))).all()
    page, next_cursor = split_page(rows, limit, key=lambda e: e.id)
    return await accounts.labelled_page(session, page, next_cursor, lambda e: e.account_id)


async def _get_for_handling(
    session: AsyncSession, principal: Principal, escalation_id: uuid.UUID
) -> Escalation:
    if principal.role not in HANDLERS:
        raise PermissionDenied({"role": principal.role.value})
    return await _get_visible(session, principal, escalation_id, lock=True)


async def take_escalation(
    session: AsyncSession, principal: Principal, escalation_id: uuid.UUID
) -> Escalation:
    escalation = await _get_for_handling(session, principal, escalation_id)
    if escalation.status != EscalationStatus.OPEN:
        raise EscalationNotOpen({"status": escalation.status})
    escalation.status = EscalationStatus.TAKEN
    escalation.taken_by = principal.user_id
    escalation.taken_at = datetime.now(UTC)
    escalation.version += 1
    session.add(escalation)
    await session.flush()
    await audit.record(
        session, principal, "escalation.taken", "escalation", escalation.id,
        after={"taken_by": principal.user_id},
    )  # fmt: skip
    return escalation


async def resolve_escalation(
    session: AsyncSession,
    principal: Principal,
    escalation_id: uuid.UUID,
    outcome: EscalationOutcome,
    note: str | None,
) -> Escalation:
    """Close it with an outcome of the catalogue; some outcomes need the note to say what."""
    escalation = await _get_for_handling(session, principal, escalation_id)
    if escalation.status == EscalationStatus.RESOLVED:
        raise EscalationResolved({})
    if outcome in NOTE_REQUIRED_OUTCOMES and not note:
        raise InvalidInput(
            "note", N_("required when the outcome is '{outcome}'"), {"outcome": outcome.value}
        )
    escalation.status = EscalationStatus.RESOLVED
    escalation.outcome = outcome.value
    escalation.outcome_note = note
    escalation.resolved_at = datetime.now(UTC)
    if escalation.taken_by is None:
        escalation.taken_by = principal.user_id
        escalation.taken_at = escalation.resolved_at
    escalation.version += 1
    session.add(escalation)
    await session.flush()
    await audit.record(
        session, principal, "escalation.resolved", "escalation", escalation.id,
        after={"outcome": outcome.value, "note": note},
    )  # fmt: skip
    return escalation


async def _get_visible(
    session: AsyncSession, principal: Principal, escalation_id: uuid.UUID, *, lock: bool = False
) -> Escalation:
    if principal.role is Role.PARTNER:
        raise PermissionDenied({"role": principal.role.value})  # management's, not the partner's
    query = readable_escalations(principal).where(col(Escalation.id) == escalation_id)
    found = await session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound({"entity": "escalation"})
    return found


async def get_escalation(
    session: AsyncSession, principal: Principal, escalation_id: uuid.UUID
) -> tuple[Escalation, list[EscalationNote]]:
    """The escalation and its notes, oldest first."""
    escalation = await _get_visible(session, principal, escalation_id)
    notes = await session.scalars(
        select(EscalationNote)
        .where(col(EscalationNote.escalation_id) == escalation.id)
        .order_by(col(EscalationNote.id))
    )
    return escalation, list(notes.all())


async def add_note(
    session: AsyncSession, principal: Principal, escalation_id: uuid.UUID, note: str
) -> EscalationNote:
    """The collector who escalated adds what they learn; leads and managers what they do."""
    escalation = await _get_visible(session, principal, escalation_id, lock=True)
    if principal.role not in HANDLERS and escalation.opened_by != principal.audit_id:
        raise PermissionDenied({"role": principal.role.value})
    if escalation.status == EscalationStatus.RESOLVED:
        raise EscalationResolved({})
    added = EscalationNote(escalation_id=escalation.id, author_id=principal.audit_id, note=note)
    session.add(added)
    await session.flush()
    await audit.record(
        session, principal, "escalation.note_added", "escalation", escalation.id,
        after={"note_id": added.id},
    )  # fmt: skip
    return added
