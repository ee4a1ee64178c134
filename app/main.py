"""The application factory: routers, middleware, error handlers, lifespan and the contract."""

from __future__ import annotations

import asyncio
import gc
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app import __version__, contract, security, vault
from app.config import Settings, get_settings
from app.db import Database, DatabaseUnreachable, EmbeddedPostgres, open_database
from app.deps import API_PREFIX
from app.domain.contact_check_packs import pack_for
from app.domain.errors import DomainError, LoginLocked, NotAuthenticated, RateLimited
from app.i18n import Language, negotiate
from app.jobs import metrics as job_metrics
from app.jobs.worker import run_worker
from app.middleware import RequestContextMiddleware
from app.observability import DB_POOL_TIMEOUTS, configure_logging, get_logger, request_id_var
from app.problems import (
    STATUS_CODES,
    Problem,
    domain_field_errors,
    domain_params,
    problem_response,
    render,
    status_of,
    validation_field_errors,
)
from app.routers import (
    accounts,
    allocation,
    assignments,
    audit,
    auth,
    callbacks,
    catalog,
    compliance_incidents,
    contact_check,
    credit_movements,
    debtors,
    docs,
    documents,
    escalations,
    experiments,
    field_routes,
    health,
    inbound,
    interactions,
    kyc,
    ledger,
    me,
    partners,
    payment_files,
    payment_rails,
    payments,
    plans,
    portal,
    portal_pages,
    reports,
    skip_tracing,
    spei_files,
    strategies,
    targets,
    teams,
    users,
    webhooks,
    worklists,
)
from app.schemas.assignments import AssignmentPush
from app.services.principal_cache import PrincipalCache
from app.services.workbooks import WorkbookLimits

log = get_logger("cartera.app")

DESCRIPTION = """
Cartera is an open-source debt-collection platform (*sistema de gestión de cobranza*) for
collection agencies and banks in Mexico and Latin America.

**Authentication.** Staff use the OAuth2 password grant (`POST /api/v1/auth/token`) and
renew their session with the refresh-token grant on the same endpoint (refresh tokens rotate
on every use; `POST /api/v1/auth/logout` ends the session); partner systems use the
client-credentials grant (`POST /api/v1/auth/client-token`). Send the access token as
`Authorization: Bearer …`.

**Languages.** Every text a person reads (error titles, details and per-field messages,
contact-check reasons, upload rejections) comes in English, Spanish (`Accept-Language: es`,
`es-MX` …) or Brazilian Portuguese (`pt-BR`); the answer's `Content-Language` says which.
Codes never change with the language.

**Errors.** Every error is RFC 9457 `application/problem+json` with a stable `code`.

**Lists** are keyset-paginated: pass the `next_cursor` of one page as `cursor` for the next.
"""

TAGS = [
    {
        "name": "auth",
        "description": "Tokens for staff (password, refresh token, logout) and partner "
        "systems (client credentials).",
    },
    {"name": "users", "description": "Staff users, their roles and skills."},
    {"name": "teams", "description": "Teams of collectors and their lead."},
    {
        "name": "webhooks",
        "description": "Events to partner systems: subscriptions, signing secrets (Standard "
        "Webhooks) and the delivery log.",
    },
    {
        "name": "partners",
        "description": "Partner companies (empresas convenidas), their bucket tables and "
        "system clients.",
    },
    {
        "name": "strategies",
        "description": "Each partner's collection strategy per delinquency stage, versioned.",
    },
    {
        "name": "assignments",
        "description": "Portfolio pushes (asignaciones) and recalls: JSON, CSV or Excel, "
        "processed in the background.",
    },
    {
        "name": "accounts",
        "description": "Assigned accounts: balances, delinquency stage, assignment to "
        "collectors, history and pauses.",
    },
    {
        "name": "compliance",
        "description": "Country contact-law packs and the check before every contact.",
    },
    {
        "name": "interactions",
        "description": "Gestiones: contact attempts and contacts with their PCR, and coaching.",
    },
    {"name": "promises", "description": "Promises to pay and how they resolved."},
    {
        "name": "plans",
        "description": "Payment plans: regularization, restructuring and settlement quotes.",
    },
    {
        "name": "payments",
        "description": "Payments received, how each was allocated, and reversals; partner "
        "payment files and their reconciliation.",
    },
    {
        "name": "ledger",
        "description": "Every movement of money on an account, in minor units; credit "
        "refunds and transfers.",
    },
    {"name": "escalations", "description": "Cases referred to team leads and managers."},
    {
        "name": "catalog",
        "description": "The floor's codes (results, PCR categories, outcomes, flags, "
        "channels, reasons, problems) with their labels and what each requires.",
    },
    {
        "name": "debtors",
        "description": "Debtor profiles (masked), reveals with a reason and their access log, "
        "skip tracing (new contact points and references) and data-subject exports.",
    },
    {
        "name": "kyc",
        "description": "Know-your-customer look-ups by national id, phone, email or name.",
    },
    {
        "name": "documents",
        "description": "Documents kept with an account (agreements, identity documents, visit "
        "photos) and the custody of their paper originals.",
    },
    {
        "name": "work",
        "description": "Allocation of accounts to teams and collectors, work queues, and field "
        "visit routes.",
    },
    {
        "name": "reports",
        "description": "Recovery KPIs (aging, roll rates, recovery, agents), targets and "
        "commissions, as JSON or CSV.",
    },
    {"name": "audit", "description": "The append-only, hash-chained record of every change."},
    {
        "name": "portal",
        "description": "The debtor's self-service portal (`/portal/v1`): staff or the partner "
        "send a link; the debtor proves who they are and sees the debt, accepts an offer, "
        "downloads the agreement, promises a payment, reads how to pay and says how to be "
        "contacted. Every action is the debtor's inbound contact on the `portal` channel.",
    },
    {"name": "operations", "description": "Health, readiness and metrics probes."},
]


def _operation_id(route: APIRoute) -> str:
    """Handlers are named for what they do (``list_users``), which makes a good id."""
    return route.name


def _lang(request: Request) -> Language:
    return negotiate(request.headers.get("accept-language"))


def _instance(request: Request) -> str:
    return request.url.path


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    headers: dict[str, str] = {}
    lang = _lang(request)
    errors = domain_field_errors(exc, lang)
    if isinstance(exc, LoginLocked | RateLimited):
        headers["Retry-After"] = str(exc.params.get("retry_after", 60))
    if isinstance(exc, NotAuthenticated) or status_of(exc) == 401:
        headers["WWW-Authenticate"] = "Bearer"
    problem = render(
        exc.code,
        lang=lang,
        params=domain_params(exc),
        errors=errors,
        request_id=request_id_var.get(),
        instance=_instance(request),
    )
    return problem_response(problem, headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    lang = _lang(request)
    errors = validation_field_errors(exc.errors(), lang)
    problem = render(
        "validation_failed",
        lang=lang,
        params={"count": len(errors)},
        errors=errors,
        request_id=request_id_var.get(),
        instance=_instance(request),
    )
    return problem_response(problem)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError | ValueError):
        # A JSON body that is not even text: a validation failure of the body as a whole.
        return await _validation_error(
            request,
            RequestValidationError(
                [{"type": "body_unreadable", "loc": ("body",), "msg": "Not UTF-8 JSON."}]
            ),
        )
    code = STATUS_CODES.get(exc.status_code, "http_error")
    params: dict[str, Any] = {}
    headers = dict(exc.headers or {})
    if exc.status_code == 413:
        params["limit"] = request.app.state.settings.max_body_bytes
    # The middleware's own limits say which limit was hit (uploads have a larger one).
    params.update(getattr(exc, "params", {}))
    if exc.status_code == 405:
        # Routes of one path are separate objects; Starlette names only the first one's method.
        headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
    # Starlette's own 400 details (an oversized form field, say) are safe and useful, but
    # English only: other readers get the catalogue's detail.
    lang = _lang(request)
    detail = (
        exc.detail
        if code == "http_error" and isinstance(exc.detail, str) and lang == "en"
        else None
    )
    problem = render(
        code,
        lang=lang,
        params=params,
        detail=detail,
        status=exc.status_code,
        request_id=request_id_var.get(),
        instance=_instance(request),
    )
    return problem_response(problem, headers)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the contract offers on a concrete path."""
    patterns: list[tuple[re.Pattern[str], list[str]]] | None = getattr(
        app.state, "method_patterns", None
    )
    if patterns is None:
        patterns = []
        for template, item in app.openapi().get("paths", {}).items():
            regex = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
            patterns.append((re.compile(regex), sorted(m.upper() for m in item)))
        app.state.method_patterns = patterns
    for pattern, methods in patterns:
        if pattern.match(path):
            return methods
    return []


async def _integrity_error(request: Request, exc: Exception) -> Response:
    # A race the service's own checks could not see (two creates of one name at once).
    log.warning("integrity error", error_class=type(getattr(exc, "orig", exc)).__name__)
    problem = render(
        "concurrent_change",
        lang=_lang(request),
        request_id=request_id_var.get(),
        instance=_instance(request),
    )
    return problem_response(problem)


def _sqlstate(exc: DBAPIError) -> str:
    for error in (exc.orig, getattr(exc.orig, "__cause__", None)):
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str):
            return state
    return ""


# Connection lost (class 08, but a protocol violation is a bug) or the server shutting down
# or starting up (57P0x): retry later. Out of connections (53300): busy, retry later.
_UNAVAILABLE_STATES = ("08000", "08003", "08006", "08001", "08004", "57P01", "57P02", "57P03")
_BUSY_STATES = ("53300",)


async def _database_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DBAPIError)
    lang = _lang(request)
    if exc.connection_invalidated or _sqlstate(exc) in _UNAVAILABLE_STATES:
        return _retry_later(request, "database_unavailable", sqlstate=_sqlstate(exc))
    if _sqlstate(exc) in _BUSY_STATES:
        return _retry_later(request, "database_busy", sqlstate=_sqlstate(exc))
    if _sqlstate(exc).startswith("40"):
        # Deadlock or serialization failure: a concurrent change won; the client may retry.
        log.warning("transaction conflict", sqlstate=_sqlstate(exc))
        problem = render(
            "concurrent_change",
            lang=lang,
            request_id=request_id_var.get(),
            instance=_instance(request),
        )
        return problem_response(problem)
    if _sqlstate(exc).startswith("22"):
        # A "data exception" (value out of range, bad encoding): the client's value, not us.
        log.warning("data exception", sqlstate=_sqlstate(exc))
        problem = render(
            "invalid_input",
            lang=lang,
            params={"field": "body"},
            request_id=request_id_var.get(),
            instance=_instance(request),
        )
        return problem_response(problem)
    log.error("database error", sqlstate=_sqlstate(exc), error_class=type(exc).__name__)
    problem = render("internal_error", lang=lang, request_id=request_id_var.get())
    return problem_response(problem)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    embedded: EmbeddedPostgres | None = None
    if getattr(app.state, "database", None) is None:
        url = settings.async_database_url
        if url is None:
            # Served without `cartera serve` (e.g. plain uvicorn): start the embedded server.
            embedded = EmbeddedPostgres(settings.data_dir)
            url = embedded.start()
        app.state.database = open_database(url, settings)
    worker: asyncio.Task[None] | None = None
    stop = anyio.Event()
    if settings.worker_in_process:
        worker = asyncio.create_task(
            run_worker(
                app.state.database,
                stop=stop,
                aging_zone=settings.aging_time_zone,
                workbook_limits=WorkbookLimits.from_settings(settings),
                settings=settings,
            )
        )
    # Everything built at start-up (the app, its routes and models, SQLAlchemy's mappers)
    # lives as long as the process: moved out of the collector's sight, a full collection
    # no longer walks it and stalls every request in flight. Once per process: what a
    # second app in the same process (tests) builds stays collectable.
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()
    # Before the first login, so an unknown user name never waits for it.
    await anyio.to_thread.run_sync(security.timing_equaliser)
    try:
        yield
    finally:
        if worker is not None:
            stop.set()
            await worker
        database: Database = app.state.database
        await database.dispose()
        app.state.database = None
        if embedded is not None:
            embedded.stop()


async def _database_busy(request: Request, exc: Exception) -> Response:
    """Every pooled connection is taken: a 503 the client may retry, not a 500."""
    DB_POOL_TIMEOUTS.inc()
    return _retry_later(request, "database_busy")


async def _database_unreachable(request: Request, exc: Exception) -> Response:
    """PostgreSQL is down, restarting or unreachable: the client may retry. The driver's own
    message goes to the log (a host or socket path, never request data), loud enough for an
    address that is simply wrong to be noticed."""
    log.error("database unreachable", route=request.url.path, cause=repr(exc.__cause__))
    return _retry_later(request, "database_unavailable", quiet=True)


def _retry_later(request: Request, code: str, *, quiet: bool = False, **facts: str) -> Response:
    if not quiet:
        log.warning(code, route=request.url.path, **facts)
    problem = render(
        code,
        lang=_lang(request),
        request_id=request_id_var.get(),
        instance=_instance(request),
    )
    return problem_response(problem, {"Retry-After": "5"})


def _document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Make every documented error a Problem and document 500 everywhere."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem_schema.pop("$defs", {}))
    components["Problem"] = problem_schema
    # Request bodies read by hand (uploads) document their JSON shape here.
    for model in (AssignmentPush,):
        body_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(body_schema.pop("$defs", {}))
        components[model.__name__] = body_schema
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    ref = {"$ref": "#/components/schemas/Problem"}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            responses.setdefault("500", {"description": "Internal error"})
            responses.setdefault(
                "503",
                {
                    "description": "Database busy or unreachable; retry after Retry-After",
                    "headers": {
                        "Retry-After": {
                            "description": "Seconds to wait before retrying.",
                            "schema": {"type": "integer", "minimum": 1},
                        }
                    },
                },
            )
            if "requestBody" in operation:
                responses.setdefault("400", {"description": "Unreadable request body"})
                responses.setdefault("413", {"description": "Request body too large"})
            for status_code, response in responses.items():
                if status_code[0] in "45":
                    response["content"] = {"application/problem+json": {"schema": ref}}
                    if status_code == "422":
                        response["description"] = "Invalid request (per-field errors)"
    return schema


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.check_deployable()
    vault.configure(settings)
    job_metrics.register()
    # An override that would loosen a country's contact law stops the start, not a request.
    for country, override in settings.compliance_overrides.items():
        pack_for(country, override)
    configure_logging(settings.log_level, settings.logs_as_json)
    app = FastAPI(
        title="Cartera API",
        version=__version__,
        summary="Debt-collection platform for agencies and banks in Latin America.",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
        generate_unique_id_function=_operation_id,
        lifespan=_lifespan,
        # Our own pages, from installed assets (app/routers/docs.py).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.principal_cache = PrincipalCache(settings.principal_cache_seconds)

    app.include_router(health.router)
    app.include_router(docs.router)
    app.mount(docs.STATIC_PREFIX, docs.static_assets(), name="docs-static")
    for module in (
        auth,
        users,
        teams,
        partners,
        strategies,
        experiments,
        assignments,
        accounts,
        contact_check,
        compliance_incidents,
        interactions,
        callbacks,
        inbound,
        escalations,
        catalog,
        plans,
        payments,
        ledger,
        credit_movements,
        payment_files,
        spei_files,
        payment_rails,
        documents,
        debtors,
        skip_tracing,
        kyc,
        allocation,
        worklists,
        me,
        field_routes,
        reports,
        targets,
        webhooks,
        audit,
        portal,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(payments.account_router, prefix=API_PREFIX)
    app.include_router(portal.debtor_router)
    app.include_router(portal_pages.router)

    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeout, _database_busy)
    app.add_exception_handler(DatabaseUnreachable, _database_unreachable)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Accept-Language", "If-Match",
                           "Idempotency-Key", "X-Request-ID"],
            expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID"],
        )  # fmt: skip
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        # Files: the handlers apply their own limits (documents are checked against
        # max_document_bytes while they stream in).
        upload_path=re.compile(
            rf"^{API_PREFIX}/(partners/[^/]+/(assignments|payment-files)|accounts/[^/]+/documents)$"
        ),
        body_idle_seconds=settings.body_idle_seconds,
    )

    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = contract.finish(_document_problems(base_openapi()))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
