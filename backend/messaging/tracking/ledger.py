"""The ledger as tracking sees it: find the message a report is about, add to its timeline and
move its status forward (never back: a late "delivered" after "clicked" changes no status)."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from backend.messaging.models import Message, MessageEvent, MessageStatus

# How far along a message is: a status moves only to a higher rank.
_RANK = {
    MessageStatus.QUEUED: 0,
    MessageStatus.DEFERRED: 0,
    MessageStatus.SENDING: 0,
    MessageStatus.SENT: 1,
    MessageStatus.BOUNCED_SOFT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.OPENED: 4,
    MessageStatus.CLICKED: 5,
    MessageStatus.UNSUBSCRIBED: 6,
    MessageStatus.COMPLAINED: 7,
    MessageStatus.BOUNCED_HARD: 8,
    MessageStatus.FAILED: 8,
    MessageStatus.REFUSED: 9,
}


async def message_by_id(session: AsyncSession, message_id: UUID) -> Message | None:
    found: Message | None = await session.scalar(select(Message).where(Message.id == message_id))
    return found


async def message_by_provider_id(
    session: AsyncSession, provider_message_id: str, account_id: UUID | None
) -> Message | None:
    """The message a provider knows as ``provider_message_id``, sent through ``account_id``."""
    query = select(Message).where(Message.provider_message_id == provider_message_id)
    if account_id is not None:
        query = query.where(Message.provider_account_id == account_id)
    found: Message | None = await session.scalar(query.order_by(Message.id.desc()).limit(1))
    return found


async def add_to_timeline(
    session: AsyncSession,
    message: Message,
    kind: MessageStatus,
    occurred_at: dt.datetime,
    *,
    detail: str | None = None,
    url: str | None = None,
) -> None:
    session.add(
        MessageEvent(
            tenant_id=message.tenant_id,
            message_id=message.id,
            kind=kind,
            occurred_at=occurred_at,
            detail=detail[:1000] if detail else None,
            url=url[:2048] if url else None,
        )
    )
    await session.flush()


async def advance(session: AsyncSession, message: Message, status: MessageStatus) -> bool:
    """Set the status if it is further along than the current one (one conditional UPDATE:
    concurrent reports cannot move it back). True when it moved."""
    rank = _RANK[status]
    behind = [s for s, r in _RANK.items() if r < rank]
    result = await session.execute(
        update(Message)
        .where(Message.id == message.id, Message.status.in_(behind))
        .values(status=status)
        .execution_options(synchronize_session=False)
    )
    moved = bool(getattr(result, "rowcount", 0))
    if moved:
        set_committed_value(message, "status", status)
    return moved
