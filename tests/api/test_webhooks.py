"""Events to partners through the API: subscriptions (secret shown once, rotation with an
overlap), partner isolation, SSRF refusals, the outbox's atomicity, and each event kind
emitted by the real action that makes its change (deliveries: tests/reliability)."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import col, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.config import Settings
from app.domain.roles import Role
from app.domain.webhooks import DestinationRefused, EventKind
from app.models.webhook import WebhookEvent, WebhookSubscription
from app.services import aging, payments, plans, promises, webhooks
from app.services import assignments as assignment_service
from app.services import payment_files as payment_file_service
from tests.conftest import principal_of
from tests.factories import (
    assert_problem,
    business_today,
    make_account,
    make_partner,
    partner_bearer,
)
from tests.helpers.assignments import push_json, row
from tests.helpers.interactions import recent_weekday_noon, record, rpc
from tests.helpers.payment_files import csv_of
from tests.helpers.plans import propose


@pytest.fixture
def floor(interactions_floor):
    """The interactions floor: a Mexican partner, a collector and an account in `mid`."""
    return interactions_floor


@pytest.fixture
def desk(plans_desk):
    """The plans desk: a Mexican partner, a collector and their lead, a manager, an auditor."""
    return plans_desk


LOOPBACK_OK = ["127.0.0.1/32"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        env="test",
        database_url=None,
        log_json=True,
        data_dir=tmp_path,
        webhook_allowed_networks=LOOPBACK_OK,
        _env_file=None,
    )


@pytest.fixture
async def two(session, settings, make_user, auth_headers):
    """Partners A and B with their systems' tokens, an admin and a manager."""
    a = await make_partner(session)
    b = await make_partner(session)
    return {
        "a": a,
        "b": b,
        "token_a": await partner_bearer(session, settings, a),
        "token_b": await partner_bearer(session, settings, b),
        "admin": auth_headers(await make_user(Role.ADMIN)),
        "manager": auth_headers(await make_user(Role.MANAGER)),
        "collector": auth_headers(await make_user(Role.COLLECTOR)),
    }


def hooks(partner) -> str:
    return f"/api/v1/partners/{partner.id}/webhooks"


async def subscribe(client, headers, partner, url="http://127.0.0.1:9/h", kinds=None):
    return await client.post(
        hooks(partner),
        json={"url": url, "event_types": kinds or [k.value for k in EventKind]},
        headers=headers,
    )


async def events_of(session, partner_id) -> list[WebhookEvent]:
    rows = await session.scalars(
        select(WebhookEvent)
        .where(col(WebhookEvent.partner_id) == partner_id)
        .order_by(col(WebhookEvent.occurred_at))
    )
    return list(rows)


async def kinds_of(session, partner_id) -> list[str]:
    rows = await session.execute(
        text("SELECT kind FROM webhook_event WHERE partner_id = :p ORDER BY occurred_at"),
        {"p": partner_id},
    )
    return [r[0] for r in rows]


class TestSubscriptions:
    async def test_the_partner_subscribes_and_sees_the_secret_once(self, client, two):
        made = await subscribe(client, two["token_a"], two["a"])
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["secret"].startswith("whsec_")
        assert body["enabled"] is True
        read = await client.get(f"{hooks(two['a'])}/{body['id']}", headers=two["token_a"])
        assert read.status_code == 200
        assert "secret" not in read.json()
        listed = await client.get(hooks(two["a"]), headers=two["admin"])
        assert [h["id"] for h in listed.json()["items"]] == [body["id"]]

    async def test_the_secret_is_sealed_at_rest(self, client, two, session):
        made = (await subscribe(client, two["token_a"], two["a"])).json()
        raw = await session.scalar(
            text("SELECT secret FROM webhook_subscription WHERE id = :i"), {"i": made["id"]}
        )
        assert made["secret"].encode() not in bytes(raw)

    async def test_disable_and_change_kinds(self, client, two, session):
        made = (await subscribe(client, two["token_a"], two["a"])).json()
        changed = await client.patch(
            f"{hooks(two['a'])}/{made['id']}",
            json={"enabled": False, "event_types": ["payment.recorded"]},
            headers=two["token_a"],
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["enabled"] is False
        assert changed.json()["event_types"] == ["payment.recorded"]
        gone = await client.delete(f"{hooks(two['a'])}/{made['id']}", headers=two["token_a"])
        assert gone.status_code == 204
        assert await session.get(WebhookSubscription, uuid.UUID(made["id"])) is None

    async def test_unknown_event_kind_is_422(self, client, two):
        refused = await subscribe(client, two["token_a"], two["a"], kinds=["payment.teleported"])
        assert_problem(refused, 422, "validation_failed")
        assert refused.json()["errors"][0]["field"].startswith("body.event_types")


class TestVersions:
    async def test_a_change_with_a_stale_etag_is_412_and_changes_nothing(self, client, two):
        made = await subscribe(client, two["token_a"], two["a"])
        assert made.headers["etag"] == '"1"'
        assert made.headers["location"] == f"{hooks(two['a'])}/{made.json()['id']}"
        url = made.headers["location"]
        first = (await client.get(url, headers=two["token_a"])).headers["etag"]
        disabled = await client.patch(
            url, json={"enabled": False}, headers={**two["token_a"], "If-Match": first}
        )
        assert disabled.status_code == 200, disabled.text
        assert disabled.headers["etag"] == '"2"' and disabled.json()["version"] == 2
        stale = await client.patch(
            url, json={"enabled": True}, headers={**two["token_a"], "If-Match": first}
        )
        assert_problem(stale, 412, "version_mismatch")
        assert (await client.get(url, headers=two["token_a"])).json()["enabled"] is False
        refused = await client.delete(url, headers={**two["token_a"], "If-Match": first})
        assert_problem(refused, 412, "version_mismatch")
        assert (await client.get(url, headers=two["token_a"])).status_code == 200

    async def test_a_rotation_moves_the_etag_on(self, client, two):
        made = (await subscribe(client, two["token_a"], two["a"])).json()
        url = f"{hooks(two['a'])}/{made['id']}"
        rotated = await client.post(
            f"{url}/secret-rotation", json={"overlap_hours": 1}, headers=two["token_a"]
        )
        assert rotated.status_code == 200, rotated.text
        assert rotated.headers["etag"] == '"2"'
        stale = await client.delete(url, headers={**two["token_a"], "If-Match": '"1"'})
        assert_problem(stale, 412, "version_mismatch")
        gone = await client.delete(url, headers={**two["token_a"], "If-Match": '"2"'})
        assert gone.status_code == 204
        assert (await client.get(url, headers=two["token_a"])).status_code == 404


class TestIsolation:
    async def test_partner_b_cannot_see_or_manage_partner_as_webhooks(self, client, two):
        made = (await subscribe(client, two["token_a"], two["a"])).json()
        base = f"{hooks(two['a'])}/{made['id']}"
        b = two["token_b"]
        assert (await client.get(hooks(two["a"]), headers=b)).status_code == 404
        assert (await subscribe(client, b, two["a"])).status_code == 404
        assert (await client.get(base, headers=b)).status_code == 404
        assert (await client.patch(base, json={"enabled": False}, headers=b)).status_code == 404
        assert (await client.post(f"{base}/secret-rotation", json={}, headers=b)).status_code == 404
        assert (await client.get(f"{base}/deliveries", headers=b)).status_code == 404
        retry = await client.post(f"{base}/deliveries/{uuid.uuid4()}/retry", headers=b)
        assert_problem(retry, 404, "not_found")
        assert (await client.delete(base, headers=b)).status_code == 404
        # B's own list, through B's id, does not hold A's subscription either.
        own = await client.get(hooks(two["b"]), headers=b)
        assert own.status_code == 200 and own.json()["items"] == []

    async def test_a_subscription_is_not_reachable_under_another_partners_id(self, client, two):
        made = (await subscribe(client, two["admin"], two["a"])).json()
        wrong = await client.get(f"{hooks(two['b'])}/{made['id']}", headers=two["admin"])
        assert_problem(wrong, 404, "not_found")

    async def test_staff_other_than_admins_may_not(self, client, two):
        for who in ("manager", "collector"):
            assert (await client.get(hooks(two["a"]), headers=two[who])).status_code == 403

    async def test_deliveries_go_only_to_the_partners_own_subscriptions(self, client, two, session):
        await subscribe(client, two["token_a"], two["a"], kinds=["payment.recorded"])
        await subscribe(client, two["token_b"], two["b"], kinds=["payment.recorded"])
        account = await make_account(session, two["b"])
        await session.commit()
        paid = await client.post(
            "/api/v1/payments",
            json={
                "account_id": str(account.id), "amount": "10.00", "currency": "MXN",
                "paid_on": business_today().isoformat(), "channel": "cash_store",
            },
            headers={**two["manager"], "Idempotency-Key": uuid.uuid4().hex},
        )  # fmt: skip
        assert paid.status_code == 201, paid.text
        owners = await session.execute(
            text(
                "SELECT s.partner_id FROM webhook_delivery d"
                " JOIN webhook_subscription s ON s.id = d.subscription_id"
                " WHERE s.partner_id IN (:a, :b)"
            ),
            {"a": two["a"].id, "b": two["b"].id},
        )
        assert [r[0] for r in owners] == [two["b"].id]


class TestSsrf:
    @pytest.mark.parametrize(
        "url",
        [
            "http://10.0.0.5/hook",  # private
            "http://192.168.1.10/hook",  # private
            "http://172.16.0.1/hook",  # private
            "http://127.0.0.2/hook",  # loopback outside the allowed 127.0.0.1/32
            "http://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
            "http://100.64.0.1/hook",  # shared address space (CGNAT)
            "http://0.0.0.0/hook",  # unspecified
            "http://[::1]/hook",  # IPv6 loopback
            "http://[fe80::1]/hook",  # IPv6 link-local
            "http://[fd00::1]/hook",  # IPv6 unique local
            "http://[::ffff:10.0.0.1]/hook",  # IPv4-mapped private
            "http://[::ffff:127.0.0.2]/hook",  # IPv4-mapped loopback
            "http://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
            "http://[2002:a00:1::]/hook",  # 6to4 of 10.0.0.1
            "http://167772161/hook",  # 10.0.0.1 written as one number (resolved)
            "http://0x0a000001/hook",  # 10.0.0.1 in hex (resolved)
            "ftp://example.com/hook",
            "http://user:pw@127.0.0.1/hook",
        ],
    )
    async def test_refused_and_nothing_stored(self, client, two, session, url):
        refused = await subscribe(client, two["token_a"], two["a"], url=url)
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert problem["code"] == "invalid_input"
        assert problem["errors"][0]["field"] == "body.url"
        stored = await session.scalar(
            text("SELECT count(*) FROM webhook_subscription WHERE partner_id = :p"),
            {"p": two["a"].id},
        )
        assert stored == 0

    async def test_a_name_resolving_to_loopback_is_refused_without_the_allow_list(self):
        strict = Settings(env="test", _env_file=None)  # type: ignore[call-arg]
        with pytest.raises(DestinationRefused, match="loopback"):
            await webhooks.check_destination("http://localhost:8080/hook", strict)

    async def test_production_takes_only_https(self):
        production = Settings(env="production", _env_file=None)  # type: ignore[call-arg]
        with pytest.raises(DestinationRefused, match="https"):
            await webhooks.check_destination("http://93.184.216.34/hook", production)
        # https to a public address passes the checks (no connection is made here).
        _, addresses = await webhooks.check_destination("https://93.184.216.34/h", production)
        assert addresses == [ipaddress.ip_address("93.184.216.34")]
        with pytest.raises(DestinationRefused, match="loopback"):
            await webhooks.check_destination("https://127.0.0.1/hook", production)

    async def test_the_allow_list_comes_from_the_settings(self, client, two):
        allowed = await subscribe(client, two["token_a"], two["a"], url="http://127.0.0.1:9/h")
        assert allowed.status_code == 201


class TestRotation:
    async def test_both_secrets_sign_during_the_overlap_then_only_the_new(
        self, client, two, session
    ):
        made = (await subscribe(client, two["token_a"], two["a"])).json()
        rotated = await client.post(
            f"{hooks(two['a'])}/{made['id']}/secret-rotation",
            json={"overlap_hours": 2},
            headers=two["token_a"],
        )
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new != made["secret"] and rotated.json()["previous_secret_until"]
        subscription = await session.get(WebhookSubscription, uuid.UUID(made["id"]))
        assert subscription is not None
        now = datetime.now(UTC)
        body = '{"type":"payment.recorded"}'
        from app.domain.webhooks import signing_secrets

        during = signing_secrets(
            subscription.secret, subscription.previous_secret,
            subscription.previous_secret_until, now,
        )  # fmt: skip
        headers = {
            "webhook-id": "evt_1",
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": webhooks.sign(during, "evt_1", now, body),
        }
        assert len(headers["webhook-signature"].split(" ")) == 2
        # A receiver holding either secret accepts the delivery.
        Webhook(made["secret"]).verify(body, headers)
        Webhook(new).verify(body, headers)
        after = signing_secrets(
            subscription.secret, subscription.previous_secret,
            subscription.previous_secret_until, now + timedelta(hours=3),
        )  # fmt: skip
        headers["webhook-signature"] = webhooks.sign(after, "evt_1", now, body)
        Webhook(new).verify(body, headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(made["secret"]).verify(body, headers)


class TestOutbox:
    async def test_a_rolled_back_change_emits_nothing(self, session, two, make_user):
        from app.schemas.payments import PaymentCreate

        account = await make_account(session, two["a"])
        manager = principal_of(await make_user(Role.MANAGER))
        body = PaymentCreate(
            account_id=account.id, amount=Decimal("10.00"), currency="MXN",
            paid_on=business_today(), channel="cash_store",
        )  # fmt: skip
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                await payments.record_payment(session, manager, "rolled-back", body)
                # Inside the change's transaction, the event is there with it...
                assert await kinds_of(session, two["a"].id) == ["payment.recorded"]
                raise RuntimeError("the request failed after the change")
        # ...and gone with it.
        assert await kinds_of(session, two["a"].id) == []
        kept = await payments.record_payment(session, manager, "kept", body)
        assert kept[1] is False
        assert await kinds_of(session, two["a"].id) == ["payment.recorded"]

    async def test_a_subscribed_kind_queues_one_delivery_per_event(self, client, two, session):
        made = (
            await subscribe(client, two["token_a"], two["a"], kinds=["account.recalled"])
        ).json()
        refs = []
        for _ in range(3):
            refs.append((await make_account(session, two["a"])).external_ref)
        await session.commit()
        recalled = await client.post(
            f"/api/v1/partners/{two['a'].id}/recalls",
            json={"external_refs": refs, "reason": "sold"},
            headers={**two["token_a"], "Idempotency-Key": uuid.uuid4().hex},
        )
        assert recalled.status_code in (200, 201), recalled.text
        queued = await session.execute(
            text("SELECT status, attempts FROM webhook_delivery WHERE subscription_id = :s"),
            {"s": made["id"]},
        )
        assert [tuple(r) for r in queued] == [("pending", 0)] * 3
        log = await client.get(f"{hooks(two['a'])}/{made['id']}/deliveries", headers=two["token_a"])
        assert {d["event_type"] for d in log.json()["items"]} == {"account.recalled"}
        one = log.json()["items"][0]["id"]
        again = await client.post(
            f"{hooks(two['a'])}/{made['id']}/deliveries/{one}/retry", headers=two["token_a"]
        )
        assert again.status_code == 202 and again.json()["status"] == "pending"


def _payment(account, amount: str) -> dict[str, str]:
    return {
        "account_id": str(account.id), "amount": amount, "currency": "MXN",
        "paid_on": business_today().isoformat(), "channel": "cash_store",
    }  # fmt: skip


class TestEachKindFromItsAction:
    async def test_payments_reversal_closing_and_recall(self, client, two, session):
        account = await make_account(session, two["a"])
        other = await make_account(session, two["a"])
        await session.commit()
        headers = two["manager"]
        paid = await client.post(
            "/api/v1/payments", json=_payment(account, "10.00"),
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )  # fmt: skip
        assert paid.status_code == 201, paid.text
        reversed_ = await client.post(
            f"/api/v1/payments/{paid.json()['id']}/reversal", json={"reason": "bounced"},
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )  # fmt: skip
        assert reversed_.status_code in (200, 201), reversed_.text
        closed = await client.post(
            "/api/v1/payments", json=_payment(account, str(account.total)),
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )  # fmt: skip
        assert closed.status_code == 201, closed.text
        recalled = await client.post(
            f"/api/v1/partners/{two['a'].id}/recalls",
            json={"external_refs": [other.external_ref], "reason": "sold"},
            headers={**two["token_a"], "Idempotency-Key": uuid.uuid4().hex},
        )
        assert recalled.status_code in (200, 201), recalled.text
        events = await events_of(session, two["a"].id)
        kinds = [e.kind for e in events]
        assert kinds.count("payment.recorded") == 2
        assert "payment.reversed" in kinds
        assert "account.closed" in kinds
        assert "account.recalled" in kinds
        by_kind = {e.kind: e.payload for e in events}
        assert by_kind["account.closed"]["external_ref"] == account.external_ref
        assert by_kind["account.recalled"] == {
            "account_id": str(other.id), "external_ref": other.external_ref,
            "status": "recalled", "reason": "sold",
        }  # fmt: skip
        assert by_kind["payment.reversed"]["payment_id"] == paid.json()["id"]

    async def test_interaction_and_promise_then_broken(self, client, floor, session):
        at = recent_weekday_noon()
        due = at.date() + timedelta(days=2)
        response = await record(
            client, floor,
            rpc(at, floor["points"]["cdmx"].id, result_code="RPC_PTP",
                promise={"amount": "150.00", "due_date": due.isoformat()}),
        )  # fmt: skip
        assert response.status_code == 201, response.text
        partner_id = floor["account"].partner_id
        assert await kinds_of(session, partner_id) == [
            "interaction.recorded", "promise.created",
        ]  # fmt: skip
        await promises.follow_up(session, due + timedelta(days=30))
        events = await events_of(session, partner_id)
        assert events[-1].kind == "promise.broken"
        assert events[-1].payload["promise_id"] == response.json()["promise_id"]
        assert events[0].payload["result_code"] == "RPC_PTP"
        # No personal data: ids, the partner's reference, codes and amounts only.
        assert set(events[0].payload) == {
            "interaction_id", "account_id", "external_ref", "channel", "party",
            "result_code", "occurred_at",
        }  # fmt: skip

    async def test_plans_created_approved_completed_broken(self, client, desk, session):
        partner_id = desk["partner"].id
        proposed = await propose(client, desk)
        assert proposed.status_code == 201, proposed.text
        plan = proposed.json()
        assert plan["status"] == "active"
        assert await kinds_of(session, partner_id) == ["plan.created", "plan.approved"]
        # Paid in full: the settlement completes (and the account closes).
        paid = await client.post(
            "/api/v1/payments", json=_payment(desk["small"], str(plan["totals"]["agreed_total"])),
            headers={**desk["manager"], "Idempotency-Key": uuid.uuid4().hex},
        )  # fmt: skip
        assert paid.status_code == 201, paid.text
        kinds = await kinds_of(session, partner_id)
        assert "plan.completed" in kinds and "payment.recorded" in kinds
        # A plan on the other account, its installments missed: the nightly follow-up.
        second = await propose(client, desk, account="big", who="manager")
        assert second.status_code == 201, second.text
        assert second.json()["status"] == "active", second.json()["status"]
        result = await plans.follow_up_plans(session, business_today() + timedelta(days=400))
        assert result.broken >= 1
        broken = [e for e in await events_of(session, partner_id) if e.kind == "plan.broken"]
        assert [e.payload["plan_id"] for e in broken] == [second.json()["id"]]

    async def test_aging_emits_a_stage_change_per_account_in_one_statement(self, session, two):
        today = business_today()
        moved = [
            await make_account(session, two["a"], dpd=10, aged_as_of=today - timedelta(days=25))
            for _ in range(3)
        ]
        result = await aging.age_accounts(session, today)
        assert result.stage_changes >= 3
        events = [
            e for e in await events_of(session, two["a"].id) if e.kind == "account.stage_changed"
        ]
        assert {e.payload["account_id"] for e in events} == {str(a.id) for a in moved}
        assert {(e.payload["from_stage"], e.payload["to_stage"]) for e in events} == {
            ("early", "mid")
        }

    async def test_assignment_and_payment_file_processed(self, client, two, session):
        pushed = await push_json(client, two["token_a"], two["a"], [row("WH-1"), row("WH-2", 1)])
        assert pushed.status_code == 202, pushed.text
        progress_id = uuid.UUID(pushed.json()["id"])
        done = await assignment_service.process_assignment(session, progress_id)
        line = ["NOPE", "", "10.00", business_today().isoformat(), "cash_store", ""]
        sent = await client.post(
            f"/api/v1/partners/{two['a'].id}/payment-files",
            content=csv_of([line]),
            headers={
                **two["token_a"], "Content-Type": "text/csv",
                "Idempotency-Key": uuid.uuid4().hex,
            },
        )  # fmt: skip
        assert sent.status_code == 202, sent.text
        file = await payment_file_service.process_file(session, uuid.UUID(sent.json()["id"]))
        events = await events_of(session, two["a"].id)
        by_kind = {e.kind: e.payload for e in events}
        assert by_kind["assignment.processed"]["assignment_id"] == str(done.id)
        assert by_kind["assignment.processed"]["status"] == done.status == "completed"
        assert by_kind["assignment.processed"]["created"] == 2
        assert by_kind["payment_file.processed"]["payment_file_id"] == str(file.id)
        assert by_kind["payment_file.processed"]["received"] == 1
