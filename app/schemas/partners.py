from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

from app.domain.errors import InvalidValue
from app.domain.identity import Country
from app.domain.partners import check_clabe, check_currency, check_time_zone
from app.domain.stages import MAX_EDGE
from app.i18n import N_
from app.schemas.common import PlainText, TrimmedText

LegalName = Annotated[TrimmedText, Field(max_length=200)]
TaxId = Annotated[
    TrimmedText,
    Field(max_length=40),
    Field(description="RFC (MX), NIT (CO), RUC (PE), RUT (CL), CNPJ (BR) or EIN (US)."),
]
Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    AfterValidator(check_currency),
    Field(description="An active ISO 4217 code, e.g. `MXN`."),
]
TimeZone = Annotated[
    PlainText,
    StringConstraints(max_length=64),
    AfterValidator(check_time_zone),
    Field(description="An IANA time zone, e.g. `America/Mexico_City`."),
]
ContactName = Annotated[TrimmedText, Field(max_length=200)]
Phone = Annotated[
    TrimmedText,
    Field(max_length=40),
    Field(description="In the partner country's conventions; stored and returned in E.164."),
]
Edge = Annotated[int, Field(ge=1, le=MAX_EDGE, strict=True)]
BankName = Annotated[
    TrimmedText,
    Field(max_length=80),
    Field(description="The bank where debtors pay the creditor, printed on agreements."),
]
Clabe = Annotated[
    PlainText,
    StringConstraints(max_length=40),
    AfterValidator(check_clabe),
    Field(
        description="The creditor's CLABE (18 digits, check digit verified) for SPEI "
        "transfers and deposits; debtors pay the creditor, never the agency."
    ),
]
AccountHolder = Annotated[
    TrimmedText,
    Field(max_length=200),
    Field(description="The payment account's holder when it is not the legal name."),
]
CashStores = Annotated[
    TrimmedText,
    Field(max_length=120),
    Field(description='Cash stores that take the payment reference, e.g. "OXXO".'),
]
ClientName = Annotated[TrimmedText, Field(max_length=120)]


class BucketEdges(BaseModel):
    """The first day past due of each overdue stage; each stage starts after the one before."""

    model_config = ConfigDict(extra="forbid")

    early: Edge
    mid: Edge
    late: Edge
    nonaccrual: Edge
    chargeoff: Edge


class BucketTable(BaseModel):
    """Bucket edges per product type; a product type left out keeps the default edges
    (early 1, mid 30, late 60, nonaccrual 90, chargeoff 180)."""

    model_config = ConfigDict(extra="forbid")

    revolving: BucketEdges | None = None
    installment: BucketEdges | None = None
    single_payment: BucketEdges | None = None

    def overrides(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class BucketTableRead(BaseModel):
    """The edges in force for every product type, defaults filled in."""

    revolving: BucketEdges
    installment: BucketEdges
    single_payment: BucketEdges


class PartnerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    legal_name: LegalName
    tax_id: TaxId
    country: Country = Field(description="Fixed once the partner exists.")
    currency: Currency | None = Field(
        default=None, description="Defaults to the country's currency."
    )
    time_zone: TimeZone | None = Field(
        default=None, description="Defaults to the country's capital's zone."
    )
    bucket_table: BucketTable | None = Field(
        default=None, description="Custom bucket edges; omitted product types use defaults."
    )
    contact_name: ContactName | None = None
    contact_email: EmailStr | None = None
    contact_phone: Phone | None = None
    payment_bank_name: BankName | None = None
    payment_clabe: Clabe | None = None
    payment_account_holder: AccountHolder | None = None
    payment_cash_stores: CashStores | None = None
    is_active: bool = True


# Fields a PATCH may leave out but may not set to null.
_NOT_NULL = ("legal_name", "tax_id", "currency", "time_zone", "is_active")


class PartnerUpdate(BaseModel):
    """Fields to change; omitted fields stay as they are. The country cannot change.
    ``bucket_table`` replaces the whole table (null restores the defaults); contact and
    payment fields may be cleared with null."""

    model_config = ConfigDict(extra="forbid")

    legal_name: LegalName | None = None
    tax_id: TaxId | None = None
    currency: Currency | None = None
    time_zone: TimeZone | None = None
    bucket_table: BucketTable | None = None
    contact_name: ContactName | None = None
    contact_email: EmailStr | None = None
    contact_phone: Phone | None = None
    payment_bank_name: BankName | None = None
    payment_clabe: Clabe | None = None
    payment_account_holder: AccountHolder | None = None
    payment_cash_stores: CashStores | None = None
    is_active: bool | None = None

    @field_validator(*_NOT_NULL, mode="after")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Only runs for values sent: omitting a field is fine, sending null is not.
        if value is None:
            raise InvalidValue(N_("may be left out but not set to null"))
        return value


class PartnerRead(BaseModel):
    id: uuid.UUID
    legal_name: str
    tax_id: str
    country: Country
    currency: str
    time_zone: str
    bucket_table: BucketTableRead
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    payment_bank_name: str | None
    payment_clabe: str | None
    payment_account_holder: str | None
    payment_cash_stores: str | None
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class PartnerClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ClientName = Field(description="What the system is, e.g. `core banking`.")


class PartnerClientRead(BaseModel):
    """A partner system's credentials, without the secret (only its hash is kept)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    partner_id: uuid.UUID
    client_id: str
    name: str
    is_active: bool
    created_at: datetime


class PartnerClientCreated(PartnerClientRead):
    client_secret: str = Field(
        description="Shown this once and never again; only its hash is kept."
    )
