"""The committed contract matches the app, and every operation is fully described."""

from __future__ import annotations

import json
from pathlib import Path

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
            assert {"401", "403"} <= errors, where
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in errors, where
        if operation.get("requestBody"):
            assert {"400", "413"} <= errors, where


def test_tags_are_described(app):
    spec = app.openapi()
    described = {tag["name"] for tag in spec["tags"]}
    used = {tag for _, _, op in operations(spec) for tag in op["tags"]}
    assert used <= described
