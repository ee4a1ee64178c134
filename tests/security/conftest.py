"""The security tests' settings: the suite's, with a data folder of the test's own (so a test
can show that nothing, documents included, is written there)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Settings
from tests.api.test_interactions import floor  # noqa: F401  (fixture: a collector's desk)
from tests.api.test_payments import desk  # noqa: F401  (fixture: a partner's payment desk)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        env="test", database_url=None, log_json=True, data_dir=tmp_path, _env_file=None
    )
