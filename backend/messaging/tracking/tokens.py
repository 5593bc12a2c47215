"""Signed per-message tokens: the capability carried by a tracking URL.

A token is ``base64url(key id ‖ kind ‖ channel ‖ tenant ‖ message ‖ payload ‖ MAC)``:

- the key id (one byte) names the key that signed it: the first byte of SHA-256 of the key,
  so tokens signed before a rotation of ``LEVIER_SECRET_KEY`` keep verifying while the old key
  is listed in ``LEVIER_PREVIOUS_SECRET_KEYS``;
- the MAC is HMAC-SHA256 truncated to 128 bits, keyed with a key derived from the secret key
  (never the secret key itself), over everything before it;
- the tenant travels in the token so the request's session is scoped to that brand before any
  read (a token of brand A cannot reach brand B's rows);
- a click token carries the link itself: only links the message held at send time were signed,
  so the redirect can go nowhere else (no open redirect) and no list of links is stored per send.

Nothing here touches the database: signing runs for every email the pipeline sends.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any
from uuid import UUID

from backend.config import Settings

_MAC_BYTES = 16
_HEAD = struct.Struct(">BBB16s16s")  # key id, kind, channel, tenant, message
_CLICK = struct.Struct(">H")  # link index
_UNSUBSCRIBE = struct.Struct(">16s")  # profile
MAX_TOKEN_CHARS = 4096  # longer paths are refused before decoding


class TokenKind(IntEnum):
    OPEN = 1
    CLICK = 2
    UNSUBSCRIBE = 3  # the List-Unsubscribe URL and the preference page
    PUSH_OPEN = 4


class TrackedChannel(IntEnum):
    EMAIL = 1
    SMS = 2
    PUSH = 3

    @property
    def slug(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    channel: TrackedChannel
    tenant_id: UUID
    message_id: UUID
    link_index: int = 0  # click
    url: str = ""  # click: where it redirects
    profile_id: UUID | None = None  # unsubscribe
    topic: str | None = None  # unsubscribe: the message's topic (None: the channel)


class BadToken(Exception):
    """Malformed, tampered, or signed by a key this deployment no longer holds."""


@dataclass(frozen=True, slots=True)
class _Key:
    kid: int
    # SHA-256 states after the HMAC pads (RFC 2104), copied for each token: cheaper than the
    # hmac module's per-call objects, and the same MAC.
    inner: Any
    outer: Any

    def mac(self, data: bytes) -> bytes:
        inner = self.inner.copy()
        inner.update(data)
        outer = self.outer.copy()
        outer.update(inner.digest())
        digest: bytes = outer.digest()
        return digest[:_MAC_BYTES]


@dataclass(frozen=True, slots=True)
class Keys:
    current: _Key
    by_kid: dict[int, list[_Key]]


def _derive(secret_key: str) -> _Key:
    key = hmac.new(secret_key.encode(), b"levier:tracking-tokens", hashlib.sha256).digest()
    padded = key.ljust(hashlib.sha256().block_size, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))
    return _Key(hashlib.sha256(key).digest()[0], inner, outer)


@functools.lru_cache(maxsize=8)
def _keys(secret_key: str, retired: tuple[str, ...]) -> Keys:
    current = _derive(secret_key)
    by_kid: dict[int, list[_Key]] = {}
    for key in (current, *(_derive(old) for old in retired)):
        by_kid.setdefault(key.kid, []).append(key)
    return Keys(current, by_kid)


def keys_of(settings: Settings) -> Keys:
    """The deployment's token keys (derived once per process)."""
    return _keys(settings.secret_key, settings.previous_secret_keys)


_B64_PLAIN_TO_URL = bytes.maketrans(b"+/", b"-_")


def _seal(keys: Keys, body: bytes) -> str:
    data = bytes([keys.current.kid]) + body
    encoded = binascii.b2a_base64(data + keys.current.mac(data), newline=False)
    return encoded.translate(_B64_PLAIN_TO_URL, b"=").decode()


def _head(kind: TokenKind, channel: TrackedChannel, tenant_id: UUID, message_id: UUID) -> bytes:
    return bytes((kind, channel)) + tenant_id.bytes + message_id.bytes


class MessageSigner:
    """Signs the click tokens of one message: its part of every token encoded once."""

    __slots__ = ("_head", "_keys")

    def __init__(
        self, keys: Keys, channel: TrackedChannel, tenant_id: UUID, message_id: UUID
    ) -> None:
        self._keys = keys
        self._head = _head(TokenKind.CLICK, channel, tenant_id, message_id)

    def click(self, index: int, url: str) -> str:
        return _seal(self._keys, self._head + _CLICK.pack(index) + url.encode())


def open_token(keys: Keys, channel: TrackedChannel, tenant_id: UUID, message_id: UUID) -> str:
    return _seal(keys, _head(TokenKind.OPEN, channel, tenant_id, message_id))


def push_open_token(keys: Keys, tenant_id: UUID, message_id: UUID) -> str:
    head = _head(TokenKind.PUSH_OPEN, TrackedChannel.PUSH, tenant_id, message_id)
    return _seal(keys, head)


def click_token(
    keys: Keys,
    channel: TrackedChannel,
    tenant_id: UUID,
    message_id: UUID,
    index: int,
    url: str,
) -> str:
    return MessageSigner(keys, channel, tenant_id, message_id).click(index, url)


def unsubscribe_token(
    keys: Keys,
    channel: TrackedChannel,
    tenant_id: UUID,
    message_id: UUID,
    profile_id: UUID,
    topic: str | None,
) -> str:
    head = _head(TokenKind.UNSUBSCRIBE, channel, tenant_id, message_id)
    return _seal(keys, head + _UNSUBSCRIBE.pack(profile_id.bytes) + (topic or "").encode())


def verify(keys: Keys, token: str, kind: TokenKind) -> Token:
    """The token's content if ``keys`` signed it for ``kind``; :class:`BadToken` otherwise
    (one answer for every failure: a caller learns nothing from it)."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise BadToken
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BadToken from exc
    if len(raw) < _HEAD.size + _MAC_BYTES:
        raise BadToken
    data, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not any(hmac.compare_digest(k.mac(data), mac) for k in keys.by_kid.get(data[0], ())):
        raise BadToken
    _, kind_byte, channel_byte, tenant, message = _HEAD.unpack_from(data)
    rest = data[_HEAD.size :]
    try:
        found_kind, channel = TokenKind(kind_byte), TrackedChannel(channel_byte)
        if found_kind is not kind:
            raise BadToken
        if kind is TokenKind.CLICK:
            (index,) = _CLICK.unpack_from(rest)
            url = rest[_CLICK.size :].decode()
            return Token(kind, channel, UUID(bytes=tenant), UUID(bytes=message), index, url)
        if kind is TokenKind.UNSUBSCRIBE:
            (profile,) = _UNSUBSCRIBE.unpack_from(rest)
            topic = rest[_UNSUBSCRIBE.size :].decode() or None
            return Token(
                kind,
                channel,
                UUID(bytes=tenant),
                UUID(bytes=message),
                profile_id=UUID(bytes=profile),
                topic=topic,
            )
        if rest:
            raise BadToken
        return Token(kind, channel, UUID(bytes=tenant), UUID(bytes=message))
    except (ValueError, struct.error) as exc:  # only a key holder could sign these: still refuse
        raise BadToken from exc
