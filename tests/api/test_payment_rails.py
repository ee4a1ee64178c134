"""An account's payment instructions through the API: the referenced CLABE and the store
reference in Mexico (none elsewhere, said so), the store barcode decoded back from its SVG,
the agreement PDF quoting both, and who may read them."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest
from barcode.charsets.code128 import CODES, STOP

from app.domain.payment_rails import is_valid_clabe, store_serial_of
from app.domain.payments import payment_reference
from app.domain.roles import Role
from app.services.payment_rails import barcode_svg, clabe_issuer
from tests.factories import assert_problem, make_account, make_partner, partner_bearer
from tests.helpers.agreements import download, pdf_text
from tests.helpers.plans import (
    propose,
)


@pytest.fixture
def desk(plans_desk):
    """The plans desk: a Mexican partner, a collector and their lead, a manager, an auditor."""
    return plans_desk


SVG = "{http://www.w3.org/2000/svg}"
MODULE_MM = 0.3


def bars_of(svg: bytes) -> str:
    """The barcode's modules as 1 (bar) and 0 (space), read from the SVG's black rects."""
    root = ElementTree.fromstring(svg)
    bars = []
    for rect in root.iter(f"{SVG}rect"):
        if "fill:black" not in rect.get("style", ""):
            continue
        x = float(rect.get("x", "0").removesuffix("mm"))
        width = float(rect.get("width", "0").removesuffix("mm"))
        bars.append((round(x / MODULE_MM), round(width / MODULE_MM)))
    start = bars[0][0]
    modules = ["0"] * (bars[-1][0] + bars[-1][1] - start)
    for x, width in bars:
        for i in range(width):
            modules[x - start + i] = "1"
    return "".join(modules)


def decode_code128(modules: str) -> str:
    """Decode Code 128 (start code B or C, code switches, the mod 103 checksum, the stop)."""
    # The stop symbol and its two-module termination bar.
    assert modules.endswith(STOP + "11"), "no stop pattern"
    assert (len(modules) - 13) % 11 == 0
    values = [CODES.index(modules[i : i + 11]) for i in range(0, len(modules) - 13, 11)]
    *symbols, checksum = values
    assert checksum == (symbols[0] + sum(i * v for i, v in enumerate(symbols[1:], 1))) % 103
    start, *data = symbols
    code = {103: "A", 104: "B", 105: "C"}[start]
    out = []
    for value in data:
        if value == 99:
            code = "C"
        elif value == 100:
            code = "B"
        elif value == 101:
            code = "A"
        elif code == "C":
            out.append(f"{value:02d}")
        else:
            out.append(chr(value + 32))
    return "".join(out)


def test_the_barcode_decodes_to_the_reference():
    for reference in ("9000000000173", "900000000017", "12345678901234"):
        svg = barcode_svg(reference)
        assert decode_code128(bars_of(svg)) == reference
        # The digits are printed under the bars, as tills and debtors read them.
        assert reference in svg.decode()


async def test_a_mexican_account_has_a_clabe_and_a_store_reference(client, desk, settings):
    account = desk["small"]
    response = await client.get(
        f"/api/v1/accounts/{account.id}/payment-instructions", headers=desk["collector"]
    )
    assert response.status_code == 200, response.text
    data = response.json()
    issuer = clabe_issuer(settings)
    assert data["payment_reference"] == payment_reference(account.payment_serial)
    assert data["clabe"] == issuer.clabe(account.payment_serial)
    assert (
        is_valid_clabe(data["clabe"]) and issuer.serial_of(data["clabe"]) == account.payment_serial
    )
    assert (data["bank_name"], data["bank_code"]) == (
        settings.spei_bank_name,
        settings.spei_bank_code,
    )
    prefix = settings.store_reference_prefix
    assert store_serial_of(prefix, data["store_reference"]) == account.payment_serial
    assert data["unavailable_reason"] is None
    barcode = await client.get(data["barcode_url"], headers=desk["collector"])
    assert barcode.status_code == 200
    assert barcode.headers["content-type"] == "image/svg+xml"
    assert decode_code128(bars_of(barcode.content)) == data["store_reference"]


async def test_elsewhere_there_is_no_clabe_and_the_answer_says_so(
    client, session, settings, make_user, auth_headers
):
    partner = await make_partner(session, country="CO", currency="COP",
                                 time_zone="America/Bogota")  # fmt: skip
    account = await make_account(session, partner)
    manager = auth_headers(await make_user(Role.MANAGER))
    await session.commit()
    response = await client.get(
        f"/api/v1/accounts/{account.id}/payment-instructions", headers=manager
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert (data["clabe"], data["store_reference"], data["barcode_url"]) == (None, None, None)
    assert "Mexican accounts only" in data["unavailable_reason"]
    assert data["payment_reference"] == payment_reference(account.payment_serial)
    barcode = await client.get(
        f"/api/v1/accounts/{account.id}/payment-instructions/barcode.svg", headers=manager
    )
    assert_problem(barcode, 404, "not_found")
    assert barcode.headers["content-type"].startswith("application/problem+json")


async def test_only_who_may_see_the_account(client, session, settings, desk):
    account = desk["small"]
    other = await make_partner(session)
    other_system = await partner_bearer(session, settings, other)
    await session.commit()
    for path in ("payment-instructions", "payment-instructions/barcode.svg"):
        url = f"/api/v1/accounts/{account.id}/{path}"
        assert (await client.get(url, headers=other_system)).status_code == 404
        assert (await client.get(url)).status_code == 401


async def test_the_agreement_quotes_the_clabe_and_the_store_reference(client, desk, settings):
    plan = (await propose(client, desk, installments=3, down_payment="1400.00")).json()
    response = await download(client, desk, plan["id"])
    assert response.status_code == 200, response.text
    text = pdf_text(response.content)
    serial = desk["small"].payment_serial
    clabe = clabe_issuer(settings).clabe(serial)
    assert f"CLABE de su cuenta {clabe} de {settings.spei_bank_name}" in text
    store = re.search(r"referencia de tienda (\d+)", text)
    assert store is not None
    assert store_serial_of(settings.store_reference_prefix, store.group(1)) == serial
