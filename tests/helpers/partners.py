"""Helpers shared by the tests of partners and the tests that build on them."""

from __future__ import annotations

import random
import string
import uuid

from stdnum.mx import rfc

_rng = random.Random()


def company_rfc() -> str:
    """A fresh, valid company RFC: three letters, a date, a homoclave and its check digit."""
    letters = "".join(_rng.choices(string.ascii_uppercase, k=3))
    date = f"{_rng.randint(0, 99):02d}{_rng.randint(1, 12):02d}{_rng.randint(1, 28):02d}"
    homoclave = _rng.choice("123456789ABCDEFGHIJKLMNOPQRSTUV") + _rng.choice(
        "123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    )
    stem = letters + date + homoclave
    return stem + rfc.calc_check_digit(stem)


def partner_body(**overrides):
    body = {
        "legal_name": f"Financiera {uuid.uuid4().hex[:6]}, S.A. de C.V., SOFOM, E.N.R.",
        "tax_id": company_rfc(),
        "country": "MX",
    }
    body.update(overrides)
    return body
