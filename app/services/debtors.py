"""The debtor profile (masked), reveals with a reason, the access log, and the data-subject
export.

Choices made here:

- A debtor is visible when one of its accounts is (app/services/accounts.readable_accounts),
  and the profile shows only what came with those accounts: a partner sees what it sent, a
  collector what came with the accounts assigned to them, never another creditor's data.
- Every value is masked in the profile. ``reveal`` opens the asked fields for the roles that
  work the debt (the collector on their own accounts, team leads, managers), with a reason;
  each reveal and each export lands in ``debtor_access`` and in the audit trail, with the
  fields shown but never their values.
- The export (managers) is everything Cartera holds on the person, unmasked, for an access
  request under Mexico's data-protection law (derechos ARCO) and its peers.
- Flags (app/domain/flags.py): a partner system sees the flags raised through its own
  accounts; staff see those that reach an account they may see, without the account they
  came through when they may not see it. A flag is set through one account the caller may
  see (another is a 404) and records it; its kind says how far it reaches.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, select

from app import locks
from app.domain.contact_check import AgeNotice, age_notices
from app.domain.contact_check_packs import DebtorFlag as FlagKind
from app.domain.errors import FlagAlreadyCleared, FlagAlreadySet, NotFound, PermissionDenied
from app.domain.flags import visible_to_partner, visible_to_staff
from app.domain.roles import Role
from app.models.account import Account
from app.models.debtor import ContactConsent, ContactPoint, Debtor, DebtorFlag, RelatedParty
from app.models.debtor_access import DebtorAccess
from app.models.document import AccountDocument
from app.models.interaction import Interaction
from app.models.partner import Partner
from app.models.payment import Payment
from app.models.plan import PaymentPlan, PlanInstallment
from app.models.promise import Promise
from app.observability import request_id_var
from app.pagination import decode_id_cursor, split_page
from app.security import Principal
from app.services import accounts, audit
from app.services.contact_points import ContactPointView, contact_points_of
from app.services.flags import new_flag, raised

REVEALERS: frozenset[Role] = frozenset({Role.COLLECTOR, Role.TEAM_LEAD, Role.MANAGER})
EXPORTERS: frozenset[Role] = frozenset({Role.MANAGER})
LOG_READERS: frozenset[Role] = frozenset({Role.MANAGER, Role.AUDITOR})

REVEALABLE = ("national_id", "birth_date", "contact_points", "related_parties")
# Collectors flag through interaction results (cease request, attorney, deceased…); staff
# above them may record any flag by hand, and managers clear them.
FLAGGERS: frozenset[Role] = frozenset({Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN})
FLAG_CLEARERS: frozenset[Role] = frozenset({Role.MANAGER, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class DebtorProfile:
    debtor: Debtor
    accounts: list[Account]
    contact_points: list[ContactPointView]
    consents: list[ContactConsent]
    related_parties: list[RelatedParty]
    flags: list[DebtorFlag]
    # Per account: what the debtor's age means for contact in its partner's country.
    age_notices: dict[uuid.UUID, tuple[AgeNotice, ...]] = field(default_factory=dict)


async def _visible(
    session: AsyncSession, principal: Principal, debtor_id: uuid.UUID
) -> tuple[Debtor, list[Account]]:
    """The debtor and the accounts of it the caller may see; 404 when there are none."""
    found = list(
        (
            await session.scalars(
                accounts.readable_accounts(principal)
                .where(col(Account.debtor_id) == debtor_id)
                .order_by(col(Account.id))
            )
        ).all()
    )
    if not found:
        raise NotFound({"entity": "debtor"})
    debtor = await session.get_one(Debtor, debtor_id)
    return debtor, found


async def read_profile(
    session: AsyncSession, principal: Principal, debtor_id: uuid.UUID
) -> DebtorProfile:
    debtor, seen = await _visible(session, principal, debtor_id)
    ids = [a.id for a in seen]
    partners = {a.partner_id for a in seen}
    parties = (
        await session.scalars(
            select(RelatedParty)
            .where(col(RelatedParty.account_id).in_(ids))
            .order_by(col(RelatedParty.account_id), col(RelatedParty.position))
        )
    ).all()
    consents = (
        await session.scalars(
            select(ContactConsent).where(
                col(ContactConsent.debtor_id) == debtor.id,
                col(ContactConsent.partner_id).in_(partners),
            )
        )
    ).all()
    flags = await _known_flags(session, principal, debtor.id, seen)
    countries = dict(
        (
            await session.execute(
                select(col(Partner.id), col(Partner.country)).where(col(Partner.id).in_(partners))
            )
        ).all()
    )
    today = datetime.now(UTC).date()
    return DebtorProfile(
        debtor=debtor,
        accounts=seen,
        contact_points=await contact_points_of(session, debtor.id, ids),
        consents=list(consents),
        related_parties=list(parties),
        flags=flags,
        age_notices={
            a.id: age_notices(a.debtor_birth_date, today, countries.get(a.partner_id, ""))
            for a in seen
        },
    )


def _knows(principal: Principal, flag: DebtorFlag, seen: Sequence[Account]) -> bool:
    """What a creditor may know: a partner system, the flags its own accounts brought;
    staff, those that reach an account they may see (app/domain/flags.py)."""
    if principal.role is Role.PARTNER:
        return principal.partner_id is not None and visible_to_partner(
            raised(flag), principal.partner_id
        )
    return visible_to_staff(raised(flag), [(a.id, a.partner_id) for a in seen])


async def _known_flags(
    session: AsyncSession,
    principal: Principal,
    debtor_id: uuid.UUID,
    seen: Sequence[Account],
    *,
    cleared: bool = False,
) -> list[DebtorFlag]:
    """The debtor's flags the caller may know of (standing ones, or every one with
    ``cleared``), oldest first."""
    query = select(DebtorFlag).where(col(DebtorFlag.debtor_id) == debtor_id)
    if not cleared:
        query = query.where(col(DebtorFlag.cleared_at).is_(None))
    rows = await session.scalars(query.order_by(col(DebtorFlag.set_at), col(DebtorFlag.id)))
    return [f for f in rows.all() if _knows(principal, f, seen)]


@dataclass(frozen=True, slots=True)
class Revealed:
    access: DebtorAccess
    national_id: str | None
    birth_dates: list[tuple[uuid.UUID, date | None]] | None
    contact_points: list[ContactPoint] | None
    related_parties: list[RelatedParty] | None


async def _log_access(
    session: AsyncSession,
    principal: Principal,
    debtor_id: uuid.UUID,
    kind: str,
    fields: Sequence[str],
    reason: str,
) -> DebtorAccess:
    access = DebtorAccess(
        debtor_id=debtor_id,
        kind=kind,
        fields=list(fields),
        reason=reason,
        actor_id=principal.audit_id,
        actor_role=principal.role.value,
        request_id=request_id_var.get(),
    )
    session.add(access)
    await session.flush()
    await audit.record(
        session, principal, f"debtor.{'revealed' if kind == 'reveal' else 'exported'}",
        "debtor", debtor_id,
        after={"fields": list(fields), "reason": reason, "access_id": access.id},
    )  # fmt: skip
    return access


async def reveal(
    session: AsyncSession,
    principal: Principal,
    debtor_id: uuid.UUID,
    fields: Sequence[str],
    reason: str,
) -> Revealed:
    """The asked fields unmasked, from the accounts the caller may see; logged."""
    if principal.role not in REVEALERS:
        raise PermissionDenied({"role": principal.role.value})
    debtor, seen = await _visible(session, principal, debtor_id)
    ids = [a.id for a in seen]
    wanted = set(fields)
    points = None
    if "contact_points" in wanted:
        points = list(
            (
                await session.scalars(
                    select(ContactPoint)
                    .where(
                        col(ContactPoint.debtor_id) == debtor.id,
                        col(ContactPoint.account_id).in_(ids),
                    )
                    .order_by(col(ContactPoint.account_id), col(ContactPoint.position))
                )
            ).all()
        )
    parties = None
    if "related_parties" in wanted:
        parties = list(
            (
                await session.scalars(
                    select(RelatedParty)
                    .where(col(RelatedParty.account_id).in_(ids))
                    .order_by(col(RelatedParty.account_id), col(RelatedParty.position))
                )
            ).all()
        )
    access = await _log_access(
        session, principal, debtor.id, "reveal", [f for f in REVEALABLE if f in wanted], reason
    )
    return Revealed(
        access=access,
        national_id=debtor.national_id if "national_id" in wanted else None,
        birth_dates=[(a.id, a.debtor_birth_date) for a in seen] if "birth_date" in wanted else None,
        contact_points=points,
        related_parties=parties,
    )


async def access_log(
    session: AsyncSession,
    principal: Principal,
    debtor_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[DebtorAccess], str | None]:
    """Newest first."""
    if principal.role not in LOG_READERS:
        raise PermissionDenied({"role": principal.role.value})
    await _visible(session, principal, debtor_id)
    query = select(DebtorAccess).where(col(DebtorAccess.debtor_id) == debtor_id)
    before = decode_id_cursor(cursor)
    if before is not None:
        query = query.where(col(DebtorAccess.id) < before)
    query = query.order_by(col(DebtorAccess.id).desc()).limit(limit + 1)
    rows = (await session.scalars(query)).all()
    return split_page(rows, limit, key=lambda a: a.id)


# Blind indexes are keyed hashes, useless outside: never exported.
_NOT_EXPORTED = frozenset({"national_id_index", "value_index"})


def _plain(row: SQLModel) -> dict[str, Any]:
    return row.model_dump(mode="json", exclude=set(_NOT_EXPORTED))


def _flag_row(flag: DebtorFlag, ids: Sequence[uuid.UUID]) -> dict[str, Any]:
    """A flag for the export: where it came from only when that account is the caller's."""
    row = _plain(flag)
    if flag.account_id not in ids:
        row.update(account_id=None, partner_id=None)
    return row


async def export(
    session: AsyncSession, principal: Principal, debtor_id: uuid.UUID, reason: str
) -> dict[str, Any]:
    """Everything held on the person, unmasked, as JSON; logged as an access."""
    if principal.role not in EXPORTERS:
        raise PermissionDenied({"role": principal.role.value})
    debtor, seen = await _visible(session, principal, debtor_id)
    ids = [a.id for a in seen]

    async def rows(model: Any, *where: Any, order: Any) -> list[dict[str, Any]]:
        found = await session.scalars(select(model).where(*where).order_by(order))
        return [_plain(r) for r in found.all()]

    plan_ids = select(col(PaymentPlan.id)).where(col(PaymentPlan.account_id).in_(ids))
    document = {
        "debtor": _plain(debtor),
        "accounts": [_plain(a) for a in seen],
        "contact_points": await rows(
            ContactPoint, col(ContactPoint.account_id).in_(ids), order=col(ContactPoint.id)
        ),
        "related_parties": await rows(
            RelatedParty, col(RelatedParty.account_id).in_(ids), order=col(RelatedParty.id)
        ),
        "consents": await rows(
            ContactConsent, col(ContactConsent.debtor_id) == debtor.id,
            order=col(ContactConsent.channel),
        ),
        "flags": [
            _flag_row(f, ids)
            for f in await _known_flags(session, principal, debtor.id, seen, cleared=True)
        ],
        "interactions": await rows(
            Interaction, col(Interaction.account_id).in_(ids), order=col(Interaction.started_at)
        ),
        "promises": await rows(Promise, col(Promise.account_id).in_(ids), order=col(Promise.id)),
        "payment_plans": await rows(
            PaymentPlan, col(PaymentPlan.account_id).in_(ids), order=col(PaymentPlan.id)
        ),
        "plan_installments": await rows(
            PlanInstallment, col(PlanInstallment.plan_id).in_(plan_ids),
            order=col(PlanInstallment.id),
        ),
        "payments": await rows(Payment, col(Payment.account_id).in_(ids), order=col(Payment.id)),
        "documents": await rows(
            AccountDocument, col(AccountDocument.account_id).in_(ids), order=col(AccountDocument.id)
        ),
        "access_log": await rows(
            DebtorAccess, col(DebtorAccess.debtor_id) == debtor.id, order=col(DebtorAccess.id)
        ),
    }  # fmt: skip
    await _log_access(session, principal, debtor.id, "export", sorted(document), reason)
    return document


async def set_flag(
    session: AsyncSession,
    principal: Principal,
    debtor_id: uuid.UUID,
    kind: str,
    account_id: uuid.UUID,
    reason: str,
) -> DebtorFlag:
    """Record a flag on the debtor, raised through one of their accounts the caller may see
    (another is a 404); how far it reaches follows from its kind. The same flag already
    standing through that account is a 409."""
    if principal.role not in FLAGGERS:
        raise PermissionDenied({"role": principal.role.value})
    debtor, seen = await _visible(session, principal, debtor_id)
    account = next((a for a in seen if a.id == account_id), None)
    if account is None:
        raise NotFound({"entity": "account"})
    await locks.hold(session, locks.LockClass.DEBTOR_FLAGS, str(debtor.id))
    standing = await session.scalar(
        select(col(DebtorFlag.id)).where(
            col(DebtorFlag.debtor_id) == debtor.id,
            col(DebtorFlag.kind) == kind,
            col(DebtorFlag.cleared_at).is_(None),
            col(DebtorFlag.account_id) == account.id,
        )
    )
    if standing is not None:
        raise FlagAlreadySet(flag_id=standing)
    flag = new_flag(account, FlagKind(kind), set_by=principal.audit_id)
    session.add(flag)
    await session.flush()
    await audit.record(
        session, principal, "debtor.flag_set", "debtor", debtor.id,
        after={"flag_id": flag.id, "kind": kind, "account_id": account.id,
               "partner_id": account.partner_id, "reason": reason},
    )  # fmt: skip
    return flag


async def clear_flag(
    session: AsyncSession,
    principal: Principal,
    debtor_id: uuid.UUID,
    flag_id: uuid.UUID,
    reason: str,
) -> DebtorFlag:
    if principal.role not in FLAG_CLEARERS:
        raise PermissionDenied({"role": principal.role.value})
    debtor, seen = await _visible(session, principal, debtor_id)
    flag = await session.scalar(
        select(DebtorFlag)
        .where(col(DebtorFlag.id) == flag_id, col(DebtorFlag.debtor_id) == debtor.id)
        .with_for_update()
    )
    if flag is None or not _knows(principal, flag, seen):
        raise NotFound({"entity": "flag"})
    if flag.cleared_at is not None:
        raise FlagAlreadyCleared()
    flag.cleared_at = datetime.now(UTC)
    await session.flush()
    await audit.record(
        session, principal, "debtor.flag_cleared", "debtor", debtor.id,
        before={"flag_id": flag.id, "kind": flag.kind}, after={"reason": reason},
    )  # fmt: skip
    return flag
