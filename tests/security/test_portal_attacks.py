"""Attacks on the debtor portal: sessions and links crossing accounts or audiences, the
second factor under a burst, tampered offers and promises, bad input of every kind, what
the pages and answers disclose, and the session after logout. Each attack must be refused
as problem+json (or a page) 4xx, never a 500, and write nothing."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from app.domain.roles import Role
from app.models.audit import AuditEvent
from app.models.debtor import ContactConsent
from app.models.interaction import Interaction
from app.models.plan import PaymentPlan
from app.models.portal import PortalLink
from app.models.promise import Promise
from tests.conftest import bearer_for
from tests.factories import assert_problem, make_account, make_debtor, make_partner
from tests.helpers.portal import BIRTH, enter, issue, session_for, token_of
from tests.integration.conftest import committed_url, live  # noqa: F401  (fixtures)


@pytest.fixture
def world(portal_world):
    """The portal's world (tests/helpers/portal.py)."""
    return portal_world


PROBLEM = "application/problem+json"


async def _written(session, account_id: uuid.UUID) -> tuple[int, int, int, int]:
    """What the portal writes for an account: plans, promises, interactions, consents."""

    async def count(model, column) -> int:
        return int(
            await session.scalar(
                select(func.count()).select_from(model).where(column == account_id)
            )
            or 0
        )

    return (
        await count(PaymentPlan, col(PaymentPlan.account_id)),
        await count(Promise, col(Promise.account_id)),
        await count(Interaction, col(Interaction.account_id)),
        int(await session.scalar(select(func.count()).select_from(ContactConsent)) or 0),
    )


def _problem(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    if code is not None:
        assert response.json()["code"] == code, response.json()


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def _page_login(client, world) -> str:
    """Through the pages: the session cookie's value."""
    token = token_of((await issue(client, world)).json()["url"])
    page = await client.get(f"/portal/start?t={token}")
    response = await client.post(
        "/portal/start",
        data={"t": token, "csrf": _csrf(page.text), "factor": "birth_date",
              "birth_date": BIRTH.isoformat()},
    )  # fmt: skip
    assert response.status_code == 303, response.text
    return client.cookies["cartera_portal"]


async def _settlement(client, headers) -> dict:
    offers = (await client.get("/portal/v1/offers", headers=headers)).json()["items"]
    return next(o for o in offers if o["id"] == "settlement")


# --- crossing accounts, creditors and audiences ------------------------------------------


class TestCrossing:
    async def test_a_session_never_reaches_another_accounts_plan(self, client, world, session):
        b = await session_for(client, world, "big", national_id_last4="R09X")
        plan = await client.post("/portal/v1/plans", json=(await _settlement(client, b))["terms"],
                                 headers=b)  # fmt: skip
        assert plan.status_code == 201, plan.text
        plan_id = plan.json()["plan"]["id"]
        a = await session_for(client, world)
        before = await _written(session, world["small"].id)
        _problem(await client.get(f"/portal/v1/plans/{plan_id}/agreement", headers=a), 404)
        # The page and its PDF, with A's cookie.
        await _page_login(client, world)
        assert (await client.get(f"/portal/plans/{plan_id}")).status_code == 404
        assert (await client.get(f"/portal/plans/{plan_id}/agreement.pdf")).status_code == 404
        # A's session: no trace of B's account or debtor anywhere.
        debt = await client.get("/portal/v1/debt", headers=a)
        assert world["big"].external_ref not in debt.text and plan_id not in debt.text
        assert (await _written(session, world["small"].id))[0] == before[0]

    async def test_no_path_takes_another_account_id(self, client, world):
        a = await session_for(client, world)
        for path in (
            f"/portal/v1/accounts/{world['foreign'].id}/debt",
            f"/portal/v1/debt?account_id={world['foreign'].id}",
        ):
            response = await client.get(path, headers=a)
            assert response.status_code in (200, 404), path
            assert world["foreign"].external_ref not in response.text
            assert "Financiera Otra" not in response.text

    async def test_tokens_never_cross_audiences(self, client, world, settings, session):
        portal = await session_for(client, world)
        link = (await issue(client, world, "big")).json()
        link_token = token_of(link["url"])
        for headers in (world["collector"], world["manager"], world["bank_system"],
                        {"Authorization": f"Bearer {link_token}"}):  # fmt: skip
            _problem(await client.get("/portal/v1/debt", headers=headers), 401,
                     "portal_session_invalid")  # fmt: skip
        for headers in (portal, {"Authorization": f"Bearer {link_token}"}):
            for path in (f"/api/v1/accounts/{world['small'].id}", "/api/v1/accounts"):
                _problem(await client.get(path, headers=headers), 401)
            _problem(await client.post(f"/api/v1/accounts/{world['small'].id}/portal-links",
                                       headers=headers), 401)  # fmt: skip
        # A portal session cannot issue itself links through the staff API either.
        links = await session.scalar(
            select(func.count()).select_from(PortalLink)
            .where(col(PortalLink.account_id) == world["small"].id)
        )  # fmt: skip
        assert links == 1

    async def test_tampered_expired_and_replaced_sessions(self, client, world, clock, settings):
        start = datetime.now(UTC)
        clock.now = start
        headers = await session_for(client, world)
        token = headers["Authorization"].removeprefix("Bearer ")
        head, payload, signature = token.split(".")
        for forged in (
            f"{head}.{payload}.{signature[:-2]}AA",
            f"{head}.{payload}x.{signature}",
            "eyJhbGciOiJub25lIn0." + payload + ".",
            token + "." + token,
            "x" * 5000,
        ):
            _problem(await client.get("/portal/v1/debt",
                                      headers={"Authorization": f"Bearer {forged}"}),
                     401, "portal_session_invalid")  # fmt: skip
        # A forged cookie is no session on the pages either.
        client.cookies.set("cartera_portal", f"{head}.{payload}.{signature[:-2]}AA",
                           path="/portal")  # fmt: skip
        assert (await client.get("/portal/debt")).status_code == 401
        client.cookies.clear()

    async def test_a_tampered_link_token(self, client, world, session):
        token = token_of((await issue(client, world)).json()["url"])
        link_hex, secret, signature = token.split(".")
        other = token_of((await issue(client, world, "big")).json()["url"])
        other_hex, other_secret, other_sig = other.split(".")
        for forged in (
            f"{other_hex}.{secret}.{signature}",  # A's secret under B's id
            f"{link_hex}.{other_secret}.{other_sig}",
            f"{link_hex}.{secret}.{signature.upper()}",
            f"{link_hex}.{secret}.{signature}.",
            f"{link_hex}..{signature}",
            token + "\x00",
            token[:-1],
        ):
            _problem(await enter(client, forged), 401, "portal_link_invalid")
        links = (await session.scalars(select(PortalLink))).all()
        assert all(link.failed_attempts == 0 for link in links)


# --- the second factor -------------------------------------------------------------------


class TestSecondFactor:
    async def test_unknown_and_wrong_links_answer_alike(self, client, world, clock):
        start = datetime.now(UTC)
        clock.now = start
        expired = token_of((await issue(client, world, "current")).json()["url"])
        replaced = token_of((await issue(client, world, "big")).json()["url"])
        await issue(client, world, "big")
        clock.now = start + timedelta(days=8)
        live_token = token_of((await issue(client, world)).json()["url"])
        link_hex, secret, signature = live_token.split(".")
        answers = []
        for token in (expired, replaced, f"{uuid.uuid4().hex}.{secret}.{signature}",
                      f"{link_hex}.{secret}x.{signature}", "nonsense"):  # fmt: skip
            response = await enter(client, token)
            _problem(response, 401, "portal_link_invalid")
            body = response.json()
            answers.append((body["title"], body["detail"], sorted(body)))
        assert len(set(map(str, answers))) == 1, answers

    async def test_wrong_factors_of_every_shape_are_refused(self, client, world, session):
        body = (await issue(client, world)).json()
        token = token_of(body["url"])
        for factor in (
            {"national_id_last4": "RR0\x00"},
            {"national_id_last4": "ＲＲ０９"},
            {"national_id_last4": 1234},
            {"birth_date": 19850430},
            {"birth_date": "30/04/1985"},
            {},
        ):
            response = await client.post("/portal/v1/sessions", json={"token": token, **factor})
            _problem(response, 422)
        response = await client.post("/portal/v1/sessions",
                                     json={"token": token, "birth_date": BIRTH.isoformat(),
                                           "account_id": str(world["big"].id)})  # fmt: skip
        _problem(response, 422)
        link = await session.get(PortalLink, uuid.UUID(body["id"]), populate_existing=True)
        assert link is not None and link.failed_attempts == 0 and link.verified_at is None

    async def test_the_fifth_wrong_answer_locks_even_with_the_right_one_after(self, client, world):
        token = token_of((await issue(client, world)).json()["url"])
        for _ in range(5):
            await enter(client, token, national_id_last4="0000")
        _problem(await enter(client, token), 423, "portal_link_locked")
        _problem(await enter(client, token, national_id_last4="RR09"), 423, "portal_link_locked")


async def _committed_world(database, collector_id: uuid.UUID | None = None):
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
        debtor = await make_debtor(session, national_id="LOGM850430MDFPRR09", birth_date=BIRTH)
        account = await make_account(
            session, partner, debtor, dpd=120, stage="nonaccrual",
            principal=Decimal("10000.00"), interest=Decimal("0"), fees=Decimal("0"),
            past_due_amount=Decimal("1000.00"), assigned_collector_id=collector_id,
        )  # fmt: skip
    return account


async def test_twenty_concurrent_wrong_answers_evaluate_at_most_five(live):  # noqa: F811
    client, add_user, database = live
    collector = await add_user(Role.COLLECTOR)
    account = await _committed_world(database, collector.id)
    settings = client._transport.app.state.settings  # type: ignore[attr-defined]
    headers = bearer_for(settings, collector)
    link = await client.post(f"/api/v1/accounts/{account.id}/portal-links", headers=headers)
    assert link.status_code == 201, link.text
    token = token_of(link.json()["url"])
    responses = await asyncio.gather(
        *(
            client.post("/portal/v1/sessions",
                        json={"token": token, "birth_date": f"1990-01-{n + 1:02d}"})
            for n in range(20)
        )
    )  # fmt: skip
    statuses = [r.status_code for r in responses]
    assert 500 not in statuses
    assert set(statuses) <= {401, 423, 429}, statuses
    assert statuses.count(401) <= 4, statuses
    # Locked for good: the right answer no longer opens it.
    right = await client.post("/portal/v1/sessions",
                              json={"token": token, "birth_date": BIRTH.isoformat()})  # fmt: skip
    assert right.status_code in (423, 429), right.text
    async with database.sessionmaker() as session:
        row = await session.get(PortalLink, uuid.UUID(link.json()["id"]))
        failures = await session.scalar(
            select(func.count()).select_from(AuditEvent)
            .where(col(AuditEvent.action) == "portal.verification_failed")
        )  # fmt: skip
        opened = await session.scalar(
            select(func.count()).select_from(AuditEvent)
            .where(col(AuditEvent.action) == "portal.session_opened")
        )  # fmt: skip
    assert row is not None and row.locked_at is not None
    assert row.failed_attempts == 5 and failures == 5 and opened == 0


async def test_accepting_twice_at_once_stores_one_plan(live):  # noqa: F811
    client, add_user, database = live
    collector = await add_user(Role.COLLECTOR)
    account = await _committed_world(database, collector.id)
    settings = client._transport.app.state.settings  # type: ignore[attr-defined]
    link = await client.post(f"/api/v1/accounts/{account.id}/portal-links",
                             headers=bearer_for(settings, collector))  # fmt: skip
    opened = await client.post("/portal/v1/sessions",
                               json={"token": token_of(link.json()["url"]),
                                     "birth_date": BIRTH.isoformat()})  # fmt: skip
    headers = {"Authorization": f"Bearer {opened.json()['access_token']}"}
    terms = (await _settlement(client, headers))["terms"]
    responses = await asyncio.gather(
        *(client.post("/portal/v1/plans", json=terms, headers=headers) for _ in range(4))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409], [r.text for r in responses]
    async with database.sessionmaker() as session:
        plans = await session.scalar(
            select(func.count()).select_from(PaymentPlan)
            .where(col(PaymentPlan.account_id) == account.id)
        )  # fmt: skip
    assert plans == 1


# --- offers, promises and bad input ------------------------------------------------------


class TestTamperedOffers:
    async def test_every_changed_term_is_refused_and_nothing_written(self, client, world, session):
        headers = await session_for(client, world)
        offer = await _settlement(client, headers)
        terms = offer["terms"]
        before = await _written(session, world["small"].id)
        later = (date.fromisoformat(terms["first_due_date"]) + timedelta(days=30)).isoformat()
        changes = (
            {"discount_pct": "100"}, {"discount_pct": "-5"}, {"discount_pct": "30.001"},
            {"discount_pct": "NaN"}, {"discount_pct": "1e2"}, {"down_payment": "-1"},
            {"down_payment": "99999999999999999999"}, {"installments": 0},
            {"installments": 10**12}, {"installments": 1.5},
            {"frequency": "daily"}, {"first_due_date": later},
            {"first_due_date": "9999-12-31"}, {"plan_type": "forgiveness"},
            {"annual_rate_pct": "-10"}, {"account_id": str(world["big"].id)},
            {"plan_type": None}, {"plan_type": ["settlement"]},
        )  # fmt: skip
        for change in changes:
            response = await client.post("/portal/v1/plans", json={**terms, **change},
                                         headers=headers)  # fmt: skip
            assert 400 <= response.status_code < 500, (change, response.text)
            assert response.headers["content-type"].startswith(PROBLEM), change
        for raw in (b"", b"null", b"[]", b"{", b'"x"', b"\xff\xfe"):
            as_json = {**headers, "Content-Type": "application/json"}
            response = await client.post("/portal/v1/plans", content=raw, headers=as_json)
            assert 400 <= response.status_code < 500, (raw, response.text)
        after = await _written(session, world["small"].id)
        assert after[0] == before[0] and after[1] == before[1]

    async def test_a_huge_body_is_refused(self, client, world):
        headers = await session_for(client, world)
        huge = {"amount": "1.00", "due_date": "2030-01-01", "pad": "x" * 11_000_000}
        response = await client.post("/portal/v1/promises", json=huge, headers=headers)
        assert_problem(response, 413, "payload_too_large")
        assert response.headers["content-type"].startswith(PROBLEM)


class TestPromises:
    async def test_bad_promises_are_refused_and_nothing_written(self, client, world, session):
        headers = await session_for(client, world)
        soon = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
        before = await _written(session, world["small"].id)
        for body in (
            {"amount": "-100.00", "due_date": soon},
            {"amount": "0.00", "due_date": soon},
            {"amount": "0.001", "due_date": soon},
            {"amount": "10000.01", "due_date": soon},
            {"amount": "1" + "0" * 40, "due_date": soon},
            {"amount": "1e400", "due_date": soon},
            {"amount": "NaN", "due_date": soon},
            {"amount": "Infinity", "due_date": soon},
            {"amount": "１００", "due_date": soon},
            {"amount": 100.5, "due_date": soon},
            {"amount": True, "due_date": soon},
            {"amount": "100.00", "due_date": "9999-12-31"},
            {"amount": "100.00", "due_date": "0001-01-01"},
            {"amount": "100.00", "due_date": "2020-02-30"},
            # two days back: yesterday on every clock from UTC-12 to UTC+14
            {"amount": "100.00", "due_date": (date.today() - timedelta(days=2)).isoformat()},
            {"amount": "100.00\x00", "due_date": soon},
            {"amount": "100.00", "due_date": soon, "account_id": str(world["big"].id)},
            {"amount": "100.00", "due_date": soon, "status": "kept"},
            {"amount": ["100.00"], "due_date": soon},
            {"due_date": soon},
        ):
            response = await client.post("/portal/v1/promises", json=body, headers=headers)
            assert_problem(response, 422, ("invalid_input", "validation_failed"))
            assert response.headers["content-type"].startswith(PROBLEM), body
        assert await _written(session, world["small"].id) == before

    async def test_bad_contact_preferences(self, client, world, session):
        headers = await session_for(client, world)
        before = await _written(session, world["small"].id)
        for body in (
            {"channel": "letter"}, {"channel": "visit"}, {"channel": "SMS"},
            {"channel": "sms\x00"}, {"channel": "sms", "preferred_time": "3am"},
            {"channel": "sms", "debtor_id": str(world["big"].debtor_id)},
            {"channel": 1}, {}, [],
        ):  # fmt: skip
            response = await client.put("/portal/v1/contact-preference", json=body,
                                        headers=headers)  # fmt: skip
            assert_problem(response, 422, "validation_failed")
            assert response.headers["content-type"].startswith(PROBLEM), body
        assert await _written(session, world["small"].id) == before


# --- the pages: CSRF, logout, redirects, headers, what they disclose ----------------------


class TestPages:
    async def test_every_form_post_needs_its_csrf(self, client, world, session):
        cookie = await _page_login(client, world)
        page = await client.get("/portal/debt")
        form = page.text.split('id="offer-settlement"', 1)[1]
        fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', form))
        before = await _written(session, world["small"].id)
        # The start form's CSRF (of the link) is not the session's.
        token = token_of((await issue(client, world, "big")).json()["url"])
        start_csrf = _csrf((await client.get(f"/portal/start?t={token}")).text)
        for csrf in ("", "0" * 64, fields["csrf"].upper(), start_csrf, None):
            data = {k: v for k, v in fields.items() if k != "csrf"}
            if csrf is not None:
                data["csrf"] = csrf
            client.cookies.set("cartera_portal", cookie, path="/portal")
            response = await client.post("/portal/offers", data=data)
            assert response.status_code in (403, 422), (csrf, response.status_code)
        # The link form: missing, wrong, or another link's token.
        other = token_of((await issue(client, world)).json()["url"])
        for data in (
            {"t": other, "birth_date": BIRTH.isoformat()},
            {"t": other, "csrf": start_csrf, "birth_date": BIRTH.isoformat()},
            {"t": other, "csrf": "", "birth_date": BIRTH.isoformat()},
        ):
            response = await client.post("/portal/start", data=data)
            assert response.status_code in (403, 422), (data, response.status_code)
        assert (await _written(session, world["small"].id))[0] == before[0]
        link = await session.scalar(
            select(PortalLink).where(col(PortalLink.account_id) == world["small"].id,
                                     col(PortalLink.revoked_at).is_(None))
        )  # fmt: skip
        assert link is not None and link.verified_at is None

    async def test_a_session_ends_at_logout(self, client, world, session):
        cookie = await _page_login(client, world)
        # A second session of the same link (another tab, or a copy) ends with it.
        api = {"Authorization": f"Bearer {cookie}"}
        assert (await client.get("/portal/v1/debt", headers=api)).status_code == 200
        page = await client.get("/portal/debt")
        assert page.status_code == 200
        out = await client.post("/portal/logout", data={"csrf": _csrf(page.text)})
        assert out.status_code == 200
        assert "cartera_portal" not in client.cookies
        # The cookie as it was (kept by a shared computer, a proxy or a thief) is dead too.
        client.cookies.set("cartera_portal", cookie, path="/portal")
        assert (await client.get("/portal/debt")).status_code == 401
        _problem(await client.get("/portal/v1/debt", headers=api), 401, "portal_session_invalid")
        ended = await session.scalar(
            select(func.count()).select_from(AuditEvent)
            .where(col(AuditEvent.action) == "portal.session_ended")
        )  # fmt: skip
        assert ended == 1
        # The link still opens a new session.
        link = (await issue(client, world)).json()
        assert (await enter(client, token_of(link["url"]))).status_code == 201

    async def test_logout_needs_its_csrf(self, client, world, session):
        cookie = await _page_login(client, world)
        for data in ({}, {"csrf": "0" * 64}):
            client.cookies.set("cartera_portal", cookie, path="/portal")
            assert (await client.post("/portal/logout", data=data)).status_code == 403
        client.cookies.set("cartera_portal", cookie, path="/portal")
        assert (await client.get("/portal/debt")).status_code == 200
        # Without any session it only clears the cookie.
        client.cookies.clear()
        assert (await client.post("/portal/logout")).status_code == 200

    async def test_no_open_redirect(self, client, world):
        await _page_login(client, world)
        for path in (
            "/portal/start?t=x&next=https://evil.example",
            "/portal//evil.example/",
            "/portal/debt/",
            "//evil.example/portal/debt",
            "/portal/start/?t=//evil.example",
        ):
            response = await client.get(path)
            assert response.status_code != 500, path
            location = urlsplit(response.headers.get("location", ""))
            # A redirect, if any, stays on this host and in the portal.
            assert location.netloc in ("", "test"), (path, location)
            assert not location.path.startswith("//"), (path, location)

    async def test_headers_on_pages_with_personal_data(self, client, world):
        await _page_login(client, world)
        page = await client.get("/portal/debt")
        for response in (page, await client.get("/portal/v1/debt",
                         headers=await session_for(client, world))):  # fmt: skip
            assert "no-store" in response.headers["cache-control"]
            assert response.headers["x-frame-options"] == "DENY"
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"

    async def test_no_personal_data_leaks(self, client, world, session):
        await _page_login(client, world)
        html = (await client.get("/portal/debt")).text
        headers = await session_for(client, world)
        answers = [html]
        for path in ("/portal/v1/debt", "/portal/v1/offers", "/portal/v1/payment-instructions"):
            answers.append((await client.get(path, headers=headers)).text)
        for text in answers:
            assert "LOGM850430MDFPRR09" not in text
            assert BIRTH.isoformat() not in text and "30/04/1985" not in text
            assert "1985" not in text
            assert world["big"].external_ref not in text
            assert world["foreign"].external_ref not in text

    async def test_reflected_link_token_is_escaped(self, client):
        payload = '"><script>alert(1)</script>'
        response = await client.get("/portal/start", params={"t": payload})
        assert "<script>" not in response.text
        form = {"t": payload, "csrf": "x", "birth_date": "x"}
        response = await client.post("/portal/start", data=form)
        assert "<script>" not in response.text and response.status_code == 403


# a fixed id: xdist workers must collect the same parameters
NO_SUCH_PLAN = "0193a1b2-7c4d-7e5f-8a6b-9c0d1e2f3a4b"


@pytest.mark.parametrize("path", ["/portal/debt", f"/portal/plans/{NO_SUCH_PLAN}"])
async def test_pages_without_a_session(client, path):
    response = await client.get(path)
    assert response.status_code == 401
    assert "no-store" in response.headers["cache-control"]


def test_a_session_ends_with_the_second_of_a_logout():
    from app.domain.portal import session_ended

    at = datetime(2026, 12, 5, 12, 0, 0, 700_000, tzinfo=UTC)
    opened = at.replace(microsecond=0)  # a token's iat: whole seconds
    assert not session_ended(opened, None)
    assert session_ended(opened, at)
    assert not session_ended(opened + timedelta(seconds=1), at)
