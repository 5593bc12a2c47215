"""The suppression list: identifiers of erased people, kept only as keyed hashes.

Each identity key ``(kind, value)`` (``email``, ``phone``, ``external:<source>``; values
normalised as profiles store them) is kept as HMAC-SHA256(brand salt, value), the brand salt being
HMAC(key derived from the app's ``secret_key``, brand id). A database dump alone therefore cannot
test guesses against it, and the same address hashes differently in two brands. Rotating
``secret_key`` forgets the list (every hash changes).

:mod:`backend.profiles.gdpr` fills it and re-exports :func:`suppressed`; the profiles service
reads it before creating a profile (and lifts entries on new consent).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import insert_ignoring_conflict, utcnow
from backend.core.tenancy import hash_key_of, required_tenant
from backend.profiles.models import Suppression


def _brand_salt(session: AsyncSession) -> bytes:
    # The suppression list is a brand's.
    return hmac.new(hash_key_of(session), required_tenant(session).bytes, hashlib.sha256).digest()


def _hash(salt: bytes, value: str) -> str:
    return hmac.new(salt, value.encode(), hashlib.sha256).hexdigest()


def hash_pads(session: AsyncSession) -> tuple[bytes, bytes]:
    """The brand's HMAC keys padded (inner, outer), for the database to hash identifiers the
    same way: ``sha256(outer || sha256(inner || value))`` is the hash kept here (RFC 2104)."""
    key = _brand_salt(session).ljust(hashlib.sha256().block_size, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


async def any_suppressed(session: AsyncSession) -> bool:
    """Whether the brand has erased anybody (no identifier needs checking otherwise)."""
    return await session.scalar(select(Suppression.hash).limit(1)) is not None


_LOOKUP_SLICE = 1000


async def suppressed(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """The keys of ``keys`` (normalised ``(kind, value)`` identity keys) that belong to erased
    people of the session's brand: one query per thousand keys, none when nobody was erased."""
    if not keys or not await any_suppressed(session):
        return set()
    salt = _brand_salt(session)
    by_hash = {(kind, _hash(salt, value)): (kind, value) for kind, value in keys}
    hashes = sorted({digest for _, digest in by_hash})
    found: set[tuple[str, str]] = set()
    # Flat IN lists in slices: a batch of an import holds tens of thousands of keys.
    for start in range(0, len(hashes), _LOOKUP_SLICE):
        rows = await session.execute(
            select(Suppression.kind, Suppression.hash).where(
                Suppression.hash.in_(hashes[start : start + _LOOKUP_SLICE])
            )
        )
        found |= {by_hash[(kind, digest)] for kind, digest in rows if (kind, digest) in by_hash}
    return found


async def suppress(session: AsyncSession, keys: Sequence[tuple[str, str]], reason: str) -> int:
    """Add the keys to the list (a key already there stays as it was); how many were added."""
    tenant = required_tenant(session)
    salt = _brand_salt(session)
    now = utcnow()
    added = 0
    for kind, value in sorted(set(keys)):
        row = {
            "tenant_id": tenant,
            "kind": kind,
            "hash": _hash(salt, value),
            "reason": reason,
            "erased_at": now,
            "created_at": now,
            "updated_at": now,
        }
        added += await insert_ignoring_conflict(
            session, Suppression, row, ["tenant_id", "kind", "hash"]
        )
    return added


async def lift(session: AsyncSession, keys: Sequence[tuple[str, str]]) -> None:
    """Remove the keys from the list: the person gave new consent."""
    if not keys:
        return
    salt = _brand_salt(session)
    hashed = [(kind, _hash(salt, value)) for kind, value in keys]
    await session.execute(
        delete(Suppression)
        .where(tuple_(Suppression.kind, Suppression.hash).in_(hashed))
        .execution_options(synchronize_session=False)
    )
