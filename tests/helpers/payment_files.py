"""Helpers shared by the tests of payment files and the tests that build on them."""

from __future__ import annotations

import csv
import io

HEADER = ["external_ref", "payment_reference", "amount", "paid_on", "channel", "payer_reference"]


def csv_of(lines: list[list[str]], header: list[str] = HEADER) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(lines)
    return buffer.getvalue().encode()
