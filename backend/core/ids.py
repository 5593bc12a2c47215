"""Identifiers: time-ordered UUIDs (v7), so primary keys stay index-friendly and sortable."""

from __future__ import annotations

import os
import threading
import time
from uuid import UUID

# A batch of sends makes thousands of ids a second: their random bits come from the operating
# system's CSPRNG (as `secrets` gives them) read a block at a time — one system call per 400
# ids instead of one per id.
_RANDOM_BYTES = 10  # 80 bits read, the low 76 kept (as uuid6.uuid7's secrets.randbits(76))
_BLOCK = 4000
_lock = threading.Lock()
_random = b""
_taken = 0
_last_ms = 0


def new_id() -> UUID:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 76 random bits under the version
    and variant. Strictly increasing within the process: an id made in the same millisecond as
    the previous one (or earlier, the clock stepped back) takes the previous millisecond plus
    one — uuid6.uuid7's rule, which this replaces for speed."""
    global _random, _taken, _last_ms
    now_ms = time.time_ns() // 1_000_000
    with _lock:
        if now_ms <= _last_ms:
            now_ms = _last_ms + 1
        _last_ms = now_ms
        if _taken + _RANDOM_BYTES > len(_random):
            _random = os.urandom(_BLOCK)
            _taken = 0
        chunk = _random[_taken : _taken + _RANDOM_BYTES]
        _taken += _RANDOM_BYTES
    value = (now_ms & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(chunk) >> 4
    # Version 7 and the RFC 4122 variant, set as uuid.UUID(int=..., version=7) sets them.
    value = (value & ~(0xC000 << 48)) | 0x8000 << 48
    value = (value & ~(0xF000 << 64)) | 7 << 76
    return UUID(int=value)
