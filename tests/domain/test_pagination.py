"""Opaque keyset cursors (``app.pagination``)."""

from __future__ import annotations

import base64
import json
import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import InvalidInput
from app.pagination import decode_cursor, decode_id_cursor, encode_cursor, split_page

# The API takes cursors of at most 512 characters (``CursorQuery``).
MAX_CURSOR_CHARS = 512
URL_SAFE = re.compile(r"[A-Za-z0-9_-]*")


def raw_cursor(payload: bytes) -> str:
    """What a client could send: any bytes, base64url-encoded the way the API does."""
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def json_cursor(value: object) -> str:
    return raw_cursor(json.dumps(value).encode())


def assert_rejected(cursor: str, arity: int = 1) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_cursor(cursor, arity)
    assert caught.value.field == "query.cursor"


def decodes_or_rejects(cursor: str, arity: int) -> None:
    """Either a list of ``arity`` strings (the text happened to be a valid cursor) or
    InvalidInput; any other exception escapes and fails the test."""
    try:
        values = decode_cursor(cursor, arity)
    except InvalidInput:
        return
    assert isinstance(values, list) and len(values) == arity
    assert all(isinstance(v, str) for v in values)


class TestEncodeCursor:
    @given(values=st.lists(st.text(), min_size=1, max_size=4))
    def test_decoding_gives_back_the_encoded_values(self, values):
        assert decode_cursor(encode_cursor(*values), len(values)) == values

    @given(values=st.lists(st.text(), min_size=1, max_size=4))
    def test_cursor_is_url_safe_and_unpadded(self, values):
        cursor = encode_cursor(*values)
        assert URL_SAFE.fullmatch(cursor)
        assert not cursor.endswith("=")

    def test_non_text_values_travel_as_their_string_form(self):
        ident = uuid.UUID(int=42)
        assert decode_cursor(encode_cursor(ident, 7, "x"), 3) == [str(ident), "7", "x"]


class TestDecodeCursor:
    def test_no_cursor_means_first_page(self):
        assert decode_cursor(None, 2) is None

    @given(values=st.lists(st.text(max_size=5), min_size=1, max_size=4), arity=st.integers(1, 5))
    def test_wrong_arity_is_rejected(self, values, arity):
        cursor = encode_cursor(*values)
        if arity == len(values):
            assert decode_cursor(cursor, arity) == values
        else:
            assert_rejected(cursor, arity)

    @pytest.mark.parametrize(
        "value",
        [{"a": "b"}, "abc", 1, 1.5, None, True, [1], ["a", 2], [None], [["a"]], []],
        ids=repr,
    )
    def test_json_that_is_not_a_list_of_strings_is_rejected(self, value):
        assert_rejected(json_cursor(value))

    @pytest.mark.parametrize(
        "cursor",
        ["", "=", "a", "!!!!", "not a cursor", "WyJh", "eyJhIjoxfQ", "ñandú", "\x00\xff"],
        ids=repr,
    )
    def test_garbage_examples_are_rejected(self, cursor):
        assert_rejected(cursor)

    @given(cursor=st.text(max_size=MAX_CURSOR_CHARS), arity=st.integers(1, 3))
    def test_random_text_decodes_or_is_rejected_never_crashes(self, cursor, arity):
        decodes_or_rejects(cursor, arity)

    @given(
        payload=st.binary(max_size=MAX_CURSOR_CHARS * 3 // 4),
        arity=st.integers(1, 3),
    )
    def test_random_bytes_decode_or_are_rejected_never_crash(self, payload, arity):
        decodes_or_rejects(raw_cursor(payload), arity)

    def test_deepest_nesting_that_fits_the_length_limit_is_rejected(self):
        # 384 bytes is the most that 512 base64 characters carry.
        cursor = raw_cursor(b"[" * 384)
        assert len(cursor) == MAX_CURSOR_CHARS
        assert_rejected(cursor)

    def test_huge_integer_is_rejected(self):
        assert_rejected(raw_cursor(b"[" + b"9" * 380 + b"]"))

    def test_invalid_utf8_is_rejected(self):
        assert_rejected(raw_cursor(b'["\xff\xfe"]'))


class TestDecodeIdCursor:
    def test_no_cursor_means_first_page(self):
        assert decode_id_cursor(None) is None

    @given(ident=st.uuids())
    def test_round_trips_a_uuid(self, ident):
        assert decode_id_cursor(encode_cursor(ident)) == ident

    @pytest.mark.parametrize("value", ["", "not-a-uuid", "1234", "g" * 32], ids=repr)
    def test_value_that_is_not_a_uuid_is_rejected(self, value):
        with pytest.raises(InvalidInput) as caught:
            decode_id_cursor(encode_cursor(value))
        assert caught.value.field == "query.cursor"

    def test_two_value_cursor_is_rejected(self):
        with pytest.raises(InvalidInput):
            decode_id_cursor(encode_cursor(uuid.UUID(int=1), uuid.UUID(int=2)))

    @given(cursor=st.text(max_size=MAX_CURSOR_CHARS))
    def test_random_text_gives_a_uuid_or_is_rejected(self, cursor):
        try:
            result = decode_id_cursor(cursor)
        except InvalidInput:
            return
        assert isinstance(result, uuid.UUID)


@given(rows=st.lists(st.integers(), max_size=30), limit=st.integers(1, 10))
def test_split_page_keeps_limit_rows_and_points_after_the_last(rows, limit):
    page, cursor = split_page(rows, limit, key=lambda r: r)
    assert page == rows[:limit]
    if len(rows) > limit:
        assert decode_cursor(cursor, 1) == [str(rows[limit - 1])]
    else:
        assert cursor is None
