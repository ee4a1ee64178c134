"""The audit trail's hash chain, as pure functions.

Each event's hash is SHA-256 over the previous event's hash and the event's canonical content
(JSON with sorted keys and no insignificant white space). Changing, removing or reordering
any event breaks the link of the next one, which ``first_broken_link`` finds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

GENESIS_HASH = "0" * 64


def to_json_value(value: Any) -> Any:
    """Reduce a value to plain JSON types, the form in which it is both stored and hashed.

    Decimals become strings so no precision is lost; datetimes become ISO 8601 strings.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return to_json_value(value.value)
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [to_json_value(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    raise TypeError(f"cannot put {type(value).__name__} in the audit trail")


@dataclass(frozen=True, slots=True)
class EventContent:
    occurred_at: datetime
    actor_id: str
    actor_role: str
    action: str
    entity_type: str
    entity_id: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    request_id: str | None

    def canonical(self) -> bytes:
        body = {
            "occurred_at": self.occurred_at.isoformat(),
            "actor_id": self.actor_id,
            "actor_role": self.actor_role,
            "action": self.action,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "before": to_json_value(self.before),
            "after": to_json_value(self.after),
            "request_id": self.request_id,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, content: EventContent) -> str:
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(content.canonical())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class ChainedEvent:
    seq: int
    prev_hash: str
    hash: str
    content: EventContent


@dataclass(frozen=True, slots=True)
class BrokenLink:
    seq: int
    reason: str


def check_link(expected_prev: str, event: ChainedEvent) -> BrokenLink | None:
    """Whether ``event`` follows the event whose hash is ``expected_prev``."""
    if event.prev_hash != expected_prev:
        return BrokenLink(event.seq, "previous hash does not match the event before it")
    if chain_hash(event.prev_hash, event.content) != event.hash:
        return BrokenLink(event.seq, "content does not match its hash")
    return None


def first_broken_link(
    events: Iterable[ChainedEvent], start_hash: str = GENESIS_HASH
) -> BrokenLink | None:
    """The first event, in chain order, whose link to its predecessor does not hold."""
    expected_prev = start_hash
    for event in events:
        broken = check_link(expected_prev, event)
        if broken is not None:
            return broken
        expected_prev = event.hash
    return None


def diff(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that changed, as (before, after)."""
    keys = sorted(set(before) | set(after))
    changed = [k for k in keys if before.get(k) != after.get(k)]
    return ({k: before.get(k) for k in changed}, {k: after.get(k) for k in changed})
