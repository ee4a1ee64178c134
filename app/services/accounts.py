"""Accounts: list and read (within what the caller may see), assign to collectors and
teams, read the history, and record delinquency pauses and end them early.

Every list and every get starts from :func:`readable_accounts`; an account the caller may
not see is a 404, never a 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    Date,
    DateTime,
    Table,
    Uuid,
    bindparam,
    cast,
    false,
    func,
    literal_column,
    or_,
    true,
    tuple_,
)
from sqlalchemy import select as select_columns
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.domain.accounts import (
    AccountStatus,
    Assignment,
    AssignmentRequest,
    CollectorFacts,
    check_pause,
    check_workable,
    ended_pause,
    plan_assignment,
)
from app.domain.errors import InvalidInput, NotFound, VersionMismatch
from app.domain.history import Assigned, Assignee, Paused, PauseEnd, PauseTaken
from app.domain.history import PauseEnded as PauseEndedEvent
from app.domain.roles import Role, Skill
from app.domain.staff import StaffProfile
from app.domain.stages import Pause, Stage
from app.i18n import N_
from app.models.account import Account, AccountEvent, AccountPause
from app.models.debtor import ContactPoint, Debtor, RelatedParty
from app.models.partner import Partner
from app.models.user import Team, TeamMember, User
from app.pagination import decode_cursor, decode_int_cursor, encode_cursor, split_page
from app.schemas.accounts import AccountAssign, AccountSort, PauseCreate
from app.security import Principal
from app.services import aging, audit, history
from app.services.partners import partner_today

# Roles that read every account.
SEES_ALL_ACCOUNTS: frozenset[Role] = frozenset({Role.ADMIN, Role.MANAGER, Role.AUDITOR})

_BAD_CURSOR = N_("not a cursor this API issued")

T = TypeVar("T")


def _led_teams(user_id: uuid.UUID | None) -> SelectOfScalar[uuid.UUID]:
    return select(col(Team.id)).where(col(Team.lead_id) == user_id)


def readable_accounts(principal: Principal) -> SelectOfScalar[Account]:
    """The accounts a principal may see: every one for admin, manager and auditor; its own
    portfolio for a partner system; those assigned to them for a collector; for a team lead
    those assigned to a team they lead or to a collector who is a member of one."""
    query = select(Account)
    if principal.role in SEES_ALL_ACCOUNTS:
        return query
    if principal.role is Role.PARTNER and principal.partner_id is not None:
        return query.where(col(Account.partner_id) == principal.partner_id)
    if principal.role is Role.COLLECTOR and principal.user_id is not None:
        return query.where(col(Account.assigned_collector_id) == principal.user_id)
    if principal.role is Role.TEAM_LEAD and principal.user_id is not None:
        led = _led_teams(principal.user_id)
        members = select(col(TeamMember.user_id)).where(col(TeamMember.team_id).in_(led))
        return query.where(
            or_(
                col(Account.assigned_team_id).in_(led),
                col(Account.assigned_collector_id).in_(members),
            )
        )
    return query.where(false())


async def business_date(
    session: AsyncSession, account: Account, now: datetime | None = None
) -> date:
    """The account's partner's business day: pauses and history are dated by it."""
    return partner_today(await session.get_one(Partner, account.partner_id), now)


# ---------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True, slots=True)
class AccountFilters:
    partner_id: uuid.UUID | None = None
    stages: Sequence[Stage] = ()
    status: AccountStatus | None = None
    collector_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    min_total: Decimal | None = None
    max_total: Decimal | None = None
    min_dpd: int | None = None
    max_dpd: int | None = None
    external_ref: str | None = None


@dataclass(frozen=True, slots=True)
class DebtorBrief:
    """What account answers show of the debtor: never the sealed values, so lists and
    details open no ciphertext."""

    id: uuid.UUID
    national_id_type: str
    national_id_masked: str


_BRIEF = (col(Debtor.id), col(Debtor.national_id_type), col(Debtor.national_id_masked))


@dataclass(frozen=True, slots=True)
class AccountRow:
    """An account of a list with its debtor and its collector's name (read in the same
    query)."""

    account: Account
    debtor: DebtorBrief
    collector_name: str | None = None


@dataclass(frozen=True, slots=True)
class AccountView:
    """An account with what its detail shows besides its own columns. Phones and emails are
    their masked forms (the values are sealed at rest)."""

    # The ORM object, or a Core row of the account's columns (same names) on the hot read.
    account: Account | Any
    debtor: DebtorBrief
    phones: list[str]
    emails: list[str]
    references_count: int
    guarantors_count: int
    active_pause: AccountPause | dict[str, Any] | None


def _filtered(query: SelectOfScalar[Account], f: AccountFilters) -> SelectOfScalar[Account]:
    conditions: list[ColumnElement[bool]] = []
    if f.partner_id is not None:
        conditions.append(col(Account.partner_id) == f.partner_id)
    if f.stages:
        conditions.append(col(Account.stage).in_([s.value for s in f.stages]))
    if f.status is not None:
        conditions.append(col(Account.status) == f.status)
    if f.collector_id is not None:
        conditions.append(col(Account.assigned_collector_id) == f.collector_id)
    if f.team_id is not None:
        conditions.append(col(Account.assigned_team_id) == f.team_id)
    if f.min_total is not None:
        conditions.append(col(Account.total) >= f.min_total)
    if f.max_total is not None:
        conditions.append(col(Account.total) <= f.max_total)
    if f.min_dpd is not None:
        conditions.append(col(Account.dpd) >= f.min_dpd)
    if f.max_dpd is not None:
        conditions.append(col(Account.dpd) <= f.max_dpd)
    if f.external_ref is not None:
        conditions.append(col(Account.external_ref) == f.external_ref)
    return query.where(*conditions) if conditions else query


def _sort_value(sort: AccountSort, raw: str) -> Any:
    """A cursor's sort value, parsed for the sort it was issued for; bad ones are a 422."""
    if sort in (AccountSort.DPD, AccountSort.DPD_DESC):
        digits = raw[1:] if raw.startswith("-") else raw
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 9:
            raise InvalidInput("query.cursor", _BAD_CURSOR)
        return int(raw)
    if sort in (AccountSort.TOTAL, AccountSort.TOTAL_DESC):
        try:
            value = Decimal(raw)
        except InvalidOperation as exc:
            raise InvalidInput("query.cursor", _BAD_CURSOR) from exc
        # Within NUMERIC(18, 2): "1E+999999" is finite but no total ever equals it.
        if not value.is_finite() or len(raw) > 24 or abs(value) >= Decimal("1E16"):
            raise InvalidInput("query.cursor", _BAD_CURSOR)
        return value
    return None


def _decode_account_cursor(cursor: str | None, sort: AccountSort) -> tuple[Any, uuid.UUID] | None:
    """Cursors carry (sort, sort value, id); one issued for another sort is refused."""
    values = decode_cursor(cursor, 3)
    if values is None:
        return None
    sort_name, raw_value, raw_id = values
    if sort_name != sort.value:
        raise InvalidInput("query.cursor", N_("issued for another sort order"))
    try:
        after_id = uuid.UUID(raw_id)
    except ValueError as exc:
        raise InvalidInput("query.cursor", _BAD_CURSOR) from exc
    return _sort_value(sort, raw_value), after_id


def _sort_column(sort: AccountSort) -> Any:
    if sort in (AccountSort.DPD, AccountSort.DPD_DESC):
        return col(Account.dpd)
    if sort in (AccountSort.TOTAL, AccountSort.TOTAL_DESC):
        return col(Account.total)
    return None


def _sort_key(sort: AccountSort, account: Account) -> tuple[str, str, str]:
    if sort in (AccountSort.DPD, AccountSort.DPD_DESC):
        value: object = account.dpd
    elif sort in (AccountSort.TOTAL, AccountSort.TOTAL_DESC):
        value = account.total
    else:
        value = account.id
    return (sort.value, str(value), str(account.id))


def _ordered(
    query: SelectOfScalar[Account], sort: AccountSort, after: tuple[Any, uuid.UUID] | None
) -> SelectOfScalar[Account]:
    """Keyset order: the sort column then the id, both in the sort's direction."""
    column = _sort_column(sort)
    descending = sort.value.startswith("-")
    id_column = col(Account.id)
    if column is None:
        if after is not None:
            query = query.where(id_column > after[1])
        return query.order_by(id_column)
    if after is not None:
        key = tuple_(column, id_column)
        bound = tuple_(after[0], after[1])
        query = query.where(key < bound if descending else key > bound)
    if descending:
        return query.order_by(column.desc(), id_column.desc())
    return query.order_by(column, id_column)


async def list_accounts(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    sort: AccountSort = AccountSort.ID,
    filters: AccountFilters | None = None,
) -> tuple[list[AccountRow], str | None]:
    """One page of the accounts the principal may see, each with its debtor: one query
    whatever the page size."""
    after = _decode_account_cursor(cursor, sort)
    query = _filtered(readable_accounts(principal), filters or AccountFilters())
    query = _ordered(query, sort, after)
    statement = (
        query.join(Debtor, col(Debtor.id) == col(Account.debtor_id))
        .outerjoin(User, col(User.id) == col(Account.assigned_collector_id))
        .add_columns(*_BRIEF, col(User.full_name))
    )
    rows = [
        AccountRow(a, DebtorBrief(d_id, d_type, d_masked), collector)
        for a, d_id, d_type, d_masked, collector in (
            await session.execute(statement.limit(limit + 1))
        )
    ]
    page = rows[:limit]
    next_cursor = encode_cursor(*_sort_key(sort, page[-1].account)) if len(rows) > limit else None
    return page, next_cursor


async def get_account(
    session: AsyncSession, principal: Principal, account_id: uuid.UUID
) -> Account:
    """The account if the principal may see it; NotFound otherwise."""
    account = await session.scalar(
        readable_accounts(principal).where(col(Account.id) == account_id)
    )
    if account is None:
        raise NotFound({"entity": "account"})
    return account


async def _lock_account(
    session: AsyncSession, principal: Principal, account_id: uuid.UUID
) -> Account:
    """The account, row-locked to the end of the transaction, if the principal may see it."""
    account = await session.scalar(
        readable_accounts(principal)
        .where(col(Account.id) == account_id)
        .with_for_update(of=Account)
        .execution_options(populate_existing=True)
    )
    if account is None:
        raise NotFound({"entity": "account"})
    return account


# An account's detail in one statement: its own columns, its debtor, the masked phones and
# emails sent with it, its references and guarantors counted, and the pause covering the
# partner's business day (today in the partner's zone unless a date is given). Core rows, no
# ORM objects: the hot read of the floor.
_ACCOUNT: Table = Account.__table__  # type: ignore[attr-defined]
_DEBTOR: Table = Debtor.__table__  # type: ignore[attr-defined]
_PARTNER: Table = Partner.__table__  # type: ignore[attr-defined]
_CONTACT: Table = ContactPoint.__table__  # type: ignore[attr-defined]
_PARTY: Table = RelatedParty.__table__  # type: ignore[attr-defined]
_PAUSE: Table = AccountPause.__table__  # type: ignore[attr-defined]
_PAUSE_PREFIX = "pause_"
_NOW = bindparam("now", type_=DateTime(timezone=True))
_TODAY = func.coalesce(
    bindparam("today", type_=Date), cast(func.timezone(_PARTNER.c.time_zone, _NOW), Date)
)


def _counted(kind: str) -> Any:
    return (
        select_columns(func.count())
        .where(_PARTY.c.account_id == _ACCOUNT.c.id, _PARTY.c.kind == kind)
        .scalar_subquery()
    )


_CONTACTS = (
    select_columns(
        func.coalesce(
            func.json_agg(
                aggregate_order_by(
                    func.json_build_array(_CONTACT.c.kind, _CONTACT.c.value_masked),
                    _CONTACT.c.kind,
                    _CONTACT.c.position,
                    _CONTACT.c.id,
                )
            ),
            literal_column("'[]'::json"),
        )
    )
    .where(
        _CONTACT.c.account_id == _ACCOUNT.c.id,
        _CONTACT.c.related_party_id.is_(None),
        or_(_CONTACT.c.kind == "phone", _CONTACT.c.kind == "email"),
    )
    .scalar_subquery()
)
_ACTIVE_PAUSE = (
    select_columns(_PAUSE)
    .where(
        _PAUSE.c.account_id == _ACCOUNT.c.id,
        _PAUSE.c.starts_on <= _TODAY,
        _PAUSE.c.ends_on >= _TODAY,
    )
    .order_by(_PAUSE.c.starts_on.desc())
    .limit(1)
    .lateral("active_pause")
)
_DETAIL = select_columns(
    *_ACCOUNT.c,
    _DEBTOR.c.national_id_type,
    _DEBTOR.c.national_id_masked,
    _CONTACTS.label("contacts"),
    _counted("reference").label("references_count"),
    _counted("guarantor").label("guarantors_count"),
    *(column.label(_PAUSE_PREFIX + column.name) for column in _ACTIVE_PAUSE.c),
).select_from(
    _ACCOUNT.join(_DEBTOR, _DEBTOR.c.id == _ACCOUNT.c.debtor_id)
    .join(_PARTNER, _PARTNER.c.id == _ACCOUNT.c.partner_id)
    .outerjoin(_ACTIVE_PAUSE, true())
)


def _view_of(row: Any, account: Account | Any) -> AccountView:
    contacts: list[list[str]] = row.contacts
    pause = None
    if row.pause_id is not None:
        values = row._mapping
        pause = {c.name: values[_PAUSE_PREFIX + c.name] for c in _PAUSE.c}
    return AccountView(
        account=account,
        debtor=DebtorBrief(row.debtor_id, row.national_id_type, row.national_id_masked),
        phones=[value for kind, value in contacts if kind == "phone"],
        emails=[value for kind, value in contacts if kind == "email"],
        references_count=int(row.references_count),
        guarantors_count=int(row.guarantors_count),
        active_pause=pause,
    )


async def _view(session: AsyncSession, account: Account, today: date | None) -> AccountView:
    """The rest of the detail of an account already loaded (and just changed)."""
    row = (
        await session.execute(
            _DETAIL.where(_ACCOUNT.c.id == account.id),
            {"today": today, "now": datetime.now(UTC)},
        )
    ).one()
    return _view_of(row, account)


# The detail statement of each caller, built once: a statement object computes its cache key
# once, and the account id is its only parameter. Bounded; rebuilt after a clear.
_ACCOUNT_ID = bindparam("account_id", type_=Uuid)
_DETAIL_OF_CALLER: dict[tuple[Role, uuid.UUID | None, uuid.UUID | None], Any] = {}


def _detail_of(principal: Principal) -> Any:
    key = (principal.role, principal.user_id, principal.partner_id)
    statement = _DETAIL_OF_CALLER.get(key)
    if statement is None:
        statement = _DETAIL.where(_ACCOUNT.c.id == _ACCOUNT_ID)
        visible = readable_accounts(principal).whereclause
        if visible is not None:
            statement = statement.where(visible)
        if len(_DETAIL_OF_CALLER) >= 1024:
            _DETAIL_OF_CALLER.clear()
        _DETAIL_OF_CALLER[key] = statement
    return statement


async def read_account(
    session: AsyncSession, principal: Principal, account_id: uuid.UUID, *, today: date | None = None
) -> AccountView:
    """The account and its detail if the principal may see it (NotFound otherwise): one
    statement."""
    parameters = {"account_id": account_id, "today": today, "now": datetime.now(UTC)}
    row = (await session.execute(_detail_of(principal), parameters)).one_or_none()
    if row is None:
        raise NotFound({"entity": "account"})
    return _view_of(row, row)


async def list_events(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[AccountEvent], str | None]:
    """The account's history, newest first."""
    account = await get_account(session, principal, account_id)
    before = decode_int_cursor(cursor)
    query = select(AccountEvent).where(col(AccountEvent.account_id) == account.id)
    if before is not None:
        query = query.where(col(AccountEvent.seq) < before)
    rows = (
        await session.scalars(query.order_by(col(AccountEvent.seq).desc()).limit(limit + 1))
    ).all()
    return split_page(rows, limit, key=lambda e: e.seq)


async def list_pauses(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[AccountPause], str | None]:
    """The account's pauses by start date (they never overlap, so that is their order)."""
    account = await get_account(session, principal, account_id)
    values = decode_cursor(cursor, 2)
    query = select(AccountPause).where(col(AccountPause.account_id) == account.id)
    if values is not None:
        try:
            after = (date.fromisoformat(values[0]), uuid.UUID(values[1]))
        except ValueError as exc:
            raise InvalidInput("query.cursor", _BAD_CURSOR) from exc
        query = query.where(
            tuple_(col(AccountPause.starts_on), col(AccountPause.id)) > tuple_(*after)
        )
    rows = (
        await session.scalars(
            query.order_by(col(AccountPause.starts_on), col(AccountPause.id)).limit(limit + 1)
        )
    ).all()
    page = list(rows[:limit])
    next_cursor = (
        encode_cursor(page[-1].starts_on.isoformat(), page[-1].id) if len(rows) > limit else None
    )
    return page, next_cursor


# ---------------------------------------------------------------------------------------
# Changing


def _assignment_of(account: Account) -> dict[str, Any]:
    return {
        "assigned_collector_id": account.assigned_collector_id,
        "assigned_team_id": account.assigned_team_id,
    }


async def _collector_facts(
    session: AsyncSession, user_id: uuid.UUID | None
) -> CollectorFacts | None:
    if user_id is None:
        return None
    row = (
        await session.execute(
            select(col(User.role), col(User.skills), col(User.is_active), col(TeamMember.team_id))
            .outerjoin(TeamMember, col(TeamMember.user_id) == col(User.id))
            .where(col(User.id) == user_id)
        )
    ).first()
    if row is None:
        return None
    role, skills, is_active, team_id = row
    return CollectorFacts(
        StaffProfile(Role(role), frozenset(Skill(s) for s in skills), is_active), team_id
    )


async def assign_account(
    session: AsyncSession,
    actor: Principal,
    account_id: uuid.UUID,
    data: AccountAssign,
    expected_version: int,
    *,
    now: datetime | None = None,
) -> AccountView:
    """Assign the account to a collector and/or team (or unassign), if its version is still
    ``expected_version``. Writes an ``assigned`` event and the audit event when it changes."""
    now = now or datetime.now(UTC)
    account = await _lock_account(session, actor, account_id)
    if expected_version != account.version:
        raise VersionMismatch({"current": account.version})
    changes = data.model_dump(exclude_unset=True)
    request = AssignmentRequest(
        collector_given="assigned_collector_id" in changes,
        collector_id=data.assigned_collector_id,
        team_given="assigned_team_id" in changes,
        team_id=data.assigned_team_id,
    )
    current = Assignment(account.assigned_collector_id, account.assigned_team_id)
    named_collector = request.collector_id if request.collector_given else current.collector_id
    team_exists = True
    if request.team_given and request.team_id is not None:
        team_exists = bool(
            await session.scalar(select(col(Team.id)).where(col(Team.id) == request.team_id))
        )
    led: list[uuid.UUID] = []
    if actor.role is Role.TEAM_LEAD:
        led = list((await session.scalars(_led_teams(actor.user_id))).all())
    result = plan_assignment(
        actor_role=actor.role,
        led_team_ids=led,
        status=account.status,
        current=current,
        request=request,
        collector=await _collector_facts(session, named_collector),
        team_exists=team_exists,
    )
    if result == current:
        return await _view(session, account, await business_date(session, account, now))
    before = _assignment_of(account)
    account.assigned_collector_id = result.collector_id
    account.assigned_team_id = result.team_id
    account.version += 1
    account.updated_at = now
    after = _assignment_of(account)
    session.add(account)
    session.add(
        history.row(
            account,
            Assigned(Assignee(**before), Assignee(**after)),
            as_of=await business_date(session, account, now),
            occurred_at=now,
            actor_id=actor.audit_id,
        )
    )
    await session.flush()
    view = await _view(session, account, await business_date(session, account, now))
    await audit.record(
        session, actor, "account.assigned", "account", account.id, before=before, after=after
    )
    return view


def _delinquency(account: Account) -> dict[str, Any]:
    return {"dpd": account.dpd, "stage": account.stage}


async def _age_now(
    session: AsyncSession, actor: Principal, account: Account, today: date, now: datetime
) -> None:
    """DPD and stage recomputed for ``today`` by aging's own statements (one home for the
    rule), with the stage change recorded as the run records it; ``account`` read back."""
    await session.flush()
    await aging.age_account(session, account.id, today, actor=actor, now=now)
    await session.refresh(account)


async def create_pause(
    session: AsyncSession,
    actor: Principal,
    account_id: uuid.UUID,
    data: PauseCreate,
    *,
    now: datetime | None = None,
) -> AccountPause:
    """Record a delinquency pause: aging adds no days past due while it lasts. DPD and stage
    are recomputed at once for the partner's business day (a pause that began earlier takes
    its days off now; one dated ahead changes nothing until its first day's aging run)."""
    now = now or datetime.now(UTC)
    await aging.hold_off_aging(session)
    account = await _lock_account(session, actor, account_id)
    check_workable(account.status)
    existing = (
        await session.execute(
            select(col(AccountPause.starts_on), col(AccountPause.ends_on)).where(
                col(AccountPause.account_id) == account.id
            )
        )
    ).all()
    check_pause(
        Pause(data.starts_on, data.ends_on),
        [Pause(s, e) for s, e in existing],
        await business_date(session, account, now),
    )
    today = await business_date(session, account, now)
    pause = AccountPause(
        account_id=account.id,
        partner_id=account.partner_id,
        reason=data.reason.value,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        note=data.note or None,
        created_by=actor.audit_id,
        created_at=now,
    )
    before = _delinquency(account)
    account.has_pauses = True
    account.version += 1
    account.updated_at = now
    session.add_all([pause, account])
    await session.flush()
    event = history.row(
        account,
        Paused(PauseTaken(pause.id, pause.reason, pause.starts_on, pause.ends_on)),
        as_of=today,
        occurred_at=now,
        actor_id=actor.audit_id,
    )
    assert event.after is not None
    summary = event.after
    session.add(event)
    await _age_now(session, actor, account, today, now)
    await audit.record(
        session,
        actor,
        "account.paused",
        "account",
        account.id,
        before=before,
        after=summary | _delinquency(account),
    )
    return pause


# ---------------------------------------------------------------------------------------
# Cross-account lists: whose portfolio, and the names a list screen shows


@dataclass(frozen=True, slots=True)
class AccountScope:
    """Filters of a cross-account list on the account's partner and current assignment."""

    partner_id: uuid.UUID | None = None
    collector_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None


def scoped_account_ids(principal: Principal, scope: AccountScope) -> Any:
    """The ids of the accounts the caller may see, narrowed by ``scope``: a subquery for
    ``<table>.account_id IN (...)``. A team means the accounts assigned to it or to one of
    its members, as a lead's visibility does."""
    query = readable_accounts(principal).with_only_columns(col(Account.id))
    if scope.partner_id is not None:
        query = query.where(col(Account.partner_id) == scope.partner_id)
    if scope.collector_id is not None:
        query = query.where(col(Account.assigned_collector_id) == scope.collector_id)
    if scope.team_id is not None:
        members = select(col(TeamMember.user_id)).where(col(TeamMember.team_id) == scope.team_id)
        query = query.where(
            or_(
                col(Account.assigned_team_id) == scope.team_id,
                col(Account.assigned_collector_id).in_(members),
            )
        )
    return query


@dataclass(frozen=True, slots=True)
class AccountLabel:
    """What a list line shows of its account: the partner's reference, the debtor's name
    as this account's partner sent it, and the collector working it."""

    account_id: uuid.UUID
    partner_id: uuid.UUID
    external_ref: str
    debtor_name: str
    collector_id: uuid.UUID | None
    collector_name: str | None


async def account_labels(
    session: AsyncSession, account_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, AccountLabel]:
    """The labels of a page's accounts in one statement (never one per line)."""
    wanted = list(set(account_ids))
    if not wanted:
        return {}
    rows = await session.execute(
        select_columns(  # sqlmodel's select types at most four columns
            col(Account.id),
            col(Account.partner_id),
            col(Account.external_ref),
            col(Account.debtor_first_names),
            col(Account.debtor_last_names),
            col(Account.assigned_collector_id),
            col(User.full_name),
        )
        .outerjoin(User, col(User.id) == col(Account.assigned_collector_id))
        .where(col(Account.id).in_(wanted))
    )
    return {
        row[0]: AccountLabel(
            account_id=row[0],
            partner_id=row[1],
            external_ref=row[2],
            debtor_name=f"{row[3]} {row[4]}".strip(),
            collector_id=row[5],
            collector_name=row[6],
        )
        for row in rows.all()
    }


@dataclass(frozen=True, slots=True)
class LabelledPage(Generic[T]):
    """A page of a cross-account list with the labels of its accounts."""

    rows: list[T]
    labels: Mapping[uuid.UUID, AccountLabel]
    next_cursor: str | None

    def label_of(self, account_id: uuid.UUID) -> AccountLabel:
        return self.labels[account_id]


async def labelled_page(
    session: AsyncSession,
    rows: list[T],
    next_cursor: str | None,
    account_of: Callable[[T], uuid.UUID],
) -> LabelledPage[T]:
    labels = await account_labels(session, (account_of(r) for r in rows))
    return LabelledPage(rows, labels, next_cursor)


@dataclass(frozen=True, slots=True)
class PauseEnded:
    pause: AccountPause
    account: Account  # as it is after: its DPD, stage and version


async def _lock_account_of_pause(
    session: AsyncSession, principal: Principal, pause_id: uuid.UUID
) -> Account:
    """The account the pause is on, row-locked, if the principal may see it (the same
    :func:`readable_accounts`); NotFound for a pause that does not exist or is on an account
    the principal cannot see, alike."""
    on = select(col(AccountPause.account_id)).where(col(AccountPause.id) == pause_id)
    account = await session.scalar(
        readable_accounts(principal)
        .where(col(Account.id) == on.scalar_subquery())
        .with_for_update(of=Account)
        .execution_options(populate_existing=True)
    )
    if account is None:
        raise NotFound({"entity": "pause"})
    return account


async def end_pause(
    session: AsyncSession,
    actor: Principal,
    pause_id: uuid.UUID,
    expected_version: int | None = None,
    *,
    now: datetime | None = None,
) -> PauseEnded:
    """End a pause covering today before its planned last day: today counts towards days
    past due again (app/domain/accounts.py, ``ended_pause``). DPD and stage are recomputed at
    once; writes the ``pause_ended`` event (and ``stage_changed`` when the stage moves) and
    the audit event. ``expected_version`` is the account's (its ETag), when given."""
    now = now or datetime.now(UTC)
    await aging.hold_off_aging(session)
    account = await _lock_account_of_pause(session, actor, pause_id)
    pause = await session.get_one(AccountPause, pause_id, populate_existing=True)
    if expected_version is not None and expected_version != account.version:
        raise VersionMismatch({"current": account.version})
    check_workable(account.status)
    today = await business_date(session, account, now)
    ended = ended_pause(
        Pause(pause.starts_on, pause.ends_on), today, already_ended=pause.ended_at is not None
    )
    event = history.row(
        account,
        PauseEndedEvent(PauseEnd(pause.id, pause.ends_on), PauseEnd(pause.id, ended.ends_on)),
        as_of=today,
        occurred_at=now,
        actor_id=actor.audit_id,
    )
    assert event.before is not None and event.after is not None
    before, after = event.before, event.after
    delinquency = _delinquency(account)
    pause.ends_on = ended.ends_on
    pause.ended_at = now
    pause.ended_by = actor.audit_id
    account.version += 1
    account.updated_at = now
    session.add_all([pause, account, event])
    await _age_now(session, actor, account, today, now)
    await audit.record(
        session,
        actor,
        "account.pause_ended",
        "account",
        account.id,
        before=before | delinquency,
        after=after | _delinquency(account),
    )
    return PauseEnded(pause, account)
