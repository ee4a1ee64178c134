"""Events to partners (webhooks): the event kinds with their payload shapes, the destination
rules that stop server-side request forgery, the retry schedule and the signing secrets.

Pure: no I/O, no clock (times and random fractions are parameters). The service
(``app/services/webhooks.py``) owns emitting, delivering and signing.

Payloads carry ids, the partner's own references, states and amounts, never personal data
(no names, national ids, contact values or addresses): a partner's endpoint is outside the
agency's control and its logs keep whatever arrives.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from app.i18n import N_, Message

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MAX_URL_LENGTH = 2000


class DeliveryStatus(StrEnum):
    """A delivery of one event to one subscription."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class EventKind(StrEnum):
    ASSIGNMENT_PROCESSED = "assignment.processed"
    PAYMENT_FILE_PROCESSED = "payment_file.processed"
    PAYMENT_RECORDED = "payment.recorded"
    PAYMENT_REVERSED = "payment.reversed"
    PROMISE_CREATED = "promise.created"
    PROMISE_BROKEN = "promise.broken"
    PLAN_CREATED = "plan.created"
    PLAN_APPROVED = "plan.approved"
    PLAN_BROKEN = "plan.broken"
    PLAN_COMPLETED = "plan.completed"
    ACCOUNT_STAGE_CHANGED = "account.stage_changed"
    ACCOUNT_CLOSED = "account.closed"
    ACCOUNT_RECALLED = "account.recalled"
    INTERACTION_RECORDED = "interaction.recorded"


# --- Payload shapes: one frozen dataclass per kind. The ORM path builds an instance; the
# set-based path names an SQL expression for each field (app/services/webhooks.py checks the
# names against these fields), so both write the same keys.


@dataclass(frozen=True, slots=True)
class AssignmentProcessed:
    assignment_id: str
    status: str
    received: int
    created: int
    updated: int
    unchanged: int
    rejected: int


@dataclass(frozen=True, slots=True)
class PaymentFileProcessed:
    payment_file_id: str
    status: str
    received: int
    matched: int
    unmatched: int
    duplicates: int
    rejected: int
    applied_amount: str
    currency: str


@dataclass(frozen=True, slots=True)
class PaymentRecorded:
    payment_id: str
    account_id: str
    external_ref: str
    amount: str
    currency: str
    paid_on: str
    channel: str
    reference: str | None


@dataclass(frozen=True, slots=True)
class PaymentReversed:
    payment_id: str
    account_id: str
    external_ref: str
    amount: str
    currency: str


@dataclass(frozen=True, slots=True)
class PromiseEvent:
    """promise.created and promise.broken."""

    promise_id: str
    account_id: str
    external_ref: str
    amount: str
    currency: str
    due_on: str
    status: str


@dataclass(frozen=True, slots=True)
class PlanEvent:
    """plan.created, plan.approved, plan.broken and plan.completed."""

    plan_id: str
    account_id: str
    external_ref: str
    plan_type: str
    status: str


@dataclass(frozen=True, slots=True)
class StageChanged:
    account_id: str
    external_ref: str
    from_stage: str
    to_stage: str
    dpd: int
    as_of: str


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """account.closed and account.recalled."""

    account_id: str
    external_ref: str
    status: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class InteractionRecorded:
    interaction_id: str
    account_id: str
    external_ref: str
    channel: str
    party: str
    result_code: str
    occurred_at: str


Payload = (
    AssignmentProcessed
    | PaymentFileProcessed
    | PaymentRecorded
    | PaymentReversed
    | PromiseEvent
    | PlanEvent
    | StageChanged
    | AccountEvent
    | InteractionRecorded
)

PAYLOAD_SHAPES: dict[EventKind, type[Any]] = {
    EventKind.ASSIGNMENT_PROCESSED: AssignmentProcessed,
    EventKind.PAYMENT_FILE_PROCESSED: PaymentFileProcessed,
    EventKind.PAYMENT_RECORDED: PaymentRecorded,
    EventKind.PAYMENT_REVERSED: PaymentReversed,
    EventKind.PROMISE_CREATED: PromiseEvent,
    EventKind.PROMISE_BROKEN: PromiseEvent,
    EventKind.PLAN_CREATED: PlanEvent,
    EventKind.PLAN_APPROVED: PlanEvent,
    EventKind.PLAN_BROKEN: PlanEvent,
    EventKind.PLAN_COMPLETED: PlanEvent,
    EventKind.ACCOUNT_STAGE_CHANGED: StageChanged,
    EventKind.ACCOUNT_CLOSED: AccountEvent,
    EventKind.ACCOUNT_RECALLED: AccountEvent,
    EventKind.INTERACTION_RECORDED: InteractionRecorded,
}


def payload_fields(kind: EventKind) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(PAYLOAD_SHAPES[kind]))


def payload_of(kind: EventKind, payload: Any) -> dict[str, Any]:
    """The payload as JSON-ready data; refuses a shape that is not the kind's."""
    shape = PAYLOAD_SHAPES[kind]
    if not isinstance(payload, shape):
        raise TypeError(f"{kind.value} carries {shape.__name__}, not {type(payload).__name__}")
    return dataclasses.asdict(payload)


def envelope(kind: EventKind, occurred_at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """What the receiver gets (the Standard Webhooks shape: type, timestamp, data)."""
    return {"type": kind.value, "timestamp": occurred_at.isoformat(), "data": data}


# --- Destinations (SSRF) -----------------------------------------------------------------

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Destination:
    scheme: str
    host: str
    port: int


class DestinationRefused(ValueError):
    """A webhook URL the agency will not call; ``text`` says why in the reader's language,
    ``reason`` in English (the delivery log)."""

    def __init__(self, template: str, params: dict[str, Any] | None = None) -> None:
        self.text = Message(template, params or {})
        self.reason = str(self.text)
        super().__init__(self.reason)


def parse_destination(url: str, *, require_https: bool) -> Destination:
    """The scheme, host and port of a subscription URL, or :class:`DestinationRefused`.

    No credentials in the URL (they would be logged and sent to redirects), no fragment;
    https only when ``require_https`` (production)."""
    if len(url) > MAX_URL_LENGTH:
        raise DestinationRefused(N_("longer than {max} characters"), {"max": MAX_URL_LENGTH})
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused(N_("not a URL")) from exc
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise DestinationRefused(N_("the scheme must be https"))
    if require_https and scheme != "https":
        raise DestinationRefused(N_("the scheme must be https"))
    if parts.username is not None or parts.password is not None:
        raise DestinationRefused(N_("credentials in the URL are not allowed"))
    if parts.fragment:
        raise DestinationRefused(N_("a fragment is not allowed"))
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise DestinationRefused(N_("the URL has no host"))
    return Destination(scheme, host, port or (443 if scheme == "https" else 80))


def address_refusal(address: IPAddress, allowed: Sequence[IPNetwork]) -> str | None:
    """Why the agency will not connect to ``address`` (None: it may): an N_ template over
    ``{address}``.

    Only globally routable unicast addresses are called: loopback, private (RFC 1918, ULA),
    link-local (with the cloud metadata address 169.254.169.254), shared (CGNAT), reserved,
    unspecified and multicast are refused, as are IPv6 forms that embed one (IPv4-mapped,
    6to4, NAT64 well-known prefix), unless the settings allow the network."""
    embedded = _embedded_ipv4(address)
    candidates = [address] if embedded is None else [embedded, address]
    if any(a in network for network in allowed for a in candidates if a.version == network.version):
        return None
    for candidate in candidates:
        reason = _non_public(candidate)
        if reason is not None:
            return reason
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _non_public(address: IPAddress) -> str | None:
    if address.is_loopback:
        return N_("{address} is a loopback address")
    if address.is_link_local:
        return N_("{address} is a link-local address")
    if address.is_unspecified:
        return N_("{address} is an unspecified address")
    if address.is_multicast:
        return N_("{address} is a multicast address")
    if address.is_private:
        return N_("{address} is a private address")
    if address.is_reserved or not address.is_global:
        return N_("{address} is a reserved address")
    return None


def check_addresses(addresses: Iterable[IPAddress], allowed: Sequence[IPNetwork]) -> None:
    """Every address a host resolves to must be callable (one bad answer refuses it all:
    a name that resolves partly to a private address is a rebinding attempt)."""
    found = list(addresses)
    if not found:
        raise DestinationRefused(N_("the host does not resolve"))
    for address in found:
        reason = address_refusal(address, allowed)
        if reason is not None:
            raise DestinationRefused(reason, {"address": str(address)})


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


# --- Retries ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: timedelta
    cap: timedelta
    max_age: timedelta


def next_attempt(
    policy: RetryPolicy, attempts: int, created_at: datetime, now: datetime, fraction: float
) -> datetime | None:
    """When to try again after ``attempts`` failed attempts, or None to give up (failed).

    Exponential backoff with "equal jitter": half the delay fixed, half random
    (``fraction`` in [0, 1)), so retries of many deliveries spread out but never bunch at
    zero. Once the next try would fall past the event's maximum age, the delivery fails."""
    exponent = min(max(attempts - 1, 0), 30)
    delay = min(policy.cap, policy.base * (2**exponent))
    wait = delay / 2 + (delay / 2) * max(0.0, min(fraction, 1.0))
    when = now + wait
    if when > created_at + policy.max_age:
        return None
    return when


# --- Secrets ------------------------------------------------------------------------------


def secret_text(raw: bytes) -> str:
    """A signing secret as Standard Webhooks spells it: ``whsec_`` + base64."""
    if len(raw) < 24:
        raise ValueError("a signing secret has at least 24 bytes")
    return SECRET_PREFIX + base64.b64encode(raw).decode()


def signing_secrets(
    current: str, previous: str | None, previous_until: datetime | None, now: datetime
) -> list[str]:
    """The secrets a delivery is signed with: the current one, and during the rotation's
    overlap window the previous one too (the receiver may still hold either)."""
    if previous is not None and previous_until is not None and now < previous_until:
        return [current, previous]
    return [current]


def clip(text: str | None, size: int) -> str | None:
    """A response or error text cut to what the delivery log keeps."""
    if text is None:
        return None
    return text if len(text) <= size else text[: size - 1] + "…"
