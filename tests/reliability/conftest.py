"""The reliability tests' fixtures: the security suite's settings (a data folder of the test's
own) and seeded world, and the integration suite's committed databases for races."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Settings
from tests.integration.conftest import committed_url, live  # noqa: F401  (fixtures)
from tests.security._world import build_world


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        env="test", database_url=None, log_json=True, data_dir=tmp_path, _env_file=None
    )


@pytest.fixture
async def world(client, session, settings, make_user, auth_headers):
    return await build_world(client, session, settings, make_user, auth_headers)
