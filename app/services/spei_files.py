"""SPEI statements from the collection bank: received, matched to accounts by the CLABE each
deposit was sent to, applied through the payment path, reported, and their unmatched
deposits applied by hand.

A statement is a payment file of kind ``spei``: the same upload, queue, job, report and
hand-application as a partner's payment file (app/services/payment_files.py), with its own
layout and matching (app/domain/spei_files.py).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.payment_files import Outcome
from app.models.payment_file import PaymentFile, PaymentFileLine
from app.security import Principal
from app.services import payment_files
from app.services.tabular_uploads import SourceFormat
from app.services.workbooks import DEFAULT_LIMITS, WorkbookLimits

SPEI = payment_files.SPEI


async def submit_statement(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    idempotency_key: str | None,
    source: SourceFormat,
    body: AsyncIterator[bytes],
    *,
    workbook_limits: WorkbookLimits = DEFAULT_LIMITS,
) -> tuple[PaymentFile, bool]:
    """Store the statement and queue it (as a payment file is: the partner's own system, or
    admin/manager staff, for a Mexican partner)."""
    return await payment_files.submit_file(
        session, principal, partner_id, idempotency_key, source, body,
        workbook_limits=workbook_limits, kind=SPEI,
    )  # fmt: skip


async def get_statement(
    session: AsyncSession, principal: Principal, file_id: uuid.UUID
) -> PaymentFile:
    return await payment_files.get_file(session, principal, file_id, SPEI)


async def list_deposits(
    session: AsyncSession,
    principal: Principal,
    file_id: uuid.UUID,
    *,
    outcome: Outcome | None,
    after: int | None,
    limit: int,
) -> list[PaymentFileLine]:
    """The statement's report lines (one per deposit) in file order."""
    statement = await get_statement(session, principal, file_id)
    return await payment_files.list_lines(
        session, statement.id, outcome=outcome, after=after, limit=limit
    )


async def apply_deposit(
    session: AsyncSession,
    principal: Principal,
    file_id: uuid.UUID,
    row_number: int,
    account_id: uuid.UUID,
    note: str,
    *,
    now: datetime | None = None,
) -> PaymentFileLine:
    """Apply an unmatched deposit to the account someone found for it, once (audited)."""
    return await payment_files.apply_line_by_hand(
        session, principal, file_id, row_number, account_id, note, now=now, kind=SPEI
    )
