"""Signed live-block tokens: what a live URL names, sealed so that nobody can change it.

A token is ``base64url(version ‖ msgpack(block) ‖ tag)`` where ``tag`` is the first 16 bytes of
HMAC-SHA256 over ``version ‖ msgpack(block)``, keyed from the deployment's secret key. Ids travel
as raw bytes (16 each) so that a token stays around 100-200 characters. Nothing in it is secret
(the ids are opaque), but any change to it breaks the tag.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
from uuid import UUID

import msgspec

VERSION = b"\x01"
TAG_BYTES = 16
# A token longer than this is refused before anything decodes it (blocks are far shorter).
MAX_TOKEN_CHARS = 800
# The encoded block (ids, kind and parameters) may not exceed this.
MAX_PAYLOAD_BYTES = 512

Param = str | int
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")


class LiveBlock(msgspec.Struct, array_like=True, frozen=True):
    """One live block for one recipient: the brand, the message (absent in a preview), the
    profile, the block's kind and its checked parameters."""

    brand_id: UUID
    message_id: UUID | None
    profile_id: UUID
    kind: str
    params: dict[str, Param]


class TokenTooLarge(ValueError):
    """The block's parameters make the token longer than a live URL may be."""


_encoder = msgspec.msgpack.Encoder(uuid_format="bytes")
_decoder = msgspec.msgpack.Decoder(LiveBlock)


@functools.lru_cache(maxsize=8)
def signing_key(secret_key: str) -> bytes:
    """The live-content key, derived from the deployment's secret key (changing the secret key
    turns every live block already sent into a neutral image)."""
    return hmac.new(secret_key.encode(), b"levier:live-content", hashlib.sha256).digest()


def _tag(key: bytes, signed: bytes) -> bytes:
    return hmac.new(key, signed, hashlib.sha256).digest()[:TAG_BYTES]


def sign(key: bytes, block: LiveBlock) -> str:
    """The URL-safe token of ``block`` (no padding)."""
    payload = _encoder.encode(block)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise TokenTooLarge(f"the live block's parameters are too long ({len(payload)} bytes)")
    signed = VERSION + payload
    return base64.urlsafe_b64encode(signed + _tag(key, signed)).rstrip(b"=").decode()


def verify(key: bytes, token: str) -> LiveBlock | None:
    """The block a token names, or None when it is malformed, tampered with or signed with
    another key. Nothing is decoded before the tag holds."""
    # Only the URL-safe alphabet: the decoder would silently skip other characters.
    if len(token) > MAX_TOKEN_CHARS or not _ALPHABET.fullmatch(token):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    signed, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
    if len(signed) < 2 or not signed.startswith(VERSION):
        return None
    if not hmac.compare_digest(tag, _tag(key, signed)):
        return None
    try:
        return _decoder.decode(signed[len(VERSION) :])
    except msgspec.DecodeError:
        # Signed by us yet unreadable: only a block written by a newer layout could do this.
        return None
