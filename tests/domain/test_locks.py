"""Advisory locks have one owner: app/locks.py lists every class, and nothing else in the
application writes an advisory-lock statement of its own."""

from __future__ import annotations

import re
from pathlib import Path

from app import locks
from app.locks import LockClass

APP = Path(__file__).resolve().parents[2] / "app"
_RAW_LOCK = re.compile(r"pg_(try_)?advisory_(xact_)?lock", re.IGNORECASE)


def test_no_module_but_the_lock_list_takes_an_advisory_lock_itself():
    offenders = [
        f"{path.relative_to(APP.parent)}:{number}"
        for path in sorted(APP.rglob("*.py"))
        if path != Path(locks.__file__).resolve()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if _RAW_LOCK.search(line) and "SELECT" in line.upper()
    ]
    assert offenders == [], "take the lock through app.locks: " + ", ".join(offenders)


def test_every_class_fits_postgresql_s_32_bit_key_and_none_is_shared():
    values = [member.value for member in LockClass]
    assert len(values) == len(set(values))
    assert all(-(2**31) <= value < 2**31 for value in values)


def test_the_classes_that_once_collided_are_apart():
    # Skip tracing took 11 with the payment files' idempotency keys, and the promise
    # follow-up 8 with the payments' idempotency keys: each waited on the other for nothing.
    assert LockClass.ACCOUNT_CONTACT_POINTS != LockClass.PAYMENT_FILE_IDEMPOTENCY
    assert LockClass.PROMISE_FOLLOW_UP != LockClass.PAYMENT_IDEMPOTENCY
