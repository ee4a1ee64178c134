"""``cartera serve --workers 2`` and ``cartera worker`` as real processes on the test
PostgreSQL: the API's /metrics adds up the series of every uvicorn worker (prometheus_client's
multiprocess mode, set up by the command), and the job worker answers /healthz and /metrics on
its own port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from app.jobs.health_server import worker_probes
from tests.factories import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCRAPE_TOKEN = "scrape-" + "w" * 40
SCRAPER = {"Authorization": f"Bearer {SCRAPE_TOKEN}"}


@dataclass
class Started:
    process: subprocess.Popen[bytes]
    base: str
    folder: Path

    def log(self) -> str:
        return (self.folder / "process.log").read_text(errors="replace")


def _env(url: str, folder: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CARTERA_") and key != "PROMETHEUS_MULTIPROC_DIR"
    }
    return env | {
        "PYTHONPATH": str(ROOT),
        "CARTERA_ENV": "test",
        "CARTERA_DATABASE_URL": url,
        "CARTERA_DATA_DIR": str(folder),
        "CARTERA_WORKER_IN_PROCESS": "false",
        "CARTERA_LOG_LEVEL": "WARNING",
        "CARTERA_METRICS_TOKEN": SCRAPE_TOKEN,
        # Temporary folders the command makes go here, where the test can look.
        "TMPDIR": str(folder),
        **extra,
    }


def _start(args: list[str], env: dict[str, str], folder: Path, base: str, probe: str) -> Started:
    log = (folder / "process.log").open("wb")
    process = subprocess.Popen(
        [str(BIN / "cartera"), *args], cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=log
    )
    started = Started(process, base, folder)
    deadline = time.monotonic() + 90
    while True:
        assert process.poll() is None, started.log()
        try:
            if httpx.get(f"{base}{probe}", timeout=2).status_code == 200:
                return started
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "not ready in 90 s:\n" + started.log()
        time.sleep(0.2)


def _stop(started: Started) -> None:
    started.process.terminate()
    try:
        started.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        started.process.kill()
        started.process.wait(timeout=30)


def _requests_to(text: str, route: str) -> float:
    """The sum of ``cartera_http_requests_total`` over every status of one route."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "cartera_http_requests"
        for sample in family.samples
        if sample.name == "cartera_http_requests_total" and sample.labels["route"] == route
    )


def _per_process(folder: Path, route: str) -> dict[int, float]:
    """Each process's own count of requests to ``route``, read from its file."""
    counts: dict[int, float] = {}
    for path in folder.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for family in MultiProcessCollector.merge([str(path)]):
            for sample in family.samples:
                if sample.name == "cartera_http_requests_total" and (
                    sample.labels.get("route") == route
                ):
                    counts[pid] = counts.get(pid, 0.0) + sample.value
    return counts


def _pids(folder: Path, kind: str) -> list[int]:
    return [int(path.stem.rsplit("_", 1)[1]) for path in folder.glob(f"{kind}_*.db")]


@pytest.fixture
def metrics_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "metrics"
    folder.mkdir()
    # A previous run's file: the command empties the folder before the workers start.
    (folder / "counter_999999999.db").write_bytes(b"left over")
    return folder


def test_metrics_add_up_over_the_workers_and_live_gauges_leave_with_them(
    committed_url: str, tmp_path: Path, metrics_folder: Path
):
    port = free_port()
    env = _env(committed_url, tmp_path, PROMETHEUS_MULTIPROC_DIR=str(metrics_folder))
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    started = _start(args, env, tmp_path, f"http://127.0.0.1:{port}", "/readyz")
    try:
        assert not (metrics_folder / "counter_999999999.db").exists()
        for _ in range(12):
            assert httpx.get(f"{started.base}/healthz", timeout=30).status_code == 200
        before = _per_process(metrics_folder, "/healthz")
        assert sum(before.values()) == 12
        # The worker that answered is killed: uvicorn starts another in its place, and what
        # it counted is only in its file from now on.
        answered = [pid for pid, count in before.items() if count > 0]
        running = set(_pids(metrics_folder, "gauge_livesum"))
        os.kill(answered[0], signal.SIGKILL)
        # The replacement's files appear once uvicorn has reaped the killed worker.
        deadline = time.monotonic() + 60
        while not set(_pids(metrics_folder, "gauge_livesum")) - running:
            assert time.monotonic() < deadline, "no worker took the killed one's place"
            time.sleep(0.2)
        for _ in range(8):
            assert httpx.get(f"{started.base}/healthz", timeout=30).status_code == 200
        # Whichever live worker answers the scrape reports every worker's requests, the
        # dead one's too, and no longer the dead one's live gauges.
        for _ in range(4):
            scraped = httpx.get(f"{started.base}/metrics", headers=SCRAPER, timeout=30)
            assert scraped.status_code == 200
            assert _requests_to(scraped.text, "/healthz") == 20
        assert "cartera_db_pool_connections_in_use" in scraped.text
        assert not (metrics_folder / f"gauge_livesum_{answered[0]}.db").exists()
        assert list(metrics_folder.glob("gauge_livesum_*.db")), "the live workers' gauges"
    finally:
        _stop(started)
    assert list(metrics_folder.glob("gauge_livesum_*.db")) == []
    # Counters stay: they are totals, read again only after the folder is emptied.
    assert list(metrics_folder.glob("counter_*.db"))


def test_without_a_folder_the_command_makes_one_per_start_and_removes_it(
    committed_url: str, tmp_path: Path
):
    port = free_port()
    env = _env(committed_url, tmp_path)
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    started = _start(args, env, tmp_path, f"http://127.0.0.1:{port}", "/readyz")
    try:
        [made] = tmp_path.glob("cartera-metrics-*")
        assert list(made.glob("counter_*.db"))
        for _ in range(5):
            assert httpx.get(f"{started.base}/healthz", timeout=30).status_code == 200
        scraped = httpx.get(f"{started.base}/metrics", headers=SCRAPER, timeout=30)
        assert _requests_to(scraped.text, "/healthz") == 5
    finally:
        _stop(started)
    assert list(tmp_path.glob("cartera-metrics-*")) == []


@pytest.fixture
def job_worker(committed_url: str, tmp_path: Path) -> Iterator[Started]:
    port = free_port()
    env = _env(committed_url, tmp_path, CARTERA_WORKER_METRICS_PORT=str(port))
    started = _start(
        ["worker", "--poll", "0.2"], env, tmp_path, f"http://127.0.0.1:{port}", "/healthz"
    )
    try:
        yield started
    finally:
        _stop(started)


def test_the_job_worker_answers_its_probes(job_worker: Started):
    health = httpx.get(f"{job_worker.base}/healthz", timeout=5)
    assert health.json() == {"status": "ok"}
    scraped = httpx.get(f"{job_worker.base}/metrics", headers=SCRAPER, timeout=5)
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(scraped.text)}
    assert {"cartera_webhook_deliveries", "cartera_db_pool_connections_in_use"} <= names
    # The worker polls its queues on its pool: connections were taken and given back.
    opened = next(
        family
        for family in text_string_to_metric_families(scraped.text)
        if family.name == "cartera_db_pool_connections_open"
    )
    assert opened.samples[0].value >= 1


def test_the_job_workers_metrics_take_the_scrapers_token(job_worker: Started):
    anonymous = httpx.get(f"{job_worker.base}/metrics", timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    wrong = httpx.get(
        f"{job_worker.base}/metrics",
        headers={"Authorization": f"Bearer {SCRAPE_TOKEN}x"},
        timeout=5,
    )
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "not_authenticated"
    elsewhere = httpx.get(f"{job_worker.base}/admin", timeout=5)
    assert elsewhere.status_code == 404
    assert elsewhere.json()["code"] == "not_found"
    posted = httpx.post(f"{job_worker.base}/healthz", timeout=5)
    assert posted.status_code == 405
    assert posted.json()["code"] == "method_not_allowed"


async def test_a_second_worker_on_the_port_works_without_probes(live, settings):
    _client, _add_user, database = live
    port = free_port()
    mine = settings.model_copy(update={"worker_metrics_port": port})
    async with worker_probes(mine, database) as first, worker_probes(mine, database) as second:
        assert (first, second) == (port, None)
        async with httpx.AsyncClient() as client:
            health = await client.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.json() == {"status": "ok"}
    off = settings.model_copy(update={"worker_metrics_port": 0})
    async with worker_probes(off, database) as none:
        assert none is None
