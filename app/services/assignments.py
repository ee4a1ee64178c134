"""Assignment pushes: receive, queue, validate in batches, COPY to staging, merge set-based.

The request stores the upload in ~1 MiB chunks and answers 202. A job (the in-process
worker, or ``cartera worker``) then reads the upload's records from a temporary file a batch
at a time and has each batch validated, sealed and encoded as COPY text by a pool of worker
processes (``app/services/assignment_staging.py``, rules in ``app/domain/assignments.py``);
it COPYs the blobs into temporary staging tables and merges each batch into accounts,
debtors, related parties and contact points with a handful of statements. No statement is
ever issued per row, and the job process itself does almost nothing per row.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import re
import tempfile
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import anyio
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app import locks, vault
from app.db import Database
from app.domain.assignments import IntakeContext, storable
from app.domain.errors import (
    DomainError,
    IdempotencyKeyRequired,
    NotFound,
    PartnerInactive,
    PermissionDenied,
    Text,
    UnreadableUpload,
)
from app.domain.history import BalanceChanged, Balances, Created, StageChanged, StatusChanged
from app.domain.history import keys as history_keys
from app.domain.identity import Country
from app.domain.roles import Role
from app.domain.uploads import FINISHED, UploadStatus
from app.domain.webhooks import AssignmentProcessed, EventKind
from app.i18n import N_, Language, Message, stored_text
from app.models.assignment import Assignment, AssignmentRejection
from app.models.partner import Partner
from app.security import SYSTEM, Principal
from app.services import assignment_staging as staging
from app.services import audit, history, ledger, uploads, webhooks
from app.services.aging import dpd_sql, paused_days_sql, stage_sql
from app.services.partners import partner_today
from app.services.tabular_uploads import (
    SourceFormat,
    UploadCheck,
    check_json,
    count_rows,
    read_records,
)
from app.services.workbooks import DEFAULT_LIMITS, WorkbookLimits

log = structlog.get_logger("cartera.assignments")

BATCH_ROWS = 10_000
MAX_REJECTIONS_STORED = 100_000  # per push; the counts stay exact beyond it
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


PUSHERS = frozenset({Role.ADMIN, Role.MANAGER, Role.PARTNER})
READERS = frozenset({Role.ADMIN, Role.MANAGER, Role.AUDITOR, Role.PARTNER})


# ---------------------------------------------------------------------------------------
# Access


def _may_push(principal: Principal, partner_id: uuid.UUID) -> bool:
    if principal.role is Role.PARTNER:
        return principal.partner_id == partner_id
    return principal.role in PUSHERS


async def partner_for_push(
    session: AsyncSession, principal: Principal, partner_id: uuid.UUID
) -> Partner:
    """The partner a push or recall is for: its own system, or admin/manager staff."""
    if principal.role not in PUSHERS:
        raise PermissionDenied({"role": principal.role.value})
    partner = await session.get(Partner, partner_id)
    if partner is None or not _may_push(principal, partner_id):
        raise NotFound({"entity": "partner"})
    if not partner.is_active:
        raise PartnerInactive()
    return partner


def readable_assignments(principal: Principal) -> Any:
    query = select(Assignment)
    if principal.role is Role.PARTNER:
        return query.where(col(Assignment.partner_id) == principal.partner_id)
    if principal.role in READERS:
        return query
    return query.where(col(Assignment.id).is_(None))


async def get_assignment(
    session: AsyncSession, principal: Principal, assignment_id: uuid.UUID
) -> Assignment:
    if principal.role not in READERS:
        raise PermissionDenied({"role": principal.role.value})
    found: Assignment | None = await session.scalar(
        readable_assignments(principal).where(col(Assignment.id) == assignment_id)
    )
    if found is None:
        raise NotFound({"entity": "assignment"})
    return found


def rejection_message(rejection: AssignmentRejection, language: Language) -> str:
    return stored_text(rejection.message_text, rejection.message, language) or ""


async def list_rejections(
    session: AsyncSession, assignment_id: uuid.UUID, *, after: tuple[int, int] | None, limit: int
) -> list[AssignmentRejection]:
    query = select(AssignmentRejection).where(
        col(AssignmentRejection.assignment_id) == assignment_id
    )
    if after is not None:
        query = query.where(
            text("(row_number, seq) > (:row, :seq)").bindparams(row=after[0], seq=after[1])
        )
    rows = await session.scalars(
        query.order_by(col(AssignmentRejection.row_number), col(AssignmentRejection.seq)).limit(
            limit
        )
    )
    return list(rows.all())


async def stream_rejections(
    session: AsyncSession, assignment_id: uuid.UUID, language: Language
) -> AsyncIterator[tuple[int, str | None, str, str]]:
    """Every rejection in row order, its reason in ``language``, fetched a page at a time."""
    after: tuple[int, int] | None = None
    while True:
        page = await list_rejections(session, assignment_id, after=after, limit=2000)
        for r in page:
            yield r.row_number, r.external_ref, r.field, rejection_message(r, language)
        if len(page) < 2000:
            return
        after = (page[-1].row_number, page[-1].seq)


# ---------------------------------------------------------------------------------------
# Receiving a push


def check_idempotency_key(key: str | None) -> str:
    if key is None or not _KEY.match(key):
        raise IdempotencyKeyRequired()
    return key


async def submit_assignment(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    idempotency_key: str | None,
    source: SourceFormat,
    body: AsyncIterator[bytes],
    *,
    max_json_bytes: int,
    workbook_limits: WorkbookLimits = DEFAULT_LIMITS,
) -> tuple[Assignment, bool]:
    """Store the upload and queue it. A replay of the key with the same body returns the
    first assignment (True) and stores nothing; with another body it is refused."""
    key = check_idempotency_key(idempotency_key)
    partner = await partner_for_push(session, principal, partner_id)
    check = UploadCheck(source, limits=workbook_limits)
    existing = await uploads.find_replay(
        session,
        Assignment,
        partner.id,
        principal.audit_id,
        key,
        body,
        check,
        lock_kind=locks.LockClass.ASSIGNMENT_IDEMPOTENCY,
        queue=uploads.ASSIGNMENTS,
    )
    if existing is not None:
        return existing, True

    assignment = Assignment(
        partner_id=partner.id,
        idempotency_key=key,
        body_sha256="",
        body_bytes=0,
        source_format=source.value,
        submitted_by=principal.audit_id,
    )
    session.add(assignment)
    await session.flush()
    json_body = await uploads.store_body(
        session,
        uploads.ASSIGNMENTS,
        assignment.id,
        body,
        check,
        keep_up_to=max_json_bytes if source is SourceFormat.JSON else None,
    )
    if json_body is not None:
        # Parsing up to max_json_bytes takes a moment: off the event loop.
        await anyio.to_thread.run_sync(_check_json_body, json_body)
    assignment.body_sha256 = check.sha256.hexdigest()
    assignment.body_bytes = check.size
    session.add(assignment)
    await session.flush()
    await uploads.enqueue(session, uploads.ASSIGNMENTS, assignment.id, partner.id)
    await audit.record(
        session,
        principal,
        "assignment.submitted",
        "assignment",
        assignment.id,
        after={
            "partner_id": partner.id,
            "source_format": source.value,
            "body_bytes": check.size,
            "idempotency_key": key,
        },
    )
    return assignment, False


def _check_json_body(body: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="cartera-push-") as folder:
        path = Path(folder) / "push.json"
        path.write_bytes(body)
        check_json(path)


# ---------------------------------------------------------------------------------------
# Processing a push (the job)

_STAGING = """
DROP TABLE IF EXISTS intake_account, intake_party, intake_contact, intake_consent, intake_match;
CREATE TEMP TABLE intake_account (
    row_number int NOT NULL, account_id uuid NOT NULL, debtor_id uuid NOT NULL,
    external_ref text NOT NULL, product_type text NOT NULL, currency text NOT NULL,
    original_amount numeric(18, 2) NOT NULL, principal numeric(18, 2) NOT NULL,
    interest numeric(18, 2) NOT NULL, fees numeric(18, 2) NOT NULL,
    total numeric(18, 2) NOT NULL, past_due_amount numeric(18, 2) NOT NULL,
    oldest_unpaid_due_date date, last_payment_date date, last_payment_amount numeric(18, 2),
    national_id_type text NOT NULL, national_id bytea NOT NULL, national_id_index bytea NOT NULL,
    national_id_masked text NOT NULL, first_names text NOT NULL, last_names text NOT NULL,
    birth_date date,
    content_hash text NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE intake_party (
    row_number int NOT NULL, party_id uuid NOT NULL, kind text NOT NULL, full_name text NOT NULL,
    relationship text, national_id_type text, national_id bytea, national_id_index bytea,
    national_id_masked text, position int NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE intake_contact (
    row_number int NOT NULL, contact_id uuid NOT NULL, party_id uuid, kind text NOT NULL,
    value bytea NOT NULL, value_index bytea NOT NULL, value_masked text NOT NULL,
    state text, municipality text, postal_code text,
    latitude numeric(9, 6), longitude numeric(9, 6), time_zone text, position int NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE intake_consent (
    row_number int NOT NULL, channel text NOT NULL, status text NOT NULL,
    partner_reference text, given_on date
) ON COMMIT DROP
"""

REJECTION_COLUMNS = (
    "assignment_id",
    "row_number",
    "seq",
    "external_ref",
    "field",
    "message",
    "message_text",
)
_DUPLICATE = N_("appears more than once in this push (first at row {first})")


@dataclass(frozen=True, slots=True)
class MergeCounts:
    created: int
    updated: int
    unchanged: int
    rejected: int


async def process_assignment(
    session: AsyncSession,
    assignment_id: uuid.UUID,
    *,
    now: datetime | None = None,
    batch_rows: int = BATCH_ROWS,
    workbook_limits: WorkbookLimits = DEFAULT_LIMITS,
    progress: uploads.ProgressCallback | None = None,
    workers: int | None = None,
) -> Assignment:
    """Validate, stage and merge one queued push; an unreadable upload marks it failed.

    Batches are pipelined: while PostgreSQL merges batch N, the pool's ``workers``
    processes (``CARTERA_INTAKE_WORKERS`` unless given; 0 for a thread) validate and encode
    the next ones (app/services/assignment_staging.py). The whole push is one transaction:
    all of it lands or none.
    ``progress`` (rows done, rows in the upload) is told after each batch; the rows are
    counted first by a reading pass in a worker thread (no validation), which costs a
    fraction of the push's time and lets a reader show how far it has come.
    A push already done with (:data:`~app.domain.uploads.FINISHED`, seen under its row lock) is
    returned as it is: its job ran twice (retried after its worker was taken for dead, say)
    and the first run finished it.
    """
    started = now or datetime.now(UTC)
    assignment = await uploads.locked(session, Assignment, assignment_id)
    if assignment is None:
        raise NotFound({"entity": "assignment"})
    if assignment.status in FINISHED:
        return assignment
    partner = await session.get(Partner, assignment.partner_id)
    assert partner is not None
    context = IntakeContext(
        Country(partner.country),
        partner.currency,
        partner_today(partner, now),
        fingerprint_key=vault.current().index_key,
    )
    source = SourceFormat(assignment.source_format)
    counts = _Progress()
    clock = time.perf_counter()
    # Pushes of one partner merge one at a time; other partners' pushes run alongside.
    await locks.hold(session, locks.LockClass.PARTNER_MERGE, str(partner.id))
    with tempfile.TemporaryDirectory(prefix="cartera-push-") as folder:
        path = Path(folder) / f"push.{source.value}"
        await uploads.spool(session, uploads.ASSIGNMENTS, assignment.id, path)
        for statement in _STAGING.split(";"):
            await session.execute(text(statement))
        report = uploads.Progress(progress)
        if report.wanted:
            await report.start(
                await anyio.to_thread.run_sync(
                    lambda: count_rows(source, path, limits=workbook_limits)
                )
            )
        reader = _BatchReader(
            source,
            path,
            workbook_limits,
            context,
            batch_rows,
            staging.configured_workers() if workers is None else workers,
        )
        try:
            async with session.begin_nested():
                await _run_batches(
                    session, assignment, partner, context.today, started, reader, counts, report
                )
        except UnreadableUpload as exc:
            return await _fail(session, assignment, exc.reason, exc.field_errors, started)
    log.info(
        "assignment merged",
        assignment_id=str(assignment.id),
        rows=counts.received,
        seconds=round(time.perf_counter() - clock, 3),
        validate_seconds=round(reader.seconds, 3),
        merge_seconds=round(counts.merge_seconds, 3),
    )
    assignment.received = counts.received
    assignment.created = counts.created
    assignment.updated = counts.updated
    assignment.unchanged = counts.unchanged
    assignment.rejected = counts.rejected
    status = UploadStatus.COMPLETED_WITH_ERRORS if counts.rejected else UploadStatus.COMPLETED
    return await _finish(session, assignment, status, datetime.now(UTC) if now is None else now)


async def _finish(
    session: AsyncSession, assignment: Assignment, status: UploadStatus, now: datetime
) -> Assignment:
    """Record the outcome, drop the stored upload (the rows are merged or refused), audit."""
    assignment.status = status
    assignment.finished_at = now
    assignment.lease_until = None
    session.add(assignment)
    await uploads.drop_body(session, uploads.ASSIGNMENTS, assignment.id)
    await session.flush()
    # Failed too: the partner hears that its push is done with, whatever the outcome.
    await webhooks.emit(
        session,
        EventKind.ASSIGNMENT_PROCESSED,
        assignment.partner_id,
        AssignmentProcessed(
            assignment_id=str(assignment.id),
            status=assignment.status,
            received=assignment.received,
            created=assignment.created,
            updated=assignment.updated,
            unchanged=assignment.unchanged,
            rejected=assignment.rejected,
        ),
    )
    await audit.record(
        session,
        SYSTEM,
        "assignment.failed" if status == "failed" else "assignment.processed",
        "assignment",
        assignment.id,
        after=_summary(assignment),
        now=now,
    )
    return assignment


@dataclass(slots=True)
class _Progress:
    received: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    stored_rejections: int = 0
    merge_seconds: float = 0.0


class _BatchReader:
    """Reads the upload's records a batch at a time (in a thread) and has each validated by
    the pool, up to one batch per worker ahead of the merge; yields them in order."""

    def __init__(
        self,
        source: SourceFormat,
        path: Path,
        limits: WorkbookLimits,
        context: IntakeContext,
        size: int,
        workers: int,
        *,
        encode: bool = True,
    ) -> None:
        self.source = source
        self.encode = encode  # False: validate only (a dry run, app/services/file_kit.py)
        self.path = path
        self.limits = limits
        self.context = context
        self.size = size
        self.workers = workers
        self.seconds = 0.0  # validation time, summed over the workers

    async def batches(self) -> AsyncGenerator[staging.StagedBatch, None]:
        shape, records = await anyio.to_thread.run_sync(
            lambda: read_records(self.source, self.path, limits=self.limits)
        )
        sealer = vault.current()
        ahead = max(1, self.workers) + 1
        pending: collections.deque[asyncio.Future[staging.StagedBatch]] = collections.deque()
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < ahead:
                    rows = await anyio.to_thread.run_sync(
                        lambda: list(itertools.islice(records, self.size))
                    )
                    if not rows:
                        exhausted = True
                        break
                    job = staging.StageJob(rows, shape, self.context, sealer, self.encode)
                    pending.append(asyncio.ensure_future(staging.stage(job, self.workers)))
                if not pending:
                    return
                batch = await pending.popleft()
                self.seconds += batch.seconds
                yield batch
        finally:
            for waiting in pending:
                waiting.cancel()
            # A merge failed while batches were being validated: let them finish.
            with contextlib.suppress(BaseException):
                await asyncio.gather(*pending, return_exceptions=True)


async def _run_batches(
    session: AsyncSession,
    assignment: Assignment,
    partner: Partner,
    as_of: date,
    now: datetime,
    reader: _BatchReader,
    progress: _Progress,
    report: uploads.Progress,
) -> None:
    # external_ref → row number of its first accepted row, for duplicates in the push.
    accepted: dict[str, int] = {}
    async with contextlib.aclosing(reader.batches()) as batches:
        async for batch in batches:
            await _stage(session, assignment, batch, accepted, progress)
            tick = time.perf_counter()
            counts = await _merge(session, assignment, partner, as_of, now)
            progress.merge_seconds += time.perf_counter() - tick
            progress.created += counts.created
            progress.updated += counts.updated
            progress.unchanged += counts.unchanged
            progress.rejected += counts.rejected
            await report.done(progress.received)


async def _stage(
    session: AsyncSession,
    assignment: Assignment,
    batch: staging.StagedBatch,
    accepted: dict[str, int],
    progress: _Progress,
) -> None:
    """COPY a validated batch into staging, less the rows whose external_ref came earlier in
    the push, and store its refusals."""
    progress.received += batch.received
    progress.rejected += batch.rejected_rows
    for table, columns, data in (
        ("intake_account", staging.ACCOUNT_COLUMNS, batch.accounts),
        ("intake_party", staging.PARTY_COLUMNS, batch.parties),
        ("intake_contact", staging.CONTACT_COLUMNS, batch.contacts),
        ("intake_consent", staging.CONSENT_COLUMNS, batch.consents),
    ):
        await uploads.copy_text(session, table, columns, data)
    rejections = batch.rejections
    repeated = _repeated(batch.accepted, accepted)
    if repeated:
        await session.execute(text(_DROP_REPEATED), {"rows": [r[0] for r in repeated]})
        progress.rejected += len(repeated)
        rejections = sorted(
            [*rejections, *(staging.stored_rejection(*r) for r in repeated)],
            key=lambda r: r[0],
        )
    kept = rejections[: MAX_REJECTIONS_STORED - progress.stored_rejections]
    await uploads.copy_records(
        session,
        "assignment_rejection",
        REJECTION_COLUMNS,
        [(assignment.id, n, seq, *rest) for seq, (n, *rest) in _numbered(kept)],
    )
    progress.stored_rejections += len(kept)


def _repeated(
    rows: list[tuple[str, int]], accepted: dict[str, int]
) -> list[tuple[int, str, str, Message]]:
    """The rows whose external_ref an earlier row of the push already brought (refused,
    as (row, external_ref, field, reason)); the others are remembered."""
    repeated: list[tuple[int, str, str, Message]] = []
    for ref, row_number in rows:
        first = accepted.setdefault(ref, row_number)
        if first != row_number:
            repeated.append(
                (row_number, ref, "external_ref", Message(_DUPLICATE, {"first": first}))
            )
    return repeated


_DROP_REPEATED = """
WITH rows AS (SELECT unnest(CAST(:rows AS int[])) AS n),
a AS (DELETE FROM intake_account t USING rows WHERE t.row_number = rows.n),
p AS (DELETE FROM intake_party t USING rows WHERE t.row_number = rows.n),
c AS (DELETE FROM intake_contact t USING rows WHERE t.row_number = rows.n)
DELETE FROM intake_consent t USING rows WHERE t.row_number = rows.n
"""


def _numbered(
    rejections: list[staging.StoredRejection],
) -> Iterator[tuple[int, staging.StoredRejection]]:
    """Each rejection with its position among its row's rejections."""
    previous = None
    seq = 0
    for rejection in rejections:
        seq = seq + 1 if rejection[0] == previous else 0
        previous = rejection[0]
        yield seq, rejection


def _summary(assignment: Assignment) -> dict[str, Any]:
    return {
        "status": assignment.status,
        "received": assignment.received,
        "created": assignment.created,
        "updated": assignment.updated,
        "unchanged": assignment.unchanged,
        "rejected": assignment.rejected,
        "failure": assignment.failure,
    }


async def _fail(
    session: AsyncSession,
    assignment: Assignment,
    reason: Text,
    errors: Sequence[tuple[str, Text]],
    now: datetime,
) -> Assignment:
    await session.execute(
        text("DELETE FROM assignment_rejection WHERE assignment_id = :a"), {"a": assignment.id}
    )
    await uploads.copy_records(
        session,
        "assignment_rejection",
        REJECTION_COLUMNS,
        [
            (assignment.id, 1, seq, *staging.stored_rejection(1, None, f, m)[1:])
            for seq, (f, m) in enumerate(errors)
        ],
    )
    shown = reason if isinstance(reason, Message) else Message(reason)
    assignment.failure = storable(str(shown), 500)
    assignment.failure_text = shown.to_json()
    return await _finish(session, assignment, UploadStatus.FAILED, now)


# The merge. :pid partner, :aid assignment, :as_of partner's business date, :now, :actor.

# A debtor known from another partner is left as it is: what each partner says about the
# person (names, birth date, contact data) lives with its own accounts.
_UPSERT_DEBTORS = """
INSERT INTO debtor AS d (id, national_id_type, national_id, national_id_index,
                         national_id_masked, first_names, last_names, birth_date, created_at,
                         updated_at)
SELECT DISTINCT ON (national_id_type, national_id_index)
       debtor_id, national_id_type, national_id, national_id_index, national_id_masked,
       first_names, last_names, birth_date, :now, :now
FROM intake_account
ORDER BY national_id_type, national_id_index, row_number DESC
ON CONFLICT (national_id_type, national_id_index) DO NOTHING
"""

# A closed account stays closed, and one recalled after this push was sent stays recalled
# (pushes and recalls apply in the order the partner sent them).
_BLOCKED = "(a.status = 'closed' OR (a.status = 'recalled' AND a.recalled_at > :submitted))"

_MATCH = f"""
CREATE TEMP TABLE intake_match ON COMMIT DROP AS
SELECT s.row_number,
       COALESCE(a.id, s.account_id) AS account_id,
       d.id AS debtor_id,
       a.id IS NULL AS is_new,
       (a.id IS NOT NULL AND NOT {_BLOCKED}
        AND (a.content_hash <> s.content_hash OR a.status <> 'active'
             OR a.debtor_id <> d.id)) AS is_changed,
       (a.id IS NOT NULL AND {_BLOCKED}) AS is_blocked,
       a.status AS old_status
FROM intake_account s
JOIN debtor d ON d.national_id_type = s.national_id_type
              AND d.national_id_index = s.national_id_index
LEFT JOIN account a ON a.partner_id = :pid AND a.external_ref = s.external_ref
"""

_NEW_DPD = dpd_sql("s.oldest_unpaid_due_date")
_CHANGED_DPD = dpd_sql("s.oldest_unpaid_due_date", paused_days_sql("a", "s.oldest_unpaid_due_date"))
# In an UPDATE the target cannot be referenced laterally: the same row joined again as a2.
_UPDATED_DPD = dpd_sql(
    "s.oldest_unpaid_due_date", paused_days_sql("a2", "s.oldest_unpaid_due_date")
)
# What a balance_changed event records: the account's columns of the same names.
_BALANCES = tuple(key.name for key in history_keys(Balances))


def _balances_of(alias: str) -> dict[str, str]:
    return {c: f"{alias}.{c}" for c in _BALANCES}


_LOCK_CHANGED = """
SELECT a.id FROM account a JOIN intake_match m ON m.account_id = a.id
WHERE m.is_changed ORDER BY a.id FOR UPDATE OF a
"""

_CHANGE_EVENTS = f"""
WITH t AS (
{history.INSERT}
SELECT a.id, a.partner_id, e.kind, :as_of, :now, :actor, e.before, e.after
FROM intake_match m
JOIN intake_account s ON s.row_number = m.row_number
JOIN account a ON a.id = m.account_id
JOIN partner_bucket b ON b.partner_id = a.partner_id AND b.product_type = s.product_type
CROSS JOIN LATERAL (SELECT {_CHANGED_DPD} AS dpd) x
CROSS JOIN LATERAL (SELECT {stage_sql("x.dpd", "b")} AS stage) y
CROSS JOIN LATERAL (VALUES
    ({history.kind_sql(BalanceChanged)},
     {history.before_sql(BalanceChanged, **_balances_of("a"))},
     {history.after_sql(BalanceChanged, **_balances_of("s"))},
     ({", ".join("a." + c for c in _BALANCES)}) IS DISTINCT FROM
     ({", ".join("s." + c for c in _BALANCES)})),
    ({history.kind_sql(StageChanged)},
     {history.before_sql(StageChanged, stage="a.stage", dpd="a.dpd")},
     {history.after_sql(StageChanged, stage="y.stage", dpd="x.dpd")}, a.stage <> y.stage),
    ({history.kind_sql(StatusChanged)},
     {history.before_sql(StatusChanged, status="a.status")},
     {history.after_sql(StatusChanged, status="'active'", assignment_id=":aid")},
     a.status <> 'active')
) AS e(kind, before, after, applies)
WHERE m.is_changed AND e.applies
{webhooks.ACCOUNT_EVENT_RETURNING}
), {webhooks.account_event_ctes("t")}
SELECT count(*) FROM t
"""

_UPDATE_CHANGED = f"""
UPDATE account a
SET debtor_id = m.debtor_id, debtor_first_names = s.first_names,
    debtor_last_names = s.last_names, debtor_birth_date = s.birth_date,
    product_type = s.product_type, currency = s.currency,
    original_amount = s.original_amount, principal = s.principal, interest = s.interest,
    fees = s.fees, total = s.total, past_due_amount = s.past_due_amount,
    oldest_unpaid_due_date = s.oldest_unpaid_due_date, last_payment_date = s.last_payment_date,
    last_payment_amount = s.last_payment_amount,
    dpd = x.dpd, stage = {stage_sql("x.dpd", "b")}, aged_as_of = :as_of, status = 'active',
    content_hash = s.content_hash, last_assignment_id = :aid, version = a.version + 1,
    updated_at = :now
FROM intake_match m
JOIN intake_account s ON s.row_number = m.row_number
JOIN partner_bucket b ON b.partner_id = :pid AND b.product_type = s.product_type
JOIN account a2 ON a2.id = m.account_id
CROSS JOIN LATERAL (SELECT {_UPDATED_DPD} AS dpd) x
WHERE m.is_changed AND a.id = m.account_id
"""

_INSERT_NEW = f"""
WITH created AS (
    INSERT INTO account (id, partner_id, external_ref, debtor_id, debtor_first_names,
        debtor_last_names, debtor_birth_date, product_type, currency,
        original_amount, principal, interest, fees, total, past_due_amount,
        oldest_unpaid_due_date, last_payment_date, last_payment_amount, dpd, stage, aged_as_of,
        status, has_pauses, content_hash, last_assignment_id, version, created_at, updated_at)
    SELECT m.account_id, :pid, s.external_ref, m.debtor_id, s.first_names, s.last_names,
        s.birth_date, s.product_type, s.currency,
        s.original_amount, s.principal, s.interest, s.fees, s.total, s.past_due_amount,
        s.oldest_unpaid_due_date, s.last_payment_date, s.last_payment_amount,
        x.dpd, {stage_sql("x.dpd", "b")}, :as_of, 'active', false, s.content_hash, :aid, 1,
        :now, :now
    FROM intake_match m
    JOIN intake_account s ON s.row_number = m.row_number
    JOIN partner_bucket b ON b.partner_id = :pid AND b.product_type = s.product_type
    CROSS JOIN LATERAL (SELECT {_NEW_DPD} AS dpd) x
    WHERE m.is_new
    RETURNING id, stage, dpd, total
)
{history.INSERT}
SELECT id, :pid, {history.kind_sql(Created)}, :as_of, :now, :actor, {history.before_sql(Created)},
       {history.after_sql(Created, assignment_id=":aid", stage="stage", dpd="dpd", total="total")}
FROM created
"""

# Related parties and contact points of a changed account are reconciled, not replaced: a
# reference or guarantor the partner sends again (same kind and name) keeps its row, and so
# do its skip-traced phones; a contact point sent again (same owner, kind and blind index)
# keeps its row with its verification, history and contactability. What the partner no
# longer sends is removed (interactions that used it keep their record, unlinked). New
# accounts take everything as sent, straight from staging.
_MAP_PARTIES = """
CREATE TEMP TABLE intake_party_map ON COMMIT DROP AS
SELECT DISTINCT ON (p.party_id) p.party_id AS staged_id, e.id AS existing_id
FROM intake_party p
JOIN intake_match m ON m.row_number = p.row_number AND m.is_changed
LEFT JOIN related_party e
       ON e.account_id = m.account_id AND e.kind = p.kind
      AND lower(e.full_name) = lower(p.full_name)
ORDER BY p.party_id, e.source = 'partner' DESC, e.position, e.id
"""

_DROP_OLD_PARTIES = """
DELETE FROM related_party e USING intake_match m
WHERE m.is_changed AND e.account_id = m.account_id AND e.source = 'partner'
  AND NOT EXISTS (SELECT 1 FROM intake_party_map x WHERE x.existing_id = e.id)
"""

_UPDATE_KEPT_PARTIES = """
UPDATE related_party e
SET relationship = p.relationship, national_id_type = p.national_id_type,
    national_id = p.national_id, national_id_index = p.national_id_index,
    national_id_masked = p.national_id_masked, position = p.position
FROM intake_party_map x
JOIN intake_party p ON p.party_id = x.staged_id
WHERE e.id = x.existing_id
"""

_INSERT_PARTIES = """
INSERT INTO related_party (id, partner_id, account_id, kind, full_name, relationship,
                           national_id_type, national_id, national_id_index, national_id_masked,
                           position, source)
SELECT p.party_id, :pid, m.account_id, p.kind, p.full_name, p.relationship,
       p.national_id_type, p.national_id, p.national_id_index, p.national_id_masked,
       p.position, 'partner'
FROM intake_party p
JOIN intake_match m ON m.row_number = p.row_number
LEFT JOIN intake_party_map x ON x.staged_id = p.party_id
WHERE m.is_new OR (m.is_changed AND x.existing_id IS NULL)
"""

_RESOLVE_CONTACTS = """
CREATE TEMP TABLE intake_contact_final ON COMMIT DROP AS
SELECT c.contact_id, m.account_id, m.debtor_id,
       CASE WHEN c.party_id IS NULL THEN NULL ELSE coalesce(x.existing_id, c.party_id) END
           AS owner_id,
       c.kind, c.value, c.value_index, c.value_masked, c.state, c.municipality, c.postal_code,
       c.latitude, c.longitude, c.time_zone, c.position
FROM intake_contact c
JOIN intake_match m ON m.row_number = c.row_number AND m.is_changed
LEFT JOIN intake_party_map x ON x.staged_id = c.party_id
"""

_DROP_OLD_CONTACTS = """
DELETE FROM contact_point e USING intake_match m
WHERE m.is_changed AND e.account_id = m.account_id AND e.source = 'partner'
  AND NOT EXISTS (
      SELECT 1 FROM intake_contact_final f
      WHERE f.account_id = e.account_id AND f.owner_id IS NOT DISTINCT FROM e.related_party_id
        AND f.kind = e.kind AND f.value_index = e.value_index
  )
"""

_UPDATE_KEPT_CONTACTS = """
UPDATE contact_point e
SET state = f.state, municipality = f.municipality, postal_code = f.postal_code,
    latitude = coalesce(f.latitude, e.latitude), longitude = coalesce(f.longitude, e.longitude),
    time_zone = coalesce(f.time_zone, e.time_zone), position = f.position
FROM intake_contact_final f
WHERE e.account_id = f.account_id
  AND e.related_party_id IS NOT DISTINCT FROM f.owner_id
  AND e.kind = f.kind AND e.value_index = f.value_index
"""

_INSERT_CONTACTS = """
INSERT INTO contact_point (id, partner_id, account_id, debtor_id, related_party_id, kind, value,
                           value_index, value_masked, state, municipality, postal_code,
                           latitude, longitude, time_zone, position, source)
SELECT c.contact_id, CAST(:pid AS uuid), m.account_id, m.debtor_id, c.party_id, c.kind,
       c.value, c.value_index, c.value_masked, c.state, c.municipality, c.postal_code,
       c.latitude, c.longitude, c.time_zone, c.position, 'partner'
FROM intake_contact c
JOIN intake_match m ON m.row_number = c.row_number AND m.is_new
UNION ALL
SELECT f.contact_id, :pid, f.account_id, f.debtor_id, f.owner_id, f.kind, f.value,
       f.value_index, f.value_masked, f.state, f.municipality, f.postal_code, f.latitude,
       f.longitude, f.time_zone, f.position, 'partner'
FROM intake_contact_final f
WHERE NOT EXISTS (
    SELECT 1 FROM contact_point e
    WHERE e.account_id = f.account_id AND e.related_party_id IS NOT DISTINCT FROM f.owner_id
      AND e.kind = f.kind AND e.value_index = f.value_index
)
"""

# The partner's record of the channels the debtor authorised (source partner_file, its
# reference as evidence; app/domain/consents.py). A debtor's opt-out stands against a grant
# the partner dates no later than it (or does not date); a consent the debtor gave us in an
# interaction or a document keeps its evidence while the partner agrees with it.
_UPSERT_CONSENTS = """
INSERT INTO contact_consent AS c (debtor_id, partner_id, channel, status, source,
                                  partner_reference, given_at, recorded_by, recorded_at)
SELECT DISTINCT ON (m.debtor_id, k.channel)
       m.debtor_id, :pid, k.channel, k.status, 'partner_file', k.partner_reference,
       coalesce(k.given_on::timestamp AT TIME ZONE CAST(:tz AS text), :now), :actor, :now
FROM intake_consent k
JOIN intake_match m ON m.row_number = k.row_number AND (m.is_new OR m.is_changed)
WHERE NOT EXISTS (
    SELECT 1 FROM contact_consent e
    WHERE e.debtor_id = m.debtor_id AND e.partner_id = :pid AND e.channel = k.channel
      AND e.status = 'opted_out' AND k.status = 'granted'
      AND (k.given_on IS NULL
           OR k.given_on::timestamp AT TIME ZONE CAST(:tz AS text) <= e.given_at)
)
ORDER BY m.debtor_id, k.channel, k.row_number DESC
ON CONFLICT (debtor_id, partner_id, channel) DO UPDATE
SET status = excluded.status, source = excluded.source, evidence_interaction_id = NULL,
    evidence_document_id = NULL, partner_reference = excluded.partner_reference,
    given_at = excluded.given_at, recorded_by = excluded.recorded_by,
    recorded_at = excluded.recorded_at
WHERE c.status <> excluded.status OR c.source IN ('partner_file', 'unrecorded')
"""

_ACCOUNT_CLOSED = N_("the account is closed")
_RECALLED_SINCE = N_("the account was recalled after this push was sent")
_REJECT_BLOCKED = """
INSERT INTO assignment_rejection (assignment_id, row_number, seq, external_ref, field, message)
SELECT :aid, m.row_number, 0, s.external_ref, 'external_ref',
       CASE WHEN m.old_status = 'closed' THEN CAST(:closed AS text)
            ELSE CAST(:recalled_since AS text) END
FROM intake_match m JOIN intake_account s ON s.row_number = m.row_number
WHERE m.is_blocked
ON CONFLICT DO NOTHING
"""

_COUNT = """
SELECT count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE is_changed),
       count(*) FILTER (WHERE NOT is_new AND NOT is_changed AND NOT is_blocked),
       count(*) FILTER (WHERE is_blocked)
FROM intake_match
"""


# The staged accounts' columns the merge joins, groups or orders on.
_ANALYSED = (
    "row_number",
    "national_id_type",
    "national_id_index",
    "external_ref",
    "product_type",
    "currency",
)


async def _merge(
    session: AsyncSession,
    assignment: Assignment,
    partner: Partner,
    as_of: date,
    now: datetime,
) -> MergeCounts:
    """Merge the staged batch with a fixed handful of statements, then empty the staging."""
    params = {
        "pid": partner.id,
        "aid": assignment.id,
        "as_of": as_of,
        "now": now,
        "actor": f"assignment:{assignment.id}",
        "submitted": assignment.submitted_at,
        "tz": partner.time_zone,
        # Texts without values: read in each language from their English (i18n.stored_text).
        "closed": _ACCOUNT_CLOSED,
        "recalled_since": _RECALLED_SINCE,
    }

    async def run(sql: str) -> None:
        names = set(re.findall(r"(?<!:):([a-z_]+)", sql))
        tick = time.perf_counter()
        await session.execute(text(sql), {k: v for k, v in params.items() if k in names})
        log.debug("merge step", sql=sql.strip()[:40], seconds=round(time.perf_counter() - tick, 3))

    # Temporary tables have no statistics until analysed; without them the planner joins a
    # batch against the whole account table, and each batch costs more than the last. The
    # row count and the columns the merge joins on are what it needs: sampling the sealed
    # and descriptive columns too took two to three times as long (issue 20).
    await run(f"ANALYZE intake_account ({', '.join(_ANALYSED)})")
    await run(_UPSERT_DEBTORS)
    await run("DROP TABLE IF EXISTS intake_match")
    await run(_MATCH)
    await run("ANALYZE intake_match")
    # The accounts a push changes are locked first, in id order, as payments lock them: a
    # payment landing between reading the old balances and writing the new ones would
    # otherwise leave the ledger's adjustment computed from balances that no longer hold.
    await run(_LOCK_CHANGED)
    await run(_CHANGE_EVENTS)
    await run(ledger.INTAKE_ADJUSTMENT)
    await run(_UPDATE_CHANGED)
    await run(_INSERT_NEW)
    await run(ledger.INTAKE_OPENING)
    await run("DROP TABLE IF EXISTS intake_party_map, intake_contact_final")
    for statement in (
        _MAP_PARTIES,
        _DROP_OLD_PARTIES,
        _UPDATE_KEPT_PARTIES,
        _INSERT_PARTIES,
        _RESOLVE_CONTACTS,
        _DROP_OLD_CONTACTS,
        _UPDATE_KEPT_CONTACTS,
        _INSERT_CONTACTS,
        _UPSERT_CONSENTS,
    ):
        await run(statement)
    await run(_REJECT_BLOCKED)
    created, updated, unchanged, blocked = (await session.execute(text(_COUNT))).one()
    await run("TRUNCATE intake_account, intake_party, intake_contact, intake_consent")
    return MergeCounts(int(created), int(updated), int(unchanged), int(blocked))


# ---------------------------------------------------------------------------------------
# The job (app/jobs/tasks.py): started, then processed; given up after MAX_ATTEMPTS starts

MAX_ATTEMPTS = 3


async def start_job(database: Database, assignment_id: uuid.UUID, now: datetime) -> bool:
    """Mark the push taken by its job (see :func:`app.services.uploads.start`); False when
    there is nothing to process: done with already, or taken too often (then failed)."""
    attempts = await uploads.start(database, uploads.ASSIGNMENTS, assignment_id, now)
    if attempts is None:
        return False
    if attempts > MAX_ATTEMPTS:
        async with database.sessionmaker() as session, session.begin():
            await _give_up(
                session, assignment_id, N_("processing failed repeatedly; push it again")
            )
        return False
    return True


async def mark_failed(
    session: AsyncSession, assignment_id: uuid.UUID, error: DomainError | Exception
) -> None:
    reason: Text = N_("the push could not be processed; the operators have the details")
    if isinstance(error, UnreadableUpload):
        reason = error.reason
    await _give_up(session, assignment_id, reason)


async def _give_up(session: AsyncSession, assignment_id: uuid.UUID, reason: Text) -> None:
    """Fail the push with ``reason``, under its row lock, unless it is finished: another run
    of its job may have finished it meanwhile."""
    assignment = await uploads.locked(session, Assignment, assignment_id)
    if assignment is None or assignment.status in FINISHED:
        return
    await _fail(session, assignment, reason, [], datetime.now(UTC))


async def list_assignments(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    cursor: uuid.UUID | None,
    limit: int,
) -> list[Assignment]:
    """A partner's assignments, newest first (``limit`` + 1 rows: the page
    and whether another follows); a partner system asking for another partner gets a 404."""
    if principal.role not in READERS:
        raise PermissionDenied({"role": principal.role.value})
    if principal.role is Role.PARTNER and principal.partner_id != partner_id:
        raise NotFound({"entity": "partner"})
    query = readable_assignments(principal).where(col(Assignment.partner_id) == partner_id)
    if cursor is not None:
        query = query.where(col(Assignment.id) < cursor)
    rows = await session.scalars(query.order_by(col(Assignment.id).desc()).limit(limit + 1))
    return list(rows)
