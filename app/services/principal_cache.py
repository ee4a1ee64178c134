"""Who a bearer token names, kept a few seconds per process so a request does not read it again.

An entry is the :class:`~app.security.Principal` that
:func:`app.services.auth.principal_from_token` resolved from the database, kept under the
exact token for ``principal_cache_seconds`` (never past the token's own expiry) with the keys
of the rows it was read from: the user and the session (``sid``) for staff, the client and
the partner for a partner system.

Invalidation follows the rows' changes. Any flush in this process that updates or deletes one
of those rows (deactivation, a role, skills or password change, a rotated secret, a logout or
a revoked session) drops the entries naming it at once, and again when its transaction
commits (a request that read the old row between the flush and the commit cannot keep it). A
bulk ``UPDATE``/``DELETE`` of those tables through a session drops every entry. Changes made
elsewhere (another worker process, ``psql``) take effect when the entry expires: within the
window, which README's configuration section states.
"""

from __future__ import annotations

import time
import uuid
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, object_session

from app.models.partner import Partner, PartnerClient
from app.models.refresh_token import RefreshTokenFamily
from app.models.user import User
from app.security import Principal

_PENDING = "principal_cache_pending"
_PENDING_ALL = "principal_cache_pending_all"
_TABLES = frozenset(
    model.__tablename__ for model in (User, PartnerClient, Partner, RefreshTokenFamily)
)


def user_key(user_id: uuid.UUID) -> str:
    return f"user:{user_id}"


def client_key(client_id: str) -> str:
    return f"client:{client_id}"


def partner_key(partner_id: uuid.UUID) -> str:
    return f"partner:{partner_id}"


def session_key(sid: object) -> str:
    return f"session:{sid}"


class PrincipalCache:
    """Principals by token, each for at most ``seconds`` (0 keeps nothing)."""

    def __init__(
        self,
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        capacity: int = 10_000,
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._capacity = capacity
        self._entries: dict[str, tuple[Principal, float, frozenset[str]]] = {}
        _CACHES.add(self)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if self._clock() >= entry[1]:
            self._entries.pop(token, None)
            return None
        return entry[0]

    def put(self, token: str, principal: Principal, keys: Iterable[str], expires: float) -> None:
        """Keep ``principal`` for ``token`` until the window closes or the token expires
        (``expires``, seconds since the epoch: the ``exp`` claim)."""
        lifetime = min(self.seconds, expires - time.time())
        if lifetime <= 0:
            return
        now = self._clock()
        if len(self._entries) >= self._capacity:
            self._entries = {t: e for t, e in self._entries.items() if e[1] > now}
            if len(self._entries) >= self._capacity:
                self._entries.clear()
        self._entries[token] = (principal, now + lifetime, frozenset(keys))

    def invalidate(self, keys: Iterable[str]) -> None:
        wanted = frozenset(keys)
        stale = [token for token, entry in self._entries.items() if entry[2] & wanted]
        for token in stale:
            self._entries.pop(token, None)

    def clear(self) -> None:
        self._entries.clear()


_CACHES: weakref.WeakSet[PrincipalCache] = weakref.WeakSet()


def invalidate(keys: Iterable[str]) -> None:
    """Drop, in every cache of this process, the entries read from these rows."""
    wanted = frozenset(keys)
    for cache in list(_CACHES):
        cache.invalidate(wanted)


def invalidate_all() -> None:
    for cache in list(_CACHES):
        cache.clear()


def _keys_of(target: Any) -> list[str]:
    if isinstance(target, User):
        return [user_key(target.id)]
    if isinstance(target, PartnerClient):
        return [client_key(target.client_id), partner_key(target.partner_id)]
    if isinstance(target, Partner):
        return [partner_key(target.id)]
    if isinstance(target, RefreshTokenFamily):
        return [session_key(target.id), user_key(target.user_id)]
    return []


def _row_changed(_mapper: Any, _connection: Any, target: Any) -> None:
    keys = _keys_of(target)
    invalidate(keys)
    session = object_session(target)
    if session is not None:
        session.info.setdefault(_PENDING, set()).update(keys)


for _model in (User, PartnerClient, Partner, RefreshTokenFamily):
    event.listen(_model, "after_update", _row_changed)
    event.listen(_model, "after_delete", _row_changed)


@event.listens_for(Session, "do_orm_execute")
def _bulk_change(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _TABLES:
        invalidate_all()
        state.session.info[_PENDING_ALL] = True


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(_PENDING_ALL, False):
        invalidate_all()
    keys = session.info.pop(_PENDING, None)
    if keys:
        invalidate(keys)
