"""The ``cartera`` command: serve, database, demo data, contract, users, audit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from app import migrations
from app.config import get_settings
from app.db import EmbeddedPostgres, open_database
from app.observability import (
    MULTIPROC_ENV,
    configure_logging,
    forget_dead_processes,
    prepare_metrics_dir,
)

T = TypeVar("T")

# Request line and headers together; browsers and partner systems stay far below.
MAX_REQUEST_HEAD_BYTES = 64 * 1024

cli = typer.Typer(help="Cartera: debt-collection platform.", no_args_is_help=True)
db_cli = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
demo_cli = typer.Typer(help="Demo data.", no_args_is_help=True)
openapi_cli = typer.Typer(help="The OpenAPI contract.", no_args_is_help=True)
users_cli = typer.Typer(help="Staff users.", no_args_is_help=True)
audit_cli = typer.Typer(help="The audit trail.", no_args_is_help=True)
jobs_cli = typer.Typer(help="Scheduled jobs, run by hand or from cron.", no_args_is_help=True)
keys_cli = typer.Typer(help="Keys of personal data at rest.", no_args_is_help=True)
ledger_cli = typer.Typer(help="The account ledger.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(demo_cli, name="demo")
cli.add_typer(openapi_cli, name="openapi")
cli.add_typer(users_cli, name="users")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(jobs_cli, name="jobs")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(ledger_cli, name="ledger")


@contextmanager
def database_url() -> Iterator[str]:
    """The configured database, or the embedded server for as long as the command runs."""
    configured = get_settings().async_database_url
    if configured is not None:
        yield configured
        return
    embedded = EmbeddedPostgres(get_settings().data_dir)
    try:
        yield embedded.start()
    finally:
        embedded.stop()


def run_in_session(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction."""

    async def main() -> T:
        database = open_database(url, get_settings())
        try:
            async with database.sessionmaker() as session, session.begin():
                return await work(session)
        finally:
            await database.dispose()

    return asyncio.run(main())


def _refuse_demo_in_production() -> None:
    # The demo logins have published passwords.
    if get_settings().env == "production":
        typer.echo("refused: no demo data in production (CARTERA_ENV=production)", err=True)
        raise typer.Exit(2)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def _shared_metrics(workers: int) -> Iterator[None]:
    """Several uvicorn workers share their metrics through a folder (app/observability.py):
    the operator's PROMETHEUS_MULTIPROC_DIR, emptied, or a temporary one for this start,
    removed at the end. The workers find it in the environment they inherit."""
    configured = get_settings().prometheus_multiproc_dir
    if workers == 1 and configured is None:
        yield  # one process: its metrics stay in memory
        return
    folder, temporary = prepare_metrics_dir(configured)
    os.environ[MULTIPROC_ENV] = str(folder)
    try:
        yield
    finally:
        # uvicorn's workers end on the signal they were stopped with, past any atexit hook:
        # their live gauges are dropped here (and at every scrape, for one that died).
        forget_dead_processes(folder)
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PORT", help="Port (env PORT).")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
    upgrade: Annotated[bool, typer.Option(help="Apply migrations first.")] = False,
    demo: Annotated[bool, typer.Option(help="Load the demo data if absent.")] = False,
) -> None:
    """Serve the API with uvicorn (on the embedded PostgreSQL unless one is configured)."""
    import uvicorn

    get_settings().check_deployable()
    if demo:
        _refuse_demo_in_production()
    # Before migrations and the demo seed, so that their lines look like the server's.
    configure_logging(get_settings().log_level, get_settings().logs_as_json)
    with database_url() as url:
        if upgrade:
            migrations.upgrade(url)
        if demo:
            from app.services import demo as demo_service

            if run_in_session(url, demo_service.seed):
                typer.echo("demo data loaded (logins in README.md, password cartera-demo)")
        # uvicorn re-raises SIGTERM once it has shut down; make that an exception so the
        # embedded server is stopped on the way out rather than left running.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        # Worker processes read the URL of the server started here.
        if get_settings().database_url is None:
            # The embedded default has no separate `cartera worker`: run jobs in-process.
            os.environ.setdefault("CARTERA_WORKER_IN_PROCESS", "true")
        os.environ["CARTERA_DATABASE_URL"] = url
        get_settings.cache_clear()
        typer.echo(f"Cartera API on http://{host}:{port} (docs at /docs)")
        with _shared_metrics(workers):
            uvicorn.run(
                "app.main:create_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                access_log=False,
                log_config=None,
                proxy_headers=True,
                # Only the configured proxies may name the client (uvicorn would trust
                # 127.0.0.1 and ::1 by default); the app applies the same list again.
                forwarded_allow_ips=[str(net) for net in get_settings().trusted_proxies],
                # h11 bounds the request head (httptools does not): an oversized header is
                # refused before it reaches the app.
                http="h11",
                h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
            )


@db_cli.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    with database_url() as url:
        migrations.upgrade(url, revision)
    typer.echo(f"database at {revision}")


@db_cli.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Revert migrations down to REVISION (``base`` empties the schema)."""
    with database_url() as url:
        migrations.downgrade(url, revision)
    typer.echo(f"database at {revision}")


@db_cli.command("check")
def db_check() -> None:
    """Fail if the models have changes no migration captures (alembic check)."""
    with database_url() as url:
        migrations.upgrade(url)
        migrations.check(url)
    typer.echo("no drift between models and migrations")


@demo_cli.command("seed")
def demo_seed() -> None:
    """Load the demo data once (staff of every role, Banco Demo and its system client)."""
    from app.services import demo as demo_service

    _refuse_demo_in_production()
    with database_url() as url:
        loaded = run_in_session(url, demo_service.seed)
    typer.echo("demo data loaded" if loaded else "demo data already present")


@openapi_cli.command("export")
def openapi_export(
    output: Annotated[Path, typer.Option(help="Where the contract lives.")] = Path(
        "openapi/openapi.json"
    ),
    check: Annotated[bool, typer.Option(help="Only compare; fail on drift.")] = False,
) -> None:
    """Write the app's OpenAPI document (or, with --check, fail if the file differs)."""
    from app.main import create_app

    # The contract is the same in every environment and the app serves nothing here: the
    # production checks (secrets, keys, database) are for starting a server, not this.
    settings = get_settings().model_copy(update={"env": "development"})
    text = json.dumps(create_app(settings).openapi(), indent=2, ensure_ascii=False) + "\n"
    if check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            typer.echo(f"{output} has drifted from the app: run `make openapi`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{output} matches the app")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}")


@users_cli.command("create")
def users_create(
    username: Annotated[str, typer.Option()],
    role: Annotated[str, typer.Option(help="admin, manager, team_lead, collector, auditor")],
    full_name: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    skill: Annotated[list[str] | None, typer.Option(help="phone / field (collectors)")] = None,
    email: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create a staff user (e.g. the first admin of a new installation)."""
    from pydantic import ValidationError

    from app.domain.errors import DomainError
    from app.schemas.users import UserCreate
    from app.security import SYSTEM
    from app.services import users as user_service

    try:
        data = UserCreate.model_validate(
            {
                "username": username,
                "role": role,
                "full_name": full_name,
                "password": password,
                "skills": skill or [],
                "email": email,
            }
        )
    except ValidationError as exc:
        for error in exc.errors():
            typer.echo(f"{'.'.join(map(str, error['loc']))}: {error['msg']}", err=True)
        raise typer.Exit(2) from exc
    with database_url() as url:
        try:
            user = run_in_session(url, lambda s: user_service.create_user(s, SYSTEM, data))
        except DomainError as exc:
            typer.echo(f"refused: {exc.code} {exc.params}", err=True)
            raise typer.Exit(1) from exc
    typer.echo(f"created {user.username} ({user.role}) {user.id}")


@audit_cli.command("verify")
def audit_verify() -> None:
    """Walk the audit hash chain; report the first broken link (exit 1) or that it holds."""
    from app.services.audit import verify_chain

    async def main(url: str) -> tuple[int, object]:
        database = open_database(url, get_settings())
        try:
            async with database.engine.connect() as connection:
                return await verify_chain(connection)
        finally:
            await database.dispose()

    with database_url() as url:
        checked, broken = asyncio.run(main(url))
    if broken is not None:
        typer.echo(
            f"BROKEN at event seq={broken.seq}: {broken.reason} "  # type: ignore[attr-defined]
            f"({checked} events before it are intact)",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"audit chain intact: {checked} events")


@ledger_cli.command("verify")
def ledger_verify(
    account: Annotated[
        uuid.UUID | None, typer.Option(help="Check this account only (default: every one).")
    ] = None,
) -> None:
    """Recompute every account's components from its ledger entries; report the first that
    disagrees (exit 1) or that all hold."""
    from app.services.ledger import verify

    with database_url() as url:
        result = run_in_session(url, lambda session: verify(session, account))
    if result.first is not None:
        first = result.first
        typer.echo(
            f"DISAGREES: {result.disagreeing} of {result.accounts_checked} accounts; first "
            f"account {first.account_id} ({first.currency}): "
            + "; ".join(
                f"{d.component} stored {d.stored}, entries sum to {d.entries}"
                for d in first.components
            ),
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"ledger consistent: {result.accounts_checked} accounts")


@keys_cli.command("new")
def keys_new(
    key_id: Annotated[int, typer.Option(min=1, max=255, help="The new key's id.")],
) -> None:
    """Print a fresh 32-byte key as a key-ring entry: add it to CARTERA_DATA_KEYS (comma
    separated), set CARTERA_DATA_KEY_ID to its id, restart, then run `cartera keys rotate`."""
    from app.domain.crypto import new_key_text

    typer.echo(new_key_text(key_id))


BatchRunner = Callable[[Callable[[AsyncSession], Awaitable[Any]]], Awaitable[Any]]


def run_batched(job: Callable[[BatchRunner], Awaitable[T]]) -> T:
    """Run ``job`` with a runner that gives each batch its own committed transaction."""

    async def main(url: str) -> T:
        database = open_database(url, get_settings())

        async def run_batch(work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
            async with database.sessionmaker() as session, session.begin():
                return await work(session)

        try:
            return await job(run_batch)
        finally:
            await database.dispose()

    with database_url() as url:
        return asyncio.run(main(url))


@keys_cli.command("rotate")
def keys_rotate(
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Rows per transaction.")] = 1000,
    document_batch: Annotated[
        int, typer.Option(min=1, max=1000, help="Document chunks (256 KiB) per transaction.")
    ] = 32,
) -> None:
    """Re-seal every sealed value (national ids, contact values, webhook signing secrets,
    SPEI payers' names) and document chunk still sealed under an older key with the current
    one (CARTERA_DATA_KEY_ID, else the highest id), in batches. Safe to stop and run again;
    once it reports nothing left, the old key may leave the ring."""
    from app import vault
    from app.services.keys import rotate

    sealer = vault.configure(get_settings())
    for entry in run_batched(
        lambda run_batch: rotate(run_batch, sealer, size=batch, document_size=document_batch)
    ):
        typer.echo(
            f"{entry.table}.{entry.column}: {entry.rows} re-sealed with key {sealer.current}"
        )


@keys_cli.command("reindex")
def keys_reindex(
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Rows per transaction.")] = 1000,
) -> None:
    """Recompute every blind index (national ids, contact values) under the current
    CARTERA_BLIND_INDEX_KEY, in batches. To change that key: stop the API and workers, set
    the new key, run this, start them again (until it ends, exact searches and the matching
    of pushed debtors would miss). Safe to run again."""
    from app import vault
    from app.services.keys import reindex

    sealer = vault.configure(get_settings())
    for entry in run_batched(lambda run_batch: reindex(run_batch, sealer, size=batch)):
        typer.echo(f"{entry.table}: {entry.rows} rows read, {entry.changed} indexes rewritten")


def main() -> None:
    cli(prog_name="cartera")


if __name__ == "__main__":
    main()


@jobs_cli.command("age")
def jobs_age(
    as_of: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Business date (default: today)."),
    ] = None,
) -> None:
    """Recompute days past due and stage of every active account for a date, recording each
    stage transition; a second run for the same date changes nothing."""
    from zoneinfo import ZoneInfo

    from app.services import aging

    day = as_of.date() if as_of else datetime.now(ZoneInfo(get_settings().aging_time_zone)).date()
    with database_url() as url:
        result = run_in_session(url, lambda session: aging.age_accounts(session, day))
    typer.echo(
        f"aged {result.accounts_aged} accounts as of {day.isoformat()}, "
        f"{result.stage_changes} stage changes"
    )


@jobs_cli.command("snapshots")
def jobs_snapshots(
    first: Annotated[
        datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First business date.")
    ],
    last: Annotated[
        datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last business date.")
    ],
) -> None:
    """Take the portfolio snapshot of every date from --from to --to from the accounts'
    history (days before snapshots existed; the reports read history for a day without
    one, with the same figures, only slower). One transaction per date, under the aging
    lock; taking a date again rewrites it."""
    from datetime import timedelta

    from app.services import aging, snapshots

    def take(day: date) -> Callable[[AsyncSession], Awaitable[snapshots.Taken]]:
        async def work(session: AsyncSession) -> snapshots.Taken:
            await aging.take_aging_lock(session)
            return await snapshots.take(session, day)

        return work

    day = first.date()
    with database_url() as url:
        while day <= last.date():
            taken = run_in_session(url, take(day))
            typer.echo(f"snapshot of {taken.day.isoformat()}: {taken.accounts} accounts")
            day += timedelta(days=1)


@cli.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Jobs at once (default CARTERA_WORKER_CONCURRENCY)."),
    ] = None,
    poll: Annotated[
        float, typer.Option(min=0.1, help="Seconds between polls when no job is notified.")
    ] = 1.0,
) -> None:
    """Run queued jobs (pushes, payment files, SPEI statements, webhook deliveries) and the
    periodic ones (nightly aging, sweeps) until interrupted, with /healthz and /metrics on
    the worker's own port; see README, Operations."""
    import anyio

    from app.jobs.health_server import worker_probes
    from app.jobs.worker import run_worker

    settings = get_settings()
    # JSON lines in production, as the API's: the worker's own and procrastinate's.
    configure_logging(settings.log_level, settings.logs_as_json)

    async def main(url: str) -> None:
        # SIGTERM and Ctrl-C stop taking jobs and let the running ones finish.
        stop = anyio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        database = open_database(url, settings)
        try:
            async with worker_probes(settings, database):
                await run_worker(
                    database,
                    stop=stop,
                    settings=settings,
                    concurrency=concurrency,
                    poll_seconds=poll,
                )
        finally:
            await database.dispose()

    with database_url() as url:
        typer.echo("Cartera worker running (Ctrl-C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main(url))


@jobs_cli.command("promises")
def jobs_promises(
    as_of: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Business date (default: today)."),
    ] = None,
) -> None:
    """Resolve promises to pay due by a date (kept, partially kept, broken) and escalate the
    accounts whose broken promises reach their strategy's trigger; idempotent per date."""
    from zoneinfo import ZoneInfo

    from app.services import promises

    day = as_of.date() if as_of else datetime.now(ZoneInfo(get_settings().aging_time_zone)).date()
    with database_url() as url:
        result = run_in_session(url, lambda session: promises.follow_up(session, day))
    typer.echo(
        f"promises as of {day.isoformat()}: {result.kept} kept, {result.partially_kept} "
        f"partially kept, {result.broken} broken; {result.escalated} accounts escalated"
    )


@jobs_cli.command("documents-sweep")
def jobs_documents_sweep(
    older_than_minutes: Annotated[
        int, typer.Option(min=10, help="Spare blobs and files newer than this.")
    ] = 60,
) -> None:
    """Delete sealed document bytes no document reads any more, and the files the data
    folder held before documents moved into the database (they were sealed in by the
    upgrade to 0d5ea1edb10b)."""
    from datetime import UTC, timedelta

    from app.services import documents

    settings = get_settings()
    with database_url() as url:
        result = run_in_session(
            url,
            lambda session: documents.sweep_orphans(
                session,
                settings.data_dir,
                older_than=timedelta(minutes=older_than_minutes),
                now=datetime.now(UTC),
            ),
        )
    typer.echo(
        f"documents: {result.blobs_deleted} unreferenced blobs ({result.chunks_deleted} chunks)"
        f" and {result.legacy_files_deleted} files of the old data-folder layout deleted"
    )


@jobs_cli.command("plans")
def jobs_plans(
    as_of: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Business date (default: today)."),
    ] = None,
) -> None:
    """Break active payment plans whose installments were missed, and escalate their
    accounts; idempotent per date."""
    from zoneinfo import ZoneInfo

    from app.services import plans

    day = as_of.date() if as_of else datetime.now(ZoneInfo(get_settings().aging_time_zone)).date()
    with database_url() as url:
        result = run_in_session(url, lambda session: plans.follow_up_plans(session, day))
    typer.echo(
        f"plans as of {day.isoformat()}: {result.broken} broken, {result.escalated} escalated"
    )
