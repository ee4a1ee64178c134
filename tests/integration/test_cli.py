"""The `cartera` command against a real database: demo seed, users, audit and ledger verify,
contract."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from app import migrations
from app.cli import cli
from app.config import get_settings

runner = CliRunner()


@pytest.fixture
def cli_database(database_server, monkeypatch):
    """A migrated database of its own, named by CARTERA_DATABASE_URL for the command."""
    url = database_server.create_database("cartera_cli")
    migrations.upgrade(url)
    monkeypatch.setenv("CARTERA_DATABASE_URL", url)
    monkeypatch.setenv("CARTERA_ENV", "test")  # an unset environment is production
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()
    database_server.drop_database(url)


def execute(url: str, *statements: str) -> list:
    async def go() -> list:
        engine = create_async_engine(url, poolclass=NullPool)
        results = []
        async with engine.begin() as connection:
            for statement in statements:
                result = await connection.execute(text(statement))
                results.append(result.all() if result.returns_rows else None)
        await engine.dispose()
        return results

    return asyncio.run(go())


def test_demo_seed_runs_once(cli_database):
    first = runner.invoke(cli, ["demo", "seed"])
    assert first.exit_code == 0, first.output
    assert "loaded" in first.output
    second = runner.invoke(cli, ["demo", "seed"])
    assert second.exit_code == 0 and "already present" in second.output
    [users] = execute(cli_database, "SELECT username FROM app_user ORDER BY username")
    assert [u[0] for u in users] == sorted(
        ["admin", "manager", "lead", "phone1", "field1", "auditor"]
    )


def test_demo_data_is_refused_in_production(cli_database, monkeypatch):
    monkeypatch.setenv("CARTERA_ENV", "production")
    get_settings.cache_clear()
    result = runner.invoke(cli, ["demo", "seed"])
    assert result.exit_code == 2
    [[(count,)]] = [execute(cli_database, "SELECT count(*) FROM app_user")[0]]
    assert count == 0


def test_audit_verify_passes_then_reports_the_first_tampered_event(cli_database):
    assert runner.invoke(cli, ["demo", "seed"]).exit_code == 0
    intact = runner.invoke(cli, ["audit", "verify"])
    assert intact.exit_code == 0, intact.output
    assert "intact" in intact.output
    [[(second_seq,)]] = [
        execute(cli_database, "SELECT seq FROM audit_event ORDER BY seq OFFSET 1 LIMIT 1")[0]
    ]
    execute(
        cli_database,
        "ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only",
        f"UPDATE audit_event SET actor_id = 'someone-else' WHERE seq = {second_seq}",
        "ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only",
    )
    broken = runner.invoke(cli, ["audit", "verify"])
    assert broken.exit_code == 1
    assert f"seq={second_seq}" in broken.output


def test_ledger_verify_holds_on_the_demo_then_names_the_account_edited_by_hand(cli_database):
    assert runner.invoke(cli, ["demo", "seed"]).exit_code == 0
    intact = runner.invoke(cli, ["ledger", "verify"])
    assert intact.exit_code == 0, intact.output
    [[(accounts,)]] = [execute(cli_database, "SELECT count(*) FROM account")[0]]
    assert f"ledger consistent: {accounts} accounts" in intact.output
    [[(account_id,)]] = [
        execute(cli_database, "SELECT id FROM account ORDER BY id OFFSET 7 LIMIT 1")[0]
    ]
    execute(
        cli_database,
        f"UPDATE account SET fees = fees + 1, total = total + 1 WHERE id = '{account_id}'",
    )
    broken = runner.invoke(cli, ["ledger", "verify"])
    assert broken.exit_code == 1
    assert f"first account {account_id}" in broken.output
    assert "fees stored" in broken.output
    one = runner.invoke(cli, ["ledger", "verify", "--account", str(account_id)])
    assert one.exit_code == 1
    other = runner.invoke(
        cli, ["ledger", "verify", "--account", "00000000-0000-7000-8000-000000000000"]
    )
    assert other.exit_code == 0 and "0 accounts" in other.output


def test_documents_sweep_deletes_the_old_layouts_files(cli_database, monkeypatch, tmp_path):
    import os
    import time

    monkeypatch.setenv("CARTERA_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    orphan = tmp_path / "documents" / "ab" / ("ab" + "0" * 62)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"%PDF-1.4 kept on disk before documents were sealed in the database")
    two_hours_ago = time.time() - 7200
    os.utime(orphan, (two_hours_ago, two_hours_ago))
    result = runner.invoke(cli, ["jobs", "documents-sweep", "--older-than-minutes", "60"])
    assert result.exit_code == 0, result.output
    assert "0 unreferenced blobs (0 chunks) and 1 files of the old" in result.output
    assert not orphan.exists()


def test_keys_reindex_runs_over_every_blind_index(cli_database):
    assert runner.invoke(cli, ["demo", "seed"]).exit_code == 0
    result = runner.invoke(cli, ["keys", "reindex", "--batch", "50"])
    assert result.exit_code == 0, result.output
    # Same key as the seed: every row read, nothing to rewrite.
    for table in ("debtor", "related_party", "contact_point"):
        assert f"{table}: " in result.output
    assert "rows read, 0 indexes rewritten" in result.output
    assert "debtor: 0 rows" not in result.output
    # Rotation has the same batching: with the seed's key current, nothing to re-seal.
    rotated = runner.invoke(cli, ["keys", "rotate", "--batch", "50", "--document-batch", "8"])
    assert rotated.exit_code == 0, rotated.output
    assert "debtor.national_id: 0 re-sealed" in rotated.output
    assert "document_blob_chunk.ciphertext: 0 re-sealed" in rotated.output


def test_users_create_makes_an_admin_who_can_log_in(cli_database):
    result = runner.invoke(
        cli,
        [
            "users",
            "create",
            "--username",
            "Primera.Admin",
            "--role",
            "admin",
            "--full-name",
            "Primera Admin",
            "--password",
            "a-strong-password",
        ],
    )
    assert result.exit_code == 0, result.output
    [[row]] = execute(cli_database, "SELECT role FROM app_user WHERE username = 'primera.admin'")
    assert row == ("admin",)
    refused = runner.invoke(
        cli,
        [
            "users",
            "create",
            "--username",
            "x",
            "--role",
            "admin",
            "--full-name",
            "X",
            "--password",
            "short",
        ],
    )
    assert refused.exit_code == 2


def test_openapi_check_passes_on_the_committed_contract():
    result = runner.invoke(cli, ["openapi", "export", "--check"])
    assert result.exit_code == 0, result.output


def test_openapi_check_fails_on_drift(tmp_path):
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n")
    result = runner.invoke(cli, ["openapi", "export", "--check", "--output", str(stale)])
    assert result.exit_code == 1


def test_snapshots_backfill_takes_each_date_with_every_account_arrived_by_then(cli_database):
    assert runner.invoke(cli, ["demo", "seed"]).exit_code == 0
    result = runner.invoke(cli, ["jobs", "snapshots", "--from", "2020-01-01", "--to", "2020-01-02"])
    assert result.exit_code == 0, result.output
    # 2020: before the demo's accounts arrived, so both dates are taken and empty.
    assert "snapshot of 2020-01-01: 0 accounts" in result.output
    assert "snapshot of 2020-01-02: 0 accounts" in result.output
    today = runner.invoke(cli, ["jobs", "snapshots", "--from", "2099-01-01", "--to", "2099-01-01"])
    assert today.exit_code == 0, today.output
    [[(accounts,)]] = execute(cli_database, "SELECT count(*) FROM account")
    assert accounts > 0
    assert f"snapshot of 2099-01-01: {accounts} accounts" in today.output
    [days] = execute(
        cli_database,
        "SELECT snapshot_date::text, accounts FROM portfolio_snapshot_day ORDER BY 1",
    )
    assert [tuple(d) for d in days] == [
        ("2020-01-01", 0), ("2020-01-02", 0), ("2099-01-01", accounts)
    ]  # fmt: skip
