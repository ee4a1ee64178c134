"""How far a contact point can be trusted and how reachable the person is on it.

Pure rules of skip tracing ("búsqueda de datos, localización"):

- a contact point's **verification status** (``unverified`` → ``verified`` after a contact
  that proves whose it is; ``invalid`` after enough wrong-number results) and how an
  interaction result moves it;
- **sources** ranked by trust, and what a duplicate from a more trustworthy source changes;
- the **contactability** of a point from its outbound history: right-party contacts over
  attempts, and the local hour with the most right-party contacts (the best hour to call);
- the key two spellings of a reference's name share ("José Pérez" and "JOSE  PEREZ").

No I/O and no clock: the service counts the history in SQL and hands the counts in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from app.domain.contact_check import RIGHT_PARTY_CODES
from app.domain.text import fold


class VerificationStatus(StrEnum):
    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    INVALID = "invalid"


class Source(StrEnum):
    """Who supplied a contact point or a reference."""

    PARTNER = "partner"  # came with the partner's assignment
    SKIP_TRACE = "skip_trace"  # found by a collector searching (directories, social media)
    FIELD_VISIT = "field_visit"  # seen or given on a home visit
    DEBTOR = "debtor"  # the debtor gave it themselves


# Sources a collector may give when adding data (partner data only arrives with pushes).
STAFF_SOURCES: frozenset[Source] = frozenset({Source.SKIP_TRACE, Source.FIELD_VISIT, Source.DEBTOR})

# Trust, least to most: a number found by searching is a lead; the partner's records may be
# years old but were once the debtor's; a field collector saw it; the debtor said it.
_TRUST: dict[Source, int] = {
    Source.SKIP_TRACE: 0,
    Source.PARTNER: 1,
    Source.FIELD_VISIT: 2,
    Source.DEBTOR: 3,
}


def more_trustworthy(new: Source, old: Source) -> bool:
    return _TRUST[new] > _TRUST[old]


@dataclass(frozen=True, slots=True)
class MergeOutcome:
    """What a duplicate changes on the contact point it merges into."""

    source: Source
    status: VerificationStatus
    # True when the wrong-number count starts again (a reopened point).
    reset_failures: bool

    def changes(self, old_source: Source, old_status: VerificationStatus) -> bool:
        return self.source is not old_source or self.status is not old_status


def merge_duplicate(
    old_source: Source, old_status: VerificationStatus, new_source: Source
) -> MergeOutcome:
    """A value added again to the same owner on the same account merges into the existing
    point. A more trustworthy source takes over the point's ``source`` (what the profile
    shows and what the work queue weighs), except on partner rows: those stay the partner's,
    since its next push replaces exactly its own rows. A number marked invalid that the
    debtor now gives as their own is reopened (unverified, its wrong-number count restarted);
    a lead from searching or a visit does not outweigh the calls that found it wrong."""
    source = old_source
    if old_source is not Source.PARTNER and more_trustworthy(new_source, old_source):
        source = new_source
    if old_status is VerificationStatus.INVALID and new_source is Source.DEBTOR:
        return MergeOutcome(source, VerificationStatus.UNVERIFIED, reset_failures=True)
    return MergeOutcome(source, old_status, reset_failures=False)


# Results that prove whose a contact point is: the debtor reached on it, or the address
# verified on a visit. A conversation with a reference or guarantor proves their own point.
ADDRESS_VERIFIED = "ADDRESS_VERIFIED"
THIRD_PARTY_CONTACT = "TPC"


def verifies(result_code: str, party: str, point_owner: str) -> bool:
    """Whether an interaction with ``result_code`` reaching ``party`` on a point owned by
    ``point_owner`` ('debtor', 'reference' or 'guarantor') verifies the point."""
    if result_code in RIGHT_PARTY_CODES or result_code == ADDRESS_VERIFIED:
        return point_owner == "debtor"
    if result_code == THIRD_PARTY_CONTACT:
        return point_owner != "debtor" and party == point_owner
    return False


def status_after_failure(
    status: VerificationStatus, failed_attempts: int, invalid_after: int
) -> VerificationStatus:
    """After a wrong-number or disconnected result (``failed_attempts`` counts it): invalid
    from the configured count on, else unchanged."""
    return VerificationStatus.INVALID if failed_attempts >= invalid_after else status


def is_valid(status: VerificationStatus) -> bool:
    """The older boolean view of the status, kept in step by the database."""
    return status is not VerificationStatus.INVALID


# ---------------------------------------------------------------------------------------
# Contactability


@dataclass(frozen=True, slots=True)
class Contactability:
    attempts: int
    right_party_contacts: int
    # Right-party contacts over attempts, two places (half up); None before any attempt.
    score: Decimal | None
    # Local hour 0-23 with the most right-party contacts (ties: the earliest); None if none.
    best_hour: int | None


_CENT = Decimal("0.01")


def score(right_party_contacts: int, attempts: int) -> Decimal | None:
    if attempts < 0 or not 0 <= right_party_contacts <= attempts:
        raise ValueError("right-party contacts are some of the attempts")
    if attempts == 0:
        return None
    return (Decimal(right_party_contacts) / Decimal(attempts)).quantize(_CENT, ROUND_HALF_UP)


def best_hour(right_party_by_hour: Mapping[int, int]) -> int | None:
    """The local hour with the most right-party contacts; the earliest of tied hours."""
    best: int | None = None
    for hour, count in right_party_by_hour.items():
        if not 0 <= hour <= 23 or count < 0:
            raise ValueError("hours run 0-23 and counts are not negative")
        if count == 0:
            continue
        if best is None or (count, -hour) > (right_party_by_hour[best], -best):
            best = hour
    return best


@dataclass(frozen=True, slots=True)
class HourCount:
    """Outbound attempts on a point started in one local hour, and how many reached the
    debtor (a right-party contact)."""

    hour: int
    attempts: int
    right_party_contacts: int


def contactability(counts: Sequence[HourCount]) -> Contactability:
    """A point's contactability from its history counted by local hour."""
    attempts = sum(c.attempts for c in counts)
    rpc = sum(c.right_party_contacts for c in counts)
    by_hour: dict[int, int] = {}
    for c in counts:
        if c.right_party_contacts > c.attempts:
            raise ValueError("right-party contacts are some of the attempts")
        by_hour[c.hour] = by_hour.get(c.hour, 0) + c.right_party_contacts
    return Contactability(attempts, rpc, score(rpc, attempts), best_hour(by_hour))


# ---------------------------------------------------------------------------------------
# Names


def name_key(full_name: str) -> str:
    """What two spellings of one person's name share: no accents, no case, single spaces
    ("José  Pérez" and "JOSE PEREZ" give "jose perez")."""
    return fold(full_name)
