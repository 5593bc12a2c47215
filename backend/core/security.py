"""Password hashing (argon2id) and opaque secrets stored as hashes."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher

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
