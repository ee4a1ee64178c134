"""Every PostgreSQL advisory lock Cartera takes, from one list.

Transaction-level advisory locks (``pg_advisory_xact_lock``) serialise work that no row lock
covers: an idempotency key not yet stored, a partner's merge, the nightly aging. They are
named by two 32-bit keys, ``(class, key)``; two features that picked the same class by hand
would wait on each other for nothing (or, worse, skip each other's ``try``), so each class
is a member of :class:`LockClass` and every lock is taken through :func:`hold`,
:func:`hold_shared` or :func:`try_hold`. A key that is text (an id, a partner's
idempotency key) is hashed with PostgreSQL's ``hashtext`` into the second 32 bits.

PostgreSQL keeps the one-key (64-bit) lock space apart from the two-key one, so the few
single-key locks (:data:`AUDIT_CHAIN`, :func:`hold_text`) cannot meet a class here.
"""

from __future__ import annotations

from enum import IntEnum, unique

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@unique
class LockClass(IntEnum):
    """The first key of every two-key advisory lock; ``@unique`` refuses a value used twice."""

    LOGIN = 1  # failed-login counting per name and per address
    STAFF_ROLES = 2  # the last admin cannot be demoted or deactivated by two requests at once
    AGING = 5  # the nightly aging (exclusive) against back-dated payments (shared)
    ASSIGNMENT_IDEMPOTENCY = 6  # a push's Idempotency-Key per partner and caller
    PARTNER_MERGE = 7  # one merge of pushed rows per partner at a time
    PAYMENT_IDEMPOTENCY = 8  # a payment's Idempotency-Key per partner and caller
    DEBTOR_CONTACT = 9  # contacts with one debtor are recorded one at a time (caps)
    PLAN_FOLLOW_UP = 10  # one run of the nightly plan follow-up
    PAYMENT_FILE_IDEMPOTENCY = 11  # a payment file's Idempotency-Key per partner and caller
    DEBTOR_FLAGS = 12  # flags of one debtor change one at a time
    ACCOUNT_CONTACT_POINTS = 13  # skip tracing adds an account's contact points in turn
    PROMISE_FOLLOW_UP = 14  # one run of the nightly promise follow-up
    ALLOCATION_RUN = 0x414C4C4F  # "ALLO": one allocation run at a time


# The audit log's hash chain is appended to one entry at a time ("CART").
AUDIT_CHAIN = 0x43415254

_HOLD_INT = text("SELECT pg_advisory_xact_lock(:kind, :key)")
_HOLD_TEXT = text("SELECT pg_advisory_xact_lock(:kind, hashtext(:key))")
_HOLD_SHARED_INT = text("SELECT pg_advisory_xact_lock_shared(:kind, :key)")
_TRY_INT = text("SELECT pg_try_advisory_xact_lock(:kind, :key)")
_HOLD_ONE_KEY = text("SELECT pg_advisory_xact_lock(:key)")
_HOLD_ONE_TEXT_KEY = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


async def hold(session: AsyncSession, kind: LockClass, key: str | int = 0) -> None:
    """Wait for and hold ``(kind, key)`` until the transaction ends."""
    statement = _HOLD_TEXT if isinstance(key, str) else _HOLD_INT
    await session.execute(statement, {"kind": int(kind), "key": key})


async def hold_shared(session: AsyncSession, kind: LockClass, key: int = 0) -> None:
    """Hold ``(kind, key)`` shared: many holders at once, none beside an exclusive one."""
    await session.execute(_HOLD_SHARED_INT, {"kind": int(kind), "key": key})


async def try_hold(session: AsyncSession, kind: LockClass, key: int = 0) -> bool:
    """Hold ``(kind, key)`` if no one else does; whether it is now held."""
    return bool(await session.scalar(_TRY_INT, {"kind": int(kind), "key": key}))


async def hold_audit_chain(session: AsyncSession) -> None:
    """Hold the audit chain's lock until the transaction ends."""
    await session.execute(_HOLD_ONE_KEY, {"key": AUDIT_CHAIN})


async def hold_text(session: AsyncSession, key: str) -> None:
    """Hold a lock named by ``key`` alone (64-bit hash; the one-key space) to commit."""
    await session.execute(_HOLD_ONE_TEXT_KEY, {"key": key})
