"""Provider credentials and DKIM private keys at rest: Fernet with a key derived from the
deployment's secret key. Keys it replaced (``LEVIER_PREVIOUS_SECRET_KEYS``) still decrypt, so a
secret key can be rotated: set the new key, list the old one as previous, run
``levier reseal-secrets`` (everything is then encrypted with the new key), drop the old one."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import msgspec
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from backend.config import Settings

_PURPOSE = b"levier:provider-credentials"


def _fernet(secret_key: str) -> Fernet:
    key = hmac.new(secret_key.encode(), _PURPOSE, hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _box(settings: Settings) -> MultiFernet:
    # The first key encrypts; every key is tried to decrypt.
    keys = [settings.secret_key, *settings.previous_secret_keys]
    return MultiFernet([_fernet(key) for key in keys])


class SealBroken(RuntimeError):
    """A sealed value that no configured key opens (the secret key changed without listing the
    old one in LEVIER_PREVIOUS_SECRET_KEYS)."""


def seal(settings: Settings, value: str) -> str:
    return _box(settings).encrypt(value.encode()).decode()


def unseal(settings: Settings, ciphertext: str) -> str:
    try:
        return _box(settings).decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise SealBroken(
            "a sealed provider secret no longer decrypts: was LEVIER_SECRET_KEY changed without "
            "listing the old key in LEVIER_PREVIOUS_SECRET_KEYS?"
        ) from exc


def reseal(settings: Settings, ciphertext: str) -> str:
    """The same value encrypted with the current key (decrypted with any configured key)."""
    try:
        return _box(settings).rotate(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise SealBroken("a sealed provider secret no longer decrypts") from exc


def seal_json(settings: Settings, value: dict[str, Any]) -> str:
    return seal(settings, msgspec.json.encode(value).decode())


def unseal_json(settings: Settings, ciphertext: str) -> dict[str, Any]:
    value: dict[str, Any] = msgspec.json.decode(unseal(settings, ciphertext))
    return value
