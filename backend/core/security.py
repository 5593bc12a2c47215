"""Password hashing (argon2id) and opaque secrets stored as hashes."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def new_secret(prefix: str) -> str:
    """A random, URL-safe secret with a readable type prefix (``lvr_at_…``)."""
    return f"{prefix}{secrets.token_urlsafe(32)}"


def hash_secret(secret: str) -> str:
    # Secrets are high-entropy random strings: a fast hash is enough and allows an indexed lookup.
    return hashlib.sha256(secret.encode()).hexdigest()


def secrets_match(given: str, expected: str) -> bool:
    """Constant-time comparison: how long it takes says nothing about where they differ."""
    return hmac.compare_digest(given.encode(), expected.encode())


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; slow by design (argon2id), so call it off the event loop."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@functools.cache
def dummy_password_hash() -> str:
    # Verified against when the email is unknown, so that answering takes as long either way.
    return _hasher.hash(secrets.token_urlsafe(16))
