"""The debtor's self-service portal as JSON (``/portal/v1``, its own tag and bearer scheme),
and the staff operation that sends a debtor a link to it. The HTML pages over the same
services are app/routers/portal_pages.py."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.contract import LOCATION, response_headers
from app.db import Database
from app.deps import (
    ClientAddressDep,
    ClockDep,
    LanguageDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
)
from app.domain.auth import IPAddress, address_key
from app.domain.contact_check import ContactChannel
from app.domain.portal import Offer, PortalSessionInvalid, SecondFactor
from app.domain.rate_limit import SlidingWindowLimiter
from app.i18n import Language
from app.problems import problem_responses
from app.routers.plans import plan_read, quote_read
from app.schemas.plans import PlanQuoteRequest
from app.schemas.portal import (
    PaymentInstructionsRead,
    PortalContactPreferenceRead,
    PortalContactPreferenceWrite,
    PortalDebtRead,
    PortalLinkRead,
    PortalOfferRead,
    PortalOffersRead,
    PortalPlanRead,
    PortalPromiseCreate,
    PortalPromiseRead,
    PortalSessionCreate,
    PortalSessionRead,
)
from app.services import portal as service
from app.services import rate_limit
from app.services.plans import PlanView, QuoteView

PORTAL_PREFIX = "/portal/v1"
# Tries at the second factor from one client address in any minute, over every link and
# every API process: the lock of a link after five wrong answers is the per-link limit.
VERIFICATIONS_PER_MINUTE = 20
VERIFICATION_BUCKET = "portal-verification"

router = APIRouter(tags=["portal"])
debtor_router = APIRouter(prefix=PORTAL_PREFIX, tags=["portal"])

_bearer = HTTPBearer(
    scheme_name="PortalSession",
    description="The debtor's portal session from POST /portal/v1/sessions (a short-lived "
    "token bound to one account).",
    auto_error=False,
)


async def portal_session(
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> service.PortalSession:
    if credentials is None or len(credentials.credentials) > 4096:
        raise PortalSessionInvalid()
    return await service.portal_session(session, settings, credentials.credentials)


PortalDep = Annotated[service.PortalSession, Depends(portal_session)]


def _verification_limiter(request: Request) -> SlidingWindowLimiter:
    limiter: SlidingWindowLimiter | None = getattr(request.app.state, "portal_limiter", None)
    if limiter is None:
        limiter = SlidingWindowLimiter(
            VERIFICATIONS_PER_MINUTE, window_seconds=60, clock=time.monotonic_ns
        )
        request.app.state.portal_limiter = limiter
    return limiter


async def check_verification_rate(request: Request, address: IPAddress | None) -> None:
    """At most :data:`VERIFICATIONS_PER_MINUTE` tries from the address (its
    :func:`~app.domain.auth.address_key`) counted over every API process (429 beyond). This
    process's own window sheds a flood before it reaches the database; the shared count is
    committed before the try, so a try that fails still counts."""
    key = address_key(address)
    _verification_limiter(request).check(key)
    database: Database = request.app.state.database
    await rate_limit.take_slot(database, VERIFICATION_BUCKET, key, limit=VERIFICATIONS_PER_MINUTE)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def agreement_path(plan_id: uuid.UUID) -> str:
    return f"{PORTAL_PREFIX}/plans/{plan_id}/agreement"


def portal_plan_read(view: PlanView, language: Language) -> PortalPlanRead:
    return PortalPlanRead(
        plan=plan_read(view, language), agreement_url=agreement_path(view.plan.id)
    )


def offers_read(
    view: service.OffersView, account_id: uuid.UUID, language: Language
) -> PortalOffersRead:
    return PortalOffersRead(
        quoted_on=view.quoted_on,
        items=[
            PortalOfferRead(
                id=offer.terms.plan_type.value,
                terms=offer_terms(offer),
                quote=quote_read(
                    QuoteView(account_id, view.quoted_on, view.strategy_version, offer.quote),
                    language,
                ),
            )
            for offer in view.offers
        ],
    )


def offer_terms(offer: Offer) -> PlanQuoteRequest:
    t = offer.terms
    return PlanQuoteRequest(
        plan_type=t.plan_type.value,
        installments=t.installments,
        frequency=t.frequency.value,
        first_due_date=t.first_due_date,
        down_payment=t.down_payment,
        discount_pct=t.discount_pct,
        annual_rate_pct=t.annual_rate_pct,
    )


def instructions_read(found: service.PaymentInstructions) -> PaymentInstructionsRead:
    return PaymentInstructionsRead(
        creditor=found.creditor,
        currency=found.currency,
        payment_reference=found.payment_reference,
        bank_name=found.bank_name,
        clabe=found.clabe,
        account_holder=found.account_holder,
        cash_stores=found.cash_stores,
        account_clabe=found.account_clabe,
        account_clabe_bank=found.account_clabe_bank,
        store_reference=found.store_reference,
    )


# --- staff and partners -------------------------------------------------------------------


@router.post(
    "/accounts/{account_id}/portal-links",
    summary="Send a debtor a link to the self-service portal (the URL is in this answer only)",
    response_model=PortalLinkRead,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def create_portal_link(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    account_id: uuid.UUID,
    now: ClockDep,
) -> PortalLinkRead:
    """For the account's collector, a lead of their team, a manager or an admin, or the
    account's own partner (others: 404 for an account they cannot see, 403 for a role that
    sends no links). The link opens the portal for this account only, for
    `CARTERA_PORTAL_LINK_DAYS` days (7 by default); the debtor then proves who they are with
    their birth date or the last 4 characters of their national id (5 wrong answers lock
    the link). A new link replaces the account's earlier ones. Send it through the agency's
    own channels; only its SHA-256 is kept."""
    issued = await service.issue_link(
        session, settings, principal, account_id, base_url=base_url(request), now=now
    )
    return PortalLinkRead(
        id=issued.link_id,
        account_id=issued.account_id,
        url=issued.url,
        expires_at=issued.expires_at,
    )


# --- the debtor ---------------------------------------------------------------------------


@debtor_router.post(
    "/sessions",
    summary="Open a portal session: the link's token and the debtor's second factor",
    response_model=PortalSessionRead,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 422, 423, 429),
)
async def create_portal_session(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    body: PortalSessionCreate,
    address: ClientAddressDep,
    now: ClockDep,
) -> PortalSessionRead:
    """Give the `t` of the link and either `birth_date` or `national_id_last4`. A wrong
    answer is 401 `portal_verification_failed` (with the tries left); the fifth locks the
    link (423 `portal_link_locked`, audited). An unknown, expired or replaced link is 401
    `portal_link_invalid`. The session (a bearer token) lasts `CARTERA_PORTAL_SESSION_MINUTES`
    (30 by default) and reaches this one account only."""
    await check_verification_rate(request, address)
    issued = await service.open_session(
        session,
        settings,
        body.token,
        SecondFactor(birth_date=body.birth_date, national_id_last4=body.national_id_last4),
        now=now,
    )
    return PortalSessionRead(access_token=issued.access_token, expires_in=issued.expires_in)


@debtor_router.get(
    "/debt",
    summary="The debt: creditor, balance, stage, what is owed now, plan, promise, how to pay",
    response_model=PortalDebtRead,
    responses=problem_responses(401, 429),
)
async def read_portal_debt(
    session: SessionDep,
    settings: SettingsDep,
    portal: PortalDep,
    now: ClockDep,
    language: LanguageDep,
) -> PortalDebtRead:
    """Recorded as the debtor's inbound contact (channel `portal`) and audited."""
    view = await service.debt(session, settings, portal, now=now)
    account = view.account
    promise = view.promise
    return PortalDebtRead(
        account_ref=account.external_ref,
        creditor=view.creditor,
        currency=account.currency,
        total=account.total,
        principal=account.principal,
        interest=account.interest,
        fees=account.fees,
        past_due_amount=account.past_due_amount,
        days_past_due=account.dpd,
        stage=account.stage,
        owed_now=view.owed_now,
        owed_now_due_date=view.owed_now_due,
        plan=portal_plan_read(view.plan, language) if view.plan is not None else None,
        promise=None
        if promise is None
        else PortalPromiseRead(
            id=promise.id,
            amount=promise.amount,
            currency=promise.currency,
            due_date=promise.due_date,
            status=promise.status,
        ),
        payment=instructions_read(view.instructions),
    )


@debtor_router.get(
    "/offers",
    summary="The plan offers the debtor may accept without anyone's approval",
    response_model=PortalOffersRead,
    responses=problem_responses(401, 429),
)
async def list_portal_offers(
    session: SessionDep,
    settings: SettingsDep,
    portal: PortalDep,
    now: ClockDep,
    language: LanguageDep,
) -> PortalOffersRead:
    """At most one per plan type the creditor's strategy allows in the account's stage,
    within its limits and within what needs no approval, quoted exactly as staff quote
    (`POST /api/v1/accounts/{id}/plan-quotes`). Empty while a plan is open."""
    view = await service.list_offers(session, settings, portal, now=now)
    return offers_read(view, portal.account.id, language)


@debtor_router.post(
    "/plans",
    summary="Accept an offer: the plan is active at once",
    response_model=PortalPlanRead,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 409, 422, 429) | response_headers(201, headers=(LOCATION,)),
)
async def accept_portal_offer(
    session: SessionDep,
    settings: SettingsDep,
    portal: PortalDep,
    body: PlanQuoteRequest,
    now: ClockDep,
    response: Response,
    language: LanguageDep,
) -> PortalPlanRead:
    """Send an offer's `terms` unchanged. Terms that are not one of today's offers (changed,
    beyond the strategy's limits or needing an approval) are 422 `portal_offer_not_allowed`;
    an account with an open plan is 409."""
    view = await service.accept_offer(session, settings, portal, body, now=now)
    response.headers["Location"] = agreement_path(view.plan.id)
    return portal_plan_read(view, language)


@debtor_router.get(
    "/plans/{plan_id}/agreement",
    summary="Download the payment agreement of the debtor's plan (PDF)",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
        **problem_responses(401, 404, 409, 429),
    },
)
async def download_portal_agreement(
    session: SessionDep, settings: SettingsDep, portal: PortalDep, plan_id: uuid.UUID, now: ClockDep
) -> Response:
    """The same agreement staff download (issued once, the same bytes ever after). A plan
    of any other account is 404."""
    agreement = await service.plan_agreement(session, settings, portal, plan_id, now=now)
    return Response(
        content=agreement.pdf,
        media_type="application/pdf",
        headers={
            "X-Agreement-SHA256": agreement.sha256,
            "Content-Disposition": f'attachment; filename="{agreement.folio}.pdf"',
        },
    )


@debtor_router.post(
    "/promises",
    summary="Promise a payment",
    response_model=PortalPromiseRead,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 422, 429),
)
async def create_portal_promise(
    session: SessionDep,
    settings: SettingsDep,
    portal: PortalDep,
    body: PortalPromiseCreate,
    now: ClockDep,
) -> PortalPromiseRead:
    """The rules of a promise taken on a call: more than 0 and at most the balance, due
    within 90 days; followed up like any other promise."""
    promise = await service.make_promise(
        session, settings, portal, body.amount, body.due_date, now=now
    )
    return PortalPromiseRead(
        id=promise.id,
        amount=promise.amount,
        currency=promise.currency,
        due_date=promise.due_date,
        status=promise.status,
    )


@debtor_router.get(
    "/payment-instructions",
    summary="How and where to pay the creditor",
    response_model=PaymentInstructionsRead,
    responses=problem_responses(401, 429),
)
async def read_portal_payment_instructions(
    session: SessionDep, settings: SettingsDep, portal: PortalDep, now: ClockDep
) -> PaymentInstructionsRead:
    """The account's payment reference and the creditor's bank account and cash stores."""
    return instructions_read(await service.payment_instructions(session, settings, portal, now=now))


@debtor_router.get(
    "/payment-instructions/barcode.svg",
    summary="Download the account's convenience-store reference as a barcode",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}},
        **problem_responses(401, 404, 429),
    },
)
async def download_portal_store_barcode(
    session: SessionDep, settings: SettingsDep, portal: PortalDep
) -> Response:
    """The store reference as a Code 128 barcode (SVG) to show at the till; 404 for an account
    outside Mexico, which has none."""
    return Response(
        await service.store_barcode(session, settings, portal), media_type="image/svg+xml"
    )


@debtor_router.put(
    "/contact-preference",
    summary="Ask to be contacted on a channel (at a time of day) or not at all",
    response_model=PortalContactPreferenceRead,
    responses=problem_responses(401, 422, 429),
)
async def set_portal_contact_preference(
    session: SessionDep,
    settings: SettingsDep,
    portal: PortalDep,
    body: PortalContactPreferenceWrite,
    now: ClockDep,
) -> PortalContactPreferenceRead:
    """A consent change with source `portal` (the portal interaction as its evidence): the
    channel is granted, or, with `channel: null`, every channel is closed."""
    changed = await service.set_contact_preference(
        session,
        settings,
        portal,
        service.ContactPreference(
            ContactChannel(body.channel) if body.channel is not None else None, body.preferred_time
        ),
        now=now,
    )
    return PortalContactPreferenceRead(
        channels=changed, status="granted" if body.channel is not None else "opted_out"
    )
