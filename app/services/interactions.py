"""Recording gestiones: re-check the contact law at the interaction's time, store it (never
changed afterwards) with that verdict, open a compliance incident when it broke the law,
apply what its result means (flags, consents, invalid numbers, the promise, an escalation),
and audit it; list them; coaching feedback from team leads.

A contact that already happened is always recorded, truthfully: the contact check and the
work queue are where contacts are prevented (app/domain/interactions.py says why)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app import locks
from app.config import Settings
from app.domain.callbacks import check_callback
from app.domain.contact_check import RIGHT_PARTY_CODES, ContactChannel, Party
from app.domain.contact_check_packs import pack_for
from app.domain.contactability import VerificationStatus, verifies
from app.domain.errors import InteractionAlreadyCorrected, InvalidInput, NotFound, PermissionDenied
from app.domain.field_routes import Point, check_position
from app.domain.interactions import (
    CEASE_RESULT,
    FLAG_FOR_RESULT,
    INVALIDATING_RESULTS,
    OPT_OUT_RESULT,
    PORTAL_CHANNEL,
    PROMISE_RESULT,
    Direction,
    InteractionDraft,
    PartyReached,
    Pcr,
    PromiseStatus,
    check_interaction,
    check_skill,
    check_stamp,
    law_breaches,
    pcr_of,
    reason_record,
)
from app.domain.money import fits_minor_unit, too_many_decimals
from app.domain.roles import Role
from app.domain.stages import Stage
from app.domain.strategies import escalation_rule
from app.domain.webhooks import EventKind, InteractionRecorded
from app.i18n import N_
from app.models.account import Account
from app.models.callback import Callback
from app.models.debtor import ContactPoint
from app.models.interaction import Interaction, InteractionFeedback
from app.models.partner import Partner
from app.models.promise import Promise
from app.models.user import Team, TeamMember
from app.pagination import decode_moment_cursor, split_moment_page
from app.schemas.interactions import InteractionCreate
from app.security import Principal
from app.services import (
    accounts,
    audit,
    callbacks,
    compliance_incidents,
    consents,
    escalations,
    experiments,
    inbound,
    promises,
    webhooks,
    worklists,
)
from app.services.contact_check import contact_context
from app.services.flags import new_flag

RECORDERS = frozenset({Role.COLLECTOR, Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Recorded:
    interaction: Interaction
    promise: Promise | None
    callback: Callback | None = None


async def record_interaction(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    account_id: uuid.UUID,
    body: InteractionCreate,
    *,
    now: datetime | None = None,
) -> Recorded:
    if principal.role not in RECORDERS:
        raise PermissionDenied({"role": principal.role.value})
    moment = now or datetime.now(UTC)
    channel = ContactChannel(body.channel)
    party = PartyReached(body.party)
    check_skill(principal.role, principal.skills, channel)
    account = await _account_to_record(session, principal, account_id, body, moment)
    partner = await session.get_one(Partner, account.partner_id)
    if body.promise is not None and not fits_minor_unit(body.promise.amount, account.currency):
        raise InvalidInput("promise.amount", too_many_decimals(account.currency))
    outbound = body.direction == Direction.OUTBOUND.value
    pcr = Pcr(
        body.pcr.problem_category if body.pcr else None,
        body.pcr.problem if body.pcr else None,
        body.pcr.circumstance if body.pcr else None,
        body.pcr.resolution if body.pcr else None,
    )
    if body.result_code in RIGHT_PARTY_CODES:
        pcr = pcr_of(pcr, partner.country)  # in Colombia the problem is not asked
    check_interaction(
        InteractionDraft(
            channel=channel,
            direction=Direction(body.direction),
            party=party,
            result_code=body.result_code,
            started_at=body.started_at,
            ended_at=body.ended_at,
            pcr=pcr,
            has_position=body.position is not None,
            promise_amount=body.promise.amount if body.promise else None,
            promise_due=body.promise.due_date if body.promise else None,
            account_total=account.total,
            local_date=body.started_at.astimezone(ZoneInfo(partner.time_zone)).date(),
            country=partner.country,
            names_contact_point=body.contact_point_id is not None,
        ),
        moment,
    )
    check_callback(body.result_code, body.callback is not None)
    # One debtor's contacts are recorded one at a time: two collectors cannot both take the
    # last contact a cap allows.
    await locks.hold(session, locks.LockClass.DEBTOR_CONTACT, str(account.debtor_id))
    original: Interaction | None = None
    if body.amends_id is not None:
        original = await _check_amended(session, account, body.amends_id)
    # Outbound contacts are stamped by the server's clock; after the fact, a lead says why.
    check_stamp(
        role=principal.role,
        outbound=outbound,
        started_at=body.started_at,
        ended_at=body.ended_at,
        backdated_reason=body.backdated_reason,
        now=moment,
        restates=original.started_at if original is not None else None,
    )
    if original is None and outbound:
        await _check_in_order(session, account, body.started_at)
    context = await contact_context(
        session,
        settings,
        principal,
        account.id,
        channel=channel,
        party=Party(party.value) if party is not PartyReached.NONE else None,
        contact_point_id=body.contact_point_id,
        at=body.started_at,
        replacing=original.id if original is not None else None,
        account=account,
    )
    # The callback's time, read on the debtor's clock; refused before anything is written.
    agreed = None
    if body.callback is not None:
        agreed = await callbacks.agreed_moment(
            session, account, partner, context.contact_point, body.callback, moment
        )
    # The law is checked again at the interaction's own time (a back-dated one at its stated
    # instant) and the answer is stored with it, whatever it is; the debtor calling in is
    # not a contact the agency made.
    breaches: list[dict[str, Any]] = []
    if outbound:
        decision = context.decide()
        reasons = [reason_record(r, context.pack.sources) for r in decision.reasons]
        breaches = law_breaches(reasons)
        verdict: dict[str, Any] = {
            "allowed": decision.allowed,
            "reasons": reasons,
            "time_zone": decision.time_zone or context.request.time_zone,
        }
        pack_version = decision.pack_version
    else:
        verdict = {"allowed": True, "reasons": [], "inbound": True}
        pack_version = context.pack.version
    # A visit's GPS fix against the address's coordinates: too far is recorded, flagged.
    address = context.contact_point
    position = None
    if (
        channel is ContactChannel.VISIT
        and body.position is not None
        and address is not None
        and address.latitude is not None
        and address.longitude is not None
    ):
        position = check_position(
            Point(float(address.latitude), float(address.longitude)),
            Point(float(body.position.latitude), float(body.position.longitude)),
            body.position.accuracy_m,
        )
        verdict["position_mismatch"] = position.mismatch
        verdict["position"] = {
            "distance_m": position.distance_m,
            "tolerance_m": position.tolerance_m,
        }
    interaction = Interaction(
        account_id=account.id,
        partner_id=account.partner_id,
        debtor_id=account.debtor_id,
        collector_id=principal.user_id,
        channel=channel.value,
        direction=body.direction,
        contact_point_id=body.contact_point_id,
        party=party.value,
        related_party_id=context.related_party.id if context.related_party else None,
        result_code=body.result_code,
        started_at=body.started_at,
        ended_at=body.ended_at,
        notes=body.notes,
        pcr_problem_category=pcr.problem_category,
        pcr_problem=pcr.problem,
        pcr_circumstance=pcr.circumstance,
        pcr_resolution=pcr.resolution,
        latitude=body.position.latitude if body.position else None,
        longitude=body.position.longitude if body.position else None,
        gps_accuracy_m=body.position.accuracy_m if body.position else None,
        address_verification=body.result_code if channel is ContactChannel.VISIT else None,
        position_distance_m=position.distance_m if position is not None else None,
        position_mismatch=position.mismatch if position is not None else None,
        pack_version=pack_version,
        strategy_version=context.strategy_version,
        experiment_arm_id=context.experiment_arm_id,
        compliance=verdict,
        amends_id=body.amends_id,
        backdated_reason=body.backdated_reason,
        created_by=principal.audit_id,
        created_at=moment,
    )
    session.add(interaction)
    await session.flush()
    incident = None
    if breaches:
        # It broke the law: recorded as it happened, and a case for the lead or manager.
        incident = await compliance_incidents.open_incident(
            session, principal, account, interaction, breaches, moment
        )
        interaction.compliance = {**verdict, "incident_id": str(incident.id)}
        session.add(interaction)
        await session.flush()
    if original is not None:
        # The correction replaces the original: its promise, if still open, goes with it.
        await session.execute(
            update(Promise)
            .where(
                col(Promise.interaction_id) == original.id,
                col(Promise.status) == PromiseStatus.PENDING,
            )
            .values(status=PromiseStatus.CANCELLED, resolved_on=moment.date(), updated_at=moment)
        )
        await callbacks.cancel_agreed_in(session, original.id, moment)
    await _apply_result(session, settings, principal, account, interaction, moment)
    # A callback due by the time this contact started is done; a RPC_CALLBACK schedules one.
    await callbacks.settle(session, account.id, interaction, moment)
    callback = None
    if agreed is not None:
        callback = await callbacks.schedule(
            session, settings, principal, account, interaction, agreed, moment
        )
    promise = None
    version, document = context.strategy_version, context.strategy
    stage = Stage(account.stage)
    # The partner hears of the contact before the promise given in it.
    await _emit_recorded(session, account, interaction)
    if body.result_code == PROMISE_RESULT and body.promise is not None:
        promise = await promises.take_promise(
            session, principal, account, interaction, body.promise.amount,
            body.promise.due_date, document, version,
            experiment_arm_id=context.experiment_arm_id,
        )  # fmt: skip
    rule = escalation_rule(document, stage)
    if body.result_code in rule.refusal_codes:
        await escalations.open_escalation(
            session,
            account,
            source="trigger",
            reason=f"result {body.result_code} on interaction {interaction.id}",
            trigger=f"refusal:{body.result_code}",
            opened_by="system:strategy",
            strategy_version=version,
        )
    await audit.record(
        session,
        principal,
        "interaction.recorded",
        "interaction",
        interaction.id,
        after={
            "account_id": account.id,
            "channel": channel.value,
            "result_code": body.result_code,
            "started_at": body.started_at,
            "backdated_reason": body.backdated_reason,
            "promise_id": promise.id if promise else None,
            "incident_id": incident.id if incident else None,
            "callback_id": callback.id if callback else None,
            "callback_due_at": callback.due_at if callback else None,
        },
        now=moment,
    )
    # The collector is done with the account for now: its work-queue claim is released.
    await worklists.release_claim(session, account.id, principal.user_id)
    return Recorded(interaction, promise, callback)


async def record_portal_contact(
    session: AsyncSession,
    actor: audit.Actor,
    account: Account,
    *,
    result_code: str,
    resolution: str,
    now: datetime,
) -> Interaction:
    """What the debtor did in the self-service portal, as the contact it is: inbound (the
    debtor came to us), with the debtor themself (they proved who they are), on the
    ``portal`` channel. Like a call the debtor makes, it is not judged by the hours and caps
    that bind the contacts the agency makes (its verdict says ``inbound``), and the contact
    history the law's frequency rules count is the agency's calls, messages and visits,
    which a portal visit is not (app/services/contact_check.py). Audited by the caller with the
    action it records."""
    partner = await session.get_one(Partner, account.partner_id)
    # Stamped like a call's: the champion's version and the arm the account is in, so the
    # experiment's report counts the debtor's own contacts for that arm.
    effective = await experiments.strategy_for_account(session, account)
    interaction = Interaction(
        account_id=account.id,
        partner_id=account.partner_id,
        debtor_id=account.debtor_id,
        collector_id=None,
        channel=PORTAL_CHANNEL,
        direction=Direction.INBOUND.value,
        party=PartyReached.DEBTOR.value,
        result_code=result_code,
        started_at=now,
        ended_at=now,
        pcr_resolution=resolution,
        pack_version=pack_for(partner.country).version,
        strategy_version=effective.version,
        experiment_arm_id=effective.arm_id,
        compliance={"allowed": True, "reasons": [], "inbound": True, "portal": True},
        created_by=actor.audit_id,
        created_at=now,
    )
    session.add(interaction)
    await session.flush()
    await _emit_recorded(session, account, interaction)
    return interaction


async def _emit_recorded(session: AsyncSession, account: Account, interaction: Interaction) -> None:
    """``interaction.recorded`` to the partner, in the recording's transaction (staff's
    contacts and the debtor's own in the portal alike)."""
    await webhooks.emit(
        session,
        EventKind.INTERACTION_RECORDED,
        account.partner_id,
        InteractionRecorded(
            interaction_id=str(interaction.id),
            account_id=str(account.id),
            external_ref=account.external_ref,
            channel=interaction.channel,
            party=interaction.party,
            result_code=interaction.result_code,
            occurred_at=interaction.started_at.isoformat(),
        ),
    )


async def _account_to_record(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    body: InteractionCreate,
    now: datetime,
) -> Account:
    """An account the caller works; or, for the inbound desk answering a debtor's call, one
    its own look-up of the number showed it (app/services/inbound.py)."""
    try:
        return await accounts.get_account(session, principal, account_id)
    except NotFound:
        if body.direction != Direction.INBOUND.value:
            raise
        return await inbound.desk_account(session, principal, account_id, now)


async def _check_amended(
    session: AsyncSession, account: Account, amends_id: uuid.UUID
) -> Interaction:
    original = await session.scalar(
        select(Interaction).where(
            col(Interaction.id) == amends_id, col(Interaction.account_id) == account.id
        )
    )
    if original is None:
        raise InvalidInput("amends_id", N_("not an interaction of this account"))
    corrected = await session.scalar(
        select(col(Interaction.id)).where(col(Interaction.amends_id) == amends_id)
    )
    if corrected is not None:
        raise InteractionAlreadyCorrected(interaction_id=corrected)
    return original


async def _check_in_order(session: AsyncSession, account: Account, started_at: datetime) -> None:
    """A debtor's outbound contacts are recorded in the order they happened: the rules count
    forward in time, and a contact slipped in before others could break a cap after the fact.
    A late entry out of order goes in as a correction, with ``amends_id``."""
    latest = await session.scalar(
        select(func.max(col(Interaction.started_at))).where(
            col(Interaction.debtor_id) == account.debtor_id,
            col(Interaction.direction) == "outbound",
        )
    )
    if latest is not None and started_at < latest:
        raise InvalidInput(
            "started_at",
            N_(
                "the debtor's last recorded contact was at {latest}; contacts are recorded in "
                "the order they happened"
            ),
            {"latest": latest.isoformat()},
        )


async def _apply_result(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    account: Account,
    interaction: Interaction,
    now: datetime,
) -> None:
    code = interaction.result_code
    if code in FLAG_FOR_RESULT:
        kind = FLAG_FOR_RESULT[code]
        # Raised through this account: its kind says which accounts it reaches.
        session.add(
            new_flag(
                account,
                kind,
                source_interaction_id=interaction.id,
                set_by=principal.audit_id,
                set_at=now,
            )
        )
    # The debtor's withdrawal takes effect at once: the channel used (CHANNEL_OPT_OUT), or
    # every channel they had authorised to this creditor (CEASE_REQUEST, besides its flag).
    if code == OPT_OUT_RESULT:
        await consents.revoke_from_interaction(
            session, principal, account, interaction, [interaction.channel], now
        )
    elif code == CEASE_RESULT:
        await consents.revoke_from_interaction(session, principal, account, interaction, None, now)
    if code in INVALIDATING_RESULTS and interaction.contact_point_id is not None:
        retired = col(ContactPoint.failed_attempts) + 1 >= settings.invalid_contact_after
        await session.execute(
            update(ContactPoint)
            .where(col(ContactPoint.id) == interaction.contact_point_id)
            .values(
                failed_attempts=col(ContactPoint.failed_attempts) + 1,
                is_valid=~retired,
                verification_status=case(
                    (retired, VerificationStatus.INVALID.value),
                    else_=col(ContactPoint.verification_status),
                ),
            )
        )
    # A contact that proves whose the point is (the debtor reached on it, the address
    # verified, a reference reached on their own phone) verifies it, and the wrong-number
    # count starts again.
    if interaction.contact_point_id is not None:
        owner = "debtor" if interaction.related_party_id is None else interaction.party
        if verifies(code, interaction.party, owner):
            await session.execute(
                update(ContactPoint)
                .where(col(ContactPoint.id) == interaction.contact_point_id)
                .values(
                    verification_status=VerificationStatus.VERIFIED.value,
                    is_valid=True,
                    failed_attempts=0,
                    verified_at=func.greatest(
                        col(ContactPoint.verified_at), interaction.started_at
                    ),
                )
            )
    await session.flush()


# ---------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True, slots=True)
class InteractionFilters:
    """What an interaction list may be narrowed by; ``until`` is excluded."""

    channel: str | None = None
    result_code: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_interactions(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    filters: InteractionFilters,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[Interaction], str | None]:
    """Newest first; a collector sees those of the accounts they may see."""
    account = await accounts.get_account(session, principal, account_id)
    query = select(Interaction).where(col(Interaction.account_id) == account.id)
    return await _newest_first(session, query, filters, limit=limit, cursor=cursor)


async def search_interactions(
    session: AsyncSession,
    principal: Principal,
    scope: accounts.AccountScope,
    filters: InteractionFilters,
    *,
    recorded_by: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> accounts.LabelledPage[Interaction]:
    """Interactions across the accounts the caller may see, newest first: a lead reviews a
    collector's day with ``recorded_by`` and a time window."""
    query = select(Interaction).where(
        col(Interaction.account_id).in_(accounts.scoped_account_ids(principal, scope))
    )
    if recorded_by is not None:
        query = query.where(col(Interaction.collector_id) == recorded_by)
    rows, next_cursor = await _newest_first(session, query, filters, limit=limit, cursor=cursor)
    return await accounts.labelled_page(session, rows, next_cursor, lambda i: i.account_id)


async def _newest_first(
    session: AsyncSession,
    query: SelectOfScalar[Interaction],
    filters: InteractionFilters,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[Interaction], str | None]:
    if filters.channel is not None:
        query = query.where(col(Interaction.channel) == filters.channel)
    if filters.result_code is not None:
        query = query.where(col(Interaction.result_code) == filters.result_code)
    if filters.since is not None:
        query = query.where(col(Interaction.started_at) >= filters.since)
    if filters.until is not None:
        query = query.where(col(Interaction.started_at) < filters.until)
    after = decode_moment_cursor(cursor)
    if after is not None:
        query = query.where(
            tuple_(col(Interaction.started_at), col(Interaction.id)) < tuple_(*after)
        )
    rows = (
        await session.scalars(
            query.order_by(col(Interaction.started_at).desc(), col(Interaction.id).desc()).limit(
                limit + 1
            )
        )
    ).all()
    return split_moment_page(rows, limit, key=lambda r: (r.started_at, r.id))


async def get_interaction(
    session: AsyncSession, principal: Principal, interaction_id: uuid.UUID
) -> Interaction:
    found = await session.scalar(
        select(Interaction).where(
            col(Interaction.id) == interaction_id,
            col(Interaction.account_id).in_(
                accounts.readable_accounts(principal).with_only_columns(col(Account.id))
            ),
        )
    )
    if found is None:
        raise NotFound({"entity": "interaction"})
    return found


# ---------------------------------------------------------------------------------------
# Coaching feedback


async def add_feedback(
    session: AsyncSession,
    principal: Principal,
    interaction_id: uuid.UUID,
    note: str,
    *,
    now: datetime | None = None,
) -> InteractionFeedback:
    """A team lead coaches the collectors of the teams they lead; a manager anyone's."""
    if principal.role not in (Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN):
        raise PermissionDenied({"role": principal.role.value})
    interaction = await get_interaction(session, principal, interaction_id)
    if principal.role is Role.TEAM_LEAD:
        leads = await session.scalar(
            select(col(TeamMember.user_id))
            .join(Team, col(Team.id) == col(TeamMember.team_id))
            .where(
                col(Team.lead_id) == principal.user_id,
                col(TeamMember.user_id) == interaction.collector_id,
            )
        )
        if leads is None:
            raise PermissionDenied({"role": principal.role.value})
    assert principal.user_id is not None
    feedback = InteractionFeedback(
        interaction_id=interaction.id,
        author_id=principal.user_id,
        note=note,
        created_at=now or datetime.now(UTC),
    )
    session.add(feedback)
    await session.flush()
    await audit.record(
        session,
        principal,
        "interaction.feedback",
        "interaction",
        interaction.id,
        after={"feedback_id": feedback.id},
        now=feedback.created_at,
    )
    return feedback


async def list_feedback(
    session: AsyncSession, principal: Principal, interaction_id: uuid.UUID
) -> list[InteractionFeedback]:
    """The collector who recorded it, their leads and managers read it."""
    if principal.role is Role.PARTNER:
        raise PermissionDenied({"role": principal.role.value})  # coaching is internal
    interaction = await get_interaction(session, principal, interaction_id)
    if principal.role is Role.COLLECTOR and interaction.collector_id != principal.user_id:
        raise NotFound({"entity": "interaction"})
    rows = await session.scalars(
        select(InteractionFeedback)
        .where(col(InteractionFeedback.interaction_id) == interaction.id)
        .order_by(col(InteractionFeedback.created_at))
        .limit(200)
    )
    return list(rows.all())
