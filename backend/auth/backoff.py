"""Sign-in backoff: wrong passwords make the next attempts wait, counted where every API process
sees them.

Two budgets, both atomic counters in the rate-limit storage (Redis when ``LEVIER_REDIS_URL`` is
set, so every API replica shares them; process memory in the embedded mode, which serves from one
process):

- per account *and client address*: after ``login_max_failures`` failures in a row the next
  attempt waits ``login_lockout_seconds``, doubling with each further failure (at most 15
  minutes). Someone guessing from one address does not lock the owner out: from another address
  the owner's count is their own.
- per client address, over every account (``login_failures_per_ip``, ``limits`` notation): once
  spent, every sign-in from that address answers 429 until the window ends, so one address cannot
  spray passwords over many accounts either.

An attempt is counted *before* its password is checked, in one increment: parallel guesses cannot
slip under the limit. The attempt that reaches the limit (or the first one after a wait) claims
the wait with another increment, so exactly one of any number of concurrent attempts gets its
password checked; the others answer 429. A success clears the account's count and gives the
address its attempt back.

Accounts are keyed by an HMAC of the normalised email (never the email itself), whether or not an
account has it: an unknown email is counted, answered and timed exactly as a known one.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio
import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage

from backend.config import Settings
from backend.core.errors import LevierError
from backend.core.ratelimit import STORAGE_ERRORS, counter_storage

log = structlog.get_logger("levier.auth.backoff")

MAX_LOCKOUT_SECONDS = 15 * 60
# How long failures are remembered, from the first one, when no success clears them.
FAILURE_MEMORY_SECONDS = 24 * 3600
# What a 503 asks the browser to wait while the counters cannot be reached.
UNAVAILABLE_RETRY_SECONDS = 5


class SignInLocked(LevierError):
    status, slug, title = 429, "sign-in-locked", "Too many failed sign-ins"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many wrong passwords: try again in {retry_after} seconds",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


class SignInUnavailable(LevierError):
    """The counters cannot be reached: no password is checked uncounted (fail closed)."""

    status, slug, title = 503, "sign-in-unavailable", "Sign-in is unavailable"

    def __init__(self) -> None:
        super().__init__(
            "sign-in is unavailable for a moment: try again shortly",
            headers={"Retry-After": str(UNAVAILABLE_RETRY_SECONDS)},
        )


@dataclass(frozen=True)
class Attempt:
    """The counter keys of one sign-in attempt."""

    failures: str  # the account's failures from this address
    wait: str  # present while the account waits, for this address
    address: Sequence[tuple[RateLimitItem, str]]  # the address's failure budget, per limit


def _normalised(email: str) -> str:
    return email.strip().lower()


class SignInBackoff:
    """The sign-in counters: :meth:`begin` before checking a password, :meth:`succeeded` after a
    right one (a wrong one was counted already)."""

    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        pool: redis.asyncio.ConnectionPool | None = None,
    ) -> None:
        self.storage = storage
        self._pool = pool
        self._secret = settings.secret_key.encode()
        self.max_failures = settings.login_max_failures
        self.lockout_seconds = settings.login_lockout_seconds
        self.per_address = parse_many(settings.login_failures_per_ip)  # checked by validate

    def _digest(self, *parts: str) -> str:
        # Keyed: the storage never holds an email, and nobody can compute a key without the secret.
        message = "\0".join(parts).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def attempt_of(self, email: str, client: str) -> Attempt:
        account = self._digest("account", _normalised(email), client)
        address = self._digest("address", client)
        return Attempt(
            failures=f"failures:{account}",
            wait=f"wait:{account}",
            address=[(item, item.key_for("address", address)) for item in self.per_address],
        )

    def lockout_seconds_after(self, failures: int) -> int:
        """The wait after ``failures`` failures in a row (0: none yet)."""
        beyond = failures - self.max_failures
        if beyond < 0:
            return 0
        seconds: int = self.lockout_seconds * 2 ** min(beyond, 16)
        return min(seconds, MAX_LOCKOUT_SECONDS)

    async def begin(self, email: str, client: str) -> Attempt:
        """Count an attempt of ``email`` from ``client``; :class:`SignInLocked` if it must wait."""
        attempt = self.attempt_of(email, client)
        try:
            for item, key in attempt.address:
                if await self.storage.incr(key, item.get_expiry()) > item.amount:
                    raise SignInLocked(await self._retry_after(key))
            failures = await self.storage.incr(attempt.failures, FAILURE_MEMORY_SECONDS)
            wait = self.lockout_seconds_after(failures)
            # The attempt that reaches the limit, or the first after a wait, starts the next wait
            # and is checked; concurrent ones find the wait taken.
            if wait and await self.storage.incr(attempt.wait, wait) > 1:
                raise SignInLocked(await self._retry_after(attempt.wait))
        except STORAGE_ERRORS as exc:
            log.warning("sign_in_backoff_unavailable", error=repr(exc))
            raise SignInUnavailable() from exc
        return attempt

    async def succeeded(self, attempt: Attempt) -> None:
        """A right password: the account's count starts again, and the address's attempt is
        given back (its budget counts failures)."""
        try:
            await self.storage.clear(attempt.failures)
            await self.storage.clear(attempt.wait)
            for item, key in attempt.address:
                await self.storage.incr(key, item.get_expiry(), amount=-1)
        except STORAGE_ERRORS as exc:
            # The sign-in stands; the count merely stays as it was.
            log.warning("sign_in_backoff_unavailable", error=repr(exc))

    async def _retry_after(self, key: str) -> int:
        return max(1, math.ceil(await self.storage.get_expiry(key) - time.time()))

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


def build_sign_in_backoff(settings: Settings) -> SignInBackoff:
    """The backoff over Redis (when configured) or memory; connects on first use only."""
    storage, pool = counter_storage(settings, "signin")
    return SignInBackoff(settings, storage, pool)
