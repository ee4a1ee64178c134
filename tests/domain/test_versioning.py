"""ETags from row versions and the If-Match header (``app.versioning``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import InvalidInput
from app.versioning import NEVER_MATCHES, etag, parse_if_match

versions = st.integers(min_value=0, max_value=999_999_999)


class TestEtag:
    def test_is_the_version_in_double_quotes(self):
        assert etag(3) == '"3"'

    @given(version=versions)
    def test_round_trips_through_if_match(self, version):
        assert parse_if_match(etag(version)) == version

    @given(version=st.integers(min_value=1, max_value=999_999_999))  # rows start at 1
    def test_a_weak_tag_never_matches_a_version(self, version):
        # If-Match compares strongly (RFC 9110 §13.1.1): W/"n" names no version at all.
        assert parse_if_match("W/" + etag(version)) == NEVER_MATCHES != version


class TestParseIfMatch:
    def test_absent_header_means_no_precondition(self):
        assert parse_if_match(None) is None

    @pytest.mark.parametrize("header", ["*", " * ", "*\t"])
    def test_star_means_no_precondition(self, header):
        assert parse_if_match(header) is None

    def test_surrounding_white_space_is_ignored(self):
        assert parse_if_match('  "12"  ') == 12
        assert parse_if_match(' W/"12" ') == NEVER_MATCHES

    @pytest.mark.parametrize(
        "header",
        [
            "",
            "   ",
            '""',
            "W/",
            'W/""',
            '"abc"',
            '"-1"',
            '"+1"',
            '"1.5"',
            '"1e3"',
            '"²"',
            '"٣"',
            '"0x10"',
            '"1 2"',
            '"1", "2"',
            '"1234567890"',
            "**",
            'w/"3"',
        ],
        ids=repr,
    )
    def test_garbage_is_invalid_input(self, header):
        with pytest.raises(InvalidInput) as caught:
            parse_if_match(header)
        assert caught.value.field == "header.if-match"

    @given(header=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255)))
    def test_any_latin1_header_gives_a_version_or_invalid_input(self, header):
        try:
            result = parse_if_match(header)
        except InvalidInput:
            return
        assert result is None or 0 <= result <= 999_999_999
