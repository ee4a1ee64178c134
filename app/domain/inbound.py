"""Inbound calls ("llamadas de entrada"): who may look up the number of a debtor calling in,
what each caller is shown, and who reads the calls that matched nobody.

Pure rules; the service (app/services/inbound.py) finds the accounts by the number's blind
index and audits every look-up.

Choices made here:

- Phone staff look numbers up: collectors, team leads, managers and admins. Auditors read
  the record and take no calls; partner systems take none either.
- A caller is shown the active accounts they may work, through the one access helper of
  accounts (a collector their own, a lead their teams', managers and admins all), with the
  debtor's name as the partner sent it.
- The shared inbound desk is a collector with the ``inbound`` skill: it answers for every
  partner, so it is also shown the other active accounts the number belongs to, as a
  summary with the debtor's name masked (first names and the initials of the last names:
  enough to ask "am I speaking with María Fernanda L.?", not to read the file). It may
  record the inbound call on such an account, with the existing endpoint, for
  :data:`DESK_HOLD` after its own look-up returned it, and nothing else there.
- Only the debtor's own numbers match: a reference's or guarantor's number does not lead to
  the debt (in Mexico references may never be collected from).
- A number that matches nothing is answered with an empty list; the call can be kept as an
  unidentified inbound call, which team leads (those of their teams' members), managers,
  admins and auditors read.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from app.domain.roles import Role, Skill

LOOKERS = frozenset({Role.COLLECTOR, Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN})
UNIDENTIFIED_READERS = frozenset({Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN, Role.AUDITOR})
# How long after the desk's look-up returned an account the desk may record the call on it.
DESK_HOLD = timedelta(hours=2)
MAX_MATCHES = 20


def may_look_up(role: Role) -> bool:
    return role in LOOKERS


def is_inbound_desk(role: Role, skills: Collection[Skill]) -> bool:
    """A collector of the shared inbound desk."""
    return role is Role.COLLECTOR and Skill.INBOUND in skills


def may_read_unidentified(role: Role) -> bool:
    return role in UNIDENTIFIED_READERS


def desk_name(first_names: str, last_names: str) -> str:
    """``María Fernanda L. G.``: the names the debtor answers to, the surnames' initials."""
    initials = " ".join(f"{word[0].upper()}." for word in last_names.split() if word)
    return " ".join(part for part in (first_names.strip(), initials) if part) or "***"
