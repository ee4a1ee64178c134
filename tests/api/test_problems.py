"""Every error answer is RFC 9457 problem+json, in English, Spanish or Brazilian Portuguese,
and leaks nothing."""

from __future__ import annotations

import logging
import re
import uuid

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text

from app.deps import SessionDep
from app.domain.roles import Role
from tests.factories import assert_problem as assert_any_problem

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def assert_problem(response, status: int, code: str) -> dict:
    """The shared check, and every member of the problem with the request's id."""
    body = assert_any_problem(response, status, code)
    assert response.headers["content-type"] == "application/problem+json"
    assert body.keys() >= PROBLEM_KEYS
    assert body["request_id"] == response.headers["x-request-id"]
    return body


class TestEachStatus:
    async def test_401(self, client):
        assert_problem(await client.get("/api/v1/users"), 401, "not_authenticated")

    async def test_403(self, client, make_user, auth_headers):
        collector = await make_user(Role.COLLECTOR)
        response = await client.get("/api/v1/users", headers=auth_headers(collector))
        assert_problem(response, 403, "permission_denied")

    async def test_404_for_an_unknown_route(self, client):
        assert_problem(await client.get("/api/v1/nothing-here"), 404, "not_found")

    async def test_404_for_an_unknown_id(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        response = await client.get(f"/api/v1/users/{uuid.uuid4()}", headers=auth_headers(admin))
        assert_problem(response, 404, "not_found")

    async def test_405(self, client):
        assert_problem(await client.put("/api/v1/users/me"), 405, "method_not_allowed")

    async def test_405_names_every_method_the_path_offers(self, client):
        response = await client.put("/api/v1/users")
        assert_problem(response, 405, "method_not_allowed")
        assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "POST"}

    async def test_409(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        body = {
            "username": admin.username,
            "full_name": "Dup",
            "role": "auditor",
            "password": "a-long-password",
        }
        response = await client.post("/api/v1/users", json=body, headers=auth_headers(admin))
        assert_problem(response, 409, "name_taken")
        assert response.json()["detail"] == "That user name is taken already."
        spanish = await client.post(
            "/api/v1/users", json=body, headers={**auth_headers(admin), "Accept-Language": "es"}
        )
        assert spanish.json()["detail"] == "Ya está en uso: nombre de usuario."

    async def test_413_by_declared_length(self, client, settings):
        response = await client.post(
            "/api/v1/auth/token",
            content=b"u" * (settings.max_body_bytes + 1),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert_problem(response, 413, "payload_too_large")

    async def test_413_while_streaming_without_a_length(self, client, settings):
        async def chunks():
            for _ in range(settings.max_body_bytes // 65536 + 2):
                yield b"x" * 65536

        response = await client.post(
            "/api/v1/users", content=chunks(), headers={"content-type": "application/json"}
        )
        assert_problem(response, 413, "payload_too_large")

    async def test_an_oversized_form_field_is_a_clear_400(self, client):
        response = await client.post(
            "/api/v1/auth/token", data={"username": "u", "password": "p" * (2 * 1024 * 1024)}
        )
        body = assert_problem(response, 400, "http_error")
        assert "maximum size" in body["detail"]

    async def test_422_lists_every_invalid_field(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        response = await client.post(
            "/api/v1/users",
            json={"username": "x", "role": "pope", "password": "short"},
            headers=auth_headers(admin),
        )
        body = assert_problem(response, 422, "validation_failed")
        fields = {e["field"] for e in body["errors"]}
        assert {"body.username", "body.role", "body.password", "body.full_name"} <= fields
        assert all(e["message"] and e["type"] for e in body["errors"])

    async def test_422_for_a_malformed_json_body(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        headers = {**auth_headers(admin), "content-type": "application/json"}
        response = await client.post("/api/v1/users", content=b"{not json", headers=headers)
        assert_problem(response, 422, "validation_failed")

    async def test_422_for_a_body_that_is_not_utf8(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        headers = {**auth_headers(admin), "content-type": "application/json"}
        response = await client.post(
            "/api/v1/users", content=b'{"username": "\xff\xfe"}', headers=headers
        )
        body = assert_problem(response, 422, "validation_failed")
        assert body["errors"][0]["field"] == "body"

    async def test_500_leaks_nothing_and_is_logged_with_the_request_id(self, app, caplog):
        secret = "internal-detail-that-must-not-leak"

        async def explode() -> None:
            raise RuntimeError(secret)

        app.add_api_route("/test-explode", explode, methods=["GET"])
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            with caplog.at_level(logging.ERROR):
                response = await client.get("/test-explode", headers={"X-Request-ID": "req-500"})
        body = assert_problem(response, 500, "internal_error")
        assert secret not in response.text
        assert "RuntimeError" not in response.text
        assert body["request_id"] == "req-500"
        logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert any(isinstance(r.msg, dict) and r.msg.get("request_id") == "req-500" for r in logged)


class TestLanguage:
    @pytest.mark.parametrize("header", ["es", "es-MX", "es-MX,es;q=0.9,en;q=0.5", "fr, es;q=0.4"])
    async def test_spanish_when_preferred(self, client, header):
        body = (await client.get("/api/v1/users", headers={"Accept-Language": header})).json()
        assert body["title"] == "No autenticado"
        assert body["code"] == "not_authenticated"

    @pytest.mark.parametrize("header", [None, "en-US", "de", "en;q=1, es;q=0.5"])
    async def test_english_otherwise(self, client, header):
        headers = {"Accept-Language": header} if header else {}
        body = (await client.get("/api/v1/users", headers=headers)).json()
        assert body["title"] == "Not authenticated"

    async def test_field_messages_are_translated(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        response = await client.post(
            "/api/v1/users", json={}, headers={**auth_headers(admin), "Accept-Language": "es"}
        )
        body = response.json()
        assert body["title"] == "Solicitud inválida"
        assert {e["message"] for e in body["errors"]} == {"Campo obligatorio."}

    async def test_a_spanish_request_gets_a_spanish_problem_that_says_so(self, client):
        response = await client.get("/api/v1/users", headers={"Accept-Language": "es-MX"})
        body = assert_problem(response, 401, "not_authenticated")
        assert body["title"] == "No autenticado"
        assert body["detail"] == "Se requiere un token de acceso válido."
        assert response.headers["content-language"] == "es"
        assert "accept-language" in response.headers["vary"].lower()

    @pytest.mark.parametrize("header", ["pt-BR", "pt", "pt-BR,pt;q=0.9,en;q=0.5"])
    async def test_a_brazilian_request_gets_portuguese(self, client, header):
        response = await client.get("/api/v1/users", headers={"Accept-Language": header})
        body = assert_problem(response, 401, "not_authenticated")
        assert body["title"] == "Não autenticado"
        assert body["detail"] == "É preciso um token de acesso válido."
        assert response.headers["content-language"] == "pt-BR"

    async def test_no_header_is_english_and_says_so(self, client):
        response = await client.get("/api/v1/users")
        assert response.json()["title"] == "Not authenticated"
        assert response.headers["content-language"] == "en"
        assert "accept-language" in response.headers["vary"].lower()

    @pytest.mark.parametrize(
        ("header", "language"),
        [
            ("en;q=0.3, es;q=0.9, pt-BR;q=0.5", "es"),
            ("es;q=0.2, pt-BR;q=0.4", "pt-BR"),
            ("es;q=0, pt;q=0, fr", "en"),
        ],
    )
    async def test_q_values_are_respected(self, client, header, language):
        response = await client.get("/api/v1/users", headers={"Accept-Language": header})
        assert response.headers["content-language"] == language

    async def test_validation_errors_keep_the_allowed_values_in_portuguese(
        self, client, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        response = await client.get(
            "/api/v1/users",
            params={"role": "pilot"},
            headers={**auth_headers(admin), "Accept-Language": "pt-BR"},
        )
        body = assert_problem(response, 422, "validation_failed")
        assert body["title"] == "Requisição inválida"
        [error] = body["errors"]
        assert error["message"].startswith("Deve ser um de: 'admin', ")
        assert "'collector'" in error["message"] and " or " not in error["message"]

    async def test_every_answer_says_its_language_not_only_problems(self, client):
        for header, language in ((None, "en"), ("es-CO", "es"), ("pt-BR", "pt-BR")):
            headers = {"Accept-Language": header} if header else {}
            for path in ("/healthz", "/openapi.json"):
                response = await client.get(path, headers=headers)
                assert response.status_code == 200
                assert response.headers["content-language"] == language
                assert response.headers["vary"] == "Accept-Language"

    async def test_a_streamed_csv_says_its_language_too(self, client, make_user, auth_headers):
        manager = await make_user(Role.MANAGER)
        response = await client.get(
            "/api/v1/reports/aging",
            headers={**auth_headers(manager), "Accept": "text/csv", "Accept-Language": "es"},
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert response.headers["content-language"] == "es"
        assert "accept-language" in response.headers["vary"].lower()


class TestRequestIdAndHeaders:
    async def test_a_valid_request_id_is_echoed(self, client):
        response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        assert response.headers["x-request-id"] == "abc-123"

    async def test_an_invalid_request_id_is_replaced(self, client):
        response = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
        assert response.headers["x-request-id"] != "bad id\twith spaces"
        assert len(response.headers["x-request-id"]) == 32

    async def test_security_headers_on_every_response(self, client):
        for response in (await client.get("/healthz"), await client.get("/api/v1/users")):
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"

    async def test_the_api_allows_nothing_to_load_and_the_docs_load_only_from_here(self, client):
        api = await client.get("/healthz")
        assert api.headers["content-security-policy"].startswith("default-src 'none'")
        for page in ("/docs", "/redoc"):
            docs = await client.get(page)
            assert docs.status_code == 200
            policy = docs.headers["content-security-policy"]
            # Scripts from this server only, none inline; nothing from elsewhere at all.
            assert "script-src 'self';" in policy and "http" not in policy
            assert "<script>" not in docs.text and "http" not in docs.text
            assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
            assert assets and all(a.startswith("/") for a in assets), assets
            for asset in assets:
                loaded = await client.get(asset)
                assert loaded.status_code == 200, asset
                assert loaded.content, asset

    async def test_logs_carry_the_request_id_and_no_credentials(self, client, caplog):
        with caplog.at_level(logging.INFO):
            await client.post(
                "/api/v1/auth/token",
                data={"username": "maria.perez", "password": "her-secret-pass"},
                headers={"X-Request-ID": "log-check-1"},
            )
        text = "\n".join(str(r.msg) for r in caplog.records)
        assert "maria.perez" not in text and "her-secret-pass" not in text
        request_lines = [
            r.msg
            for r in caplog.records
            if isinstance(r.msg, dict) and r.msg.get("event") == "request"
        ]
        assert request_lines and request_lines[-1]["request_id"] == "log-check-1"
        assert request_lines[-1]["route"] == "/api/v1/auth/token"


class TestCors:
    async def test_only_configured_origins_are_allowed(self, engine, sessionmaker, settings):
        from app.db import Database
        from app.main import create_app

        app = create_app(
            settings.model_copy(update={"cors_origins": ["https://spa.example"]}),
            Database(engine, sessionmaker),
        )
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            preflight = {"Access-Control-Request-Method": "GET"}
            allowed = await client.options(
                "/api/v1/users", headers={"Origin": "https://spa.example", **preflight}
            )
            denied = await client.options(
                "/api/v1/users", headers={"Origin": "https://evil.example", **preflight}
            )
        assert allowed.headers.get("access-control-allow-origin") == "https://spa.example"
        assert "access-control-allow-origin" not in denied.headers

    async def test_the_language_joins_the_origin_in_vary(self, engine, sessionmaker, settings):
        from app.db import Database
        from app.main import create_app

        app = create_app(
            settings.model_copy(update={"cors_origins": ["https://spa.example"]}),
            Database(engine, sessionmaker),
        )
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            response = await client.get(
                "/healthz", headers={"Origin": "https://spa.example", "Accept-Language": "es"}
            )
        varies = [v.strip().lower() for v in response.headers["vary"].split(",")]
        assert "origin" in varies and varies.count("accept-language") == 1
        assert response.headers["content-language"] == "es"


class TestOddInputNeverReachesTheDatabaseAsA500:
    @pytest.mark.parametrize("blank", ["   ", "\t", " \n "])
    async def test_names_of_nothing_but_blanks_are_refused(
        self, client, make_user, auth_headers, blank
    ):
        # They used to pass as "" (the length was checked before the trim).
        from tests.helpers.partners import partner_body

        admin = await make_user(Role.ADMIN)
        cases = {
            "body.name": client.post(
                "/api/v1/teams", json={"name": blank}, headers=auth_headers(admin)
            ),
            "body.legal_name": client.post(
                "/api/v1/partners", json=partner_body(legal_name=blank), headers=auth_headers(admin)
            ),
            "body.full_name": client.post(
                "/api/v1/users",
                json={
                    "username": "blank1",
                    "full_name": blank,
                    "role": "auditor",
                    "password": "a-long-password",
                },
                headers=auth_headers(admin),
            ),
        }
        for field, pending in cases.items():
            problem = assert_problem(await pending, 422, "validation_failed")
            assert [e["field"] for e in problem["errors"]] == [field]

    async def test_nul_characters_are_a_validation_problem(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        auditor = await make_user(Role.AUDITOR)
        cases = [
            client.post("/api/v1/auth/token", data={"username": "a\x00b", "password": "x"}),
            client.post(
                "/api/v1/auth/client-token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": "a\x00",
                    "client_secret": "x",
                },
            ),
            client.post(
                "/api/v1/users",
                json={
                    "username": "nul1",
                    "full_name": "a\x00b",
                    "role": "auditor",
                    "password": "a-long-password",
                },
                headers=auth_headers(admin),
            ),
            client.post("/api/v1/teams", json={"name": "t\x00"}, headers=auth_headers(admin)),
            client.get(
                "/api/v1/audit", params={"entity_type": "a\x00"}, headers=auth_headers(auditor)
            ),
        ]
        for pending in cases:
            response = await pending
            assert_problem(response, 422, "validation_failed")

    @pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
    async def test_instants_beyond_the_calendar_are_a_validation_problem(
        self, client, make_user, auth_headers, instant
    ):
        auditor = await make_user(Role.AUDITOR)
        response = await client.get(
            "/api/v1/audit", params={"occurred_from": instant}, headers=auth_headers(auditor)
        )
        assert_problem(response, 422, "validation_failed")

    async def test_a_data_exception_is_a_422_and_its_parameters_stay_out_of_logs(self, app, caplog):
        async def divide(session: SessionDep) -> None:
            await session.execute(text("SELECT length(:v) / 0"), {"v": "maria.secreta@mail.mx"})

        app.add_api_route("/test-divide", divide, methods=["GET"])
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            with caplog.at_level(logging.INFO):
                response = await client.get("/test-divide")
        assert_problem(response, 422, "invalid_input")
        assert "maria.secreta" not in response.text
        assert all("maria.secreta" not in str(r.msg) for r in caplog.records)


async def test_a_serialization_failure_is_a_retryable_409_in_either_language(app):
    async def collide(session: SessionDep) -> None:
        await session.execute(
            text("DO $$ BEGIN RAISE EXCEPTION 'collision' USING ERRCODE = '40001'; END $$")
        )

    app.add_api_route("/test-collide", collide, methods=["GET"])
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        english = await client.get("/test-collide")
        spanish = await client.get("/test-collide", headers={"Accept-Language": "es"})
    assert_problem(english, 409, "concurrent_change")
    assert spanish.json()["title"] == "Cambio simultáneo"
    assert "collision" not in english.text
