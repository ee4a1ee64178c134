"""A push's rows validated and made ready to COPY, in a pool of worker processes.

The job process reads the upload's records (CSV lines, sheet rows, JSON objects) a batch at a
time and hands each batch to a worker process, which shapes, validates and seals every row
(``app/domain/assignments.py``, ``app/domain/crypto.py``) and writes the good ones as lines of
COPY's text format, one blob per staging table. The job process only passes the blobs on to
PostgreSQL and merges: per row it does no more than look the external_ref up among those
already accepted in the push.

The pool is started on first use with the ``spawn`` method (a fork of a process running an
event loop and threads is not safe) and holds ``CARTERA_INTAKE_WORKERS`` processes (default:
the machine's CPUs, at most 8); 0 validates in a thread of the job process instead.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import anyio

from app.config import get_settings
from app.domain.assignments import AccountRow, ContactIn, IntakeContext, RowError, storable
from app.domain.assignments import validate_row as validate_account_row
from app.domain.crypto import Vault
from app.domain.errors import Text
from app.domain.identity import CONTACT, NATIONAL_ID, contact_blind_index, mask, mask_contact
from app.i18n import Message
from app.ids import new_id
from app.services.tabular_uploads import FlatShape, RowShapeError
from app.services.uploads import copy_line

MAX_WORKERS = 8

ACCOUNT_COLUMNS = (
    "row_number",
    "account_id",
    "debtor_id",
    "external_ref",
    "product_type",
    "currency",
    "original_amount",
    "principal",
    "interest",
    "fees",
    "total",
    "past_due_amount",
    "oldest_unpaid_due_date",
    "last_payment_date",
    "last_payment_amount",
    "national_id_type",
    "national_id",
    "national_id_index",
    "national_id_masked",
    "first_names",
    "last_names",
    "birth_date",
    "content_hash",
)
PARTY_COLUMNS = (
    "row_number",
    "party_id",
    "kind",
    "full_name",
    "relationship",
    "national_id_type",
    "national_id",
    "national_id_index",
    "national_id_masked",
    "position",
)
CONTACT_COLUMNS = (
    "row_number",
    "contact_id",
    "party_id",
    "kind",
    "value",
    "value_index",
    "value_masked",
    "state",
    "municipality",
    "postal_code",
    "latitude",
    "longitude",
    "time_zone",
    "position",
)
CONSENT_COLUMNS = ("row_number", "channel", "status", "partner_reference", "given_on")

# A refused row's problem as stored: row number, external_ref, field, English, the text for
# every reader (JSON).
StoredRejection = tuple[int, str | None, str, str, str]


def stored_rejection(
    row_number: int, ref: str | None, field: str, message: Text
) -> StoredRejection:
    """A refusal as COPY stores it: its field and English kept short, and the text for every
    reader."""
    shown = message if isinstance(message, Message) else Message(message)
    return (
        row_number,
        ref,
        storable(field, 80),
        storable(str(shown), 300),
        json.dumps(shown.to_json()),
    )


@dataclass(frozen=True, slots=True)
class StageJob:
    """One batch for a worker: (row number, record) pairs, the shape that turns a flat
    record into a row (None for JSON rows), what rows are checked against, the vault that
    seals them. Without ``encode`` (a dry run) the rows are validated only: nothing is
    sealed or written as COPY text."""

    rows: list[tuple[int, Any]]
    shape: FlatShape | None
    context: IntakeContext
    vault: Vault
    encode: bool = True


@dataclass(slots=True)
class StagedBatch:
    """A validated batch: COPY text per staging table, the accepted rows' external_refs in
    row order (the job refuses a second one in the push), the refused rows' problems."""

    received: int = 0
    rejected_rows: int = 0
    accounts: bytes = b""
    parties: bytes = b""
    contacts: bytes = b""
    consents: bytes = b""
    accepted: list[tuple[str, int]] = field(default_factory=list)
    rejections: list[StoredRejection] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(slots=True)
class _Lines:
    accounts: list[str] = field(default_factory=list)
    parties: list[str] = field(default_factory=list)
    contacts: list[str] = field(default_factory=list)
    consents: list[str] = field(default_factory=list)


def stage_rows(job: StageJob) -> StagedBatch:
    """Validate and encode one batch (runs in a worker process, or a thread)."""
    tick = time.perf_counter()
    batch = StagedBatch()
    lines = _Lines()
    for row_number, record in job.rows:
        batch.received += 1
        raw = record if job.shape is None else job.shape(record)
        if isinstance(raw, RowShapeError):
            result: AccountRow | list[RowError] = [RowError("row", raw.text)]
        else:
            result = validate_account_row(row_number, raw, job.context)
        if isinstance(result, AccountRow):
            batch.accepted.append((result.external_ref, row_number))
            if job.encode:
                _lines_of(result, lines, job.vault)
        else:
            batch.rejected_rows += 1
            ref = _external_ref_of(raw)
            batch.rejections.extend(
                stored_rejection(row_number, ref, e.field, e.text) for e in result
            )
    batch.accounts = "".join(lines.accounts).encode()
    batch.parties = "".join(lines.parties).encode()
    batch.contacts = "".join(lines.contacts).encode()
    batch.consents = "".join(lines.consents).encode()
    batch.seconds = time.perf_counter() - tick
    return batch


def _external_ref_of(raw: Any) -> str | None:
    if isinstance(raw, dict):
        ref = raw.get("external_ref")
        if isinstance(ref, str) and ref.strip():
            return storable(ref.strip(), 64)
    return None


def _sealed_id(sealer: Vault, national_id: str | None) -> tuple[Any, Any, Any]:
    """A national id as stored: sealed, its blind index, masked."""
    if national_id is None:
        return None, None, None
    return (
        sealer.seal(national_id, NATIONAL_ID),
        sealer.index(national_id, NATIONAL_ID),
        mask(national_id),
    )


def _lines_of(row: AccountRow, lines: _Lines, sealer: Vault) -> None:
    lines.accounts.append(
        copy_line(
            (
                row.row_number,
                new_id(),
                # Random, not time-ordered: a partner must not learn from a debtor's id that
                # the person was someone else's debtor first.
                uuid.uuid4(),
                row.external_ref,
                row.product_type.value,
                row.currency,
                row.original_amount,
                row.principal,
                row.interest,
                row.fees,
                row.total,
                row.past_due_amount,
                row.oldest_unpaid_due_date,
                row.last_payment_date,
                row.last_payment_amount,
                row.national_id_type,
                *_sealed_id(sealer, row.national_id),
                row.first_names,
                row.last_names,
                row.birth_date,
                row.content_hash,
            )
        )
    )
    for consent in row.consents:
        lines.consents.append(
            copy_line(
                (
                    row.row_number,
                    consent.channel,
                    consent.status,
                    consent.partner_reference,
                    consent.given_on,
                )
            )
        )
    position = 0
    for contact in row.contacts:
        lines.contacts.append(_contact_line(row.row_number, None, contact, position, sealer))
        position += 1
    for party_position, party in enumerate(row.parties):
        party_id = new_id()
        lines.parties.append(
            copy_line(
                (
                    row.row_number,
                    party_id,
                    party.kind,
                    party.full_name,
                    party.relationship,
                    party.national_id_type,
                    *_sealed_id(sealer, party.national_id),
                    party_position,
                )
            )
        )
        for contact in party.contacts:
            lines.contacts.append(
                _contact_line(row.row_number, party_id, contact, position, sealer)
            )
            position += 1


def _contact_line(
    row_number: int, party_id: uuid.UUID | None, contact: ContactIn, position: int, sealer: Vault
) -> str:
    return copy_line(
        (
            row_number,
            new_id(),
            party_id,
            contact.kind,
            sealer.seal(contact.value, CONTACT),
            contact_blind_index(sealer, contact.kind, contact.value),
            mask_contact(contact.kind, contact.value),
            contact.state,
            contact.municipality,
            contact.postal_code,
            contact.latitude,
            contact.longitude,
            contact.time_zone,
            position,
        )
    )


# ---------------------------------------------------------------------------------------
# The pool

_pool: ProcessPoolExecutor | None = None
_pool_workers = 0


def configured_workers() -> int:
    """``CARTERA_INTAKE_WORKERS``, or the machine's CPUs (at most :data:`MAX_WORKERS`)."""
    configured = get_settings().intake_workers
    if configured is not None:
        return configured
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def _executor(workers: int) -> ProcessPoolExecutor:
    global _pool, _pool_workers
    if _pool is None or _pool_workers != workers:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        # spawn: the job process runs an event loop and threads; forking it is not safe.
        _pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        _pool_workers = workers
    return _pool


def _forget(pool: ProcessPoolExecutor) -> None:
    """A pool whose worker died is broken for good: the next push starts a new one."""
    global _pool
    if _pool is pool:
        _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


async def stage(job: StageJob, workers: int) -> StagedBatch:
    """``job`` validated by the pool of ``workers`` processes (0: in a thread)."""
    if workers == 0:
        return await anyio.to_thread.run_sync(stage_rows, job)
    pool = _executor(workers)
    try:
        return await asyncio.wrap_future(pool.submit(stage_rows, job))
    except BrokenProcessPool:
        _forget(pool)
        raise


def _ready() -> int:
    return os.getpid()


async def start(workers: int) -> None:
    """Start the pool's processes now rather than with the first push (each imports the
    validation code once, about a second of CPU)."""
    if workers == 0:
        return
    pool = _executor(workers)
    await asyncio.gather(*(asyncio.wrap_future(pool.submit(_ready)) for _ in range(workers)))


def shutdown() -> None:
    """Stop the pool's processes (they stop with the process anyway)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
        _pool = None
