"""Rules about accounts that the schemas alone cannot state: who may be assigned an account
by whom, which delinquency pauses may be recorded, and how one ends early.

Pure functions over plain values: the service loads the facts (the account's status, the
collector's profile and team, the teams a lead leads) and persists what these return.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from app.domain.errors import (
    AccountNotActive,
    DomainError,
    InvalidInput,
    PauseLimitExceeded,
    PauseOverlaps,
)
from app.domain.roles import Role
from app.domain.staff import StaffProfile
from app.domain.stages import Pause
from app.i18n import N_

# The longest pause, both dates included: a longer one is a policy decision (a lawsuit, a
# restructuring), not a pause.
MAX_PAUSE_DAYS = 365
MAX_PAUSE_BACKDATE_DAYS = 30  # a pause is recorded when the dispute or hardship is known
MAX_TOTAL_PAUSE_DAYS = 730

_COLLECTOR_FIELD = "assigned_collector_id"
_TEAM_FIELD = "assigned_team_id"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    RECALLED = "recalled"  # the partner took it back
    CLOSED = "closed"


# The statuses as a person reads them (answers name them in the reader's language).
ACCOUNT_STATUS_WORDS = {
    AccountStatus.ACTIVE.value: N_("active"),
    AccountStatus.RECALLED.value: N_("recalled by the partner"),
    AccountStatus.CLOSED.value: N_("closed"),
}


class PauseReason(StrEnum):
    DISPUTE = "dispute"
    HARDSHIP = "hardship"
    LEGAL = "legal"


@dataclass(frozen=True, slots=True)
class Assignment:
    """Who works an account: a collector, a team, both or neither."""

    collector_id: uuid.UUID | None
    team_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class CollectorFacts:
    """What decides whether a user may be given accounts."""

    profile: StaffProfile
    team_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class AssignmentRequest:
    """A change of assignment: a field left out (``*_given`` false) keeps its value, an
    explicit None unassigns."""

    collector_given: bool = False
    collector_id: uuid.UUID | None = None
    team_given: bool = False
    team_id: uuid.UUID | None = None


def debtor_name(first_names: str, last_names: str) -> str:
    """The debtor's name as one account's partner sent it (the account's own columns: a
    partner never sees another's spelling), as every answer about the account shows it."""
    return f"{first_names} {last_names}".strip()


class PauseNotActive(DomainError):
    """Only a pause covering today, not ended already, can be ended: one that is over (or was
    ended) or has not begun yet cannot. ``state`` says which (``ended``, ``over``,
    ``not_started``)."""

    code = "pause_not_active"


def ended_pause(pause: Pause, today: date, *, already_ended: bool) -> Pause:
    """The pause ended today, before its planned last day: today counts towards days past
    due again, so its last day becomes yesterday; one that began today then covers no day
    (its ``ends_on`` is the day before its ``starts_on``)."""
    if already_ended:
        raise PauseNotActive({"state": "ended"})
    if pause.ends_on < today:
        raise PauseNotActive({"state": "over"})
    if pause.starts_on > today:
        raise PauseNotActive({"state": "not_started"})
    return Pause(pause.starts_on, today - timedelta(days=1))


def check_workable(status: str) -> None:
    """Only active accounts are assigned or paused; recalled and closed ones are history."""
    if status != AccountStatus.ACTIVE:
        raise AccountNotActive(status)


def plan_assignment(
    *,
    actor_role: Role,
    led_team_ids: Collection[uuid.UUID],
    status: str,
    current: Assignment,
    request: AssignmentRequest,
    collector: CollectorFacts | None,
    team_exists: bool,
) -> Assignment:
    """The assignment after ``request``, or the error that refuses it.

    ``collector`` describes the collector the result names (None when it names none, or the
    user does not exist); ``team_exists`` whether the requested team exists.

    - Assigning a collector without naming a team puts the account in the collector's team.
    - When both are set, the collector must be a member of the team.
    - A collector newly named must be an active user with role ``collector``.
    - A team lead assigns only to collectors in teams they lead and to teams they lead, and
      cannot leave the account outside their teams. For a lead, a collector or team outside
      their teams gets the same answer as one that does not exist, so ids cannot be probed.
    """
    check_workable(status)
    if not (request.collector_given or request.team_given):
        return current
    is_lead = actor_role is Role.TEAM_LEAD
    led = frozenset(led_team_ids)

    if request.collector_given and request.collector_id is not None:
        usable = collector is not None and collector.profile.may_be_team_member
        if is_lead and not (usable and collector is not None and collector.team_id in led):
            raise InvalidInput(
                _COLLECTOR_FIELD, N_("must be an active collector in a team you lead")
            )
        if not usable:
            raise InvalidInput(_COLLECTOR_FIELD, N_("must be an active user with role collector"))
    if request.team_given and request.team_id is not None:
        if is_lead and request.team_id not in led:
            raise InvalidInput(_TEAM_FIELD, N_("must be a team you lead"))
        if not team_exists:
            raise InvalidInput(_TEAM_FIELD, N_("no such team"))

    collector_id = request.collector_id if request.collector_given else current.collector_id
    if request.team_given:
        team_id = request.team_id
    elif request.collector_given and request.collector_id is not None and collector is not None:
        team_id = collector.team_id
    else:
        team_id = current.team_id

    if collector_id is not None and team_id is not None:
        in_team = collector is not None and collector.team_id == team_id
        if not in_team:
            field = _COLLECTOR_FIELD if request.collector_given else _TEAM_FIELD
            raise InvalidInput(field, N_("the collector must be a member of the assigned team"))
    if is_lead:
        kept = team_id in led or (
            collector_id is not None and collector is not None and collector.team_id in led
        )
        if not kept:
            raise InvalidInput(
                _TEAM_FIELD, N_("a team lead keeps the account within a team they lead")
            )
    return Assignment(collector_id, team_id)


def pause_days(pause: Pause) -> int:
    """How many days a pause covers, both dates included."""
    return pause.ends_on.toordinal() - pause.starts_on.toordinal() + 1


def check_pause(new: Pause, existing: Iterable[Pause], today: date) -> None:
    """A pause runs forwards, lasts at most :data:`MAX_PAUSE_DAYS`, starts no more than
    :data:`MAX_PAUSE_BACKDATE_DAYS` ago, overlaps no other pause of the account (the aging SQL
    sums paused days and relies on that), and all of an account's pauses together stay within
    :data:`MAX_TOTAL_PAUSE_DAYS`: pauses must not become a way to erase days past due."""
    if new.ends_on < new.starts_on:
        raise InvalidInput("ends_on", N_("must be on or after starts_on"))
    if pause_days(new) > MAX_PAUSE_DAYS:
        raise InvalidInput(
            "ends_on",
            N_("a pause lasts at most {max_pause_days} days"),
            {"max_pause_days": MAX_PAUSE_DAYS},
        )
    if (today - new.starts_on).days > MAX_PAUSE_BACKDATE_DAYS:
        raise InvalidInput(
            "starts_on",
            N_("may be at most {max_pause_backdate_days} days in the past"),
            {"max_pause_backdate_days": MAX_PAUSE_BACKDATE_DAYS},
        )
    if (new.starts_on - today).days > MAX_PAUSE_DAYS:
        raise InvalidInput(
            "starts_on",
            N_("may be at most {max_pause_days} days ahead"),
            {"max_pause_days": MAX_PAUSE_DAYS},
        )
    existing = list(existing)
    total = pause_days(new) + sum(pause_days(p) for p in existing)
    if total > MAX_TOTAL_PAUSE_DAYS:
        raise PauseLimitExceeded(total=total, most=MAX_TOTAL_PAUSE_DAYS)
    for other in existing:
        if new.starts_on <= other.ends_on and other.starts_on <= new.ends_on:
            raise PauseOverlaps(
                starts_on=other.starts_on.isoformat(), ends_on=other.ends_on.isoformat()
            )
