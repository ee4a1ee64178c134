"""The debtor's self-service portal ("portal de autogestión"): who may send a debtor a link,
how the link and the second factor are judged, and which plan offers the debtor may accept
alone.

Pure rules; the service (app/services/portal.py) loads the link, the account and the
strategy, and records every portal action as an inbound contact of the debtor.

Choices made here:

- A link is issued by someone who may work the account: its assigned collector, a team lead
  of the collector's team, a manager or an admin (through the accounts' one visibility
  helper), or the account's own partner. Auditors read and issue nothing.
- A link token is ``<link id>.<256 random bits>.<HMAC-SHA256 of both>``: the signature
  refuses a forged or mistyped token before any database read, the link id finds the row,
  and only the token's SHA-256 is stored, compared in constant time. A link is for one
  account, lives :data:`DEFAULT_LINK_DAYS` days (a setting), and a newer link of the same
  account replaces it.
- The debtor proves who they are with a fact the agency holds and the link does not carry:
  their birth date or the last four characters of their national id, compared in constant
  time. :data:`MAX_FAILED_TRIES` wrong answers lock the link for good (a new link is
  needed); a correct answer does not reset the count of earlier failures.
- Offers: for each plan type the partner's strategy offers in the account's stage, the most
  favourable terms the debtor may accept alone, i.e. that break no limit of the strategy and
  that a collector could grant without anyone's approval (the strategy's approval
  thresholds). Each is quoted exactly as staff quote it (:func:`app.domain.plans.quote`).
  Regularization: the past-due amount over the most installments allowed, monthly, with the
  minimum down payment. Restructuring: the total over the most monthly installments the
  term limit allows, at the agency's portal rate. Settlement: one payment with the largest
  discount that stays within both the strategy's maximum and the collector's approval
  threshold. Anything else (or a changed offer) is refused when accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Container
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from enum import StrEnum

from app.domain.errors import DomainError, InvalidInput, Text
from app.domain.money import minor_unit
from app.domain.plans import AccountFacts, Frequency, Quote, QuoteTerms, quote
from app.domain.roles import Role
from app.domain.stages import Stage
from app.domain.strategies import PlanType, StrategyDocument
from app.i18n import N_, Message

DEFAULT_LINK_DAYS = 7
DEFAULT_SESSION_MINUTES = 30
MAX_FAILED_TRIES = 5
# The first installment of an offer falls this many days after the day it is quoted.
FIRST_DUE_DAYS = 7
HUNDRED = Decimal(100)
_PCT = Decimal("0.01")

ISSUERS: frozenset[Role] = frozenset(
    {Role.COLLECTOR, Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN, Role.PARTNER}
)


class PortalRole(StrEnum):
    """The audit trail's role for what the debtor does in the portal (not a staff role)."""

    DEBTOR = "debtor"


@dataclass(frozen=True, slots=True)
class PortalActor:
    """The debtor, as known by the link they entered through: ``portal:<link id>``."""

    link_id: uuid.UUID
    account_id: uuid.UUID
    role: PortalRole = PortalRole.DEBTOR

    @property
    def audit_id(self) -> str:
        return f"portal:{self.link_id}"


# --- errors -------------------------------------------------------------------------------


class PortalLinkInvalid(DomainError):
    """Unknown, forged, expired or replaced: one answer for all, so links cannot be probed."""

    code = "portal_link_invalid"


class PortalLinkLocked(DomainError):
    """Too many wrong answers to the second factor: the link no longer opens."""

    code = "portal_link_locked"
    keeps_changes = True


class PortalVerificationFailed(DomainError):
    """The second factor did not match; ``remaining`` tries are left. The failure is kept."""

    code = "portal_verification_failed"
    keeps_changes = True


class PortalSessionInvalid(DomainError):
    """No portal session, or one that expired or whose link was locked or replaced."""

    code = "portal_session_invalid"


class PortalOfferNotAllowed(DomainError):
    """Terms the debtor may not accept alone: not one of the offers (changed, beyond the
    strategy's limits, or needing someone's approval)."""

    code = "portal_offer_not_allowed"

    def __init__(self, reason: str) -> None:
        self.reason = Message(reason, {})
        super().__init__({"reason": self.reason})

    @property
    def field_errors(self) -> list[tuple[str, Text]]:
        return [("body", self.reason)]


# --- issuing and judging links ------------------------------------------------------------


def may_issue(role: Role) -> bool:
    return role in ISSUERS


def sign(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def make_token(key: bytes, link_id: uuid.UUID, secret: str) -> str:
    body = f"{link_id.hex}.{secret}"
    return f"{body}.{sign(key, body)}"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_id_of(key: bytes, token: str) -> uuid.UUID:
    """The link a well-signed token names; :class:`PortalLinkInvalid` for anything else."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 200:
        raise PortalLinkInvalid()
    link_hex, secret, signature = parts
    if not secret or not hmac.compare_digest(sign(key, f"{link_hex}.{secret}"), signature):
        raise PortalLinkInvalid()
    try:
        return uuid.UUID(hex=link_hex)
    except ValueError as exc:
        raise PortalLinkInvalid() from exc


@dataclass(frozen=True, slots=True)
class LinkState:
    token_sha256: str
    expires_at: datetime
    revoked: bool
    locked: bool
    failed_attempts: int


def check_link(state: LinkState | None, token: str, now: datetime) -> None:
    """A link the token opens now: it exists, matches, is not replaced, expired or locked."""
    if state is None or not hmac.compare_digest(state.token_sha256, token_digest(token)):
        raise PortalLinkInvalid()
    if state.revoked or not now < state.expires_at:
        raise PortalLinkInvalid()
    if state.locked:
        raise PortalLinkLocked()


@dataclass(frozen=True, slots=True)
class SecondFactor:
    birth_date: date | None = None
    national_id_last4: str | None = None


def check_factor_shape(factor: SecondFactor) -> None:
    """Exactly one of the two, the last four as letters or digits (a CURP ends in two)."""
    if (factor.birth_date is None) == (factor.national_id_last4 is None):
        raise InvalidInput("body", N_("give your birth date or the last 4 characters of your id"))
    last4 = factor.national_id_last4
    if last4 is not None and not (len(last4) == 4 and last4.isascii() and last4.isalnum()):
        raise InvalidInput("national_id_last4", N_("exactly 4 letters or digits"))


def factor_matches(factor: SecondFactor, birth_date: date | None, national_id: str | None) -> bool:
    """Whether the debtor's answer matches what the agency holds, in constant time (a
    missing fact never matches)."""
    if factor.birth_date is not None:
        held = birth_date.isoformat() if birth_date is not None else "-"
        return hmac.compare_digest(factor.birth_date.isoformat(), held) and birth_date is not None
    given = (factor.national_id_last4 or "").upper()
    compact = "".join((national_id or "").split()).upper()
    held = compact[-4:] if len(compact) >= 4 else "----"
    return hmac.compare_digest(given.encode(), held.encode()) and len(compact) >= 4


def session_ended(issued_at: datetime, ended_at: datetime | None) -> bool:
    """Whether a session was opened before the debtor left the portal through its link (a
    token's issue time has whole seconds: one opened in the second of a logout ends too)."""
    return ended_at is not None and issued_at <= ended_at


def remaining_tries(failed_attempts: int) -> int:
    return max(0, MAX_FAILED_TRIES - failed_attempts)


# --- offers -------------------------------------------------------------------------------


def _accepted_alone(q: Quote) -> bool:
    """Within every limit and within what a collector grants without approval."""
    return not q.breaches and q.approver_role is Role.COLLECTOR


def _ceil(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(minor_unit(currency), rounding=ROUND_UP)


def _candidates(
    document: StrategyDocument,
    stage: Stage,
    facts: AccountFacts,
    quoted_on: date,
    restructuring_rate_pct: Decimal,
) -> list[list[QuoteTerms]]:
    """Per plan type the strategy offers, candidate terms from the most favourable down."""
    first_due = quoted_on + timedelta(days=FIRST_DUE_DAYS)
    found: list[list[QuoteTerms]] = []
    entry = document[stage]
    for plan_type in PlanType:
        limits = entry.plans.get(plan_type)
        if limits is None:
            continue
        if plan_type is PlanType.SETTLEMENT:
            total = facts.total
            if total <= 0:
                continue
            ceiling = min(
                limits.max_discount_pct,
                (entry.approvals.collector_up_to * HUNDRED / total).quantize(
                    _PCT, rounding=ROUND_DOWN
                ),
            )
            pcts = [ceiling - k * _PCT for k in range(3) if ceiling - k * _PCT > 0]
            found.append(
                [
                    QuoteTerms(plan_type, 1, Frequency.MONTHLY, first_due, discount_pct=pct)
                    for pct in pcts
                ]
            )
            continue
        base = facts.past_due_amount if plan_type is PlanType.REGULARIZATION else facts.total
        if base <= 0:
            continue
        down = _ceil(base * limits.min_down_payment_pct / HUNDRED, facts.currency)
        rate = restructuring_rate_pct if plan_type is PlanType.RESTRUCTURING else Decimal(0)
        most = limits.max_installments
        if plan_type is PlanType.RESTRUCTURING:
            most = min(most, max(1, limits.max_term_extension_months - 1))
        found.append(
            [
                QuoteTerms(
                    plan_type,
                    n,
                    Frequency.MONTHLY,
                    first_due,
                    down_payment=down,
                    annual_rate_pct=rate,
                )
                for n in range(most, max(0, most - 3), -1)
            ]
        )
    return found


@dataclass(frozen=True, slots=True)
class Offer:
    terms: QuoteTerms
    quote: Quote


def offers(
    document: StrategyDocument,
    stage: Stage,
    facts: AccountFacts,
    holidays: Container[date],
    *,
    quoted_on: date,
    restructuring_rate_pct: Decimal = Decimal(0),
) -> list[Offer]:
    """The offers the debtor may accept alone, at most one per plan type, each quoted as
    staff would quote it on ``quoted_on``."""
    result: list[Offer] = []
    for candidates in _candidates(document, stage, facts, quoted_on, restructuring_rate_pct):
        for terms in candidates:
            try:
                q = quote(terms, facts, holidays, document, stage, quoted_on=quoted_on)
            except InvalidInput:
                continue
            if _accepted_alone(q):
                result.append(Offer(terms, q))
                break
    return result


def chosen_offer(available: list[Offer], terms: QuoteTerms) -> Offer:
    """The offer whose terms the debtor accepted, exactly; refused otherwise."""
    for offer in available:
        if offer.terms == terms:
            return offer
    raise PortalOfferNotAllowed(
        N_(
            "these terms are not among your offers: they changed, exceed the creditor's "
            "limits or need an approval; choose one of the offers shown"
        )
    )
