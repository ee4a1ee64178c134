"""Partner companies ("empresas convenidas") and their machine clients."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.ids import new_id
from app.models.base import timestamp_field


class Partner(SQLModel, table=True):
    __tablename__ = "partner"
    __table_args__ = (
        UniqueConstraint("country", "tax_id", name="uq_partner_country_tax_id"),
        CheckConstraint("country IN ('MX', 'CO', 'PE', 'CL', 'BR', 'US')", name="country"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        CheckConstraint("payment_clabe ~ '^[0-9]{18}$'", name="payment_clabe"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    legal_name: str = Field(max_length=200)
    tax_id: str = Field(max_length=32)
    country: str = Field(max_length=2)
    currency: str = Field(max_length=3)
    time_zone: str = Field(max_length=64)
    # Delinquency bucket edges per product type; None means the default table.
    bucket_table: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSONB(none_as_null=True))
    )
    contact_name: str | None = Field(default=None, max_length=200)
    contact_email: str | None = Field(default=None, max_length=254)
    contact_phone: str | None = Field(default=None, max_length=32)
    # Where debtors pay (the creditor's own account: payment goes to the creditor, never to
    # the agency), printed on payment agreements with the account's payment reference.
    payment_bank_name: str | None = Field(default=None, max_length=80)
    payment_clabe: str | None = Field(default=None, max_length=18)
    # The account's holder when it is not the partner's legal name.
    payment_account_holder: str | None = Field(default=None, max_length=200)
    # Cash stores that take the payment reference, e.g. "OXXO".
    payment_cash_stores: str | None = Field(default=None, max_length=120)
    is_active: bool = Field(default=True)
    version: int = Field(default=1)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class PartnerClient(SQLModel, table=True):
    """A partner's system credentials for the client-credentials grant."""

    __tablename__ = "partner_client"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    partner_id: uuid.UUID = Field(foreign_key="partner.id", index=True)
    client_id: str = Field(max_length=64, unique=True)
    secret_hash: str = Field(max_length=256)
    name: str = Field(max_length=120)
    is_active: bool = Field(default=True)
    created_at: datetime = timestamp_field()


class PartnerBucket(SQLModel, table=True):
    """A partner's bucket edges per product type, one row each (defaults filled in), so the
    set-based aging joins them instead of reading the partner's JSON per account."""

    __tablename__ = "partner_bucket"
    __table_args__ = (
        CheckConstraint(
            "product_type IN ('revolving', 'installment', 'single_payment')", name="product_type"
        ),
        CheckConstraint(
            "1 <= early_from AND early_from < mid_from AND mid_from < late_from"
            " AND late_from < nonaccrual_from AND nonaccrual_from < chargeoff_from",
            name="edges_increase",
        ),
    )

    partner_id: uuid.UUID = Field(foreign_key="partner.id", primary_key=True)
    product_type: str = Field(max_length=16, primary_key=True)
    early_from: int
    mid_from: int
    late_from: int
    nonaccrual_from: int
    chargeoff_from: int
