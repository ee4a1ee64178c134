"""The debtor profile (masked, per-partner), reveals with their permission matrix and access
log, the data-subject export, and a walk over every GET operation looking for unmasked
personal data."""

from __future__ import annotations

import re
import uuid
from datetime import date

import pytest
from sqlmodel import col, func, select

from app.domain.roles import Role
from app.models.audit import AuditEvent
from app.models.debtor import ContactConsent, ContactPoint, DebtorFlag, RelatedParty
from app.models.debtor_access import DebtorAccess
from app.models.user import Team, TeamMember
from tests.factories import assert_problem, make_account, make_debtor, make_partner, partner_bearer

CURP = "LOGA800101MDFPRR05"
GUARANTOR_RFC = "GAPM750505AB1"
PHONE_A = "+525512345678"
EMAIL_A = "maria.lopez@example.com"
PHONE_B = "+525599990000"
SECRETS = (CURP, GUARANTOR_RFC, PHONE_A, "5512345678", EMAIL_A, PHONE_B, "5599990000")


@pytest.fixture
async def case(session, settings, make_user, auth_headers):
    """One debtor owing partner A (account assigned to a collector of the lead's team, with a
    phone, an email, a guarantor, a consent and a flag) and partner B (a phone)."""
    partner_a = await make_partner(session)
    partner_b = await make_partner(session)
    debtor = await make_debtor(session, national_id=CURP)
    collector = await make_user(Role.COLLECTOR)
    stranger = await make_user(Role.COLLECTOR)
    lead = await make_user(Role.TEAM_LEAD)
    team = Team(name=f"Equipo {uuid.uuid4().hex[:6]}", lead_id=lead.id)
    session.add(team)
    await session.flush()
    session.add(TeamMember(team_id=team.id, user_id=collector.id))
    at_a = await make_account(
        session, partner_a, debtor, dpd=45, assigned_collector_id=collector.id,
        debtor_birth_date=date(1980, 1, 1),
    )  # fmt: skip
    at_b = await make_account(session, partner_b, debtor, dpd=100)
    guarantor = RelatedParty(
        partner_id=partner_a.id, account_id=at_a.id, kind="guarantor",
        full_name="Pedro Gómez", national_id_type="RFC", national_id=GUARANTOR_RFC,
    )  # fmt: skip
    session.add(guarantor)
    await session.flush()
    for account, kind, value in (
        (at_a, "phone", PHONE_A), (at_a, "email", EMAIL_A), (at_b, "phone", PHONE_B),
    ):  # fmt: skip
        session.add(
            ContactPoint(
                partner_id=account.partner_id,
                account_id=account.id,
                debtor_id=debtor.id,
                kind=kind,
                value=value,
                time_zone="America/Mexico_City",
            )
        )
    session.add(
        ContactConsent(
            debtor_id=debtor.id,
            partner_id=partner_a.id,
            channel="sms",
            status="opted_out",
            source="debtor_request",
            recorded_by="test",
        )
    )
    session.add(
        DebtorFlag(
            debtor_id=debtor.id,
            kind="dispute",
            account_id=at_a.id,
            partner_id=partner_a.id,
            set_by="t",
        )
    )
    system_b = await partner_bearer(session, settings, partner_b)
    await session.commit()
    return {
        "debtor": debtor,
        "at_a": at_a,
        "at_b": at_b,
        "collector": auth_headers(collector),
        "stranger": auth_headers(stranger),
        "lead": auth_headers(lead),
        "manager": auth_headers(await make_user(Role.MANAGER)),
        "admin": auth_headers(await make_user(Role.ADMIN)),
        "auditor": auth_headers(await make_user(Role.AUDITOR)),
        "partner_b": system_b,
    }


# Stands for the case's account at partner A in parametrised bodies.
A = "account-at-a"


def url(case, suffix: str = "") -> str:
    return f"/api/v1/debtors/{case['debtor'].id}{suffix}"


async def reveal(client, case, who: str, fields=("national_id", "contact_points"), reason=None):
    return await client.post(
        url(case, "/reveal"),
        json={"fields": list(fields), "reason": reason or "Debtor asked to confirm his data"},
        headers=case[who],
    )


def assert_masked(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret


class TestProfile:
    async def test_the_collector_sees_their_accounts_data_masked(self, client, case):
        response = await client.get(url(case), headers=case["collector"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert_masked(response.text)
        assert body["national_id_masked"] == "****RR05"
        assert [a["id"] for a in body["accounts"]] == [str(case["at_a"].id)]
        assert body["accounts"][0]["birth_date_masked"] == "1980-**-**"
        points = {p["kind"]: p for p in body["contact_points"]}
        assert set(points) == {"phone", "email"}
        assert points["phone"]["value_masked"] == "****5678"
        assert points["email"]["value_masked"] == "m***@example.com"
        assert points["phone"]["consent"] == {"sms": "opted_out"}
        assert points["phone"]["verification_status"] == "unverified"
        assert points["phone"]["time_zone"] == "America/Mexico_City"
        [guarantor] = body["related_parties"]
        assert (guarantor["kind"], guarantor["national_id_masked"]) == ("guarantor", "****5AB1")
        assert [f["kind"] for f in body["flags"]] == ["dispute"]

    async def test_a_partner_sees_only_what_it_sent(self, client, case):
        response = await client.get(url(case), headers=case["partner_b"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert [a["id"] for a in body["accounts"]] == [str(case["at_b"].id)]
        assert [p["value_masked"] for p in body["contact_points"]] == ["****0000"]
        assert body["related_parties"] == [] and body["flags"] == []
        assert body["consents"] == []

    async def test_a_debtor_without_visible_accounts_is_404(self, client, case):
        assert (await client.get(url(case), headers=case["stranger"])).status_code == 404
        unknown = await client.get(f"/api/v1/debtors/{uuid.uuid4()}", headers=case["manager"])
        assert_problem(unknown, 404, "not_found")


class TestReveal:
    async def test_the_assigned_collector_reveals_with_a_reason(self, client, session, case):
        response = await reveal(client, case, "collector")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["national_id"] == CURP
        assert {p["value"] for p in body["contact_points"]} == {PHONE_A, EMAIL_A}
        assert body["birth_dates"] is None and body["related_parties"] is None
        log = await client.get(url(case, "/access-log"), headers=case["auditor"])
        assert log.status_code == 200
        [entry] = log.json()["items"]
        assert entry["id"] == body["access_id"]
        assert (entry["kind"], entry["fields"]) == ("reveal", ["national_id", "contact_points"])
        assert entry["reason"] == "Debtor asked to confirm his data"
        events = (
            await session.scalars(
                select(AuditEvent).where(col(AuditEvent.action) == "debtor.revealed")
                .where(col(AuditEvent.entity_id) == str(case["debtor"].id))
            )
        ).all()  # fmt: skip
        assert len(events) == 1
        assert_masked(str(events[0].after))

    async def test_guarantor_ids_and_birth_dates(self, client, case):
        response = await reveal(client, case, "lead", fields=("related_parties", "birth_date"))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["related_parties"][0]["national_id"] == GUARANTOR_RFC
        assert body["birth_dates"] == [
            {"account_id": str(case["at_a"].id), "birth_date": "1980-01-01"}
        ]

    @pytest.mark.parametrize(
        ("who", "status"),
        [
            ("collector", 200), ("lead", 200), ("manager", 200), ("stranger", 404),
            ("admin", 403), ("auditor", 403), ("partner_b", 403),
        ],
    )  # fmt: skip
    async def test_who_may_reveal(self, client, session, case, who, status):
        response = await reveal(client, case, who)
        assert response.status_code == status, response.text
        logged = await session.scalar(
            select(func.count())
            .select_from(DebtorAccess)
            .where(col(DebtorAccess.debtor_id) == case["debtor"].id)
        )
        assert logged == (1 if status == 200 else 0)
        if status != 200:
            assert_masked(response.text)

    @pytest.mark.parametrize(
        "body",
        [
            {"fields": ["national_id"], "reason": "short"},
            {"fields": [], "reason": "A good enough reason"},
            {"fields": ["password"], "reason": "A good enough reason"},
            {"fields": ["national_id"]},
        ],
    )
    async def test_bad_requests_are_422_and_reveal_nothing(self, client, session, case, body):
        response = await client.post(url(case, "/reveal"), json=body, headers=case["manager"])
        assert_problem(response, 422, "validation_failed")
        assert_masked(response.text)
        assert await session.scalar(select(func.count()).select_from(DebtorAccess)) == 0

    async def test_only_managers_and_auditors_read_the_access_log(self, client, case):
        for who, status in (("collector", 403), ("lead", 403), ("manager", 200)):
            response = await client.get(url(case, "/access-log"), headers=case[who])
            assert response.status_code == status, who


class TestExport:
    async def test_a_manager_exports_everything_and_it_is_logged(self, client, case):
        response = await client.get(
            url(case, "/export"), params={"reason": "ARCO access request 2026-118"},
            headers=case["manager"],
        )  # fmt: skip
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["debtor"]["national_id"] == CURP
        assert {p["value"] for p in body["contact_points"]} == {PHONE_A, EMAIL_A, PHONE_B}
        assert "national_id_index" not in body["debtor"]
        assert {"accounts", "interactions", "payments", "documents", "access_log"} <= set(body)
        log = await client.get(url(case, "/access-log"), headers=case["manager"])
        assert log.json()["items"][0]["kind"] == "export"

    @pytest.mark.parametrize("who", ["collector", "lead", "auditor", "admin", "partner_b"])
    async def test_others_may_not_export(self, client, case, who):
        response = await client.get(
            url(case, "/export"), params={"reason": "ARCO access request"}, headers=case[who]
        )
        assert response.status_code in (403, 404)
        assert_masked(response.text)


# Operations that exist to show unmasked values, to those who may see them.
UNMASKING = re.compile(r"/(reveal|export|content)$")


async def test_no_get_operation_shows_unmasked_personal_data(client, app, case):
    """Walk the contract: call every GET whose path parameters the case can fill (as a
    manager, who sees everything) and look for the seeded values in each answer."""
    values = {
        "debtor_id": str(case["debtor"].id),
        "account_id": str(case["at_a"].id),
        "partner_id": str(case["at_a"].partner_id),
    }
    called = 0
    for path, item in app.openapi()["paths"].items():
        if "get" not in item or UNMASKING.search(path):
            continue
        names = re.findall(r"{(\w+)}", path)
        if any(name not in values for name in names):
            continue
        concrete = path.format(**values)
        response = await client.get(concrete, headers=case["manager"])
        assert response.status_code < 500, (path, response.text)
        assert_masked(response.text)
        called += 1
    assert called >= 20


class TestFlags:
    async def test_a_lead_flags_insolvency_and_contact_stops(self, client, session, case):
        at_a = str(case["at_a"].id)
        response = await client.post(
            url(case, "/flags"),
            json={"kind": "insolvency", "account_id": at_a,
                  "reason": "Concurso mercantil notice received"},
            headers=case["lead"],
        )  # fmt: skip
        assert response.status_code == 201, response.text
        flag = response.json()
        assert (flag["kind"], flag["account_id"], flag["reach"]) == ("insolvency", at_a, "agency")
        again = await client.post(
            url(case, "/flags"), json={"kind": "insolvency", "account_id": at_a, "reason": "Twice"},
            headers=case["manager"],
        )  # fmt: skip
        assert again.status_code == 409
        check = await client.post(
            f"/api/v1/accounts/{case['at_a'].id}/contact-check",
            json={"channel": "call", "party": "debtor"},
            headers=case["collector"],
        )
        assert check.status_code == 200, check.text
        codes = {r["code"] for r in check.json()["reasons"]}
        assert "insolvency" in codes and check.json()["allowed"] is False
        profile = await client.get(url(case), headers=case["collector"])
        assert "insolvency" in {f["kind"] for f in profile.json()["flags"]}

        cleared = await client.post(
            url(case, f"/flags/{flag['id']}/clear"), json={"reason": "Proceeding closed"},
            headers=case["manager"],
        )  # fmt: skip
        assert cleared.status_code == 200, cleared.text
        profile = await client.get(url(case), headers=case["collector"])
        assert "insolvency" not in {f["kind"] for f in profile.json()["flags"]}
        twice = await client.post(
            url(case, f"/flags/{flag['id']}/clear"), json={"reason": "Again"},
            headers=case["manager"],
        )  # fmt: skip
        assert_problem(twice, 409, "flag_already_cleared")
        actions = (
            await session.scalars(
                select(col(AuditEvent.action)).where(
                    col(AuditEvent.entity_id) == str(case["debtor"].id),
                    col(AuditEvent.action).like("debtor.flag%"),
                )
            )
        ).all()
        assert sorted(actions) == ["debtor.flag_cleared", "debtor.flag_set"]

    async def test_a_vulnerable_flag_is_shown_and_does_not_stop_contact(self, client, case):
        response = await client.post(
            url(case, "/flags"),
            json={"kind": "vulnerable", "account_id": str(case["at_a"].id),
                  "reason": "Debtor in hospital treatment"},
            headers=case["manager"],
        )  # fmt: skip
        assert response.status_code == 201, response.text
        profile = await client.get(url(case), headers=case["collector"])
        assert "vulnerable" in {f["kind"] for f in profile.json()["flags"]}

    @pytest.mark.parametrize(
        ("who", "body", "status"),
        [
            ("collector", {"kind": "attorney", "reason": "Lawyer called", "account_id": A}, 403),
            ("auditor", {"kind": "attorney", "reason": "Lawyer called", "account_id": A}, 403),
            ("partner_b", {"kind": "attorney", "reason": "Lawyer called", "account_id": A}, 403),
            ("manager", {"kind": "bankrupt", "reason": "Lawyer called", "account_id": A}, 422),
            ("manager", {"kind": "attorney", "reason": "x", "account_id": A}, 422),
            # A flag is raised through an account: without one it is refused.
            ("manager", {"kind": "attorney", "reason": "Lawyer called"}, 422),
            ("manager", {"kind": "attorney", "reason": "ok!", "account_id": str(uuid.uuid4())},
             404),
        ],
    )  # fmt: skip
    async def test_who_may_flag_and_bad_input(self, client, session, case, who, body, status):
        if body.get("account_id") == A:
            body = {**body, "account_id": str(case["at_a"].id)}
        before = await session.scalar(select(func.count()).select_from(DebtorFlag))
        response = await client.post(url(case, "/flags"), json=body, headers=case[who])
        assert response.status_code == status, response.text
        assert await session.scalar(select(func.count()).select_from(DebtorFlag)) == before
