"""Applying what a provider reports about a message it took (verified by the provider's own
module): the ledger's timeline and status, suppression of the address, events and webhooks.

A report may arrive twice (providers retry until they get a 2xx): each kind of report is applied
once per message, the repeats only counted (:mod:`backend.messaging.tracking.outcomes`).

Addresses: a hard bounce marks the profile's channel as **bounced**, a complaint as
**suppressed** (``Profile.bounced`` / ``Profile.suppressed``, changed through the profiles
service); the send gate refuses both. Soft bounces are counted per address in a row (one per
message): at :data:`SOFT_BOUNCE_LIMIT` the address counts as hard-bounced; a delivery ends the
run.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import NotFound
from backend.core.tenancy import TenantId
from backend.messaging.models import Message, MessageStatus
from backend.messaging.providers.base import Feedback, FeedbackKind
from backend.messaging.tracking import ledger, outcomes, repository, unsubscribing
from backend.profiles import service as profiles_service
from backend.profiles.models import Channel
from backend.profiles.schemas import ProfileUpdate

# Soft bounces in a row (over distinct messages, no delivery between) after which an address is
# treated as hard-bounced: mailbox full or server down for days is as good as gone.
SOFT_BOUNCE_LIMIT = 5

_STATUS = {
    FeedbackKind.DELIVERED: MessageStatus.DELIVERED,
    FeedbackKind.BOUNCED_SOFT: MessageStatus.BOUNCED_SOFT,
    FeedbackKind.BOUNCED_HARD: MessageStatus.BOUNCED_HARD,
    FeedbackKind.COMPLAINED: MessageStatus.COMPLAINED,
    FeedbackKind.OPENED: MessageStatus.OPENED,
    FeedbackKind.CLICKED: MessageStatus.CLICKED,
    FeedbackKind.UNSUBSCRIBED: MessageStatus.UNSUBSCRIBED,
    FeedbackKind.FAILED: MessageStatus.FAILED,
}


async def find_message(
    session: AsyncSession, feedback: Feedback, account_id: UUID | None = None
) -> Message | None:
    """The message a report is about: by our id when the provider echoed it (and it went out
    through ``account_id``), else by the provider's id on that account."""
    if feedback.message_id is not None:
        message = await ledger.message_by_id(session, feedback.message_id)
        if message is not None and (
            account_id is None
            or message.provider_account_id is None
            or message.provider_account_id == account_id
        ):
            return message
    if feedback.provider_message_id:
        return await ledger.message_by_provider_id(
            session, feedback.provider_message_id, account_id
        )
    return None


async def record_feedback(
    session: AsyncSession, feedback: Feedback, *, account_id: UUID | None = None
) -> bool:
    """Apply one verified report to the session's brand (the callback's account's brand):
    True when it changed something, False for a repeat or a message this brand never sent
    through ``account_id``. ``deferred`` reports go on the timeline only."""
    message = await find_message(session, feedback, account_id)
    if message is None:
        return False
    if feedback.kind is FeedbackKind.DEFERRED:
        seen = f"deferred:{feedback.occurred_at.isoformat()}"
        if await repository.sight(session, message.id, seen, feedback.occurred_at) != 1:
            return False
        await ledger.add_to_timeline(
            session,
            message,
            MessageStatus.DEFERRED,
            feedback.occurred_at,
            detail=feedback.detail or "the provider deferred delivery",
        )
        return True
    kind = _STATUS[feedback.kind]
    first = await outcomes.record(
        session,
        message,
        outcomes.Seen(kind, feedback.occurred_at, detail=feedback.detail, url=feedback.url),
    )
    if not first:
        return False
    channel = Channel(message.channel.value)
    if kind is MessageStatus.DELIVERED:
        await repository.end_soft_bounce_run(session, message.profile_id, channel.value)
    elif kind is MessageStatus.BOUNCED_HARD:
        await mark_address(session, message, bounced=True)
    elif kind is MessageStatus.BOUNCED_SOFT:
        run = await repository.count_soft_bounce(
            session, message.profile_id, channel.value, feedback.occurred_at
        )
        if run >= SOFT_BOUNCE_LIMIT:
            await mark_address(session, message, bounced=True)
    elif kind is MessageStatus.COMPLAINED:
        await mark_address(session, message, bounced=False)
    elif kind is MessageStatus.UNSUBSCRIBED:
        await unsubscribing.opt_out(
            session, message.profile_id, channel, message.topic, source="provider"
        )
    return True


async def mark_address(session: AsyncSession, message: Message, *, bounced: bool) -> None:
    """Mark the profile's address on the message's channel as bounced (or suppressed: a
    complaint), through the profiles service (its change signals and audit apply)."""
    tenant = TenantId(message.tenant_id)
    try:
        profile = await profiles_service.get_profile(session, message.profile_id)
    except (NotFound, profiles_service.ProfileMerged):
        return  # the person is gone or merged: nothing to mark on this profile
    channel = message.channel.value
    current = list(profile.bounced if bounced else profile.suppressed) or []
    if channel in current:
        return
    marked = [Channel(c) for c in sorted({*current, channel})]
    update = ProfileUpdate(bounced=marked) if bounced else ProfileUpdate(suppressed=marked)
    await profiles_service.update_profile(session, tenant, profile.id, update)
