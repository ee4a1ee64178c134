"""The outermost ASGI layer: request id, body size limit, security headers, the answer's
language (``Content-Language``, ``Vary: Accept-Language``), access log, metrics, and a
last-resort 500 problem that leaks nothing.

Written as plain ASGI (no ``BaseHTTPMiddleware``) so it adds no task per request and the
request id context variable is visible to everything below.
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
import weakref
from typing import Any

import anyio
import structlog
from fastapi.exceptions import HTTPException
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.i18n import negotiate
from app.observability import HTTP_LATENCY, HTTP_REQUESTS, get_logger, request_id_var
from app.problems import problem_response, render

log = get_logger("cartera.http")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,80}$")
# Request ids the client did not offer: 32 hex digits, a random prefix per process and a
# counter (unique without asking the OS for randomness on every request).
_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count(1)


def _new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFFFFFFFFFF:016x}"


# The metric series of each (method, route[, status]), looked up once: ``labels()`` takes a
# lock and builds its key on every call.
_COUNTERS: dict[tuple[str, str, str], Any] = {}
_LATENCIES: dict[tuple[str, str], Any] = {}


def _observe(method: str, route: str, status: str, elapsed: float) -> None:
    counter = _COUNTERS.get((method, route, status))
    if counter is None:
        counter = _COUNTERS.setdefault(
            (method, route, status), HTTP_REQUESTS.labels(method, route, status)
        )
    latency = _LATENCIES.get((method, route))
    if latency is None:
        latency = _LATENCIES.setdefault((method, route), HTTP_LATENCY.labels(method, route))
    counter.inc()
    latency.observe(elapsed)


SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
# The API answers data only: nothing may load or run. The documentation pages load Swagger
# UI and ReDoc from this server (app/routers/docs.py) and run no inline script; both set
# element styles from their scripts (hence 'unsafe-inline' for styles only), Swagger UI
# draws icons as data: images and ReDoc starts a worker from a blob.
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
# The debtor portal's HTML pages: their own stylesheet and images, forms posting to
# themselves, no script at all.
PORTAL_CSP = (
    b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    b"base-uri 'none'; frame-ancestors 'none'"
)
PORTAL_PAGES = re.compile(r"^/portal/(?!v1/)")


def _csp(path: str) -> bytes:
    if path in DOCS_PATHS:
        return DOCS_CSP
    return PORTAL_CSP if PORTAL_PAGES.match(path) else API_CSP


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException so FastAPI lets it through."""

    def __init__(self, limit: int | None = None) -> None:
        super().__init__(status_code=413)
        self.params = {"limit": limit} if limit is not None else {}


class BodyTimeout(HTTPException):
    """The client stopped sending its body: it must not hold a worker and a connection."""

    def __init__(self, seconds: float) -> None:
        super().__init__(status_code=408)
        self.params = {"seconds": seconds}


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_upload_bytes: int | None = None,
        upload_path: re.Pattern[str] | None = None,
        body_idle_seconds: float = 30.0,
    ) -> None:
        self.body_idle_seconds = body_idle_seconds
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes or max_body_bytes
        self.upload_path = upload_path

    def _limit_for(self, scope: Scope) -> int:
        """Uploads (portfolio files) may be larger than any other body."""
        path = scope.get("path", "")
        if self.upload_path is not None and self.upload_path.match(path):
            return self.max_upload_bytes
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        offered = headers.get("x-request-id", "")
        request_id = offered if _VALID_REQUEST_ID.match(offered) else _new_request_id()
        token = request_id_var.set(request_id)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        lang = negotiate(headers.get("accept-language"))
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": 500, "started": False}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                csp = _csp(scope.get("path", ""))
                extra = [
                    (b"x-request-id", request_id.encode()),
                    *SECURITY_HEADERS,
                    (b"content-security-policy", csp),
                ]
                message["headers"] = _with_language(
                    [*message.get("headers", []), *extra], lang.encode()
                )
            await send(message)

        try:
            limit = self._limit_for(scope)
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise BodyTooLarge
            await self.app(scope, self._limited(receive, limit), send_with_headers)
        except ClientDisconnect:
            # The client went away mid-body; nobody is left to answer.
            status_holder["status"] = 499
            log.info("client disconnected", method=scope.get("method"), route=_route(scope))
        except BodyTimeout:
            if not status_holder["started"]:
                problem = render(
                    "request_timeout",
                    lang=lang,
                    params={"seconds": self.body_idle_seconds},
                    request_id=request_id,
                )
                await problem_response(problem)(scope, receive, send_with_headers)
        except BodyTooLarge:
            if not status_holder["started"]:
                problem = render(
                    "payload_too_large",
                    lang=lang,
                    params={"limit": self._limit_for(scope)},
                    request_id=request_id,
                )
                await problem_response(problem)(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled error", method=scope.get("method"), route=_route(scope))
            if not status_holder["started"]:
                problem = render("internal_error", lang=lang, request_id=request_id)
                await problem_response(problem)(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            route = _route(scope)
            method = scope.get("method", "")
            _observe(method, route, str(status_holder["status"]), elapsed)
            log.info(
                "request",
                method=method,
                route=route,
                status=status_holder["status"],
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")
            request_id_var.reset(token)

    def _limited(self, receive: Receive, limit: int) -> Receive:
        seen = 0
        body_done = False
        idle = self.body_idle_seconds

        async def receive_limited() -> Message:
            nonlocal seen, body_done
            if body_done:
                # After the body only a disconnect can come (streaming responses wait for it).
                return await receive()
            try:
                with anyio.fail_after(idle):
                    message = await receive()
            except TimeoutError as exc:
                raise BodyTimeout(idle) from exc
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
                body_done = not message.get("more_body", False)
            return message

        return receive_limited


def _with_language(
    headers: list[tuple[bytes, bytes]], language: bytes
) -> list[tuple[bytes, bytes]]:
    """Every answer says its language, and that it varies with Accept-Language (caches key
    on it): added to a ``Vary`` the answer has (CORS adds ``Origin``), never replacing it."""
    names = [name.lower() for name, _ in headers]
    varies = {
        field.strip().lower()
        for name, value in headers
        if name.lower() == b"vary"
        for field in value.split(b",")
    }
    result = list(headers)
    if not varies & {b"accept-language", b"*"}:
        if b"vary" in names:
            at = names.index(b"vary")
            name, value = result[at]
            result[at] = (
                name,
                value + b", Accept-Language" if value.strip() else b"Accept-Language",
            )
        else:
            result.append((b"vary", b"Accept-Language"))
    if b"content-language" not in names:
        result.append((b"content-language", language))
    return result


def _route(scope: Scope) -> str:
    """The matched route's template; unmatched paths share one label (no cardinality blow-up)."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not template:
        return _plain_route(scope)
    # Routes of included routers know only their own part of the path; the static prefix
    # (``/api/v1``) is what precedes it in the request path.
    actual = str(scope.get("path", "")).strip("/").split("/")
    own = str(template).strip("/").split("/")
    prefix = actual[: max(0, len(actual) - len(own))]
    return ("/" + "/".join(prefix) if prefix else "") + str(template)


# Per app: the template of each route FastAPI's router leaves unnamed in the scope, by the
# id of the endpoint it puts there instead.
_PLAIN_ROUTES: weakref.WeakKeyDictionary[Any, dict[int, str]] = weakref.WeakKeyDictionary()


def _plain_route(scope: Scope) -> str:
    """Starlette's own routes (``/openapi.json``) and mounts (the documentation's assets,
    labelled ``/docs/static/{path}``) are found by their endpoint; else ``unmatched``."""
    endpoint, app = scope.get("endpoint"), scope.get("app")
    if endpoint is None or app is None:
        return "unmatched"
    templates = _PLAIN_ROUTES.get(app)
    if templates is None:
        templates = {}
        for candidate in getattr(app, "routes", ()):
            if isinstance(candidate, Mount):
                templates[id(candidate.app)] = candidate.path + "/{path}"
            elif isinstance(candidate, Route) and not isinstance(candidate, APIRoute):
                templates[id(candidate.endpoint)] = candidate.path_format
        _PLAIN_ROUTES[app] = templates
    return templates.get(id(endpoint), "unmatched")
