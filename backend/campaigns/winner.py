"""A winner test's decision: each variant's score on the test cell — the share of its sent
messages a person opened (``opens``), clicked (``clicks``), or whose profile converted within
the attribution window after its message was sent (``conversions``: the goal event, or an
order when the campaign names none) — and the best of them (ties: the earlier variant)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.campaigns import repository
from backend.campaigns.models import CampaignOccurrence, WinnerMetric
from backend.campaigns.plan import Plan
from backend.events import service as events_service
from backend.messaging import service as messaging
from backend.messaging.models import MessageStatus, SourceKind
from backend.profiles import orders as orders_service

PAGE = 1000
# Statuses of a message handed to the provider (and what may follow).
SENT_STATUSES = frozenset(
    {
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.OPENED,
        MessageStatus.CLICKED,
        MessageStatus.UNSUBSCRIBED,
        MessageStatus.COMPLAINED,
        MessageStatus.BOUNCED_SOFT,
        MessageStatus.BOUNCED_HARD,
    }
)


@dataclass(frozen=True)
class Score:
    sent: int
    hits: int  # opened, clicked or converted

    @property
    def rate(self) -> float:
        return self.hits / self.sent if self.sent else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "hits": self.hits, "rate": round(self.rate, 6)}


def sent_count(statuses: dict[str, int]) -> int:
    return sum(n for status, n in statuses.items() if MessageStatus(status) in SENT_STATUSES)


async def _conversions(
    session: AsyncSession,
    plan: Plan,
    occurrence: CampaignOccurrence,
    now: dt.datetime,
) -> dict[str, int]:
    """Per variant, the released recipients whose profile converted within the window after
    their message was sent (pages of recipients; two queries a page)."""
    window = dt.timedelta(hours=plan.attribution_hours)
    keys = [v.key for v in plan.variants]
    converted: dict[str, int] = dict.fromkeys(keys, 0)
    after: UUID | None = None
    while True:
        page = await repository.released_of(session, occurrence.id, keys, after=after, limit=PAGE)
        if not page:
            return converted
        after = page[-1][0]
        variant_of = {message: variant for _, variant, message in page}
        sent = await messaging.sent_messages(session, [m for _, _, m in page])
        if sent:
            since = min(at for _, _, at in sent)
            until = min(max(at for _, _, at in sent) + window, now)
            profiles = [p for _, p, _ in sent]
            if plan.goal_event:
                times = await events_service.event_times(
                    session, plan.goal_event, profiles, since, until
                )
            else:
                times = await orders_service.order_times(session, profiles, since, until)
            seen: dict[UUID, list[dt.datetime]] = {}
            for profile_id, at in times:
                seen.setdefault(profile_id, []).append(at)
            for message_id, profile_id, sent_at in sent:
                if any(sent_at <= t <= sent_at + window for t in seen.get(profile_id, [])):
                    converted[variant_of[message_id]] += 1
        if len(page) < PAGE:
            return converted


async def score(
    session: AsyncSession,
    plan: Plan,
    occurrence: CampaignOccurrence,
    since: dt.datetime,
    now: dt.datetime,
) -> dict[str, Score]:
    """Each variant's score on what the test cell's messages became so far."""
    keys = {plan.source_key(occurrence.id, v.key): v.key for v in plan.variants}
    summaries = await messaging.source_summary(session, SourceKind.CAMPAIGN, list(keys), since)
    metric = WinnerMetric(plan.winner_metric or WinnerMetric.OPENS)
    converted = (
        await _conversions(session, plan, occurrence, now)
        if metric is WinnerMetric.CONVERSIONS
        else {}
    )
    scores = {}
    for source_key, variant in keys.items():
        summary = summaries[source_key]
        hits = {
            WinnerMetric.OPENS: summary.opened,
            WinnerMetric.CLICKS: summary.clicked,
            WinnerMetric.CONVERSIONS: converted.get(variant, 0),
        }[metric]
        scores[variant] = Score(sent=sent_count(summary.statuses), hits=hits)
    return scores


def pick(plan: Plan, scores: dict[str, Score]) -> str:
    """The variant with the best rate; ties go to the earlier variant."""
    order: Sequence[str] = [v.key for v in plan.variants]
    return max(order, key=lambda key: (scores[key].rate, -order.index(key)))
