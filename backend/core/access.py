"""Access levels on a brand or an agency: what the guards and GraphQL fields declare."""

from __future__ import annotations

from enum import IntEnum


class Access(IntEnum):
    """How much a caller may do on a brand or agency; higher includes lower."""

    VIEWER = 1
    MANAGER = 2
    ADMIN = 3  # agency owner or admin: manages brands, members and grants
    OWNER = 4
