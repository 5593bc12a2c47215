"""What core needs of whoever calls: their audit name, the brands they reach and their scopes.

Authentication (``backend.auth.caller.Caller``) provides it; core code depends only on this
protocol, so ``backend/core`` imports no domain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable
from uuid import UUID


@runtime_checkable
class CallerLike(Protocol):
    @property
    def actor(self) -> str:
        """The audit name: ``user:<id>`` or ``client:<id>``."""
        ...

    @property
    def brand_access(self) -> Mapping[UUID, object]:
        """The brands the caller reaches (by id), with their access."""
        ...

    def require_scope(self, scope: str | None) -> None:
        """Raise ``InsufficientScope`` unless the token carries ``scope`` (``None``: no check)."""
        ...
