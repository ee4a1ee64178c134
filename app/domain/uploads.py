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


# Done with: its job has nothing left to do. A job run again (retried after its worker was
# taken for dead, say) finds the upload so under its row lock and leaves it as it is.
FINISHED = frozenset({UploadStatus.COMPLETED, UploadStatus.COMPLETED_WITH_ERRORS,
                      UploadStatus.FAILED})  # fmt: skip
