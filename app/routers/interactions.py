from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.contract import LOCATION, response_headers
from app.deps import (
    ClockDep,
    ExportSessionDep,
    LanguageDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
)
from app.domain.contact_check import ContactChannel
from app.domain.interactions import verdict_for
from app.domain.money import round_money
from app.i18n import Language
from app.models.interaction import Interaction
from app.models.promise import Promise
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.routers.listing import (
    ACCOUNT_COLUMNS,
    AcceptHeader,
    CollectorFilter,
    CsvExport,
    PartnerFilter,
    TeamFilter,
    account_cells,
    list_answer,
    list_responses,
    scope_of,
)
from app.schemas.accounts import AccountLabelRead
from app.schemas.common import CalendarDate, UtcDatetime
from app.schemas.interactions import (
    ConsentRead,
    ConsentSet,
    FeedbackCreate,
    FeedbackRead,
    InteractionCreate,
    InteractionListItem,
    InteractionRead,
    PcrRead,
    PromiseListItem,
    PromiseRead,
    PromiseStatusName,
)
from app.services import consents, interactions, promises
from app.services.accounts import AccountLabel, LabelledPage
from app.services.interactions import InteractionFilters

router = APIRouter(tags=["interactions"])


def _read(
    interaction: Interaction,
    language: Language,
    promise_id: uuid.UUID | None = None,
    callback_id: uuid.UUID | None = None,
) -> InteractionRead:
    return InteractionRead(
        id=interaction.id,
        account_id=interaction.account_id,
        collector_id=interaction.collector_id,
        channel=interaction.channel,
        direction=interaction.direction,
        contact_point_id=interaction.contact_point_id,
        party=interaction.party,
        result_code=interaction.result_code,
        started_at=interaction.started_at,
        ended_at=interaction.ended_at,
        notes=interaction.notes,
        pcr=PcrRead(
            problem_category=interaction.pcr_problem_category,
            problem=interaction.pcr_problem,
            circumstance=interaction.pcr_circumstance,
            resolution=interaction.pcr_resolution,
        ),
        latitude=interaction.latitude,
        longitude=interaction.longitude,
        gps_accuracy_m=interaction.gps_accuracy_m,
        position_mismatch=interaction.position_mismatch,
        position_distance_m=interaction.position_distance_m,
        address_verification=interaction.address_verification,
        pack_version=interaction.pack_version,
        strategy_version=interaction.strategy_version,
        compliance=verdict_for(interaction.compliance, language),
        amends_id=interaction.amends_id,
        backdated_reason=interaction.backdated_reason,
        promise_id=promise_id,
        callback_id=callback_id,
        created_at=interaction.created_at,
    )


@router.put(
    "/accounts/{account_id}/consents/{channel}",
    tags=["compliance"],
    summary="Record that the debtor authorised a channel (with its evidence) or opted out",
    response_model=ConsentRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def set_channel_consent(
    session: SessionDep,
    principal: PrincipalDep,
    account_id: uuid.UUID,
    channel: ContactChannel,
    body: ConsentSet,
    now: ClockDep,
) -> ConsentRead:
    """Consent is the debtor's, given to this account's creditor, over all their accounts
    with it. In Colombia only authorised channels may be used (Ley 2300 de 2023, art. 2);
    everywhere an opt-out closes the channel at once.

    A consent names its evidence, or is refused 422 naming the missing field: collectors
    record it only from a right-party interaction of the account in which the debtor gave
    it (`interaction_id`); team leads and managers also from a document of the account
    (`document_id`); partner systems from their own record (`partner_reference`, source
    `partner_file`). A revocation needs no evidence beyond who recorded it. Only a team lead,
    manager or the partner's record lifts an opt-out, and never with evidence older than it."""
    consent = await consents.record_consent(session, principal, account_id, channel, body, now=now)
    return ConsentRead.model_validate(consent)


@router.get(
    "/accounts/{account_id}/consents",
    tags=["compliance"],
    summary="List the debtor's channel consents and opt-outs",
    response_model=list[ConsentRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_channel_consents(
    session: SessionDep, principal: PrincipalDep, account_id: uuid.UUID
) -> list[ConsentRead]:
    rows = await consents.list_consents(session, principal, account_id)
    return [ConsentRead.model_validate(c) for c in rows]


@router.post(
    "/accounts/{account_id}/interactions",
    summary="Record a gestión (contact attempt or contact) with its PCR",
    status_code=status.HTTP_201_CREATED,
    response_model=InteractionRead,
    responses=problem_responses(401, 403, 404, 422) | response_headers(201, headers=(LOCATION,)),
)
async def record_interaction(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    account_id: uuid.UUID,
    body: InteractionCreate,
    response: Response,
    now: ClockDep,
    language: LanguageDep,
) -> InteractionRead:
    """A contact that happened is always recorded, truthfully: it is checked again against
    the contact law and the strategy at its own time and stored with that verdict
    (`compliance`); one that broke the law also opens a compliance incident
    (`compliance.incident_id`, GET /compliance/incidents). Contacts are prevented by the
    contact check and the work queue, not here.

    Outbound contacts are stamped by the server's clock: a collector enters one as it ends
    (its end within 5 minutes, its start within 2 hours), or gets 422 on `started_at`; later,
    a team lead, manager or admin enters it with `backdated_reason`, and it is judged at the
    stated `started_at`. Collectors record the channels their skills cover (phone: call,
    SMS, email, WhatsApp, letter; field: visit and call), or get 403 `skill_required`.

    Interactions never change; a correction is a new one with `amends_id`. Some results act
    at once: CEASE_REQUEST, RPC_DISPUTE, ATTORNEY and DECEASED flag the debtor,
    CHANNEL_OPT_OUT revokes the channel (CEASE_REQUEST every authorised channel),
    WRONG_NUMBER and DISCONNECTED count against the number, RPC_PTP carries its promise,
    RPC_CALLBACK its callback (422 `callback_required` without it, `callback_in_past` for a
    time already past): the debtor's local time, read in the zone the contact law places
    them in; the account heads its collector's work queue from then, or from the law's next
    allowed moment. Any interaction on the account once a callback is due does it.

    Inbound contacts (the debtor calling in) are recorded with their verdict `inbound` and
    are not judged by the hours and caps that bind the contacts the agency makes; they still
    count where the law counts conversations whoever called."""
    recorded = await interactions.record_interaction(
        session, settings, principal, account_id, body, now=now
    )
    response.headers["Location"] = f"/api/v1/interactions/{recorded.interaction.id}"
    return _read(
        recorded.interaction,
        language,
        recorded.promise.id if recorded.promise else None,
        recorded.callback.id if recorded.callback else None,
    )


@router.get(
    "/accounts/{account_id}/interactions",
    summary="List an account's interactions",
    response_model=Page[InteractionRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_interactions(
    session: SessionDep,
    principal: PrincipalDep,
    account_id: uuid.UUID,
    language: LanguageDep,
    channel: Annotated[ContactChannel | None, Query()] = None,
    result_code: Annotated[str | None, Query(max_length=24, pattern=r"^[A-Z_]+$")] = None,
    since: Annotated[UtcDatetime | None, Query()] = None,
    until: Annotated[UtcDatetime | None, Query()] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[InteractionRead]:
    """Newest first."""
    rows, next_cursor = await interactions.list_interactions(
        session,
        principal,
        account_id,
        InteractionFilters(
            channel=channel.value if channel else None,
            result_code=result_code,
            since=since,
            until=until,
        ),
        limit=limit,
        cursor=cursor,
    )
    return Page(items=[_read(r, language) for r in rows], next_cursor=next_cursor)


INTERACTION_CSV_COLUMNS = (
    "interaction_id",
    *ACCOUNT_COLUMNS,
    "recorded_by",
    "channel",
    "direction",
    "party",
    "result_code",
    "started_at",
    "ended_at",
    "problem_category",
    "problem",
    "circumstance",
    "resolution",
    "allowed",
)


def _interaction_item(
    language: Language,
) -> Callable[[Interaction, AccountLabel], InteractionListItem]:
    def item(interaction: Interaction, label: AccountLabel) -> InteractionListItem:
        return InteractionListItem(
            **dict(_read(interaction, language)), account=AccountLabelRead.model_validate(label)
        )

    return item


def _interaction_cells(interaction: Interaction, label: AccountLabel) -> list[object]:
    return [
        interaction.id,
        *account_cells(label),
        interaction.collector_id or "",
        interaction.channel,
        interaction.direction,
        interaction.party,
        interaction.result_code,
        interaction.started_at.isoformat(),
        interaction.ended_at.isoformat() if interaction.ended_at else "",
        interaction.pcr_problem_category or "",
        interaction.pcr_problem or "",
        interaction.pcr_circumstance or "",
        interaction.pcr_resolution or "",
        interaction.compliance.get("allowed", ""),
    ]


INTERACTION_CSV = CsvExport(
    "interactions", INTERACTION_CSV_COLUMNS, _interaction_cells, lambda i: i.account_id
)


@router.get(
    "/interactions",
    summary="List interactions across accounts (a collector's day)",
    response_model=Page[InteractionListItem],
    responses=list_responses(),
)
async def search_interactions(
    session: ExportSessionDep,
    principal: PrincipalDep,
    request: Request,
    language: LanguageDep,
    collector_id: Annotated[
        uuid.UUID | None, Query(description="Only those this collector recorded.")
    ] = None,
    from_: Annotated[
        UtcDatetime | None,
        Query(alias="from", description="Started at or after this instant."),
    ] = None,
    to: Annotated[UtcDatetime | None, Query(description="Started before this instant.")] = None,
    channel: Annotated[ContactChannel | None, Query()] = None,
    result: Annotated[
        str | None,
        Query(max_length=24, pattern=r"^[A-Z_]+$", description="Only this result code."),
    ] = None,
    partner_id: PartnerFilter = None,
    team_id: TeamFilter = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    accept: AcceptHeader = None,
) -> Page[InteractionListItem] | StreamingResponse:
    """Newest first, on the accounts the caller may see, each with its account's reference,
    debtor and collector: a team lead reviews a collector's day with `collector_id`, `from`
    and `to`. `Accept: text/csv` exports every match, one line per interaction, with the
    PCR note."""
    scope = scope_of(partner_id, None, team_id)

    async def read(s: AsyncSession, after: str | None, size: int) -> LabelledPage[Interaction]:
        return await interactions.search_interactions(
            s,
            principal,
            scope,
            InteractionFilters(
                channel=channel.value if channel else None,
                result_code=result,
                since=from_,
                until=to,
            ),
            recorded_by=collector_id,
            limit=size,
            cursor=after,
        )

    return await list_answer(
        request,
        session,
        read,
        accept=accept,
        limit=limit,
        cursor=cursor,
        item=_interaction_item(language),
        export=INTERACTION_CSV,
    )


@router.get(
    "/interactions/{interaction_id}",
    summary="Read an interaction",
    response_model=InteractionRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def read_interaction(
    session: SessionDep, principal: PrincipalDep, interaction_id: uuid.UUID, language: LanguageDep
) -> InteractionRead:
    return _read(await interactions.get_interaction(session, principal, interaction_id), language)


@router.post(
    "/interactions/{interaction_id}/feedback",
    summary="Leave a coaching note on an interaction",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedbackRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def add_interaction_feedback(
    session: SessionDep, principal: PrincipalDep, interaction_id: uuid.UUID, body: FeedbackCreate
) -> FeedbackRead:
    """A team lead coaches the collectors of the teams they lead; managers anyone."""
    feedback = await interactions.add_feedback(session, principal, interaction_id, body.note)
    return FeedbackRead.model_validate(feedback)


@router.get(
    "/interactions/{interaction_id}/feedback",
    summary="Read the coaching notes on an interaction",
    response_model=list[FeedbackRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_interaction_feedback(
    session: SessionDep, principal: PrincipalDep, interaction_id: uuid.UUID
) -> list[FeedbackRead]:
    """The collector reads the feedback on their own interactions."""
    rows = await interactions.list_feedback(session, principal, interaction_id)
    return [FeedbackRead.model_validate(f) for f in rows]


PROMISE_CSV_COLUMNS = (
    "promise_id",
    *ACCOUNT_COLUMNS,
    "status",
    "currency",
    "amount",
    "paid_amount",
    "due_date",
    "resolved_on",
    "created_at",
)


def promise_item(promise: Promise, label: AccountLabel) -> PromiseListItem:
    return PromiseListItem(
        **dict(PromiseRead.model_validate(promise)), account=AccountLabelRead.model_validate(label)
    )


def _promise_cells(promise: Promise, label: AccountLabel) -> list[object]:
    return [
        promise.id,
        *account_cells(label),
        promise.status,
        promise.currency,
        round_money(promise.amount, promise.currency),
        round_money(promise.paid_amount, promise.currency),
        promise.due_date,
        promise.resolved_on or "",
        promise.created_at.isoformat(),
    ]


PROMISE_CSV = CsvExport("promises", PROMISE_CSV_COLUMNS, _promise_cells, lambda p: p.account_id)


@router.get(
    "/promises",
    tags=["promises"],
    summary="List promises to pay across accounts",
    response_model=Page[PromiseListItem],
    responses=list_responses(),
)
async def search_promises(
    session: ExportSessionDep,
    principal: PrincipalDep,
    request: Request,
    status_filter: Annotated[PromiseStatusName | None, Query(alias="status")] = None,
    due_from: Annotated[CalendarDate | None, Query(description="Due on or after this day.")] = None,
    due_to: Annotated[CalendarDate | None, Query(description="Due on or before this day.")] = None,
    partner_id: PartnerFilter = None,
    collector_id: CollectorFilter = None,
    team_id: TeamFilter = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    accept: AcceptHeader = None,
) -> Page[PromiseListItem] | StreamingResponse:
    """Soonest due first, on the accounts the caller may see, each with its account's
    reference, debtor and collector: today's follow-ups are `status=pending` with
    `due_from` and `due_to` today. `Accept: text/csv` exports every match."""
    scope = scope_of(partner_id, collector_id, team_id)

    async def read(s: AsyncSession, after: str | None, size: int) -> LabelledPage[Promise]:
        return await promises.search_promises(
            s,
            principal,
            scope,
            status=status_filter,
            due_from=due_from,
            due_to=due_to,
            limit=size,
            cursor=after,
        )

    return await list_answer(
        request,
        session,
        read,
        accept=accept,
        limit=limit,
        cursor=cursor,
        item=promise_item,
        export=PROMISE_CSV,
    )


@router.get(
    "/accounts/{account_id}/promises",
    tags=["promises"],
    summary="List an account's promises to pay",
    response_model=list[PromiseRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_account_promises(
    session: SessionDep, principal: PrincipalDep, account_id: uuid.UUID
) -> list[PromiseRead]:
    """Latest due date first (at most 200)."""
    rows = await promises.list_promises(session, principal, account_id)
    return [PromiseRead.model_validate(p) for p in rows]
