"""KYC search: find debtors by national id, phone, email or name, within what the caller
may see, masked, audited and rate-limited.

- **Exact** on normalised identifiers, through the blind indexes (the values are sealed at
  rest): a national id of any type, compacted and upper-cased as intake stores it; a phone
  in E.164 for the given country (else the partner's, else Mexico); a lower-cased email.
  Phones and emails are the debtor's own contact points sent with the account (a
  reference's phone does not find the debtor).
- **Fuzzy** on names, accent- and case-insensitive: the names each account's partner sent,
  ``lower(cartera_unaccent(first || ' ' || last))``, against the query through pg_trgm's
  ``%`` (similarity above ``pg_trgm.similarity_threshold``, 0.3 by default), best
  similarity first, then debtor id. The trigram GIN index of migration b2c3d4e5f6a7 is
  built on exactly that expression.

Visibility comes from :func:`app.services.accounts.readable_accounts`: a debtor is found
only through accounts the caller may see, and shows only those accounts and their names.
Results are limited to the top ``limit`` debtors (at most 50), without further pages: a
look-up, not a way to page through the population.

Every search, found or not, is recorded (``kyc.search``) with the criterion, a masked form
of the value and the debtors returned; never the value itself. A search refused as invalid
(422) is recorded too (``kyc.search_refused``): the criteria given, each value masked no
more revealingly than a valid one (see :func:`refused_masks`), and the fields at fault.
"""

from __future__ import annotations

import re
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import locks
from app.domain.errors import InvalidInput, RateLimited, Text
from app.domain.identity import (
    Country,
    InvalidId,
    mask,
    mask_contact,
    mask_name,
    normalise_phone,
)
from app.domain.rate_limit import NS_PER_SECOND, SlidingWindowLimiter, admit, epoch_ns
from app.domain.roles import Role
from app.i18n import N_, Message
from app.ids import new_id
from app.models.account import Account
from app.models.audit import AuditEvent
from app.models.debtor import ContactPoint, Debtor, contact_index, national_id_index
from app.models.partner import Partner
from app.schemas.kyc import Criterion
from app.security import Principal
from app.services import audit
from app.services.accounts import readable_accounts

MAX_LIMIT = 50
MIN_NAME_LENGTH = 3

# Separators national ids are written with; intake stores them compact (python-stdnum).
_ID_SEPARATORS = re.compile(r"[\s.\-_/,]")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_SPACES = re.compile(r"\s+")
_HOST = re.compile(r"[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63}){0,5}")
# A refused value shows its last characters only when it has this many (as a valid phone or
# national id does); a refused name shows the initials of its first few words.
MIN_MASKED_LENGTH = 8
MAX_MASKED_WORDS = 6

# The account's names as the trigram index holds them (same expression, same parentheses,
# so that the planner matches it to the index and `alembic check` to the model).
NAME_KEY: ColumnElement[str] = literal_column(
    "lower(cartera_unaccent((account.debtor_first_names || ' ') || account.debtor_last_names))"
)


class InvalidSearch(InvalidInput):
    """A search query with one or more invalid parameters (each in ``errors[]``)."""

    def __init__(self, errors: list[tuple[str, Text]]) -> None:
        self.errors = errors
        super().__init__(errors[0][0], errors[0][1])

    @property
    def field_errors(self) -> list[tuple[str, Text]]:
        return self.errors


class RefusedSearch(InvalidSearch):
    """An invalid search, already on record: the refusal is committed with the 422."""

    keeps_changes = True


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What the caller sent (raw) and how many debtors they want at most."""

    national_id: str | None = None
    phone: str | None = None
    email: str | None = None
    name: str | None = None
    country: Country | None = None
    limit: int = 20


@dataclass(frozen=True, slots=True)
class Search:
    """A valid criterion: its normalised value and the masked form that is audited."""

    criterion: Criterion
    value: str
    masked: str
    country: Country | None = None


@dataclass(slots=True)
class DebtorMatch:
    debtor_id: uuid.UUID
    national_id_type: str
    national_id_masked: str
    score: float | None
    accounts: list[Account] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        seen = dict.fromkeys(
            f"{a.debtor_first_names} {a.debtor_last_names}".strip() for a in self.accounts
        )
        return list(seen)


@dataclass(frozen=True, slots=True)
class SearchResult:
    criterion: Criterion
    items: list[DebtorMatch]
    truncated: bool


def _given(query: SearchQuery) -> dict[Criterion, str]:
    return {
        name: value
        for name, value in (
            (Criterion.NATIONAL_ID, query.national_id),
            (Criterion.PHONE, query.phone),
            (Criterion.EMAIL, query.email),
            (Criterion.NAME, query.name),
        )
        if value is not None
    }


def _mask_refused(criterion: Criterion, raw: str) -> str:
    """A value that was not a valid search, masked: at most what the same criterion's mask
    shows for a valid value (four trailing characters of a long enough identifier, the first
    letter and a host name-like domain of an email, initials of a name), else ``****``."""
    if criterion is Criterion.NAME:
        return mask_name(" ".join(raw.split()[:MAX_MASKED_WORDS]))
    if criterion is Criterion.EMAIL:
        local, at, domain = raw.strip().lower().rpartition("@")
        if at and local and _HOST.fullmatch(domain):
            return mask_contact("email", f"{local}@{domain}")
        return "****"
    if criterion is Criterion.PHONE:
        compact = "".join(c for c in raw if c.isascii() and c.isdigit())
    else:
        compact = "".join(c for c in raw.upper() if c.isascii() and c.isalnum())
    return mask(compact) if len(compact) >= MIN_MASKED_LENGTH else "****"


def refused_masks(query: SearchQuery) -> dict[str, str]:
    """Each criterion a refused search gave, with its value masked for the audit trail."""
    return {name.value: _mask_refused(name, raw) for name, raw in _given(query).items()}


def parse_search(query: SearchQuery, default_country: Country) -> Search:
    """Exactly one criterion, normalised; :class:`InvalidSearch` naming every bad field."""
    given = _given(query)
    if not given:
        raise InvalidSearch(
            [("query", N_("give one of national_id, phone, email or name"))],
        )
    if len(given) > 1:
        message = N_("give only one of national_id, phone, email or name")
        raise InvalidSearch([(f"query.{name.value}", message) for name in given])
    ((criterion, raw),) = given.items()
    where = f"query.{criterion.value}"
    if criterion is Criterion.NATIONAL_ID:
        compact = _ID_SEPARATORS.sub("", raw).upper()
        if not compact or not compact.isascii() or not compact.isalnum() or len(compact) > 40:
            raise InvalidSearch([(where, N_("not a national id: letters and digits only"))])
        return Search(criterion, compact, mask(compact))
    if criterion is Criterion.PHONE:
        country = query.country or default_country
        try:
            e164 = normalise_phone(raw.strip(), country)
        except InvalidId as exc:
            raise InvalidSearch([(where, exc.text)]) from exc
        return Search(criterion, e164, mask(e164), country)
    if criterion is Criterion.EMAIL:
        email = raw.strip().lower()
        if not _EMAIL.match(email):
            raise InvalidSearch([(where, N_("not an email address"))])
        return Search(criterion, email, mask_contact("email", email))
    name = _SPACES.sub(" ", raw).strip()
    if sum(c.isalnum() for c in name) < MIN_NAME_LENGTH:
        raise InvalidSearch(
            [
                (
                    where,
                    Message(
                        N_("at least {letters} letters or digits for a name search"),
                        {"letters": MIN_NAME_LENGTH},
                    ),
                )
            ]
        )
    return Search(criterion, name, mask_name(name))


async def _default_country(session: AsyncSession, principal: Principal) -> Country:
    """A partner system's phones are read in its own country; staff default to Mexico."""
    if principal.role is Role.PARTNER and principal.partner_id is not None:
        country = await session.scalar(
            select(col(Partner.country)).where(col(Partner.id) == principal.partner_id)
        )
        if country is not None and country in Country.__members__:
            return Country(country)
    return Country.MX


def _condition(search: Search) -> tuple[ColumnElement[bool], ColumnElement[Any] | None]:
    """Which accounts match, and their score (names only)."""
    if search.criterion is Criterion.NATIONAL_ID:
        debtors = select(col(Debtor.id)).where(
            col(Debtor.national_id_index) == national_id_index(search.value)
        )
        return col(Account.debtor_id).in_(debtors), None
    if search.criterion in (Criterion.PHONE, Criterion.EMAIL):
        accounts = select(col(ContactPoint.account_id)).where(
            col(ContactPoint.value_index) == contact_index(search.criterion.value, search.value),
            col(ContactPoint.related_party_id).is_(None),
        )
        return col(Account.id).in_(accounts), None
    wanted = func.lower(func.cartera_unaccent(search.value))
    return NAME_KEY.op("%")(wanted), func.similarity(NAME_KEY, wanted)


async def find_debtors(
    session: AsyncSession, principal: Principal, search: Search, limit: int
) -> tuple[list[DebtorMatch], bool]:
    """The top ``limit`` debtors the caller may see and whether more matched. Two queries:
    the debtors ranked, then their matching visible accounts."""
    condition, score = _condition(search)
    score_column = (score if score is not None else literal_column("NULL::real")).label("score")
    matches = (
        readable_accounts(principal)
        .where(condition)
        .with_only_columns(col(Account.id), col(Account.debtor_id), score_column)
        .subquery()
    )
    best = func.max(matches.c.score).label("best")
    ranked = (
        select(matches.c.debtor_id, best)
        .group_by(matches.c.debtor_id)
        .order_by(best.desc().nulls_last(), matches.c.debtor_id)
        .limit(limit + 1)
    )
    rows = (await session.execute(ranked)).all()
    truncated = len(rows) > limit
    rows = rows[:limit]
    if not rows:
        return [], False
    debtor_ids = [r[0] for r in rows]
    debtors = {
        d.id: d
        for d in (
            await session.execute(
                select(
                    col(Debtor.id), col(Debtor.national_id_type), col(Debtor.national_id_masked)
                ).where(col(Debtor.id).in_(debtor_ids))
            )
        ).all()
    }
    found = {
        debtor_id: DebtorMatch(
            debtor_id,
            debtors[debtor_id].national_id_type,
            debtors[debtor_id].national_id_masked,
            float(best_score) if best_score is not None else None,
        )
        for debtor_id, best_score in rows
    }
    accounts = readable_accounts(principal).where(condition, col(Account.debtor_id).in_(debtor_ids))
    if score is not None:
        accounts = accounts.order_by(score.desc(), col(Account.id))
    else:
        accounts = accounts.order_by(col(Account.id))
    for account in (await session.scalars(accounts)).all():
        found[account.debtor_id].accounts.append(account)
    return [found[i] for i in debtor_ids], truncated


SEARCH_ACTIONS = ("kyc.search", "kyc.search_refused")


async def take_search_slot(
    session: AsyncSession,
    principal: audit.Actor,
    per_minute: int,
    *,
    now: datetime | None = None,
    actions: tuple[str, ...] = SEARCH_ACTIONS,
    kind: str = "kyc-search",
) -> None:
    """The limit across every API process: the caller's searches on record (audited, valid or
    refused) in the last minute, read under a per-caller advisory lock held to commit, so two
    processes cannot both take the last slot. :func:`admit` decides; 429 when it refuses.
    ``actions`` and ``kind``: another audited look-up counted the same way (inbound calls)."""
    await locks.hold_text(session, f"{kind}:{principal.audit_id}")
    now = now or datetime.now(UTC)
    recent = await session.scalars(
        select(col(AuditEvent.occurred_at))
        .where(
            col(AuditEvent.actor_id) == principal.audit_id,
            col(AuditEvent.action).in_(actions),
            col(AuditEvent.occurred_at) > now - timedelta(minutes=1),
        )
        .order_by(col(AuditEvent.occurred_at))
    )
    log = deque(epoch_ns(moment) for moment in recent)
    decision = admit(log, epoch_ns(now), limit=per_minute, window_ns=60 * NS_PER_SECOND)
    if not decision.allowed:
        raise RateLimited(decision.retry_after)


async def search_debtors(
    session: AsyncSession,
    principal: Principal,
    query: SearchQuery,
    limiter: SlidingWindowLimiter,
) -> SearchResult:
    """Rate-limit the caller, check the query, search, and put the search on record.

    The limit counts every search the caller sends, valid or not (a refused one is not
    counted): probing with malformed values costs the same as searching. The process's own
    window (``limiter``) sheds a flood before it reaches the database; the shared one
    (:func:`take_search_slot`) holds across processes. An invalid search is on record as
    ``kyc.search_refused`` (masked) and answered with :class:`RefusedSearch`, which keeps
    that record.
    """
    limiter.check(principal.audit_id)
    await take_search_slot(session, principal, limiter.limit)
    default_country = Country.MX
    if query.phone is not None and query.country is None:
        default_country = await _default_country(session, principal)
    try:
        search = parse_search(query, default_country)
    except InvalidSearch as refused:
        refusal = {
            "criteria": [name.value for name in _given(query)],
            "values_masked": refused_masks(query),
            "fields": list(dict.fromkeys(field for field, _ in refused.errors)),
        }
        await audit.record(
            session, principal, "kyc.search_refused", "kyc_search", new_id(), after=refusal
        )
        raise RefusedSearch(refused.errors) from refused
    limit = max(1, min(query.limit, MAX_LIMIT))
    items, truncated = await find_debtors(session, principal, search, limit)
    after: dict[str, Any] = {
        "criterion": search.criterion.value,
        "value_masked": search.masked,
        "results": len(items),
        "truncated": truncated,
        "debtor_ids": [str(m.debtor_id) for m in items],
    }
    if search.country is not None:
        after["country"] = search.country.value
    await audit.record(session, principal, "kyc.search", "kyc_search", new_id(), after=after)
    return SearchResult(search.criterion, items, truncated)
