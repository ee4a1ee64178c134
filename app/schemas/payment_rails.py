"""API shapes of an account's payment instructions."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field


class PaymentInstructionsRead(BaseModel):
    account_id: uuid.UUID
    payment_reference: str = Field(
        description="The account's 12-digit payment reference (MOD 97-10 check digits)."
    )
    country: str
    currency: str
    clabe: str | None = Field(
        description="The account's referenced SPEI CLABE (18 digits): a transfer to it is "
        "applied to this account. Mexican accounts only."
    )
    bank_name: str | None = Field(description="The bank that holds the CLABE.")
    bank_code: str | None = Field(description="Its three-digit ABM code.")
    store_reference: str | None = Field(
        description="The convenience-store (OXXO-type) reference: the agency's prefix, the "
        "account serial and a Luhn check digit. Mexican accounts only."
    )
    barcode_url: str | None = Field(description="The store reference as a Code 128 SVG.")
    unavailable_reason: str | None = Field(
        description="Why there is no CLABE nor store reference (an account outside Mexico)."
    )
