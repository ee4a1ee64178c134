"""Channel consents with their provenance (app/domain/consents.py): recorded from the
partner's file, from a right-party interaction or from a signed document; revoked at once by
the debtor's word. The pre-contact check reads the current row (services/contact_check.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.domain.consents import (
    EVIDENCE_DOCUMENT_KINDS,
    RECORDERS,
    ConsentClaim,
    ConsentSource,
    ConsentStatus,
    EvidenceInteraction,
    check_interaction_evidence,
    check_not_older_than_revocation,
    may_lift_opt_out,
    source_of,
)
from app.domain.contact_check import ContactChannel
from app.domain.errors import InvalidInput, PermissionDenied
from app.i18n import N_
from app.models.account import Account
from app.models.debtor import ContactConsent
from app.models.document import AccountDocument
from app.models.interaction import Interaction
from app.schemas.interactions import ConsentSet
from app.security import Principal
from app.services import accounts, audit

_KEY = ("debtor_id", "partner_id", "channel")


async def record_consent(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    channel: ContactChannel,
    body: ConsentSet,
    *,
    now: datetime | None = None,
) -> ContactConsent:
    """The debtor authorised a channel, with its evidence, or withdrew it (at once)."""
    if principal.role not in RECORDERS:
        raise PermissionDenied({"role": principal.role.value})
    moment = now or datetime.now(UTC)
    status = ConsentStatus(body.status)
    source = source_of(
        ConsentClaim(
            role=principal.role,
            status=status,
            source=ConsentSource(body.source) if body.source else None,
            interaction_id=body.interaction_id,
            document_id=body.document_id,
            partner_reference=body.partner_reference,
        )
    )
    if body.given_at is not None:
        if source is not ConsentSource.PARTNER_FILE:
            raise InvalidInput(
                "given_at", N_("only a partner's record states it; evidence has its own time")
            )
        if body.given_at > moment:
            raise InvalidInput("given_at", N_("must not be in the future"))
    account = await accounts.get_account(session, principal, account_id)
    given_at = moment
    interaction_id: uuid.UUID | None = None
    document_id: uuid.UUID | None = None
    if source is ConsentSource.DEBTOR_IN_INTERACTION:
        assert body.interaction_id is not None
        given_at = await _interaction_evidence(session, account, body.interaction_id, status)
        interaction_id = body.interaction_id
    elif source is ConsentSource.SIGNED_DOCUMENT:
        assert body.document_id is not None
        given_at = await _document_evidence(session, account, body.document_id)
        document_id = body.document_id
    elif source is ConsentSource.PARTNER_FILE and body.given_at is not None:
        given_at = body.given_at
    current = await session.get(
        ContactConsent, (account.debtor_id, account.partner_id, channel.value)
    )
    if status is ConsentStatus.GRANTED and current is not None:
        if current.status == ConsentStatus.OPTED_OUT and not may_lift_opt_out(principal.role):
            raise PermissionDenied({"role": principal.role.value})
        check_not_older_than_revocation(given_at, current.status, current.given_at)
    values: dict[str, Any] = {
        "status": status.value,
        "source": source.value,
        "evidence_interaction_id": interaction_id,
        "evidence_document_id": document_id,
        "partner_reference": body.partner_reference,
        "given_at": given_at,
        "recorded_by": principal.audit_id,
        "recorded_at": moment,
    }
    await _upsert(session, account.debtor_id, account.partner_id, channel.value, values)
    consent = await session.get_one(
        ContactConsent,
        (account.debtor_id, account.partner_id, channel.value),
        populate_existing=True,
    )
    await audit.record(
        session,
        principal,
        "consent.recorded",
        "debtor",
        account.debtor_id,
        before=_audited(current) if current is not None else None,
        after={"account_id": account.id, "channel": channel.value, **_audited(consent)},
        now=moment,
    )
    return consent


async def revoke_from_interaction(
    session: AsyncSession,
    principal: Principal,
    account: Account,
    interaction: Interaction,
    channels: list[str] | None,
    now: datetime,
) -> None:
    """The debtor withdrew a channel (CHANNEL_OPT_OUT: the interaction's) or every channel
    they had authorised (CEASE_REQUEST, ``channels`` None): at once, the interaction as
    evidence."""
    if channels is None:
        channels = list(
            (
                await session.scalars(
                    select(col(ContactConsent.channel)).where(
                        col(ContactConsent.debtor_id) == account.debtor_id,
                        col(ContactConsent.partner_id) == account.partner_id,
                        col(ContactConsent.status) == ConsentStatus.GRANTED,
                    )
                )
            ).all()
        )
    for channel in channels:
        await _upsert(
            session,
            account.debtor_id,
            account.partner_id,
            channel,
            {
                "status": ConsentStatus.OPTED_OUT.value,
                "source": ConsentSource.DEBTOR_IN_INTERACTION.value,
                "evidence_interaction_id": interaction.id,
                "evidence_document_id": None,
                "partner_reference": None,
                "given_at": interaction.started_at,
                "recorded_by": principal.audit_id,
                "recorded_at": now,
            },
        )


async def record_from_portal(
    session: AsyncSession,
    actor: audit.Actor,
    account: Account,
    interaction: Interaction,
    channel: ContactChannel,
    status: ConsentStatus,
    now: datetime,
) -> ContactConsent:
    """The debtor's own word in the self-service portal (source ``portal``): a channel they
    ask to be contacted on, or one they close. The debtor is the one person whose word
    lifts their own opt-out, so a grant here stands over an earlier revocation."""
    key = (account.debtor_id, account.partner_id, channel.value)
    current = await session.get(ContactConsent, key)
    values: dict[str, Any] = {
        "status": status.value,
        "source": ConsentSource.PORTAL.value,
        "evidence_interaction_id": interaction.id,
        "evidence_document_id": None,
        "partner_reference": None,
        "given_at": interaction.started_at,
        "recorded_by": actor.audit_id,
        "recorded_at": now,
    }
    await _upsert(session, account.debtor_id, account.partner_id, channel.value, values)
    consent = await session.get_one(ContactConsent, key, populate_existing=True)
    await audit.record(
        session, actor, "consent.recorded", "debtor", account.debtor_id,
        before=_audited(current) if current is not None else None,
        after={"account_id": account.id, "channel": channel.value, **_audited(consent)},
        now=now,
    )  # fmt: skip
    return consent


async def list_consents(
    session: AsyncSession, principal: Principal, account_id: uuid.UUID
) -> list[ContactConsent]:
    account = await accounts.get_account(session, principal, account_id)
    rows = await session.scalars(
        select(ContactConsent)
        .where(
            col(ContactConsent.debtor_id) == account.debtor_id,
            col(ContactConsent.partner_id) == account.partner_id,
        )
        .order_by(col(ContactConsent.channel))
    )
    return list(rows.all())


async def _upsert(
    session: AsyncSession,
    debtor_id: uuid.UUID,
    partner_id: uuid.UUID,
    channel: str,
    values: dict[str, Any],
) -> None:
    statement = insert(ContactConsent).values(
        debtor_id=debtor_id, partner_id=partner_id, channel=channel, **values
    )
    await session.execute(statement.on_conflict_do_update(index_elements=_KEY, set_=values))


async def _interaction_evidence(
    session: AsyncSession, account: Account, interaction_id: uuid.UUID, status: ConsentStatus
) -> datetime:
    found = await session.scalar(
        select(Interaction).where(
            col(Interaction.id) == interaction_id, col(Interaction.account_id) == account.id
        )
    )
    corrected = found is not None and (
        await session.scalar(
            select(col(Interaction.id)).where(col(Interaction.amends_id) == interaction_id)
        )
        is not None
    )
    check_interaction_evidence(
        None
        if found is None
        else EvidenceInteraction(
            party=found.party,
            result_code=found.result_code,
            direction=found.direction,
            started_at=found.started_at,
            corrected=corrected,
        ),
        status,
    )
    assert found is not None
    return found.started_at


async def _document_evidence(
    session: AsyncSession, account: Account, document_id: uuid.UUID
) -> datetime:
    document = await session.scalar(
        select(AccountDocument).where(
            col(AccountDocument.id) == document_id, col(AccountDocument.account_id) == account.id
        )
    )
    if document is None:
        raise InvalidInput("document_id", N_("not a document of this account"))
    if document.kind not in EVIDENCE_DOCUMENT_KINDS:
        raise InvalidInput(
            "document_id",
            N_("a consent is proved by a signed agreement, correspondence or other signed paper"),
        )
    return document.uploaded_at


def _audited(consent: ContactConsent) -> dict[str, Any]:
    return {
        "status": consent.status,
        "source": consent.source,
        "evidence_interaction_id": consent.evidence_interaction_id,
        "evidence_document_id": consent.evidence_document_id,
        "partner_reference": consent.partner_reference,
        "given_at": consent.given_at,
    }
