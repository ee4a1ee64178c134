"""Alembic, driven from code: the CLI, the readiness probe and the tests share this."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from alembic import command

ROOT = Path(__file__).resolve().parent.parent
ALEMBIC_DIR = ROOT / "alembic"


def alembic_config(database_url: str | None = None) -> Config:
    """Alembic's config; the URL, when given, wins over the settings (tests use this)."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    if database_url is not None:
        config.attributes["database_url"] = database_url
    return config


@lru_cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def check(database_url: str | None = None) -> None:
    """Raise when autogenerate finds a difference between the models and the database."""
    command.check(alembic_config(database_url))
