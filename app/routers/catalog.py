from __future__ import annotations

from fastapi import APIRouter, Response

from app.contract import CACHE_CONTROL, response_headers
from app.deps import PrincipalDep
from app.domain import catalog
from app.domain.contact_check_packs import ContactChannel
from app.i18n import LANGUAGES, labels
from app.problems import CATALOGUE, problem_responses
from app.schemas.catalog import (
    CatalogEntry,
    CatalogRead,
    ChannelRead,
    EscalationOutcomeRead,
    ProblemCategoryRead,
    ProblemCodeRead,
    ResultCodeEntryRead,
)

router = APIRouter(tags=["catalog"])


@router.get(
    "/catalog",
    summary="The floor's codes, their labels and what each requires",
    response_model=CatalogRead,
    responses=problem_responses(401, 403) | response_headers(200, headers=(CACHE_CONTROL,)),
)
async def read_catalog(_: PrincipalDep, response: Response) -> CatalogRead:
    """Result codes (with what recording each asks: PCR, promise, GPS, callback time),
    PCR problem categories, escalation outcomes, debtor flags, channels, contact-check
    reason codes and problem codes, each labelled in English, Spanish and Brazilian
    Portuguese, so that screens render their forms from data. It changes only with a
    release: clients may cache it for an hour."""
    response.headers["Cache-Control"] = "private, max-age=3600"
    return CatalogRead(
        languages=list(LANGUAGES),
        result_codes=[
            ResultCodeEntryRead(
                code=e.code,
                labels=labels(e.label),
                requires=sorted(e.requires),
                channels=sorted(e.channels),
                conversation=e.conversation,
                raises_flag=e.raises_flag,
                invalidates_contact_point=e.invalidates_contact_point,
            )
            for e in catalog.result_codes()
        ],
        problem_categories=[
            ProblemCategoryRead(code=code, labels=labels(label), countries=list(countries))
            for code, label, countries in catalog.problem_categories()
        ],
        escalation_outcomes=[
            EscalationOutcomeRead(
                code=outcome.value,
                labels=labels(label),
                note_required=outcome in catalog.NOTE_REQUIRED_OUTCOMES,
            )
            for outcome, label in catalog.ESCALATION_OUTCOME_LABELS.items()
        ],
        flag_kinds=[
            CatalogEntry(code=flag.value, labels=labels(label))
            for flag, label in catalog.FLAG_LABELS.items()
        ],
        channels=[
            ChannelRead(
                code=channel.value,
                labels=labels(label),
                requires=[catalog.Requirement.GPS] if channel is ContactChannel.VISIT else [],
            )
            for channel, label in catalog.CHANNEL_LABELS.items()
        ],
        reason_codes=[
            CatalogEntry(code=code, labels=labels(label)) for code, label in catalog.reason_codes()
        ],
        problem_codes=[
            ProblemCodeRead(
                code=code,
                status=kind.status,
                labels=labels(kind.title),
            )
            for code, kind in sorted(CATALOGUE.items())
        ],
    )
