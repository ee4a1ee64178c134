"""What becomes of an upload (a portfolio push, a payment file or a SPEI statement): the
status the API shows while its job works on it."""

from __future__ import annotations

from enum import StrEnum


class UploadStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"
