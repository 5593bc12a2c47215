"""Consents and subscriptions: brand topics, an append-only history whose latest change per
(channel, topic) is the current state, global unsubscribe, and derived contactability."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import utcnow
from backend.core.errors import Conflict, NotFound
from backend.core.pagination import PageRequest
from backend.core.signals import Signal, signals
from backend.profiles import repository, service  # a module: the service imports this one
from backend.profiles.fields import FieldErrors, can_receive_sms
from backend.profiles.models import Channel, ConsentChange, ConsentState, ConsentTopic, Profile
from backend.profiles.schemas import (
    ConsentChangeIn,
    ConsentOut,
    ConsentsOut,
    Contactability,
    TopicCreate,
    TopicUpdate,
)

# A consent may be dated a little ahead of the server clock, not more.
CLOCK_SKEW = dt.timedelta(minutes=5)

# (session, profile, change): a consent change appended to a profile's history, sent in its
# transaction.
CONSENT_CHANGED: Signal[[AsyncSession, Profile, ConsentChange]] = Signal("consent_changed")


# Topics ----------------------------------------------------------------------------------------


async def list_topics(
    session: AsyncSession, page: PageRequest
) -> tuple[list[ConsentTopic], str | None]:
    return await repository.list_topics(session, page)


async def get_topic(session: AsyncSession, topic_id: UUID) -> ConsentTopic:
    topic = await repository.get_topic(session, topic_id)
    if topic is None:
        raise NotFound("topic not found")
    return topic


async def create_topic(session: AsyncSession, data: TopicCreate) -> ConsentTopic:
    if await repository.topic_by_key(session, data.key) is not None:
        raise Conflict(f"topic {data.key!r} exists", errors=[{"field": "key"}])
    topic = ConsentTopic(key=data.key, label=data.label)
    session.add(topic)
    await session.flush()
    return topic


async def update_topic(session: AsyncSession, topic_id: UUID, data: TopicUpdate) -> ConsentTopic:
    topic = await get_topic(session, topic_id)
    topic.label = data.label
    await session.flush()
    return topic


async def delete_topic(session: AsyncSession, topic_id: UUID) -> None:
    """Delete a topic nobody ever subscribed to (history is never rewritten): 409 otherwise."""
    topic = await get_topic(session, topic_id)
    if await repository.topic_in_use(session, topic.key):
        raise Conflict("profiles have consent history on this topic", errors=[{"field": "key"}])
    await session.delete(topic)
    await session.flush()


# Changes ---------------------------------------------------------------------------------------


async def record_change(
    session: AsyncSession, profile_id: UUID, data: ConsentChangeIn
) -> ConsentChange:
    """Append a consent change to the profile's history (never overwriting an earlier one)."""
    profile = await service.get_profile(session, profile_id)
    return await append_change(session, profile, data)


async def append_change(
    session: AsyncSession, profile: Profile, data: ConsentChangeIn, *, field: str = ""
) -> ConsentChange:
    """Validate and append a change for a profile at hand; errors are named under ``field``."""
    errors = FieldErrors(prefix=field)
    if data.topic is not None:
        if data.channel is None:
            errors.add("channel", "a topic subscription names its channel")
        if await repository.topic_by_key(session, data.topic) is None:
            errors.add("topic", f"unknown topic {data.topic!r}")
    occurred_at = data.occurred_at or utcnow()
    if occurred_at.tzinfo is None:
        errors.add("occurredAt", "expected a date and time with its UTC offset")
    elif occurred_at > utcnow() + CLOCK_SKEW:
        errors.add("occurredAt", "in the future")
    errors.raise_if_any()
    change = ConsentChange(
        profile_id=profile.id,
        channel=data.channel,
        topic=data.topic,
        state=data.state,
        source=data.source,
        proof=data.proof,
        occurred_at=occurred_at,
    )
    session.add(change)
    await session.flush()
    await signals.send(CONSENT_CHANGED, session, profile, change)
    return change


async def current(session: AsyncSession, profile_id: UUID) -> tuple[Profile, list[ConsentChange]]:
    profile = await service.get_profile(session, profile_id)
    return profile, await repository.current_consents(session, [profile.id])


async def overview(session: AsyncSession, profile_id: UUID) -> ConsentsOut:
    """The current state of each channel and topic, and every channel's contactability."""
    profile, changes = await current(session, profile_id)
    return ConsentsOut(
        items=ConsentOut.many(changes), contactability=contactability(profile, changes)
    )


async def current_of_many(
    session: AsyncSession, profile_ids: Sequence[UUID]
) -> dict[UUID, list[ConsentChange]]:
    """Current consents of many profiles, in one query (for dataloaders)."""
    by_profile: dict[UUID, list[ConsentChange]] = {i: [] for i in profile_ids}
    for change in await repository.current_consents(session, profile_ids):
        by_profile.setdefault(change.profile_id, []).append(change)
    return by_profile


async def history(
    session: AsyncSession, profile_id: UUID, page: PageRequest
) -> tuple[list[ConsentChange], str | None]:
    """Every change, in the order it was recorded."""
    profile = await service.get_profile(session, profile_id)
    return await repository.consent_history(session, profile.id, page)


# Contactability --------------------------------------------------------------------------------

ALL: tuple[Channel, ...] = tuple(Channel)


class Addressed(Protocol):
    """What contactability reads of a profile (its row, or its output)."""

    @property
    def email(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def bounced(self) -> list[str]: ...
    @property
    def suppressed(self) -> list[str]: ...


def _address_problem(profile: Addressed, channel: Channel) -> str | None:
    if channel is Channel.EMAIL:
        return None if profile.email else "no-address"
    if channel in (Channel.SMS, Channel.PHONE):
        if not profile.phone:
            return "no-address"
        if channel is Channel.SMS and not can_receive_sms(profile.phone):
            return "invalid-address"  # a fixed line
        return None
    return "no-address"  # push tokens and postal addresses are not on the profile yet


def contactability(
    profile: Addressed, consents: Sequence[ConsentChange], channels: Sequence[Channel] = ALL
) -> list[Contactability]:
    """Per channel (every one, or those of ``channels``: the send gate asks for the message's
    alone): contactable when the address is present and valid, the channel's latest consent is
    granted and later than any global opt-out, and it neither bounced nor is suppressed.
    ``reasons`` says why not."""
    latest = {c.channel: c for c in consents if c.topic is None}
    overall = latest.get(None)
    answers = []
    for channel in channels:
        reasons = []
        problem = _address_problem(profile, channel)
        if problem:
            reasons.append(problem)
        consent = latest.get(channel)
        if consent is None:
            reasons.append("no-consent")
        elif consent.state is not ConsentState.GRANTED:
            reasons.append(f"consent-{consent.state.value}")
        if (
            overall is not None
            and overall.state is not ConsentState.GRANTED
            and (consent is None or overall.occurred_at >= consent.occurred_at)
        ):
            reasons.append("globally-unsubscribed")
        if channel.value in (profile.bounced or []):
            reasons.append("bounced")
        if channel.value in (profile.suppressed or []):
            reasons.append("suppressed")
        answers.append(Contactability(channel=channel, contactable=not reasons, reasons=reasons))
    return answers
