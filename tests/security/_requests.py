"""The request each matrix cell sends: path parameters filled from the seeded world and a
minimal body, valid where that is cheap (so a role refused inside the service is not hidden
behind a 422), else an empty JSON object."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain.strategies import DEFAULT
from app.services.strategies import document_to_json
from tests.factories import business_today
from tests.helpers.commissions import TERMS_BODY
from tests.helpers.partners import company_rfc
from tests.security._world import PDF, PORTFOLIO_CSV, World

TODAY = business_today()
NEXT_WEEK = (TODAY + timedelta(days=7)).isoformat()
MONTH = TODAY.strftime("%Y-%m")
PERIOD = {"from": (TODAY - timedelta(days=30)).isoformat(), "to": TODAY.isoformat()}


def _plan_terms() -> dict[str, Any]:
    return {
        "plan_type": "settlement",
        "installments": 1,
        "frequency": "monthly",
        "first_due_date": NEXT_WEEK,
        "discount_pct": "10",
    }


_CSV = {"Content-Type": "text/csv"}


def _rule(world: World) -> dict[str, Any]:
    return {
        "name": "Rule",
        "priority": 20,
        "stages": ["late"],
        "skill": "phone",
        "capacity": 5,
        "team_id": world.ids["team_id"],
    }


# "METHOD /path" -> world -> keyword arguments of httpx's request (json, content, params…).
Build = Callable[[World], dict[str, Any]]
REQUESTS: dict[str, Build] = {
    "POST /api/v1/auth/token": lambda w: {
        "data": {"username": w.users["auditor"].username, "password": "wrong-password"}
    },
    "POST /api/v1/auth/logout": lambda w: {"data": {"refresh_token": "not-a-session"}},
    "POST /api/v1/auth/client-token": lambda w: {
        "data": {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"}
    },
    "POST /api/v1/users": lambda w: {
        "json": {
            "username": f"u{uuid.uuid4().hex[:8]}",
            "full_name": "Nueva Persona",
            "role": "collector",
            "skills": ["phone"],
            "password": "una-clave-larga-123",
        }
    },
    "PATCH /api/v1/users/{user_id}": lambda w: {"json": {"full_name": "Otro Nombre"}},
    "POST /api/v1/teams": lambda w: {"json": {"name": f"Equipo {uuid.uuid4().hex[:6]}"}},
    "PATCH /api/v1/teams/{team_id}": lambda w: {"json": {"name": f"Equipo {uuid.uuid4().hex[:6]}"}},
    "POST /api/v1/partners": lambda w: {
        "json": {"legal_name": "Nueva Financiera", "tax_id": company_rfc(), "country": "MX"}
    },
    "PATCH /api/v1/partners/{partner_id}": lambda w: {"json": {"contact_name": "Luis"}},
    "POST /api/v1/partners/{partner_id}/clients": lambda w: {"json": {"name": "erp"}},
    "POST /api/v1/partners/{partner_id}/webhooks": lambda w: {
        "json": {"url": "https://93.184.216.34/hook", "event_types": ["payment.recorded"]}
    },
    "PATCH /api/v1/partners/{partner_id}/webhooks/{webhook_id}": lambda w: {
        "json": {"enabled": False}
    },
    "POST /api/v1/partners/{partner_id}/assignments": lambda w: {
        "content": PORTFOLIO_CSV,
        "headers": _CSV,
    },
    "POST /api/v1/partners/{partner_id}/recalls": lambda w: {
        "json": {"external_refs": ["NOT-THERE"], "reason": "paid at branch"}
    },
    "PATCH /api/v1/accounts/{account_id}": lambda w: {
        "json": {"assigned_collector_id": w.ids["user_id"]}
    },
    "POST /api/v1/accounts/{account_id}/pauses": lambda w: {
        "json": {"reason": "dispute", "starts_on": TODAY.isoformat(), "ends_on": NEXT_WEEK}
    },
    "POST /api/v1/accounts/{account_id}/contact-check": lambda w: {
        "json": {"channel": "call", "party": "debtor"}
    },
    # A revocation needs no evidence: every recorder passes the gate with it.
    "PUT /api/v1/accounts/{account_id}/consents/{channel}": lambda w: {
        "json": {"status": "opted_out"}
    },
    "POST /api/v1/compliance/incidents/{incident_id}/resolve": lambda w: {
        "json": {"note": "Reviewed the call with the collector; retrained on local hours."}
    },
    "POST /api/v1/accounts/{account_id}/interactions": lambda w: {
        "json": {
            "channel": "call",
            "party": "none",
            "result_code": "NO_ANSWER",
            "started_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        }
    },
    "POST /api/v1/interactions/{interaction_id}/feedback": lambda w: {
        "json": {"note": "Ask for the reason first"}
    },
    "POST /api/v1/escalations": lambda w: {
        "json": {"account_id": w.ids["account_id"], "reason": "Needs a supervisor"}
    },
    "POST /api/v1/escalations/{escalation_id}/resolve": lambda w: {
        "json": {"outcome": "no_action", "note": "Called back"}
    },
    "POST /api/v1/escalations/{escalation_id}/notes": lambda w: {
        "json": {"note": "The debtor called back with a new number"}
    },
    "POST /api/v1/accounts/{account_id}/plan-quotes": lambda w: {"json": _plan_terms()},
    "POST /api/v1/accounts/{account_id}/plans": lambda w: {"json": _plan_terms()},
    "POST /portal/v1/sessions": lambda w: {
        "json": {"token": "not.a.link", "birth_date": "1985-04-30"}
    },
    "POST /portal/v1/plans": lambda w: {"json": _plan_terms()},
    "POST /portal/v1/promises": lambda w: {"json": {"amount": "100.00", "due_date": NEXT_WEEK}},
    "PUT /portal/v1/contact-preference": lambda w: {"json": {"channel": "sms"}},
    "POST /api/v1/plans/{plan_id}/approve": lambda w: {"json": {"note": "ok"}},
    "POST /api/v1/plans/{plan_id}/reject": lambda w: {"json": {"note": "no"}},
    "POST /api/v1/plans/{plan_id}/cancel": lambda w: {"json": {"note": "debtor asked"}},
    "POST /api/v1/payments": lambda w: {
        "json": {
            "account_id": w.ids["account_id"],
            "amount": "10.00",
            "currency": w.ids["currency"],
            "paid_on": TODAY.isoformat(),
            "channel": "spei",
        }
    },
    "POST /api/v1/payments/{payment_id}/reversal": lambda w: {"json": {"reason": "Bounced"}},
    "POST /api/v1/payment-files/{payment_file_id}/lines/{row_number}/apply": lambda w: {
        "json": {"account_id": w.ids["account_id"], "note": "Found by phone"}
    },
    "POST /api/v1/spei-files/{spei_file_id}/deposits/{row_number}/apply": lambda w: {
        "json": {"account_id": w.ids["account_id"], "note": "Found by phone"}
    },
    # The world's account holds no credit: past the role and visibility gates, a 409.
    "POST /api/v1/accounts/{account_id}/credit-refunds": lambda w: {
        "json": {"amount": "10.00", "reason": "Paid twice"}
    },
    # Another debtor's account (the field collector's, in the lead's team): a 422.
    "POST /api/v1/accounts/{account_id}/credit-transfers": lambda w: {
        "json": {
            "amount": "10.00",
            "target_account_id": w.ids["field_account_id"],
            "reason": "Same debtor",
        }
    },
    "POST /api/v1/credit-movements/{movement_id}/approve": lambda w: {"json": {"note": "ok"}},
    "POST /api/v1/credit-movements/{movement_id}/reject": lambda w: {"json": {"note": "no"}},
    "POST /api/v1/partners/{partner_id}/payment-files": lambda w: {
        "content": b"external_ref,payment_reference,amount,paid_on,channel,payer_reference\n",
        "headers": _CSV,
    },
    "POST /api/v1/accounts/{account_id}/documents": lambda w: {
        "params": {"kind": "signed_agreement"},
        "content": PDF,
        "headers": {"Content-Type": "application/pdf"},
    },
    "POST /api/v1/documents/{document_id}/custody": lambda w: {
        "json": {"status": "with_collector", "on": TODAY.isoformat(), "by": "Luis Méndez"}
    },
    "POST /api/v1/debtors/{debtor_id}/reveal": lambda w: {
        "json": {"fields": ["national_id"], "reason": "Debtor asked to confirm"}
    },
    "GET /api/v1/debtors/{debtor_id}/export": lambda w: {
        "params": {"reason": "Access request of the debtor"}
    },
    "POST /api/v1/debtors/{debtor_id}/flags": lambda w: {
        "json": {"kind": "attorney", "account_id": w.ids["account_id"], "reason": "Has a lawyer"}
    },
    "POST /api/v1/debtors/{debtor_id}/flags/{flag_id}/clear": lambda w: {
        "json": {"reason": "Resolved"}
    },
    "POST /api/v1/debtors/{debtor_id}/contact-points": lambda w: {
        "json": {
            "account_id": w.ids["account_id"],
            "kind": "phone",
            "value": "+525512340000",
            "source": "skip_trace",
        }
    },
    "POST /api/v1/debtors/{debtor_id}/references": lambda w: {
        "json": {
            "account_id": w.ids["account_id"],
            "full_name": "Ana Pérez",
            "relationship": "family",
            "phones": ["+525512340001"],
            "source": "debtor",
        }
    },
    "GET /api/v1/kyc/search": lambda w: {"params": {"name": "Pérez"}},
    "GET /api/v1/inbound/lookup": lambda w: {"params": {"phone": "+525512340000"}},
    "POST /api/v1/inbound/unidentified": lambda w: {
        "json": {
            "phone": "+525512340099",
            "started_at": (datetime.now(UTC) - timedelta(minutes=10)).isoformat(),
            "notes": "Hung up before giving a name",
        }
    },
    "POST /api/v1/allocation/rules": lambda w: {"json": _rule(w)},
    "PUT /api/v1/allocation/rules/{rule_id}": lambda w: {"json": _rule(w)},
    "POST /api/v1/allocation/run": lambda w: {"params": {"dry_run": "true"}},
    "GET /api/v1/routes/me": lambda w: {"params": {"date": TODAY.isoformat()}},
    "PUT /api/v1/routes/profiles/{user_id}": lambda w: {"json": {"daily_capacity": 9}},
    "GET /api/v1/reports/roll-rates": lambda w: {"params": PERIOD},
    "GET /api/v1/reports/recovery": lambda w: {"params": PERIOD},
    "GET /api/v1/reports/agents": lambda w: {"params": PERIOD},
    "PUT /api/v1/targets": lambda w: {
        "json": {
            "month": MONTH,
            "scope": "partner",
            "scope_id": w.ids["partner_id"],
            "amount": "1000.00",
        }
    },
    "GET /api/v1/targets": lambda w: {"params": {"month": MONTH}},
    "PUT /api/v1/partners/{partner_id}/commission-terms": lambda w: {"json": TERMS_BODY},
    "POST /api/v1/partners/{partner_id}/experiments": lambda w: {
        "json": {
            "name": "cell",
            "stage": "late",
            "champion_share": "90",
            "challengers": [
                {
                    "name": "late",
                    "share": "10",
                    "document": document_to_json(DEFAULT)["stages"]["late"],
                }
            ],
        }
    },
    "POST /api/v1/experiments/{experiment_id}/promote": lambda w: {
        "json": {"arm_id": w.ids["experiment_arm_id"]}
    },
    "GET /api/v1/reports/commissions": lambda w: {"params": {"period": MONTH}},
}


def _stage_entry(stage: str) -> dict[str, Any]:
    return document_to_json(DEFAULT)["stages"][stage]


_PARAM = re.compile(r"\{([^}]+)\}")


def fill_path(template: str, world: World, role: str) -> str:
    """The template with the world's ids; a field collector works its own account and the
    field profile is the field collector's."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "account_id" and role == "field":
            return world.ids["field_account_id"]
        if name == "user_id" and template.startswith("/api/v1/routes/profiles/"):
            return world.ids["field_user_id"]
        return world.ids[name]

    return _PARAM.sub(value, template)


def request_for(method: str, template: str, world: World, role: str) -> dict[str, Any]:
    """Keyword arguments of ``client.request`` for one cell."""
    key = f"{method} {template}"
    extra = REQUESTS[key](world) if key in REQUESTS else {}
    if method in {"POST", "PUT", "PATCH"} and not extra:
        extra = {"json": {}}
    headers = {**world.headers[role], **extra.pop("headers", {})}
    if method in {"POST", "PUT"}:
        headers.setdefault("Idempotency-Key", uuid.uuid4().hex)
    return {
        "method": method,
        "url": fill_path(template, world, role),
        "headers": headers,
        **extra,
    }
