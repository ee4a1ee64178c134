"""The work queue's pre-filter (app/services/worklists.py): from what a debtor's points place
alone, it sets an account aside only when the full contact check refuses every channel and
point the queue would try, whatever the clock, the zones and the country."""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.contact_check import (
    PACKS,
    POINT_KIND,
    ContactChannel,
    ContactRequest,
    Party,
    check_contact,
    strictest,
    window_open,
)
from app.domain.geography import zones_from
from app.services import worklists
from app.services.contact_check import ANYWHERE
from app.services.worklists import FIELD_CHANNELS, PHONE_CHANNELS, _reachable

ZONES = (
    "America/Mexico_City",
    "America/Tijuana",
    "America/Cancun",
    "America/Hermosillo",
    "America/Bogota",
    "America/Lima",
    "America/Santiago",
    "Pacific/Easter",
    "America/Sao_Paulo",
    "America/New_York",
    "America/Los_Angeles",
    "Europe/Madrid",
    "Asia/Tokyo",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "UTC",
)

points_strategy = st.lists(
    st.tuples(
        st.sampled_from(("phone", "email", "address")),
        st.frozensets(st.sampled_from(ZONES), max_size=3),
    ),
    min_size=1,
    max_size=4,
)


def full_check_allows(
    country: str,
    points: list[tuple[str, frozenset[str]]],
    channels: tuple[ContactChannel, ...],
    at: datetime,
) -> bool:
    """What the queue's full path would find: some channel and point that the contact check
    allows in every candidate zone (an active account, nothing else against it)."""
    pack = PACKS[country]
    for channel in channels:
        for kind, zones in points:
            if kind != POINT_KIND[channel]:
                continue
            placing = [z for _, z in points] if channel in ANYWHERE else [zones]
            candidates = zones_from(placing, country)
            request = ContactRequest(
                at=at,
                channel=channel,
                party=Party.DEBTOR,
                time_zone=candidates[0],
                account_status="active",
                paused=False,
                flags=frozenset(),
                consented_channels=None,
                opted_out_channels=frozenset(),
                history=(),
            )
            decision = strictest(
                [check_contact(pack, replace(request, time_zone=zone)) for zone in candidates]
            )
            if decision.allowed:
                return True
    return False


class TestPrefilter:
    @settings(max_examples=300, deadline=None)
    @given(
        country=st.sampled_from(sorted(PACKS)),
        points=points_strategy,
        field=st.booleans(),
        at=st.datetimes(
            min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
        ),
    )
    def test_an_account_set_aside_is_one_the_contact_check_refuses(
        self, country, points, field, at
    ):
        channels = PHONE_CHANNELS + (FIELD_CHANNELS if field else ())
        # The queue reads only the points its channels use.
        kinds = {POINT_KIND[c] for c in channels}
        points = [(kind, zones) for kind, zones in points if kind in kinds]
        pack = PACKS[country]
        profile = (country, frozenset(points))

        def all_open(pack, zones):
            return all(window_open(pack, zone, at) for zone in zones)

        if not _reachable(pack, profile, channels, all_open):
            assert not full_check_allows(country, points, channels, at)

    def test_a_point_in_a_zone_where_it_is_daytime_is_reachable(self):
        """03:10 in Mexico City, 18:10 in Tokyo: a Mexican debtor's Japanese number may be
        called, their Mexican one may not."""
        at = datetime(2026, 12, 7, 9, 10, tzinfo=UTC)
        pack = PACKS["MX"]

        def all_open(pack, zones):
            return all(window_open(pack, zone, at) for zone in zones)

        tokyo = [("phone", frozenset({"Asia/Tokyo"}))]
        mexico = [("phone", frozenset({"America/Mexico_City"}))]
        assert _reachable(pack, ("MX", frozenset(tokyo)), PHONE_CHANNELS, all_open)
        assert full_check_allows("MX", tokyo, PHONE_CHANNELS, at)
        assert not _reachable(pack, ("MX", frozenset(mexico)), PHONE_CHANNELS, all_open)
        assert not full_check_allows("MX", mexico, PHONE_CHANNELS, at)


class _NoPoints:
    """A stand-in for the session: no collector has points; every statement lets the other
    coroutines run before it answers, so concurrent calls interleave at each await."""

    async def execute(self, statement, params):
        await asyncio.sleep(0)
        return self

    def all(self):
        return []

    def one(self):
        return (0, 0, 0)


class TestReadingsKept:
    async def test_no_more_readings_are_kept_than_the_bound_however_calls_interleave(
        self, monkeypatch
    ):
        """More collectors than the bound at once, each call letting the others run between
        its statements: the process keeps the bound's worth, and afterwards the least
        recently used reading is the one let go."""
        monkeypatch.setattr(worklists, "_READINGS", OrderedDict())
        bound = worklists._READINGS_MAX
        night = datetime(2026, 12, 7, 9, 10, tzinfo=UTC)
        session = _NoPoints()
        collectors = [uuid.uuid4() for _ in range(bound + 100)]
        await asyncio.gather(
            *(
                worklists._workable(session, None, collector, PHONE_CHANNELS, night)
                for collector in collectors
            )
        )
        assert len(worklists._READINGS) == bound
        kept = [collector for collector, _ in worklists._READINGS]
        oldest, second = kept[0], kept[1]
        await worklists._workable(session, None, oldest, PHONE_CHANNELS, night)
        await worklists._workable(session, None, uuid.uuid4(), PHONE_CHANNELS, night)
        now_kept = {collector for collector, _ in worklists._READINGS}
        assert len(now_kept) == bound
        assert oldest in now_kept
        assert second not in now_kept
