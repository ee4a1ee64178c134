"""The authorisation matrix: every operation of the contract × every role, walked against the
app, and the object-level cases (what a caller may not see answers 404).

Each cell is one request against a seeded world (tests/security/_world.py) with a minimal,
mostly valid body (tests/security/_requests.py), inside a savepoint rolled back after it, so
every cell starts from the same data. Outcome classes:

    o  ok               2xx, or a 4xx other than 401/403/404 (409, 412, 422, 428 …): the
                        request passed the authorisation gate
    f  forbidden        403
    u  unauthenticated  401
    h  hidden           404: object-level denial (the caller may not see that object)

Columns: admin, manager, team lead, phone collector, field collector, auditor, partner system,
anonymous. The phone collector is assigned the account every path names; the field collector
works its own account (``{account_id}``) but sees none of the phone collector's objects (plan,
payment, document, interaction, debtor), hence its ``h`` cells. Both are in the lead's team.

The table states what the code does. Cells marked ``# REVIEW`` look questionable and are
listed in tests/reliability/README.md; change them here when the code changes.

A new operation without a row fails ``test_every_operation_has_a_row``.
"""

from __future__ import annotations

import pytest

from tests.security._matrix import MATRIX
from tests.security._requests import request_for
from tests.security._world import ROLES, build_world


def classify(status: int) -> str:
    return {401: "u", 403: "f", 404: "h"}.get(status, "o")


def operations(app) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_every_operation_has_a_row(app):
    ops = operations(app)
    missing = sorted(ops - MATRIX.keys())
    stale = sorted(MATRIX.keys() - ops)
    assert not missing, f"operations without a row in the authorisation matrix: {missing}"
    assert not stale, f"rows for operations the app no longer has: {stale}"
    for key, row in MATRIX.items():
        assert len(row.split()) == len(ROLES) and set(row.split()) <= {"o", "f", "u", "h"}, key


@pytest.fixture
async def world(client, session, settings, make_user, auth_headers):
    return await build_world(client, session, settings, make_user, auth_headers)


async def send(client, connection, **request):
    """One request inside a savepoint rolled back afterwards."""
    nested = await connection.begin_nested()
    try:
        return await client.request(**request)
    finally:
        await nested.rollback()


async def test_every_cell_of_the_matrix(client, app, connection, world):
    wrong: list[str] = []
    cells = 0
    for key in sorted(operations(app)):
        method, template = key.split(" ", 1)
        for role, expected in zip(ROLES, MATRIX[key].split(), strict=True):
            response = await send(client, connection, **request_for(method, template, world, role))
            cells += 1
            got = classify(response.status_code)
            if response.status_code >= 500 or got != expected:
                wrong.append(f"{key} as {role}: expected {expected}, got {response.status_code}")
    assert cells == len(MATRIX) * len(ROLES)
    assert not wrong, "\n".join(wrong)


UNASSIGNED = [
    ("GET", "/api/v1/accounts/{account_id}"),
    ("GET", "/api/v1/accounts/{account_id}/history"),
    ("GET", "/api/v1/accounts/{account_id}/ledger"),
    ("GET", "/api/v1/accounts/{account_id}/interactions"),
    ("GET", "/api/v1/accounts/{account_id}/plans"),
    ("GET", "/api/v1/accounts/{account_id}/payments"),
    ("GET", "/api/v1/accounts/{account_id}/credit-movements"),
    ("GET", "/api/v1/accounts/{account_id}/ledger"),
    ("GET", "/api/v1/accounts/{account_id}/documents"),
    ("POST", "/api/v1/accounts/{account_id}/contact-check"),
    ("POST", "/api/v1/accounts/{account_id}/plan-quotes"),
]
# (who, method, path template, account the path's {account_id} names): must answer 404.
OBJECT_CASES: list[tuple[str, str, str, str]] = [
    # A collector on an account nobody assigned to it.
    *(("phone", m, p, "unassigned_account_id") for m, p in UNASSIGNED),
    # A collector in no team on another collector's account and its objects.
    *(("outsider", m, p, "account_id") for m, p in UNASSIGNED),
    ("outsider", "GET", "/api/v1/debtors/{debtor_id}", "account_id"),
    ("outsider", "GET", "/api/v1/plans/{plan_id}", "account_id"),
    ("outsider", "GET", "/api/v1/payments/{payment_id}", "account_id"),
    ("outsider", "GET", "/api/v1/documents/{document_id}", "account_id"),
    ("outsider", "GET", "/api/v1/interactions/{interaction_id}", "account_id"),
    ("outsider", "GET", "/api/v1/credit-movements/{movement_id}", "account_id"),
    # Another partner's system on this partner's objects.
    *(
        ("other_partner", m, p, "account_id")
        for m, p in [
            ("GET", "/api/v1/accounts/{account_id}"),
            ("GET", "/api/v1/accounts/{account_id}/payments"),
            ("GET", "/api/v1/accounts/{account_id}/credit-movements"),
            ("GET", "/api/v1/accounts/{account_id}/ledger"),
            ("GET", "/api/v1/credit-movements/{movement_id}"),
            ("GET", "/api/v1/debtors/{debtor_id}"),
            ("GET", "/api/v1/assignments/{assignment_id}"),
            ("GET", "/api/v1/assignments/{assignment_id}/rejections"),
            ("GET", "/api/v1/assignments/{assignment_id}/rejections.csv"),
            ("GET", "/api/v1/payments/{payment_id}"),
            ("GET", "/api/v1/payment-files/{payment_file_id}"),
            ("GET", "/api/v1/payment-files/{payment_file_id}/lines"),
            ("GET", "/api/v1/payment-files/{payment_file_id}/report.csv"),
            ("GET", "/api/v1/spei-files/{spei_file_id}"),
            ("GET", "/api/v1/spei-files/{spei_file_id}/deposits"),
            ("GET", "/api/v1/spei-files/{spei_file_id}/unmatched"),
            ("GET", "/api/v1/accounts/{account_id}/payment-instructions"),
            ("GET", "/api/v1/accounts/{account_id}/payment-instructions/barcode.svg"),
            ("GET", "/api/v1/plans/{plan_id}"),
            ("GET", "/api/v1/plans/{plan_id}/agreement"),
            ("GET", "/api/v1/documents/{document_id}"),
            ("GET", "/api/v1/documents/{document_id}/content"),
            ("GET", "/api/v1/interactions/{interaction_id}"),
            ("GET", "/api/v1/partners/{partner_id}"),
            ("GET", "/api/v1/partners/{partner_id}/strategy"),
            ("GET", "/api/v1/partners/{partner_id}/commission-terms"),
            ("GET", "/api/v1/partners/{partner_id}/experiments"),
            ("POST", "/api/v1/partners/{partner_id}/experiments"),
            ("GET", "/api/v1/experiments/{experiment_id}"),
            ("POST", "/api/v1/experiments/{experiment_id}/stop"),
            ("POST", "/api/v1/experiments/{experiment_id}/promote"),
            ("GET", "/api/v1/reports/experiments/{experiment_id}"),
            ("POST", "/api/v1/partners/{partner_id}/assignments"),
            ("POST", "/api/v1/partners/{partner_id}/payment-files"),
            ("POST", "/api/v1/partners/{partner_id}/spei-files"),
            ("POST", "/api/v1/partners/{partner_id}/recalls"),
            ("GET", "/api/v1/partners/{partner_id}/assignments"),
            ("GET", "/api/v1/partners/{partner_id}/payment-files"),
            ("GET", "/api/v1/partners/{partner_id}/assignments/template.csv"),
            ("GET", "/api/v1/partners/{partner_id}/assignments/template.xlsx"),
            ("GET", "/api/v1/partners/{partner_id}/payment-files/template.csv"),
            ("GET", "/api/v1/partners/{partner_id}/spei-files/template.xlsx"),
            ("POST", "/api/v1/partners/{partner_id}/webhooks"),
            ("GET", "/api/v1/partners/{partner_id}/webhooks"),
            ("GET", "/api/v1/partners/{partner_id}/webhooks/{webhook_id}"),
            ("PATCH", "/api/v1/partners/{partner_id}/webhooks/{webhook_id}"),
            ("DELETE", "/api/v1/partners/{partner_id}/webhooks/{webhook_id}"),
            ("POST", "/api/v1/partners/{partner_id}/webhooks/{webhook_id}/secret-rotation"),
            ("GET", "/api/v1/partners/{partner_id}/webhooks/{webhook_id}/deliveries"),
            (
                "POST",
                "/api/v1/partners/{partner_id}/webhooks/{webhook_id}/deliveries/{delivery_id}"
                "/retry",
            ),
            ("POST", "/api/v1/accounts/{account_id}/documents"),
            ("POST", "/api/v1/payments"),
        ]
    ),
]


@pytest.mark.parametrize("who", ["phone", "outsider", "other_partner"])
async def test_object_level_denials_are_404(client, connection, world, who):
    world.headers["other_partner"] = world.other_partner_headers
    wrong = []
    for case_who, method, template, account in OBJECT_CASES:
        if case_who != who:
            continue
        ids = {**world.ids, "account_id": world.ids[account]}
        request = request_for(method, template, world, who)
        request["url"] = template.format(**ids)
        if isinstance(request.get("json"), dict) and "account_id" in request["json"]:
            request["json"] = {**request["json"], "account_id": ids["account_id"]}
        response = await send(client, connection, **request)
        if response.status_code != 404:
            wrong.append(f"{who} {method} {template} on {account}: {response.status_code}")
    assert not wrong, "\n".join(wrong)
