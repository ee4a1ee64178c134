"""Accounts: list (filters, sorts, cursors), detail, assignment, history and pauses; who
sees which account."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from app.domain.roles import Role
from app.models.account import Account, AccountEvent, AccountPause
from app.models.audit import AuditEvent
from app.models.debtor import ContactPoint, RelatedParty
from app.models.partner import Partner
from app.services.principal_cache import PrincipalCache
from tests.factories import (
    assert_problem,
    business_today,
    counted_statements,
    make_account,
    make_debtor,
    make_partner,
    make_team,
    partner_bearer,
)

ACCOUNTS = "/api/v1/accounts"
TODAY = business_today()


def url(account, suffix: str = "") -> str:
    return f"{ACCOUNTS}/{account.id}{suffix}"


async def ids_of(client, headers, **params) -> list[str]:
    response = await client.get(ACCOUNTS, params={"limit": 200, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def all_pages(client, headers, **params) -> list[dict]:
    items, cursor, pages = [], None, 0
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = await client.get(ACCOUNTS, params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items
        assert pages < 100


async def patch(client, account, body, headers, version=1):
    return await client.patch(
        url(account), json=body, headers={**headers, "If-Match": f'"{version}"'}
    )


class TestListAccounts:
    async def test_admin_lists_a_partners_accounts_with_the_documented_shape(
        self, client, session, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        partner = await make_partner(session)
        debtor = await make_debtor(session, national_id="LOGA800101MDFPRR05")
        account = await make_account(session, partner, debtor, dpd=35, principal="1234.56")
        response = await client.get(
            ACCOUNTS, params={"partner_id": str(partner.id)}, headers=auth_headers(admin)
        )
        assert response.status_code == 200
        body = response.json()
        assert body["next_cursor"] is None
        [item] = body["items"]
        assert item == {
            "id": str(account.id),
            "partner_id": str(partner.id),
            "external_ref": account.external_ref,
            "product_type": "installment",
            "currency": "MXN",
            "total": "1384.56",
            "past_due_amount": "300.00",
            "dpd": 35,
            "stage": "mid",
            "mop_code": "03",
            "status": "active",
            "assigned_collector_id": None,
            "assigned_collector_name": None,
            "assigned_team_id": None,
            "debtor": {
                "id": str(debtor.id),
                "full_name": "María Fernanda López García",
                "national_id_type": "CURP",
                "national_id_masked": "****RR05",
            },
            "version": 1,
            "updated_at": item["updated_at"],
        }

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"stage": "early"}, {"early"}),
            ({"stage": ["early", "late"]}, {"early", "late"}),
            ({"status": "recalled"}, {"recalled"}),
            ({"min_dpd": 30, "max_dpd": 70}, {"mid", "late"}),
            ({"min_total": "2000", "max_total": "2999.99"}, {"big"}),
            ({"external_ref": "REF-LATE"}, {"late"}),
            ({"collector": True}, {"assigned"}),
            ({"team": True}, {"assigned"}),
        ],
        # Sorted: a set's order changes between processes, and xdist's workers must agree.
        ids=lambda v: str(sorted(v) if isinstance(v, set) else v),
    )
    async def test_each_filter_narrows_the_list(
        self, client, session, make_user, auth_headers, params, expected
    ):
        manager = await make_user(Role.MANAGER)
        collector = await make_user(Role.COLLECTOR)
        team = await make_team(session, members=[collector])
        partner = await make_partner(session)
        made = {
            "early": await make_account(session, partner, dpd=10),
            "mid": await make_account(session, partner, dpd=45),
            "late": await make_account(session, partner, dpd=65, external_ref="REF-LATE"),
            "recalled": await make_account(session, partner, dpd=200, status="recalled"),
            "big": await make_account(session, partner, principal="2500.00", interest="0"),
            "assigned": await make_account(
                session,
                partner,
                dpd=-5,
                assigned_collector_id=collector.id,
                assigned_team_id=team.id,
            ),
        }
        query = {"partner_id": str(partner.id)}
        for key, value in params.items():
            if key == "collector":
                query["collector_id"] = str(collector.id)
            elif key == "team":
                query["team_id"] = str(team.id)
            else:
                query[key] = value
        found = await ids_of(client, auth_headers(manager), **query)
        assert sorted(found) == sorted(str(made[name].id) for name in expected)

    async def test_the_partner_filter_keeps_other_partners_out(
        self, client, session, make_user, auth_headers
    ):
        auditor = await make_user(Role.AUDITOR)
        mine, other = await make_partner(session), await make_partner(session)
        a = await make_account(session, mine)
        await make_account(session, other)
        assert await ids_of(client, auth_headers(auditor), partner_id=str(mine.id)) == [str(a.id)]

    @pytest.mark.parametrize("sort", ["id", "dpd", "-dpd", "total", "-total"])
    async def test_pages_cover_every_row_once_in_the_sort_order(
        self, client, session, make_user, auth_headers, sort
    ):
        admin = await make_user(Role.ADMIN)
        partner = await make_partner(session)
        # Ties on dpd and total, so the id tie-break matters across page edges.
        for dpd, principal in [(5, "10"), (5, "10"), (40, "99.99"), (5, "500"), (0, "10"),
                               (40, "10"), (200, "500"), (5, "99.99"), (-3, "0.01")]:  # fmt: skip
            await make_account(
                session, partner, dpd=dpd, principal=principal, interest="0", fees="0"
            )
        items = await all_pages(
            client, auth_headers(admin), partner_id=str(partner.id), sort=sort, limit=2
        )
        assert len(items) == 9
        assert len({i["id"] for i in items}) == 9
        field = sort.lstrip("-")

        def key(item):
            value = Decimal(item["total"]) if field == "total" else item.get(field)
            return (value, uuid.UUID(item["id"])) if field != "id" else uuid.UUID(item["id"])

        assert items == sorted(items, key=key, reverse=sort.startswith("-"))

    async def test_filters_and_sort_combine_across_pages(
        self, client, session, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        partner = await make_partner(session)
        for dpd in (1, 15, 15, 29, 45):
            await make_account(session, partner, dpd=dpd)
        items = await all_pages(
            client,
            auth_headers(admin),
            partner_id=str(partner.id),
            stage="early",
            sort="-dpd",
            limit=1,
        )
        assert [i["dpd"] for i in items] == [29, 15, 15, 1]

    @pytest.mark.parametrize(
        "cursor",
        [
            "garbage!",
            "W10",  # base64 of "[]"
            "WyJhIl0",  # ["a"]: wrong arity
        ],
    )
    async def test_a_bad_cursor_is_422(self, client, make_user, auth_headers, cursor):
        admin = await make_user(Role.ADMIN)
        response = await client.get(
            ACCOUNTS, params={"cursor": cursor}, headers=auth_headers(admin)
        )
        assert_problem(response, 422, "invalid_input")
        assert response.json()["errors"][0]["field"] == "query.cursor"

    async def test_a_cursor_of_another_sort_or_with_a_bad_value_is_422(
        self, client, session, make_user, auth_headers
    ):
        from app.pagination import encode_cursor

        admin = await make_user(Role.ADMIN)
        partner = await make_partner(session)
        for _ in range(3):
            await make_account(session, partner)
        first = await client.get(
            ACCOUNTS,
            params={"partner_id": str(partner.id), "sort": "dpd", "limit": 1},
            headers=auth_headers(admin),
        )
        cursor = first.json()["next_cursor"]
        assert cursor
        other_sort = await client.get(
            ACCOUNTS, params={"sort": "total", "cursor": cursor}, headers=auth_headers(admin)
        )
        assert_problem(other_sort, 422, "invalid_input")
        for sort, value in (("dpd", "x"), ("total", "NaN"), ("total", "1e999999"), ("id", "1")):
            forged = encode_cursor(sort, value, "not-a-uuid" if sort == "id" else uuid.uuid4())
            response = await client.get(
                ACCOUNTS, params={"sort": sort, "cursor": forged}, headers=auth_headers(admin)
            )
            assert_problem(response, 422, "invalid_input")

    @pytest.mark.parametrize(("limit", "status"), [(0, 422), (201, 422), (1, 200), (200, 200)])
    async def test_limit_is_bounded(self, client, make_user, auth_headers, limit, status):
        admin = await make_user(Role.ADMIN)
        response = await client.get(ACCOUNTS, params={"limit": limit}, headers=auth_headers(admin))
        assert response.status_code == status

    @pytest.mark.parametrize(
        "params",
        [
            {"sort": "name"},
            {"stage": "overdue"},
            {"status": "open"},
            {"min_total": "1.00001"},
            {"min_total": "NaN"},
            {"min_total": "1e3"},
            {"max_total": "\uff19\uff19"},
            {"max_total": "-1"},
            {"min_dpd": 10**10},
            {"partner_id": "x"},
        ],
    )
    async def test_bad_filters_are_422(self, client, make_user, auth_headers, params):
        admin = await make_user(Role.ADMIN)
        response = await client.get(ACCOUNTS, params=params, headers=auth_headers(admin))
        assert_problem(response, 422, "validation_failed")

    async def test_a_page_takes_the_same_number_of_queries_whatever_its_size(
        self, client, session, connection, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        partner = await make_partner(session)
        for dpd in range(60):
            await make_account(session, partner, dpd=dpd)
        statements: list[str] = []

        def count(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        async def queries_for(limit: int) -> int:
            statements.clear()
            response = await client.get(
                ACCOUNTS,
                params={"partner_id": str(partner.id), "limit": limit},
                headers=auth_headers(admin),
            )
            assert response.status_code == 200
            assert len(response.json()["items"]) == limit
            return len(statements)

        sync_connection = connection.sync_connection
        event.listen(sync_connection, "before_cursor_execute", count)
        try:
            small, large = await queries_for(5), await queries_for(50)
        finally:
            event.remove(sync_connection, "before_cursor_execute", count)
        assert small == large
        assert small > 0

    async def test_an_account_detail_is_one_statement_once_the_caller_is_known(
        self, app, client, session, connection, make_user, auth_headers
    ):
        """The caller is read on its token's first request (then kept for the principal
        cache's window); the account with everything else of its detail, an active pause
        included, is one statement."""
        app.state.principal_cache = PrincipalCache(5.0)
        lead = await make_user(Role.TEAM_LEAD)
        team = await make_team(session, lead)
        partner = await make_partner(session)
        account = await make_account(session, partner, dpd=40, assigned_team_id=team.id)
        headers = auth_headers(lead)
        body = pause_body(TODAY, TODAY + timedelta(days=9))
        made = await client.post(url(account, "/pauses"), json=body, headers=headers)
        assert made.status_code == 201, made.text
        fresh = auth_headers(lead)  # a token not seen yet
        with counted_statements(connection) as first:
            response = await client.get(url(account), headers=fresh)
        with counted_statements(connection) as again:
            repeated = await client.get(url(account), headers=fresh)
        assert response.status_code == repeated.status_code == 200
        assert response.json()["active_pause"] == made.json()
        assert repeated.json() == response.json()
        assert len(first) == 2, first
        assert len(again) == 1, again


class TestWhoSeesWhichAccount:
    async def test_collector_never_sees_an_unassigned_account(
        self, client, session, make_user, auth_headers
    ):
        collector = await make_user(Role.COLLECTOR)
        partner = await make_partner(session)
        mine = await make_account(session, partner, assigned_collector_id=collector.id)
        unassigned = await make_account(session, partner)
        headers = auth_headers(collector)
        assert await ids_of(client, headers) == [str(mine.id)]
        assert (await client.get(url(unassigned), headers=headers)).status_code == 404
        assert (await client.get(url(unassigned, "/history"), headers=headers)).status_code == 404
        assert (await client.get(url(unassigned, "/pauses"), headers=headers)).status_code == 404
        assert (await client.get(url(mine), headers=headers)).status_code == 200

    async def test_collector_does_not_see_a_colleagues_account(
        self, client, session, make_user, auth_headers
    ):
        collector, colleague = await make_user(Role.COLLECTOR), await make_user(Role.COLLECTOR)
        team = await make_team(session, members=[collector, colleague])
        partner = await make_partner(session)
        theirs = await make_account(
            session, partner, assigned_collector_id=colleague.id, assigned_team_id=team.id
        )
        headers = auth_headers(collector)
        assert await ids_of(client, headers) == []
        assert (await client.get(url(theirs), headers=headers)).status_code == 404

    async def test_partner_never_sees_another_partners_accounts_or_debtors(
        self, client, session, settings
    ):
        mine, other = await make_partner(session), await make_partner(session)
        shared_debtor = await make_debtor(session)
        own = await make_account(session, mine, shared_debtor)
        foreign = await make_account(session, other, shared_debtor)
        session.add(
            ContactPoint(
                partner_id=other.id,
                account_id=foreign.id,
                debtor_id=shared_debtor.id,
                kind="phone",
                value="+525512345678",
            )
        )
        await session.flush()
        headers = await partner_bearer(session, settings, mine)
        assert await ids_of(client, headers) == [str(own.id)]
        assert await ids_of(client, headers, partner_id=str(other.id)) == []
        for suffix in ("", "/history", "/pauses"):
            response = await client.get(url(foreign, suffix), headers=headers)
            assert response.status_code == 404, suffix
            assert response.json()["code"] == "not_found"
        detail = (await client.get(url(own), headers=headers)).json()
        assert detail["debtor"]["phones"] == []

    async def test_lead_sees_their_teams_accounts_only(
        self, client, session, make_user, auth_headers
    ):
        lead, other_lead = await make_user(Role.TEAM_LEAD), await make_user(Role.TEAM_LEAD)
        member, outsider = await make_user(Role.COLLECTOR), await make_user(Role.COLLECTOR)
        team = await make_team(session, lead, [member])
        other_team = await make_team(session, other_lead, [outsider])
        partner = await make_partner(session)
        by_team = await make_account(session, partner, assigned_team_id=team.id)
        by_member = await make_account(session, partner, assigned_collector_id=member.id)
        await make_account(session, partner, assigned_team_id=other_team.id)
        foreign = await make_account(session, partner, assigned_collector_id=outsider.id)
        await make_account(session, partner)
        headers = auth_headers(lead)
        assert sorted(await ids_of(client, headers)) == sorted([str(by_team.id), str(by_member.id)])
        assert (await client.get(url(foreign), headers=headers)).status_code == 404

    async def test_auditor_and_manager_see_every_account(
        self, client, session, make_user, auth_headers
    ):
        partner = await make_partner(session)
        account = await make_account(session, partner)
        for role in (Role.AUDITOR, Role.MANAGER, Role.ADMIN):
            user = await make_user(role)
            assert (await client.get(url(account), headers=auth_headers(user))).status_code == 200

    async def test_an_unknown_account_is_404(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        response = await client.get(f"{ACCOUNTS}/{uuid.uuid4()}", headers=auth_headers(admin))
        assert_problem(response, 404, "not_found")
        assert response.headers["content-type"] == "application/problem+json"

    async def test_without_a_token_it_is_401(self, client):
        assert (await client.get(ACCOUNTS)).status_code == 401


class TestReadAccount:
    async def test_detail_shows_balances_the_masked_debtor_and_the_etag(
        self, client, session, make_user, auth_headers
    ):
        manager = await make_user(Role.MANAGER)
        partner = await make_partner(session)
        debtor = await make_debtor(session, national_id="LOGA800101MDFPRR05")
        account = await make_account(
            session,
            partner,
            debtor,
            dpd=95,
            principal="8000.00",
            interest="1500.50",
            fees="250.25",
            original_amount=Decimal("10000.00"),
            last_payment_date=TODAY - timedelta(days=120),
            last_payment_amount=Decimal("750.00"),
        )
        other_account = await make_account(session, partner, debtor)
        for acc, kind, value in [
            (account, "phone", "+525512345678"),
            (account, "email", "maria.lopez@example.com"),
            (account, "address", "Av. Reforma 222"),
            (other_account, "phone", "+525599990000"),
        ]:
            session.add(
                ContactPoint(
                    partner_id=partner.id,
                    account_id=acc.id,
                    debtor_id=debtor.id,
                    kind=kind,
                    value=value,
                )
            )
        for kind in ("reference", "reference", "guarantor"):
            session.add(
                RelatedParty(partner_id=partner.id, account_id=account.id, kind=kind, full_name="X")
            )
        session.add(
            AccountPause(
                account_id=account.id,
                partner_id=partner.id,
                reason="dispute",
                starts_on=TODAY - timedelta(days=2),
                ends_on=TODAY + timedelta(days=2),
                created_by="test",
            )
        )
        await session.flush()
        response = await client.get(url(account), headers=auth_headers(manager))
        assert response.status_code == 200
        assert response.headers["ETag"] == '"1"'
        body = response.json()
        assert {k: body[k] for k in ("original_amount", "principal", "interest", "fees")} == {
            "original_amount": "10000.00",
            "principal": "8000.00",
            "interest": "1500.50",
            "fees": "250.25",
        }
        assert body["total"] == "9750.75"
        assert body["last_payment_amount"] == "750.00"
        assert body["last_payment_date"] == (TODAY - timedelta(days=120)).isoformat()
        assert body["oldest_unpaid_due_date"] == (TODAY - timedelta(days=95)).isoformat()
        assert (body["dpd"], body["stage"], body["mop_code"]) == (95, "nonaccrual", "05")
        assert body["aged_as_of"] == TODAY.isoformat()
        assert body["debtor"]["national_id_masked"] == "****RR05"
        assert body["debtor"]["phones"] == ["****5678"]
        assert body["debtor"]["emails"] == ["m***@example.com"]
        assert "LOGA800101MDFPRR05" not in response.text
        assert "+525512345678" not in response.text
        assert (body["references_count"], body["guarantors_count"]) == (2, 1)
        assert body["active_pause"]["reason"] == "dispute"
        assert body["version"] == 1

    async def test_no_active_pause_when_today_is_outside_every_pause(
        self, client, session, make_user, auth_headers
    ):
        manager = await make_user(Role.MANAGER)
        partner = await make_partner(session)
        account = await make_account(session, partner)
        session.add(
            AccountPause(
                account_id=account.id,
                partner_id=partner.id,
                reason="hardship",
                starts_on=TODAY + timedelta(days=1),
                ends_on=TODAY + timedelta(days=5),
                created_by="test",
            )
        )
        await session.flush()
        body = (await client.get(url(account), headers=auth_headers(manager))).json()
        assert body["active_pause"] is None


class TestAssignAccount:
    async def test_manager_assigns_a_collector_into_the_collectors_team(
        self, client, session, make_user, auth_headers
    ):
        manager = await make_user(Role.MANAGER)
        collector = await make_user(Role.COLLECTOR)
        team = await make_team(session, members=[collector])
        partner = await make_partner(session)
        account = await make_account(session, partner)
        response = await patch(
            client, account, {"assigned_collector_id": str(collector.id)}, auth_headers(manager)
        )
        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == '"2"'
        body = response.json()
        assert body["assigned_collector_id"] == str(collector.id)
        assert body["assigned_team_id"] == str(team.id)
        assert body["version"] == 2
        events = (
            await session.scalars(
                select(AccountEvent).where(
                    AccountEvent.account_id == account.id, AccountEvent.kind == "assigned"
                )
            )
        ).all()
        assert len(events) == 1
        assert events[0].before == {"assigned_collector_id": None, "assigned_team_id": None}
        assert events[0].after == {
            "assigned_collector_id": str(collector.id),
            "assigned_team_id": str(team.id),
        }
        assert events[0].actor_id == str(manager.id)
        assert events[0].as_of == business_today()
        audit = (
            await session.scalars(select(AuditEvent).where(AuditEvent.entity_id == str(account.id)))
        ).all()
        assert [a.action for a in audit] == ["account.assigned"]
        # The collector now sees it.
        assert (await client.get(url(account), headers=auth_headers(collector))).status_code == 200

    async def test_explicit_null_unassigns_and_omitted_fields_stay(
        self, client, session, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        collector = await make_user(Role.COLLECTOR)
        team = await make_team(session, members=[collector])
        partner = await make_partner(session)
        account = await make_account(
            session, partner, assigned_collector_id=collector.id, assigned_team_id=team.id
        )
        response = await patch(
            client, account, {"assigned_collector_id": None}, auth_headers(admin)
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["assigned_collector_id"] is None
        assert body["assigned_team_id"] == str(team.id)
        cleared = await patch(
            client, account, {"assigned_team_id": None}, auth_headers(admin), version=2
        )
        assert cleared.json()["assigned_team_id"] is None

    async def test_a_change_to_nothing_keeps_the_version(
        self, client, session, make_user, auth_headers
    ):
        admin = await make_user(Role.ADMIN)
        partner = await make_partner(session)
        account = await make_account(session, partner)
        response = await patch(client, account, {"assigned_team_id": None}, auth_headers(admin))
        assert response.status_code == 200
        assert response.headers["ETag"] == '"1"'

    @pytest.mark.parametrize("header", [None, "*"])
    async def test_missing_if_match_is_428(self, client, session, make_user, auth_headers, header):
        manager = await make_user(Role.MANAGER)
        partner = await make_partner(session)
        account = await make_account(session, partner)
        headers = auth_headers(manager) | ({"If-Match": header} if header else {})
        response = await client.patch(
            url(account), json={"assigned_team_id": None}, headers=headers
        )
        assert response.status_code == 428
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "precondition_required"

    async def test_stale_if_match_is_412_and_changes_nothing(
        self, client, session, make_user, auth_headers
    ):
        manager = await make_user(Role.MANAGER)
        collector = await make_user(Role.COLLECTOR)
        partner = await make_partner(session)
        account = await make_account(session, partner, version=3)
        response = await patch(
            client,
            account,
            {"assigned_collector_id": str(collector.id)},
            auth_headers(manager),
            version=2,
        )
        assert response.status_code == 412
        assert response.json()["code"] == "version_mismatch"
        await session.refresh(account)
        assert account.assigned_collector_id is None and account.version == 3

    async def test_malformed_if_match_is_422(self, client, session, make_user, auth_headers):
        manager = await make_user(Role.MANAGER)
        account = await make_account(session, await make_partner(session))
        response = await client.patch(
            url(account), json={}, headers=auth_headers(manager) | {"If-Match": "abc"}
        )
        assert_problem(response, 422, "invalid_input")

    async def test_lead_assigns_within_their_team(self, client, session, make_user, auth_headers):
        lead = await make_user(Role.TEAM_LEAD)
        a, b = await make_user(Role.COLLECTOR), await make_user(Role.COLLECTOR)
        team = await make_team(session, lead, [a, b])
        account = await make_account(
            session,
            await make_partner(session),
            assigned_collector_id=a.id,
            assigned_team_id=team.id,
        )
        response = await patch(
            client, account, {"assigned_collector_id": str(b.id)}, auth_headers(lead)
        )
        assert response.status_code == 200, response.text
        assert response.json()["assigned_collector_id"] == str(b.id)

    async def test_lead_assigning_outside_their_team_is_refused(
        self, client, session, make_user, auth_headers
    ):
        lead, other_lead = await make_user(Role.TEAM_LEAD), await make_user(Role.TEAM_LEAD)
        member, outsider = await make_user(Role.COLLECTOR), await make_user(Role.COLLECTOR)
        team = await make_team(session, lead, [member])
        other_team = await make_team(session, other_lead, [outsider])
        account = await make_account(session, await make_partner(session), assigned_team_id=team.id)
        headers = auth_headers(lead)
        to_outsider = await patch(
            client, account, {"assigned_collector_id": str(outsider.id)}, headers
        )
        assert_problem(to_outsider, 422, "invalid_input")
        assert to_outsider.json()["errors"][0]["field"] == "body.assigned_collector_id"
        nobody = await patch(client, account, {"assigned_collector_id": str(uuid.uuid4())}, headers)
        assert nobody.json()["errors"] == to_outsider.json()["errors"]
        to_other_team = await patch(
            client, account, {"assigned_team_id": str(other_team.id)}, headers
        )
        assert_problem(to_other_team, 422, "invalid_input")
        assert to_other_team.json()["errors"][0]["field"] == "body.assigned_team_id"
        away = await patch(client, account, {"assigned_team_id": None}, headers)
        assert_problem(away, 422, "invalid_input")
        await session.refresh(account)
        assert account.version == 1 and account.assigned_team_id == team.id

    async def test_lead_cannot_assign_an_account_they_cannot_see(
        self, client, session, make_user, auth_headers
    ):
        lead = await make_user(Role.TEAM_LEAD)
        member = await make_user(Role.COLLECTOR)
        await make_team(session, lead, [member])
        account = await make_account(session, await make_partner(session))
        response = await patch(
            client, account, {"assigned_collector_id": str(member.id)}, auth_headers(lead)
        )
        assert_problem(response, 404, "not_found")

    async def test_assigning_a_recalled_account_is_refused(
        self, client, session, make_user, auth_headers
    ):
        manager = await make_user(Role.MANAGER)
        collector = await make_user(Role.COLLECTOR)
        account = await make_account(session, await make_partner(session), status="recalled")
        response = await patch(
            client, account, {"assigned_collector_id": str(collector.id)}, auth_headers(manager)
        )
        assert response.status_code == 409
        assert response.json()["code"] == "account_not_active"
        assert "recalled by the partner" in response.json()["detail"]

    async def test_only_active_collectors_are_assigned(
        self, client, session, make_user, auth_headers
    ):
        manager = await make_user(Role.MANAGER)
        auditor = await make_user(Role.AUDITOR)
        inactive = await make_user(Role.COLLECTOR, is_active=False)
        account = await make_account(session, await make_partner(session))
        for user_id in (auditor.id, inactive.id, uuid.uuid4()):
            response = await patch(
                client, account, {"assigned_collector_id": str(user_id)}, auth_headers(manager)
            )
            assert_problem(response, 422, "invalid_input")
            assert response.json()["errors"][0]["field"] == "body.assigned_collector_id"

    async def test_the_collector_must_belong_to_the_team_named(
        self, client, session, make_user, auth_headers
    ):
        manager = await make_user(Role.MANAGER)
        collector = await make_user(Role.COLLECTOR)
        await make_team(session, members=[collector])
        other_team = await make_team(session)
        account = await make_account(session, await make_partner(session))
        response = await patch(
            client,
            account,
            {"assigned_collector_id": str(collector.id), "assigned_team_id": str(other_team.id)},
            auth_headers(manager),
        )
        assert_problem(response, 422, "invalid_input")
        unknown_team = await patch(
            client, account, {"assigned_team_id": str(uuid.uuid4())}, auth_headers(manager)
        )
        assert_problem(unknown_team, 422, "invalid_input")

    async def test_collectors_auditors_and_partners_may_not_assign(
        self, client, session, settings, make_user, auth_headers
    ):
        partner = await make_partner(session)
        collector = await make_user(Role.COLLECTOR)
        account = await make_account(session, partner, assigned_collector_id=collector.id)
        callers = [
            auth_headers(collector),
            auth_headers(await make_user(Role.AUDITOR)),
            await partner_bearer(session, settings, partner),
        ]
        for headers in callers:
            response = await patch(client, account, {"assigned_collector_id": None}, headers)
            assert_problem(response, 403, "permission_denied")


class TestAccountHistory:
    async def test_history_shows_the_assigned_and_paused_events_newest_first(
        self, client, session, make_user, auth_headers
    ):
        manager = await make_user(Role.MANAGER)
        collector = await make_user(Role.COLLECTOR)
        account = await make_account(session, await make_partner(session))
        session.add(
            AccountEvent(
                account_id=account.id,
                partner_id=account.partner_id,
                kind="created",
                as_of=TODAY,
                actor_id="assignment:x",
                after={"stage": "current"},
            )
        )
        await session.flush()
        headers = auth_headers(manager)
        assigned = await patch(
            client, account, {"assigned_collector_id": str(collector.id)}, headers
        )
        assert assigned.status_code == 200
        paused = await client.post(
            url(account, "/pauses"),
            json={"reason": "dispute", "starts_on": str(TODAY), "ends_on": str(TODAY)},
            headers=headers,
        )
        assert paused.status_code == 201
        response = await client.get(url(account, "/history"), headers=headers)
        assert response.status_code == 200
        items = response.json()["items"]
        assert [i["kind"] for i in items] == ["paused", "assigned", "created"]
        assert items[1]["after"]["assigned_collector_id"] == str(collector.id)
        assert items[1]["actor_id"] == str(manager.id)
        assert items[0]["after"]["reason"] == "dispute"
        assert set(items[0]) == {
            "seq",
            "kind",
            "as_of",
            "occurred_at",
            "actor_id",
            "before",
            "after",
        }
        # One at a time, the same events in the same order.
        paged, cursor = [], None
        while True:
            params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            body = (
                await client.get(url(account, "/history"), params=params, headers=headers)
            ).json()
            paged.extend(body["items"])
            cursor = body["next_cursor"]
            if not cursor:
                break
        assert paged == items

    async def test_a_bad_history_cursor_is_422(self, client, session, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        account = await make_account(session, await make_partner(session))
        response = await client.get(
            url(account, "/history"), params={"cursor": "nope"}, headers=auth_headers(admin)
        )
        assert_problem(response, 422, "invalid_input")


def pause_body(starts_on: date, ends_on: date, reason: str = "hardship") -> dict:
    return {"reason": reason, "starts_on": str(starts_on), "ends_on": str(ends_on)}


class TestCreatePause:
    async def test_a_pause_is_recorded_and_sets_has_pauses(
        self, client, session, make_user, auth_headers
    ):
        lead = await make_user(Role.TEAM_LEAD)
        team = await make_team(session, lead)
        account = await make_account(session, await make_partner(session), assigned_team_id=team.id)
        body = pause_body(TODAY, TODAY + timedelta(days=29)) | {"note": "  Pérdida de empleo "}
        response = await client.post(url(account, "/pauses"), json=body, headers=auth_headers(lead))
        assert response.status_code == 201, response.text
        pause = response.json()
        assert pause["reason"] == "hardship"
        assert pause["note"] == "Pérdida de empleo"
        assert pause["created_by"] == str(lead.id)
        await session.refresh(account)
        assert account.has_pauses is True
        assert account.version == 2
        detail = (await client.get(url(account), headers=auth_headers(lead))).json()
        assert detail["has_pauses"] is True
        assert detail["active_pause"]["id"] == pause["id"]
        audit = (
            await session.scalars(select(AuditEvent).where(AuditEvent.entity_id == str(account.id)))
        ).all()
        assert [a.action for a in audit] == ["account.paused"]

    async def test_ends_before_it_starts_is_422(self, client, session, make_user, auth_headers):
        manager = await make_user(Role.MANAGER)
        account = await make_account(session, await make_partner(session))
        response = await client.post(
            url(account, "/pauses"),
            json=pause_body(TODAY, TODAY - timedelta(days=1)),
            headers=auth_headers(manager),
        )
        assert_problem(response, 422, "invalid_input")
        assert response.json()["errors"][0]["field"] == "body.ends_on"

    async def test_a_pause_lasts_at_most_365_days(self, client, session, make_user, auth_headers):
        manager = await make_user(Role.MANAGER)
        account = await make_account(session, await make_partner(session))
        headers = auth_headers(manager)
        too_long = await client.post(
            url(account, "/pauses"),
            json=pause_body(TODAY, TODAY + timedelta(days=365)),
            headers=headers,
        )
        assert_problem(too_long, 422, "invalid_input")
        longest = await client.post(
            url(account, "/pauses"),
            json=pause_body(TODAY, TODAY + timedelta(days=364)),
            headers=headers,
        )
        assert longest.status_code == 201

    async def test_an_overlapping_pause_is_409_and_an_adjacent_one_is_fine(
        self, client, session, make_user, auth_headers
    ):
        manager = await make_user(Role.MANAGER)
        account = await make_account(session, await make_partner(session))
        headers = auth_headers(manager)
        first = pause_body(TODAY, TODAY + timedelta(days=9))
        assert (
            await client.post(url(account, "/pauses"), json=first, headers=headers)
        ).status_code == 201
        for starts, ends in [(-5, 0), (9, 12), (3, 4), (-1, 20)]:
            overlapping = pause_body(TODAY + timedelta(days=starts), TODAY + timedelta(days=ends))
            response = await client.post(url(account, "/pauses"), json=overlapping, headers=headers)
            assert response.status_code == 409, (starts, ends)
            assert response.json()["code"] == "pause_overlaps"
        for starts, ends in [(10, 12), (-3, -1)]:
            adjacent = pause_body(TODAY + timedelta(days=starts), TODAY + timedelta(days=ends))
            response = await client.post(url(account, "/pauses"), json=adjacent, headers=headers)
            assert response.status_code == 201, (starts, ends)

    async def test_another_accounts_pause_does_not_count_as_overlap(
        self, client, session, make_user, auth_headers
    ):
        manager = await make_user(Role.MANAGER)
        partner = await make_partner(session)
        one, two = await make_account(session, partner), await make_account(session, partner)
        body = pause_body(TODAY, TODAY + timedelta(days=3))
        for account in (one, two):
            response = await client.post(
                url(account, "/pauses"), json=body, headers=auth_headers(manager)
            )
            assert response.status_code == 201

    @pytest.mark.parametrize(
        "body",
        [
            {"reason": "vacation", "starts_on": str(TODAY), "ends_on": str(TODAY)},
            {"reason": "legal", "starts_on": "2025-02-30", "ends_on": str(TODAY)},
            {"reason": "legal", "starts_on": str(TODAY)},
            {"reason": "legal", "starts_on": str(TODAY), "ends_on": str(TODAY), "note": "x" * 501},
            {"reason": "legal", "starts_on": str(TODAY), "ends_on": str(TODAY), "extra": 1},
        ],
    )
    async def test_malformed_pauses_are_422(self, client, session, make_user, auth_headers, body):
        manager = await make_user(Role.MANAGER)
        account = await make_account(session, await make_partner(session))
        response = await client.post(
            url(account, "/pauses"), json=body, headers=auth_headers(manager)
        )
        assert_problem(response, 422, "validation_failed")

    async def test_a_recalled_account_cannot_be_paused(
        self, client, session, make_user, auth_headers
    ):
        manager = await make_user(Role.MANAGER)
        account = await make_account(session, await make_partner(session), status="closed")
        response = await client.post(
            url(account, "/pauses"), json=pause_body(TODAY, TODAY), headers=auth_headers(manager)
        )
        assert_problem(response, 409, "account_not_active")

    async def test_collectors_auditors_and_partners_may_not_pause(
        self, client, session, settings, make_user, auth_headers
    ):
        partner = await make_partner(session)
        collector = await make_user(Role.COLLECTOR)
        account = await make_account(session, partner, assigned_collector_id=collector.id)
        callers = [
            auth_headers(collector),
            auth_headers(await make_user(Role.AUDITOR)),
            await partner_bearer(session, settings, partner),
        ]
        for headers in callers:
            response = await client.post(
                url(account, "/pauses"), json=pause_body(TODAY, TODAY), headers=headers
            )
            assert_problem(response, 403, "permission_denied")
        refreshed = await session.get(Account, account.id, populate_existing=True)
        assert refreshed is not None and refreshed.has_pauses is False

    async def test_a_lead_cannot_pause_an_account_outside_their_teams(
        self, client, session, make_user, auth_headers
    ):
        lead = await make_user(Role.TEAM_LEAD)
        await make_team(session, lead)
        account = await make_account(session, await make_partner(session))
        response = await client.post(
            url(account, "/pauses"), json=pause_body(TODAY, TODAY), headers=auth_headers(lead)
        )
        assert_problem(response, 404, "not_found")


class TestListPauses:
    async def test_pauses_are_listed_by_start_date_across_pages(
        self, client, session, settings, make_user, auth_headers
    ):
        manager = await make_user(Role.MANAGER)
        partner = await make_partner(session)
        account = await make_account(session, partner)
        headers = auth_headers(manager)
        for offset in (20, 0, 10):
            start = TODAY + timedelta(days=offset)
            response = await client.post(
                url(account, "/pauses"),
                json=pause_body(start, start + timedelta(days=2)),
                headers=headers,
            )
            assert response.status_code == 201
        seen, cursor = [], None
        reader = await partner_bearer(session, settings, partner)
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            response = await client.get(url(account, "/pauses"), params=params, headers=reader)
            assert response.status_code == 200
            seen.extend(p["starts_on"] for p in response.json()["items"])
            cursor = response.json()["next_cursor"]
            if not cursor:
                break
        assert seen == [str(TODAY + timedelta(days=d)) for d in (0, 10, 20)]


async def test_unstorable_filters_are_422s_naming_the_query_field(
    client, session, make_user, auth_headers
):
    from app.pagination import encode_cursor

    headers = auth_headers(await make_user(Role.MANAGER))
    nul = await client.get("/api/v1/accounts?external_ref=%00", headers=headers)
    assert_problem(nul, 422, "validation_failed")
    assert nul.json()["errors"][0]["field"].endswith("external_ref")
    huge = encode_cursor("total", "1E+999999", "01a20000-0000-7000-8000-000000000001")
    bad = await client.get(f"/api/v1/accounts?sort=total&cursor={huge}", headers=headers)
    assert_problem(bad, 422, "invalid_input")
    assert bad.json()["errors"][0]["field"] == "query.cursor"


async def test_history_is_dated_by_the_partners_business_day(session, make_user):
    """At 21:00 in Mexico City it is already tomorrow in UTC; the pause's history line carries
    the partner's date."""
    from datetime import date

    from sqlalchemy import select

    from app.models.account import AccountEvent
    from app.schemas.accounts import PauseCreate
    from app.services import accounts as accounts_service
    from tests.conftest import principal_of

    partner = await make_partner(session, time_zone="America/Mexico_City")
    account = await make_account(session, partner, dpd=40)
    manager = principal_of(await make_user(Role.MANAGER))
    evening = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # 2026-11-24 21:00 in Mexico City
    await accounts_service.create_pause(
        session,
        manager,
        account.id,
        PauseCreate(reason="hardship", starts_on=date(2026, 11, 24), ends_on=date(2026, 12, 24)),
        now=evening,
    )
    as_of = await session.scalar(
        select(AccountEvent.as_of).where(
            AccountEvent.account_id == account.id, AccountEvent.kind == "paused"
        )
    )
    assert as_of == date(2026, 11, 24)


# --- pauses move DPD at once, and end early ---------------------------------------------

FIXED_DAY = date(2027, 3, 9)
NOON = datetime(2027, 3, 9, 18, 0, tzinfo=UTC)  # 12:00 in Mexico City


def end_url(pause_id) -> str:
    return f"/api/v1/pauses/{pause_id}/end"


@pytest.fixture
async def late(session, clock):
    """The clock at noon of FIXED_DAY; an account aged that day at 62 days past due (late),
    in a lead's team."""
    clock.now = NOON
    account = await make_account(session, await make_partner(session), dpd=62, aged_as_of=FIXED_DAY)
    assert (account.stage, account.oldest_unpaid_due_date) == (
        "late",
        FIXED_DAY - timedelta(days=62),
    )
    return account


async def pause(client, account, headers, starts: int, ends: int) -> dict:
    response = await client.post(
        url(account, "/pauses"),
        json=pause_body(FIXED_DAY + timedelta(days=starts), FIXED_DAY + timedelta(days=ends)),
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def delinquency(client, account, headers) -> tuple[int, str]:
    detail = (await client.get(url(account), headers=headers)).json()
    return detail["dpd"], detail["stage"]


async def stage_changes(session, account) -> list[tuple]:
    rows = await session.scalars(
        select(AccountEvent)
        .where(AccountEvent.account_id == account.id, AccountEvent.kind == "stage_changed")
        .order_by(AccountEvent.seq)
    )
    return [(e.as_of, e.actor_id, e.before, e.after) for e in rows]


class TestPauseMovesDelinquencyAtOnce:
    async def test_a_pause_that_began_two_days_ago_takes_three_days_off_now(
        self, client, session, make_user, auth_headers, late
    ):
        manager = await make_user(Role.MANAGER)
        headers = auth_headers(manager)
        await pause(client, late, headers, -2, 10)
        # Days past due less the paused days since (day -2, -1 and today): 59, mid.
        assert await delinquency(client, late, headers) == (59, "mid")
        assert await stage_changes(session, late) == [
            (
                FIXED_DAY,
                str(manager.id),
                {"stage": "late", "dpd": 62},
                {"stage": "mid", "dpd": 59},
            )
        ]
        await session.refresh(late)
        assert late.aged_as_of == FIXED_DAY
        audit = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.entity_id == str(late.id), AuditEvent.action == "account.paused"
            )
        )
        assert audit is not None

    async def test_a_pause_dated_ahead_changes_nothing_today(
        self, client, session, make_user, auth_headers, late
    ):
        headers = auth_headers(await make_user(Role.MANAGER))
        await pause(client, late, headers, 3, 10)
        assert await delinquency(client, late, headers) == (62, "late")
        assert await stage_changes(session, late) == []


class TestEndPause:
    async def test_ending_a_pause_counts_today_again_and_moves_the_stage_back(
        self, client, session, make_user, auth_headers, late
    ):
        lead = await make_user(Role.TEAM_LEAD)
        team = await make_team(session, lead)
        late.assigned_team_id = team.id
        await session.flush()
        headers = auth_headers(lead)
        paused = await pause(client, late, headers, -2, 10)
        assert await delinquency(client, late, headers) == (59, "mid")
        version = (await client.get(url(late), headers=headers)).headers["ETag"]

        response = await client.post(end_url(paused["id"]), headers=headers | {"If-Match": version})
        assert response.status_code == 200, response.text
        ended = response.json()
        # Its last day is yesterday: day -2 and -1 stay paused, today counts again.
        assert ended["ends_on"] == str(FIXED_DAY - timedelta(days=1))
        assert ended["starts_on"] == str(FIXED_DAY - timedelta(days=2))
        assert datetime.fromisoformat(ended["ended_at"]) == NOON
        assert ended["ended_by"] == str(lead.id)
        assert await delinquency(client, late, headers) == (60, "late")
        assert (
            response.headers["ETag"]
            == (await client.get(url(late), headers=headers)).headers["ETag"]
        )
        assert [(before["stage"], after["stage"]) for _, _, before, after in (
            await stage_changes(session, late)
        )] == [("late", "mid"), ("mid", "late")]  # fmt: skip
        history = (await client.get(url(late, "/history"), headers=headers)).json()["items"]
        assert [i["kind"] for i in history[:4]] == [
            "stage_changed",
            "pause_ended",
            "stage_changed",
            "paused",
        ]
        assert history[1]["before"]["ends_on"] == str(FIXED_DAY + timedelta(days=10))
        assert history[1]["after"]["ends_on"] == str(FIXED_DAY - timedelta(days=1))
        # The account no longer shows it as active.
        assert (await client.get(url(late), headers=headers)).json()["active_pause"] is None
        audit = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.entity_id == str(late.id), AuditEvent.action == "account.pause_ended"
            )
        )
        assert audit is not None and audit.actor_id == str(lead.id)

    async def test_the_nightly_run_of_the_same_day_then_finds_nothing_to_change(
        self, client, session, make_user, auth_headers, late
    ):
        from app.services.aging import age_accounts

        headers = auth_headers(await make_user(Role.MANAGER))
        paused = await pause(client, late, headers, -2, 10)
        assert (await client.post(end_url(paused["id"]), headers=headers)).status_code == 200
        before = await stage_changes(session, late)
        await age_accounts(session, FIXED_DAY, now=NOON)
        assert await stage_changes(session, late) == before
        await session.refresh(late)
        assert (late.dpd, late.stage) == (60, "late")

    async def test_a_pause_ended_on_its_first_day_covers_no_day(
        self, client, session, make_user, auth_headers, late
    ):
        headers = auth_headers(await make_user(Role.MANAGER))
        paused = await pause(client, late, headers, 0, 5)
        assert await delinquency(client, late, headers) == (61, "late")
        response = await client.post(end_url(paused["id"]), headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["ends_on"] == str(FIXED_DAY - timedelta(days=1))
        assert await delinquency(client, late, headers) == (62, "late")
        # It no longer overlaps anything: a new pause may start today.
        await pause(client, late, headers, 0, 3)

    async def test_a_pause_not_covering_today_is_409_pause_not_active(
        self, client, session, make_user, auth_headers, late
    ):
        headers = auth_headers(await make_user(Role.MANAGER))
        over = await pause(client, late, headers, -20, -15)
        ahead = await pause(client, late, headers, 5, 8)
        current = await pause(client, late, headers, -1, 2)
        assert (await client.post(end_url(current["id"]), headers=headers)).status_code == 200
        for which, state in (
            (over, "is over: its last day is past"),
            (ahead, "has not started: it begins later"),
            (current, "was ended already"),
        ):
            response = await client.post(end_url(which["id"]), headers=headers)
            assert response.status_code == 409, state
            problem = response.json()
            assert problem["code"] == "pause_not_active"
            assert state in problem["detail"]
        spanish = await client.post(
            end_url(current["id"]), headers=headers | {"Accept-Language": "es-MX"}
        )
        assert spanish.json()["title"] == "Pausa no vigente"
        assert spanish.json()["code"] == "pause_not_active"

    async def test_a_stale_if_match_is_412_and_changes_nothing(
        self, client, session, make_user, auth_headers, late
    ):
        headers = auth_headers(await make_user(Role.MANAGER))
        paused = await pause(client, late, headers, -2, 10)
        response = await client.post(end_url(paused["id"]), headers=headers | {"If-Match": '"1"'})
        assert_problem(response, 412, "version_mismatch")
        assert await delinquency(client, late, headers) == (59, "mid")
        row = await session.get(AccountPause, uuid.UUID(paused["id"]), populate_existing=True)
        assert row is not None and row.ended_at is None

    async def test_who_may_end_a_pause(
        self, client, session, settings, make_user, auth_headers, late
    ):
        manager = await make_user(Role.MANAGER)
        paused = await pause(client, late, auth_headers(manager), -2, 10)
        collector = await make_user(Role.COLLECTOR)
        late.assigned_collector_id = collector.id
        await session.flush()
        refused = [
            auth_headers(collector),
            auth_headers(await make_user(Role.AUDITOR)),
            await partner_bearer(session, settings, await session.get(Partner, late.partner_id)),
        ]
        for headers in refused:
            assert (await client.post(end_url(paused["id"]), headers=headers)).status_code == 403
        # A lead whose teams do not hold the account sees no such pause; nor does anyone an
        # unknown id.
        outside = await make_user(Role.TEAM_LEAD)
        await make_team(session, outside)
        hidden = await client.post(end_url(paused["id"]), headers=auth_headers(outside))
        assert_problem(hidden, 404, "not_found")
        unknown = await client.post(end_url(uuid.uuid4()), headers=auth_headers(manager))
        assert_problem(unknown, 404, "not_found")
        row = await session.get(AccountPause, uuid.UUID(paused["id"]), populate_existing=True)
        assert row is not None and row.ended_at is None
        admin = await client.post(
            end_url(paused["id"]), headers=auth_headers(await make_user(Role.ADMIN))
        )
        assert admin.status_code == 200
