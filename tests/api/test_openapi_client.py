"""What a generated client relies on in the contract (`make client-check` compiles one): the
response headers each operation sets are declared, operations that need no credentials say
so, If-Match has one spelling, every resource changed with If-Match is read with an ETag,
and schema names are ones a type generator can keep."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from functools import cache
from types import ModuleType
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute

import app.routers
from app.contract import readable_name

METHODS = {"get", "post", "put", "patch", "delete"}

# Every operation that serves without a bearer token. A new one belongs here only on purpose.
PUBLIC = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("post", "/api/v1/auth/token"),
    ("post", "/api/v1/auth/client-token"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/portal/v1/sessions"),
}


# Changes whose If-Match names another resource's ETag: ending a pause takes the account's.
READ_AT = {"/api/v1/pauses/{pause_id}/end": "/api/v1/accounts/{account_id}"}


def operations(spec: dict[str, Any]):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


@cache
def _module_tree(module: ModuleType) -> ast.Module:
    return ast.parse(inspect.getsource(module))


def _headers_set_by(function: Any) -> set[str]:
    """The header names the function (or a function of its module it calls, transitively)
    assigns as ``<something>.headers["Name"] = ...``, read from the source."""
    module = inspect.getmodule(function)
    assert module is not None
    functions = {
        node.name: node
        for node in ast.walk(_module_tree(module))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    found: set[str] = set()
    seen: set[str] = set()
    pending = [function.__name__]
    while pending:
        name = pending.pop()
        if name in seen or name not in functions:
            continue
        seen.add(name)
        for node in ast.walk(functions[name]):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if (
                        isinstance(target, ast.Subscript)
                        and isinstance(target.value, ast.Attribute)
                        and target.value.attr == "headers"
                        and isinstance(target.slice, ast.Constant)
                        and isinstance(target.slice.value, str)
                    ):
                        found.add(target.slice.value)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                pending.append(node.func.id)
    return found


def _handlers() -> dict[str, Any]:
    """Every router's handlers by name (the operationId, app.main._operation_id)."""
    found: dict[str, Any] = {}
    for info in pkgutil.iter_modules(app.routers.__path__):
        module = importlib.import_module(f"app.routers.{info.name}")
        for value in vars(module).values():
            if isinstance(value, APIRouter):
                for route in value.routes:
                    if isinstance(route, APIRoute):
                        found[route.name] = route.endpoint
    return found


def _declared_success_headers(operation: dict[str, Any]) -> set[str]:
    return {
        name
        for status, response in operation["responses"].items()
        if status[0] in "23"
        for name in response.get("headers", {})
    }


def test_the_analysis_sees_headers_set_through_a_helper():
    # plans.get_plan sets its ETag through a module helper (_with_etag), not in its own body.
    from app.routers import plans

    assert _headers_set_by(plans.get_plan) == {"ETag"}
    assert _headers_set_by(plans.create_plan) == {"ETag", "Location"}


def test_every_response_header_an_operation_sets_is_declared(app):
    spec = app.openapi()
    handlers = _handlers()
    checked = 0
    for path, method, operation in operations(spec):
        sent = _headers_set_by(handlers[operation["operationId"]])
        missing = sent - _declared_success_headers(operation)
        assert not missing, f"{method} {path} sets {sorted(missing)} undeclared"
        checked += bool(sent)
    # Reads with ETags, creations with Locations, replays: dozens of operations set headers.
    assert checked >= 25


def test_resources_changed_with_if_match_are_read_with_an_etag(app):
    spec = app.openapi()
    conditional = 0
    for path, method, operation in operations(spec):
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
        assert "if-match" not in names, f"{method} {path}: spell it If-Match"
        if "If-Match" not in names:
            continue
        conditional += 1
        # The ETag to send comes from reading the resource, and the change answers the new one.
        resource = READ_AT.get(path, path.rsplit("/", 1)[0] if method == "post" else path)
        read = spec["paths"].get(resource, {}).get("get")
        assert read is not None and "ETag" in _declared_success_headers(read), (method, path)
        if method != "delete":
            assert "ETag" in _declared_success_headers(operation), (method, path)
        assert "412" in operation["responses"], (method, path)
    assert conditional >= 10


def test_operations_that_need_no_token_say_so_and_the_others_name_theirs(app):
    spec = app.openapi()
    public = set()
    for path, method, operation in operations(spec):
        assert "security" in operation, f"{method} {path} leaves its security unsaid"
        if operation["security"] == []:
            public.add((method, path))
        else:
            for requirement in operation["security"]:
                assert set(requirement) <= set(spec["components"]["securitySchemes"])
    assert public == PUBLIC


def test_the_contract_names_where_it_is_served(app):
    servers = app.openapi()["servers"]
    assert [s["url"] for s in servers] == ["/"]


def test_generic_and_clashing_schema_names_are_readable(app):
    names = set(app.openapi()["components"]["schemas"])
    unreadable = {n for n in names if re.search(r"Page_|Section_|app__|\[", n)}
    assert not unreadable
    assert {"AccountSummaryPage", "TeamReadPage", "CallbackReadSection"} <= names
    assert {"PortalPaymentInstructionsRead", "PaymentRailsPaymentInstructionsRead"} <= names


def test_readable_names():
    assert readable_name("Page_AccountRead_") == "AccountReadPage"
    assert readable_name("Section_PlanListItem_") == "PlanListItemSection"
    assert readable_name("app__schemas__skip_tracing__Line") == "SkipTracingLine"
    assert readable_name("Body_issue_staff_token") == "Body_issue_staff_token"
    assert readable_name("AccountRead") == "AccountRead"


def test_too_many_requests_says_when_to_come_back(app):
    spec = app.openapi()
    limited = [
        operation["responses"]["429"]
        for _, _, operation in operations(spec)
        if "429" in operation["responses"]
    ]
    assert limited
    for response in limited:
        assert response["headers"]["Retry-After"]["schema"]["type"] == "integer"
