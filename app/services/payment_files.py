"""Payment files from partners: receive, queue, reconcile and apply in batches, report.

The same machinery as assignment pushes (app/services/uploads.py): the request stores the
file in chunks and answers 202; a worker claims it with SKIP LOCKED, spools it to a
temporary file and reads it a batch at a time. Each batch is reconciled with a constant
number of statements (the payer references already applied, the accounts the lines name,
locked in id order, and their ledgers), applied by :func:`app.services.payments.
apply_file_lines`, and its report lines COPYed. The whole file is one transaction: it lands
entirely or not at all, and a file sent twice finds every line a duplicate.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any

import anyio
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app import locks, vault
from app.config import get_settings
from app.db import Database
from app.domain import spei_files
from app.domain.accounts import AccountStatus
from app.domain.assignments import RowError, storable
from app.domain.errors import (
    AccountNotActive,
    InvalidInput,
    NotFound,
    PaymentFileLineNotUnmatched,
    PermissionDenied,
    Text,
    UnreadableUpload,
    UnsupportedMediaType,
)
from app.domain.identity import Country
from app.domain.payment_files import (
    AMOUNT_COLUMNS,
    APPLIED,
    DEFAULT_CHANNEL,
    AccountKey,
    FileContext,
    Matcher,
    Outcome,
    PaymentLine,
    Reconciled,
    check_file_header,
    flat_line,
    read_line,
    reconcile,
    reconcile_with,
)
from app.domain.payment_rails import ClabeIssuer
from app.domain.roles import Role
from app.domain.uploads import FINISHED, UploadStatus
from app.domain.webhooks import EventKind, PaymentFileProcessed
from app.i18n import N_, Message
from app.models.account import Account
from app.models.partner import Partner
from app.models.payment import Payment
from app.models.payment_file import PAYER_NAME, PaymentFile, PaymentFileLine
from app.security import SYSTEM, Principal
from app.services import audit, payments, uploads, webhooks
from app.services.accounts import readable_accounts
from app.services.assignments import (
    READERS,
    check_idempotency_key,
    partner_for_push,
)
from app.services.partners import partner_today
from app.services.payment_rails import clabe_issuer
from app.services.tabular_uploads import (
    Layout,
    RowShapeError,
    SourceFormat,
    UploadCheck,
    count_rows,
    read_rows,
)
from app.services.workbooks import DEFAULT_LIMITS, WorkbookLimits

log = structlog.get_logger("cartera.payment_files")

LAYOUT = Layout(check_file_header, flat_line, AMOUNT_COLUMNS)
SPEI_LAYOUT = Layout(spei_files.check_file_header, flat_line, spei_files.AMOUNT_COLUMNS)
PAYMENTS = "payments"
SPEI = "spei"
LAYOUTS = {PAYMENTS: LAYOUT, SPEI: SPEI_LAYOUT}
LINE_READERS = {PAYMENTS: read_line, SPEI: spei_files.read_line}
BATCH_LINES = 1_000
MAX_ATTEMPTS = 3

LINE_COLUMNS = (
    "payment_file_id",
    "row_number",
    "outcome",
    "external_ref",
    "payment_reference",
    "payer_reference",
    "amount",
    "paid_on",
    "channel",
    "account_id",
    "payment_id",
    "duplicate_of",
    "detail",
    "detail_text",
    "payer_name",
    "payer_bank",
)
# The downloadable report of a partner's payment file: the stored line without its file id,
# the detail's text for every reader (the report shows it in the reader's language) and the
# SPEI payer columns, which its lines never have.
REPORT_COLUMNS = LINE_COLUMNS[1 : LINE_COLUMNS.index("detail") + 1]


def readable_files(principal: Principal, kind: str = PAYMENTS) -> Any:
    query = select(PaymentFile).where(col(PaymentFile.kind) == kind)
    if principal.role is Role.PARTNER:
        return query.where(col(PaymentFile.partner_id) == principal.partner_id)
    if principal.role in READERS:
        return query
    return query.where(col(PaymentFile.id).is_(None))


async def get_file(
    session: AsyncSession, principal: Principal, file_id: uuid.UUID, kind: str = PAYMENTS
) -> PaymentFile:
    if principal.role not in READERS:
        raise PermissionDenied({"role": principal.role.value})
    found: PaymentFile | None = await session.scalar(
        readable_files(principal, kind).where(col(PaymentFile.id) == file_id)
    )
    if found is None:
        raise NotFound({"entity": "payment_file" if kind == PAYMENTS else "spei_file"})
    return found


async def list_lines(
    session: AsyncSession,
    file_id: uuid.UUID,
    *,
    outcome: Outcome | None,
    after: int | None,
    limit: int,
) -> list[PaymentFileLine]:
    query = select(PaymentFileLine).where(col(PaymentFileLine.payment_file_id) == file_id)
    if outcome is not None:
        query = query.where(col(PaymentFileLine.outcome) == outcome.value)
    if after is not None:
        query = query.where(col(PaymentFileLine.row_number) > after)
    rows = await session.scalars(query.order_by(col(PaymentFileLine.row_number)).limit(limit))
    return list(rows.all())


async def stream_lines(
    session: AsyncSession, file_id: uuid.UUID, outcome: Outcome | None
) -> AsyncIterator[PaymentFileLine]:
    """Every report line in file order, fetched a page at a time."""
    after: int | None = None
    while True:
        page = await list_lines(session, file_id, outcome=outcome, after=after, limit=2000)
        for line in page:
            yield line
        if len(page) < 2000:
            return
        after = page[-1].row_number


# ---------------------------------------------------------------------------------------
# Receiving a file


async def submit_file(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    idempotency_key: str | None,
    source: SourceFormat,
    body: AsyncIterator[bytes],
    *,
    workbook_limits: WorkbookLimits = DEFAULT_LIMITS,
    kind: str = PAYMENTS,
) -> tuple[PaymentFile, bool]:
    """Store the file and queue it; a replay of the key with the same body returns the first
    file (True) and stores nothing, with another body it is refused. A SPEI statement is
    for a Mexican partner only (422 otherwise)."""
    key = check_idempotency_key(idempotency_key)
    if source is SourceFormat.JSON:
        # One payment as JSON is POST /payments; files are what banks and stores export.
        raise UnsupportedMediaType()
    partner = await partner_for_push(session, principal, partner_id)
    if kind == SPEI and partner.country != "MX":
        raise InvalidInput("path.partner_id", N_("SPEI statements are for Mexican partners only"))
    check = UploadCheck(source, LAYOUTS[kind], workbook_limits)
    existing = await uploads.find_replay(
        session,
        PaymentFile,
        partner.id,
        principal.audit_id,
        key,
        body,
        check,
        lock_kind=locks.LockClass.PAYMENT_FILE_IDEMPOTENCY,
        queue=uploads.PAYMENT_FILES,
    )
    if existing is not None:
        return existing, True
    payment_file = PaymentFile(
        partner_id=partner.id,
        idempotency_key=key,
        body_sha256="",
        body_bytes=0,
        source_format=source.value,
        currency=partner.currency,
        submitted_by=principal.audit_id,
        kind=kind,
    )
    session.add(payment_file)
    await session.flush()
    await uploads.store_body(session, uploads.PAYMENT_FILES, payment_file.id, body, check)
    payment_file.body_sha256 = check.sha256.hexdigest()
    payment_file.body_bytes = check.size
    await session.flush()
    await uploads.enqueue(session, uploads.PAYMENT_FILES, payment_file.id, partner.id)
    await audit.record(
        session, principal, "payment_file.submitted", "payment_file", payment_file.id,
        after={"partner_id": partner.id, "source_format": source.value, "kind": kind,
               "body_bytes": check.size, "idempotency_key": key},
    )  # fmt: skip
    return payment_file, False


# ---------------------------------------------------------------------------------------
# Processing a file (the job)


@dataclass(slots=True)
class _Tally:
    counts: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))
    applied_amount: Decimal = Decimal("0")
    unmatched_amount: Decimal = Decimal("0")
    # payer reference → the first line carrying it, across the file's batches.
    seen: dict[str, int] = field(default_factory=dict)


def _read_batch(
    rows: Iterator[tuple[int, Any]], context: FileContext, size: int, kind: str = PAYMENTS
) -> list[tuple[int, PaymentLine | Message]]:
    """The next ``size`` lines, each read or with the reason it cannot be."""
    reader = LINE_READERS[kind]
    batch: list[tuple[int, PaymentLine | Message]] = []
    for number, raw in islice(rows, size):
        if isinstance(raw, RowShapeError):
            batch.append((number, raw.text))
            continue
        result = reader(number, raw, context)
        if isinstance(result, list):
            batch.append((number, _refusals(result)))
        else:
            batch.append((number, result))
    return batch


def _refusals(errors: list[RowError]) -> Message:
    """Every reason a line is refused, as one text: "field: reason; field: reason"."""
    template = "; ".join(f"{{field{i}}}: {{reason{i}}}" for i in range(len(errors)))
    params: dict[str, Any] = {}
    for index, error in enumerate(errors):
        params[f"field{index}"] = error.field
        params[f"reason{index}"] = error.text
    return Message(template, params)


async def process_file(
    session: AsyncSession,
    file_id: uuid.UUID,
    *,
    now: datetime | None = None,
    batch_lines: int = BATCH_LINES,
    workbook_limits: WorkbookLimits = DEFAULT_LIMITS,
    progress: uploads.ProgressCallback | None = None,
    issuer: ClabeIssuer | None = None,
) -> PaymentFile:
    """Reconcile and apply one queued file; an unreadable file is marked failed with nothing
    applied. ``progress`` is told the lines in the file (a first reading pass) and the
    lines done after each batch, as for pushes. A SPEI statement matches its lines by
    CLABE, those of ``issuer`` (the settings' collection bank when not given). A file
    already done with (seen under its row lock) is returned as it is: its job ran twice."""
    moment = now or datetime.now(UTC)
    payment_file = await uploads.locked(session, PaymentFile, file_id)
    if payment_file is None:
        raise NotFound({"entity": "payment_file"})
    if payment_file.status in FINISHED:
        return payment_file
    partner = await session.get_one(Partner, payment_file.partner_id)
    context = FileContext(
        Country(partner.country), partner.currency, partner_today(partner, moment)
    )
    source = SourceFormat(payment_file.source_format)
    tally = _Tally()
    with tempfile.TemporaryDirectory(prefix="cartera-payments-") as folder:
        path = Path(folder) / f"payments.{source.value}"
        await uploads.spool(session, uploads.PAYMENT_FILES, payment_file.id, path)
        kind = payment_file.kind
        report = uploads.Progress(progress)
        if report.wanted:
            await report.start(
                await anyio.to_thread.run_sync(
                    lambda: count_rows(source, path, LAYOUTS[kind], workbook_limits)
                )
            )
        rows = read_rows(source, path, LAYOUTS[kind], workbook_limits)
        done = 0
        if kind == SPEI and issuer is None:
            issuer = clabe_issuer(get_settings())
        try:
            async with session.begin_nested():
                while True:
                    batch = await anyio.to_thread.run_sync(
                        _read_batch, rows, context, batch_lines, kind
                    )
                    if not batch:
                        break
                    await _apply_batch(session, payment_file, context, batch, tally, moment, issuer)
                    done += len(batch)
                    await report.done(done)
        except UnreadableUpload as exc:
            await session.execute(
                text("DELETE FROM payment_file_line WHERE payment_file_id = :f"),
                {"f": payment_file.id},
            )
            return await _finish(session, payment_file, UploadStatus.FAILED, moment, exc.reason)
    c = tally.counts
    payment_file.received = sum(c.values())
    payment_file.matched = c[Outcome.MATCHED]
    payment_file.matched_by_reference = c[Outcome.MATCHED_BY_REFERENCE]
    payment_file.unmatched = c[Outcome.UNMATCHED]
    payment_file.duplicates = c[Outcome.DUPLICATE]
    payment_file.rejected = c[Outcome.REJECTED]
    payment_file.applied_amount = tally.applied_amount
    payment_file.unmatched_amount = tally.unmatched_amount
    clean = c[Outcome.UNMATCHED] + c[Outcome.DUPLICATE] + c[Outcome.REJECTED] == 0
    return await _finish(
        session,
        payment_file,
        UploadStatus.COMPLETED if clean else UploadStatus.COMPLETED_WITH_ERRORS,
        moment,
    )


async def _accounts_named(
    session: AsyncSession, partner_id: uuid.UUID, lines: Sequence[PaymentLine]
) -> list[Account]:
    """The partner's accounts the lines name, by external_ref or payment reference, locked
    in id order (payments on one account serialise with POST /payments)."""
    refs = sorted({line.external_ref for line in lines if line.external_ref is not None})
    serials = sorted({line.serial for line in lines if line.serial is not None})
    return await _lock_accounts(session, partner_id, refs, serials)


async def _lock_accounts(
    session: AsyncSession, partner_id: uuid.UUID, refs: list[str], serials: list[int]
) -> list[Account]:
    """The partner's accounts with these external refs or payment serials, locked in id
    order (payments on one account serialise with POST /payments)."""
    if not refs and not serials:
        return []
    found = await session.scalars(
        select(Account)
        .where(
            col(Account.partner_id) == partner_id,
            col(Account.external_ref).in_(refs) | col(Account.payment_serial).in_(serials),
        )
        .order_by(col(Account.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(found.all())


async def _spei_accounts(
    session: AsyncSession, partner_id: uuid.UUID, issuer: ClabeIssuer, lines: Sequence[PaymentLine]
) -> list[Account]:
    """The partner's accounts the deposits' CLABEs name, locked in id order."""
    return await _lock_accounts(session, partner_id, [], spei_files.serials_named(issuer, lines))


async def _apply_batch(
    session: AsyncSession,
    payment_file: PaymentFile,
    context: FileContext,
    batch: list[tuple[int, PaymentLine | Message]],
    tally: _Tally,
    moment: datetime,
    issuer: ClabeIssuer | None = None,
) -> None:
    readable = [item for _, item in batch if isinstance(item, PaymentLine)]
    used = await session.execute(
        select(col(Payment.payer_reference), col(Payment.id)).where(
            col(Payment.partner_id) == payment_file.partner_id,
            col(Payment.payer_reference).in_([line.payer_reference for line in readable]),
        )
    )
    applied_before = {ref: payment_id for ref, payment_id in used.all() if ref is not None}
    if payment_file.kind == SPEI:
        assert issuer is not None
        accounts = await _spei_accounts(session, payment_file.partner_id, issuer, readable)
    else:
        accounts = await _accounts_named(session, payment_file.partner_id, readable)
    keys = {a.id: AccountKey(a.id, a.external_ref, a.payment_serial,
                             a.status == AccountStatus.RECALLED, a.status == AccountStatus.CLOSED)
            for a in accounts}  # fmt: skip
    if payment_file.kind == SPEI:
        assert issuer is not None
        by_serial = {k.serial: k for k in keys.values() if k.serial is not None}
        spei_issuer = issuer

        def spei_match(line: PaymentLine) -> Reconciled:
            return spei_files.match(line, spei_issuer, by_serial)

        matcher: Matcher = spei_match
        results = reconcile_with(readable, matcher, applied_before, tally.seen)
    else:
        results = reconcile(
            readable,
            {k.external_ref: k for k in keys.values()},
            {k.serial: k for k in keys.values() if k.serial is not None},
            applied_before,
            tally.seen,
        )
    to_apply = [(r.line, r.account.id) for r in results if r.outcome in APPLIED and r.account]
    made = await payments.apply_file_lines(
        session, payment_file.id, payment_file.submitted_by, {a.id: a for a in accounts}, to_apply,
        context.today, moment,
    )  # fmt: skip
    by_row = {r.line.row_number: r for r in results}
    records: list[tuple[Any, ...]] = []
    for number, item in batch:
        if isinstance(item, Message):
            tally.counts[Outcome.REJECTED] += 1
            records.append(_record(payment_file.id, number, Outcome.REJECTED, detail=item))
            continue
        result = by_row[number]
        tally.counts[result.outcome] += 1
        payment = made.get(number)
        if payment is not None:
            tally.applied_amount += item.amount
        elif result.outcome is Outcome.UNMATCHED:
            tally.unmatched_amount += item.amount
        records.append(_reconciled_record(payment_file.id, result, payment))
    await uploads.copy_records(session, "payment_file_line", LINE_COLUMNS, records)


def _record(
    file_id: uuid.UUID, number: int, outcome: Outcome, *, detail: Message | None
) -> tuple[Any, ...]:
    return (file_id, number, outcome.value, None, None, None, None, None, None, None, None,
            None, *_detail(detail), None, None)  # fmt: skip


def _detail(detail: Message | None) -> tuple[str | None, str | None]:
    """The English text (kept short) and the text for every reader, as COPY wants them."""
    if detail is None:
        return None, None
    return storable(str(detail), 300), json.dumps(detail.to_json())


def _reconciled_record(
    file_id: uuid.UUID, result: Reconciled, payment: Payment | None
) -> tuple[Any, ...]:
    line = result.line
    return (
        file_id, line.row_number, result.outcome.value, line.external_ref,
        line.payment_reference, line.payer_reference, line.amount, line.paid_on, line.channel,
        None if result.account is None else result.account.id,
        None if payment is None else payment.id,
        result.duplicate_of,
        *_detail(result.detail),
        # COPY skips the ORM's Sealed type: the name is sealed here, as it would seal it.
        None if line.payer_name is None else vault.current().seal(line.payer_name, PAYER_NAME),
        line.payer_bank,
    )  # fmt: skip


def _summary(payment_file: PaymentFile) -> dict[str, Any]:
    return {
        "status": payment_file.status,
        "received": payment_file.received,
        "matched": payment_file.matched,
        "matched_by_reference": payment_file.matched_by_reference,
        "matched_by_hand": payment_file.matched_by_hand,
        "unmatched": payment_file.unmatched,
        "duplicates": payment_file.duplicates,
        "rejected": payment_file.rejected,
        "applied_amount": payment_file.applied_amount,
        "unmatched_amount": payment_file.unmatched_amount,
        "failure": payment_file.failure,
    }


async def _finish(
    session: AsyncSession,
    payment_file: PaymentFile,
    status: UploadStatus,
    now: datetime,
    failure: Text | None = None,
) -> PaymentFile:
    payment_file.status = status
    payment_file.finished_at = now
    if failure is not None:
        text = failure if isinstance(failure, Message) else Message(failure)
        payment_file.failure = storable(str(text), 500)
        payment_file.failure_text = text.to_json()
    await uploads.drop_body(session, uploads.PAYMENT_FILES, payment_file.id)
    await session.flush()
    await webhooks.emit(
        session,
        EventKind.PAYMENT_FILE_PROCESSED,
        payment_file.partner_id,
        PaymentFileProcessed(
            payment_file_id=str(payment_file.id),
            status=payment_file.status,
            received=payment_file.received,
            matched=payment_file.matched + payment_file.matched_by_reference,
            unmatched=payment_file.unmatched,
            duplicates=payment_file.duplicates,
            rejected=payment_file.rejected,
            applied_amount=str(payment_file.applied_amount),
            currency=payment_file.currency,
        ),
    )
    await audit.record(
        session,
        SYSTEM,
        "payment_file.failed" if status == "failed" else "payment_file.processed",
        "payment_file",
        payment_file.id,
        after=_summary(payment_file),
        now=now,
    )
    return payment_file


# ---------------------------------------------------------------------------------------
# An unmatched line applied by hand

HAND_APPLIERS: frozenset[Role] = frozenset({Role.MANAGER, Role.TEAM_LEAD})
# A SPEI deposit is applied by hand by whoever may record a payment on the account
# (app/services/payments.py RECORDERS), on an account they can see.
SPEI_HAND_APPLIERS: frozenset[Role] = payments.RECORDERS


async def apply_line_by_hand(
    session: AsyncSession,
    principal: Principal,
    file_id: uuid.UUID,
    row_number: int,
    account_id: uuid.UUID,
    note: str,
    *,
    now: datetime | None = None,
    kind: str = PAYMENTS,
) -> PaymentFileLine:
    """Apply an ``unmatched`` line to the account someone found for it, once, as the job
    applies lines (:func:`app.services.payments.apply_file_lines`, the job's own path,
    with the person as the actor): the line becomes ``matched_by_hand`` and the file's
    counts and amounts move from unmatched to applied.

    Managers, and team leads on accounts they can see. The file is locked first, as the job
    locks it, then the line and the account, so two hands on one line serialise and the
    second finds it applied (409). The account must be the file's partner's, in the file's
    currency (422), and not recalled (409); a payer reference applied meanwhile is a 409.

    A SPEI statement's deposit (``kind="spei"``): whoever may record payments
    (:data:`SPEI_HAND_APPLIERS`), on an account they can see; a partner's system only on its
    own statements; a closed account is refused too (409)."""
    appliers = SPEI_HAND_APPLIERS if kind == SPEI else HAND_APPLIERS
    if principal.role not in appliers:
        raise PermissionDenied({"role": principal.role.value})
    query = select(PaymentFile).where(col(PaymentFile.id) == file_id, col(PaymentFile.kind) == kind)
    if principal.role is Role.PARTNER:
        query = query.where(col(PaymentFile.partner_id) == principal.partner_id)
    payment_file = await session.scalar(
        query.with_for_update().execution_options(populate_existing=True)
    )
    if payment_file is None:
        raise NotFound({"entity": "payment_file" if kind == PAYMENTS else "spei_file"})
    line = await session.scalar(
        select(PaymentFileLine)
        .where(
            col(PaymentFileLine.payment_file_id) == file_id,
            col(PaymentFileLine.row_number) == row_number,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if line is None:
        raise NotFound({"entity": "payment_file_line"})
    if line.outcome != Outcome.UNMATCHED:
        raise PaymentFileLineNotUnmatched({"outcome": line.outcome})
    account = await session.scalar(
        readable_accounts(principal)
        .where(col(Account.id) == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if account is None:
        raise NotFound({"entity": "account"})
    if account.partner_id != payment_file.partner_id:
        raise InvalidInput("account_id", N_("must be an account of the file's partner"))
    if account.currency != payment_file.currency:
        raise InvalidInput(
            "account_id",
            N_("the account is in {currency}, the file in {currency2}"),
            {"currency": account.currency, "currency2": payment_file.currency},
        )
    if account.status == AccountStatus.RECALLED:
        raise AccountNotActive(account.status)
    if kind == SPEI and account.status == AccountStatus.CLOSED:
        raise AccountNotActive(account.status)
    assert line.amount is not None and line.paid_on is not None
    assert line.payer_reference is not None
    await payments.check_payer_reference_free(
        session, payment_file.partner_id, line.payer_reference
    )
    moment = now or datetime.now(UTC)
    partner = await session.get_one(Partner, payment_file.partner_id)
    payment_line = PaymentLine(
        row_number=line.row_number,
        external_ref=line.external_ref,
        payment_reference=line.payment_reference,
        serial=account.payment_serial,
        amount=line.amount,
        currency=payment_file.currency,
        paid_on=line.paid_on,
        channel=line.channel or DEFAULT_CHANNEL,
        payer_reference=line.payer_reference,
    )
    made = await payments.apply_file_lines(
        session, payment_file.id, payment_file.submitted_by, {account.id: account},
        [(payment_line, account.id)], partner_today(partner, moment), moment, actor=principal,
    )  # fmt: skip
    payment = made[line.row_number]
    before = {"outcome": line.outcome, "account_id": None, "payment_id": None}
    line.outcome = Outcome.MATCHED_BY_HAND.value
    line.account_id = account.id
    line.payment_id = payment.id
    payment_file.unmatched -= 1
    payment_file.matched_by_hand += 1
    payment_file.unmatched_amount -= line.amount
    payment_file.applied_amount += line.amount
    session.add_all([line, payment_file])
    await session.flush()
    await audit.record(
        session, principal, "payment_file_line.applied_by_hand", "payment_file", payment_file.id,
        before=before,
        after={"row_number": line.row_number, "outcome": line.outcome, "kind": kind,
               "account_id": account.id, "payment_id": payment.id, "amount": line.amount,
               "note": note},
        now=moment,
    )  # fmt: skip
    return line


# ---------------------------------------------------------------------------------------
# The queue


async def start_job(database: Database, file_id: uuid.UUID, now: datetime) -> bool:
    """Mark the file taken by its job (see :func:`app.services.uploads.start`); False when
    there is nothing to process: done with already, or taken too often (then failed)."""
    attempts = await uploads.start(database, uploads.PAYMENT_FILES, file_id, now)
    if attempts is None:
        return False
    if attempts > MAX_ATTEMPTS:
        async with database.sessionmaker() as session, session.begin():
            await _give_up(session, file_id, N_("processing failed repeatedly; send it again"))
        return False
    return True


async def mark_failed(session: AsyncSession, file_id: uuid.UUID, error: Exception) -> None:
    reason: Text = N_("the file could not be processed; the operators have the details")
    if isinstance(error, UnreadableUpload):
        reason = error.reason
    await _give_up(session, file_id, reason)


async def _give_up(session: AsyncSession, file_id: uuid.UUID, reason: Text) -> None:
    """Fail the file with ``reason``, under its row lock, unless it is finished: another run
    of its job may have finished it meanwhile."""
    payment_file = await uploads.locked(session, PaymentFile, file_id)
    if payment_file is None or payment_file.status in FINISHED:
        return
    await _finish(session, payment_file, UploadStatus.FAILED, datetime.now(UTC), reason)


async def list_files(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    cursor: uuid.UUID | None,
    limit: int,
) -> list[PaymentFile]:
    """A partner's payment files, newest first (``limit`` + 1 rows: the page
    and whether another follows); a partner system asking for another partner gets a 404."""
    if principal.role not in READERS:
        raise PermissionDenied({"role": principal.role.value})
    if principal.role is Role.PARTNER and principal.partner_id != partner_id:
        raise NotFound({"entity": "partner"})
    query = readable_files(principal).where(col(PaymentFile.partner_id) == partner_id)
    if cursor is not None:
        query = query.where(col(PaymentFile.id) < cursor)
    rows = await session.scalars(query.order_by(col(PaymentFile.id).desc()).limit(limit + 1))
    return list(rows)
