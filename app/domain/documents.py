"""Account documents: which files are accepted, and the custody of their paper originals.

Pure rules, no I/O and no clock:

- A document is a PDF, a JPEG or a PNG. The declared media type must be one of them *and*
  the first bytes must be that format's signature ("magic bytes"): a program renamed
  ``.pdf`` and sent as ``application/pdf`` is refused. It must also end as that format
  does (a PDF's ``%%EOF`` in its last KiB, a JPEG's end-of-image marker, a PNG's ``IEND``
  chunk), so a file with only the right first bytes, or cut short, is refused too.
- Custody of the paper original. A document is ``digital_only`` until someone records that
  a paper original exists. From then on its custody only moves forward::

      digital_only ─┬─> with_collector ──> delivered_to_office ─┬─> destroyed
                    └────────────────────> delivered_to_office  └─> returned_to_partner

  A collector who took a signed agreement or a copy of an identity document records
  ``with_collector``; the office (a team lead, manager or admin) records that it was
  delivered and, later, that it was destroyed. An original can arrive at the office
  directly (a letter by post), but it is destroyed only from the office: paperwork is
  never recorded as destroyed while a collector still holds it. The office may instead send
  it back to the creditor (``returned_to_partner``). ``destroyed`` and
  ``returned_to_partner`` are final.
  Each step is dated (``on``, a business date) no earlier than the step before it and no
  later than today.
- Sealed storage. A document's bytes are kept as a *blob* of chunks of :data:`CHUNK_BYTES`
  (the last one shorter or equal), each sealed with AES-256-GCM under the personal-data key
  ring (:class:`app.domain.crypto.Vault`). A chunk's associated data
  (:func:`chunk_context`) names the purpose ``document``, the blob's id, the chunk's place
  and whether it is the last one: a chunk moved to another blob or another place, or a blob
  cut short (its new last chunk was not sealed as last), does not open.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from app.domain.crypto import SealedBytes, Vault
from app.domain.errors import CustodyNotForward, InvalidInput, PermissionDenied
from app.domain.roles import Role
from app.i18n import N_


class DocumentKind(StrEnum):
    SIGNED_AGREEMENT = "signed_agreement"
    IDENTITY_DOCUMENT = "identity_document"
    PROOF_OF_PAYMENT = "proof_of_payment"
    VISIT_PHOTO = "visit_photo"
    CORRESPONDENCE = "correspondence"
    OTHER = "other"


class MediaType(StrEnum):
    PDF = "application/pdf"
    JPEG = "image/jpeg"
    PNG = "image/png"


# Each accepted format's signature at offset 0. PDF readers tolerate junk before "%PDF-";
# we do not: a document that does not start as its type is not stored.
MAGIC: Mapping[MediaType, bytes] = {
    MediaType.PDF: b"%PDF-",
    MediaType.JPEG: b"\xff\xd8\xff",
    MediaType.PNG: b"\x89PNG\r\n\x1a\n",
}
# How many leading bytes are enough to tell the formats apart.
SNIFF_BYTES = max(len(m) for m in MAGIC.values())

# How each format ends. A PDF writer may put a line end or some padding after "%%EOF", so
# the marker is looked for in the last KiB (the streaming check keeps that much); JPEG and
# PNG end exactly with their end-of-image marker and IEND chunk (length, type, CRC).
TAIL_BYTES = 1024
PDF_END = b"%%EOF"
JPEG_END = b"\xff\xd9"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"

EXTENSIONS: Mapping[MediaType, str] = {
    MediaType.PDF: "pdf",
    MediaType.JPEG: "jpg",
    MediaType.PNG: "png",
}


def declared_media_type(content_type: str | None) -> MediaType | None:
    """The accepted media type a ``Content-Type`` header names (parameters ignored), or
    None when it names none of them."""
    if not content_type:
        return None
    essence = content_type.split(";", 1)[0].strip().lower()
    try:
        return MediaType(essence)
    except ValueError:
        return None


def sniff(head: bytes) -> MediaType | None:
    """The accepted format whose signature ``head`` starts with, or None."""
    for media_type, magic in MAGIC.items():
        if head.startswith(magic):
            return media_type
    return None


def content_matches(declared: MediaType, head: bytes) -> bool:
    """Whether the first bytes of a document are those of its declared type."""
    return sniff(head) is declared


def content_ends_right(declared: MediaType, tail: bytes) -> bool:
    """Whether the last bytes of a document (its last :data:`TAIL_BYTES`, or all of it when
    shorter) end it as its declared type ends."""
    if declared is MediaType.PDF:
        return PDF_END in tail[-TAIL_BYTES:]
    if declared is MediaType.JPEG:
        return tail.endswith(JPEG_END)
    return tail.endswith(PNG_END)


# --- sealed storage -----------------------------------------------------------------------

# The purpose documents are sealed for; no other sealed value's associated data starts so.
DOCUMENT_PURPOSE = "document"
# Big enough that a 20 MiB scan is 80 rows, small enough that a request holds little.
CHUNK_BYTES = 256 * 1024
_CONTEXT_VERSION = 1


def chunk_context(blob_id: uuid.UUID, seq: int, *, final: bool) -> bytes:
    """The associated data a document chunk is sealed under: purpose, format version, blob,
    place (0-based) and whether it is the blob's last chunk."""
    if not 0 <= seq < 2**32:
        raise ValueError("a chunk's place is 0 to 2**32 - 1")
    return (
        DOCUMENT_PURPOSE.encode()
        + b"\x00"
        + bytes([_CONTEXT_VERSION])
        + blob_id.bytes
        + seq.to_bytes(4, "big")
        + (b"\x01" if final else b"\x00")
    )


def seal_chunk(
    sealer: Vault, blob_id: uuid.UUID, seq: int, plaintext: bytes, *, final: bool
) -> SealedBytes:
    return sealer.seal_bytes(plaintext, chunk_context(blob_id, seq, final=final))


def open_chunk(
    sealer: Vault, blob_id: uuid.UUID, seq: int, sealed: SealedBytes, *, final: bool
) -> bytes:
    """The chunk's plaintext; SealError when it is not this blob's chunk at this place (or
    not its last when ``final``), was altered, or its key left the ring."""
    return sealer.open_bytes(sealed, chunk_context(blob_id, seq, final=final))


def chunk_count(size_bytes: int) -> int:
    """How many chunks ``size_bytes`` bytes are stored in (at least one)."""
    return max(1, -(-size_bytes // CHUNK_BYTES))


# --- custody ------------------------------------------------------------------------------


class CustodyStatus(StrEnum):
    DIGITAL_ONLY = "digital_only"
    WITH_COLLECTOR = "with_collector"
    DELIVERED_TO_OFFICE = "delivered_to_office"
    DESTROYED = "destroyed"
    RETURNED_TO_PARTNER = "returned_to_partner"


# The statuses a change may record (``digital_only`` is where every document starts).
RECORDABLE: frozenset[CustodyStatus] = frozenset(CustodyStatus) - {CustodyStatus.DIGITAL_ONLY}

ORDER: tuple[CustodyStatus, ...] = (
    CustodyStatus.DIGITAL_ONLY,
    CustodyStatus.WITH_COLLECTOR,
    CustodyStatus.DELIVERED_TO_OFFICE,
    CustodyStatus.DESTROYED,
    CustodyStatus.RETURNED_TO_PARTNER,
)

NEXT: Mapping[CustodyStatus, frozenset[CustodyStatus]] = {
    CustodyStatus.DIGITAL_ONLY: frozenset(
        {CustodyStatus.WITH_COLLECTOR, CustodyStatus.DELIVERED_TO_OFFICE}
    ),
    CustodyStatus.WITH_COLLECTOR: frozenset({CustodyStatus.DELIVERED_TO_OFFICE}),
    CustodyStatus.DELIVERED_TO_OFFICE: frozenset(
        {CustodyStatus.DESTROYED, CustodyStatus.RETURNED_TO_PARTNER}
    ),
    CustodyStatus.DESTROYED: frozenset(),
    CustodyStatus.RETURNED_TO_PARTNER: frozenset(),
}

OFFICE_ROLES: frozenset[Role] = frozenset({Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN})

# Who may record each status (always on a document of an account they may see).
RECORDERS: Mapping[CustodyStatus, frozenset[Role]] = {
    CustodyStatus.WITH_COLLECTOR: OFFICE_ROLES | {Role.COLLECTOR},
    CustodyStatus.DELIVERED_TO_OFFICE: OFFICE_ROLES,
    CustodyStatus.DESTROYED: OFFICE_ROLES,
    CustodyStatus.RETURNED_TO_PARTNER: OFFICE_ROLES,
}

# Who may upload documents: anyone who may see the account but the auditor, who only reads.
UPLOADERS: frozenset[Role] = frozenset(Role) - {Role.AUDITOR}
READERS: frozenset[Role] = frozenset(Role)


def rank(status: CustodyStatus) -> int:
    return ORDER.index(status)


def may_upload(role: Role) -> bool:
    return role in UPLOADERS


def may_record_custody(role: Role, status: CustodyStatus) -> bool:
    return role in RECORDERS.get(status, frozenset())


@dataclass(frozen=True, slots=True)
class Custody:
    """Where the paper original is, since when (``on``) and in whose hands (``by``)."""

    status: CustodyStatus = CustodyStatus.DIGITAL_ONLY
    on: date | None = None
    by: str | None = None
    note: str | None = None


def change_custody(
    current: Custody,
    status: CustodyStatus,
    *,
    on: date,
    by: str,
    note: str | None,
    role: Role,
    today: date,
) -> Custody:
    """The custody after recording ``status``; raises PermissionDenied for a role that may not
    record it, CustodyNotForward for a move that is not forward, InvalidInput for a bad date."""
    if not may_record_custody(role, status):
        raise PermissionDenied({"role": role.value, "custody": status.value})
    if status not in NEXT[current.status]:
        raise CustodyNotForward({"current": current.status.value, "status": status.value})
    if on > today:
        raise InvalidInput("on", N_("the custody date cannot be in the future"))
    if current.on is not None and on < current.on:
        raise InvalidInput(
            "on",
            N_("the custody date cannot be before the previous step ({on})"),
            {"on": current.on},
        )
    return Custody(status=status, on=on, by=by, note=note)
