"""Identifiers: time-ordered UUIDs (v7), so primary keys stay index-friendly and sortable."""

from __future__ import annotations

from uuid import UUID

import uuid6


def new_id() -> UUID:
    return UUID(bytes=uuid6.uuid7().bytes)
