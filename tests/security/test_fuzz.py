"""Bounded contract fuzzing in CI, and the committed contract against openapi-spec-validator.

`make fuzz` runs the full schemathesis CLI against a live server; this is the small version
for `make test`: every operation of the app, a few generated requests each, with a manager's
and a partner system's token, through schemathesis' ASGI transport (the app in-process).
The app gets a database of its own (migrated here, dropped after): generated requests commit,
and nothing of theirs may reach the other tests' data.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from app import migrations
from app.db import Database
from app.domain.roles import Role
from app.main import create_app
from app.models.partner import PartnerClient
from app.models.user import User
from app.services.auth import client_token
from tests.conftest import _TEST_PASSWORD_HASH, bearer_for
from tests.factories import make_account, make_partner

CONTRACT = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
EXAMPLES_PER_OPERATION = 8  # drawn from valid and from schema-violating inputs
# A bound for a stuck run, not a speed target: a quiet machine fuzzes every operation well
# within it; a loaded one must still reach the 90 operations asserted below.
TIME_CAP_SECONDS = 300.0
# No 5xx, no status the operation does not document, and every answer (body, media type,
# documented headers) as its contract says.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def test_committed_contract_is_a_valid_openapi_document():
    validate(json.loads(CONTRACT.read_text()))


def test_the_apps_contract_is_a_valid_openapi_document(app):
    validate(json.loads(json.dumps(app.openapi())))


async def _seed(url: str, settings) -> dict[str, dict[str, str]]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            manager = User(
                username=f"fuzz-{uuid.uuid4().hex[:8]}",
                full_name="Fuzz Manager",
                role=Role.MANAGER.value,
                skills=[],
                password_hash=_TEST_PASSWORD_HASH,
            )
            session.add(manager)
            partner = await make_partner(session)
            await make_account(session, partner, dpd=40)
            client = PartnerClient(partner_id=partner.id, client_id=f"fz-{uuid.uuid4().hex[:10]}",
                                   secret_hash="unused", name="fuzz")  # fmt: skip
            session.add(client)
            await session.commit()
            system = client_token(settings, client, datetime.now(UTC))
            return {
                "manager": bearer_for(settings, manager),
                "partner": {"Authorization": f"Bearer {system.access_token}"},
            }
    finally:
        await engine.dispose()


def _fuzz(operation, headers: dict[str, str], label: str, failures: list[str]) -> int:
    """Run the operation's generated cases; a failure is recorded, the run goes on."""
    sent = 0
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def fuzz(case):
        nonlocal sent
        sent += 1
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        fuzz()
    except Exception as exc:
        failures.append(f"{label}: {type(exc).__name__}: {exc}"[:3000])
    return sent


@pytest.fixture(scope="module")
def fuzz_database(database_server):
    url = database_server.create_database("cartera_fuzz")
    migrations.upgrade(url)
    try:
        yield url
    finally:
        database_server.drop_database(url)


def test_every_operation_answers_as_its_contract_says(fuzz_database, settings):
    """Positive and negative generated inputs; a 5xx, an undocumented status or an answer
    that breaks its schema fails, with the request to replay."""
    tokens = asyncio.run(_seed(fuzz_database, settings))
    # NullPool: each request opens its connection on the transport's own event loop.
    engine = create_async_engine(fuzz_database, poolclass=NullPool)
    app = create_app(settings, Database(engine, async_sessionmaker(engine, expire_on_commit=False)))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    deadline = time.monotonic() + TIME_CAP_SECONDS
    failures: list[str] = []
    examples = 0
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if time.monotonic() > deadline:
            break
        operations += 1
        headers = tokens["partner" if "/assignments" in operation.path else "manager"]
        label = f"{operation.method.upper()} {operation.path}"

        counted = _fuzz(operation, headers, label, failures)
        examples += counted
    asyncio.run(engine.dispose())
    print(f"fuzzed {operations} operations with {examples} generated requests")
    assert operations >= 90
    assert not failures, "\n\n".join(dict.fromkeys(failures))
