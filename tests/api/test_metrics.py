"""What /metrics counts, driven through the API: the documentation's routes by their own
template, refused logins, contact-check verdicts and reasons, and the registration hook the
job queue's metrics plug into."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from app import observability
from app.domain.roles import Role
from tests.factories import make_account, make_partner, partner_bearer, push_rows

TOKEN_URL = "/api/v1/auth/token"
CLIENT_TOKEN_URL = "/api/v1/auth/client-token"
CDMX = ZoneInfo("America/Mexico_City")


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def requests_to(route: str) -> float:
    return sum(
        value("cartera_http_requests_total", method="GET", route=route, status=status)
        for status in ("200", "304", "404")
    )


# The documentation's paths and the route each is counted under.
DOCUMENTATION = {
    "/docs": "/docs",
    "/redoc": "/redoc",
    "/openapi.json": "/openapi.json",
    "/docs/oauth2-redirect": "/docs/oauth2-redirect",
    "/docs/swagger-init.js": "/docs/swagger-init.js",
    "/docs/static/swagger-ui.css": "/docs/static/{path}",
    "/docs/static/redoc.standalone.js": "/docs/static/{path}",
}


def reason_counts() -> dict[tuple[str, str], float]:
    return {
        (sample.labels["reason"], sample.labels["basis"]): sample.value
        for family in REGISTRY.collect()
        if family.name == "cartera_contact_check_reasons"
        for sample in family.samples
        if sample.name == "cartera_contact_check_reasons_total"
    }


class TestRouteLabels:
    async def test_the_documentation_is_counted_under_its_routes(self, client):
        routes = set(DOCUMENTATION.values())
        before = {route: requests_to(route) for route in routes}
        unmatched = requests_to("unmatched")
        for path in DOCUMENTATION:
            assert (await client.get(path)).status_code == 200, path
        for route in routes:
            served = sum(1 for r in DOCUMENTATION.values() if r == route)
            assert requests_to(route) == before[route] + served, route
        assert requests_to("unmatched") == unmatched

    async def test_a_path_no_route_serves_is_unmatched(self, client):
        unmatched = requests_to("unmatched")
        response = await client.get("/no/such/page/4711")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
        assert requests_to("unmatched") == unmatched + 1

    async def test_the_scrape_shows_the_route_templates(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        await client.get("/openapi.json")
        await client.get("/docs/static/swagger-ui.css")
        body = (await client.get("/metrics", headers=auth_headers(admin))).text
        assert 'route="/openapi.json"' in body
        assert 'route="/docs/static/{path}"' in body
        assert "swagger-ui.css" not in body


class TestLoginFailures:
    async def test_a_wrong_password_is_counted(self, client, make_user):
        user = await make_user(Role.COLLECTOR)
        labels = {"grant": "password", "reason": "invalid_credentials"}
        before = value("cartera_login_failures_total", **labels)
        response = await client.post(
            TOKEN_URL, data={"username": user.username, "password": "not-the-password"}
        )
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_credentials"
        assert value("cartera_login_failures_total", **labels) == before + 1

    async def test_a_wrong_client_secret_is_counted_under_its_grant(self, client):
        labels = {"grant": "client_credentials", "reason": "invalid_credentials"}
        before = value("cartera_login_failures_total", **labels)
        response = await client.post(
            CLIENT_TOKEN_URL,
            data={
                "grant_type": "client_credentials",
                "client_id": "no-such-client",
                "client_secret": "wrong",
            },
        )
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_client"
        assert value("cartera_login_failures_total", **labels) == before + 1

    async def test_attempts_refused_while_locked_are_counted_as_locked(
        self, client, make_user, settings
    ):
        user = await make_user(Role.COLLECTOR)
        locked = {"grant": "password", "reason": "locked"}
        wrong = {"grant": "password", "reason": "invalid_credentials"}
        before_locked = value("cartera_login_failures_total", **locked)
        before_wrong = value("cartera_login_failures_total", **wrong)
        lockouts = value("cartera_login_lockouts_total", kind="name_address")
        form = {"username": user.username, "password": "not-the-password"}
        for _ in range(settings.login_max_failures):
            assert (await client.post(TOKEN_URL, data=form)).json()["code"] == (
                "invalid_credentials"
            )
        refused = await client.post(TOKEN_URL, data=form)
        assert refused.status_code == 429
        assert refused.json()["code"] == "login_locked"
        assert value("cartera_login_failures_total", **wrong) == (
            before_wrong + settings.login_max_failures
        )
        assert value("cartera_login_failures_total", **locked) == before_locked + 1
        assert value("cartera_login_lockouts_total", kind="name_address") == lockouts + 1


class TestContactChecks:
    async def test_verdict_and_each_reason_are_counted(
        self, client, session, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        partner = await make_partner(session)
        account = await make_account(session, partner)
        # 23:00 on the debtor's clock, two days back: no country lets a collector call then.
        day = datetime.now(CDMX).date() - timedelta(days=2)
        night = datetime(day.year, day.month, day.day, 23, 0, tzinfo=CDMX).astimezone(UTC)
        refused = {"channel": "call", "verdict": "refused"}
        before = value("cartera_contact_checks_total", **refused)
        reasons_before = reason_counts()
        response = await client.post(
            f"/api/v1/accounts/{account.id}/contact-check",
            json={"channel": "call", "party": "debtor", "at": night.isoformat()},
            headers=auth_headers(admin),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["allowed"] is False
        assert "outside_hours" in {r["code"] for r in body["reasons"]}
        assert value("cartera_contact_checks_total", **refused) == before + 1
        # Each reason the answer gives is counted once, under its code and basis; no other.
        given = {(r["code"], r["basis"]) for r in body["reasons"]}
        after = reason_counts()
        moved = {key for key, count in after.items() if count != reasons_before.get(key, 0.0)}
        assert moved == given
        assert all(after[key] == reasons_before.get(key, 0.0) + 1 for key in given)


class QueueDepth:
    """A collector as the job queue would register one: read at every scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "cartera_test_queue_depth", "Jobs waiting, by kind.", labels=["kind"]
        )
        family.add_metric(["assignment"], 3)
        yield family


@pytest.fixture
def queue_depth() -> Iterator[QueueDepth]:
    collector = QueueDepth()
    observability.add_collector(collector)
    yield collector
    observability.EXTRA_COLLECTORS.remove(collector)


async def test_registered_collectors_and_hooks_join_the_scrape(
    app, client, make_user, auth_headers, queue_depth
):
    admin = await make_user(Role.ADMIN)
    seen: list[object] = []

    async def hook(database: object) -> None:
        seen.append(database)

    observability.add_scrape_hook(hook)
    try:
        scraped = await client.get("/metrics", headers=auth_headers(admin))
    finally:
        observability.SCRAPE_HOOKS.remove(hook)
    assert scraped.status_code == 200
    samples = {
        (sample.name, sample.labels.get("kind")): sample.value
        for family in text_string_to_metric_families(scraped.text)
        for sample in family.samples
    }
    assert samples[("cartera_test_queue_depth", "assignment")] == 3
    # Hooks get the app's database, to read what they report (queue depths, ages).
    assert seen == [app.state.database]


async def test_the_job_queue_is_scraped_by_task(client, session, settings, make_user, auth_headers):
    """A push accepted is a job waiting: the scrape reads the queue's depth per task."""
    admin = await make_user(Role.ADMIN)
    partner = await make_partner(session)
    system = await partner_bearer(session, settings, partner)
    pushed = await client.post(
        f"/api/v1/partners/{partner.id}/assignments",
        json={"rows": push_rows(["Q-1"])},
        headers={**system, "Idempotency-Key": "queue-metrics-1"},
    )
    assert pushed.status_code == 202, pushed.text
    scraped = await client.get("/metrics", headers=auth_headers(admin))
    depth = {
        sample.labels["task"]: sample.value
        for family in text_string_to_metric_families(scraped.text)
        for sample in family.samples
        if sample.name == "cartera_job_queue_depth"
    }
    assert depth.get("cartera.push", 0) >= 1, depth
