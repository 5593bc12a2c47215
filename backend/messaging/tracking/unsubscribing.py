"""Consent changes made by a message's recipient: RFC 8058 one-click unsubscribe, the
preference page, a provider's unsubscribe report. Through the profiles' consents service (its
history, signals and ``consent.changed`` webhooks apply)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import NotFound
from backend.core.pagination import MAX_LIMIT, PageRequest
from backend.profiles import consents
from backend.profiles import service as profiles_service
from backend.profiles.models import Channel, ConsentChange, ConsentState, Profile
from backend.profiles.schemas import ConsentChangeIn


@dataclass(frozen=True, slots=True)
class TopicChoice:
    key: str
    label: str
    subscribed: bool


@dataclass(frozen=True, slots=True)
class Preferences:
    """What the preference page shows: the channel as a whole, and each of the brand's topics
    on it (subscribed when its latest consent on that channel is granted)."""

    channel: Channel
    channel_subscribed: bool
    topics: list[TopicChoice]
    message_topic: str | None


async def _profile(session: AsyncSession, profile_id: UUID) -> Profile | None:
    try:
        return await profiles_service.get_profile(session, profile_id)
    except (NotFound, profiles_service.ProfileMerged):
        return None  # erased, deleted or merged: the link no longer reaches a person


def _latest(changes: list[ConsentChange], channel: Channel, topic: str | None) -> ConsentState:
    for change in changes:
        if change.channel == channel and change.topic == topic:
            return change.state
    return ConsentState.GRANTED if topic is None else ConsentState.DENIED


async def opt_out(
    session: AsyncSession,
    profile_id: UUID,
    channel: Channel,
    topic: str | None,
    *,
    source: str,
) -> bool:
    """Unsubscribe the profile from ``topic`` on ``channel`` (the channel itself when the
    topic is None, or no longer exists); nothing when already unsubscribed. True when a change
    was recorded."""
    profile = await _profile(session, profile_id)
    if profile is None:
        return False
    if topic is not None and await _topic_label(session, topic) is None:
        topic = None
    _, changes = await consents.current(session, profile.id)
    if _latest(changes, channel, topic) is ConsentState.UNSUBSCRIBED:
        return False
    change = ConsentChangeIn(
        state=ConsentState.UNSUBSCRIBED, source=source, channel=channel, topic=topic
    )
    await consents.append_change(session, profile, change)
    return True


async def _topics(session: AsyncSession) -> list[tuple[str, str]]:
    topics, _ = await consents.list_topics(session, PageRequest(limit=MAX_LIMIT))
    return sorted(((t.key, t.label) for t in topics), key=lambda t: t[1].lower())


async def _topic_label(session: AsyncSession, key: str) -> str | None:
    return next((label for k, label in await _topics(session) if k == key), None)


async def preferences(
    session: AsyncSession, profile_id: UUID, channel: Channel, message_topic: str | None
) -> Preferences | None:
    """The profile's choices on ``channel``; None when the profile is gone."""
    profile = await _profile(session, profile_id)
    if profile is None:
        return None
    _, changes = await consents.current(session, profile.id)
    choices = [
        TopicChoice(key, label, _latest(changes, channel, key) is ConsentState.GRANTED)
        for key, label in await _topics(session)
    ]
    channel_on = _latest(changes, channel, None) is not ConsentState.UNSUBSCRIBED
    return Preferences(channel, channel_on, choices, message_topic)


async def choose(
    session: AsyncSession,
    profile_id: UUID,
    channel: Channel,
    *,
    subscribed_topics: set[str],
    channel_subscribed: bool,
    source: str,
) -> int:
    """Record what the person chose on the preference page: a change per topic (and for the
    channel) whose state differs from the current one; how many were recorded."""
    profile = await _profile(session, profile_id)
    if profile is None:
        return 0
    _, changes = await consents.current(session, profile.id)
    wanted: list[tuple[str | None, ConsentState]] = []
    for key, _label in await _topics(session):
        current = _latest(changes, channel, key) is ConsentState.GRANTED
        if (key in subscribed_topics) != current:
            state = ConsentState.GRANTED if key in subscribed_topics else ConsentState.UNSUBSCRIBED
            wanted.append((key, state))
    if channel_subscribed != (_latest(changes, channel, None) is not ConsentState.UNSUBSCRIBED):
        state = ConsentState.GRANTED if channel_subscribed else ConsentState.UNSUBSCRIBED
        wanted.append((None, state))
    for topic, state in wanted:
        change = ConsentChangeIn(state=state, source=source, channel=channel, topic=topic)
        await consents.append_change(session, profile, change)
    return len(wanted)
