"""The security tests' settings: the suite's, with a data folder of the test's own (so a test
can show that nothing, documents included, is written there)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Settings


@pytest.fixture
def floor(interactions_floor):
    """The interactions floor: a Mexican partner, a collector and an account in `mid`."""
    return interactions_floor


@pytest.fixture
def desk(payments_desk):
    """The payments desk (tests/helpers/payments.py)."""
    return payments_desk


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        env="test", database_url=None, log_json=True, data_dir=tmp_path, _env_file=None
    )
