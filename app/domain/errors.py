"""Domain errors: plain exceptions with a stable machine code. No HTTP here.

``app/problems.py`` maps each class to an HTTP status and renders RFC 9457 problem+json; the
human title and detail come from the catalogue there (English in code, other languages in
``app/locale``), keyed by ``code`` and filled with ``params``. A text an error carries (a
conflict's reason, a field's message) is English marked N_, or a
:class:`~app.i18n.Message` when it has values: it is translated when the answer is written,
never here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from app.i18n import Message

# A text for a person: English marked N_, or a Message (template and values).
Text = str | Message


class InvalidValue(ValueError):
    """A value a validator refuses, saying why in the reader's language (``text``);
    ``str()`` is the English. Raised inside a pydantic validator it is reported as
    ``value_error`` with ``text`` translated (app/problems.py)."""

    def __init__(self, message: Text, params: Mapping[str, Any] | None = None) -> None:
        self.text = message if isinstance(message, Message) else Message(message, params or {})
        super().__init__(str(self.text))


class DomainError(Exception):
    code: ClassVar[str] = "domain_error"
    # True when what the unit of work wrote before the error must still be committed.
    keeps_changes: ClassVar[bool] = False
    # True when its field errors name something other than the request's parts (the columns
    # of an uploaded file), so the edge does not place them in the body.
    fields_name_columns: ClassVar[bool] = False

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self.params: dict[str, Any] = dict(params or {})
        super().__init__(self.code, self.params)

    @property
    def field_errors(self) -> list[tuple[str, Text]]:
        """(field, message) pairs for the problem's ``errors[]``."""
        return []


class NotFound(DomainError):
    """Absent, or not visible to the caller: the two are indistinguishable on purpose."""

    code = "not_found"


class Conflict(DomainError):
    """The request conflicts with the current state. Not raised itself: each conflict a
    client may act on is a subclass below with its own stable code, catalogue entry and
    values (``app/problems.py``); ``except Conflict`` catches them all."""

    code = "conflict"

    def __init__(self, **params: Any) -> None:
        super().__init__(params)


class AccountNotActive(Conflict):
    """The account was recalled by the partner or closed: it is history, not worked."""

    code = "account_not_active"

    def __init__(self, status: str) -> None:
        super().__init__(status=str(status))


class OpenPlanExists(Conflict):
    code = "open_plan_exists"


class PlanNotPending(Conflict):
    """Only a plan awaiting approval is approved or rejected."""

    code = "plan_not_pending"

    def __init__(self, status: str) -> None:
        super().__init__(status=str(status))


class PlanNotOpen(Conflict):
    """Only a proposed, pending or active plan is cancelled."""

    code = "plan_not_open"

    def __init__(self, status: str) -> None:
        super().__init__(status=str(status))


class AgreementNotIssuable(Conflict):
    code = "agreement_not_issuable"

    def __init__(self, status: str) -> None:
        super().__init__(status=str(status))


class CreditMovementNotPending(Conflict):
    code = "credit_movement_not_pending"

    def __init__(self, status: str) -> None:
        super().__init__(status=str(status))


class PayerReferenceUsed(Conflict):
    """The payer's reference (a receipt, a SPEI tracking key) was already applied."""

    code = "payer_reference_used"


class PaymentAlreadyReversed(Conflict):
    code = "payment_already_reversed"


class FlagAlreadySet(Conflict):
    code = "flag_already_set"


class FlagAlreadyCleared(Conflict):
    code = "flag_already_cleared"


class InteractionAlreadyCorrected(Conflict):
    code = "interaction_already_corrected"


class PauseLimitExceeded(Conflict):
    code = "pause_limit_exceeded"


class PauseOverlaps(Conflict):
    code = "pause_overlaps"


class AllocationRunning(Conflict):
    code = "allocation_running"


class PartnerInactive(Conflict):
    code = "partner_inactive"


class NameTaken(Conflict):
    """A unique name is taken: ``what`` says which (a user name, a team's name, a partner's
    tax id in its country, a machine client id)."""

    code = "name_taken"

    def __init__(self, what: str) -> None:
        super().__init__(what=what)


class LastAdmin(Conflict):
    code = "last_admin"


class InvalidInput(DomainError):
    """A rule about the request's content that the schema alone cannot express. ``field``
    names a field of the request's body by its plain path ("amount", "stages.early.caps"),
    which the edge places in the body ("body.amount"); a query, path or header field names
    its part ("query.limit"). ``message`` is an English template marked N_, filled with
    ``params``: ``text`` keeps both for the reader's language, ``message`` is the English
    text."""

    code = "invalid_input"

    def __init__(self, field: str, message: Text, params: Mapping[str, Any] | None = None):
        self.field = field
        self.text = message if isinstance(message, Message) else Message(message, params or {})
        self.message = str(self.text)
        super().__init__({"field": field, **(params or {})})

    @property
    def field_errors(self) -> list[tuple[str, Text]]:
        return [(self.field, self.text)]


def field_path(parent: str, *names: str | int) -> str:
    """The path of ``names`` inside the field ``parent`` ("stages.early", "caps" gives
    "stages.early.caps"); an empty ``parent`` is the body itself, so the path is ``names``."""
    return ".".join(str(name) for name in (parent, *names) if name != "")


class VersionMismatch(DomainError):
    code = "version_mismatch"


class PreconditionRequired(DomainError):
    """A change that must name the version it was based on (If-Match) did not."""

    code = "precondition_required"


class InvalidCredentials(DomainError):
    """Unknown user, wrong password or inactive account: one answer for all three."""

    code = "invalid_credentials"
    keeps_changes = True


class InvalidGrant(DomainError):
    """A refresh token that is unknown, spent, expired or revoked: one answer for all, and
    the client logs in again. Kept changes: a refusal may have revoked the token's family
    (reuse detected), which must hold although the request fails."""

    code = "invalid_grant"
    keeps_changes = True


class LoginLocked(DomainError):
    code = "login_locked"
    keeps_changes = True


class RateLimited(DomainError):
    """Too many requests of one kind from one caller; ``retry_after`` in whole seconds."""

    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__({"retry_after": retry_after})


class NotAuthenticated(DomainError):
    code = "not_authenticated"


class PermissionDenied(DomainError):
    code = "permission_denied"


class NotReady(DomainError):
    code = "not_ready"


class InvalidClient(DomainError):
    """Unknown client, wrong secret or inactive client."""

    code = "invalid_client"
    keeps_changes = True


class UnreadableUpload(DomainError):
    """An upload that cannot be read as a whole (encoding, header, not a workbook)."""

    code = "unreadable_upload"
    fields_name_columns = True

    def __init__(
        self,
        reason: Text,
        errors: Sequence[tuple[str, Text]] = (),
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.reason = reason if isinstance(reason, Message) else Message(reason, params or {})
        self.errors = list(errors)
        super().__init__({"reason": self.reason})

    @property
    def field_errors(self) -> list[tuple[str, Text]]:
        return self.errors


def shown_part_name(name: str) -> str:
    """A zip part's name fit for a message: short and printable (the sender chose it)."""
    return name[:80].encode("ascii", "backslashreplace").decode("ascii")


class WorkbookTooLarge(UnreadableUpload):
    """A part of an Excel workbook expands past the bound for its kind (counted as it is
    expanded: the zip's directory may understate it)."""

    code = "workbook_too_large"

    def __init__(self, part: str, limit: int) -> None:
        shown = shown_part_name(part)
        super().__init__(f"the workbook's part {shown!r} holds more than {limit} bytes expanded")
        self.params.update(part=shown, limit=limit)


class WorkbookCellTooLong(UnreadableUpload):
    """A cell of an Excel workbook (inline text or a shared string), or a tag, longer than
    any real one: ``position`` is a cell reference, ``string N`` or ``byte N`` of the part."""

    code = "workbook_cell_too_long"

    def __init__(self, part: str, position: str, limit: int) -> None:
        shown, where = shown_part_name(part), shown_part_name(position)
        super().__init__(
            f"the workbook's part {shown!r} holds a cell or tag longer than {limit} "
            f"characters ({where})"
        )
        self.params.update(part=shown, position=where, limit=limit)


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"


class IdempotencyKeyRequired(DomainError):
    code = "idempotency_key_required"


class IdempotencyKeyReused(DomainError):
    """The key was used before with another body."""

    code = "idempotency_key_reused"


class CreditInsufficient(DomainError):
    """More credit was asked to leave an account than it holds (or a reversal would take
    back credit already refunded or moved)."""

    code = "credit_insufficient"


class CreditTransferTargetRefused(DomainError):
    """The account named to receive credit cannot: it must be another active account of
    the same debtor and partner, in the same currency. ``reason`` says which rule failed
    (``same_account``, ``other_debtor``, ``other_partner``, ``other_currency``,
    ``not_active``)."""

    code = "credit_transfer_target_refused"


class PaymentNotReversible(DomainError):
    """A payment that cannot be undone through a reversal (``reason`` says why: a credit
    transfer's payment, ``credit_transfer``)."""

    code = "payment_not_reversible"


class PaymentFileLineNotUnmatched(DomainError):
    """Only a line reported ``unmatched`` can be applied by hand, and only once."""

    code = "payment_file_line_not_unmatched"


class ReversalOutOfOrder(DomainError):
    """A payment that counts toward a plan a later payment completed: that one is reversed
    first."""

    code = "reversal_out_of_order"


class EscalationNotOpen(DomainError):
    """Only an open escalation can be taken (``status`` says what it is)."""

    code = "escalation_not_open"


class EscalationResolved(DomainError):
    """A resolved escalation takes no outcome and no note."""

    code = "escalation_resolved"


class CustodyNotForward(DomainError):
    """A paper original's custody only moves forward (``current`` → ``status`` is not)."""

    code = "custody_not_forward"
