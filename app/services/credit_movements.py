"""Credit movements (app/domain/credit_movements.py): ask, approve or reject, do, read.

Choices made here:

- Both accounts are row-locked in id order before anything is checked or written (the source
  alone for a refund), so a movement serialises with payments, reversals and other
  movements on either account and two transfers in opposite directions cannot deadlock. An
  approval locks the movement first (two approvals at once: the second finds it decided, a
  409), then the accounts in id order.
- The credit available is checked when the movement is asked for and again, under the
  locks, when it is done: credit spent in between (another refund, a reversal) makes the
  approval a 409 ``credit_insufficient`` and the movement stays pending (it may be rejected).
- A transfer's target takes the money through :func:`app.services.payments.apply_incoming`,
  the path every payment takes, as a payment with channel ``credit_transfer``, idempotency
  key ``credit:{movement id}`` and recorded by whoever made the movement happen (the
  requester, or the approver). Its ledger entries carry the movement's id, as does the
  source's ``credit_transfer_out`` entry.
- A movement belongs to its source account: who may see that account may read it; the
  target account shows the payment it received.
- The self-approval limits are agency settings (``Settings.credit_self_approval_limits``),
  not partner strategy: they guard the agency's own hands on money, whoever the creditor.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.domain.credit_movements import (
    DECIDERS,
    REQUESTERS,
    AccountFacts,
    MovementKind,
    MovementStatus,
    check_available,
    check_transfer_target,
    credit_out_postings,
    initial_status,
)
from app.domain.errors import CreditMovementNotPending, InvalidInput, NotFound, PermissionDenied
from app.domain.ledger import EntryKind
from app.domain.money import fits_minor_unit
from app.domain.roles import check_maker_checker
from app.i18n import N_
from app.models.account import Account
from app.models.ledger import CreditMovement
from app.pagination import decode_id_cursor, split_page
from app.security import Principal
from app.services import accounts, audit, ledger, payments

READERS = ledger.READERS


def _facts(account: Account) -> AccountFacts:
    return AccountFacts(
        account.id, account.debtor_id, account.partner_id, account.currency, account.status
    )


def _snapshot(movement: CreditMovement) -> dict[str, Any]:
    return {
        "account_id": movement.account_id,
        "kind": movement.kind,
        "target_account_id": movement.target_account_id,
        "amount": movement.amount,
        "currency": movement.currency,
        "status": movement.status,
        "reason": movement.reason,
        "payout_reference": movement.payout_reference,
        "decision_note": movement.decision_note,
        "payment_id": movement.payment_id,
    }


async def _lock_in_order(session: AsyncSession, *ids: uuid.UUID) -> dict[uuid.UUID, Account]:
    """The accounts, row-locked in id order (never deadlocks with another such call)."""
    found = await session.scalars(
        select(Account)
        .where(col(Account.id).in_(set(ids)))
        .order_by(col(Account.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {a.id: a for a in found.all()}


async def _request(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    kind: MovementKind,
    amount: Decimal,
    reason: str,
    *,
    limits: Mapping[str, Decimal],
    target_account_id: uuid.UUID | None = None,
    payout_reference: str | None = None,
    now: datetime | None = None,
) -> CreditMovement:
    if principal.role not in REQUESTERS:
        raise PermissionDenied({"role": principal.role.value})
    source = await accounts.get_account(session, principal, account_id)
    if target_account_id is not None:
        await accounts.get_account(session, principal, target_account_id)  # 404 if unseen
    locked = await _lock_in_order(
        session, source.id, *([] if target_account_id is None else [target_account_id])
    )
    source = locked[source.id]
    if not fits_minor_unit(amount, source.currency):
        raise InvalidInput(
            "amount",
            N_("has more decimals than {currency} has"),
            {"currency": source.currency},
        )
    if target_account_id is not None:
        check_transfer_target(_facts(source), _facts(locked[target_account_id]))
    check_available(source.credit, amount)
    moment = now or datetime.now(UTC)
    movement = CreditMovement(
        account_id=source.id,
        partner_id=source.partner_id,
        kind=kind.value,
        target_account_id=target_account_id,
        amount=amount,
        currency=source.currency,
        status=MovementStatus.PENDING_APPROVAL,
        reason=reason,
        payout_reference=payout_reference,
        requested_by=principal.audit_id,
        requested_at=moment,
    )
    session.add(movement)
    await session.flush()
    if initial_status(principal.role, amount, source.currency, limits) is MovementStatus.DONE:
        await _execute(session, principal, movement, locked, moment)
    await audit.record(
        session, principal, "credit_movement.requested", "credit_movement", movement.id,
        after=_snapshot(movement), now=moment,
    )  # fmt: skip
    await session.refresh(movement)
    return movement


async def request_refund(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    amount: Decimal,
    reason: str,
    payout_reference: str | None = None,
    *,
    limits: Mapping[str, Decimal],
    now: datetime | None = None,
) -> CreditMovement:
    """Credit paid back to the debtor; done at once within the requester's limit
    (``limits``: ``Settings.credit_self_approval_limits``)."""
    return await _request(
        session, principal, account_id, MovementKind.REFUND, amount, reason,
        limits=limits, payout_reference=payout_reference, now=now,
    )  # fmt: skip


async def request_transfer(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    amount: Decimal,
    target_account_id: uuid.UUID,
    reason: str,
    *,
    limits: Mapping[str, Decimal],
    now: datetime | None = None,
) -> CreditMovement:
    """Credit moved to another account of the same debtor and partner, where it pays as a
    payment; done at once within the requester's limit."""
    return await _request(
        session, principal, account_id, MovementKind.TRANSFER, amount, reason,
        limits=limits, target_account_id=target_account_id, now=now,
    )  # fmt: skip


async def _execute(
    session: AsyncSession,
    actor: Principal,
    movement: CreditMovement,
    locked: Mapping[uuid.UUID, Account],
    moment: datetime,
) -> None:
    """Write what the movement does; the accounts are locked and the rules were checked
    under those locks."""
    source = locked[movement.account_id]
    today = await accounts.business_date(session, source, moment)
    kind = (
        EntryKind.CREDIT_REFUND
        if movement.kind == MovementKind.REFUND
        else EntryKind.CREDIT_TRANSFER_OUT
    )
    session.add_all(
        ledger.entries(
            source, credit_out_postings(movement.amount, source.currency), kind,
            as_of=today, moment=moment, actor_id=actor.audit_id,
            credit_movement_id=movement.id,
        )
    )  # fmt: skip
    source.credit -= movement.amount
    source.version += 1
    source.updated_at = moment
    if movement.target_account_id is not None:
        target = locked[movement.target_account_id]
        incoming = payments.Incoming(
            account_id=target.id,
            amount=movement.amount,
            currency=target.currency,
            paid_on=today,
            channel=payments.CREDIT_TRANSFER,
            payer_reference=None,
            idempotency_key=f"credit:{movement.id}",
            body_sha256=hashlib.sha256(f"credit:{movement.id}".encode()).hexdigest(),
            recorded_by=actor.audit_id,
            credit_movement_id=movement.id,
        )
        (payment,) = await payments.apply_incoming(
            session, actor, {target.id: target}, [incoming], today, moment
        )
        movement.payment_id = payment.id
    movement.status = MovementStatus.DONE
    session.add(movement)
    await session.flush()


def _readable(principal: Principal) -> Any:
    visible = accounts.readable_accounts(principal).with_only_columns(col(Account.id))
    return select(CreditMovement).where(col(CreditMovement.account_id).in_(visible))


async def get_movement(
    session: AsyncSession, principal: Principal, movement_id: uuid.UUID
) -> CreditMovement:
    """A movement on an account the caller may not see is a 404."""
    if principal.role not in READERS:
        raise PermissionDenied({"role": principal.role.value})
    found: CreditMovement | None = await session.scalar(
        _readable(principal).where(col(CreditMovement.id) == movement_id)
    )
    if found is None:
        raise NotFound({"entity": "credit_movement"})
    return found


async def list_movements(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[CreditMovement], str | None]:
    """The account's movements (as their source), newest first (ids are time-ordered)."""
    if principal.role not in READERS:
        raise PermissionDenied({"role": principal.role.value})
    account = await accounts.get_account(session, principal, account_id)
    query = select(CreditMovement).where(col(CreditMovement.account_id) == account.id)
    before = decode_id_cursor(cursor)
    if before is not None:
        query = query.where(col(CreditMovement.id) < before)
    rows = (
        await session.scalars(query.order_by(col(CreditMovement.id).desc()).limit(limit + 1))
    ).all()
    return split_page(rows, limit, key=lambda m: m.id)


async def _decide(
    session: AsyncSession,
    principal: Principal,
    movement_id: uuid.UUID,
    *,
    approve: bool,
    note: str | None,
    now: datetime | None,
) -> CreditMovement:
    if principal.role not in DECIDERS:
        raise PermissionDenied({"role": principal.role.value})
    movement: CreditMovement | None = await session.scalar(
        _readable(principal)
        .where(col(CreditMovement.id) == movement_id)
        .with_for_update(of=CreditMovement)
        .execution_options(populate_existing=True)
    )
    if movement is None:
        raise NotFound({"entity": "credit_movement"})
    check_maker_checker(principal.role, is_maker=movement.requested_by == principal.audit_id)
    if movement.status != MovementStatus.PENDING_APPROVAL:
        raise CreditMovementNotPending(movement.status)
    before = _snapshot(movement)
    moment = now or datetime.now(UTC)
    movement.decided_by = principal.audit_id
    movement.decided_at = moment
    movement.decision_note = note
    if approve:
        ids = [movement.account_id]
        if movement.target_account_id is not None:
            ids.append(movement.target_account_id)
        locked = await _lock_in_order(session, *ids)
        source = locked[movement.account_id]
        if movement.target_account_id is not None:
            check_transfer_target(_facts(source), _facts(locked[movement.target_account_id]))
        check_available(source.credit, movement.amount)
        await _execute(session, principal, movement, locked, moment)
    else:
        movement.status = MovementStatus.REJECTED
        session.add(movement)
        await session.flush()
    await audit.record(
        session, principal,
        "credit_movement.approved" if approve else "credit_movement.rejected",
        "credit_movement", movement.id, before=before, after=_snapshot(movement), now=moment,
    )  # fmt: skip
    await session.refresh(movement)
    return movement


async def approve_movement(
    session: AsyncSession,
    principal: Principal,
    movement_id: uuid.UUID,
    note: str | None = None,
    *,
    now: datetime | None = None,
) -> CreditMovement:
    """By a manager or admin who did not ask for it (maker-checker); does it at once."""
    return await _decide(session, principal, movement_id, approve=True, note=note, now=now)


async def reject_movement(
    session: AsyncSession,
    principal: Principal,
    movement_id: uuid.UUID,
    note: str,
    *,
    now: datetime | None = None,
) -> CreditMovement:
    """The same rules as approval; nothing moves."""
    return await _decide(session, principal, movement_id, approve=False, note=note, now=now)
