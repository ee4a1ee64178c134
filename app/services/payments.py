"""Payments: record one (idempotently), allocate it, reverse it, read them.

Choices made here:

- The account row is locked (``FOR UPDATE``) for the whole unit of work, so two payments on
  one account (and so on one plan) serialise: the second sees what the first allocated and
  can never allocate the same installment twice. Reversals take the same lock.
- ``Idempotency-Key`` is scoped per partner and taken under a transaction advisory lock on
  (partner, key): a replay with the same body returns the first payment and writes nothing;
  another body is refused. The stored hash is of the canonical JSON of the request body.
- The allocation itself is :func:`app.domain.payments.allocate`, pure; this module only
  reads the rows into an :class:`AccountState` and writes the state after back; each
  movement of money also becomes ledger entries (:mod:`app.services.ledger`). The allocation is
  stored on the payment, and :func:`app.domain.payments.reverse` undoes exactly it.
- Every payment, whatever brought it (a request, a partner's file, a credit transfer from
  another account of the debtor), goes through :func:`apply_incoming`.
- A credit transfer's payment (channel ``credit_transfer``) cannot be reversed: the money
  would have to go back to the account it came from, which a reversal does not do.
- DPD and stage move at once: clearing the past-due amount clears the oldest unpaid due
  date, so the account is ``current`` (0 days) under any partner's bucket table; a reversal
  puts the previous due date, DPD and stage back. Changes are recorded in the account's
  history (balance, stage and status events) and in the audit trail.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app import locks
from app.domain.accounts import AccountStatus
from app.domain.errors import (
    AccountNotActive,
    CreditInsufficient,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    PayerReferenceUsed,
    PaymentAlreadyReversed,
    PaymentNotReversible,
    PermissionDenied,
    ReversalOutOfOrder,
)
from app.domain.history import (
    BalanceChanged,
    Balances,
    Delinquency,
    HistoryEvent,
    StageChanged,
    StatusAfter,
    StatusBefore,
    StatusChanged,
)
from app.domain.interactions import PromiseStatus
from app.domain.ledger import (
    EntryKind,
    Posting,
    forgiveness_postings,
    payment_postings,
    plan_interest_postings,
)
from app.domain.money import fits_minor_unit
from app.domain.payment_files import PaymentLine
from app.domain.payments import (
    AccountState,
    Allocation,
    BalanceState,
    InstallmentState,
    InstallmentStatus,
    PaymentChannel,
    PaymentStatus,
    PromiseState,
    allocate,
    reverse,
    serial_of,
)
from app.domain.plans import PlanStatus, plan_is_broken
from app.domain.roles import Role
from app.domain.webhooks import EventKind, PaymentReversed
from app.i18n import N_
from app.models.account import Account, AccountEvent
from app.models.ledger import LedgerEntry
from app.models.payment import Payment
from app.models.plan import PaymentPlan, PlanInstallment
from app.models.promise import Promise
from app.pagination import decode_id_cursor, split_page
from app.schemas.payments import PaymentCreate
from app.security import SYSTEM, Principal
from app.services import accounts, audit, experiments, history, ledger, plans, webhooks
from app.services.assignments import check_idempotency_key

RECORDERS: frozenset[Role] = frozenset(
    {Role.PARTNER, Role.COLLECTOR, Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN}
)
REVERSERS: frozenset[Role] = frozenset({Role.MANAGER, Role.ADMIN})
READERS: frozenset[Role] = RECORDERS | {Role.AUDITOR}


# The channel of the payment a credit transfer makes on its target account (never sent by a
# client: PaymentCreate does not accept it).
CREDIT_TRANSFER = PaymentChannel.CREDIT_TRANSFER.value


def body_sha256(body: PaymentCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _visible_account(principal: Principal, body: PaymentCreate) -> Any:
    query = accounts.readable_accounts(principal)
    if body.account_id is not None:
        return query.where(col(Account.id) == body.account_id)
    if body.payment_reference is not None:
        serial = serial_of(body.payment_reference)
        if serial is None:
            raise InvalidInput(
                "payment_reference",
                N_("not a payment reference: its check digits do not match"),
            )
        return query.where(col(Account.payment_serial) == serial)
    partner_id = principal.partner_id if principal.role is Role.PARTNER else body.partner_id
    if partner_id is None:
        raise InvalidInput("partner_id", N_("give partner_id with external_ref"))
    return query.where(
        col(Account.partner_id) == partner_id, col(Account.external_ref) == body.external_ref
    )


def _balance(account: Account) -> BalanceState:
    return BalanceState(
        principal=account.principal,
        interest=account.interest,
        fees=account.fees,
        total=account.total,
        past_due_amount=account.past_due_amount,
        oldest_unpaid_due_date=account.oldest_unpaid_due_date,
        dpd=account.dpd,
        stage=account.stage,
        status=account.status,
        last_payment_date=account.last_payment_date,
        last_payment_amount=account.last_payment_amount,
    )


def _balances(b: BalanceState) -> Balances:
    """What history records of a balance (its fields are the state's, by name)."""
    return Balances(**{f.name: getattr(b, f.name) for f in dataclasses.fields(Balances)})


def _amounts(b: BalanceState) -> tuple[Decimal, ...]:
    """What a ``balance_changed`` event is written for: the amounts owed moved."""
    return (b.principal, b.interest, b.fees, b.total, b.past_due_amount)


@dataclass(slots=True)
class _Rows:
    """The rows an account state was read from, to write the state after back to."""

    account: Account
    plan: PaymentPlan | None
    installments: dict[str, PlanInstallment]
    promises: dict[str, Promise]

    def state(self) -> AccountState:
        return AccountState(
            balance=_balance(self.account),
            currency=self.account.currency,
            plan_id=None if self.plan is None else str(self.plan.id),
            plan_status=None if self.plan is None else self.plan.status,
            plan_type=None if self.plan is None else self.plan.plan_type,
            installments=tuple(
                InstallmentState(
                    id=key, number=i.number, due_date=i.due_date, amount=i.amount,
                    paid_amount=i.paid_amount, status=i.status, interest=i.interest,
                )
                for key, i in self.installments.items()
            ),
            promises=tuple(
                PromiseState(
                    id=key, due_date=p.due_date, amount=p.amount, paid_amount=p.paid_amount,
                    status=p.status, tolerance_pct=p.tolerance_pct, resolved_on=p.resolved_on,
                )
                for key, p in self.promises.items()
            ),
        )  # fmt: skip


async def _lock_account(session: AsyncSession, account_id: uuid.UUID) -> Account:
    account = await session.scalar(
        select(Account)
        .where(col(Account.id) == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert account is not None  # seen a moment ago, and accounts are never deleted
    return account


async def _rows_for_accounts(
    session: AsyncSession, accounts: Mapping[uuid.UUID, Account]
) -> dict[uuid.UUID, _Rows]:
    """Each (locked) account's active plan with its installments and its pending promises,
    locked: three statements whatever the number of accounts."""
    ids = list(accounts)
    plans = (
        await session.scalars(
            select(PaymentPlan)
            .where(col(PaymentPlan.account_id).in_(ids), col(PaymentPlan.status) == "active")
            .order_by(col(PaymentPlan.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    installments = (
        await session.scalars(
            select(PlanInstallment)
            .where(col(PlanInstallment.plan_id).in_([p.id for p in plans]))
            .order_by(col(PlanInstallment.due_date), col(PlanInstallment.number))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    promises = (
        await session.scalars(
            select(Promise)
            .where(col(Promise.account_id).in_(ids), col(Promise.status) == PromiseStatus.PENDING)
            .order_by(col(Promise.due_date), col(Promise.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    rows = {account_id: _Rows(account, None, {}, {}) for account_id, account in accounts.items()}
    plan_account = {}
    for plan in plans:
        rows[plan.account_id].plan = plan
        plan_account[plan.id] = plan.account_id
    for inst in installments:
        rows[plan_account[inst.plan_id]].installments[str(inst.id)] = inst
    for prom in promises:
        rows[prom.account_id].promises[str(prom.id)] = prom
    return rows


async def _rows_for_reversal(
    session: AsyncSession, account: Account, allocation: Allocation
) -> _Rows:
    """The rows the allocation touched, locked."""
    plan = None
    if allocation.plan_id is not None:
        plan = await session.scalar(
            select(PaymentPlan)
            .where(col(PaymentPlan.id) == uuid.UUID(allocation.plan_id))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    inst_ids = [uuid.UUID(p.installment_id) for p in allocation.installments]
    prom_ids = [uuid.UUID(p.promise_id) for p in allocation.promises]
    installments = (
        await session.scalars(
            select(PlanInstallment)
            .where(col(PlanInstallment.id).in_(inst_ids))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    promises = (
        await session.scalars(
            select(Promise)
            .where(col(Promise.id).in_(prom_ids))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    return _Rows(
        account,
        plan,
        {str(i.id): i for i in installments},
        {str(p.id): p for p in promises},
    )


async def _break_if_late(
    session: AsyncSession, principal: Principal, rows: _Rows, today: date, moment: datetime
) -> None:
    """A plan already broken when a payment arrives is broken then, as the nightly job would
    have done: the money meets promises and the balance, and management hears of it."""
    if (
        rows.plan is not None
        and rows.plan.status == "active"
        and plan_is_broken(rows.state().installments, today, plans.breaking_rule_of(rows.plan))
    ):
        await plans.break_plan(session, principal, rows.plan, today, moment)
        rows.plan = None
        rows.installments = {}


def _apply(
    principal: Principal,
    rows: _Rows,
    after: AccountState,
    moment: datetime,
    today: date,
) -> list[AccountEvent]:
    """Write ``after`` to the rows it was read from (the caller flushes); the account's
    history events (dated ``today``, the partner's business date) to add."""
    account = rows.account
    before = _balance(account)
    b = after.balance
    schedule_moved = False
    for inst in after.installments:
        row = rows.installments[inst.id]
        if row.paid_amount != inst.paid_amount or row.status != inst.status:
            row.paid_amount = inst.paid_amount
            row.status = InstallmentStatus(inst.status)
            schedule_moved = True
    for prom in after.promises:
        prow = rows.promises[prom.id]
        if prow.paid_amount != prom.paid_amount or prow.status != prom.status:
            prow.paid_amount = prom.paid_amount
            prow.status = PromiseStatus(prom.status)
            prow.resolved_on = prom.resolved_on
            prow.updated_at = moment
    if rows.plan is not None and (schedule_moved or after.plan_status != rows.plan.status):
        # Paying an installment changes the plan a client read: its ETag moves on.
        assert after.plan_status is not None
        rows.plan.status = PlanStatus(after.plan_status)
        rows.plan.version += 1
        rows.plan.updated_at = moment

    changes: list[HistoryEvent] = []
    if _amounts(before) != _amounts(b):
        changes.append(BalanceChanged(_balances(before), _balances(b)))
    if before.stage != b.stage:
        changes.append(
            StageChanged(Delinquency(before.stage, before.dpd), Delinquency(b.stage, b.dpd))
        )
    if before.status != b.status:
        changes.append(StatusChanged(StatusBefore(before.status), StatusAfter(b.status)))
    events = [
        history.row(account, change, as_of=today, occurred_at=moment, actor_id=principal.audit_id)
        for change in changes
    ]

    account.principal = b.principal
    account.interest = b.interest
    account.fees = b.fees
    account.total = b.total
    account.past_due_amount = b.past_due_amount
    account.oldest_unpaid_due_date = b.oldest_unpaid_due_date
    account.dpd = b.dpd
    account.stage = b.stage
    account.status = AccountStatus(b.status)
    account.last_payment_date = b.last_payment_date
    account.last_payment_amount = b.last_payment_amount
    account.version += 1
    account.updated_at = moment
    return events


def _payment_entries(
    account: Account,
    payment: Payment,
    allocation: Allocation,
    principal: Principal,
    today: date,
    moment: datetime,
    credit_movement_id: uuid.UUID | None = None,
) -> list[LedgerEntry]:
    """The payment's ledger entries: what it paid per component, its credit, and what a
    settlement it completed forgave. Keeps the account's credit in step."""
    account.credit += allocation.credit
    plan_id = None if allocation.plan_id is None else uuid.UUID(allocation.plan_id)

    def post(postings: list[Posting], kind: EntryKind) -> list[LedgerEntry]:
        return ledger.entries(
            account, postings, kind, as_of=today, moment=moment,
            actor_id=principal.audit_id, payment_id=payment.id, plan_id=plan_id,
            credit_movement_id=credit_movement_id,
        )  # fmt: skip

    currency = account.currency
    return (
        post(plan_interest_postings(allocation, currency), EntryKind.PLAN_INTEREST)
        + post(payment_postings(allocation, currency), EntryKind.PAYMENT)
        + post(forgiveness_postings(allocation, currency), EntryKind.FORGIVENESS)
    )


@dataclass(frozen=True, slots=True)
class Incoming:
    """A payment to allocate and record on an account already locked: what a recorded
    payment, a payment file's line and a credit transfer have in common."""

    account_id: uuid.UUID
    amount: Decimal
    currency: str
    paid_on: date
    channel: str
    payer_reference: str | None
    idempotency_key: str
    body_sha256: str
    recorded_by: str
    payment_file_id: uuid.UUID | None = None
    # A credit transfer's payment: its ledger entries name the movement.
    credit_movement_id: uuid.UUID | None = None


async def apply_incoming(
    session: AsyncSession,
    actor: Principal,
    accounts: Mapping[uuid.UUID, Account],
    incoming: Sequence[Incoming],
    today: date,
    moment: datetime,
) -> list[Payment]:
    """The one path money takes into accounts: each payment, in order, meets the active
    plan's installments, then pending promises, then the balance, and what is left is
    credit (:func:`app.domain.payments.allocate`); the rows, the account's history, the
    payment, its ledger entries and its audit event are written. A handful of statements
    whatever the number: the account states are read in three, the rest written in a few
    flushes."""
    rows_of = await _rows_for_accounts(session, accounts)
    # The arm each account is in as the money arrives (before it moves the account's stage).
    arms = await experiments.arms_of(session, accounts.values())
    made: list[Payment] = []
    events: list[AccountEvent] = []
    completed: list[uuid.UUID] = []
    for one in incoming:
        rows = rows_of[one.account_id]
        await _break_if_late(session, actor, rows, today, moment)
        after, allocation = allocate(rows.state(), one.amount, one.paid_on)
        plan_was = rows.plan.status if rows.plan is not None else None
        events.extend(_apply(actor, rows, after, moment, today))
        if rows.plan is not None and plan_was != "completed" == rows.plan.status:
            completed.append(rows.plan.id)
        made.append(
            Payment(
                account_id=one.account_id,
                partner_id=rows.account.partner_id,
                amount=one.amount,
                currency=one.currency,
                paid_on=one.paid_on,
                channel=one.channel,
                payer_reference=one.payer_reference,
                idempotency_key=one.idempotency_key,
                body_sha256=one.body_sha256,
                allocation=allocation.as_json(),
                credit_amount=allocation.credit,
                recorded_by=one.recorded_by,
                payment_file_id=one.payment_file_id,
                experiment_arm_id=arms.get(one.account_id),
                created_at=moment,
            )
        )
    session.add_all(events)
    session.add_all(made)
    await session.flush()
    session.add_all(
        entry
        for one, payment in zip(incoming, made, strict=True)
        for entry in _payment_entries(
            rows_of[payment.account_id].account, payment,
            Allocation.from_json(payment.allocation), actor, today, moment,
            one.credit_movement_id,
        )
    )  # fmt: skip
    await session.flush()
    # What the partner hears, in the same transaction (set-based: one statement each).
    await webhooks.emit_payments_recorded(session, [p.id for p in made])
    await webhooks.emit_account_events(session, [e.seq for e in events if e.seq is not None])
    await webhooks.emit_plans(session, EventKind.PLAN_COMPLETED, completed)

    def applied(one: Incoming, p: Payment) -> dict[str, Any]:
        after: dict[str, Any] = {
            "account_id": p.account_id, "amount": p.amount, "currency": p.currency,
            "paid_on": p.paid_on, "channel": p.channel,
        }  # fmt: skip
        if one.payment_file_id is not None:
            after["payment_file_id"] = one.payment_file_id
        if one.credit_movement_id is not None:
            after["credit_movement_id"] = one.credit_movement_id
        return after | {"allocation": p.allocation}

    await audit.record_many(
        session,
        actor,
        [
            audit.Change("payment.applied", "payment", p.id, after=applied(one, p))
            for one, p in zip(incoming, made, strict=True)
        ],
        now=moment,
    )
    return made


async def check_payer_reference_free(
    session: AsyncSession, partner_id: uuid.UUID, payer_reference: str
) -> None:
    """Refuse a payer reference the partner's payments already carry. The answer names no
    payment: the one holding it may be on an account the caller cannot read."""
    taken = await session.scalar(
        select(col(Payment.id)).where(
            col(Payment.partner_id) == partner_id,
            col(Payment.payer_reference) == payer_reference,
        )
    )
    if taken is not None:
        raise PayerReferenceUsed()


async def record_payment(
    session: AsyncSession,
    principal: Principal,
    idempotency_key: str | None,
    body: PaymentCreate,
    *,
    now: datetime | None = None,
) -> tuple[Payment, bool]:
    """Record and allocate a payment; (payment, True) when it is a replay of the key."""
    key = check_idempotency_key(idempotency_key)
    if principal.role not in RECORDERS:
        raise PermissionDenied({"role": principal.role.value})
    found = await session.scalar(_visible_account(principal, body))
    if found is None:
        raise NotFound({"entity": "account"})
    partner_id = found.partner_id
    digest = body_sha256(body)
    # Keys are scoped per caller: another caller's key is a new key, never their payment.
    caller = principal.audit_id
    await locks.hold(session, locks.LockClass.PAYMENT_IDEMPOTENCY, f"{partner_id}:{caller}:{key}")
    existing = await session.scalar(
        select(Payment).where(
            col(Payment.partner_id) == partner_id,
            col(Payment.recorded_by) == caller,
            col(Payment.idempotency_key) == key,
        )
    )
    if existing is not None:
        if existing.body_sha256 != digest:
            raise IdempotencyKeyReused()
        return existing, True

    account = await _lock_account(session, found.id)
    if body.currency != account.currency:
        raise InvalidInput(
            "currency",
            N_("the account is in {currency}"),
            {"currency": account.currency, "expected": account.currency},
        )
    if account.status == AccountStatus.RECALLED:
        raise AccountNotActive(account.status)
    if body.payer_reference is not None:
        await check_payer_reference_free(session, partner_id, body.payer_reference)

    moment = now or datetime.now(UTC)
    today = await accounts.business_date(session, account, moment)
    if body.paid_on > today:
        raise InvalidInput(
            "paid_on",
            N_("must not be after today in the partner's zone ({today})"),
            {"today": today},
        )
    if not fits_minor_unit(body.amount, account.currency):
        raise InvalidInput(
            "amount",
            N_("has more decimals than {currency} has"),
            {"currency": account.currency},
        )
    incoming = Incoming(
        account_id=account.id,
        amount=body.amount,
        currency=body.currency,
        paid_on=body.paid_on,
        channel=body.channel,
        payer_reference=body.payer_reference,
        idempotency_key=key,
        body_sha256=digest,
        recorded_by=principal.audit_id,
    )
    (payment,) = await apply_incoming(
        session, principal, {account.id: account}, [incoming], today, moment
    )
    await session.refresh(payment)
    return payment, False


async def apply_file_lines(
    session: AsyncSession,
    payment_file_id: uuid.UUID,
    submitted_by: str,
    accounts: Mapping[uuid.UUID, Account],
    lines: Sequence[tuple[PaymentLine, uuid.UUID]],
    today: date,
    moment: datetime,
    *,
    actor: Principal = SYSTEM,
) -> dict[int, Payment]:
    """Apply reconciled payment file lines (each with its account, already locked) in file
    order through :func:`apply_incoming`, as :func:`record_payment` applies one: the
    payment per line number. The job is the actor (or whoever applies an unmatched line by
    hand); each payment is recorded as by whoever sent the file."""
    incoming = [
        Incoming(
            account_id=account_id,
            amount=line.amount,
            currency=line.currency,
            paid_on=line.paid_on,
            channel=line.channel,
            payer_reference=line.payer_reference,
            idempotency_key=f"file:{payment_file_id}:{line.row_number}",
            body_sha256=hashlib.sha256(repr(line).encode()).hexdigest(),
            recorded_by=submitted_by,
            payment_file_id=payment_file_id,
        )
        for line, account_id in lines
    ]
    made = await apply_incoming(session, actor, accounts, incoming, today, moment)
    return {line.row_number: p for (line, _), p in zip(lines, made, strict=True)}


def _readable_payments(principal: Principal) -> Any:
    visible = accounts.readable_accounts(principal).with_only_columns(col(Account.id))
    return select(Payment).where(col(Payment.account_id).in_(visible))


async def get_payment(
    session: AsyncSession, principal: Principal, payment_id: uuid.UUID
) -> Payment:
    if principal.role not in READERS:
        raise PermissionDenied({"role": principal.role.value})
    payment: Payment | None = await session.scalar(
        _readable_payments(principal).where(col(Payment.id) == payment_id)
    )
    if payment is None:
        raise NotFound({"entity": "payment"})
    return payment


async def list_payments(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[Payment], str | None]:
    """An account's payments, newest first (ids are time-ordered)."""
    if principal.role not in READERS:
        raise PermissionDenied({"role": principal.role.value})
    account = await accounts.get_account(session, principal, account_id)
    query = select(Payment).where(col(Payment.account_id) == account.id)
    return await _newest_first(session, query, limit=limit, cursor=cursor)


async def _newest_first(
    session: AsyncSession, query: SelectOfScalar[Payment], *, limit: int, cursor: str | None
) -> tuple[list[Payment], str | None]:
    before = decode_id_cursor(cursor)
    if before is not None:
        query = query.where(col(Payment.id) < before)
    rows = (await session.scalars(query.order_by(col(Payment.id).desc()).limit(limit + 1))).all()
    return split_page(rows, limit, key=lambda p: p.id)


async def search_payments(
    session: AsyncSession,
    principal: Principal,
    scope: accounts.AccountScope,
    *,
    paid_from: date | None,
    paid_to: date | None,
    channel: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> accounts.LabelledPage[Payment]:
    """Payments across the accounts the caller may see, newest recorded first; ``paid_from``
    and ``paid_to`` bound the day the debtor paid (both included)."""
    if principal.role not in READERS:
        raise PermissionDenied({"role": principal.role.value})
    query = select(Payment).where(
        col(Payment.account_id).in_(accounts.scoped_account_ids(principal, scope))
    )
    if paid_from is not None:
        query = query.where(col(Payment.paid_on) >= paid_from)
    if paid_to is not None:
        query = query.where(col(Payment.paid_on) <= paid_to)
    if channel is not None:
        query = query.where(col(Payment.channel) == channel)
    if status is not None:
        query = query.where(col(Payment.status) == status)
    rows, next_cursor = await _newest_first(session, query, limit=limit, cursor=cursor)
    return await accounts.labelled_page(session, rows, next_cursor, lambda p: p.account_id)


async def reverse_payment(
    session: AsyncSession,
    principal: Principal,
    payment_id: uuid.UUID,
    reason: str,
    *,
    now: datetime | None = None,
) -> Payment:
    """Undo exactly what the payment did; a payment already reversed is a 409."""
    if principal.role not in REVERSERS:
        raise PermissionDenied({"role": principal.role.value})
    found = await get_payment(session, principal, payment_id)
    account = await _lock_account(session, found.account_id)
    payment = await session.scalar(
        select(Payment)
        .where(col(Payment.id) == found.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert payment is not None
    if payment.status != PaymentStatus.APPLIED:
        raise PaymentAlreadyReversed()
    if payment.channel == CREDIT_TRANSFER:
        # Undoing a transfer means putting the credit back on the source account too: not
        # something a reversal of one payment can do (out of scope for now).
        raise PaymentNotReversible({"reason": CREDIT_TRANSFER})
    moment = now or datetime.now(UTC)
    allocation = Allocation.from_json(payment.allocation)
    rows = await _rows_for_reversal(session, account, allocation)
    if (
        rows.plan is not None
        and rows.plan.status == "completed"
        and allocation.installments
        and not allocation.plan_completed
    ):
        # The plan's completion (and a settlement's discount) rests on this money too:
        # the payment that completed it is undone first, so nothing is left completed
        # (or forgiven) on money that is gone.
        raise ReversalOutOfOrder({"plan_id": str(rows.plan.id)})
    after = reverse(rows.state(), allocation)
    if account.credit < allocation.credit:
        # The credit it left was refunded or moved since: undo that first.
        raise CreditInsufficient(
            {"available": str(account.credit), "requested": str(allocation.credit)}
        )
    today = await accounts.business_date(session, account, moment)
    history = _apply(principal, rows, after, moment, today)
    session.add_all(history)
    account.credit -= allocation.credit
    await session.flush()
    await webhooks.emit_account_events(session, [e.seq for e in history if e.seq is not None])
    await ledger.mirror_payment(
        session, payment.id, as_of=today, moment=moment, actor_id=principal.audit_id
    )
    payment.status = PaymentStatus.REVERSED
    payment.reversed_at = moment
    payment.reversed_by = principal.audit_id
    payment.reversal_reason = reason
    session.add(payment)
    await session.flush()
    await webhooks.emit(
        session,
        EventKind.PAYMENT_REVERSED,
        payment.partner_id,
        PaymentReversed(
            payment_id=str(payment.id),
            account_id=str(account.id),
            external_ref=account.external_ref,
            amount=str(payment.amount),
            currency=payment.currency,
        ),
    )
    await audit.record(
        session, principal, "payment.reversed", "payment", payment.id,
        before={"status": PaymentStatus.APPLIED},
        after={"status": PaymentStatus.REVERSED, "reason": reason, "account_id": account.id},
        now=moment,
    )  # fmt: skip
    await session.refresh(payment)
    return payment
