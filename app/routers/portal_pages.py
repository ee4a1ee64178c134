"""The debtor portal's HTML pages (Jinja2, no script): enter the link, prove who you are,
see the debt and the offers, accept one, download the agreement. The same services as the
JSON API (app/routers/portal.py); not part of the contract.

- The session is the portal token in a cookie: ``HttpOnly``, ``SameSite=Strict``, ``Secure``
  outside development and tests, scoped to ``/portal``. The JSON API never reads it.
- Every form posts a CSRF token: an HMAC of the session token (or, on the link's form, of
  the link token) under the portal's key, checked in constant time.
- Texts are written in English and shown in Spanish unless the browser asks for English
  first, from the same gettext catalogues as the API (app/i18n.py; ``make messages``
  extracts ``_()`` from the templates).
- The page's content security policy allows its own stylesheet and nothing else
  (app/middleware.py, ``PORTAL_CSP``).
"""

from __future__ import annotations

import hmac
import uuid
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.deps import ClientAddressDep, ClockDep, SessionDep, SettingsDep
from app.domain.agreements import format_date, format_money
from app.domain.errors import DomainError, InvalidInput, NotFound, RateLimited
from app.domain.plans import PLAN_STATUS_WORDS
from app.domain.portal import PortalLinkInvalid, PortalSessionInvalid, SecondFactor, sign
from app.i18n import N_, Language, negotiate, translate
from app.problems import render, status_of
from app.routers.portal import check_verification_rate, offer_terms
from app.schemas.plans import PlanQuoteRequest
from app.services import portal as service

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
COOKIE = "cartera_portal"
templates = Jinja2Templates(
    env=jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES / "portal"), autoescape=True)
)

router = APIRouter(prefix="/portal", include_in_schema=False)

_LOCALES: dict[Language, str] = {"es": "es_MX", "en": "en_US", "pt-BR": "pt_BR"}


def page_language(request: Request) -> Language:
    """Spanish first: another language the catalogues have (English, Brazilian Portuguese)
    only when the browser puts it first."""
    header = (request.headers.get("accept-language") or "").strip()
    if not header or header.startswith("*"):
        return "es"
    chosen = negotiate(header)
    return chosen if negotiate(header.split(",")[0]) == chosen else "es"


def _csrf(settings: Settings, purpose: str, secret: str) -> str:
    return sign(service.link_key(settings), f"csrf:{purpose}:{secret}")


def _csrf_ok(settings: Settings, purpose: str, secret: str, given: str) -> bool:
    return hmac.compare_digest(_csrf(settings, purpose, secret), given)


# Codes the pages show as words: marked here so that `make messages` keeps them.
_PLAN_TYPE_WORDS = {
    "regularization": N_("Regularization"),
    "restructuring": N_("Restructuring"),
    "settlement": N_("Settlement"),
}
_PLAN_STATUS_WORDS = PLAN_STATUS_WORDS


def _word(words: dict[str, str], code: str, language: Language) -> str:
    return translate(words.get(code, code), language)


def _page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    lang = page_language(request)
    locale = _LOCALES[lang]
    settings: Settings = request.app.state.settings

    def money(amount: Decimal, currency: str) -> str:
        return format_money(amount, currency, locale)

    def day(value: date | None) -> str:
        return format_date(value, locale) if value is not None else ""

    response = templates.TemplateResponse(
        request,
        name,
        {
            "lang": lang,
            "_": lambda message: translate(message, lang),
            "plan_type_word": lambda code: _word(_PLAN_TYPE_WORDS, code, lang),
            "plan_status_word": lambda code: _word(_PLAN_STATUS_WORDS, code, lang),
            "money": money,
            "day": day,
            "agency": settings.agency_legal_name,
            "redeco": settings.agency_redeco_number,
            **context,
        },
        status_code=status,
    )
    response.headers["Content-Language"] = lang
    return response


def _problem_page(request: Request, error: DomainError, status: int) -> Response:
    problem = render(error.code, lang=page_language(request), params=error.params)
    response = _page(request, "message.html", status, title=problem.title, detail=problem.detail)
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _status(error: DomainError) -> int:
    return status_of(error)


def set_session_cookie(settings: Settings, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=max_age,
        path="/portal",
        httponly=True,
        secure=settings.env == "production",
        samesite="strict",
    )


async def _failed(session: AsyncSession, request: Request, error: DomainError) -> Response:
    """A refusal as a page; what the unit of work wrote is kept only when the error says so
    (a wrong answer to the second factor)."""
    if not error.keeps_changes:
        await session.rollback()
    return _problem_page(request, error, _status(error))


@router.get("/static/portal.css")
async def portal_stylesheet() -> FileResponse:
    return FileResponse(TEMPLATES / "portal" / "portal.css", media_type="text/css")


@router.get("/start")
async def portal_start_page(request: Request, settings: SettingsDep, t: str = "") -> Response:
    if not t or len(t) > 200:
        return _problem_page(request, PortalLinkInvalid(), 401)
    return _page(request, "start.html", token=t, csrf=_csrf(settings, "start", t), error=None)


@router.post("/start")
async def portal_verify(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    address: ClientAddressDep,
    now: ClockDep,
    t: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=200)],
    factor: Annotated[str, Form(max_length=20)] = "birth_date",
    birth_date: Annotated[str, Form(max_length=20)] = "",
    national_id_last4: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    if not _csrf_ok(settings, "start", t, csrf):
        return _problem_page(request, PortalLinkInvalid(), 403)
    try:
        chosen = _second_factor(factor, birth_date, national_id_last4)
        await check_verification_rate(request, address)
        issued = await service.open_session(session, settings, t, chosen, now=now)
    except DomainError as error:
        if not error.keeps_changes:
            await session.rollback()
        problem = render(error.code, lang=page_language(request), params=error.params)
        return _page(
            request,
            "start.html",
            _status(error),
            token=t,
            csrf=csrf,
            error=f"{problem.title}. {problem.detail}",
        )
    response = RedirectResponse("/portal/debt", status_code=303)
    set_session_cookie(settings, response, issued.access_token, issued.expires_in)
    return response


def _second_factor(kind: str, birth_date: str, last4: str) -> SecondFactor:
    if kind == "national_id_last4":
        return SecondFactor(national_id_last4=last4.strip())
    try:
        return SecondFactor(birth_date=date.fromisoformat(birth_date.strip()))
    except ValueError as exc:
        raise InvalidInput("birth_date", N_("a date such as 1980-04-30")) from exc


async def page_session(
    request: Request, session: SessionDep, settings: SettingsDep
) -> service.PortalSession | None:
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 4096:
        return None
    try:
        return await service.portal_session(session, settings, token)
    except PortalSessionInvalid:
        return None


PageSession = Annotated[service.PortalSession | None, Depends(page_session)]


@router.get("/debt")
async def portal_debt_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    portal: PageSession,
    now: ClockDep,
) -> Response:
    if portal is None:
        return _problem_page(request, PortalSessionInvalid(), 401)
    try:
        debt = await service.debt(session, settings, portal, now=now)
        offers = await service.list_offers(session, settings, portal, now=now)
    except DomainError as error:
        return await _failed(session, request, error)
    csrf = _csrf(settings, "session", request.cookies[COOKIE])
    return _page(
        request,
        "debt.html",
        debt=debt,
        offers=[(offer, offer_terms(offer)) for offer in offers.offers],
        csrf=csrf,
    )


@router.post("/offers")
async def portal_accept_offer(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    portal: PageSession,
    now: ClockDep,
    csrf: Annotated[str, Form(max_length=200)],
    plan_type: Annotated[str, Form(max_length=20)],
    installments: Annotated[str, Form(max_length=5)],
    frequency: Annotated[str, Form(max_length=10)],
    first_due_date: Annotated[str, Form(max_length=12)],
    down_payment: Annotated[str, Form(max_length=24)] = "0",
    discount_pct: Annotated[str, Form(max_length=8)] = "0",
    annual_rate_pct: Annotated[str, Form(max_length=8)] = "0",
) -> Response:
    if portal is None:
        return _problem_page(request, PortalSessionInvalid(), 401)
    if not _csrf_ok(settings, "session", request.cookies[COOKIE], csrf):
        return _problem_page(request, PortalSessionInvalid(), 403)
    try:
        body = _offer_body(
            plan_type, installments, frequency, first_due_date, down_payment, discount_pct,
            annual_rate_pct,
        )  # fmt: skip
        view = await service.accept_offer(session, settings, portal, body, now=now)
    except DomainError as error:
        return await _failed(session, request, error)
    return RedirectResponse(f"/portal/plans/{view.plan.id}", status_code=303)


def _offer_body(*fields: str) -> PlanQuoteRequest:
    names = (
        "plan_type", "installments", "frequency", "first_due_date", "down_payment",
        "discount_pct", "annual_rate_pct",
    )  # fmt: skip
    try:
        return PlanQuoteRequest.model_validate(dict(zip(names, fields, strict=True)))
    except (ValidationError, InvalidOperation) as exc:
        raise InvalidInput("body", N_("not an offer")) from exc


@router.get("/plans/{plan_id}")
async def portal_plan_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    portal: PageSession,
    now: ClockDep,
    plan_id: uuid.UUID,
) -> Response:
    if portal is None:
        return _problem_page(request, PortalSessionInvalid(), 401)
    try:
        debt = await service.debt(session, settings, portal, now=now)
    except DomainError as error:
        return await _failed(session, request, error)
    if debt.plan is None or debt.plan.plan.id != plan_id:
        return _problem_page(request, NotFound({"entity": "payment_plan"}), 404)
    csrf = _csrf(settings, "session", request.cookies[COOKIE])
    return _page(request, "plan.html", debt=debt, plan=debt.plan, csrf=csrf)


@router.get("/plans/{plan_id}/agreement.pdf")
async def portal_agreement_file(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    portal: PageSession,
    now: ClockDep,
    plan_id: uuid.UUID,
) -> Response:
    if portal is None:
        return _problem_page(request, PortalSessionInvalid(), 401)
    try:
        agreement = await service.plan_agreement(session, settings, portal, plan_id, now=now)
    except DomainError as error:
        return await _failed(session, request, error)
    return Response(
        content=agreement.pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{agreement.folio}.pdf"'},
    )


@router.get("/barcode.svg")
async def portal_store_barcode(
    request: Request, session: SessionDep, settings: SettingsDep, portal: PageSession
) -> Response:
    if portal is None:
        return _problem_page(request, PortalSessionInvalid(), 401)
    try:
        svg = await service.store_barcode(session, settings, portal)
    except DomainError as error:
        return await _failed(session, request, error)
    return Response(svg, media_type="image/svg+xml")


@router.post("/logout")
async def portal_logout(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    portal: PageSession,
    now: ClockDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Ends the session on the server too (a copy of the cookie no longer opens anything);
    with a session, only through the form's CSRF token."""
    if portal is not None:
        if not _csrf_ok(settings, "session", request.cookies[COOKIE], csrf):
            return _problem_page(request, PortalSessionInvalid(), 403)
        await service.end_sessions(session, portal, now=now)
    response = _page(
        request,
        "message.html",
        title=translate(N_("You left the portal"), page_language(request)),
        detail=translate(N_("Open your link again to come back."), page_language(request)),
    )
    response.delete_cookie(COOKIE, path="/portal")
    return response
