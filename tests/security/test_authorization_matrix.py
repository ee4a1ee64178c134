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

from tests.security._requests import request_for
from tests.security._world import ROLES, build_world

# fmt: off
MATRIX: dict[str, str] = {
    #                                                    adm mgr lead ph fld aud ptn anon
    "GET /healthz": "o o o o o o o o",
    "GET /readyz": "o o o o o o o o",
    # Prometheus metrics: the scraper's token (tests/api/test_health.py), admins and auditors.
    "GET /metrics": "o f f f f o f u",
    "POST /api/v1/auth/token": "u u u u u u u u",
    "POST /api/v1/auth/client-token": "u u u u u u u u",
    # Logout is by the session's refresh token, bearer or not; an unknown one is 204 too.
    "POST /api/v1/auth/logout": "o o o o o o o o",
    "GET /api/v1/users/me": "o o o o o o f u",
    "GET /api/v1/users": "o o o f f o f u",
    "POST /api/v1/users": "o f f f f f f u",
    "GET /api/v1/users/{user_id}": "o o o o h o f u",
    "PATCH /api/v1/users/{user_id}": "o f f f f f f u",
    "DELETE /api/v1/users/{user_id}": "o f f f f f f u",
    "GET /api/v1/teams": "o o o o o o f u",
    "POST /api/v1/teams": "o o f f f f f u",
    "GET /api/v1/teams/{team_id}": "o o o o o o f u",
    "PATCH /api/v1/teams/{team_id}": "o o f f f f f u",
    "GET /api/v1/partners": "o o f f f o o u",
    "POST /api/v1/partners": "o o f f f f f u",
    "GET /api/v1/partners/{partner_id}": "o o f f f o o u",
    "PATCH /api/v1/partners/{partner_id}": "o o f f f f f u",
    "GET /api/v1/partners/{partner_id}/clients": "o f f f f o f u",
    "POST /api/v1/partners/{partner_id}/clients": "o f f f f f f u",
    "DELETE /api/v1/partners/{partner_id}/clients/{client_id}": "o f f f f f f u",
    "POST /api/v1/partners/{partner_id}/clients/{client_id}/secret": "o f f f f f f u",
    "GET /api/v1/partners/{partner_id}/strategy": "o o o o o o o u",
    # The body is the empty object (422): the role gate is a dependency and runs first.
    "PUT /api/v1/partners/{partner_id}/strategy": "o o f f f f f u",
    "POST /api/v1/partners/{partner_id}/assignments": "o o f f f f o u",
    # A partner's file kit: whoever may push (templates; dry runs are the push with ?dry_run).
    "GET /api/v1/partners/{partner_id}/assignments/template.csv": "o o f f f f o u",
    "GET /api/v1/partners/{partner_id}/assignments/template.xlsx": "o o f f f f o u",
    "GET /api/v1/partners/{partner_id}/payment-files/template.csv": "o o f f f f o u",
    "GET /api/v1/partners/{partner_id}/payment-files/template.xlsx": "o o f f f f o u",
    "GET /api/v1/partners/{partner_id}/spei-files/template.csv": "o o f f f f o u",
    "GET /api/v1/partners/{partner_id}/spei-files/template.xlsx": "o o f f f f o u",
    "GET /api/v1/assignments/{assignment_id}": "o o f f f o o u",
    "GET /api/v1/partners/{partner_id}/assignments": "o o f f f o o u",
    "GET /api/v1/partners/{partner_id}/payment-files": "o o f f f o o u",
    # Webhook subscriptions: the partner's own system, or an admin.
    "POST /api/v1/partners/{partner_id}/webhooks": "o f f f f f o u",
    "GET /api/v1/partners/{partner_id}/webhooks": "o f f f f f o u",
    "GET /api/v1/partners/{partner_id}/webhooks/{webhook_id}": "o f f f f f o u",
    "PATCH /api/v1/partners/{partner_id}/webhooks/{webhook_id}": "o f f f f f o u",
    "DELETE /api/v1/partners/{partner_id}/webhooks/{webhook_id}": "o f f f f f o u",
    "POST /api/v1/partners/{partner_id}/webhooks/{webhook_id}/secret-rotation": "o f f f f f o u",
    "GET /api/v1/partners/{partner_id}/webhooks/{webhook_id}/deliveries": "o f f f f f o u",
    "POST /api/v1/partners/{partner_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry":
        "o f f f f f o u",
    "GET /api/v1/assignments/{assignment_id}/rejections": "o o f f f o o u",
    "GET /api/v1/assignments/{assignment_id}/rejections.csv": "o o f f f o o u",
    "POST /api/v1/partners/{partner_id}/recalls": "o o f f f f o u",
    "GET /api/v1/accounts": "o o o o o o o u",
    "GET /api/v1/accounts/{account_id}": "o o o o o o o u",
    "PATCH /api/v1/accounts/{account_id}": "o o o f f f f u",
    "GET /api/v1/accounts/{account_id}/history": "o o o o o o o u",
    "GET /api/v1/accounts/{account_id}/ledger": "o o o o o o o u",
    "POST /api/v1/accounts/{account_id}/pauses": "o o o f f f f u",
    "GET /api/v1/accounts/{account_id}/pauses": "o o o o o o o u",
    # As for recording one: admins, managers and leads (the paused account is in the lead's
    # team); collectors, auditors and partner systems never.
    "POST /api/v1/pauses/{pause_id}/end": "o o o f f f f u",
    "GET /api/v1/compliance/packs": "o o o o o o o u",
    # Leads see their teams' incidents, managers, admins and auditors all; leads and
    # managers resolve them (the world's incident is on the lead's team's account).
    "GET /api/v1/compliance/incidents": "o o o f f o f u",
    "POST /api/v1/compliance/incidents/{incident_id}/resolve": "o o o f f f f u",
    "POST /api/v1/accounts/{account_id}/contact-check": "o o o o o o f u",
    # Partner systems send consents and revocations from their own records (partner_file).
    "PUT /api/v1/accounts/{account_id}/consents/{channel}": "o o o o o f o u",
    "GET /api/v1/accounts/{account_id}/consents": "o o o o o o o u",
    # 422 (no contact point): the service checks the role before the body's content.
    "POST /api/v1/accounts/{account_id}/interactions": "o o o o o f f u",
    "GET /api/v1/accounts/{account_id}/interactions": "o o o o o o o u",
    "GET /api/v1/interactions/{interaction_id}": "o o o o h o o u",
    "POST /api/v1/interactions/{interaction_id}/feedback": "o o o f f f f u",
    "GET /api/v1/interactions/{interaction_id}/feedback": "o o o o h o f u",
    "GET /api/v1/accounts/{account_id}/promises": "o o o o o o o u",
    # Through the accounts the caller reads: own, the lead's teams', all; a partner its own.
    "GET /api/v1/callbacks": "o o o o o o o u",
    # Phone staff look numbers up and keep unidentified calls; leads, managers, admins and
    # auditors read those.
    "GET /api/v1/inbound/lookup": "o o o o o f f u",
    "POST /api/v1/inbound/unidentified": "o o o o o f f u",
    "GET /api/v1/inbound/unidentified": "o o o f f o f u",
    "POST /api/v1/escalations": "o o o o h f f u",
    "GET /api/v1/escalations": "o o o o o o f u",
    "GET /api/v1/interactions": "o o o o o o o u",
    "GET /api/v1/promises": "o o o o o o o u",
    "GET /api/v1/payments": "o o o o o o o u",
    "POST /api/v1/escalations/{escalation_id}/take": "o o o f f f f u",
    "POST /api/v1/escalations/{escalation_id}/resolve": "o o o f f f f u",
    "GET /api/v1/escalations/{escalation_id}": "o o o o h o f u",
    # The world's escalation was opened by the phone collector on their own account.
    "POST /api/v1/escalations/{escalation_id}/notes": "o o o o h f f u",
    "GET /api/v1/catalog": "o o o o o o o u",
    "GET /api/v1/me/day": "f f f o o f f u",
    "GET /api/v1/me/team-day": "o o o f f f f u",
    "POST /api/v1/accounts/{account_id}/plan-quotes": "o o o o o f f u",
    "POST /api/v1/accounts/{account_id}/plans": "o o o o o f f u",
    "GET /api/v1/accounts/{account_id}/plans": "o o o o o o o u",
    # Cross-account lists: every reader, each limited to the accounts it may see.
    "GET /api/v1/plans": "o o o o o o o u",
    "GET /api/v1/plans/{plan_id}": "o o o o h o o u",
    "POST /api/v1/plans/{plan_id}/approve": "o o o f h f f u",
    "POST /api/v1/plans/{plan_id}/reject": "o o o f h f f u",
    "POST /api/v1/plans/{plan_id}/cancel": "o o o f h f f u",
    "GET /api/v1/plans/{plan_id}/agreement": "o o o o h o o u",
    # The debtor portal: links by those who work the account and its partner; the portal's
    # own operations take a portal session only (every staff or partner token is 401).
    "POST /api/v1/accounts/{account_id}/portal-links": "o o o o o f o u",
    "POST /portal/v1/sessions": "u u u u u u u u",
    "GET /portal/v1/debt": "u u u u u u u u",
    "GET /portal/v1/offers": "u u u u u u u u",
    "POST /portal/v1/plans": "u u u u u u u u",
    "GET /portal/v1/plans/{plan_id}/agreement": "u u u u u u u u",
    "POST /portal/v1/promises": "u u u u u u u u",
    "GET /portal/v1/payment-instructions": "u u u u u u u u",
    "GET /portal/v1/payment-instructions/barcode.svg": "u u u u u u u u",
    "PUT /portal/v1/contact-preference": "u u u u u u u u",
    # The body names the phone collector's account: the field collector gets 404.
    "POST /api/v1/payments": "o o o o h f o u",
    "GET /api/v1/payments/{payment_id}": "o o o o h o o u",
    "POST /api/v1/payments/{payment_id}/reversal": "o o f f f f f u",
    "POST /api/v1/partners/{partner_id}/payment-files": "o o f f f f o u",
    "GET /api/v1/payment-files/{payment_file_id}": "o o f f f o o u",
    "GET /api/v1/payment-files/{payment_file_id}/lines": "o o f f f o o u",
    "GET /api/v1/payment-files/{payment_file_id}/report.csv": "o o f f f o o u",
    # Managers and team leads (on accounts they see); not admins, as the brief of the
    # operation says.
    "POST /api/v1/payment-files/{payment_file_id}/lines/{row_number}/apply": "f o o f f f f u",
    "POST /api/v1/partners/{partner_id}/spei-files": "o o f f f f o u",
    "GET /api/v1/spei-files/{spei_file_id}": "o o f f f o o u",
    "GET /api/v1/spei-files/{spei_file_id}/deposits": "o o f f f o o u",
    "GET /api/v1/spei-files/{spei_file_id}/unmatched": "o o f f f o o u",
    "POST /api/v1/spei-files/{spei_file_id}/deposits/{row_number}/apply": "o o o o h f o u",
    "GET /api/v1/accounts/{account_id}/payment-instructions": "o o o o o o o u",
    "GET /api/v1/accounts/{account_id}/payment-instructions/barcode.svg": "o o o o o o o u",
    # The world's account holds no credit (409) and the transfer's target is another debtor's
    # (422): the cells show the gates.
    "POST /api/v1/accounts/{account_id}/credit-refunds": "o o o f f f f u",
    "POST /api/v1/accounts/{account_id}/credit-transfers": "o o o f f f f u",
    "GET /api/v1/accounts/{account_id}/credit-movements": "o o o o o o o u",
    "GET /api/v1/credit-movements/{movement_id}": "o o o o h o o u",
    # The lead asked for it: managers and admins decide (approval: 409, no credit left).
    "POST /api/v1/credit-movements/{movement_id}/approve": "o o f f f f f u",
    "POST /api/v1/credit-movements/{movement_id}/reject": "o o f f f f f u",
    "POST /api/v1/accounts/{account_id}/documents": "o o o o o f o u",
    "GET /api/v1/accounts/{account_id}/documents": "o o o o o o o u",
    "GET /api/v1/documents": "o o o o o o o u",
    "GET /api/v1/documents/{document_id}": "o o o o h o o u",
    "GET /api/v1/documents/{document_id}/content": "o o o o h o o u",
    "GET /api/v1/documents/{document_id}/download": "o o o o h o o u",
    "POST /api/v1/documents/{document_id}/custody": "o o o o h f f u",
    "GET /api/v1/debtors/{debtor_id}": "o o o o h o o u",
    # Admin and auditor may not unmask personal data (REVEALERS: collector, lead, manager).
    "POST /api/v1/debtors/{debtor_id}/reveal": "f o o o h f f u",
    "GET /api/v1/debtors/{debtor_id}/access-log": "f o f f f o f u",
    "GET /api/v1/debtors/{debtor_id}/export": "f o f f f f f u",
    "POST /api/v1/debtors/{debtor_id}/flags": "o o o f f f f u",
    "POST /api/v1/debtors/{debtor_id}/flags/{flag_id}/clear": "o o f f f f f u",
    "POST /api/v1/debtors/{debtor_id}/contact-points": "o o o o h f f u",
    "POST /api/v1/debtors/{debtor_id}/references": "o o o o h f f u",
    "GET /api/v1/kyc/search": "o o o o o o o u",
    "POST /api/v1/allocation/rules": "o o f f f f f u",
    "GET /api/v1/allocation/rules": "o o o f f o f u",
    "GET /api/v1/allocation/rules/{rule_id}": "o o o f f o f u",
    "PUT /api/v1/allocation/rules/{rule_id}": "o o f f f f f u",
    "DELETE /api/v1/allocation/rules/{rule_id}": "o o f f f f f u",
    "POST /api/v1/allocation/run": "o o f f f f f u",
    "GET /api/v1/worklists/me": "f f f o o f f u",
    "POST /api/v1/worklists/me/next": "f f f o o f f u",
    "GET /api/v1/routes/me": "f f f f o f f u",
    "GET /api/v1/routes/profiles/{user_id}": "o o o h o o f u",
    "PUT /api/v1/routes/profiles/{user_id}": "o o o f f f f u",
    "GET /api/v1/reports/aging": "o o o o o o o u",
    "GET /api/v1/reports/roll-rates": "o o o o o o o u",
    "GET /api/v1/reports/recovery": "o o o o o o o u",
    "GET /api/v1/reports/agents": "o o o o o o o u",
    "PUT /api/v1/targets": "o o f f f f f u",
    "GET /api/v1/targets": "o o o o o o o u",
    # REVIEW: every staff role, collectors included, reads a partner's commission terms
    # (documented: "Staff read any partner's terms").
    "GET /api/v1/partners/{partner_id}/commission-terms": "o o o o o o o u",
    "PUT /api/v1/partners/{partner_id}/commission-terms": "o o f f f f f u",
    "GET /api/v1/reports/commissions": "o o o o o o o u",
    "GET /api/v1/audit": "o f f f f o f u",
    # Experiments: read as the strategy; run by who sets it and by a partner for its own.
    "POST /api/v1/partners/{partner_id}/experiments": "o o f f f f o u",
    "GET /api/v1/partners/{partner_id}/experiments": "o o o o o o o u",
    "GET /api/v1/experiments/{experiment_id}": "o o o o o o o u",
    "POST /api/v1/experiments/{experiment_id}/stop": "o o f f f f o u",
    "POST /api/v1/experiments/{experiment_id}/promote": "o o f f f f o u",
    "GET /api/v1/reports/experiments/{experiment_id}": "o o f f f o o u",
    "GET /api/v1/accounts/{account_id}/payments": "o o o o o o o u",
}
# fmt: on


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
