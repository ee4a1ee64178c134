from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import Response

from app.deps import API_PREFIX, LanguageDep, PrincipalDep, SessionDep, SettingsDep
from app.problems import problem_responses
from app.schemas.payment_rails import PaymentInstructionsRead
from app.services import payment_rails as service

router = APIRouter(tags=["payments"])


@router.get(
    "/accounts/{account_id}/payment-instructions",
    summary="Read how and where the debtor pays an account (reference, CLABE, store)",
    response_model=PaymentInstructionsRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def read_payment_instructions(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    account_id: uuid.UUID,
    language: LanguageDep,
) -> PaymentInstructionsRead:
    """The account's payment reference; for a Mexican account also its referenced SPEI
    CLABE (a transfer to it is applied to this account when the bank's statement arrives),
    the bank's name and the convenience-store reference with a link to its barcode. Outside
    Mexico `clabe` and `store_reference` are null and `unavailable_reason` says why. Whoever
    may see the account (404 otherwise)."""
    account, found = await service.get_instructions(session, principal, account_id, settings)
    barcode = (
        f"{API_PREFIX}/accounts/{account.id}/payment-instructions/barcode.svg"
        if found.store_reference is not None
        else None
    )
    return PaymentInstructionsRead(
        account_id=account.id,
        payment_reference=found.payment_reference,
        country=found.country,
        currency=found.currency,
        clabe=found.clabe,
        bank_name=found.bank_name,
        bank_code=found.bank_code,
        store_reference=found.store_reference,
        barcode_url=barcode,
        unavailable_reason=(
            None if found.unavailable_reason is None else found.unavailable_reason.render(language)
        ),
    )


@router.get(
    "/accounts/{account_id}/payment-instructions/barcode.svg",
    summary="Download the account's convenience-store reference as a Code 128 barcode",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}},
        **problem_responses(401, 403, 404, 422),
    },
)
async def download_store_barcode(
    session: SessionDep, principal: PrincipalDep, settings: SettingsDep, account_id: uuid.UUID
) -> Response:
    """The store reference as the till scans it (SVG, the digits printed under the bars).
    An account outside Mexico has none (404)."""
    svg = await service.store_barcode(session, principal, account_id, settings)
    return Response(content=svg, media_type="image/svg+xml")
