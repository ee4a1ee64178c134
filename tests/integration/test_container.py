"""The container files (Dockerfile, compose.yaml, compose.demo.yaml) hold together with the
code: every command they run exists, every setting they pass is one Cartera reads, the image
runs unprivileged with a health check and no dev tools, and the services start in order.
(This machine has no Docker daemon: building the image is left to where one exists; the
README gives the commands.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILES = ("compose.yaml", "compose.demo.yaml")


def _compose(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))


def _dockerfile() -> list[str]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_the_image_is_multi_stage_unprivileged_and_checks_its_health():
    lines = _dockerfile()
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) == 2 and all("slim" in line for line in stages)
    runtime = lines[lines.index(stages[1]) :]
    user = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert user and user[-1] not in ("root", "0")
    assert any(line.startswith("HEALTHCHECK") and "/healthz" in line for line in runtime)
    assert 'ENTRYPOINT ["cartera"]' in runtime
    installs = " ".join(line for line in lines if "pip install" in line)
    assert "-c constraints.txt" in installs and "[dev" not in installs


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_every_command_the_services_run_exists(name):
    runner = CliRunner()
    dockerfile_cmd = next(line for line in _dockerfile() if line.startswith("CMD "))
    commands = [yaml.safe_load(dockerfile_cmd[4:])]
    for service in _compose(name)["services"].values():
        if "command" in service:
            commands.append(service["command"])
    assert len(commands) >= 4
    for command in commands:
        words = command if isinstance(command, list) else shlex.split(command)
        # Options are checked by asking the command for its help with them dropped, then by
        # finding each option name in that help.
        path = [
            w
            for w in words
            if not w.startswith("-") and not re.fullmatch(r"[\d.${}:\-\w]*[\d}]", w)
        ]
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (command, result.output)
        for option in (w for w in words if w.startswith("--")):
            assert option in result.output, (command, option)


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_every_setting_passed_is_one_cartera_reads(name):
    fields = {f"CARTERA_{field.upper()}" for field in Settings.model_fields}
    services = _compose(name)["services"]
    passed = {
        key
        for service in services.values()
        for key in (service.get("environment") or {})
        if key.startswith("CARTERA_")
    }
    assert passed and passed <= fields, passed - fields


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_the_services_start_in_order(name):
    services = _compose(name)["services"]
    assert services["db"]["image"].startswith("postgres:")
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name_ in ("api", "worker"):
        (needed,) = services[name_]["depends_on"].values()
        assert needed["condition"] == "service_completed_successfully"


def test_production_compose_demands_the_secrets():
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    for secret in ("POSTGRES_PASSWORD", "CARTERA_JWT_SECRET", "CARTERA_DATA_KEYS",
                   "CARTERA_BLIND_INDEX_KEY"):  # fmt: skip
        assert re.search(r"\$\{" + secret + r":\?", text), secret
    assert _compose("compose.yaml")["x-cartera"]["environment"]["CARTERA_ENV"] == (
        "${CARTERA_ENV:-production}"
    )
