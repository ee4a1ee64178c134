"""Document rules: accepted types and their magic bytes, custody moves and who records them."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.crypto import SealError, Vault, new_key_text, parse_key_ring
from app.domain.documents import (
    CHUNK_BYTES,
    DOCUMENT_PURPOSE,
    MAGIC,
    NEXT,
    RECORDABLE,
    TAIL_BYTES,
    Custody,
    CustodyStatus,
    MediaType,
    change_custody,
    chunk_context,
    chunk_count,
    content_ends_right,
    content_matches,
    declared_media_type,
    may_record_custody,
    may_upload,
    open_chunk,
    rank,
    seal_chunk,
    sniff,
)
from app.domain.errors import CustodyNotForward, InvalidInput, PermissionDenied
from app.domain.roles import Role

TODAY = date(2026, 11, 24)
PE_HEADER = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"  # a Windows program


class TestTypes:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("application/pdf", MediaType.PDF),
            ("Application/PDF; charset=binary", MediaType.PDF),
            ("image/jpeg", MediaType.JPEG),
            ("image/png", MediaType.PNG),
            ("image/gif", None),
            ("application/octet-stream", None),
            ("multipart/form-data; boundary=x", None),
            ("", None),
            (None, None),
        ],
    )
    def test_declared_media_type(self, header, expected):
        assert declared_media_type(header) is expected

    def test_each_type_is_recognised_by_its_signature(self):
        assert sniff(b"%PDF-1.7\n%\xe2\xe3") is MediaType.PDF
        assert sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF") is MediaType.JPEG
        assert sniff(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR") is MediaType.PNG

    def test_a_program_renamed_pdf_is_not_a_pdf(self):
        assert sniff(PE_HEADER) is None
        assert not content_matches(MediaType.PDF, PE_HEADER)

    def test_a_png_declared_as_jpeg_does_not_match(self):
        assert not content_matches(MediaType.JPEG, MAGIC[MediaType.PNG] + b"rest")

    def test_a_truncated_signature_does_not_match(self):
        assert not content_matches(MediaType.PNG, MAGIC[MediaType.PNG][:-1])
        assert not content_matches(MediaType.PDF, b"")

    def test_a_pdf_needs_its_end_of_file_marker_in_the_last_kib(self):
        assert content_ends_right(MediaType.PDF, b"%PDF-1.7\n...trailer\n%%EOF\n")
        assert content_ends_right(MediaType.PDF, b"%%EOF" + b"\0" * (TAIL_BYTES - 5))
        assert not content_ends_right(MediaType.PDF, b"%%EOF" + b"\0" * (TAIL_BYTES - 4))
        assert not content_ends_right(MediaType.PDF, b"%PDF-1.7\n1 0 obj")
        assert not content_ends_right(MediaType.PDF, b"%%EO")

    def test_a_jpeg_ends_with_its_end_of_image_marker(self):
        assert content_ends_right(MediaType.JPEG, b"\xff\xd8\xff\xe0 scan \xff\xd9")
        assert not content_ends_right(MediaType.JPEG, b"\xff\xd8\xff\xe0 scan \xff\xd9\0")
        assert not content_ends_right(MediaType.JPEG, b"\xff\xd8\xff\xe0 scan")

    def test_a_png_ends_with_its_iend_chunk(self):
        iend = b"\x00\x00\x00\x00IEND\xaeB`\x82"
        assert content_ends_right(MediaType.PNG, MAGIC[MediaType.PNG] + b"IDAT" + iend)
        assert not content_ends_right(MediaType.PNG, MAGIC[MediaType.PNG] + b"IDAT")
        assert not content_ends_right(MediaType.PNG, MAGIC[MediaType.PNG] + iend[:-1])

    @given(st.sampled_from(list(MediaType)), st.binary(max_size=64))
    def test_any_body_starting_with_a_signature_matches_only_its_type(self, media_type, rest):
        head = MAGIC[media_type] + rest
        assert content_matches(media_type, head)
        assert all(not content_matches(other, head) for other in MediaType if other != media_type)


class TestRoles:
    def test_auditors_only_read(self):
        assert not may_upload(Role.AUDITOR)
        assert all(may_upload(r) for r in Role if r is not Role.AUDITOR)
        assert not any(may_record_custody(Role.AUDITOR, s) for s in CustodyStatus)

    def test_partners_never_record_custody(self):
        assert not any(may_record_custody(Role.PARTNER, s) for s in CustodyStatus)

    def test_the_collector_records_only_that_they_hold_it(self):
        assert may_record_custody(Role.COLLECTOR, CustodyStatus.WITH_COLLECTOR)
        assert not may_record_custody(Role.COLLECTOR, CustodyStatus.DELIVERED_TO_OFFICE)
        assert not may_record_custody(Role.COLLECTOR, CustodyStatus.DESTROYED)

    @pytest.mark.parametrize("role", [Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN])
    def test_the_office_records_every_step(self, role):
        assert all(may_record_custody(role, s) for s in RECORDABLE)

    def test_nobody_records_digital_only(self):
        assert not any(may_record_custody(r, CustodyStatus.DIGITAL_ONLY) for r in Role)


def step(current: Custody, status: CustodyStatus, on: date = TODAY, role: Role = Role.MANAGER):
    return change_custody(current, status, on=on, by="Ana Ruiz", note=None, role=role, today=TODAY)


class TestCustody:
    def test_the_full_path(self):
        held = step(Custody(), CustodyStatus.WITH_COLLECTOR, TODAY - timedelta(days=5))
        delivered = step(held, CustodyStatus.DELIVERED_TO_OFFICE, TODAY - timedelta(days=2))
        destroyed = step(delivered, CustodyStatus.DESTROYED)
        assert destroyed == Custody(CustodyStatus.DESTROYED, TODAY, "Ana Ruiz", None)

    def test_an_original_may_reach_the_office_directly(self):
        assert step(Custody(), CustodyStatus.DELIVERED_TO_OFFICE).status is (
            CustodyStatus.DELIVERED_TO_OFFICE
        )

    @pytest.mark.parametrize(
        ("current", "wanted"),
        [
            (CustodyStatus.DIGITAL_ONLY, CustodyStatus.DESTROYED),
            (CustodyStatus.WITH_COLLECTOR, CustodyStatus.WITH_COLLECTOR),
            (CustodyStatus.WITH_COLLECTOR, CustodyStatus.DESTROYED),
            (CustodyStatus.DELIVERED_TO_OFFICE, CustodyStatus.WITH_COLLECTOR),
            (CustodyStatus.DESTROYED, CustodyStatus.DELIVERED_TO_OFFICE),
            (CustodyStatus.DESTROYED, CustodyStatus.DESTROYED),
        ],
    )
    def test_moves_that_are_not_forward_conflict(self, current, wanted):
        with pytest.raises(CustodyNotForward):
            step(Custody(current, TODAY, "X"), wanted)

    def test_the_role_is_checked_before_the_move(self):
        with pytest.raises(PermissionDenied):
            step(Custody(), CustodyStatus.DELIVERED_TO_OFFICE, role=Role.COLLECTOR)

    def test_a_future_date_is_refused(self):
        with pytest.raises(InvalidInput):
            step(Custody(), CustodyStatus.WITH_COLLECTOR, TODAY + timedelta(days=1))

    def test_a_step_cannot_be_dated_before_the_previous_one(self):
        held = step(Custody(), CustodyStatus.WITH_COLLECTOR, TODAY)
        with pytest.raises(InvalidInput):
            step(held, CustodyStatus.DELIVERED_TO_OFFICE, TODAY - timedelta(days=1))


attempts = st.lists(
    st.tuples(
        st.sampled_from(sorted(RECORDABLE)),
        st.sampled_from(list(Role)),
        st.integers(min_value=-3, max_value=1),
    ),
    max_size=12,
)


@given(attempts)
def test_custody_only_ever_moves_forward(moves):
    """Whatever is attempted, by whomever, the accepted steps climb the order strictly, are
    made by roles allowed to make them, stay dated in order, and nothing follows destroyed."""
    custody = Custody()
    accepted: list[Custody] = []
    start = TODAY - timedelta(days=30)
    for number, (status, role, offset) in enumerate(moves):
        on = start + timedelta(days=number + offset)
        try:
            after = change_custody(
                custody, status, on=on, by="Ana", note=None, role=role, today=TODAY
            )
        except (CustodyNotForward, PermissionDenied, InvalidInput):
            continue
        assert may_record_custody(role, status)
        assert status in NEXT[custody.status]
        assert rank(after.status) > rank(custody.status)
        assert custody.status is not CustodyStatus.DESTROYED
        assert custody.on is None or (after.on is not None and after.on >= custody.on)
        custody = after
        accepted.append(after)
    assert len(accepted) <= 3
    assert [rank(c.status) for c in accepted] == sorted({rank(c.status) for c in accepted})


# --- sealed storage -----------------------------------------------------------------------

SEALER = Vault(parse_key_ring(new_key_text(1)), 1, b"i" * 32)


def test_a_chunk_opens_only_in_its_blob_at_its_place_with_its_finality():
    blob, other = uuid.uuid4(), uuid.uuid4()
    sealed = seal_chunk(SEALER, blob, 3, b"page three", final=False)
    assert open_chunk(SEALER, blob, 3, sealed, final=False) == b"page three"
    for where, seq, final in ((other, 3, False), (blob, 2, False), (blob, 4, False),
                              (blob, 3, True)):  # fmt: skip
        with pytest.raises(SealError):
            open_chunk(SEALER, where, seq, sealed, final=final)


def test_the_context_is_the_documents_own():
    context = chunk_context(uuid.UUID(int=1), 0, final=True)
    assert context.startswith(DOCUMENT_PURPOSE.encode() + b"\x00")
    # Never the associated data of a sealed column (its purpose, alone).
    assert context not in {b"national_id", b"contact", b"document"}
    assert len({chunk_context(uuid.UUID(int=1), s, final=f) for s in (0, 1) for f in (0, 1)}) == 4


@pytest.mark.parametrize(
    ("size", "chunks"),
    [(1, 1), (CHUNK_BYTES - 1, 1), (CHUNK_BYTES, 1), (CHUNK_BYTES + 1, 2), (5 * CHUNK_BYTES, 5)],
)
def test_chunk_count(size, chunks):
    assert chunk_count(size) == chunks
