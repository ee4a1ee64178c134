"""Callbacks ("reagenda", "llamada programada"): a contact the debtor asked for, at a time.

Pure rules: what a RPC_CALLBACK result must carry, how the time the debtor stated on their
own clock becomes an instant, when the work queue takes the callback up, and what state a
callback is in at a moment. Nothing here reads the clock or the database.

Choices made here:

- The debtor states the time on their own clock: a local date-time (to the minute; seconds
  are dropped) in one of the zones the contact law places them in
  (:func:`app.domain.geography.candidate_zones`, as the contact check reads the evidence).
  Where that is one zone it is the default; where the evidence allows several, the collector
  names the one the time was agreed in. It is stored as the instant plus that zone. A wall
  time the clocks skip (a spring-forward gap) is the first instant after the jump
  (:func:`app.domain.contact_check.local_instant`).
- Only RPC_CALLBACK carries a callback, and it must (:class:`CallbackRequired`); the time
  lies ahead of the server's clock (:class:`CallbackInPast`) and at most :data:`MAX_AHEAD`.
- The queue takes it up at ``due_at``: the agreed instant when the contact law and the
  strategy allow a call to the debtor then, else the contact check's next allowed moment
  (the one home of that rule: ``check_contact``'s ``next_allowed_at``, the strictest over
  the debtor's zones). The check runs with the debtor's history including the very contact
  in which the callback was agreed, so rules that count after a conversation (Colombia's
  one direct contact a day, Reg F's seven days) defer it as the law says. Where only the
  debtor or the partner can lift what blocks the call (cease contact, a dispute, a pause),
  ``due_at`` stays the agreed instant, the reasons are kept with the callback, and the
  queue's own check keeps the account out until they are lifted.
- States at a moment (:func:`status_of`): ``scheduled`` before ``due_at``; ``due`` from
  then; ``missed`` once the grace (a setting) has passed without it being done; ``done``
  when an interaction on the account that started at or after ``due_at`` was recorded, by
  anyone; ``cancelled`` when the account left the collector (reassigned, recalled, closed),
  when a newer callback on the account replaced it, or when the interaction that agreed it
  was corrected.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from app.domain.contact_check import Decision, Reason, local_instant
from app.domain.errors import DomainError, InvalidInput, Text
from app.i18n import N_

CALLBACK_RESULT = "RPC_CALLBACK"
# How far ahead a callback may be agreed: further out it is a promise or a plan, not a call.
MAX_AHEAD = timedelta(days=30)


class CallbackStatus(StrEnum):
    SCHEDULED = "scheduled"
    DUE = "due"
    MISSED = "missed"
    DONE = "done"
    CANCELLED = "cancelled"


class CancelReason(StrEnum):
    REASSIGNED = "reassigned"  # the account went to another collector, or to none
    ACCOUNT_INACTIVE = "account_inactive"  # recalled or closed
    SUPERSEDED = "superseded"  # a newer callback on the account replaced it
    CORRECTED = "corrected"  # the interaction that agreed it was corrected


class CallbackRequired(DomainError):
    """A RPC_CALLBACK result without the time the debtor agreed."""

    code = "callback_required"

    @property
    def field_errors(self) -> list[tuple[str, Text]]:
        return [("callback", N_("a RPC_CALLBACK result carries the agreed callback time"))]


class CallbackInPast(DomainError):
    """The agreed time, on the debtor's clock, has already passed."""

    code = "callback_in_past"

    def __init__(self, local_time: datetime, time_zone: str) -> None:
        super().__init__(
            {"local_time": local_time.strftime("%Y-%m-%dT%H:%M"), "time_zone": time_zone}
        )

    @property
    def field_errors(self) -> list[tuple[str, Text]]:
        return [("callback.local_time", N_("the agreed time has already passed"))]


def check_callback(result_code: str, given: bool) -> None:
    """RPC_CALLBACK carries its callback; no other result carries one."""
    if result_code == CALLBACK_RESULT and not given:
        raise CallbackRequired()
    if given and result_code != CALLBACK_RESULT:
        raise InvalidInput("callback", N_("only a RPC_CALLBACK result carries a callback"))


def callback_zone(stated: str | None, candidates: Sequence[str]) -> str:
    """The zone the local time is read in: the one stated (one of the debtor's candidate
    zones), or the only candidate."""
    if stated is not None:
        if stated not in candidates:
            raise InvalidInput(
                "callback.time_zone",
                N_("not a zone the debtor may be in; one of: {zones}"),
                {"zones": ", ".join(candidates)},
            )
        return stated
    if len(candidates) != 1:
        raise InvalidInput(
            "callback.time_zone",
            N_("the debtor may be in any of {zones}: name the zone the time was agreed in"),
            {"zones": ", ".join(candidates)},
        )
    return candidates[0]


def agreed_instant(local_time: datetime, zone: str, now: datetime) -> datetime:
    """The instant (UTC) of ``local_time`` (naive, to the minute) on ``zone``'s clock, which
    must lie after ``now`` and within :data:`MAX_AHEAD` of it."""
    if local_time.tzinfo is not None:
        raise InvalidInput("callback.local_time", N_("a wall-clock time, without an offset"))
    clock = ZoneInfo(zone)
    today = now.astimezone(clock).date()
    # Far from today it is refused before any arithmetic (no overflow near year 1 or 9999).
    if local_time.date() < today - timedelta(days=1):
        raise CallbackInPast(local_time, zone)
    if local_time.date() > today + MAX_AHEAD + timedelta(days=1):
        raise InvalidInput("callback.local_time", _too_far())
    instant = local_instant(clock, local_time.date(), local_time.hour * 60 + local_time.minute)
    if instant < now:
        raise CallbackInPast(local_time, zone)
    if instant > now + MAX_AHEAD:
        raise InvalidInput("callback.local_time", _too_far())
    return instant


def _too_far() -> str:
    return f"a callback is agreed at most {MAX_AHEAD.days} days ahead"


def due_moment(agreed_at: datetime, decision: Decision) -> tuple[datetime, tuple[Reason, ...]]:
    """When the queue takes the callback up, and the reasons it could not be at the agreed
    instant: that instant if a call is allowed then; else the check's next allowed moment;
    else (only the debtor or partner can lift the block) the agreed instant, with the
    reasons, for the queue's own check to hold back."""
    if decision.allowed:
        return agreed_at, ()
    if decision.next_allowed_at is not None:
        return decision.next_allowed_at, decision.reasons
    return agreed_at, decision.reasons


def status_of(
    due_at: datetime,
    done_at: datetime | None,
    cancelled_at: datetime | None,
    now: datetime,
    grace: timedelta,
) -> CallbackStatus:
    """The callback's state at ``now`` (the service's SQL filters say the same)."""
    if done_at is not None:
        return CallbackStatus.DONE
    if cancelled_at is not None:
        return CallbackStatus.CANCELLED
    if now < due_at:
        return CallbackStatus.SCHEDULED
    if now < due_at + grace:
        return CallbackStatus.DUE
    return CallbackStatus.MISSED
