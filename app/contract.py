"""What the OpenAPI document says beyond what FastAPI infers: the response headers an
operation sends, which operations need no credentials, and where the API is served.

Routers declare the headers they set with ``response_headers``; ``finish`` runs once over the
generated document (see ``app.main.create_app``)."""

from __future__ import annotations

import re
from typing import Any

ETAG = "ETag"
LOCATION = "Location"
IDEMPOTENT_REPLAYED = "Idempotent-Replayed"
RETRY_AFTER = "Retry-After"
CACHE_CONTROL = "Cache-Control"

_HEADERS: dict[str, dict[str, Any]] = {
    ETAG: {
        "description": 'The version of the resource answered, in quotes (`"3"`); send it back '
        "as If-Match to change it.",
        "schema": {"type": "string", "pattern": '^"[0-9]{1,9}"$'},
    },
    LOCATION: {
        "description": "The path of the resource this request created.",
        "schema": {"type": "string"},
    },
    IDEMPOTENT_REPLAYED: {
        "description": "`true` when this is the answer first given to the same "
        "Idempotency-Key: nothing new was written. Absent otherwise.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    RETRY_AFTER: {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    },
    CACHE_CONTROL: {
        "description": "How long a client may keep the answer.",
        "schema": {"type": "string"},
    },
}

# Where the API answers: the paths carry their own prefix (/api/v1, /portal/v1), so the
# server is the host that served this document.
SERVERS = [
    {
        "url": "/",
        "description": "The host serving this document; every path carries its API's prefix.",
    }
]


def response_headers(*statuses: int, headers: tuple[str, ...]) -> dict[int | str, Any]:
    """``responses=`` entries declaring the headers an operation sets on these statuses.

    Merge with ``problem_responses`` (``|``); the entry for the operation's own status code
    joins the response FastAPI documents for it."""
    return {status: {"headers": header_objects(*headers)} for status in statuses}


def header_objects(*names: str) -> dict[str, Any]:
    """The ``headers`` of one response object, for responses documented by hand."""
    return {name: _declared(name) for name in names}


# Sent on every answer of the status they are declared for; Idempotent-Replayed only on a replay.
_ALWAYS = {ETAG, LOCATION, CACHE_CONTROL, RETRY_AFTER}


def _declared(name: str) -> dict[str, Any]:
    return {**_HEADERS[name], "required": name in _ALWAYS}


# FastAPI names a generic model's schema `Page_AccountRead_`, and two models of one name from
# different modules `app__schemas__portal__PaymentInstructionsRead`; client generators turn
# those into type names, so the contract says `AccountReadPage` and
# `PortalPaymentInstructionsRead` instead.
_GENERIC = re.compile(r"^(?P<kind>[A-Z][A-Za-z0-9]*)_(?P<args>[A-Za-z0-9_]+)_$")
_QUALIFIED = re.compile(r"^app__schemas__(?P<module>[a-z0-9_]+)__(?P<name>[A-Za-z0-9]+)$")


def readable_name(name: str) -> str:
    """The contract's name for a schema FastAPI named ``name``."""
    if match := _QUALIFIED.match(name):
        module = "".join(part.capitalize() for part in match["module"].split("_"))
        return module + match["name"]
    if (match := _GENERIC.match(name)) and not name.startswith("Body_"):
        return match["args"].replace("_", "") + match["kind"]
    return name


def _rename_schemas(schema: dict[str, Any]) -> None:
    components = schema.get("components", {}).get("schemas", {})
    renames = {old: readable_name(old) for old in components if readable_name(old) != old}
    taken = set(components) - set(renames)
    clashes = sorted(new for new in renames.values() if new in taken)
    if clashes or len(set(renames.values())) != len(renames):
        raise RuntimeError(f"readable schema names clash: {clashes or renames}")
    schema["components"]["schemas"] = {renames.get(k, k): v for k, v in components.items()}
    refs = {
        f"#/components/schemas/{old}": f"#/components/schemas/{new}" for old, new in renames.items()
    }

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref in refs:
                node["$ref"] = refs[ref]
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)


def finish(schema: dict[str, Any]) -> dict[str, Any]:
    """Readable schema names, servers, ``security: []`` on operations no credential guards
    (FastAPI leaves them silent, which reads as "the document's default"), and Retry-After
    on every 429 (lockouts and rate limits send it, app.main._domain_error)."""
    _rename_schemas(schema)
    schema["servers"] = [dict(server) for server in SERVERS]
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            operation.setdefault("security", [])
            too_many = operation.get("responses", {}).get("429")
            if too_many is not None:
                too_many.setdefault("headers", {})[RETRY_AFTER] = _declared(RETRY_AFTER)
    return schema
