"""Which part of a test each recipient falls in: deterministic per (campaign, profile), so every
occurrence of a campaign, a retried snapshot and anyone recomputing it agree.

A profile's point is a hash of both ids on [0, 1). The holdout takes the first ``holdout``
share; with a winner test the next ``test`` share is the test cell, split between the variants
by weight, and the rest waits for the winner; with a plain split everyone past the holdout gets
a variant by weight.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from backend.campaigns.models import RecipientState


def point(campaign_id: UUID, profile_id: UUID) -> float:
    """The profile's point on [0, 1) for this campaign (BLAKE2b of both ids)."""
    digest = hashlib.blake2b(campaign_id.bytes + profile_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class Split:
    """The shares: ``holdout`` and ``test`` (None: a plain split) of the whole audience, and
    the variants' keys with their weights (percent, adding up to 100)."""

    holdout: float
    test: float | None
    weights: Sequence[tuple[str, int]]

    def variant_at(self, share: float) -> str:
        """The variant a point at ``share`` of the split (on [0, 1)) falls in."""
        edge = 0.0
        for key, weight in self.weights:
            edge += weight / 100
            if share < edge:
                return key
        return self.weights[-1][0]

    def assign(self, at: float) -> tuple[RecipientState, str | None]:
        """(state, variant) of a profile at point ``at``."""
        if at < self.holdout:
            return RecipientState.HOLDOUT, None
        rest = at - self.holdout
        if self.test is None:
            return RecipientState.WAITING, self.variant_at(rest / (1 - self.holdout))
        if rest < self.test:
            return RecipientState.WAITING, self.variant_at(rest / self.test)
        return RecipientState.AWAITING_WINNER, None
