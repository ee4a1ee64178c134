"""Champion/challenger strategy experiments over HTTP: an account works under its arm's
strategy, stop and promote, partner isolation, bad input, and the report by hand."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, update
from sqlmodel import col, select

from app.domain.experiments import ArmRange, assign
from app.domain.roles import Role
from app.domain.strategies import DEFAULT
from app.models.account import AccountEvent
from app.models.experiment import StrategyExperiment
from app.models.interaction import Interaction
from app.models.payment import Payment
from app.models.promise import Promise
from app.services.strategies import document_to_json
from tests.factories import (
    assert_problem,
    daytime_phone,
    make_account,
    make_partner,
    partner_bearer,
)
from tests.helpers.experiments import wilson_by_hand
from tests.helpers.interactions import CDMX, check, recent_weekday_noon, record, rpc
from tests.helpers.worklists import add_phone


@pytest.fixture
def floor_fixture(interactions_floor):
    """The interactions floor: a Mexican partner, a collector and an account in `mid`."""
    return interactions_floor


PROBLEM = "application/problem+json"

# The interactions tests' floor: a Mexican partner, a collector, an account in `mid`.


def mid_entry(per_day: int | None = None) -> dict[str, Any]:
    """The default strategy's `mid` entry, with the call cap's daily figure changed."""
    entry = document_to_json(DEFAULT)["stages"]["mid"]
    if per_day is not None:
        entry["caps"]["call"] = {"per_day": per_day, "per_week": 10}
    return entry


def experiment_body(stage: str = "mid", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "One call a day",
        "stage": stage,
        "champion_share": "50",
        "challengers": [{"name": "one-a-day", "share": "50", "document": mid_entry(1)}],
    }
    return body | overrides


def ranges(experiment: dict[str, Any]) -> list[ArmRange]:
    low, found = 0, []
    for arm in experiment["arms"]:
        width = int(Decimal(arm["share"]) * 100)
        found.append(ArmRange(uuid.UUID(arm["id"]), low, low + width))
        low += width
    return found


def arm_of(experiment: dict[str, Any], account_id: uuid.UUID) -> uuid.UUID:
    return assign(uuid.UUID(experiment["id"]), account_id, ranges(experiment))


async def start(client, partner_id, headers, body=None) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/partners/{partner_id}/experiments", json=body or experiment_body(),
        headers=headers,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()


async def count_experiments(session, partner_id) -> int:
    return await session.scalar(
        select(func.count()).where(col(StrategyExperiment.partner_id) == partner_id)
    )


class TestTheArmDecides:
    async def test_a_challenger_with_a_lower_daily_cap_refuses_what_the_champion_allows(
        self, client, floor_fixture, session
    ):
        floor = floor_fixture
        account = floor["account"]
        # Start experiments until the floor's account falls in the challenger (a 50 % chance
        # each: the hash is fixed per experiment and account, so a new experiment redraws).
        for _ in range(40):
            experiment = await start(client, account.partner_id, floor["manager"])
            challenger = uuid.UUID(experiment["arms"][1]["id"])
            if arm_of(experiment, account.id) == challenger:
                break
            stopped = await client.post(
                f"/api/v1/experiments/{experiment['id']}/stop", headers=floor["manager"]
            )
            assert stopped.status_code == 200, stopped.text
        else:  # pragma: no cover - 2**-40
            pytest.fail("never assigned to the challenger")
        at = recent_weekday_noon()
        first = await record(client, floor, rpc(at, floor["points"]["cdmx"].id))
        assert first.status_code == 201, first.text
        stored = await session.get(Interaction, uuid.UUID(first.json()["id"]))
        assert stored is not None and stored.experiment_arm_id == challenger

        # The challenger allows one call a day: the second is refused, by policy.
        decision = await check(client, floor, "cdmx", at + timedelta(hours=1))
        assert decision["allowed"] is False, decision
        assert decision["experiment_arm_id"] == str(challenger)
        assert decision["reasons"] and {r["basis"] for r in decision["reasons"]} == {"policy"}

        # Stopped, the account is back on the champion (three calls a day): allowed.
        stopped = await client.post(
            f"/api/v1/experiments/{experiment['id']}/stop", headers=floor["manager"]
        )
        assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
        decision = await check(client, floor, "cdmx", at + timedelta(hours=1))
        assert decision["allowed"] is True, decision
        assert decision["experiment_arm_id"] is None

        again = await client.post(
            f"/api/v1/experiments/{experiment['id']}/stop", headers=floor["manager"]
        )
        assert again.status_code == 409 and again.json()["code"] == "experiment_ended"

    async def test_promote_stores_the_challengers_entry_as_the_next_version(
        self, client, floor_fixture, session
    ):
        floor = floor_fixture
        partner_id = floor["account"].partner_id
        experiment = await start(client, partner_id, floor["manager"])
        challenger = experiment["arms"][1]["id"]
        champion = experiment["arms"][0]["id"]
        refused = await client.post(
            f"/api/v1/experiments/{experiment['id']}/promote", json={"arm_id": champion},
            headers=floor["manager"],
        )  # fmt: skip
        assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM
        promoted = await client.post(
            f"/api/v1/experiments/{experiment['id']}/promote", json={"arm_id": challenger},
            headers=floor["manager"],
        )  # fmt: skip
        assert promoted.status_code == 200, promoted.text
        assert promoted.json()["status"] == "promoted"
        assert promoted.json()["promoted_arm_id"] == challenger
        assert promoted.json()["promoted_version"] == 1
        strategy = (
            await client.get(f"/api/v1/partners/{partner_id}/strategy", headers=floor["manager"])
        ).json()
        assert strategy["current"]["version"] == 1
        stages = strategy["current"]["document"]["stages"]
        assert stages["mid"]["caps"]["call"] == {"per_day": 1, "per_week": 10}
        assert stages["late"] == document_to_json(DEFAULT)["stages"]["late"] | {
            "caps": stages["late"]["caps"], "plans": stages["late"]["plans"],
            "approvals": stages["late"]["approvals"], "promises": stages["late"]["promises"],
            "priority_weight": stages["late"]["priority_weight"],
        }  # fmt: skip
        # Every account now works under version 1, outside any experiment.
        decision = await check(client, floor, "cdmx", recent_weekday_noon())
        assert decision["strategy_version"] == 1 and decision["experiment_arm_id"] is None
        twice = await client.post(
            f"/api/v1/experiments/{experiment['id']}/promote", json={"arm_id": challenger},
            headers=floor["manager"],
        )  # fmt: skip
        assert twice.status_code == 409 and twice.json()["code"] == "experiment_ended"

    async def test_one_running_experiment_per_stage(self, client, floor_fixture):
        floor = floor_fixture
        partner_id = floor["account"].partner_id
        await start(client, partner_id, floor["manager"])
        second = await client.post(
            f"/api/v1/partners/{partner_id}/experiments", json=experiment_body(),
            headers=floor["manager"],
        )  # fmt: skip
        assert second.status_code == 409 and second.json()["code"] == "experiment_already_running"
        other_stage = experiment_body("late")
        other_stage["challengers"][0]["document"] = document_to_json(DEFAULT)["stages"]["late"]
        await start(client, partner_id, floor["manager"], other_stage)
        listed = await client.get(
            f"/api/v1/partners/{partner_id}/experiments", params={"limit": 1},
            headers=floor["manager"],
        )  # fmt: skip
        assert listed.status_code == 200
        assert len(listed.json()["items"]) == 1 and listed.json()["next_cursor"]


class TestIsolation:
    async def test_a_partner_runs_and_reads_its_own_experiments_only(
        self, client, session, settings, make_user, auth_headers
    ):
        mine, theirs = await make_partner(session), await make_partner(session)
        headers = await partner_bearer(session, settings, mine)
        own = await start(client, mine.id, headers)
        manager = auth_headers(await make_user(Role.MANAGER))
        foreign = await start(client, theirs.id, manager)
        refused = await client.post(
            f"/api/v1/partners/{theirs.id}/experiments", json=experiment_body("late"),
            headers=headers,
        )  # fmt: skip
        assert_problem(refused, 404, "not_found")
        for method, path in (
            ("GET", f"/api/v1/experiments/{foreign['id']}"),
            ("POST", f"/api/v1/experiments/{foreign['id']}/stop"),
            ("GET", f"/api/v1/reports/experiments/{foreign['id']}"),
            ("GET", f"/api/v1/partners/{theirs.id}/experiments"),
        ):
            response = await client.request(method, path, headers=headers)
            assert_problem(response, 404, "not_found")
        assert (await client.get(f"/api/v1/experiments/{own['id']}", headers=headers)).json()[
            "id"
        ] == own["id"]
        report = await client.get(f"/api/v1/reports/experiments/{own['id']}", headers=headers)
        assert report.status_code == 200
        # Foreign ones still run; collectors neither start nor stop them.
        collector = auth_headers(await make_user(Role.COLLECTOR))
        denied = await client.post(f"/api/v1/experiments/{foreign['id']}/stop", headers=collector)
        assert_problem(denied, 403, "permission_denied")
        assert (await session.get(StrategyExperiment, uuid.UUID(foreign["id"]))).status == (
            "running"
        )


class TestBadInput:
    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"champion_share": "60"}, "body.challengers"),
            ({"stage": "purgatory"}, "body.stage"),
            ({"challengers": []}, "body.challengers"),
        ],
    )
    async def test_refused_with_a_problem_and_nothing_stored(
        self, client, session, make_user, auth_headers, change, field
    ):
        partner = await make_partner(session)
        manager = auth_headers(await make_user(Role.MANAGER))
        response = await client.post(
            f"/api/v1/partners/{partner.id}/experiments", json=experiment_body() | change,
            headers=manager,
        )  # fmt: skip
        assert_problem(response, 422, ("invalid_input", "validation_failed"))
        assert response.headers["content-type"] == PROBLEM
        assert field in [e["field"] for e in response.json()["errors"]]
        assert await count_experiments(session, partner.id) == 0

    async def test_a_document_looser_than_the_countrys_law_is_refused(
        self, client, session, make_user, auth_headers
    ):
        """Refused at the challenger's path, in the client's language."""
        chile = await make_partner(
            session, country="CL", currency="CLP", time_zone="America/Santiago"
        )
        manager = auth_headers(await make_user(Role.MANAGER))
        body = experiment_body()
        body["challengers"][0]["document"] = mid_entry(2)  # Chile: one call a week
        response = await client.post(
            f"/api/v1/partners/{chile.id}/experiments",
            json=body,
            headers={**manager, "Accept-Language": "es"},
        )
        problem = assert_problem(response, 422, "invalid_input")
        assert response.headers["content-type"] == PROBLEM
        (first, *_) = problem["errors"]
        assert first["field"].startswith("body.challengers.0.document.caps.call.per_")
        assert first["message"].startswith("más laxo que la ley en ")
        assert await count_experiments(session, chile.id) == 0

    async def test_a_capped_channel_must_be_allowed(self, client, session, make_user, auth_headers):
        partner = await make_partner(session)
        manager = auth_headers(await make_user(Role.MANAGER))
        document = mid_entry()
        document["channels"] = ["sms"]
        body = experiment_body()
        body["challengers"][0]["document"] = document
        response = await client.post(
            f"/api/v1/partners/{partner.id}/experiments", json=body, headers=manager
        )
        assert_problem(response, 422, "invalid_input")
        field = response.json()["errors"][0]["field"]
        assert field.startswith("body.challengers.0.document.caps.")
        assert await count_experiments(session, partner.id) == 0


def assert_rate(figure: dict[str, Any] | None, k: int, n: int) -> None:
    assert figure is not None
    assert (figure["successes"], figure["trials"]) == (k, n)
    assert abs(float(figure["value"]) - k / n) <= 0.00005
    low, high = wilson_by_hand(k, n)
    assert abs(float(figure["low"]) - low) <= 0.0001
    assert abs(float(figure["high"]) - high) <= 0.0001


class TestReport:
    async def test_figures_by_hand(self, client, session, make_user, auth_headers):
        partner = await make_partner(session)
        manager = auth_headers(await make_user(Role.MANAGER))
        experiment = await start(client, partner.id, manager)
        champion, challenger = (uuid.UUID(a["id"]) for a in experiment["arms"])
        # It started three days ago (its window's first day), on a stage of accounts aged
        # long before.
        began = datetime.now(UTC) - timedelta(days=3)
        await session.execute(
            update(StrategyExperiment)
            .where(col(StrategyExperiment.id) == uuid.UUID(experiment["id"]))
            .values(created_at=began)
        )

        async def account_in(arm: uuid.UUID, *, cured: bool = False):
            while True:  # an id the hash puts in ``arm``
                candidate = uuid.uuid4()
                if arm_of(experiment, candidate) == arm:
                    break
            account = await make_account(session, partner, id=candidate, dpd=45)
            session.add(AccountEvent(account_id=account.id, partner_id=partner.id,
                                     kind="created", as_of=date(2025, 1, 1), actor_id="test",
                                     after={"stage": "mid", "dpd": 45}))  # fmt: skip
            if cured:
                session.add(AccountEvent(account_id=account.id, partner_id=partner.id,
                                         kind="stage_changed", as_of=datetime.now(CDMX).date(),
                                         actor_id="test", before={"stage": "mid"},
                                         after={"stage": "current"}))  # fmt: skip
            await session.flush()
            return account

        a1, a2 = await account_in(champion), await account_in(champion, cured=True)
        b1, b2 = await account_in(challenger), await account_in(challenger)
        b3 = await account_in(challenger, cured=True)
        noon = began + timedelta(days=1)

        async def call(account, arm, code, party="debtor", promise=None, amends=None):
            i = Interaction(
                account_id=account.id, partner_id=partner.id, debtor_id=account.debtor_id,
                channel="call", direction="outbound", party=party, result_code=code,
                started_at=noon, pack_version="MX-test", compliance={}, created_by="test",
                amends_id=amends, experiment_arm_id=arm,
            )  # fmt: skip
            session.add(i)
            await session.flush()
            if promise:
                session.add(Promise(
                    account_id=account.id, partner_id=partner.id, interaction_id=i.id,
                    amount=Decimal("100.00"), currency="MXN", due_date=date(2025, 3, 9),
                    status=promise, created_by="test", experiment_arm_id=arm,
                ))  # fmt: skip
                await session.flush()
            return i

        async def pay(account, arm, amount, status="applied"):
            session.add(Payment(
                account_id=account.id, partner_id=partner.id, amount=Decimal(amount),
                currency="MXN", paid_on=noon.date(), channel="spei",
                idempotency_key=uuid.uuid4().hex, body_sha256="0" * 64, status=status,
                allocation={}, recorded_by="test", experiment_arm_id=arm,
                reversed_at=noon if status == "reversed" else None,
                reversed_by="test" if status == "reversed" else None,
            ))  # fmt: skip
            await session.flush()

        # Champion: 3 attempts, 2 reached someone, 1 right party, 1 promise (kept).
        await call(a1, champion, "NO_ANSWER", party="none")
        await call(a1, champion, "RPC_PTP", promise="kept")
        await call(a2, champion, "TPC", party="reference")
        await pay(a1, champion, "300.00")
        await pay(a1, champion, "100.00", status="reversed")  # not recovered
        # Challenger: a BUSY corrected to NO_ANSWER counts once; a cancelled promise not.
        await call(b1, challenger, "RPC_PTP", promise="broken")
        await call(b1, challenger, "RPC_PTP", promise="pending")
        await call(b1, challenger, "RPC_PTP", promise="cancelled")
        busy = await call(b2, challenger, "BUSY", party="none")
        await call(b2, challenger, "NO_ANSWER", party="none", amends=busy.id)
        await pay(b1, challenger, "50.00")
        await pay(b3, challenger, "25.50")

        response = await client.get(
            f"/api/v1/reports/experiments/{experiment['id']}", headers=manager
        )
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["currency"] == "MXN" and report["status"] == "running"
        first, second = report["arms"]
        assert first["champion"] and first["arm_id"] == str(champion)

        # Champion: 2 accounts; contacts 2/3, RPC 1/3, promises 1/1, kept 1/1, cured 1/2.
        assert first["accounts"] == 2
        assert_rate(first["contact_rate"], 2, 3)
        assert_rate(first["rpc_rate"], 1, 3)
        assert_rate(first["promise_rate"], 1, 1)
        assert_rate(first["kept_rate"], 1, 1)
        assert_rate(first["cure_rate"], 1, 2)
        # 300.00 and 0.00: mean 150.00; s = 212.13, se = 150, t(1) = 12.706: up to 2055.90.
        assert first["recovered"] == "300.00"
        assert first["recovered_per_account"] == {
            "value": "150.00", "low": "0.00", "high": "2055.90"
        }  # fmt: skip

        # Challenger: 3 accounts; contacts 3/4, RPC 3/4, promises 2/3, kept 0/1, cured 1/3.
        assert second["accounts"] == 3
        assert_rate(second["contact_rate"], 3, 4)
        assert_rate(second["rpc_rate"], 3, 4)
        assert_rate(second["promise_rate"], 2, 3)
        assert_rate(second["kept_rate"], 0, 1)
        assert_rate(second["cure_rate"], 1, 3)
        # 50.00, 0.00, 25.50: mean 25.17; s² = 625.0833, se = 14.4347, t(2) = 4.303.
        assert second["recovered"] == "75.50"
        values = [50.0, 0.0, 25.5]
        mean = sum(values) / 3
        se = math.sqrt(sum((v - mean) ** 2 for v in values) / 2 / 3)
        per_account = second["recovered_per_account"]
        assert per_account["value"] == "25.17" and per_account["low"] == "0.00"
        assert abs(float(per_account["high"]) - (mean + 4.303 * se)) <= 0.01


class TestWorkQueue:
    async def test_the_queue_follows_the_arm_too(self, client, session, make_user, auth_headers):
        partner = await make_partner(session)
        collector = await make_user(Role.COLLECTOR)
        manager = auth_headers(await make_user(Role.MANAGER))
        phone, zone = daytime_phone()
        account = await make_account(session, partner, assigned_collector_id=collector.id, dpd=45)
        await add_phone(session, account, zone, phone)
        queue = "/api/v1/worklists/me"

        async def listed() -> list[str]:
            response = await client.get(queue, headers=auth_headers(collector))
            assert response.status_code == 200, response.text
            return [i["account_id"] for i in response.json()["items"]]

        assert await listed() == [str(account.id)]
        # A challenger that only emails (the account has no email): nothing to call.
        emails_only = mid_entry()
        emails_only["channels"] = ["email"]
        emails_only["caps"] = {"email": {"per_day": 1, "per_week": 3}}
        body = experiment_body()
        body["challengers"][0]["document"] = emails_only
        for _ in range(40):
            experiment = await start(client, partner.id, manager, body)
            if arm_of(experiment, account.id) == uuid.UUID(experiment["arms"][1]["id"]):
                break
            await client.post(f"/api/v1/experiments/{experiment['id']}/stop", headers=manager)
        else:  # pragma: no cover - 2**-40
            pytest.fail("never assigned to the challenger")
        assert await listed() == []
        await client.post(f"/api/v1/experiments/{experiment['id']}/stop", headers=manager)
        assert await listed() == [str(account.id)]


async def test_postgresql_computes_the_same_bucket_as_python(session):
    """Set-based statements (the report, the work queue) assign arms in SQL: the same
    SHA-256 bucket as app/domain/experiments.py, for any pair of ids."""
    from sqlalchemy import text

    from app.domain.experiments import BUCKET_SQL, bucket

    pairs = [(uuid.uuid4(), uuid.uuid4()) for _ in range(200)]
    statement = text(
        "SELECT " + BUCKET_SQL.format(experiment="CAST(:e AS uuid)", account="CAST(:a AS uuid)")
    )
    for experiment, account in pairs:
        found = await session.scalar(statement, {"e": str(experiment), "a": str(account)})
        assert found == bucket(experiment, account)


async def test_a_payment_records_the_arm_and_counts_in_its_report(
    client, session, settings, make_user, auth_headers
):
    from tests.helpers.payments import body as payment_body
    from tests.helpers.payments import pay

    partner = await make_partner(session)
    system = await partner_bearer(session, settings, partner)
    experiment = await start(client, partner.id, system)
    account = await make_account(session, partner, dpd=45)
    arm = arm_of(experiment, account.id)
    paid = await pay(client, system, payment_body(account, "120.00"))
    assert paid.status_code == 201, paid.text
    stored = await session.get(Payment, uuid.UUID(paid.json()["id"]))
    assert stored is not None and stored.experiment_arm_id == arm
    report = await client.get(f"/api/v1/reports/experiments/{experiment['id']}", headers=system)
    rows = {row["arm_id"]: row for row in report.json()["arms"]}
    assert rows[str(arm)]["recovered"] == "120.00"
    assert rows[str(arm)]["accounts"] == 1
    assert sum(row["accounts"] for row in rows.values()) == 1
