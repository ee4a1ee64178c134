"""Secure by default (issue 17): an unset environment is production, and a token that claims a
longer life than the configured one is refused, however well it is signed."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.config import ConfigurationError, Settings
from app.db import Database
from app.domain.roles import Role
from app.main import create_app
from app.models.audit import AuditEvent
from app.models.partner import Partner
from tests.conftest import bearer_for
from tests.factories import assert_problem, make_partner, partner_bearer

PARTNERS = "/api/v1/partners"
TEN_YEARS_IN_MINUTES = 10 * 365 * 24 * 60


async def count(session, model) -> int:
    return (await session.execute(select(func.count()).select_from(model))).scalar_one()


class TestUnsetEnvironment:
    def test_an_unset_environment_is_production(self, monkeypatch):
        monkeypatch.delenv("CARTERA_ENV", raising=False)
        assert Settings(_env_file=None).env == "production"  # type: ignore[call-arg]

    def test_the_published_defaults_do_not_start_an_app(self, monkeypatch, engine, sessionmaker):
        """With the default signing secret a forged partner token would read /partners: the
        app refuses to start instead, and says which setting is missing."""
        monkeypatch.delenv("CARTERA_ENV", raising=False)
        defaults = Settings(_env_file=None)  # type: ignore[call-arg]
        with pytest.raises(ConfigurationError, match="CARTERA_JWT_SECRET"):
            create_app(defaults, Database(engine, sessionmaker))

    def test_development_is_said_explicitly(self, monkeypatch):
        monkeypatch.setenv("CARTERA_ENV", "development")
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        assert settings.env == "development"
        settings.check_deployable()


class TestTokenLifetime:
    @pytest.fixture
    def long_lived(self, settings: Settings) -> Settings:
        """The app's own key and issuer, but a ten-year lifetime (model_copy skips the bound
        that keeps such a value out of the configuration)."""
        return settings.model_copy(update={"access_token_minutes": TEN_YEARS_IN_MINUTES})

    async def test_a_staff_token_living_ten_years_is_refused(
        self, client, make_user, session, long_lived
    ):
        admin = await make_user(Role.ADMIN)
        headers = bearer_for(long_lived, admin)
        partners, events = await count(session, Partner), await count(session, AuditEvent)
        for path in ("/api/v1/users/me", PARTNERS):
            response = await client.get(path, headers=headers)
            assert_problem(response, 401, "not_authenticated")
        created = await client.post(
            PARTNERS,
            json={"legal_name": "Financiera Eterna", "tax_id": "FEE010101AB1", "country": "MX"},
            headers=headers,
        )
        assert_problem(created, 401, "not_authenticated")
        assert created.headers["content-type"] == "application/problem+json"
        assert await count(session, Partner) == partners
        assert await count(session, AuditEvent) == events

    async def test_a_partner_token_living_ten_years_cannot_read_partners(
        self, client, session, long_lived
    ):
        partner = await make_partner(session)
        events = await count(session, AuditEvent)
        response = await client.get(
            PARTNERS, headers=await partner_bearer(session, long_lived, partner)
        )
        assert_problem(response, 401, "not_authenticated")
        assert response.headers["www-authenticate"] == "Bearer"
        assert await count(session, AuditEvent) == events

    async def test_a_token_of_the_configured_lifetime_is_accepted(
        self, client, make_user, settings
    ):
        admin = await make_user(Role.ADMIN)
        response = await client.get("/api/v1/users/me", headers=bearer_for(settings, admin))
        assert response.status_code == 200, response.text
