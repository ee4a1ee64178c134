from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.deps import PrincipalDep, SessionDep, SettingsDep
from app.domain.identity import Country
from app.domain.rate_limit import SlidingWindowLimiter
from app.problems import problem_responses
from app.schemas.common import PlainText
from app.schemas.kyc import KycAccountMatch, KycDebtorMatch, KycSearchResults
from app.services import kyc as service

router = APIRouter(tags=["kyc"])


def _limiter(request: Request, searches_per_minute: int) -> SlidingWindowLimiter:
    """The app's KYC search limiter (one per app, so per process; made on first use)."""
    limiter: SlidingWindowLimiter | None = getattr(request.app.state, "kyc_limiter", None)
    if limiter is None or limiter.limit != searches_per_minute:
        limiter = SlidingWindowLimiter(
            searches_per_minute, window_seconds=60, clock=time.monotonic_ns
        )
        request.app.state.kyc_limiter = limiter
    return limiter


def _results(result: service.SearchResult) -> KycSearchResults:
    return KycSearchResults(
        criterion=result.criterion,
        truncated=result.truncated,
        items=[
            KycDebtorMatch(
                debtor_id=m.debtor_id,
                national_id_type=m.national_id_type,
                national_id_masked=m.national_id_masked,
                names=m.names,
                score=m.score,
                accounts=[
                    KycAccountMatch(
                        id=a.id,
                        partner_id=a.partner_id,
                        external_ref=a.external_ref,
                        stage=a.stage,
                        status=a.status,
                        debtor_first_names=a.debtor_first_names,
                        debtor_last_names=a.debtor_last_names,
                    )
                    for a in m.accounts
                ],
            )
            for m in result.items
        ],
    )


@router.get(
    "/kyc/search",
    summary="Find debtors by national id, phone, email or name",
    description="Give exactly one of `national_id`, `phone`, `email` or `name`. Identifiers "
    "match exactly once normalised (national ids compact and upper-case, of any type; phones "
    "in E.164 for `country`, else the partner's country, else MX; emails lower-case); names "
    "match fuzzily, ignoring accents and case (`José Pérez` finds `JOSE PEREZ`), best first. "
    "Only debtors with accounts the caller may see are found, with those accounts and the "
    "names their partners sent; identifiers are masked. At most `limit` debtors, no further "
    "pages (`truncated` says more matched: refine the query). Every search is recorded in "
    "the audit trail, and each user may run a limited number per minute (429 with "
    "`Retry-After` beyond it).",
    responses=problem_responses(401, 403, 422, 429),
)
async def search_kyc(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    national_id: Annotated[
        PlainText | None,
        Query(max_length=60, description="RFC, CURP, NIT, CC, DNI, RUT, CPF, SSN …"),
    ] = None,
    phone: Annotated[
        PlainText | None, Query(max_length=40, description="As dialled in `country`.")
    ] = None,
    email: Annotated[PlainText | None, Query(max_length=254)] = None,
    name: Annotated[
        PlainText | None,
        Query(max_length=200, description="Full or partial name, at least 3 letters."),
    ] = None,
    country: Annotated[
        Country | None, Query(description="Country a `phone` is written for.")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=service.MAX_LIMIT, description="Debtors at most, 1 to 50.")
    ] = 20,
) -> KycSearchResults:
    query = service.SearchQuery(
        national_id=national_id, phone=phone, email=email, name=name, country=country, limit=limit
    )
    limiter = _limiter(request, settings.kyc_searches_per_minute)
    result = await service.search_debtors(session, principal, query, limiter)
    return _results(result)
