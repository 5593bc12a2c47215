"""What an occurrence sends, frozen when it starts (``campaign_occurrences.config``): the
variants with the exact template versions, the audience, topic, priority, fallback, timing and
test settings. Editing the campaign afterwards changes its next occurrences only."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec

from backend.campaigns.assignment import Split
from backend.campaigns.models import AbTestMode, CampaignOccurrence
from backend.messaging.models import MessageChannel, MessagePriority


class PlannedVariant(msgspec.Struct, kw_only=True, frozen=True):
    key: str
    weight: int
    channel: MessageChannel
    template_id: UUID
    version_id: UUID
    sender_identity_id: UUID | None = None
    send_delay_minutes: int = 0


class Plan(msgspec.Struct, kw_only=True, frozen=True):
    variants: tuple[PlannedVariant, ...]
    include: tuple[UUID, ...] = ()
    exclude: tuple[UUID, ...] = ()
    topic: str | None = None
    priority: MessagePriority = MessagePriority.CAMPAIGN
    deferrable: bool = True
    fallback_channel: MessageChannel | None = None
    fallback_template_id: UUID | None = None
    mode: AbTestMode = AbTestMode.SPLIT
    test_percent: int | None = None
    holdout_percent: int = 0
    winner_metric: str | None = None
    goal_event: str | None = None
    attribution_hours: int = 72
    decide_after_minutes: int | None = None
    throttle_per_hour: int | None = None
    send_time_optimization: bool = False
    optimization_window_hours: int = 24
    # Per-recipient time zones: the wall time each recipient gets it at (ISO, naive).
    local_wall: str | None = None
    brand_zone: str = "UTC"

    def to_json(self) -> dict[str, Any]:
        built: dict[str, Any] = msgspec.to_builtins(self)
        return built

    @classmethod
    def of(cls, occurrence: CampaignOccurrence) -> Plan:
        return msgspec.convert(occurrence.config, cls)

    def variant(self, key: str) -> PlannedVariant:
        for variant in self.variants:
            if variant.key == key:
                return variant
        raise KeyError(key)

    @property
    def split(self) -> Split:
        test = None
        if self.mode is AbTestMode.WINNER and len(self.variants) > 1:
            test = (self.test_percent or 100) / 100
        return Split(
            holdout=self.holdout_percent / 100,
            test=test,
            weights=[(v.key, v.weight) for v in self.variants],
        )

    @property
    def picks_winner(self) -> bool:
        return self.split.test is not None

    def source_key(self, occurrence_id: UUID, variant: str) -> str:
        """The ledger's source key of a variant's messages in an occurrence."""
        return f"{occurrence_id}:{variant}"

    def source_keys(self, occurrence_id: UUID) -> list[str]:
        return [self.source_key(occurrence_id, v.key) for v in self.variants]

    def fallback_for(self, channel: MessageChannel) -> dict[str, Any] | None:
        if self.fallback_channel is None or self.fallback_template_id is None:
            return None
        if self.fallback_channel is channel:
            return None
        return {
            "channel": self.fallback_channel.value,
            "template_id": str(self.fallback_template_id),
        }
