"""The base of every REST body."""

from __future__ import annotations

import msgspec


class Schema(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """Base of request and response bodies: camelCase on the wire, unknown fields refused."""
