"""DKIM (RFC 6376) keys and signatures for mail sent over SMTP (ESPs sign with the domain set up
in their own console).

A brand's sender domain gets an RSA key (generated here or uploaded); the public half is published
at ``<selector>._domainkey.<domain>`` as ``v=DKIM1; k=rsa; p=<base64 DER>``. Signatures cover the
headers mailbox providers judge, including RFC 8058's List-Unsubscribe and List-Unsubscribe-Post
(which must be signed for one-click unsubscribe to count)."""

from __future__ import annotations

import base64

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from backend.messaging.providers.base import DkimKey

SIGNED_HEADERS = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"Reply-To",
    b"MIME-Version",
    b"Content-Type",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
)
KEY_BITS = 2048
MIN_KEY_BITS = 1024  # RFC 8301: verifiers must refuse smaller keys


class BadKey(ValueError):
    """An uploaded private key DKIM cannot use."""


def generate_private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_key_of(private_key_pem: str) -> str:
    """The base64 DER public key of an RSA private key in PEM (:class:`BadKey` otherwise)."""
    try:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise BadKey(
            "the private key must be an unencrypted RSA key in PEM (PKCS#1 or PKCS#8)"
        ) from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise BadKey("the private key must be an RSA key")
    if key.key_size < MIN_KEY_BITS:
        raise BadKey(f"the key must have at least {MIN_KEY_BITS} bits")
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def dns_name(domain: str, selector: str) -> str:
    return f"{selector}._domainkey.{domain}"


def dns_value(public_key: str) -> str:
    return f"v=DKIM1; k=rsa; p={public_key}"


def sign(message: bytes, key: DkimKey) -> bytes:
    """``message`` with its DKIM-Signature header prepended (relaxed/relaxed, rsa-sha256)."""
    present = {
        line.split(b":", 1)[0].strip().lower()
        for line in message.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        if b":" in line and not line[:1].isspace()
    }
    headers = [h for h in SIGNED_HEADERS if h.lower() in present]
    signature: bytes = dkim.sign(
        message,
        key.selector.encode(),
        key.domain.encode(),
        key.private_key_pem.encode(),
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=headers,
    )
    return signature + message
