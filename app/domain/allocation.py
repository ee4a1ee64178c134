"""Allocation rules: which rule decides an account's team and collector, and how a rule's
accounts are spread over its collectors. Pure: no SQL, no I/O, no clock.

``app/services/allocation.py`` applies the same rules set-based in SQL; these functions are
the reference it is tested against.

- **Order.** Rules are tried by ``priority`` (lower first), ties by id (UUIDv7, so the
  older rule first). The first rule that matches an account decides it; later rules never
  see it.
- **Matching.** A rule matches an account when every criterion it states holds: its partner
  (none: any partner), one of its stages (none: any), one of its product types (none: any),
  and its territory. A territory lists states, municipalities and postal-code prefixes; the
  account is inside when *any* of them matches the debtor's address (its first address that
  is not known to be invalid, by position); an empty territory is "anywhere", and a rule
  with a territory never matches an account without an address. Names compare without
  accents, case or repeated blanks ("Nuevo León" = "nuevo leon"); postal codes without
  blanks, upper-cased.
- **Skill.** The rule's skill picks its collectors (a team's active members with that skill,
  or the one collector named); it is not a property of the account.
- **Distribution.** Accounts to place go to the rule's collectors with room under the
  capacity, the least loaded first (water-filling), so loads end as even as the capacity
  allows; what finds no room stays unassigned (in the rule's team).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from app.domain.errors import InvalidInput
from app.domain.roles import Skill
from app.domain.stages import ProductType, Stage
from app.domain.text import fold
from app.i18n import N_

MIN_CAPACITY = 1
MAX_CAPACITY = 100_000
MAX_PRIORITY = 1_000_000
MAX_TERRITORY_ENTRIES = 500
POSTAL_PREFIX = re.compile(r"^[0-9A-Z]{1,10}$")


def plain(text: str) -> str:
    """A place name as rules compare it: no accents, lower case, single blanks."""
    return fold(text)


def postal(code: str) -> str:
    """A postal code or prefix as rules compare it: no blanks, upper case."""
    return "".join(code.split()).upper()


@dataclass(frozen=True, slots=True)
class Territory:
    """States, municipalities and postal-code prefixes, already normalised; empty is
    anywhere."""

    states: frozenset[str] = frozenset()
    municipalities: frozenset[str] = frozenset()
    postal_prefixes: frozenset[str] = frozenset()

    @property
    def anywhere(self) -> bool:
        return not (self.states or self.municipalities or self.postal_prefixes)


@dataclass(frozen=True, slots=True)
class Address:
    """Where the debtor lives, as the account's contact points give it (raw values)."""

    state: str | None = None
    municipality: str | None = None
    postal_code: str | None = None


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What rules look at in an account."""

    partner_id: uuid.UUID
    stage: Stage
    product_type: ProductType
    address: Address | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    id: uuid.UUID
    priority: int
    skill: Skill
    capacity: int
    partner_id: uuid.UUID | None = None
    stages: frozenset[Stage] = frozenset()
    product_types: frozenset[ProductType] = frozenset()
    territory: Territory = field(default_factory=Territory)
    team_id: uuid.UUID | None = None
    collector_id: uuid.UUID | None = None


def _territory_list(values: Iterable[str], name: str) -> frozenset[str]:
    out: list[str] = []
    for index, raw in enumerate(values):
        where = f"territory.{name}.{index}"
        value = postal(raw) if name == "postal_prefixes" else plain(raw)
        if not value:
            raise InvalidInput(where, N_("must not be blank"))
        if name == "postal_prefixes" and not POSTAL_PREFIX.match(value):
            raise InvalidInput(where, N_("a postal-code prefix is 1 to 10 letters or digits"))
        out.append(value)
    if len(out) > MAX_TERRITORY_ENTRIES:
        raise InvalidInput(
            f"territory.{name}",
            N_("at most {max_territory_entries} entries"),
            {"max_territory_entries": MAX_TERRITORY_ENTRIES},
        )
    return frozenset(out)


def check_territory(
    states: Iterable[str], municipalities: Iterable[str], postal_prefixes: Iterable[str]
) -> Territory:
    """Normalise a territory as written, refusing blank names and malformed prefixes."""
    return Territory(
        _territory_list(states, "states"),
        _territory_list(municipalities, "municipalities"),
        _territory_list(postal_prefixes, "postal_prefixes"),
    )


def check_rule_shape(
    *,
    priority: int,
    capacity: int,
    stages: Sequence[Stage],
    team_id: uuid.UUID | None,
    collector_id: uuid.UUID | None,
) -> None:
    """What a rule must be on its own (existence of partner, team and collector is the
    service's to check)."""
    if not 0 <= priority <= MAX_PRIORITY:
        raise InvalidInput(
            "priority", N_("must be 0 to {max_priority}"), {"max_priority": MAX_PRIORITY}
        )
    if not MIN_CAPACITY <= capacity <= MAX_CAPACITY:
        raise InvalidInput(
            "capacity",
            N_("must be {min_capacity} to {max_capacity}"),
            {"min_capacity": MIN_CAPACITY, "max_capacity": MAX_CAPACITY},
        )
    if not stages:
        raise InvalidInput("stages", N_("name at least one stage"))
    if (team_id is None) == (collector_id is None):
        raise InvalidInput("target", N_("name either a team or a collector, not both"))


def ordered(rules: Iterable[Rule]) -> list[Rule]:
    """Rules in the order they are tried."""
    return sorted(rules, key=lambda r: (r.priority, r.id))


def in_territory(territory: Territory, address: Address | None) -> bool:
    if territory.anywhere:
        return True
    if address is None:
        return False
    if address.state and plain(address.state) in territory.states:
        return True
    if address.municipality and plain(address.municipality) in territory.municipalities:
        return True
    code = postal(address.postal_code) if address.postal_code else ""
    return bool(code) and any(code.startswith(p) for p in territory.postal_prefixes)


def matches(rule: Rule, account: AccountFacts) -> bool:
    if rule.partner_id is not None and rule.partner_id != account.partner_id:
        return False
    if rule.stages and account.stage not in rule.stages:
        return False
    if rule.product_types and account.product_type not in rule.product_types:
        return False
    return in_territory(rule.territory, account.address)


def first_match(rules: Iterable[Rule], account: AccountFacts) -> Rule | None:
    """The rule that decides the account, or None when no rule matches it."""
    return next((r for r in ordered(rules) if matches(r, account)), None)


def distribute(loads: Mapping[uuid.UUID, int], capacity: int, count: int) -> list[uuid.UUID | None]:
    """Collectors for ``count`` accounts, in the order the accounts are placed: each goes
    to the collector whose load would be lowest after it (ties: the lower id), never past
    ``capacity``; None once no one has room.

    The SQL does the same with slots: collector ``c`` offers slots ``load(c)+1 …
    capacity``, all slots ordered by (slot number, collector id), the n-th account takes the
    n-th slot."""
    slots = sorted(
        (level, collector)
        for collector, load in loads.items()
        for level in range(load + 1, min(capacity, load + count) + 1)
    )
    chosen: list[uuid.UUID | None] = [collector for _, collector in slots[:count]]
    return chosen + [None] * (count - len(chosen))
