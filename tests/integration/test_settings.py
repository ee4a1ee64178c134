"""Production refuses unsafe settings."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from app.config import ConfigurationError, Settings, to_asyncpg_url
from app.domain.crypto import new_key_text
from app.main import create_app

PRODUCTION_KEYS = {
    "data_keys": SecretStr(new_key_text(1) + "," + new_key_text(2)),
    "blind_index_key": SecretStr("i" * 40),
}


def production(**overrides) -> Settings:
    values = {
        "env": "production",
        "database_url": SecretStr("postgresql://db/cartera"),
        "_env_file": None,
        **PRODUCTION_KEYS,
        **overrides,
    }
    return Settings(**values)


def test_production_with_the_default_secret_refuses_to_start():
    with pytest.raises(ConfigurationError, match="CARTERA_JWT_SECRET"):
        create_app(production())


def test_production_with_a_short_secret_refuses_to_start():
    with pytest.raises(ConfigurationError):
        create_app(production(jwt_secret=SecretStr("short")))


def test_production_without_a_database_url_refuses_to_start():
    with pytest.raises(ConfigurationError, match="DATABASE_URL"):
        production(jwt_secret=SecretStr("k" * 40), database_url=None).check_deployable()


def test_production_with_a_real_secret_starts():
    app = create_app(production(jwt_secret=SecretStr("k" * 40)))
    assert app.title == "Cartera API"


@pytest.mark.parametrize("key", ["data_keys", "blind_index_key"])
def test_production_with_the_development_data_keys_refuses_to_start(key):
    defaults = Settings(_env_file=None)
    with pytest.raises(ConfigurationError, match=key.upper()):
        production(
            jwt_secret=SecretStr("k" * 40), **{key: getattr(defaults, key)}
        ).check_deployable()


@pytest.mark.parametrize(
    "ring",
    ["1:c2hvcnQ=", "not-a-ring", "0:" + new_key_text(1)[2:], "1:!!!!"],
    ids=["short key", "no version", "version zero", "not base64"],
)
def test_a_malformed_key_ring_is_refused_at_start(ring):
    with pytest.raises(ValueError):
        Settings(_env_file=None, data_keys=SecretStr(ring))


def test_development_accepts_the_default_secret():
    Settings(env="development", _env_file=None).check_deployable()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h:5432/d", "postgresql+asyncpg://u:p@h:5432/d"),
        ("postgres://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql://u@h/d?sslmode=require", "postgresql+asyncpg://u@h/d?ssl=require"),
        (
            "postgresql://u@/d?host=/tmp/s&sslmode=disable",
            "postgresql+asyncpg://u@/d?host=/tmp/s&ssl=disable",
        ),
    ],
)
def test_database_urls_get_the_asyncpg_driver(given, expected):
    assert to_asyncpg_url(given) == expected


def test_other_database_urls_are_refused():
    with pytest.raises(ConfigurationError):
        to_asyncpg_url("sqlite:///cartera.db")


def test_the_engine_keeps_statement_parameters_out_of_errors():
    from app.db import make_engine

    engine = make_engine("postgresql+asyncpg://u@localhost/d", Settings(_env_file=None))
    assert engine.sync_engine.hide_parameters is True


@pytest.mark.parametrize(
    ("env", "log_json", "expected"),
    [
        ("production", None, True),  # a log shipper reads JSON lines
        ("development", None, False),  # `make run` prints readable lines
        ("test", None, False),
        ("development", True, True),  # CARTERA_LOG_JSON decides when it is set
        ("production", False, False),
    ],
)
def test_logs_are_json_in_production_and_console_lines_elsewhere(env, log_json, expected):
    settings = Settings(env=env, log_json=log_json, _env_file=None)  # type: ignore[call-arg]
    assert settings.logs_as_json is expected
