"""Brute-force protection of the two grants, as pure rules over past attempts.

Failures are counted per client address, never per name alone: a name locked for everyone
would let anyone lock out any user or partner system with a handful of wrong passwords.

- **name × address**: ``LoginLimits.name_address`` failures of one name from one address
  lock that name *for that address*; the same name from any other address is unaffected. A
  success from the address starts the count again (it proves the password is known there).
- **address**: ``LoginLimits.address`` failures from one address, whatever names they try,
  lock the address for every name. Successes do not reset this count, so an attacker holding
  one valid account cannot interleave its logins to guess others.

The address is resolved by :func:`client_address` (the socket peer, or ``X-Forwarded-For``
from a trusted proxy) and reduced to a key by :func:`address_key` (an IPv6 client is its /64,
the block one subscriber gets, so rotating through it buys nothing).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The key of a client whose address the server does not know (no peer, e.g. a Unix socket
# without a trusted proxy): such clients share one budget.
UNKNOWN_ADDRESS = "unknown"
# IPv6 clients are counted per /64 (one subscriber's block; RFC 6177).
IPV6_CLIENT_PREFIX = 64


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lock_for: timedelta = timedelta(minutes=15)

    @property
    def horizon(self) -> timedelta:
        """Attempts older than this before now cannot matter to :func:`locked_until`."""
        return self.window + self.lock_for


@dataclass(frozen=True, slots=True)
class Attempt:
    at: datetime
    succeeded: bool


def locked_until(
    attempts: Sequence[Attempt], now: datetime, policy: LockoutPolicy
) -> datetime | None:
    """When the attempts' key may try again, or None if it may try now.

    A key is locked once ``max_failures`` failures fall inside one ``window`` with no success
    between them; the lock lasts ``lock_for`` after the failure that completed the run. Older
    attempts than ``window + lock_for`` cannot matter and may be left out by the caller.
    """
    # At one instant failures count first, so a simultaneous success never lifts a lock.
    ordered = sorted(attempts, key=lambda a: (a.at, a.succeeded))
    failures: list[datetime] = []
    lock_end: datetime | None = None
    for attempt in ordered:
        if attempt.succeeded:
            failures.clear()
            continue
        failures.append(attempt.at)
        failures = [at for at in failures if attempt.at - at < policy.window]
        if len(failures) >= policy.max_failures:
            lock_end = attempt.at + policy.lock_for
    if lock_end is not None and lock_end > now:
        return lock_end
    return None


class LockScope(StrEnum):
    """What a lock covers: one name from one address, or one address for every name."""

    NAME_ADDRESS = "name_address"
    ADDRESS = "address"


@dataclass(frozen=True, slots=True)
class LoginLimits:
    name_address: LockoutPolicy = field(default_factory=LockoutPolicy)
    address: LockoutPolicy = field(default_factory=lambda: LockoutPolicy(max_failures=50))

    @property
    def horizon(self) -> timedelta:
        return max(self.name_address.horizon, self.address.horizon)


@dataclass(frozen=True, slots=True)
class Lock:
    scope: LockScope
    until: datetime


def _locks(
    pair: Sequence[Attempt], address: Sequence[Attempt], now: datetime, limits: LoginLimits
) -> list[Lock]:
    found: list[Lock] = []
    pair_until = locked_until(pair, now, limits.name_address)
    if pair_until is not None:
        found.append(Lock(LockScope.NAME_ADDRESS, pair_until))
    # Only failures count against an address: a success does not buy more guesses.
    address_until = locked_until([a for a in address if not a.succeeded], now, limits.address)
    if address_until is not None:
        found.append(Lock(LockScope.ADDRESS, address_until))
    return found


def login_lock(
    pair: Sequence[Attempt], address: Sequence[Attempt], now: datetime, limits: LoginLimits
) -> Lock | None:
    """The lock in force for one name from one address, the one that ends last, or None.

    ``pair`` are the attempts of this name from this address; ``address`` the attempts from
    this address under any name (``pair`` included).
    """
    return max(_locks(pair, address, now, limits), key=lambda lock: lock.until, default=None)


def locks_begun(
    pair: Sequence[Attempt], address: Sequence[Attempt], failed_at: datetime, limits: LoginLimits
) -> list[Lock]:
    """The locks that a failure at ``failed_at`` starts: in force just after it and not just
    before. ``pair`` and ``address`` are the attempts before this failure (as for
    :func:`login_lock`); a lock already in force is not begun again."""
    failure = Attempt(failed_at, succeeded=False)
    before = {lock.scope for lock in _locks(pair, address, failed_at, limits)}
    after = _locks([*pair, failure], [*address, failure], failed_at, limits)
    return [lock for lock in after if lock.scope not in before]


# --- The client's address -----------------------------------------------------------------


def parse_address(text: str) -> IPAddress | None:
    """An IP address as a socket or a proxy gives it, or None if it is not one.

    Accepts a bare IPv4 or IPv6 address, ``IPv4:port``, ``[IPv6]`` and ``[IPv6]:port`` (some
    proxies append the port). An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) is IPv4; an
    IPv6 zone (``%eth0``) is dropped.
    """
    value = text.strip()
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        value = host
    elif value.count(":") == 1:
        host, _, port = value.partition(":")
        if not port.isdigit():
            return None
        value = host
    try:
        address = ipaddress.ip_address(value.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, proxies: Iterable[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted_proxies: Sequence[IPNetwork]
) -> IPAddress | None:
    """The address of the client behind the request, or None when it cannot be known.

    ``peer`` is the socket's remote address; ``forwarded_for`` every ``X-Forwarded-For``
    header value in order. The header is read only when the peer is a trusted proxy, from the
    right (each proxy appends the address it saw), skipping trusted proxies: the first hop
    that is not one is the client. Hops left of it were written by the client and are never
    believed. If the walk meets a value that is not an address, or the header is absent or
    empty, the answer is the peer; if every hop is trusted, the leftmost one.

    The same walk as uvicorn's ``--forwarded-allow-ips`` (``cartera serve`` gives it the
    same list), so applying it to an address uvicorn has already resolved changes nothing.
    """
    peer_address = parse_address(peer) if peer else None
    if peer_address is None or not _trusted(peer_address, trusted_proxies):
        return peer_address
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    if not any(hops):
        return peer_address
    hop_address: IPAddress | None = None
    for hop in reversed(hops):
        hop_address = parse_address(hop)
        if hop_address is None:
            return peer_address
        if not _trusted(hop_address, trusted_proxies):
            return hop_address
    return hop_address


def address_key(address: IPAddress | None) -> str:
    """What failures are counted under: an IPv4 address itself, an IPv6 address's /64."""
    if address is None:
        return UNKNOWN_ADDRESS
    if isinstance(address, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False)
        return str(network)
    return str(address)
