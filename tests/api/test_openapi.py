"""The committed contract matches the app, and every operation is fully described."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from app.domain.commissions import parse_month
from app.domain.errors import DomainError
from app.schemas.skip_tracing import Line
from app.schemas.targets import MONTH_PATTERN
from app.services.assignments import check_idempotency_key
from app.versioning import parse_if_match

CONTRACT = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
METHODS = {"get", "post", "put", "patch", "delete"}


def operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_committed_contract_has_not_drifted(app):
    committed = json.loads(CONTRACT.read_text(encoding="utf-8"))
    assert committed == app.openapi(), "openapi/openapi.json is stale: run `make openapi`"


async def test_served_contract_equals_the_committed_one(client):
    served = (await client.get("/openapi.json")).json()
    assert served == json.loads(CONTRACT.read_text(encoding="utf-8"))


def test_every_operation_has_an_id_a_tag_a_summary_and_documented_errors(app):
    spec = app.openapi()
    seen_ids = set()
    for path, method, operation in operations(spec):
        where = f"{method.upper()} {path}"
        assert operation.get("operationId"), where
        assert operation["operationId"] not in seen_ids, where
        seen_ids.add(operation["operationId"])
        assert operation.get("tags"), where
        assert operation.get("summary"), where
        errors = {code for code in operation["responses"] if code[0] in "45"}
        assert "500" in errors, where
        for code in errors:
            content = operation["responses"][code]["content"]
            assert list(content) == ["application/problem+json"], (where, code)
        if operation.get("security"):
            assert "401" in errors, where
            # Roles forbid (403); a debtor's portal session has no role, only its account.
            if not all("PortalSession" in scheme for scheme in operation["security"]):
                assert "403" in errors, where
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in errors, where
        if operation.get("requestBody"):
            assert {"400", "413"} <= errors, where


def test_tags_are_described(app):
    spec = app.openapi()
    described = {tag["name"] for tag in spec["tags"]}
    used = {tag for _, _, op in operations(spec) for tag in op["tags"]}
    assert used <= described


def parameter(spec, path, method, name):
    parameters = spec["paths"][path][method].get("parameters", [])
    found = [p for p in parameters if p["name"].lower() == name.lower()]
    assert len(found) == 1, (method, path, name)
    return found[0]


def accepted(check, value) -> bool:
    try:
        check(value)
    except DomainError:
        return False
    return True


HEADER_SAMPLES = ['"3"', 'W/"3"', "3", '"3', "*", ' "12" ', "null", "abc", 'W/ "3"',
                  '"1234567890"', '""', "", "x" * 200, "x" * 201, "a b", "é", "key-1"]  # fmt: skip


class TestRequiredHeaders:
    """Headers the API answers without (400, 428) are required in the contract, with the
    pattern the API checks them against."""

    @pytest.mark.parametrize(
        "path",
        [
            "/api/v1/payments",
            "/api/v1/partners/{partner_id}/assignments",
            "/api/v1/partners/{partner_id}/payment-files",
        ],
    )
    def test_idempotency_key_is_required_as_the_service_checks_it(self, app, path):
        header = parameter(app.openapi(), path, "post", "Idempotency-Key")
        assert header["required"] is True
        pattern = re.compile(header["schema"]["pattern"])
        for value in HEADER_SAMPLES:
            assert bool(pattern.search(value)) == accepted(check_idempotency_key, value), value

    def test_if_match_is_required_on_an_account_assignment_and_star_is_not_a_version(self, app):
        header = parameter(app.openapi(), "/api/v1/accounts/{account_id}", "patch", "If-Match")
        assert header["required"] is True
        pattern = re.compile(header["schema"]["pattern"])
        for value in HEADER_SAMPLES:
            reads = accepted(parse_if_match, value) and parse_if_match(value) is not None
            assert bool(pattern.search(value)) == reads, value

    def test_an_optional_if_match_states_what_it_reads_and_is_never_null(self, app):
        header = parameter(app.openapi(), "/api/v1/plans/{plan_id}/approve", "post", "If-Match")
        assert header["required"] is False
        assert header["schema"]["type"] == "string"
        pattern = re.compile(header["schema"]["pattern"])
        for value in HEADER_SAMPLES:
            assert bool(pattern.search(value)) == accepted(parse_if_match, value), value


@pytest.mark.parametrize(
    "month", ["0000-01", "1899-12", "1900-01", "2026-11", "9999-12", "2026-13", "2026-1", "26-11"]
)
def test_the_month_pattern_admits_the_months_the_api_reads(month):
    assert bool(re.search(MONTH_PATTERN, month)) == accepted(lambda v: parse_month(v, "m"), month)


@pytest.mark.parametrize("text", ["", " ", "\t \u3000", "\xa0", "a", " a "])
def test_not_blank_text_states_what_it_refuses(text):
    schema = TypeAdapter(Line).json_schema()
    try:
        TypeAdapter(Line).validate_python(text)
    except ValidationError:
        refused = True
    else:
        refused = False
    assert bool(re.search(schema["pattern"], text)) == (not refused), repr(text)
