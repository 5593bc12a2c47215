"""Values read from the database, remembered for a few seconds by each process.

Some reads happen on every request yet change rarely: who a bearer token's caller is, a brand's
event settings, its event types and trigger definitions. A :class:`ReadCache` keeps such values
for ``ttl_seconds`` and names the tables they come from. A commit in this process that touched one
of those tables forgets the cache at once; other processes see the change within the TTL, which
is therefore the bound on how stale a value can be there.

Values must be immutable snapshots (frozen dataclasses, tuples), never ORM instances: they outlive
the session that read them. A session that has itself written to a watched table, and not yet
committed, bypasses the cache so that it reads its own writes.
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Hashable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from backend.core.tenancy import LevierSession

T = TypeVar("T")

READ_CACHE_INFO_KEY = "levier.read_cache"
# The tables of per-brand configuration read on hot paths; domains add theirs at import.
CONFIG_TABLES: set[str] = set()
_TOUCHED = "levier.touched_tables"
_CACHES: weakref.WeakSet[ReadCache] = weakref.WeakSet()


class ReadCache:
    def __init__(
        self,
        ttl_seconds: float,
        tables: Collection[str],
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl_seconds
        self.tables = tables
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        _CACHES.add(self)

    def get(self, key: Hashable) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        valid_until, value = entry
        if self.clock() >= valid_until:
            self._entries.pop(key, None)
            return None
        return value

    def put(self, key: Hashable, value: Any, ttl_seconds: float | None = None) -> None:
        ttl = self.ttl if ttl_seconds is None else min(self.ttl, ttl_seconds)
        if ttl <= 0:
            return
        self._entries[key] = (self.clock() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


def watch_config_tables(*tables: str) -> None:
    """Declare tables whose rows :func:`cached` reads may keep (see the module docstring)."""
    CONFIG_TABLES.update(tables)


def config_cache_info(ttl_seconds: float) -> dict[str, Any]:
    """Session-factory info giving its sessions a cache of brand configuration."""
    return {READ_CACHE_INFO_KEY: ReadCache(ttl_seconds, CONFIG_TABLES)}


def _writes_to(session: Session, tables: Collection[str]) -> bool:
    if not set(tables).isdisjoint(session.info.get(_TOUCHED, ())):
        return True
    pending = (*session.new, *session.dirty, *session.deleted)
    return any(getattr(type(i), "__tablename__", None) in tables for i in pending)


async def cached(session: AsyncSession, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
    """The value of ``key`` in the session factory's read cache, loaded with ``load()`` when
    missing. Without a cache (or after this session wrote to a watched table) it just loads."""
    cache: ReadCache | None = session.info.get(READ_CACHE_INFO_KEY)
    if cache is None or _writes_to(session.sync_session, cache.tables):
        return await load()
    value: T | None = cache.get(key)
    if value is None:
        value = await load()
        cache.put(key, value)
    return value


def forget_touching(tables: set[str]) -> None:
    for cache in list(_CACHES):
        if not tables.isdisjoint(cache.tables):
            cache.clear()


def _touch(session: Session, table: str | None) -> None:
    if table is not None:
        session.info.setdefault(_TOUCHED, set()).add(table)


@event.listens_for(LevierSession, "after_flush")
def _note_flushed(session: Session, _flush: UOWTransaction) -> None:
    for instance in (*session.new, *session.dirty, *session.deleted):
        _touch(session, getattr(type(instance), "__tablename__", None))


@event.listens_for(LevierSession, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        table: Any = getattr(state.statement, "table", None)
        _touch(state.session, getattr(table, "name", None))


@event.listens_for(LevierSession, "after_commit")
def _forget_on_commit(session: Session) -> None:
    touched = session.info.pop(_TOUCHED, None)
    if touched:
        forget_touching(touched)


@event.listens_for(LevierSession, "after_rollback")
def _nothing_changed(session: Session) -> None:
    session.info.pop(_TOUCHED, None)
