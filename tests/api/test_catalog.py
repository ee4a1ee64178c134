"""GET /catalog: the floor's codes with their labels and requirements, and the contract
states the same codes as enums (so a generated client has unions, not strings)."""

from __future__ import annotations

import pytest

from app.domain.catalog import EscalationOutcome
from app.domain.contact_check import REASON_CODES, RESULT_CODES
from app.domain.roles import Role
from app.problems import CATALOGUE

CATALOG = "/api/v1/catalog"


@pytest.fixture
async def catalog(client, make_user, auth_headers) -> dict:
    response = await client.get(CATALOG, headers=auth_headers(await make_user(Role.COLLECTOR)))
    assert response.status_code == 200, response.text
    assert "max-age" in response.headers["cache-control"]
    return response.json()


def by_code(entries: list[dict]) -> dict[str, dict]:
    return {entry["code"]: entry for entry in entries}


async def test_it_needs_a_signed_in_caller(client):
    response = await client.get(CATALOG)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


async def test_result_codes_say_what_a_form_must_ask(catalog):
    results = by_code(catalog["result_codes"])
    assert set(results) == RESULT_CODES
    assert sorted(results["RPC_PTP"]["requires"]) == ["debtor_reached", "pcr", "promise"]
    assert "callback_time" in results["RPC_CALLBACK"]["requires"]
    assert results["ADDRESS_VERIFIED"]["channels"] == ["visit"]
    assert results["ADDRESS_VERIFIED"]["requires"] == ["gps"]
    assert results["CEASE_REQUEST"]["raises_flag"] == "cease_contact"
    assert results["NO_ANSWER"] == {
        "code": "NO_ANSWER",
        "labels": {"en": "No answer", "es": "No contesta", "pt-BR": "Não atende"},
        "requires": [],
        "channels": ["call", "email", "letter", "sms", "visit", "whatsapp"],
        "conversation": False,
        "raises_flag": None,
        "invalidates_contact_point": False,
    }


async def test_every_list_is_labelled_in_three_languages(catalog):
    assert catalog["languages"] == ["en", "es", "pt-BR"]
    for name in (
        "result_codes",
        "problem_categories",
        "escalation_outcomes",
        "flag_kinds",
        "channels",
        "reason_codes",
    ):
        for entry in catalog[name]:
            assert set(entry["labels"]) == {"en", "es", "pt-BR"}, (name, entry)
            assert all(entry["labels"].values()), (name, entry)


async def test_outcomes_categories_channels_and_reasons(catalog):
    outcomes = by_code(catalog["escalation_outcomes"])
    assert outcomes["other"]["note_required"] is True
    assert outcomes["sent_to_legal"]["labels"]["es"] == "Turnado a cobranza judicial"
    categories = by_code(catalog["problem_categories"])
    assert categories["not_asked"]["countries"] == ["CO"]
    assert categories["unemployment"]["countries"] == []
    assert by_code(catalog["channels"])["visit"]["requires"] == ["gps"]
    assert set(by_code(catalog["reason_codes"])) == REASON_CODES
    problems = by_code(catalog["problem_codes"])
    assert set(problems) == set(CATALOGUE)
    assert problems["escalation_resolved"]["status"] == 409


async def test_the_contract_states_the_same_codes_as_enums(client):
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    create = schemas["InteractionCreate"]["properties"]
    assert set(create["result_code"]["enum"]) == RESULT_CODES
    category = schemas["PcrIn"]["properties"]["problem_category"]
    assert "not_asked" in category["anyOf"][0]["enum"]
    reason = schemas["ReasonRead"]["properties"]["code"]
    assert set(reason["enum"]) == REASON_CODES
    assert set(schemas["Problem"]["properties"]["code"]["enum"]) == set(CATALOGUE)
    outcome_ref = schemas["EscalationResolve"]["properties"]["outcome"]["$ref"]
    outcome = schemas[outcome_ref.rsplit("/", 1)[1]]
    assert set(outcome["enum"]) == {o.value for o in EscalationOutcome}
