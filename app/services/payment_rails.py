"""Payment instructions of an account: its payment reference, its referenced SPEI CLABE and
its convenience-store reference with the store's barcode (app/domain/payment_rails.py).

:func:`instructions_for` is the one place that answers "how does this debtor pay": the
account's API, its agreement PDF and the debtor portal all call it.
"""

from __future__ import annotations

import uuid

from barcode import Code128
from barcode.writer import SVGWriter
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings, get_settings
from app.domain.errors import NotFound
from app.domain.payment_rails import ClabeIssuer, PaymentInstructions, instructions
from app.domain.payments import payment_reference
from app.models.account import Account
from app.models.partner import Partner
from app.security import Principal
from app.services import accounts


def clabe_issuer(settings: Settings) -> ClabeIssuer:
    """The collection bank the settings name."""
    return ClabeIssuer(settings.spei_bank_code, settings.spei_plaza, settings.spei_bank_name)


def instructions_of(account: Account, partner: Partner, settings: Settings) -> PaymentInstructions:
    """The instructions of an account whose partner is already loaded."""
    assert account.payment_serial is not None
    return instructions(
        clabe_issuer(settings),
        settings.store_reference_prefix,
        serial=account.payment_serial,
        payment_reference=payment_reference(account.payment_serial),
        country=partner.country,
        currency=account.currency,
    )


async def instructions_for(
    session: AsyncSession, account: Account, settings: Settings | None = None
) -> PaymentInstructions:
    """How and where the debtor pays ``account`` (the caller has already checked that it may
    see the account): its payment reference always; in Mexico its CLABE, the bank's name and
    its convenience-store reference; elsewhere the reason there are none."""
    partner = await session.get_one(Partner, account.partner_id)
    return instructions_of(account, partner, settings or get_settings())


async def get_instructions(
    session: AsyncSession, principal: Principal, account_id: uuid.UUID, settings: Settings
) -> tuple[Account, PaymentInstructions]:
    """The instructions of an account the principal may see (404 otherwise)."""
    account = await accounts.get_account(session, principal, account_id)
    return account, await instructions_for(session, account, settings)


def barcode_svg(reference: str) -> bytes:
    """The store reference as a Code 128 barcode (SVG, the digits printed under it)."""
    symbol = Code128(reference, writer=SVGWriter())
    rendered: bytes = symbol.render({"module_width": 0.3, "module_height": 12.0, "compress": False})
    return rendered


async def store_barcode(
    session: AsyncSession, principal: Principal, account_id: uuid.UUID, settings: Settings
) -> bytes:
    """The barcode of the account's store reference; an account outside Mexico has none
    (404)."""
    _, found = await get_instructions(session, principal, account_id, settings)
    if found.store_reference is None:
        raise NotFound({"entity": "store_reference"})
    return barcode_svg(found.store_reference)
