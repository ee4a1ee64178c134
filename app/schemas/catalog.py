"""The floor's catalogue (GET /catalog): every code a screen offers or shows, with its label
in each language the API speaks and what it requires."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.domain.catalog import Requirement
from app.domain.contact_check_packs import ContactChannel, DebtorFlag
from app.i18n import Language


class CatalogEntry(BaseModel):
    code: str
    labels: dict[Language, str] = Field(
        description="The label in each language (`en`, `es`, `pt-BR`).",
        examples=[
            {"en": "Promise to pay", "es": "Promesa de pago", "pt-BR": "Promessa de pagamento"}
        ],
    )


class ResultCodeEntryRead(CatalogEntry):
    requires: list[Requirement] = Field(
        description="What recording it asks of the form: `pcr` (the four PCR fields), "
        "`promise` (amount and due date), `gps` (where the collector stood), "
        "`callback_time` (the debtor's local time agreed), `debtor_reached` (party debtor), "
        "`third_party_reached` (a reference or guarantor)."
    )
    channels: list[ContactChannel] = Field(description="The channels it may be recorded on.")
    conversation: bool = Field(description="A person was reached: counts for the law's caps.")
    raises_flag: DebtorFlag | None = Field(
        description="The flag it raises on the debtor (contact stops as the law says)."
    )
    invalidates_contact_point: bool = Field(
        description="Counts toward retiring the number or address it was recorded on."
    )


class ProblemCategoryRead(CatalogEntry):
    countries: list[str] = Field(
        description="Only in these countries (ISO 3166-1); empty: everywhere."
    )


class EscalationOutcomeRead(CatalogEntry):
    note_required: bool


class ChannelRead(CatalogEntry):
    requires: list[Requirement]


class ProblemCodeRead(CatalogEntry):
    status: int = Field(description="The HTTP status it is answered with.")


class CatalogRead(BaseModel):
    languages: list[Language]
    result_codes: list[ResultCodeEntryRead]
    problem_categories: list[ProblemCategoryRead]
    escalation_outcomes: list[EscalationOutcomeRead]
    flag_kinds: list[CatalogEntry]
    channels: list[ChannelRead]
    reason_codes: list[CatalogEntry] = Field(
        description="The codes a contact check gives (each refusal also says law or policy)."
    )
    problem_codes: list[ProblemCodeRead] = Field(
        description="The `code` of every problem document the API answers with."
    )
