"""Which separator a CSV file uses, read from its header line."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from app.services.tabular_uploads import csv_delimiter


def test_commas_and_semicolons():
    assert csv_delimiter("external_ref,product_type,currency\r\n") == ","
    assert csv_delimiter("external_ref;product_type;currency\r\n") == ";"
    # A quoted name holding the other separator does not fool it.
    assert csv_delimiter('external_ref,"a;b;c;d",currency') == ","
    assert csv_delimiter('external_ref;"a,b,c,d";currency') == ";"
    assert csv_delimiter("external_ref") == ","
    assert csv_delimiter("") == ","


# Column names never hold a separator: a name with the *other* separator is written unquoted
# (it is not special to the writer), and "0;," is then as much a comma file as a semicolon
# one. Quoted separators are the cases above.
names = st.lists(
    st.text(alphabet=st.characters(blacklist_characters="\r\n\x00,;"), min_size=1, max_size=12),
    min_size=2,
    max_size=20,
)


@given(names, st.sampled_from([",", ";"]))
def test_a_header_written_with_either_separator_is_read_back(header, separator):
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=separator).writerow(header)
    line = buffer.getvalue()
    found = csv_delimiter(line)
    assert next(csv.reader([line], delimiter=found)) == header
