"""Resolved bearer tokens, remembered for a few seconds by each process.

Resolving a token costs several queries (the token with its user and client, the user's roles,
the brands of their agencies, the client's grants), and an API client sends the same token many
times a second. A process keeps what it resolved for ``caller_cache_seconds`` (never past the
token's own expiry). A commit in this process that touches tokens, users, clients, memberships,
grants or brands forgets everything at once (:mod:`backend.core.read_cache`); other processes see
such a change within the TTL, which is therefore the bound on how long a revocation or a
withdrawn role takes to bite there.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable

from backend.auth.caller import Caller
from backend.core.db import utcnow
from backend.core.read_cache import ReadCache

# Tables whose rows decide who a token's caller is and what it reaches.
ACCESS_TABLES = frozenset(
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


class CallerCache:
    def __init__(
        self,
        ttl_seconds: float,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache = ReadCache(ttl_seconds, ACCESS_TABLES, max_entries=max_entries, clock=clock)
        self._resolving: dict[str, asyncio.Future[tuple[Caller, dt.datetime] | None]] = {}

    def get(self, token_hash: str) -> Caller | None:
        caller: Caller | None = self._cache.get(token_hash)
        return caller

    def put(self, token_hash: str, caller: Caller, token_expires_at: dt.datetime) -> None:
        left = (token_expires_at - utcnow()).total_seconds()
        self._cache.put(token_hash, caller, left)

    def clear(self) -> None:
        self._cache.clear()

    async def resolve(
        self,
        token_hash: str,
        resolve: Callable[[], Awaitable[tuple[Caller, dt.datetime] | None]],
    ) -> Caller | None:
        """The cached caller, or ``resolve()``'s, kept. Concurrent misses of one token share one
        resolution: when an entry expires under load, every request in flight would otherwise
        run the same queries at once and queue for connections."""
        caller = self.get(token_hash)
        if caller is not None:
            return caller
        pending = self._resolving.get(token_hash)
        if pending is None:
            pending = asyncio.ensure_future(resolve())
            self._resolving[token_hash] = pending
            pending.add_done_callback(lambda _: self._resolving.pop(token_hash, None))
        resolved = await asyncio.shield(pending)
        if resolved is None:
            return None
        caller, expires_at = resolved
        self.put(token_hash, caller, expires_at)
        return caller
