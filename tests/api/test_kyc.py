"""KYC search: exact look-ups through the blind indexes, accent-insensitive fuzzy names,
who finds whom (partners, collectors), masked answers, the audit trail, the rate limit and
invalid queries."""

from __future__ import annotations

import json
import secrets

import pytest
from httpx import ASGITransport, AsyncClient
from sqlmodel import col, select

from app.config import Settings
from app.db import Database
from app.domain.identity import Country, mask_name
from app.domain.roles import Role
from app.main import create_app
from app.models.audit import AuditEvent
from app.models.debtor import ContactPoint
from app.schemas.kyc import Criterion
from app.services import kyc as service
from tests.factories import assert_problem, make_account, make_debtor, make_partner, partner_bearer

SEARCH = "/api/v1/kyc/search"


def national_id() -> str:
    return "KYC" + secrets.token_hex(8).upper()[:15]


def mx_mobile() -> tuple[str, str]:
    """(as a person writes it, E.164) for a Mexico City number."""
    digits = "55" + "".join(secrets.choice("0123456789") for _ in range(8))
    return f"{digits[:2]} {digits[2:6]} {digits[6:]}", f"+52{digits}"


async def add_contact(session, account, kind: str, value: str) -> ContactPoint:
    point = ContactPoint(
        partner_id=account.partner_id,
        account_id=account.id,
        debtor_id=account.debtor_id,
        kind=kind,
        value=value,
    )
    session.add(point)
    await session.flush()
    return point


@pytest.fixture
async def world(session, settings, make_user, auth_headers):
    """Partner A and partner B. José Pérez (a shared debtor: A and B both have an account of
    his, each with the name as they sent it) has a phone and an email sent by A. Ana Ruiz is
    A's only; Berta Soto is B's only. A collector is assigned one of José's accounts."""
    a = await make_partner(session, country="MX")
    b = await make_partner(session, country="MX")
    collector = await make_user(Role.COLLECTOR)
    jose_id, ana_id, berta_id = national_id(), national_id(), national_id()
    jose = await make_debtor(
        session, national_id=jose_id, first_names="José", last_names="Pérez López"
    )
    ana = await make_debtor(session, national_id=ana_id, first_names="Ana", last_names="Ruiz")
    berta = await make_debtor(session, national_id=berta_id, first_names="Berta", last_names="Soto")
    jose_a = await make_account(
        session,
        a,
        jose,
        debtor_first_names="JOSE",
        debtor_last_names="PEREZ LOPEZ",
        assigned_collector_id=collector.id,
    )
    jose_a2 = await make_account(
        session, a, jose, debtor_first_names="JOSE", debtor_last_names="PEREZ LOPEZ"
    )
    jose_b = await make_account(
        session, b, jose, debtor_first_names="José", debtor_last_names="Pérez"
    )
    ana_a = await make_account(session, a, ana)
    berta_b = await make_account(session, b, berta)
    written, e164 = mx_mobile()
    email = f"jose.perez.{secrets.token_hex(4)}@correo.mx"
    await add_contact(session, jose_a, "phone", e164)
    await add_contact(session, jose_a, "email", email)
    headers_a = await partner_bearer(session, settings, a)
    headers_b = await partner_bearer(session, settings, b)
    await session.commit()
    return {
        "jose": jose,
        "ana": ana,
        "berta": berta,
        "jose_id": jose_id,
        "ana_id": ana_id,
        "berta_id": berta_id,
        "jose_a": jose_a,
        "jose_a2": jose_a2,
        "jose_b": jose_b,
        "ana_a": ana_a,
        "berta_b": berta_b,
        "phone_written": written,
        "phone": e164,
        "email": email,
        "partner_a": headers_a,
        "partner_b": headers_b,
        "collector": auth_headers(collector),
        "manager": auth_headers(await make_user(Role.MANAGER)),
        "auditor": auth_headers(await make_user(Role.AUDITOR)),
    }


async def search(client, headers, **params):
    response = await client.get(SEARCH, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def debtor_ids(body) -> list[str]:
    return [item["debtor_id"] for item in body["items"]]


def account_ids(body) -> set[str]:
    return {a["id"] for item in body["items"] for a in item["accounts"]}


class TestExactSearch:
    async def test_national_id_finds_the_debtor_with_every_visible_account(self, client, world):
        body = await search(client, world["manager"], national_id=world["jose_id"].lower())
        assert body["criterion"] == "national_id"
        assert debtor_ids(body) == [str(world["jose"].id)]
        assert account_ids(body) == {str(world[k].id) for k in ("jose_a", "jose_a2", "jose_b")}
        item = body["items"][0]
        assert item["national_id_type"] == "CURP"
        assert item["national_id_masked"] == "****" + world["jose_id"][-4:]
        assert item["score"] is None
        assert body["truncated"] is False

    async def test_national_id_written_with_separators_is_compacted(self, client, world):
        spaced = "-".join([world["ana_id"][:6], world["ana_id"][6:12], world["ana_id"][12:]])
        body = await search(client, world["manager"], national_id=f" {spaced} ")
        assert debtor_ids(body) == [str(world["ana"].id)]

    async def test_phone_as_written_in_mexico_finds_its_debtor(self, client, world):
        body = await search(client, world["manager"], phone=world["phone_written"])
        assert debtor_ids(body) == [str(world["jose"].id)]
        # The account the phone was sent with, not every account of the debtor.
        assert account_ids(body) == {str(world["jose_a"].id)}

    async def test_phone_in_e164_finds_it_too(self, client, world):
        body = await search(client, world["manager"], phone=world["phone"], country="MX")
        assert debtor_ids(body) == [str(world["jose"].id)]

    async def test_email_is_matched_case_insensitively(self, client, world):
        body = await search(client, world["manager"], email=world["email"].upper())
        assert debtor_ids(body) == [str(world["jose"].id)]

    async def test_an_unknown_id_finds_nothing(self, client, world):
        body = await search(client, world["manager"], national_id=national_id())
        assert body["items"] == []


class TestNameSearch:
    async def test_accents_and_case_do_not_matter(self, client, world):
        body = await search(client, world["manager"], name="josé pérez lópez")
        assert debtor_ids(body) == [str(world["jose"].id)]
        item = body["items"][0]
        assert set(item["names"]) == {"JOSE PEREZ LOPEZ", "José Pérez"}
        assert 0 < item["score"] <= 1
        # The best matching account first.
        assert item["accounts"][0]["debtor_last_names"] == "PEREZ LOPEZ"

    async def test_an_unaccented_query_finds_accented_names(self, client, world):
        body = await search(client, world["partner_b"], name="JOSE PEREZ")
        assert debtor_ids(body) == [str(world["jose"].id)]
        assert body["items"][0]["names"] == ["José Pérez"]

    async def test_a_misspelt_name_still_matches(self, client, world):
        body = await search(client, world["manager"], name="Jose Peres Lopes")
        assert str(world["jose"].id) in debtor_ids(body)

    async def test_results_are_ordered_by_similarity(self, client, session, world):
        partner = await make_partner(session)
        close = await make_account(
            session, partner, debtor_first_names="Rocío", debtor_last_names="Durcal"
        )
        far = await make_account(
            session, partner, debtor_first_names="Rocío", debtor_last_names="Durcal Ortega Vidal"
        )
        await session.commit()
        body = await search(client, world["manager"], name="rocio durcal")
        ids = debtor_ids(body)
        assert ids[:2] == [str(close.debtor_id), str(far.debtor_id)]
        scores = [item["score"] for item in body["items"]]
        assert scores == sorted(scores, reverse=True)

    async def test_limit_cuts_and_says_so(self, client, session, world):
        partner = await make_partner(session)
        for _ in range(3):
            await make_account(
                session, partner, debtor_first_names="Lucía", debtor_last_names="Méndez"
            )
        await session.commit()
        body = await search(client, world["manager"], name="lucia mendez", limit=2)
        assert len(body["items"]) == 2
        assert body["truncated"] is True

    async def test_the_name_search_uses_the_trigram_index(self, session, world):
        from sqlalchemy import text

        from app.models.account import Account

        await session.execute(text("SET LOCAL enable_seqscan = off"))
        parsed = service.parse_search(service.SearchQuery(name="José Pérez"), Country.MX)
        condition, _ = service._condition(parsed)
        statement = (
            select(col(Account.id))
            .where(condition)
            .compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True})
        )
        plan = (await session.execute(text(f"EXPLAIN {statement}"))).all()
        assert "ix_account_debtor_name_trgm" in "\n".join(row[0] for row in plan)


class TestVisibility:
    async def test_a_partner_never_finds_another_partners_debtor(self, client, world):
        for params in (
            {"national_id": world["ana_id"]},
            {"name": "Ana Ruiz"},
        ):
            body = await search(client, world["partner_b"], **params)
            assert body["items"] == [], params

    async def test_a_partner_sees_only_its_own_accounts_and_names_of_a_shared_debtor(
        self, client, world
    ):
        body = await search(client, world["partner_b"], national_id=world["jose_id"])
        assert debtor_ids(body) == [str(world["jose"].id)]
        assert account_ids(body) == {str(world["jose_b"].id)}
        assert body["items"][0]["names"] == ["José Pérez"]
        assert "PEREZ LOPEZ" not in json.dumps(body)

    async def test_a_partner_does_not_find_a_debtor_by_a_phone_another_partner_sent(
        self, client, world
    ):
        body = await search(client, world["partner_b"], phone=world["phone_written"])
        assert body["items"] == []
        body = await search(client, world["partner_a"], phone=world["phone_written"])
        assert debtor_ids(body) == [str(world["jose"].id)]

    async def test_a_collector_finds_only_through_assigned_accounts(self, client, world):
        body = await search(client, world["collector"], national_id=world["jose_id"])
        assert account_ids(body) == {str(world["jose_a"].id)}
        body = await search(client, world["collector"], national_id=world["ana_id"])
        assert body["items"] == []
        body = await search(client, world["collector"], name="Berta Soto")
        assert body["items"] == []

    async def test_an_auditor_may_search(self, client, world):
        body = await search(client, world["auditor"], name="Berta Soto")
        assert debtor_ids(body) == [str(world["berta"].id)]

    async def test_no_token_is_401(self, client, world):
        response = await client.get(SEARCH, params={"name": "Berta Soto"})
        assert_problem(response, 401, "not_authenticated")


class TestMasking:
    async def test_answers_never_carry_the_plaintext_identifiers(self, client, world):
        national_digits = world["phone"][3:]
        for params in (
            {"national_id": world["jose_id"]},
            {"phone": world["phone_written"]},
            {"email": world["email"]},
            {"name": "Jose Perez"},
        ):
            response = await client.get(SEARCH, params=params, headers=world["manager"])
            assert response.status_code == 200, response.text
            assert response.json()["items"], params
            for secret in (world["jose_id"], world["phone"], national_digits, world["email"]):
                assert secret not in response.text, (params, secret)


async def kyc_events(session, action: str = "kyc.search") -> list[AuditEvent]:
    rows = await session.scalars(
        select(AuditEvent).where(col(AuditEvent.action) == action).order_by(col(AuditEvent.seq))
    )
    return list(rows.all())


class TestAudit:
    async def test_every_search_is_on_record_without_the_value(self, client, session, world):
        before = len(await kyc_events(session))
        await search(client, world["manager"], national_id=world["jose_id"])
        await search(client, world["manager"], phone=world["phone_written"])
        await search(client, world["manager"], email=world["email"])
        await search(client, world["manager"], name="José Pérez")
        await search(client, world["manager"], national_id=national_id())
        events = (await kyc_events(session))[before:]
        assert [e.after["criterion"] for e in events] == [
            "national_id",
            "phone",
            "email",
            "name",
            "national_id",
        ]
        first, phone, email, name, unknown = events
        assert first.after["value_masked"] == "****" + world["jose_id"][-4:]
        assert first.after["results"] == 1
        assert first.after["debtor_ids"] == [str(world["jose"].id)]
        assert first.actor_role == "manager"
        assert first.entity_type == "kyc_search"
        assert phone.after["value_masked"] == "****" + world["phone"][-4:]
        assert phone.after["country"] == "MX"
        assert email.after["value_masked"].startswith("j***@")
        assert name.after["value_masked"] == "J*** P***"
        assert unknown.after["results"] == 0
        recorded = json.dumps([[e.before, e.after] for e in events])
        for secret in (world["jose_id"], world["phone"], world["phone"][3:], world["email"]):
            assert secret not in recorded
        assert "José" not in recorded and "Pérez" not in recorded

    async def test_a_refused_search_is_on_record_masked(self, client, session, world):
        before = len(await kyc_events(session))
        refused_before = len(await kyc_events(session, "kyc.search_refused"))
        secret_phone = "55 9876 123"  # one digit short
        secret_id = "KYCSECRET*" + world["jose_id"][3:]
        for params in (
            {"phone": secret_phone},
            {"national_id": secret_id},
            {"email": "jose.secreto@correo"},
            {"name": "Jo"},
            {"name": "José Pérez", "email": "jose.secreto@correo.mx"},
            {},
        ):
            response = await client.get(SEARCH, params=params, headers=world["manager"])
            assert_problem(response, 422, "invalid_input")
        assert len(await kyc_events(session)) == before
        refused = (await kyc_events(session, "kyc.search_refused"))[refused_before:]
        assert [e.after["criteria"] for e in refused] == [
            ["phone"],
            ["national_id"],
            ["email"],
            ["name"],
            ["email", "name"],
            [],
        ]
        phone, national, email, name, several, empty = refused
        assert phone.after["fields"] == ["query.phone"]
        assert phone.after["values_masked"] == {"phone": "****6123"}
        assert national.after["values_masked"]["national_id"].startswith("****")
        assert email.after["values_masked"] == {"email": "j***@correo"}
        assert name.after["values_masked"] == {"name": "J***"}
        assert several.after["values_masked"] == {"email": "j***@correo.mx", "name": "J*** P***"}
        assert empty.after == {"criteria": [], "values_masked": {}, "fields": ["query"]}
        assert all(e.entity_type == "kyc_search" and e.actor_role == "manager" for e in refused)
        recorded = json.dumps([[e.before, e.after] for e in refused])
        for secret in ("9876", secret_id, world["jose_id"], "secreto", "José", "Pérez"):
            assert secret not in recorded, secret


class TestInvalidQueries:
    async def test_no_criterion(self, client, world):
        response = await client.get(SEARCH, headers=world["manager"])
        assert_problem(response, 422, "invalid_input")
        assert [e["field"] for e in response.json()["errors"]] == ["query"]

    async def test_several_criteria_name_each(self, client, world):
        response = await client.get(
            SEARCH,
            params={"name": "José Pérez", "phone": world["phone_written"]},
            headers=world["manager"],
        )
        assert_problem(response, 422, "invalid_input")
        assert {e["field"] for e in response.json()["errors"]} == {"query.name", "query.phone"}

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"phone": "12"}, "query.phone"),
            ({"phone": "call me maybe"}, "query.phone"),
            ({"phone": "55 1234 5678", "country": "CO"}, "query.phone"),
            ({"name": "ab"}, "query.name"),
            ({"name": " a  b "}, "query.name"),
            ({"email": "nobody"}, "query.email"),
            ({"national_id": "ABC*123"}, "query.national_id"),
            ({"national_id": "--"}, "query.national_id"),
        ],
    )
    async def test_values_that_cannot_be_searched(self, client, world, params, field):
        response = await client.get(SEARCH, params=params, headers=world["manager"])
        assert_problem(response, 422, "invalid_input")
        errors = response.json()["errors"]
        assert [e["field"] for e in errors] == [field]
        # The problem does not echo what was searched for.
        for value in params.values():
            if len(value.strip()) > 4:
                assert value.strip() not in response.text

    @pytest.mark.parametrize(
        "params",
        [
            {"name": "José Pérez", "limit": 0},
            {"name": "José Pérez", "limit": 51},
            {"phone": "5512345678", "country": "XX"},
            {"name": "x" * 201},
        ],
    )
    async def test_out_of_range_parameters(self, client, world, params):
        response = await client.get(SEARCH, params=params, headers=world["manager"])
        assert_problem(response, 422, "validation_failed")


class TestRateLimit:
    @pytest.fixture
    def settings(self) -> Settings:
        """The suite's settings with a limit of three searches a minute."""
        return Settings(  # type: ignore[call-arg]
            env="test", database_url=None, log_json=True, kyc_searches_per_minute=3, _env_file=None
        )

    async def test_the_fourth_search_in_a_minute_is_429_with_retry_after(
        self, client, session, world
    ):
        before = len(await kyc_events(session))
        for _ in range(3):
            await search(client, world["manager"], name="Ana Ruiz")
        response = await client.get(SEARCH, params={"name": "Ana Ruiz"}, headers=world["manager"])
        assert response.status_code == 429, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(response.headers["Retry-After"]) <= 60
        assert response.json()["status"] == 429
        assert response.json()["code"] == "rate_limited"
        # A refused search is not on record as a search.
        assert len(await kyc_events(session)) == before + 3

    async def test_the_limit_is_per_user(self, client, world):
        for _ in range(3):
            await search(client, world["manager"], name="Ana Ruiz")
        response = await client.get(SEARCH, params={"name": "Ana Ruiz"}, headers=world["auditor"])
        assert response.status_code == 200

    async def test_the_limit_holds_across_api_processes(
        self, client, engine, sessionmaker, settings, world
    ):
        """Two apps on one database stand for two worker processes, each with a window of its
        own: the searches on record count for both, so the fourth is refused wherever it
        lands."""
        other = create_app(settings, Database(engine, sessionmaker))
        async with AsyncClient(transport=ASGITransport(app=other), base_url="http://t") as two:
            for where in (client, two, client):
                await search(where, world["manager"], name="Ana Ruiz")
            response = await two.get(SEARCH, params={"name": "Ana Ruiz"}, headers=world["manager"])
        assert response.status_code == 429, response.text
        assert response.json()["code"] == "rate_limited"

    async def test_a_search_a_minute_old_has_left_the_window(self, session, world, make_user):
        from datetime import UTC, datetime, timedelta

        from app.domain.errors import RateLimited
        from app.services import audit
        from tests.conftest import principal_of

        principal = principal_of(await make_user(Role.MANAGER))
        now = datetime.now(UTC)
        for seconds_ago in (61, 59, 30):
            await audit.record(
                session, principal, "kyc.search", "kyc_search", str(seconds_ago),
                now=now - timedelta(seconds=seconds_ago),
            )  # fmt: skip
        # Two within the minute: a third fits under a limit of three, a fourth does not,
        # and the wait is until the older of the two leaves the window (at most a second off).
        await service.take_search_slot(session, principal, 3, now=now)
        await audit.record(session, principal, "kyc.search", "kyc_search", "0", now=now)
        with pytest.raises(RateLimited) as refused:
            await service.take_search_slot(session, principal, 3, now=now)
        assert refused.value.retry_after == 1

    async def test_invalid_searches_count_too(self, client, world):
        for _ in range(3):
            response = await client.get(SEARCH, params={"name": "ab"}, headers=world["manager"])
            assert_problem(response, 422, "invalid_input")
        response = await client.get(SEARCH, params={"name": "Ana Ruiz"}, headers=world["manager"])
        assert_problem(response, 429, "rate_limited")


def test_criteria_are_the_four_documented_ones():
    assert {c.value for c in Criterion} == {"national_id", "phone", "email", "name"}


def test_a_name_is_masked_to_initials():
    assert mask_name("José  pérez") == "J*** P***"


@pytest.mark.parametrize(
    ("query", "masked"),
    [
        (service.SearchQuery(national_id="AB12X"), {"national_id": "****"}),
        (service.SearchQuery(national_id="pgjl-800101*h"), {"national_id": "****101H"}),
        (service.SearchQuery(phone="12 34 5"), {"phone": "****"}),
        (service.SearchQuery(email="jose"), {"email": "****"}),
        (service.SearchQuery(email="jose@José Pérez"), {"email": "****"}),
        (service.SearchQuery(name="a b"), {"name": "A*** B***"}),
    ],
)
def test_a_refused_value_is_masked_no_more_than_a_valid_one(query, masked):
    assert service.refused_masks(query) == masked
