"""What a message's recipient does through its signed links: open (pixel or push), click,
unsubscribe in one click (RFC 8058), choose on the preference page. Each takes a verified
:class:`~backend.messaging.tracking.tokens.Token` and the session of the token's brand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import utcnow
from backend.messaging.models import Message, MessageStatus, SourceKind
from backend.messaging.tracking import ledger, outcomes, repository, unsubscribing
from backend.messaging.tracking.feedback import record_feedback
from backend.messaging.tracking.machine import machine_of, proxy_of
from backend.messaging.tracking.tokens import Token, TrackedChannel
from backend.messaging.tracking.unsubscribing import Preferences
from backend.profiles.models import Channel

__all__ = [
    "clicked",
    "engagement_by_source",
    "one_click_unsubscribe",
    "opened",
    "preference_choices",
    "preferences",
    "push_opened",
    "record_feedback",
]

ONE_CLICK_SOURCE = "one-click-unsubscribe"
PREFERENCE_SOURCE = "preference-page"


def _channel(token: Token) -> Channel:
    return Channel(token.channel.slug)


async def _message(session: AsyncSession, token: Token) -> Message | None:
    message = await ledger.message_by_id(session, token.message_id)
    # The token names the channel it was made for: a message of another channel is not it.
    if message is None or message.channel.value != token.channel.slug:
        return None
    return message


async def opened(
    session: AsyncSession,
    token: Token,
    *,
    user_agent: str | None,
    address: str | None,
    now: dt.datetime | None = None,
) -> None:
    """The open pixel was fetched: the first open by a person is recorded once (event
    ``email_opened``, webhook ``message.opened``), later ones counted; a machine's (privacy
    proxy, scanner, prefetch) counted apart."""
    now = now or utcnow()
    message = await _message(session, token)
    if message is None:
        return
    machine = machine_of(user_agent, address, message.sent_at, now)
    proxy = proxy_of(user_agent)
    seen = outcomes.Seen(
        MessageStatus.OPENED,
        now,
        machine=machine.value if machine else None,
        detail=f"through the {proxy} image proxy" if proxy else None,
        properties={"proxy": proxy} if proxy else None,
    )
    await outcomes.record(session, message, seen)


async def push_opened(session: AsyncSession, token: Token, now: dt.datetime | None = None) -> None:
    """The app reported that the push was opened (``push_opened``, once per message)."""
    message = await _message(session, token)
    if message is not None:
        seen = outcomes.Seen(MessageStatus.OPENED, now or utcnow())
        await outcomes.record(session, message, seen)


async def clicked(
    session: AsyncSession,
    token: Token,
    *,
    user_agent: str | None,
    address: str | None,
    now: dt.datetime | None = None,
) -> str:
    """A signed link was followed: where to redirect (the link signed at send, whatever becomes
    of the message). The first click of each link by a person is recorded once
    (``email_clicked`` / ``sms_clicked`` / ``push_clicked``, ``message.clicked``) and implies an
    open (images are often blocked); a scanner's click is counted apart."""
    now = now or utcnow()
    message = await _message(session, token)
    if message is None:
        return token.url
    machine = machine_of(user_agent, address, message.sent_at, now)
    seen = outcomes.Seen(
        MessageStatus.CLICKED,
        now,
        url=token.url,
        link_index=token.link_index,
        machine=machine.value if machine else None,
        properties={"linkIndex": token.link_index},
    )
    await outcomes.record(session, message, seen)
    if machine is None and token.channel is not TrackedChannel.SMS:
        implied = outcomes.Seen(MessageStatus.OPENED, now, detail="implied by a click")
        await outcomes.record(session, message, implied)
    return token.url


async def one_click_unsubscribe(
    session: AsyncSession, token: Token, now: dt.datetime | None = None
) -> None:
    """RFC 8058: unsubscribe the recipient from the message's topic on its channel (the
    channel itself for a message without topic). Safe to repeat and to race: the message's
    ``unsubscribed`` sighting is claimed first, so concurrent posts queue behind the first, and
    a consent already unsubscribed is not changed again."""
    assert token.profile_id is not None
    now = now or utcnow()
    seen = outcomes.Seen(MessageStatus.UNSUBSCRIBED, now, detail="one-click (RFC 8058)")
    first = await outcomes.claim(session, token.message_id, seen)
    await unsubscribing.opt_out(
        session, token.profile_id, _channel(token), token.topic, source=ONE_CLICK_SOURCE
    )
    message = await _message(session, token)
    if first and message is not None:
        await outcomes.apply(session, message, seen)


async def preferences(session: AsyncSession, token: Token) -> Preferences | None:
    """What the preference page shows; None when the person is gone."""
    assert token.profile_id is not None
    return await unsubscribing.preferences(session, token.profile_id, _channel(token), token.topic)


async def preference_choices(
    session: AsyncSession,
    token: Token,
    *,
    subscribed_topics: set[str],
    channel_subscribed: bool,
    now: dt.datetime | None = None,
) -> Preferences | None:
    """Record the choices made on the preference page; the page as it is after them. Leaving
    the message's topic (or the channel) counts as unsubscribing from the message."""
    assert token.profile_id is not None
    channel = _channel(token)
    await unsubscribing.choose(
        session,
        token.profile_id,
        channel,
        subscribed_topics=subscribed_topics,
        channel_subscribed=channel_subscribed,
        source=PREFERENCE_SOURCE,
    )
    left = not channel_subscribed or (
        token.topic is not None and token.topic not in subscribed_topics
    )
    if left:
        message = await _message(session, token)
        if message is not None:
            seen = outcomes.Seen(MessageStatus.UNSUBSCRIBED, now or utcnow(), detail="preferences")
            await outcomes.record(session, message, seen)
    return await unsubscribing.preferences(session, token.profile_id, channel, token.topic)


async def forget_before(session: AsyncSession, message_id_floor: UUID) -> None:
    """The ledger's retention: sightings go with the messages they were of."""
    await repository.delete_sightings_before(session, message_id_floor)


async def engagement_by_source(
    session: AsyncSession, source_kind: SourceKind, source_keys: Sequence[str], since: UUID
) -> dict[str, tuple[int, int]]:
    """Per source key: (messages a person opened, messages clicked), of the messages created
    from ``since`` (an id floor); machine opens do not count."""
    return await repository.engagement_by_source(session, source_kind, source_keys, since)
