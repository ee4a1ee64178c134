"""The job worker's probes on a port of its own: ``GET /healthz`` for an orchestrator's
liveness check and ``GET /metrics`` for the Prometheus scraper (the worker's webhook
deliveries, its database pool, and whatever the job queue registers through
``app.observability.add_collector`` / ``add_scrape_hook``).

``CARTERA_WORKER_METRICS_PORT`` (9464; 0: no server) on ``CARTERA_WORKER_METRICS_HOST``
(127.0.0.1: reachable from the machine only unless said otherwise). When
``CARTERA_METRICS_TOKEN`` is set, ``/metrics`` asks for it as a bearer token, as the API's
does; ``/healthz`` never does. The worker runs no web framework, so this is a few lines of
asyncio: one request per connection, its head read within a time limit and a size bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from prometheus_client import CONTENT_TYPE_LATEST

from app.config import Settings
from app.db import Database
from app.jobs import metrics as job_metrics
from app.observability import exposition, is_scraper
from app.problems import PROBLEM_MEDIA_TYPE, STATUS_CODES, render

log = structlog.get_logger("cartera.worker.probes")

# A probe's request is a line and a few headers; anything slower or larger is cut off.
HEAD_SECONDS = 5.0
HEAD_BYTES = 8 * 1024

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 500: "Internal Server Error"}  # fmt: skip


@asynccontextmanager
async def worker_probes(settings: Settings, database: Database) -> AsyncIterator[int | None]:
    """Serve the probes while the block runs; yields the port listened on (None: disabled)."""
    job_metrics.register()
    if settings.worker_metrics_port == 0:
        yield None
        return

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _answer(reader, writer, settings, database)
        except Exception:
            log.exception("probe request failed")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    try:
        server = await asyncio.start_server(
            answer, settings.worker_metrics_host, settings.worker_metrics_port, limit=HEAD_BYTES
        )
    except OSError as exc:
        # Another worker on this machine holds the port (give each its own): the jobs matter
        # more than the probes, so they run without them, loudly.
        log.error(
            "worker probes not served",
            host=settings.worker_metrics_host,
            port=settings.worker_metrics_port,
            error=str(exc),
        )
        yield None
        return
    port = int(server.sockets[0].getsockname()[1])
    log.info("worker probes listening", host=settings.worker_metrics_host, port=port)
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()


async def _answer(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    settings: Settings,
    database: Database,
) -> None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_SECONDS)
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return  # too slow, too large or cut short: nobody to answer
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3:
        await _send(writer, *_problem(400), head_only=False)
        return
    method, target, _version = parts
    headers = {
        name.strip().lower(): value.strip()
        for name, sep, value in (line.partition(":") for line in header_lines)
        if sep
    }
    path = target.split("?", 1)[0]
    head_only = method == "HEAD"
    if path not in ("/healthz", "/metrics"):
        status, media_type, body = _problem(404)
    elif method not in ("GET", "HEAD"):
        status, media_type, body = _problem(405)
    elif path == "/healthz":
        status, media_type, body = 200, "application/json", json.dumps({"status": "ok"}).encode()
    elif settings.metrics_token is not None and not is_scraper(_bearer(headers), settings):
        status, media_type, body = _problem(401)
    else:
        status, media_type, body = 200, CONTENT_TYPE_LATEST, await exposition(database)
    await _send(writer, status, media_type, body, head_only=head_only)


def _bearer(headers: dict[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _problem(status: int) -> tuple[int, str, bytes]:
    problem = render(STATUS_CODES.get(status, "http_error"), lang="en", status=status)
    return status, PROBLEM_MEDIA_TYPE, problem.model_dump_json(exclude_none=True).encode()


async def _send(
    writer: asyncio.StreamWriter, status: int, media_type: str, body: bytes, *, head_only: bool
) -> None:
    lines = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
        f"Content-Type: {media_type}",
        f"Content-Length: {len(body)}",
        "Cache-Control: no-store",
        "X-Content-Type-Options: nosniff",
        "Connection: close",
    ]
    if status == 401:
        lines.append("WWW-Authenticate: Bearer")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    if not head_only:
        writer.write(body)
    await writer.drain()
