"""An occurrence's progress: its audience counters (kept on the occurrence by the statements
that write recipients) and what its messages became (two aggregates on the ledger's source
index, whatever the audience's size)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from backend.campaigns.fanout import since_of
from backend.campaigns.models import Campaign, CampaignOccurrence
from backend.campaigns.plan import Plan
from backend.campaigns.schemas import CampaignProgress, CampaignVariantProgress
from backend.campaigns.winner import sent_count
from backend.messaging import service as messaging
from backend.messaging.models import MessageStatus, SourceKind

CANCELLED_REASON = "campaign-cancelled"
EXCLUDED_SEGMENT = "excluded-segment"


def _variant_progress(key: str, summary: messaging.SourceSummary) -> CampaignVariantProgress:
    statuses = summary.statuses

    def count(*wanted: MessageStatus) -> int:
        return sum(statuses.get(s.value, 0) for s in wanted)

    return CampaignVariantProgress(
        key=key,
        messages=sum(statuses.values()),
        queued=count(MessageStatus.QUEUED, MessageStatus.SENDING),
        deferred=count(MessageStatus.DEFERRED),
        sent=sent_count(statuses),
        failed=count(MessageStatus.FAILED),
        refused=count(MessageStatus.REFUSED) - summary.replaced,
        opened=summary.opened,
        clicked=summary.clicked,
    )


async def occurrence_progress(
    session: AsyncSession, campaign: Campaign, occurrence: CampaignOccurrence
) -> CampaignProgress:
    progress = CampaignProgress(
        campaign_id=campaign.id,
        campaign_status=campaign.status,
        occurrence_id=occurrence.id,
        occurrence_status=occurrence.status,
        planned_at=occurrence.planned_at,
        started_at=occurrence.started_at,
        finished_at=occurrence.finished_at,
        targeted=occurrence.targeted,
        holdout=occurrence.holdout,
        released=occurrence.released,
        winner_variant=occurrence.winner_variant,
        decide_at=occurrence.decide_at,
    )
    excluded = {EXCLUDED_SEGMENT: occurrence.excluded} if occurrence.excluded else {}
    progress.waiting = max(
        0,
        occurrence.targeted
        - occurrence.excluded
        - occurrence.holdout
        - occurrence.released
        - occurrence.withdrawn,
    )
    progress.cancelled = occurrence.withdrawn
    if not occurrence.config:  # it failed to start: nothing was planned
        progress.excluded = excluded
        return progress
    plan = Plan.of(occurrence)
    keys = {plan.source_key(occurrence.id, v.key): v.key for v in plan.variants}
    summaries = await messaging.source_summary(
        session, SourceKind.CAMPAIGN, list(keys), since_of(occurrence)
    )
    scores = occurrence.winner_scores or {}
    for source_key, key in keys.items():
        summary = summaries[source_key]
        variant = _variant_progress(key, summary)
        if key in scores:
            variant.score = float(scores[key].get("rate", 0.0))
        progress.variants.append(variant)
        progress.queued += variant.queued
        progress.deferred += variant.deferred
        progress.sent += variant.sent
        progress.failed += variant.failed
        progress.opened += variant.opened
        progress.clicked += variant.clicked
        progress.fallbacks += summary.replaced
        for reason, count in summary.refused.items():
            if reason == CANCELLED_REASON:
                progress.cancelled += count
            else:
                excluded[reason] = excluded.get(reason, 0) + count
    progress.excluded = excluded
    return progress
