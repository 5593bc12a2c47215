"""Resolved bearer tokens, remembered for a few seconds by each process.

Resolving a token costs several queries (the token with its user and client, the user's roles,
the brands of their agencies, the client's grants), and an API client sends the same token many
times a second. A process keeps what it resolved for ``caller_cache_seconds`` (never past the
token's own expiry). A commit in this process that touches tokens, users, clients, memberships,
grants or brands forgets everything at once; other processes see such a change within the TTL,
which is therefore the bound on how long a revocation or a withdrawn role takes to bite there.
"""

from __future__ import annotations

import datetime as dt
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from backend.auth.caller import Caller
from backend.core.db import utcnow
from backend.core.tenancy import LevierSession

# Tables whose rows decide who a token's caller is and what it reaches.
_ACCESS_TABLES = frozenset(
    {
        "users",
        "oauth_clients",
        "oauth_client_brands",
        "access_tokens",
        "agencies",
        "brands",
        "agency_members",
        "brand_grants",
    }
)
_CHANGED = "levier.access_changed"
_CACHES: weakref.WeakSet[CallerCache] = weakref.WeakSet()


class CallerCache:
    def __init__(
        self,
        ttl_seconds: float,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, Caller]] = OrderedDict()
        _CACHES.add(self)

    def get(self, token_hash: str) -> Caller | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        valid_until, caller = entry
        if self.clock() >= valid_until:
            del self._entries[token_hash]
            return None
        return caller

    def put(self, token_hash: str, caller: Caller, token_expires_at: dt.datetime) -> None:
        if self.ttl <= 0:
            return
        now = self.clock()
        left = (token_expires_at - utcnow()).total_seconds()
        self._entries[token_hash] = (now + min(self.ttl, left), caller)
        self._entries.move_to_end(token_hash)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


def forget_all() -> None:
    for cache in list(_CACHES):
        cache.clear()


@event.listens_for(LevierSession, "after_flush")
def _note_flushed(session: Session, _flush: UOWTransaction) -> None:
    for instance in (*session.new, *session.dirty, *session.deleted):
        table = getattr(type(instance), "__tablename__", None)
        if table in _ACCESS_TABLES:
            session.info[_CHANGED] = True
            return


@event.listens_for(LevierSession, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        table: Any = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in _ACCESS_TABLES:
            state.session.info[_CHANGED] = True


@event.listens_for(LevierSession, "after_commit")
def _forget_on_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        forget_all()


@event.listens_for(LevierSession, "after_rollback")
def _nothing_changed(session: Session) -> None:
    session.info.pop(_CHANGED, None)
