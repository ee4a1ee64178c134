"""Partners ("empresas convenidas"): registration and its validation, who sees which partner,
versioned changes, the bucket rows the aging joins, and the credentials of their systems."""

from __future__ import annotations

import string
import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlmodel import col
from stdnum.co import nit

from app.domain.roles import Role
from app.domain.stages import DEFAULT_EDGES, ProductType
from app.models.audit import AuditEvent
from app.models.partner import Partner, PartnerBucket, PartnerClient
from app.models.user import User
from app.security import hash_secret_now
from app.services import auth, demo
from tests.factories import assert_problem
from tests.helpers.partners import _rng, company_rfc, partner_body

PARTNERS = "/api/v1/partners"
CLIENT_TOKEN_URL = "/api/v1/auth/client-token"
DEFAULT_TABLE = {p.value: DEFAULT_EDGES.as_dict() for p in ProductType}
FAST_SINGLE_PAYMENT = {"early": 1, "mid": 15, "late": 30, "nonaccrual": 60, "chargeoff": 120}

_SYSTEM_SECRET = "partner-system-secret"
_SYSTEM_SECRET_HASH = hash_secret_now(_SYSTEM_SECRET)


def company_nit() -> str:
    base = "9" + "".join(_rng.choices(string.digits, k=8))
    return base + nit.calc_check_digit(base)


def with_wrong_check_digit(tax_id: str) -> str:
    right = tax_id[-1]
    return tax_id[:-1] + ("0" if right != "0" else "1")


async def new_partner(client, headers, **overrides) -> dict:
    response = await client.post(PARTNERS, json=partner_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def system_headers(session, settings, partner_id) -> dict[str, str]:
    """A bearer token for a (new) system client of the partner."""
    system = PartnerClient(
        partner_id=uuid.UUID(str(partner_id)),
        client_id=f"ps-{uuid.uuid4().hex[:12]}",
        secret_hash=_SYSTEM_SECRET_HASH,
        name="core",
    )
    session.add(system)
    await session.commit()
    issued = auth.client_token(settings, system, datetime.now(UTC))
    return {"Authorization": f"Bearer {issued.access_token}"}


async def client_token(client, client_id: str, secret: str):
    return await client.post(
        CLIENT_TOKEN_URL,
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )


async def bucket_rows(session, partner_id) -> dict[str, dict[str, int]]:
    rows = (
        await session.scalars(
            select(PartnerBucket).where(PartnerBucket.partner_id == uuid.UUID(str(partner_id)))
        )
    ).all()
    return {
        r.product_type: {
            "early": r.early_from,
            "mid": r.mid_from,
            "late": r.late_from,
            "nonaccrual": r.nonaccrual_from,
            "chargeoff": r.chargeoff_from,
        }
        for r in rows
    }


async def events_for(session, entity_id, action: str) -> list[AuditEvent]:
    return list(
        (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.entity_id == str(entity_id), AuditEvent.action == action)
                .order_by(AuditEvent.seq)
            )
        ).all()
    )


def error_fields(response) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


class TestCreatePartner:
    async def test_manager_registers_a_mexican_partner_with_the_country_defaults(
        self, client, make_user, auth_headers
    ):
        manager = await make_user(Role.MANAGER)
        body = partner_body()
        response = await client.post(PARTNERS, json=body, headers=auth_headers(manager))
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["tax_id"] == body["tax_id"]
        assert created["currency"] == "MXN"
        assert created["time_zone"] == "America/Mexico_City"
        assert created["bucket_table"] == DEFAULT_TABLE
        assert created["is_active"] is True and created["version"] == 1
        assert response.headers["location"] == f"{PARTNERS}/{created['id']}"
        assert response.headers["etag"] == '"1"'

    async def test_a_colombian_partner_defaults_to_pesos_and_bogota(
        self, client, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        created = await new_partner(client, auth_headers(admin), country="CO", tax_id=company_nit())
        assert created["currency"] == "COP"
        assert created["time_zone"] == "America/Bogota"

    async def test_an_explicit_currency_and_time_zone_are_kept(
        self, client, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        created = await new_partner(
            client, auth_headers(admin), currency="USD", time_zone="America/Tijuana"
        )
        assert (created["currency"], created["time_zone"]) == ("USD", "America/Tijuana")

    async def test_the_tax_id_and_the_phone_are_normalised(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        tax_id = company_rfc()
        written = f" {tax_id[:3].lower()}-{tax_id[3:9]}-{tax_id[9:]} "
        created = await new_partner(
            client,
            auth_headers(admin),
            tax_id=written,
            contact_name="Carla Convenios",
            contact_email="carla@financiera.example",
            contact_phone="55 1234 5678",
        )
        assert created["tax_id"] == tax_id
        assert created["contact_phone"] == "+525512345678"
        assert created["contact_email"] == "carla@financiera.example"

    async def test_three_bucket_rows_are_written_with_defaults_and_overrides(
        self, client, make_user, auth_headers, session
    ):
        admin = await make_user(Role.ADMIN)
        created = await new_partner(
            client, auth_headers(admin), bucket_table={"single_payment": FAST_SINGLE_PAYMENT}
        )
        expected = {**DEFAULT_TABLE, "single_payment": FAST_SINGLE_PAYMENT}
        assert created["bucket_table"] == expected
        assert await bucket_rows(session, created["id"]) == expected
        stored = await session.get(Partner, uuid.UUID(created["id"]))
        assert stored is not None
        assert stored.bucket_table == {"single_payment": FAST_SINGLE_PAYMENT}

    async def test_the_registration_is_audited(self, client, make_user, auth_headers, session):
        admin = await make_user(Role.ADMIN)
        created = await new_partner(client, auth_headers(admin))
        [event] = await events_for(session, created["id"], "partner.created")
        assert event.actor_id == str(admin.id) and event.actor_role == "admin"
        assert event.entity_type == "partner"
        assert event.after["tax_id"] == created["tax_id"]
        assert event.after["currency"] == "MXN"

    async def test_a_wrong_rfc_check_digit_is_refused_on_tax_id(
        self, client, make_user, auth_headers, session
    ):
        admin = await make_user(Role.ADMIN)
        body = partner_body(tax_id=with_wrong_check_digit(company_rfc()))
        response = await client.post(PARTNERS, json=body, headers=auth_headers(admin))
        assert response.status_code == 422
        assert response.json()["code"] == "invalid_input"
        [error] = response.json()["errors"]
        assert error["field"] == "body.tax_id"
        assert "check digit" in error["message"]
        count = await session.scalar(
            select(func.count())
            .select_from(Partner)
            .where(Partner.legal_name == body["legal_name"])
        )
        assert count == 0

    async def test_a_tax_id_of_another_country_or_shape_is_refused(
        self, client, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        for body in (
            partner_body(country="CO"),  # an RFC is not a NIT
            partner_body(tax_id=company_nit()),  # nor a NIT an RFC
            partner_body(tax_id=company_rfc()[:9]),  # the RFC stem without homoclave
            partner_body(tax_id=with_wrong_check_digit(company_nit()), country="CO"),
        ):
            response = await client.post(PARTNERS, json=body, headers=auth_headers(admin))
            assert_problem(response, 422, "invalid_input")
            assert error_fields(response) == ["body.tax_id"], body
            assert response.json()["errors"][0]["message"].startswith("not a valid")

    async def test_a_currency_outside_iso_4217_is_refused(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        for currency in ("XYZ", "mxn", "MX", "XAU", "MXNN"):
            response = await client.post(
                PARTNERS, json=partner_body(currency=currency), headers=auth_headers(admin)
            )
            assert_problem(response, 422, "validation_failed")
            assert error_fields(response) == ["body.currency"], currency

    async def test_an_unknown_time_zone_is_refused(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        for zone in ("America/Atlantis", "Mars/Olympus_Mons", "", "../etc/passwd", "CDMX"):
            response = await client.post(
                PARTNERS, json=partner_body(time_zone=zone), headers=auth_headers(admin)
            )
            assert_problem(response, 422, "validation_failed")
            assert error_fields(response) == ["body.time_zone"], zone

    async def test_bucket_edges_that_do_not_increase_are_refused(
        self, client, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        flat = {"early": 1, "mid": 30, "late": 30, "nonaccrual": 90, "chargeoff": 180}
        response = await client.post(
            PARTNERS,
            json=partner_body(bucket_table={"installment": flat}),
            headers=auth_headers(admin),
        )
        assert_problem(response, 422, "invalid_input")
        assert error_fields(response) == ["body.bucket_table.installment.late"]
        assert "after the one before" in response.json()["errors"][0]["message"]

    async def test_an_unknown_stage_or_product_type_is_refused(
        self, client, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        cases = {
            "body.bucket_table.revolving.recovery": {
                "revolving": {**FAST_SINGLE_PAYMENT, "recovery": 365}
            },
            "body.bucket_table.mortgage": {"mortgage": FAST_SINGLE_PAYMENT},
        }
        for field, table in cases.items():
            response = await client.post(
                PARTNERS, json=partner_body(bucket_table=table), headers=auth_headers(admin)
            )
            assert_problem(response, 422, "validation_failed")
            assert error_fields(response) == [field]

    async def test_edges_must_be_whole_days_in_range_for_every_stage(
        self, client, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        without_chargeoff = {k: v for k, v in FAST_SINGLE_PAYMENT.items() if k != "chargeoff"}
        for edges in (
            {**FAST_SINGLE_PAYMENT, "early": 0},
            {**FAST_SINGLE_PAYMENT, "mid": "15"},
            {**FAST_SINGLE_PAYMENT, "mid": 15.5},
            {**FAST_SINGLE_PAYMENT, "early": True},
            {**FAST_SINGLE_PAYMENT, "chargeoff": 99999},
            without_chargeoff,
        ):
            response = await client.post(
                PARTNERS,
                json=partner_body(bucket_table={"revolving": edges}),
                headers=auth_headers(admin),
            )
            assert_problem(response, 422, "validation_failed")
            assert error_fields(response)[0].startswith("body.bucket_table.revolving."), edges

    async def test_a_bad_contact_phone_or_email_is_refused(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        for field, value in (
            ("contact_phone", "123"),
            ("contact_phone", "not a phone"),
            ("contact_email", "convenios-at-example"),
        ):
            response = await client.post(
                PARTNERS, json=partner_body(**{field: value}), headers=auth_headers(admin)
            )
            assert_problem(response, 422, ("invalid_input", "validation_failed"))
            assert error_fields(response) == [f"body.{field}"], value

    async def test_unknown_fields_and_countries_are_refused(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        for body in (partner_body(credit_limit=10), partner_body(country="AR")):
            response = await client.post(PARTNERS, json=body, headers=auth_headers(admin))
            assert_problem(response, 422, "validation_failed")

    async def test_a_tax_id_already_registered_in_the_country_is_a_conflict(
        self, client, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        first = await new_partner(client, auth_headers(admin))
        again = await client.post(
            PARTNERS,
            json=partner_body(tax_id=first["tax_id"].lower()),
            headers=auth_headers(admin),
        )
        assert again.status_code == 409
        assert again.json()["code"] == "name_taken"

    async def test_only_admins_and_managers_register_partners(
        self, client, make_user, auth_headers, session, settings
    ):
        admin = await make_user(Role.ADMIN)
        own = await new_partner(client, auth_headers(admin))
        callers = [auth_headers(await make_user(r)) for r in (Role.TEAM_LEAD, Role.COLLECTOR)]
        callers.append(auth_headers(await make_user(Role.AUDITOR)))
        callers.append(await system_headers(session, settings, own["id"]))
        for headers in callers:
            response = await client.post(PARTNERS, json=partner_body(), headers=headers)
            assert_problem(response, 403, "permission_denied")


class TestListPartners:
    async def test_pages_walk_every_partner_once_in_id_order(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        made = [await new_partner(client, auth_headers(admin)) for _ in range(3)]
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            response = await client.get(PARTNERS, params=params, headers=auth_headers(admin))
            assert response.status_code == 200
            page = response.json()
            assert len(page["items"]) <= 2
            seen.extend(item["id"] for item in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen))
        assert {p["id"] for p in made} <= set(seen)
        assert seen == sorted(seen, key=uuid.UUID)

    async def test_items_carry_their_bucket_tables(self, client, make_user, auth_headers):
        manager = await make_user(Role.MANAGER)
        custom = await new_partner(
            client, auth_headers(manager), bucket_table={"single_payment": FAST_SINGLE_PAYMENT}
        )
        plain = await new_partner(client, auth_headers(manager))
        items = {
            p["id"]: p
            for p in (
                await client.get(PARTNERS, params={"limit": 200}, headers=auth_headers(manager))
            ).json()["items"]
        }
        assert items[custom["id"]]["bucket_table"]["single_payment"] == FAST_SINGLE_PAYMENT
        assert items[plain["id"]]["bucket_table"] == DEFAULT_TABLE

    async def test_filters_by_country_and_activity(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        colombian = await new_partner(
            client, auth_headers(admin), country="CO", tax_id=company_nit()
        )
        dormant = await new_partner(client, auth_headers(admin), is_active=False)
        by_country = (
            await client.get(
                PARTNERS, params={"country": "CO", "limit": 200}, headers=auth_headers(admin)
            )
        ).json()["items"]
        assert colombian["id"] in {p["id"] for p in by_country}
        assert {p["country"] for p in by_country} == {"CO"}
        inactive = (
            await client.get(
                PARTNERS, params={"is_active": "false", "limit": 200}, headers=auth_headers(admin)
            )
        ).json()["items"]
        assert dormant["id"] in {p["id"] for p in inactive}
        assert not any(p["is_active"] for p in inactive)

    async def test_a_partner_system_lists_only_its_own_partner(
        self, client, make_user, auth_headers, session, settings
    ):
        admin = await make_user(Role.ADMIN)
        own = await new_partner(client, auth_headers(admin))
        await new_partner(client, auth_headers(admin))
        response = await client.get(
            PARTNERS, headers=await system_headers(session, settings, own["id"])
        )
        assert response.status_code == 200
        assert [p["id"] for p in response.json()["items"]] == [own["id"]]

    async def test_auditors_read_the_list(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        created = await new_partner(client, auth_headers(admin))
        auditor = await make_user(Role.AUDITOR)
        response = await client.get(PARTNERS, params={"limit": 200}, headers=auth_headers(auditor))
        assert response.status_code == 200
        assert created["id"] in {p["id"] for p in response.json()["items"]}

    async def test_team_leads_and_collectors_are_refused(self, client, make_user, auth_headers):
        for role in (Role.TEAM_LEAD, Role.COLLECTOR):
            response = await client.get(PARTNERS, headers=auth_headers(await make_user(role)))
            assert response.status_code == 403, role
            assert response.json()["code"] == "permission_denied"

    async def test_a_bad_cursor_limit_or_country_is_422(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        for params in ({"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": 500}, {"country": "AR"}):
            response = await client.get(PARTNERS, params=params, headers=auth_headers(admin))
            assert_problem(response, 422, ("invalid_input", "validation_failed"))


class TestReadPartner:
    async def test_reads_the_partner_with_its_effective_buckets_and_etag(
        self, client, make_user, auth_headers
    ):
        manager = await make_user(Role.MANAGER)
        created = await new_partner(
            client, auth_headers(manager), bucket_table={"single_payment": FAST_SINGLE_PAYMENT}
        )
        response = await client.get(f"{PARTNERS}/{created['id']}", headers=auth_headers(manager))
        assert response.status_code == 200
        assert response.json() == created
        assert response.headers["etag"] == '"1"'
        assert response.json()["bucket_table"]["revolving"] == DEFAULT_EDGES.as_dict()

    async def test_a_partner_system_reads_itself_and_gets_404_for_another(
        self, client, make_user, auth_headers, session, settings
    ):
        admin = await make_user(Role.ADMIN)
        own = await new_partner(client, auth_headers(admin))
        other = await new_partner(client, auth_headers(admin))
        headers = await system_headers(session, settings, own["id"])
        assert (await client.get(f"{PARTNERS}/{own['id']}", headers=headers)).status_code == 200
        hidden = await client.get(f"{PARTNERS}/{other['id']}", headers=headers)
        assert hidden.status_code == 404
        assert hidden.json()["code"] == "not_found"

    async def test_team_leads_and_collectors_are_refused(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        created = await new_partner(client, auth_headers(admin))
        for role in (Role.TEAM_LEAD, Role.COLLECTOR):
            response = await client.get(
                f"{PARTNERS}/{created['id']}", headers=auth_headers(await make_user(role))
            )
            assert_problem(response, 403, "permission_denied")

    async def test_an_unknown_id_is_404_and_a_malformed_one_422(
        self, client, make_user, auth_headers
    ):
        auditor = await make_user(Role.AUDITOR)
        missing = await client.get(f"{PARTNERS}/{uuid.uuid4()}", headers=auth_headers(auditor))
        assert_problem(missing, 404, "not_found")
        malformed = await client.get(f"{PARTNERS}/not-a-uuid", headers=auth_headers(auditor))
        assert_problem(malformed, 422, "validation_failed")


class TestUpdatePartner:
    async def test_a_change_with_the_current_etag_moves_the_version_and_is_audited(
        self, client, make_user, auth_headers, session
    ):
        manager = await make_user(Role.MANAGER)
        created = await new_partner(client, auth_headers(manager), contact_name="Carla")
        url = f"{PARTNERS}/{created['id']}"
        read = await client.get(url, headers=auth_headers(manager))
        response = await client.patch(
            url,
            json={"legal_name": "Financiera Nueva", "contact_phone": "(33) 3615 0000"},
            headers={**auth_headers(manager), "If-Match": read.headers["etag"]},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["legal_name"] == "Financiera Nueva"
        assert body["contact_phone"] == "+523336150000"
        assert body["contact_name"] == "Carla"
        assert body["version"] == 2 and response.headers["etag"] == '"2"'
        [event] = await events_for(session, created["id"], "partner.updated")
        assert event.actor_id == str(manager.id)
        assert event.before == {"legal_name": created["legal_name"], "contact_phone": None}
        assert event.after == {"legal_name": "Financiera Nueva", "contact_phone": "+523336150000"}

    async def test_a_stale_etag_is_412_and_changes_nothing(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        created = await new_partner(client, auth_headers(admin))
        url = f"{PARTNERS}/{created['id']}"
        first = await client.patch(url, json={"legal_name": "First"}, headers=auth_headers(admin))
        assert first.status_code == 200
        stale = await client.patch(
            url, json={"legal_name": "Second"}, headers={**auth_headers(admin), "If-Match": '"1"'}
        )
        assert stale.status_code == 412
        assert stale.json()["code"] == "version_mismatch"
        assert (await client.get(url, headers=auth_headers(admin))).json()["legal_name"] == "First"

    async def test_a_malformed_if_match_is_422(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        created = await new_partner(client, auth_headers(admin))
        response = await client.patch(
            f"{PARTNERS}/{created['id']}",
            json={"legal_name": "X"},
            headers={**auth_headers(admin), "If-Match": "yesterday"},
        )
        assert_problem(response, 422, "invalid_input")
        assert error_fields(response) == ["header.if-match"]

    async def test_a_new_bucket_table_rewrites_the_bucket_rows(
        self, client, make_user, auth_headers, session
    ):
        admin = await make_user(Role.ADMIN)
        created = await new_partner(
            client, auth_headers(admin), bucket_table={"single_payment": FAST_SINGLE_PAYMENT}
        )
        url = f"{PARTNERS}/{created['id']}"
        slow = {"early": 5, "mid": 45, "late": 90, "nonaccrual": 120, "chargeoff": 360}
        response = await client.patch(
            url, json={"bucket_table": {"installment": slow}}, headers=auth_headers(admin)
        )
        assert response.status_code == 200
        expected = {**DEFAULT_TABLE, "installment": slow}
        assert response.json()["bucket_table"] == expected
        assert await bucket_rows(session, created["id"]) == expected
        [event] = await events_for(session, created["id"], "partner.updated")
        assert event.before == {"bucket_table": {"single_payment": FAST_SINGLE_PAYMENT}}
        assert event.after == {"bucket_table": {"installment": slow}}

    async def test_a_null_bucket_table_restores_the_defaults(
        self, client, make_user, auth_headers, session
    ):
        admin = await make_user(Role.ADMIN)
        created = await new_partner(
            client, auth_headers(admin), bucket_table={"single_payment": FAST_SINGLE_PAYMENT}
        )
        response = await client.patch(
            f"{PARTNERS}/{created['id']}", json={"bucket_table": None}, headers=auth_headers(admin)
        )
        assert response.status_code == 200
        assert response.json()["bucket_table"] == DEFAULT_TABLE
        assert await bucket_rows(session, created["id"]) == DEFAULT_TABLE

    async def test_a_bad_bucket_table_is_422_and_keeps_the_rows(
        self, client, make_user, auth_headers, session
    ):
        admin = await make_user(Role.ADMIN)
        created = await new_partner(client, auth_headers(admin))
        backwards = {"early": 90, "mid": 60, "late": 30, "nonaccrual": 120, "chargeoff": 180}
        response = await client.patch(
            f"{PARTNERS}/{created['id']}",
            json={"bucket_table": {"revolving": backwards}},
            headers=auth_headers(admin),
        )
        assert_problem(response, 422, "invalid_input")
        assert error_fields(response) == ["body.bucket_table.revolving.mid"]
        assert await bucket_rows(session, created["id"]) == DEFAULT_TABLE

    async def test_the_country_cannot_change(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        created = await new_partner(client, auth_headers(admin))
        response = await client.patch(
            f"{PARTNERS}/{created['id']}", json={"country": "CO"}, headers=auth_headers(admin)
        )
        assert_problem(response, 422, "validation_failed")
        assert response.json()["errors"][0]["type"] == "extra_forbidden"

    async def test_a_new_tax_id_is_checked_for_the_partners_country_and_uniqueness(
        self, client, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        taken = await new_partner(client, auth_headers(admin))
        created = await new_partner(client, auth_headers(admin))
        url = f"{PARTNERS}/{created['id']}"
        not_an_rfc = await client.patch(
            url, json={"tax_id": company_nit()}, headers=auth_headers(admin)
        )
        assert_problem(not_an_rfc, 422, "invalid_input")
        assert error_fields(not_an_rfc) == ["body.tax_id"]
        duplicate = await client.patch(
            url, json={"tax_id": taken["tax_id"]}, headers=auth_headers(admin)
        )
        assert_problem(duplicate, 409, "name_taken")
        fresh = company_rfc()
        changed = await client.patch(url, json={"tax_id": fresh}, headers=auth_headers(admin))
        assert changed.status_code == 200 and changed.json()["tax_id"] == fresh

    async def test_null_is_refused_for_fields_that_cannot_be_empty(
        self, client, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        created = await new_partner(client, auth_headers(admin))
        for field in ("legal_name", "tax_id", "currency", "time_zone", "is_active"):
            response = await client.patch(
                f"{PARTNERS}/{created['id']}", json={field: None}, headers=auth_headers(admin)
            )
            assert_problem(response, 422, "validation_failed")
            assert error_fields(response) == [f"body.{field}"], field

    async def test_contact_fields_may_be_cleared(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        created = await new_partner(
            client,
            auth_headers(admin),
            contact_name="Carla",
            contact_email="carla@financiera.example",
            contact_phone="5512345678",
        )
        response = await client.patch(
            f"{PARTNERS}/{created['id']}",
            json={"contact_name": None, "contact_email": None, "contact_phone": None},
            headers=auth_headers(admin),
        )
        assert response.status_code == 200
        body = response.json()
        assert body["contact_name"] is body["contact_email"] is body["contact_phone"] is None

    async def test_a_change_to_the_same_values_keeps_the_version_and_records_nothing(
        self, client, make_user, auth_headers, session
    ):
        admin = await make_user(Role.ADMIN)
        created = await new_partner(client, auth_headers(admin))
        response = await client.patch(
            f"{PARTNERS}/{created['id']}",
            json={"legal_name": created["legal_name"], "bucket_table": None},
            headers=auth_headers(admin),
        )
        assert response.status_code == 200
        assert response.json()["version"] == 1
        assert await events_for(session, created["id"], "partner.updated") == []

    async def test_auditors_and_partner_systems_cannot_change_partners(
        self, client, make_user, auth_headers, session, settings
    ):
        admin = await make_user(Role.ADMIN)
        created = await new_partner(client, auth_headers(admin))
        url = f"{PARTNERS}/{created['id']}"
        for headers in (
            auth_headers(await make_user(Role.AUDITOR)),
            auth_headers(await make_user(Role.TEAM_LEAD)),
            await system_headers(session, settings, created["id"]),
        ):
            response = await client.patch(url, json={"legal_name": "X"}, headers=headers)
            assert_problem(response, 403, "permission_denied")

    async def test_an_unknown_partner_is_404(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        response = await client.patch(
            f"{PARTNERS}/{uuid.uuid4()}", json={"legal_name": "X"}, headers=auth_headers(admin)
        )
        assert_problem(response, 404, "not_found")

    async def test_a_deactivated_partners_systems_lose_access(
        self, client, make_user, auth_headers, session, settings
    ):
        admin = await make_user(Role.ADMIN)
        created = await new_partner(client, auth_headers(admin))
        headers = await system_headers(session, settings, created["id"])
        url = f"{PARTNERS}/{created['id']}"
        assert (await client.get(url, headers=headers)).status_code == 200
        response = await client.patch(url, json={"is_active": False}, headers=auth_headers(admin))
        assert response.status_code == 200 and response.json()["is_active"] is False
        assert (await client.get(url, headers=headers)).status_code == 401


class TestCreatePartnerClient:
    async def test_admin_issues_credentials_that_log_in_once_shown(
        self, client, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        partner = await new_partner(client, auth_headers(admin), legal_name="Crédito Ágil, S.A.")
        response = await client.post(
            f"{PARTNERS}/{partner['id']}/clients",
            json={"name": "core banking"},
            headers=auth_headers(admin),
        )
        assert response.status_code == 201, response.text
        assert response.headers["cache-control"] == "no-store"
        created = response.json()
        assert created["client_id"].startswith("credito-agil-s-a-")
        assert created["partner_id"] == partner["id"]
        assert created["is_active"] is True and created["name"] == "core banking"
        assert len(created["client_secret"]) >= 40
        token = await client_token(client, created["client_id"], created["client_secret"])
        assert token.status_code == 200
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        listed = (await client.get(PARTNERS, headers=bearer)).json()["items"]
        assert [p["id"] for p in listed] == [partner["id"]]

    async def test_only_the_secret_hash_is_kept_and_the_audit_omits_it(
        self, client, make_user, auth_headers, session
    ):
        admin = await make_user(Role.ADMIN)
        partner = await new_partner(client, auth_headers(admin))
        created = (
            await client.post(
                f"{PARTNERS}/{partner['id']}/clients",
                json={"name": "core"},
                headers=auth_headers(admin),
            )
        ).json()
        stored = await session.get(PartnerClient, uuid.UUID(created["id"]))
        assert stored is not None
        assert stored.secret_hash.startswith("$argon2")
        assert created["client_secret"] not in stored.secret_hash
        [event] = await events_for(session, created["id"], "partner_client.created")
        assert event.after["client_id"] == created["client_id"]
        assert event.after["partner_id"] == partner["id"]
        assert created["client_secret"] not in str(event.after)

    async def test_two_clients_of_one_partner_get_different_ids_and_secrets(
        self, client, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        partner = await new_partner(client, auth_headers(admin))
        url = f"{PARTNERS}/{partner['id']}/clients"
        a, b = [
            (await client.post(url, json={"name": n}, headers=auth_headers(admin))).json()
            for n in ("core", "collections feed")
        ]
        assert a["client_id"] != b["client_id"]
        assert a["client_secret"] != b["client_secret"]

    async def test_only_admins_issue_credentials(
        self, client, make_user, auth_headers, session, settings
    ):
        admin = await make_user(Role.ADMIN)
        partner = await new_partner(client, auth_headers(admin))
        url = f"{PARTNERS}/{partner['id']}/clients"
        for headers in (
            auth_headers(await make_user(Role.MANAGER)),
            auth_headers(await make_user(Role.AUDITOR)),
            await system_headers(session, settings, partner["id"]),
        ):
            response = await client.post(url, json={"name": "x"}, headers=headers)
            assert_problem(response, 403, "permission_denied")

    async def test_an_unknown_partner_is_404_and_a_missing_name_422(
        self, client, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        missing = await client.post(
            f"{PARTNERS}/{uuid.uuid4()}/clients", json={"name": "x"}, headers=auth_headers(admin)
        )
        assert_problem(missing, 404, "not_found")
        partner = await new_partner(client, auth_headers(admin))
        nameless = await client.post(
            f"{PARTNERS}/{partner['id']}/clients", json={}, headers=auth_headers(admin)
        )
        assert_problem(nameless, 422, "validation_failed")
        assert error_fields(nameless) == ["body.name"]


class TestListPartnerClients:
    async def test_admins_and_auditors_list_a_partners_clients_without_secrets(
        self, client, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        partner = await new_partner(client, auth_headers(admin))
        other = await new_partner(client, auth_headers(admin))
        url = f"{PARTNERS}/{partner['id']}/clients"
        made = [
            (await client.post(url, json={"name": f"c{n}"}, headers=auth_headers(admin))).json()
            for n in range(3)
        ]
        await client.post(
            f"{PARTNERS}/{other['id']}/clients", json={"name": "x"}, headers=auth_headers(admin)
        )
        for reader in (admin, await make_user(Role.AUDITOR)):
            seen, cursor = [], None
            while True:
                params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
                response = await client.get(url, params=params, headers=auth_headers(reader))
                assert response.status_code == 200
                assert "secret" not in response.text
                page = response.json()
                seen.extend(c["client_id"] for c in page["items"])
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert seen == [c["client_id"] for c in made]

    async def test_managers_and_partner_systems_are_refused(
        self, client, make_user, auth_headers, session, settings
    ):
        admin = await make_user(Role.ADMIN)
        partner = await new_partner(client, auth_headers(admin))
        url = f"{PARTNERS}/{partner['id']}/clients"
        for headers in (
            auth_headers(await make_user(Role.MANAGER)),
            await system_headers(session, settings, partner["id"]),
        ):
            assert (await client.get(url, headers=headers)).status_code == 403

    async def test_an_unknown_partner_is_404(self, client, make_user, auth_headers):
        auditor = await make_user(Role.AUDITOR)
        response = await client.get(
            f"{PARTNERS}/{uuid.uuid4()}/clients", headers=auth_headers(auditor)
        )
        assert_problem(response, 404, "not_found")


class TestDeactivatePartnerClient:
    async def test_a_deactivated_client_can_no_longer_get_a_token_nor_use_its_own(
        self, client, make_user, auth_headers, session
    ):
        admin = await make_user(Role.ADMIN)
        partner = await new_partner(client, auth_headers(admin))
        created = (
            await client.post(
                f"{PARTNERS}/{partner['id']}/clients",
                json={"name": "core"},
                headers=auth_headers(admin),
            )
        ).json()
        token = await client_token(client, created["client_id"], created["client_secret"])
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        assert (await client.get(f"{PARTNERS}/{partner['id']}", headers=bearer)).status_code == 200

        url = f"{PARTNERS}/{partner['id']}/clients/{created['client_id']}"
        response = await client.delete(url, headers=auth_headers(admin))
        assert response.status_code == 204
        assert response.content == b""

        refused = await client_token(client, created["client_id"], created["client_secret"])
        assert refused.status_code == 401
        assert refused.json()["code"] == "invalid_client"
        assert (await client.get(f"{PARTNERS}/{partner['id']}", headers=bearer)).status_code == 401
        listed = (
            await client.get(f"{PARTNERS}/{partner['id']}/clients", headers=auth_headers(admin))
        ).json()["items"]
        assert [c["is_active"] for c in listed] == [False]
        [event] = await events_for(session, created["id"], "partner_client.updated")
        assert (event.before, event.after) == ({"is_active": True}, {"is_active": False})

    async def test_deactivating_twice_changes_and_records_nothing_more(
        self, client, make_user, auth_headers, session
    ):
        admin = await make_user(Role.ADMIN)
        partner = await new_partner(client, auth_headers(admin))
        created = (
            await client.post(
                f"{PARTNERS}/{partner['id']}/clients",
                json={"name": "core"},
                headers=auth_headers(admin),
            )
        ).json()
        url = f"{PARTNERS}/{partner['id']}/clients/{created['client_id']}"
        for _ in range(2):
            assert (await client.delete(url, headers=auth_headers(admin))).status_code == 204
        assert len(await events_for(session, created["id"], "partner_client.updated")) == 1

    async def test_a_client_of_another_partner_or_unknown_is_404(
        self, client, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        partner = await new_partner(client, auth_headers(admin))
        other = await new_partner(client, auth_headers(admin))
        created = (
            await client.post(
                f"{PARTNERS}/{partner['id']}/clients",
                json={"name": "core"},
                headers=auth_headers(admin),
            )
        ).json()
        for url in (
            f"{PARTNERS}/{other['id']}/clients/{created['client_id']}",
            f"{PARTNERS}/{partner['id']}/clients/no-such-client",
            f"{PARTNERS}/{uuid.uuid4()}/clients/{created['client_id']}",
        ):
            assert (await client.delete(url, headers=auth_headers(admin))).status_code == 404, url

    async def test_only_admins_deactivate_clients(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        partner = await new_partner(client, auth_headers(admin))
        created = (
            await client.post(
                f"{PARTNERS}/{partner['id']}/clients",
                json={"name": "core"},
                headers=auth_headers(admin),
            )
        ).json()
        url = f"{PARTNERS}/{partner['id']}/clients/{created['client_id']}"
        for role in (Role.MANAGER, Role.AUDITOR):
            response = await client.delete(url, headers=auth_headers(await make_user(role)))
            assert_problem(response, 403, "permission_denied")


class TestRotatePartnerClientSecret:
    async def test_rotating_ends_the_old_secret_and_its_tokens_and_the_new_one_works(
        self, client, make_user, auth_headers, session
    ):
        admin = await make_user(Role.ADMIN)
        partner = await new_partner(client, auth_headers(admin))
        created = (
            await client.post(
                f"{PARTNERS}/{partner['id']}/clients",
                json={"name": "core"},
                headers=auth_headers(admin),
            )
        ).json()
        token = await client_token(client, created["client_id"], created["client_secret"])
        old_bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        partner_url = f"{PARTNERS}/{partner['id']}"
        assert (await client.get(partner_url, headers=old_bearer)).status_code == 200

        rotated = await client.post(
            f"{PARTNERS}/{partner['id']}/clients/{created['client_id']}/secret",
            headers=auth_headers(admin),
        )
        assert rotated.status_code == 200, rotated.text
        assert rotated.headers["cache-control"] == "no-store"
        body = rotated.json()
        assert body["client_id"] == created["client_id"] and body["id"] == created["id"]
        assert len(body["client_secret"]) >= 40
        assert body["client_secret"] != created["client_secret"]

        # The token issued before the rotation is over, as a problem.
        refused = await client.get(partner_url, headers=old_bearer)
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "not_authenticated"
        # The old secret gets no new token; the new one does, and that token works.
        old = await client_token(client, created["client_id"], created["client_secret"])
        assert old.status_code == 401 and old.json()["code"] == "invalid_client"
        fresh = await client_token(client, created["client_id"], body["client_secret"])
        assert fresh.status_code == 200
        new_bearer = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
        assert (await client.get(partner_url, headers=new_bearer)).status_code == 200

        [event] = await events_for(session, created["id"], "partner_client.secret_rotated")
        assert event.after == {"client_secret": "rotated"}
        assert body["client_secret"] not in str(event.after)

    async def test_a_client_of_another_partner_or_unknown_is_404(
        self, client, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        partner = await new_partner(client, auth_headers(admin))
        other = await new_partner(client, auth_headers(admin))
        created = (
            await client.post(
                f"{PARTNERS}/{partner['id']}/clients",
                json={"name": "core"},
                headers=auth_headers(admin),
            )
        ).json()
        for url in (
            f"{PARTNERS}/{other['id']}/clients/{created['client_id']}/secret",
            f"{PARTNERS}/{partner['id']}/clients/no-such-client/secret",
        ):
            assert (await client.post(url, headers=auth_headers(admin))).status_code == 404, url

    async def test_only_admins_rotate_secrets(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        partner = await new_partner(client, auth_headers(admin))
        created = (
            await client.post(
                f"{PARTNERS}/{partner['id']}/clients",
                json={"name": "core"},
                headers=auth_headers(admin),
            )
        ).json()
        url = f"{PARTNERS}/{partner['id']}/clients/{created['client_id']}/secret"
        for role in (Role.MANAGER, Role.AUDITOR):
            response = await client.post(url, headers=auth_headers(await make_user(role)))
            assert_problem(response, 403, "permission_denied")


class TestDemoPartners:
    async def test_the_seed_registers_both_partners_with_their_buckets_and_systems(
        self, client, session
    ):
        await session.execute(
            delete(User).where(User.username.in_([u[0] for u in demo.DEMO_STAFF]))
        )
        assert await demo.seed(session) is True
        await session.commit()
        partners = {
            p.country: p
            for p in (
                await session.scalars(
                    select(Partner).where(
                        col(Partner.tax_id).in_([demo.DEMO_BANK_TAX_ID, demo.DEMO_RETAIL_NIT])
                    )
                )
            ).all()
        }
        assert set(partners) == {"MX", "CO"}
        assert (partners["CO"].currency, partners["CO"].time_zone) == ("COP", "America/Bogota")
        bank = await bucket_rows(session, partners["MX"].id)
        assert bank["single_payment"] == FAST_SINGLE_PAYMENT
        assert bank["revolving"] == bank["installment"] == DEFAULT_EDGES.as_dict()
        assert await bucket_rows(session, partners["CO"].id) == DEFAULT_TABLE
        for client_id, secret in (
            (demo.DEMO_CLIENT_ID, demo.DEMO_CLIENT_SECRET),
            (demo.DEMO_RETAIL_CLIENT_ID, demo.DEMO_RETAIL_CLIENT_SECRET),
        ):
            assert (await client_token(client, client_id, secret)).status_code == 200, client_id
