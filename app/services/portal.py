"""The debtor's self-service portal: links staff or the partner send, the debtor's proof of
who they are, and what they do there (see the debt, accept an offer and download its
agreement, promise a payment, read how to pay, say how to be contacted).

Rules in app/domain/portal.py. Every use case here works on the one account the session is
bound to (:class:`PortalSession`): nothing takes another account's id, and a plan id is
looked up within that account only, so another account or creditor can never show.

Each portal action is, for the record, the debtor contacting us: an inbound interaction on
the ``portal`` channel with the debtor (app/services/interactions.py,
:func:`record_portal_contact`), and an audit event by ``portal:<link id>`` with the role
``debtor``. Those audit events are also what the rate limit counts, over every API process
(:func:`app.services.kyc.take_search_slot`, the shared KYC search limit's mechanism).
Payment plans, agreements, promises and consents go through their own services.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import holidays
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.config import Settings
from app.domain.accounts import AccountStatus
from app.domain.consents import ConsentStatus
from app.domain.contact_check import ContactChannel
from app.domain.errors import (
    AccountNotActive,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    OpenPlanExists,
    PermissionDenied,
)
from app.domain.interactions import PROMISE_RESULT, PromiseStatus, check_promise
from app.domain.money import fits_minor_unit, round_money, too_many_decimals
from app.domain.payments import payment_reference
from app.domain.plans import AccountFacts, PlanStatus
from app.domain.portal import (
    MAX_FAILED_TRIES,
    LinkState,
    Offer,
    PortalActor,
    PortalLinkLocked,
    PortalOfferNotAllowed,
    PortalSessionInvalid,
    PortalVerificationFailed,
    SecondFactor,
    check_factor_shape,
    check_link,
    chosen_offer,
    factor_matches,
    link_id_of,
    make_token,
    may_issue,
    offers,
    remaining_tries,
    session_ended,
)
from app.domain.roles import Role
from app.domain.stages import Stage
from app.i18n import N_
from app.ids import new_id
from app.models.account import Account
from app.models.debtor import Debtor
from app.models.interaction import Interaction
from app.models.partner import Partner
from app.models.plan import PaymentPlan
from app.models.portal import PortalLink
from app.models.promise import Promise
from app.schemas.plans import PlanQuoteRequest
from app.security import IssuedToken, Principal, decode_portal_token, issue_portal_token
from app.services import (
    accounts,
    agreements,
    audit,
    consents,
    experiments,
    interactions,
    payment_rails,
    plans,
    promises,
)
from app.services.kyc import take_search_slot
from app.services.partners import partner_today

# What the debtor does in the portal, as audited: the rate limit counts these.
DEBT_VIEWED = "portal.debt_viewed"
OFFERS_VIEWED = "portal.offers_viewed"
OFFER_ACCEPTED = "portal.offer_accepted"
AGREEMENT_DOWNLOADED = "portal.agreement_downloaded"
PROMISE_MADE = "portal.promise_made"
INSTRUCTIONS_VIEWED = "portal.instructions_viewed"
CONTACT_PREFERENCE = "portal.contact_preference"
SESSION_OPENED = "portal.session_opened"
SESSION_ENDED = "portal.session_ended"
VERIFICATION_FAILED = "portal.verification_failed"
LINK_LOCKED = "portal.link_locked"
LINK_ISSUED = "portal.link_issued"
ACTIONS = (
    DEBT_VIEWED,
    OFFERS_VIEWED,
    OFFER_ACCEPTED,
    AGREEMENT_DOWNLOADED,
    PROMISE_MADE,
    INSTRUCTIONS_VIEWED,
    CONTACT_PREFERENCE,
)
# Channels a debtor may ask to be contacted on (letters and visits are the agency's call).
PREFERRED_CHANNELS = (
    ContactChannel.CALL,
    ContactChannel.SMS,
    ContactChannel.EMAIL,
    ContactChannel.WHATSAPP,
)


def link_key(settings: Settings) -> bytes:
    """The key links are signed with, derived from (never equal to) the blind-index key."""
    secret = settings.blind_index_key.get_secret_value().encode()
    return hashlib.sha256(b"cartera-portal-link\x00" + secret).digest()


# --- links --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedLink:
    link_id: uuid.UUID
    account_id: uuid.UUID
    url: str
    token: str
    expires_at: datetime


async def issue_link(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    account_id: uuid.UUID,
    *,
    base_url: str,
    now: datetime | None = None,
) -> IssuedLink:
    """A new link to the portal for an account the caller may work (404 otherwise); the
    account's earlier links stop opening. The token is in this answer only."""
    if not may_issue(principal.role):
        raise PermissionDenied({"role": principal.role.value})
    account = await accounts.get_account(session, principal, account_id)
    if account.status != AccountStatus.ACTIVE:
        raise AccountNotActive(account.status)
    moment = now or datetime.now(UTC)
    await session.execute(
        update(PortalLink)
        .where(col(PortalLink.account_id) == account.id, col(PortalLink.revoked_at).is_(None))
        .values(revoked_at=moment)
    )
    link_id = new_id()
    token = make_token(link_key(settings), link_id, secrets.token_urlsafe(32))
    link = PortalLink(
        id=link_id,
        account_id=account.id,
        partner_id=account.partner_id,
        token_sha256=hashlib.sha256(token.encode()).hexdigest(),
        issued_by=principal.audit_id,
        issued_at=moment,
        expires_at=moment + timedelta(days=settings.portal_link_days),
    )
    session.add(link)
    await session.flush()
    await audit.record(
        session, principal, LINK_ISSUED, "portal_link", link.id,
        after={"account_id": account.id, "expires_at": link.expires_at},
        now=moment,
    )  # fmt: skip
    base = (settings.portal_base_url or base_url).rstrip("/")
    return IssuedLink(link.id, account.id, f"{base}/portal/start?t={token}", token, link.expires_at)


# --- sessions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortalSession:
    actor: PortalActor
    account: Account


async def open_session(
    session: AsyncSession,
    settings: Settings,
    token: str,
    factor: SecondFactor,
    *,
    now: datetime | None = None,
) -> IssuedToken:
    """Check the link and the debtor's second factor; a short session bound to the link's
    account. A wrong answer is kept (and audited); the fifth locks the link."""
    check_factor_shape(factor)
    link_id = link_id_of(link_key(settings), token)
    moment = now or datetime.now(UTC)
    link = await session.scalar(
        select(PortalLink)
        .where(col(PortalLink.id) == link_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    check_link(
        None
        if link is None
        else LinkState(
            token_sha256=link.token_sha256,
            expires_at=link.expires_at,
            revoked=link.revoked_at is not None,
            locked=link.locked_at is not None,
            failed_attempts=link.failed_attempts,
        ),
        token,
        moment,
    )
    assert link is not None
    account = await session.get_one(Account, link.account_id)
    if account.status != AccountStatus.ACTIVE:
        raise PortalSessionInvalid()
    debtor = await session.get_one(Debtor, account.debtor_id)
    actor = PortalActor(link.id, account.id)
    birth_date = account.debtor_birth_date or debtor.birth_date
    if not factor_matches(factor, birth_date, debtor.national_id):
        link.failed_attempts += 1
        kind = "birth_date" if factor.birth_date is not None else "national_id_last4"
        locks = link.failed_attempts >= MAX_FAILED_TRIES
        if locks:
            link.locked_at = moment
        session.add(link)
        await session.flush()
        await audit.record(
            session, actor, VERIFICATION_FAILED, "portal_link", link.id,
            after={"account_id": account.id, "factor": kind,
                   "failed_attempts": link.failed_attempts},
            now=moment,
        )  # fmt: skip
        if locks:
            await audit.record(
                session, actor, LINK_LOCKED, "portal_link", link.id,
                after={"account_id": account.id, "failed_attempts": link.failed_attempts},
                now=moment,
            )  # fmt: skip
            raise PortalLinkLocked()
        raise PortalVerificationFailed({"remaining": remaining_tries(link.failed_attempts)})
    link.verified_at = moment
    session.add(link)
    await session.flush()
    issued = issue_portal_token(settings, link_id=link.id, account_id=account.id, now=moment)
    await audit.record(
        session, actor, SESSION_OPENED, "portal_link", link.id,
        after={"account_id": account.id, "jti": issued.jti}, now=moment,
    )  # fmt: skip
    return issued


async def portal_session(session: AsyncSession, settings: Settings, token: str) -> PortalSession:
    """The session a portal token opens: its link still stands and its account is active;
    :class:`PortalSessionInvalid` otherwise."""
    try:
        link_id, account_id, issued_at = decode_portal_token(settings, token)
    except NotAuthenticated as exc:
        raise PortalSessionInvalid() from exc
    link = await session.get(PortalLink, link_id, populate_existing=True)
    if (
        link is None
        or link.account_id != account_id
        or link.revoked_at is not None
        or link.locked_at is not None
        or session_ended(issued_at, link.sessions_ended_at)
    ):
        raise PortalSessionInvalid()
    account = await session.get(Account, account_id)
    if account is None or account.status != AccountStatus.ACTIVE:
        raise PortalSessionInvalid()
    return PortalSession(PortalActor(link.id, account.id), account)


async def end_sessions(
    session: AsyncSession, portal: PortalSession, *, now: datetime | None = None
) -> None:
    """The debtor leaves the portal: every session of their link opened until now is over
    (a copied cookie or token included); the link itself still opens a new one."""
    moment = now or datetime.now(UTC)
    await session.execute(
        update(PortalLink)
        .where(col(PortalLink.id) == portal.actor.link_id)
        .values(sessions_ended_at=moment)
    )
    await audit.record(
        session, portal.actor, SESSION_ENDED, "portal_link", portal.actor.link_id,
        after={"account_id": portal.account.id}, now=moment,
    )  # fmt: skip


async def _act(
    session: AsyncSession,
    settings: Settings,
    portal: PortalSession,
    action: str,
    *,
    result_code: str,
    resolution: str,
    now: datetime,
    details: dict[str, object] | None = None,
) -> Interaction:
    """One portal action: within the session's rate limit, recorded as the debtor's inbound
    contact and audited."""
    await take_search_slot(
        session, portal.actor, settings.portal_requests_per_minute,
        now=now, actions=ACTIONS, kind="portal",
    )  # fmt: skip
    interaction = await interactions.record_portal_contact(
        session, portal.actor, portal.account,
        result_code=result_code, resolution=resolution, now=now,
    )  # fmt: skip
    await audit.record(
        session, portal.actor, action, "account", portal.account.id,
        after={"interaction_id": interaction.id, **(details or {})}, now=now,
    )  # fmt: skip
    return interaction


# --- what the debtor sees -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaymentInstructions:
    """How and where the debtor pays: always to the creditor, never to the agency."""

    creditor: str
    currency: str
    payment_reference: str | None
    bank_name: str | None
    clabe: str | None
    account_holder: str | None
    cash_stores: str | None
    # Mexico's rails (app/services/payment_rails.py): the account's own referenced CLABE,
    # the bank that issued it and its convenience-store reference; None elsewhere.
    account_clabe: str | None = None
    account_clabe_bank: str | None = None
    store_reference: str | None = None


def instructions_for(account: Account, partner: Partner, settings: Settings) -> PaymentInstructions:
    """The one place the portal learns how to pay: the account's payment reference, its
    referenced CLABE and store reference (``payment_rails``), and the creditor's bank
    details from its registration."""
    rails = (
        payment_rails.instructions_of(account, partner, settings)
        if account.payment_serial
        else None
    )
    return PaymentInstructions(
        creditor=partner.legal_name,
        currency=account.currency,
        payment_reference=(
            payment_reference(account.payment_serial) if account.payment_serial else None
        ),
        bank_name=partner.payment_bank_name,
        clabe=partner.payment_clabe,
        account_holder=partner.payment_account_holder or partner.legal_name,
        cash_stores=partner.payment_cash_stores,
        account_clabe=None if rails is None else rails.clabe,
        account_clabe_bank=None if rails is None else rails.bank_name,
        store_reference=None if rails is None else rails.store_reference,
    )


@dataclass(frozen=True, slots=True)
class DebtView:
    account: Account
    creditor: str
    owed_now: Decimal
    owed_now_due: date | None
    plan: plans.PlanView | None
    promise: Promise | None
    instructions: PaymentInstructions


async def _open_plan(session: AsyncSession, account: Account) -> plans.PlanView | None:
    plan = await session.scalar(
        select(PaymentPlan)
        .where(
            col(PaymentPlan.account_id) == account.id,
            col(PaymentPlan.status).in_([PlanStatus.ACTIVE, PlanStatus.PENDING_APPROVAL]),
        )
        .order_by(col(PaymentPlan.id).desc())
        .limit(1)
    )
    if plan is None:
        return None
    return plans.PlanView(plan, await plans.installments_of(session, [plan.id]))


async def debt(
    session: AsyncSession,
    settings: Settings,
    portal: PortalSession,
    *,
    now: datetime | None = None,
) -> DebtView:
    """The debt as the debtor reads it: the creditor, the balance, the stage, what is owed
    now (the next unpaid obligation of an active plan, else the past-due amount), an open
    plan, a pending promise and how to pay."""
    moment = now or datetime.now(UTC)
    account = portal.account
    partner = await session.get_one(Partner, account.partner_id)
    view = await _open_plan(session, account)
    owed, due = round_money(account.past_due_amount, account.currency), None
    if view is not None and view.plan.status == PlanStatus.ACTIVE:
        unpaid = [i for i in view.installments if i.paid_amount < i.amount]
        if unpaid:
            owed = round_money(unpaid[0].amount - unpaid[0].paid_amount, account.currency)
            due = unpaid[0].due_date
    promise = await session.scalar(
        select(Promise)
        .where(col(Promise.account_id) == account.id, col(Promise.status) == PromiseStatus.PENDING)
        .order_by(col(Promise.due_date))
        .limit(1)
    )
    await _act(
        session, settings, portal, DEBT_VIEWED,
        result_code="RPC", resolution="The debtor read the debt in the self-service portal.",
        now=moment,
    )  # fmt: skip
    how_to_pay = instructions_for(account, partner, settings)
    return DebtView(account, partner.legal_name, owed, due, view, promise, how_to_pay)


@dataclass(frozen=True, slots=True)
class OffersView:
    quoted_on: date
    strategy_version: int
    offers: list[Offer]


async def _available(
    session: AsyncSession, settings: Settings, account: Account, now: datetime
) -> OffersView:
    partner = await session.get_one(Partner, account.partner_id)
    # The offers of the strategy the account works under (its arm's, in an experiment).
    effective = await experiments.strategy_for_account(session, account)
    version, document = effective.version, effective.document
    quoted_on = partner_today(partner, now)
    found = offers(
        document,
        Stage(account.stage),
        AccountFacts(
            total=account.total, past_due_amount=account.past_due_amount, currency=account.currency
        ),
        holidays.country_holidays(partner.country),
        quoted_on=quoted_on,
        restructuring_rate_pct=settings.portal_restructuring_rate_pct,
    )
    return OffersView(quoted_on, version, found)


async def list_offers(
    session: AsyncSession,
    settings: Settings,
    portal: PortalSession,
    *,
    now: datetime | None = None,
) -> OffersView:
    """The offers the debtor may accept alone today; none while a plan is open."""
    moment = now or datetime.now(UTC)
    if await plans.open_plan_of(session, portal.account.id) is not None:
        view = OffersView(moment.date(), 0, [])
    else:
        view = await _available(session, settings, portal.account, moment)
    await _act(
        session, settings, portal, OFFERS_VIEWED,
        result_code="RPC",
        resolution=f"The debtor read {len(view.offers)} plan offer(s) in the self-service "
        "portal.",
        now=moment,
        details={"offers": [o.terms.plan_type.value for o in view.offers]},
    )  # fmt: skip
    return view


async def accept_offer(
    session: AsyncSession,
    settings: Settings,
    portal: PortalSession,
    body: PlanQuoteRequest,
    *,
    now: datetime | None = None,
) -> plans.PlanView:
    """The debtor accepts one of today's offers, exactly as shown: the plan is stored active
    (it needs nobody's approval) through the plan service. Other terms are refused."""
    moment = now or datetime.now(UTC)
    account = await session.scalar(
        select(Account)
        .where(col(Account.id) == portal.account.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert account is not None
    if await plans.open_plan_of(session, account.id) is not None:
        raise OpenPlanExists()
    available = await _available(session, settings, account, moment)
    chosen_offer(available.offers, plans.terms_of(body))
    # Quoted again as staff quote it, on the same day: the stored plan is that quote.
    view = await plans.quote_account(session, account, body, today=available.quoted_on)
    if view.quote.breaches or view.quote.approver_role is not Role.COLLECTOR:
        raise PortalOfferNotAllowed(N_("these terms need an approval"))
    interaction = await _act(
        session, settings, portal, OFFER_ACCEPTED,
        result_code="RPC",
        resolution=f"The debtor accepted a {body.plan_type} offer in the self-service portal.",
        now=moment,
        details={"plan_type": body.plan_type},
    )  # fmt: skip
    stored = await plans.store_plan(
        session, portal.actor, account, body, view, PlanStatus.ACTIVE,
        portal_link_id=portal.actor.link_id, now=moment,
    )  # fmt: skip
    await audit.record(
        session, portal.actor, "portal.plan_created", "payment_plan", stored.plan.id,
        after={"interaction_id": interaction.id, "account_id": account.id}, now=moment,
    )  # fmt: skip
    return stored


async def plan_agreement(
    session: AsyncSession,
    settings: Settings,
    portal: PortalSession,
    plan_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> agreements.Agreement:
    """The agreement of a plan of the session's account (any other id is a 404)."""
    moment = now or datetime.now(UTC)
    plan = await session.scalar(
        select(PaymentPlan)
        .where(col(PaymentPlan.id) == plan_id, col(PaymentPlan.account_id) == portal.account.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if plan is None:
        raise NotFound({"entity": "payment_plan"})
    agreement = await agreements.agreement_of(
        session, portal.actor, plan, agreements.agency_of(settings), now=moment
    )
    await _act(
        session, settings, portal, AGREEMENT_DOWNLOADED,
        result_code="RPC",
        resolution="The debtor downloaded the payment agreement in the self-service portal.",
        now=moment,
        details={"plan_id": plan.id, "agreement_sha256": agreement.sha256},
    )  # fmt: skip
    return agreement


async def make_promise(
    session: AsyncSession,
    settings: Settings,
    portal: PortalSession,
    amount: Decimal,
    due_date: date,
    *,
    now: datetime | None = None,
) -> Promise:
    """The debtor promises a payment: the promise rules of a collector's RPC_PTP (more than
    nothing, at most the balance, due within 90 days of today where the partner is), taken
    by the promise service with the strategy's terms."""
    moment = now or datetime.now(UTC)
    account = portal.account
    if not fits_minor_unit(amount, account.currency):
        raise InvalidInput("amount", too_many_decimals(account.currency))
    partner = await session.get_one(Partner, account.partner_id)
    check_promise(amount, due_date, account.total, partner_today(partner, moment), field="")
    interaction = await _act(
        session, settings, portal, PROMISE_MADE,
        result_code=PROMISE_RESULT,
        resolution=f"The debtor promised to pay {amount} {account.currency} by "
        f"{due_date.isoformat()} in the self-service portal.",
        now=moment,
        details={"amount": amount, "due_date": due_date},
    )  # fmt: skip
    effective = await experiments.strategy_for_account(session, account)
    return await promises.take_promise(
        session, portal.actor, account, interaction, amount, due_date,
        effective.document, effective.version, experiment_arm_id=effective.arm_id,
    )  # fmt: skip


async def store_barcode(session: AsyncSession, settings: Settings, portal: PortalSession) -> bytes:
    """The account's convenience-store reference as the till scans it (SVG); an account
    without one (outside Mexico) is a 404."""
    partner = await session.get_one(Partner, portal.account.partner_id)
    reference = instructions_for(portal.account, partner, settings).store_reference
    if reference is None:
        raise NotFound({"entity": "store_reference"})
    return payment_rails.barcode_svg(reference)


async def payment_instructions(
    session: AsyncSession,
    settings: Settings,
    portal: PortalSession,
    *,
    now: datetime | None = None,
) -> PaymentInstructions:
    moment = now or datetime.now(UTC)
    partner = await session.get_one(Partner, portal.account.partner_id)
    await _act(
        session, settings, portal, INSTRUCTIONS_VIEWED,
        result_code="RPC",
        resolution="The debtor read the payment instructions in the self-service portal.",
        now=moment,
    )  # fmt: skip
    return instructions_for(portal.account, partner, settings)


@dataclass(frozen=True, slots=True)
class ContactPreference:
    channel: ContactChannel | None  # None: not to be contacted at all
    preferred_time: str | None  # morning, afternoon, evening


async def set_contact_preference(
    session: AsyncSession,
    settings: Settings,
    portal: PortalSession,
    preference: ContactPreference,
    *,
    now: datetime | None = None,
) -> list[str]:
    """The debtor asks to be contacted on one channel (at a time of day they prefer), or on
    none: a consent change through the consent service with ``portal`` as its source. The
    channels changed are returned."""
    moment = now or datetime.now(UTC)
    if preference.channel is None:
        code, text = "CHANNEL_OPT_OUT", "The debtor asked not to be contacted on any channel"
        changes = [(c, ConsentStatus.OPTED_OUT) for c in ContactChannel]
    else:
        code = "RPC"
        text = f"The debtor asked to be contacted by {preference.channel.value}"
        if preference.preferred_time is not None:
            text += f", in the {preference.preferred_time}"
        changes = [(preference.channel, ConsentStatus.GRANTED)]
    interaction = await _act(
        session, settings, portal, CONTACT_PREFERENCE,
        result_code=code, resolution=f"{text} (self-service portal).", now=moment,
        details={"channel": preference.channel.value if preference.channel else None,
                 "preferred_time": preference.preferred_time},
    )  # fmt: skip
    for channel, status in changes:
        await consents.record_from_portal(
            session, portal.actor, portal.account, interaction, channel, status, moment
        )
    return [c.value for c, _ in changes]
