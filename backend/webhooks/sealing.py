"""Signing secrets at rest: encrypted (Fernet) with a key derived from the deployment's secret
key, because a signing secret must be read back to sign, so it cannot be hashed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.tenancy import hash_key_of

STANDARD_WEBHOOKS_PREFIX = "whsec_"


def _fernet(session: AsyncSession) -> Fernet:
    key = hmac.new(hash_key_of(session), b"levier:signing-secrets", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(session: AsyncSession, secret: str) -> str:
    return _fernet(session).encrypt(secret.encode()).decode()


def unseal(session: AsyncSession, ciphertext: str) -> str:
    try:
        return _fernet(session).decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        # Only a changed LEVIER_SECRET_KEY does this: the secrets must then be rotated.
        raise RuntimeError(
            "a signing secret no longer decrypts: was the secret key changed?"
        ) from exc


def new_standard_webhooks_secret() -> str:
    """``whsec_`` and 32 random bytes in base64, as Standard Webhooks defines secrets."""
    return STANDARD_WEBHOOKS_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def hint(secret: str) -> str:
    """The few characters of a secret shown again after creation."""
    return secret[:10] + "…"
