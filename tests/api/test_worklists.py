"""The work queue: who may use it, which accounts it lists and in which order, the channel
it proposes, claims and their expiry, and their release when an interaction is recorded."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.domain.contact_check import ContactChannel, Party
from app.domain.errors import PermissionDenied
from app.domain.roles import Role, Skill
from app.domain.stages import Stage
from app.domain.strategies import DEFAULT_VERSION, default_for, with_entries
from app.models.account import AccountPause
from app.models.debtor import ContactConsent, Debtor, DebtorFlag
from app.models.interaction import Interaction
from app.models.promise import Promise
from app.models.strategy import CollectionStrategy
from app.models.worklist import WorklistClaim
from app.services import strategies, worklists
from app.services.contact_check import check_account_contact
from app.services.contact_points import contact_points_of
from tests.conftest import principal_of
from tests.factories import counted_statements, daytime_phone, make_account, make_partner
from tests.helpers.worklists import add_phone

WORKLIST = "/api/v1/worklists/me"
NEXT = "/api/v1/worklists/me/next"


async def add_promise(session, account, due: date, status: str = "pending", **extra) -> None:
    interaction = Interaction(
        account_id=account.id,
        partner_id=account.partner_id,
        debtor_id=account.debtor_id,
        channel="call",
        direction="inbound",
        party="debtor",
        result_code="RPC_PTP",
        started_at=datetime.now(UTC) - timedelta(days=20),
        pack_version="MX-test",
        compliance={},
        created_by="test",
    )
    session.add(interaction)
    await session.flush()
    session.add(
        Promise(
            account_id=account.id,
            partner_id=account.partner_id,
            interaction_id=interaction.id,
            amount=Decimal("100.00"),
            currency=account.currency,
            due_date=due,
            status=status,
            created_by="test",
            **extra,
        )
    )
    await session.flush()


@pytest.fixture
async def desk(session, make_user, auth_headers):
    """A phone collector with three workable accounts (noon at their phones): a small one
    with a promise due today, a big one, a middling one; and an account of someone else."""
    partner = await make_partner(session)
    collector = await make_user(Role.COLLECTOR)
    # A number where it is daytime now: the law runs on the number's own clock.
    phone, zone = daytime_phone()
    today = datetime.now(ZoneInfo(partner.time_zone)).date()
    accounts = {}
    for name, principal in (("promised", "500"), ("big", "90000"), ("middling", "5000")):
        account = await make_account(
            session,
            partner,
            assigned_collector_id=collector.id,
            dpd=45,
            principal=Decimal(principal),
            interest=Decimal("0"),
            fees=Decimal("0"),
        )
        accounts[name] = account
        accounts[f"{name}_point"] = await add_phone(session, account, zone, phone)
    await add_promise(session, accounts["promised"], today)
    other = await make_account(session, partner, assigned_collector_id=None, dpd=45)
    await add_phone(session, other, zone, phone)
    return {
        "partner": partner,
        "user": collector,
        "headers": auth_headers(collector),
        "accounts": accounts,
        "zone": zone,
    }


class TestPermissions:
    @pytest.mark.parametrize("role", [Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN, Role.AUDITOR])
    async def test_only_collectors_have_a_work_queue(self, client, make_user, auth_headers, role):
        headers = auth_headers(await make_user(role))
        assert (await client.get(WORKLIST, headers=headers)).status_code == 403
        assert (await client.post(NEXT, headers=headers)).status_code == 403

    async def test_anonymous_callers_are_refused(self, client):
        assert (await client.get(WORKLIST)).status_code == 401
        assert (await client.post(NEXT)).status_code == 401


class TestWorklist:
    async def test_lists_assigned_accounts_in_priority_order_with_reasons_and_channel(
        self, client, desk
    ):
        response = await client.get(WORKLIST, headers=desk["headers"])
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        accounts = desk["accounts"]
        assert [i["account_id"] for i in items] == [
            str(accounts["promised"].id),
            str(accounts["big"].id),
            str(accounts["middling"].id),
        ]
        first = items[0]
        assert first["reasons"][0] == {
            "code": "promise_due_today",
            "points": 400,
            "detail": "A promise to pay is due today.",
        }
        assert first["score"] == sum(r["points"] for r in first["reasons"])
        assert {r["code"] for r in items[1]["reasons"]} == {
            "balance_stage",
            "days_since_contact",
            "contactability",
        }
        assert first["channel"]["channel"] == "call"
        assert first["channel"]["contact_point_id"] == str(accounts["promised_point"].id)
        assert first["channel"]["time_zone"] == desk["zone"]
        assert first["channel"]["value_masked"].endswith("5678")
        assert "12345678" not in response.text  # phones stay masked
        assert first["claimed_until"] is None

    async def test_limit_cuts_the_top(self, client, desk):
        response = await client.get(WORKLIST, params={"limit": 1}, headers=desk["headers"])
        assert [i["account_id"] for i in response.json()["items"]] == [
            str(desk["accounts"]["promised"].id)
        ]

    async def test_a_broken_promise_and_a_recent_contact_move_accounts(
        self, session, desk, settings
    ):
        accounts = desk["accounts"]
        now = datetime.now(UTC)
        yesterday = datetime.now(ZoneInfo(desk["partner"].time_zone)).date() - timedelta(days=1)
        await add_promise(session, accounts["middling"], yesterday - timedelta(days=3),
                          status="broken", resolved_on=yesterday)  # fmt: skip
        items = await worklists.my_worklist(
            session, settings, principal_of(desk["user"]), limit=10, now=now
        )
        middling = next(i for i in items if i.account_id == accounts["middling"].id)
        assert ("promise_broken", 300) in [(r.code, r.points) for r in middling.priority.reasons]
        assert items[0].account_id == accounts["promised"].id
        assert items[1].account_id == accounts["middling"].id

    async def test_accounts_outside_their_local_hours_are_left_out(
        self, session, make_user, settings
    ):
        """07:30 in Mexico City is 05:30 in Tijuana (winter): only the first may be called."""
        partner = await make_partner(session)
        collector = await make_user(Role.COLLECTOR)
        cdmx = await make_account(session, partner, assigned_collector_id=collector.id, dpd=45)
        tijuana = await make_account(session, partner, assigned_collector_id=collector.id, dpd=45)
        await add_phone(session, cdmx, "America/Mexico_City")
        # No zone stored: the number's area (+52 664) places it in Tijuana.
        await add_phone(session, tijuana, None, value="+526641234567")
        now = datetime(2026, 11, 24, 13, 30, tzinfo=UTC)
        items = await worklists.my_worklist(
            session, settings, principal_of(collector), limit=10, now=now
        )
        assert [i.account_id for i in items] == [cdmx.id]
        assert items[0].channel.local_time.hour == 7
        later = await worklists.my_worklist(
            session, settings, principal_of(collector), limit=10, now=now + timedelta(hours=2)
        )
        assert {i.account_id for i in later} == {cdmx.id, tijuana.id}

    async def test_at_night_one_statement_finds_nothing_to_work(
        self, session, connection, make_user, settings
    ):
        """03:10 in Mexico City: every Mexican zone is outside 07:00–22:00, so the points'
        zones alone set every account aside, before any account's facts are read."""
        partner = await make_partner(session)
        collector = await make_user(Role.COLLECTOR)
        for value in ("+525512345678", "+526641234567", "+529981234567"):
            account = await make_account(session, partner, assigned_collector_id=collector.id)
            await add_phone(session, account, None, value=value)
        night = datetime(2026, 12, 7, 9, 10, tzinfo=UTC)
        with counted_statements(connection) as statements:
            items = await worklists.my_worklist(
                session, settings, principal_of(collector), limit=20, now=night
            )
            claimed = await worklists.claim_next(
                session, settings, principal_of(collector), now=night
            )
        assert items == []
        assert claimed is None
        assert len(statements) == 2, statements  # the points, once per call

    async def test_points_and_accounts_changed_after_the_queue_was_read_are_seen(
        self, session, make_user, settings
    ):
        """03:10 in Mexico City is 18:10 in Tokyo: the queue, read once at night (nothing
        open), lists an account as soon as it gets a Japanese number, and a newly assigned
        account with one; it forgets a point removed since."""
        partner = await make_partner(session)
        collector = await make_user(Role.COLLECTOR)
        first = await make_account(session, partner, assigned_collector_id=collector.id, dpd=45)
        await add_phone(session, first, None, value="+525512345678")
        night = datetime(2026, 12, 7, 9, 10, tzinfo=UTC)

        async def listed() -> list[uuid.UUID]:
            items = await worklists.my_worklist(
                session, settings, principal_of(collector), limit=10, now=night
            )
            return [i.account_id for i in items]

        assert await listed() == []
        tokyo = await add_phone(session, first, None, value="+81312345678")
        assert await listed() == [first.id]
        second = await make_account(session, partner, assigned_collector_id=None, dpd=45)
        await add_phone(session, second, None, value="+81312345679")
        assert await listed() == [first.id]
        second.assigned_collector_id = collector.id
        await session.flush()
        assert set(await listed()) == {first.id, second.id}
        await session.delete(tokyo)
        await session.flush()
        assert await listed() == [second.id]

    async def test_the_sql_pre_score_is_the_score_less_the_point_part(
        self, session, make_user, settings, monkeypatch
    ):
        """The candidates are ranked in SQL by the part of the score that does not depend on
        the contact point: for every listed account it is the Python score less the points
        of its contactability and best hour, whatever the balance and stage."""
        partner = await make_partner(session)
        collector = await make_user(Role.COLLECTOR)
        principals = ("0.01", "1", "8.99", "99.50", "316.23", "999.99", "12345.67", "9999999")
        for n, principal in enumerate(principals):
            account = await make_account(
                session,
                partner,
                assigned_collector_id=collector.id,
                dpd=(1, 15, 45, 75, 100, 150, 200, 400)[n],
                principal=Decimal(principal),
                interest=Decimal("0"),
                fees=Decimal("0"),
            )
            phone, zone = daytime_phone(n)
            await add_phone(session, account, zone, phone)
        rows: dict[uuid.UUID, int] = {}
        evaluate = worklists._evaluate

        async def spy(session, settings, batch, *args):
            rows.update({row["id"]: row["pre_score"] for row in batch})
            return await evaluate(session, settings, batch, *args)

        monkeypatch.setattr(worklists, "_evaluate", spy)
        items = await worklists.my_worklist(session, settings, principal_of(collector), limit=20)
        assert items
        for item in items:
            point_part = sum(
                r.points for r in item.priority.reasons if r.code in ("contactability", "best_hour")
            )
            assert rows[item.account_id] == item.priority.score - point_part, item.priority

    async def test_an_unchanged_queue_reads_one_row_of_its_points(
        self, session, connection, make_user, settings
    ):
        """The second call finds the points as the first read them (their fingerprint): one
        statement, which reads none of them."""
        partner = await make_partner(session)
        collector = await make_user(Role.COLLECTOR)
        for value in ("+525512345678", "+526641234567"):
            account = await make_account(session, partner, assigned_collector_id=collector.id)
            await add_phone(session, account, None, value=value)
        night = datetime(2026, 12, 7, 9, 10, tzinfo=UTC)
        principal = principal_of(collector)
        assert await worklists.my_worklist(session, settings, principal, limit=20, now=night) == []
        with counted_statements(connection) as statements:
            items = await worklists.my_worklist(session, settings, principal, limit=20, now=night)
        assert items == []
        assert len(statements) == 1, statements
        assert "count(*)" in statements[0]

    async def test_the_point_proposed_is_the_most_contactable_counted_as_its_profile_counts(
        self, session, make_user, settings
    ):
        """Two numbers of one debtor: the queue proposes the one whose outbound calls reached
        the debtor, with the contactability the debtor's profile shows (an amended call
        counted as corrected, a call in not counted)."""
        partner = await make_partner(session)
        collector = await make_user(Role.COLLECTOR)
        account = await make_account(session, partner, assigned_collector_id=collector.id, dpd=45)
        phone, zone = daytime_phone(1)
        silent = await add_phone(session, account, zone, phone)
        reached = await add_phone(session, account, zone, daytime_phone(2)[0])
        at = datetime.now(UTC) - timedelta(days=40)

        def call(point, code: str, *, direction: str = "outbound", **extra) -> Interaction:
            return Interaction(
                account_id=account.id,
                partner_id=account.partner_id,
                debtor_id=account.debtor_id,
                contact_point_id=point.id,
                channel="call",
                direction=direction,
                party="debtor" if code.startswith("RPC") else "none",
                result_code=code,
                started_at=at,
                pack_version="MX-test",
                compliance={},
                created_by="test",
                **extra,
            )

        wrong = call(reached, "RPC")
        session.add_all(
            [call(silent, "NO_ANSWER") for _ in range(3)]
            + [call(reached, "RPC"), call(reached, "NO_ANSWER"), wrong]
            + [call(reached, "RPC", direction="inbound")]
        )
        await session.flush()
        session.add(call(reached, "NO_ANSWER", amends_id=wrong.id))
        await session.flush()
        views = {v.id: v for v in await contact_points_of(session, account.debtor_id, [account.id])}
        assert views[silent.id].contactability == 0
        assert views[reached.id].contactability is not None
        assert views[reached.id].contactability > 0
        items = await worklists.my_worklist(session, settings, principal_of(collector), limit=10)
        assert [i.account_id for i in items] == [account.id]
        assert items[0].channel.contact_point_id == reached.id
        points = {r.code: r.points for r in items[0].priority.reasons}
        share = float(views[reached.id].contactability)
        assert points["contactability"] == int(share * 100 + 0.5)

    async def test_the_debtors_recent_contacts_weigh_as_in_the_contact_check(
        self, session, make_user, settings
    ):
        """Recent contacts of the debtor (on this account or another, amended or not): an
        account is listed, and on which channel, exactly as the contact check answers for
        its number now."""
        partner = await make_partner(session)
        now = datetime.now(UTC)
        phone, zone = daytime_phone(3)

        def call(account, point, code: str, minutes_ago: int, **extra) -> Interaction:
            return Interaction(
                account_id=account.id,
                partner_id=account.partner_id,
                debtor_id=account.debtor_id,
                contact_point_id=point.id,
                channel="call",
                direction="outbound",
                party="debtor" if code.startswith("RPC") else "none",
                result_code=code,
                started_at=now - timedelta(minutes=minutes_ago),
                pack_version="MX-test",
                compliance={},
                created_by="test",
                **extra,
            )

        outcomes = []
        histories = ("none", "rpc", "rpc amended", "calls", "calls amended", "calls elsewhere")
        for history in histories:
            collector = await make_user(Role.COLLECTOR)
            account = await make_account(
                session, partner, assigned_collector_id=collector.id, dpd=45
            )
            point = await add_phone(session, account, zone, phone)
            if history.startswith("rpc"):
                wrong = call(account, point, "RPC", 60)
                session.add(wrong)
                await session.flush()
                if history == "rpc amended":
                    session.add(call(account, point, "NO_ANSWER", 60, amends_id=wrong.id))
            elif history == "calls amended":
                # Two calls each corrected (three a day is the strategy's cap): two count.
                for minutes in (20, 40):
                    wrong = call(account, point, "RPC", minutes)
                    session.add(wrong)
                    await session.flush()
                    session.add(call(account, point, "NO_ANSWER", minutes, amends_id=wrong.id))
            elif history.startswith("calls"):
                target = account
                called = point
                if history == "calls elsewhere":
                    debtor = await session.get_one(Debtor, account.debtor_id)
                    target = await make_account(session, partner, debtor, dpd=45)
                    called = await add_phone(session, target, zone, phone)
                session.add_all([call(target, called, "NO_ANSWER", 10 * n + 5) for n in range(8)])
            await session.flush()
            principal = principal_of(collector)
            allowed = []
            for channel in (ContactChannel.CALL, ContactChannel.WHATSAPP, ContactChannel.SMS):
                _, decision = await check_account_contact(
                    session,
                    settings,
                    principal,
                    account.id,
                    channel=channel,
                    party=Party.DEBTOR,
                    contact_point_id=point.id,
                    at=now,
                )
                if decision.allowed:
                    allowed.append(channel)
            items = await worklists.my_worklist(session, settings, principal, limit=10, now=now)
            listed = [(i.account_id, i.channel.channel) for i in items]
            assert listed == ([(account.id, allowed[0])] if allowed else []), history
            outcomes.append((history, tuple(allowed)))
        # The history changes the answer: calls over the day's cap leave the call out.
        answers = dict(outcomes)
        assert ContactChannel.CALL not in answers["calls"], outcomes
        assert ContactChannel.CALL in answers["calls amended"], outcomes

    async def test_a_number_is_judged_on_its_own_clock_not_the_zone_stored_with_it(
        self, session, make_user, settings
    ):
        """A Tijuana number stored with Mexico City's zone: at 07:30 in Mexico City it is
        05:30 where the number rings, so it is not workable (the pre-filter reads the
        number, as the contact check does); at 22:30 in Mexico City, 20:30 in Tijuana, only
        it is."""
        partner = await make_partner(session)
        collector = await make_user(Role.COLLECTOR)
        tijuana = await make_account(session, partner, assigned_collector_id=collector.id, dpd=45)
        cdmx = await make_account(session, partner, assigned_collector_id=collector.id, dpd=45)
        await add_phone(session, tijuana, "America/Mexico_City", value="+526641234567")
        await add_phone(session, cdmx, None, value="+525512345678")
        morning = datetime(2026, 11, 24, 13, 30, tzinfo=UTC)
        for _ in range(2):  # the second time from the remembered zones
            items = await worklists.my_worklist(
                session, settings, principal_of(collector), limit=10, now=morning
            )
            assert [i.account_id for i in items] == [cdmx.id]
        evening = datetime(2026, 11, 25, 4, 30, tzinfo=UTC)
        items = await worklists.my_worklist(
            session, settings, principal_of(collector), limit=10, now=evening
        )
        assert [i.account_id for i in items] == [tijuana.id]
        assert items[0].channel.time_zone == "America/Tijuana"

    async def test_a_stage_the_strategy_does_not_call_offers_the_channel_it_allows(
        self, session, make_user, settings
    ):
        """Current accounts get messages, not calls, under the default strategy."""
        partner = await make_partner(session)
        collector = await make_user(Role.COLLECTOR)
        account = await make_account(session, partner, assigned_collector_id=collector.id, dpd=0)
        await add_phone(session, account, "America/Mexico_City")
        now = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
        items = await worklists.my_worklist(
            session, settings, principal_of(collector), limit=10, now=now
        )
        assert [(i.account_id, i.channel.channel.value) for i in items] == [
            (account.id, "whatsapp")
        ]

    async def test_statements_do_not_grow_with_the_limit(
        self, client, session, connection, make_user, auth_headers
    ):
        partner = await make_partner(session)
        collector = await make_user(Role.COLLECTOR)
        for n in range(60):
            account = await make_account(
                session, partner, assigned_collector_id=collector.id, dpd=30 + n
            )
            phone, zone = daytime_phone(n)
            await add_phone(session, account, zone, phone)

        async def statements_for(limit: int) -> int:
            statements.clear()
            response = await client.get(
                WORKLIST, params={"limit": limit}, headers=auth_headers(collector)
            )
            assert response.status_code == 200, response.text
            assert len(response.json()["items"]) == limit
            return len(statements)

        with counted_statements(connection) as statements:
            small, large = await statements_for(10), await statements_for(50)
        assert small == large, statements
        assert small <= 8, statements


class TestNext:
    async def test_next_claims_the_top_account_then_the_following_one(self, client, desk):
        accounts = desk["accounts"]
        first = await client.post(NEXT, headers=desk["headers"])
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["account_id"] == str(accounts["promised"].id)
        assert body["reasons"][0]["code"] == "promise_due_today"
        assert body["channel"]["channel"] == "call"
        expires = datetime.fromisoformat(body["claim_expires_at"])
        assert timedelta(minutes=4) < expires - datetime.now(UTC) <= timedelta(minutes=5)
        second = await client.post(NEXT, headers=desk["headers"])
        assert second.json()["account_id"] == str(accounts["big"].id)
        # The list shows the caller's own claims.
        listed = (await client.get(WORKLIST, headers=desk["headers"])).json()["items"]
        claimed = {i["account_id"]: i["claimed_until"] for i in listed}
        assert claimed[str(accounts["promised"].id)] is not None
        assert claimed[str(accounts["middling"].id)] is None

    async def test_nothing_workable_answers_204(self, client, make_user, auth_headers):
        response = await client.post(NEXT, headers=auth_headers(await make_user(Role.COLLECTOR)))
        assert response.status_code == 204
        assert response.content == b""

    async def test_every_account_claimed_answers_204(self, client, desk):
        for _ in range(3):
            assert (await client.post(NEXT, headers=desk["headers"])).status_code == 200
        assert (await client.post(NEXT, headers=desk["headers"])).status_code == 204

    async def test_an_expired_claim_is_free_again(self, session, desk, settings):
        principal = principal_of(desk["user"])
        now = datetime.now(UTC)
        first = await worklists.claim_next(session, settings, principal, now=now)
        assert first is not None
        assert first.item.account_id == desk["accounts"]["promised"].id
        assert first.expires_at == now + worklists.CLAIM_TTL
        still = await worklists.claim_next(
            session, settings, principal, now=now + timedelta(minutes=4)
        )
        assert still is not None and still.item.account_id == desk["accounts"]["big"].id
        later = await worklists.claim_next(
            session, settings, principal, now=now + timedelta(minutes=5, seconds=1)
        )
        assert later is not None and later.item.account_id == desk["accounts"]["promised"].id
        rows = (await session.scalars(select(WorklistClaim))).all()
        assert len(rows) == 2

    async def test_recording_an_interaction_releases_the_claim(
        self, client, session, desk, clock, settings
    ):
        promised = desk["accounts"]["promised"]
        claimed = await client.post(NEXT, headers=desk["headers"])
        assert claimed.json()["account_id"] == str(promised.id)
        started = datetime.now(UTC) - timedelta(minutes=1)
        recorded = await client.post(
            f"/api/v1/accounts/{promised.id}/interactions",
            json={
                "channel": "call",
                "contact_point_id": str(desk["accounts"]["promised_point"].id),
                "party": "none",
                "result_code": "NO_ANSWER",
                "started_at": started.isoformat(),
                "ended_at": (started + timedelta(seconds=30)).isoformat(),
            },
            headers=desk["headers"],
        )
        assert recorded.status_code == 201, recorded.text
        left = await session.scalar(
            select(func.count())
            .select_from(WorklistClaim)
            .where(
                WorklistClaim.account_id == promised.id  # type: ignore[arg-type]
            )
        )
        assert left == 0
        # Free again: the next call once the kept ranking lapsed may hand it out (its
        # promise still puts it first).
        clock.now = datetime.now(UTC) + timedelta(seconds=settings.worklist_ranking_seconds)
        again = await client.post(NEXT, headers=desk["headers"])
        assert again.json()["account_id"] == str(promised.id)

    async def test_a_claim_by_another_collector_hides_the_account(
        self, client, session, desk, make_user
    ):
        """After a reassignment the old collector's claim still holds until it lapses."""
        other = await make_user(Role.COLLECTOR)
        session.add(
            WorklistClaim(
                account_id=desk["accounts"]["promised"].id,
                partner_id=desk["partner"].id,
                collector_id=other.id,
                expires_at=datetime.now(UTC) + timedelta(minutes=3),
            )
        )
        await session.flush()
        listed = (await client.get(WORKLIST, headers=desk["headers"])).json()["items"]
        assert str(desk["accounts"]["promised"].id) not in {i["account_id"] for i in listed}
        taken = await client.post(NEXT, headers=desk["headers"])
        assert taken.json()["account_id"] == str(desk["accounts"]["big"].id)
        assert uuid.UUID(taken.json()["account_id"]) != desk["accounts"]["promised"].id


async def _flag_cease_contact(session, account, make_user) -> None:
    session.add(
        DebtorFlag(
            debtor_id=account.debtor_id,
            account_id=account.id,
            partner_id=account.partner_id,
            kind="cease_contact",
            set_by="test",
        )
    )


async def _opt_out_of_every_channel(session, account, make_user) -> None:
    for channel in ("call", "sms", "whatsapp", "email"):
        session.add(
            ContactConsent(
                debtor_id=account.debtor_id,
                partner_id=account.partner_id,
                channel=channel,
                status="opted_out",
                source="debtor_request",
                recorded_by="test",
            )
        )


async def _pause(session, account, make_user) -> None:
    today = datetime.now(UTC).date()
    session.add(
        AccountPause(
            account_id=account.id,
            partner_id=account.partner_id,
            reason="dispute",
            starts_on=today - timedelta(days=2),
            ends_on=today + timedelta(days=30),
            created_by="test",
        )
    )
    account.has_pauses = True


async def _letters_only_strategy(session, account, make_user) -> None:
    document = default_for("MX")
    only = frozenset({ContactChannel.LETTER})
    letters = {stage: replace(document[stage], channels=only) for stage in Stage}
    session.add(
        CollectionStrategy(
            partner_id=account.partner_id,
            version=DEFAULT_VERSION + 1,
            document=strategies.document_to_json(with_entries(document, letters)),
            created_by="test",
        )
    )


async def _close(session, account, make_user) -> None:
    account.status = "closed"


async def _reassign(session, account, make_user) -> None:
    account.assigned_collector_id = (await make_user(Role.COLLECTOR)).id


class TestReadingKept:
    """The pre-filter's reading kept by the process only sets accounts aside: whatever
    changed since it was made (with or without a new fingerprint), an account is listed or
    claimed only if the contact check allows it on what is stored now."""

    @pytest.mark.parametrize(
        "change",
        [
            _flag_cease_contact,
            _opt_out_of_every_channel,
            _pause,
            _letters_only_strategy,
            _close,
            _reassign,
        ],
    )
    async def test_an_account_the_check_now_refuses_is_neither_listed_nor_claimed(
        self, session, make_user, settings, change
    ):
        partner = await make_partner(session)
        collector = await make_user(Role.COLLECTOR)
        account = await make_account(session, partner, assigned_collector_id=collector.id, dpd=45)
        phone, zone = daytime_phone()
        await add_phone(session, account, zone, phone)
        principal = principal_of(collector)
        listed = await worklists.my_worklist(session, settings, principal, limit=10)
        assert [item.account_id for item in listed] == [account.id]
        kept = set(map(id, worklists._READINGS.values()))
        await change(session, account, make_user)
        await session.flush()
        assert await worklists.my_worklist(session, settings, principal, limit=10) == []
        assert await worklists.claim_next(session, settings, principal) is None
        # Flags, consents, pauses and strategies are not in the fingerprint: the reading
        # kept was used again for them, and must not have let the account through.
        if change not in (_close, _reassign):
            assert set(map(id, worklists._READINGS.values())) & kept

    @pytest.mark.parametrize("edit", ["number", "stored zone"])
    async def test_a_point_changed_in_place_is_seen_at_once(
        self, session, make_user, settings, edit
    ):
        """03:10 in Mexico City is 18:10 in Tokyo. A point edited in place (same count of
        points, same ids): its number, or the zone stored with a number that places nothing
        by itself (an international freephone), moves the debtor to Tokyo; the queue read at
        night lists the account on the next call, and forgets it when the edit is undone."""
        partner = await make_partner(session)
        collector = await make_user(Role.COLLECTOR)
        account = await make_account(session, partner, assigned_collector_id=collector.id, dpd=45)
        if edit == "number":
            point = await add_phone(session, account, None, value="+525512345678")
            before, after = {"value": "+525512345678"}, {"value": "+81312345678"}
        else:
            point = await add_phone(session, account, "America/Mexico_City", "+80012345678")
            before, after = {"time_zone": "America/Mexico_City"}, {"time_zone": "Asia/Tokyo"}
        night = datetime(2026, 12, 7, 9, 10, tzinfo=UTC)
        principal = principal_of(collector)

        async def listed() -> list[uuid.UUID]:
            items = await worklists.my_worklist(session, settings, principal, limit=10, now=night)
            return [i.account_id for i in items]

        assert await listed() == []
        for name, value in after.items():
            setattr(point, name, value)
        await session.flush()
        assert await listed() == [account.id]
        for name, value in before.items():
            setattr(point, name, value)
        await session.flush()
        assert await listed() == []


async def _claim_by_another_collector(session, account, make_user) -> None:
    session.add(
        WorklistClaim(
            account_id=account.id,
            partner_id=account.partner_id,
            collector_id=(await make_user(Role.COLLECTOR)).id,
            expires_at=datetime.now(UTC) + timedelta(minutes=3),
        )
    )


class TestRankingKept:
    """`next` hands out the following accounts of the collector's ranking for
    worklist_ranking_seconds (the order of a few seconds ago), never an account the
    contact check, its assignment, its status or another claim refuses now."""

    async def test_following_calls_use_the_ranking_until_it_lapses(
        self, session, connection, desk, make_user, settings
    ):
        principal = principal_of(desk["user"])
        accounts = desk["accounts"]
        now = datetime.now(UTC)
        first = await worklists.claim_next(session, settings, principal, now=now)
        assert first is not None and first.item.account_id == accounts["promised"].id
        # An account that would now rank first: a promise due today and a larger balance.
        newcomer = await make_account(
            session,
            desk["partner"],
            assigned_collector_id=desk["user"].id,
            dpd=45,
            principal=Decimal("900000"),
        )
        await add_phone(session, newcomer, desk["zone"], daytime_phone()[0])
        today = datetime.now(ZoneInfo(desk["partner"].time_zone)).date()
        await add_promise(session, newcomer, today)
        with counted_statements(connection) as statements:
            kept = await worklists.claim_next(
                session, settings, principal, now=now + timedelta(seconds=1)
            )
        # The kept ranking's next account, not the newcomer; the pre-filter was not read.
        assert kept is not None and kept.item.account_id == accounts["big"].id
        assert not any("hash_record_extended" in s for s in statements), statements
        lapsed = now + timedelta(seconds=settings.worklist_ranking_seconds)
        again = await worklists.claim_next(session, settings, principal, now=lapsed)
        assert again is not None and again.item.account_id == newcomer.id

    async def test_at_zero_seconds_every_call_ranks_again(self, session, desk, settings):
        uncached = settings.model_copy(update={"worklist_ranking_seconds": 0})
        principal = principal_of(desk["user"])
        accounts = desk["accounts"]
        now = datetime.now(UTC)
        first = await worklists.claim_next(session, uncached, principal, now=now)
        assert first is not None and first.item.account_id == accounts["promised"].id
        assert desk["user"].id not in worklists._RANKINGS
        await add_promise(
            session, accounts["middling"], datetime.now(ZoneInfo("America/Mexico_City")).date()
        )
        second = await worklists.claim_next(session, uncached, principal, now=now)
        # Ranked again: the middling account's new promise due today puts it above the big one.
        assert second is not None and second.item.account_id == accounts["middling"].id

    @pytest.mark.parametrize(
        "change",
        [
            _flag_cease_contact,
            _opt_out_of_every_channel,
            _pause,
            _letters_only_strategy,
            _close,
            _reassign,
            _claim_by_another_collector,
        ],
    )
    async def test_an_account_refused_since_the_ranking_is_not_handed_out(
        self, session, desk, make_user, settings, change
    ):
        principal = principal_of(desk["user"])
        accounts = desk["accounts"]
        now = datetime.now(UTC)
        first = await worklists.claim_next(session, settings, principal, now=now)
        assert first is not None and first.item.account_id == accounts["promised"].id
        following = worklists._RANKINGS[desk["user"].id].following
        assert following == [accounts["big"].id, accounts["middling"].id]
        await change(session, accounts["big"], make_user)
        await session.flush()
        later = now + timedelta(seconds=1)
        second = await worklists.claim_next(session, settings, principal, now=later)
        if change is _letters_only_strategy:
            # The partner's strategy changed for every account: none may be called now.
            assert second is None
        else:
            assert second is not None and second.item.account_id == accounts["middling"].id
        assert await worklists.claim_next(session, settings, principal, now=later) is None
        claimed = (
            await session.scalars(
                select(WorklistClaim.account_id).where(
                    WorklistClaim.collector_id == desk["user"].id  # type: ignore[arg-type]
                )
            )
        ).all()
        assert accounts["big"].id not in claimed

    async def test_a_night_with_nothing_open_is_kept_for_the_window(
        self, session, connection, make_user, settings
    ):
        """03:10 in Mexico City is 18:10 in Tokyo: a Japanese number added after a night
        `next` found nothing open is handed out once the kept answer lapses."""
        partner = await make_partner(session)
        collector = await make_user(Role.COLLECTOR)
        account = await make_account(session, partner, assigned_collector_id=collector.id, dpd=45)
        await add_phone(session, account, None, value="+525512345678")
        principal = principal_of(collector)
        night = datetime(2026, 12, 7, 9, 10, tzinfo=UTC)
        assert await worklists.claim_next(session, settings, principal, now=night) is None
        await add_phone(session, account, None, value="+81312345678")
        with counted_statements(connection) as statements:
            kept = await worklists.claim_next(
                session, settings, principal, now=night + timedelta(seconds=1)
            )
        assert kept is None
        assert statements == []
        lapsed = night + timedelta(seconds=settings.worklist_ranking_seconds)
        claimed = await worklists.claim_next(session, settings, principal, now=lapsed)
        assert claimed is not None and claimed.item.account_id == account.id
        # At zero seconds nothing is kept: the next night call reads again.
        other = await make_user(Role.COLLECTOR)
        uncached = settings.model_copy(update={"worklist_ranking_seconds": 0})
        mine = await make_account(session, partner, assigned_collector_id=other.id, dpd=45)
        await add_phone(session, mine, None, value="+525512345679")
        assert await worklists.claim_next(session, uncached, principal_of(other), now=night) is None
        await add_phone(session, mine, None, value="+81312345679")
        found = await worklists.claim_next(session, uncached, principal_of(other), now=night)
        assert found is not None and found.item.account_id == mine.id

    async def test_an_earlier_clock_ranks_again(self, session, desk, settings):
        """The app's clock set back (a test, a corrected host) is not within the window: the
        kept order is not used, a ranking is made on what holds then."""
        principal = principal_of(desk["user"])
        accounts = desk["accounts"]
        now = datetime.now(UTC)
        first = await worklists.claim_next(session, settings, principal, now=now)
        assert first is not None and first.item.account_id == accounts["promised"].id
        today = datetime.now(ZoneInfo(desk["partner"].time_zone)).date()
        await add_promise(session, accounts["middling"], today)
        earlier = await worklists.claim_next(
            session, settings, principal, now=now - timedelta(seconds=1)
        )
        # Ranked again: the middling account's promise due today puts it above the big one.
        assert earlier is not None and earlier.item.account_id == accounts["middling"].id

    async def test_skills_changed_since_the_ranking_rank_again(
        self, session, desk, make_user, settings
    ):
        """A phone ranking is not handed out to the same collector working the field now: a
        visit needs an address, and these accounts have phones only."""
        principal = principal_of(desk["user"])
        now = datetime.now(UTC)
        assert await worklists.claim_next(session, settings, principal, now=now) is not None
        assert worklists._RANKINGS[desk["user"].id].following
        field = replace(principal, skills=frozenset({Skill.FIELD}))
        later = now + timedelta(seconds=1)
        assert await worklists.claim_next(session, settings, field, now=later) is None

    @pytest.mark.parametrize("role", [Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN, Role.PARTNER])
    async def test_a_ranking_kept_for_a_user_is_refused_once_they_are_not_a_collector(
        self, session, desk, settings, role
    ):
        principal = principal_of(desk["user"])
        now = datetime.now(UTC)
        assert await worklists.claim_next(session, settings, principal, now=now) is not None
        assert worklists._RANKINGS[desk["user"].id].following
        moved = replace(principal, role=role)
        with pytest.raises(PermissionDenied):
            await worklists.claim_next(session, settings, moved, now=now + timedelta(seconds=1))

    async def test_a_claim_evaluates_a_few_accounts_and_more_only_if_none_is_allowed(
        self, session, make_user, settings, monkeypatch
    ):
        """Twelve accounts: a claim evaluates the ten largest and takes the largest; then,
        with the next ten under a cease-contact flag, the smallest is evaluated and claimed."""
        partner = await make_partner(session)
        collector = await make_user(Role.COLLECTOR)
        accounts = []
        for n in range(12):
            account = await make_account(
                session,
                partner,
                assigned_collector_id=collector.id,
                dpd=45,
                # Each twice the last: the pre-score follows the balance (below its cap).
                principal=Decimal(100) * 2**n,
                interest=Decimal("0"),
                fees=Decimal("0"),
            )
            phone, zone = daytime_phone(n)
            await add_phone(session, account, zone, phone)
            accounts.append(account)
        evaluated: list[list[uuid.UUID]] = []
        evaluate = worklists._evaluate

        async def spy(session, settings, batch, *args):
            evaluated.append([row["id"] for row in batch])
            return await evaluate(session, settings, batch, *args)

        monkeypatch.setattr(worklists, "_evaluate", spy)
        uncached = settings.model_copy(update={"worklist_ranking_seconds": 0})
        principal = principal_of(collector)
        first = await worklists.claim_next(session, uncached, principal)
        assert first is not None and first.item.account_id == accounts[11].id
        assert [set(batch) for batch in evaluated] == [{a.id for a in accounts[2:]}]
        # The largest one is claimed: the next ten are refused, the smallest is left.
        for account in accounts[1:11]:
            await _flag_cease_contact(session, account, make_user)
        await session.flush()
        evaluated.clear()
        second = await worklists.claim_next(session, uncached, principal)
        assert second is not None and second.item.account_id == accounts[0].id
        assert [set(batch) for batch in evaluated] == [
            {a.id for a in accounts[1:11]},
            {accounts[0].id},
        ]
