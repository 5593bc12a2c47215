"""Queries of the providers' own tables (the session adds the brand to each)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import insert_ignoring_conflict
from backend.core.ids import new_id
from backend.core.pagination import PageRequest, count_rows, encode_cursor
from backend.core.tenancy import required_tenant
from backend.messaging.providers.models import CapturedMessage, FeedbackToken
from backend.profiles.models import Channel


async def capture(
    session: AsyncSession,
    *,
    message_id: UUID,
    channel: Channel,
    recipient: str,
    payload: dict[str, Any],
) -> bool:
    """Keep a message once; False when it was kept before."""
    values = {
        "tenant_id": required_tenant(session),
        "id": new_id(),
        "message_id": message_id,
        "channel": channel,
        "recipient": recipient[:2000],
        "payload": payload,
    }
    return await insert_ignoring_conflict(
        session, CapturedMessage, values, ["tenant_id", "message_id"]
    )


def _listed(channel: Channel | None) -> Any:
    query = select(CapturedMessage)
    if channel is not None:
        query = query.where(CapturedMessage.channel == channel)
    return query


async def list_captured(
    session: AsyncSession, page: PageRequest, channel: Channel | None
) -> tuple[list[CapturedMessage], str | None]:
    """Newest first (time-ordered ids, descending)."""
    query = _listed(channel)
    if page.after is not None:
        query = query.where(CapturedMessage.id < page.after)
    query = query.order_by(CapturedMessage.id.desc()).limit(page.limit + 1)
    items = list((await session.scalars(query)).all())
    cursor = None
    if len(items) > page.limit:
        items = items[: page.limit]
        cursor = encode_cursor(items[-1].id)
    return items, cursor


async def count_captured(session: AsyncSession, channel: Channel | None) -> int:
    return await count_rows(session, _listed(channel))


async def get_captured(session: AsyncSession, captured_id: UUID) -> CapturedMessage | None:
    return await session.scalar(select(CapturedMessage).where(CapturedMessage.id == captured_id))


async def delete_captured_to(session: AsyncSession, recipients: Sequence[str]) -> None:
    """Delete what was kept for these addresses (compared without case)."""
    lowered = [recipient.lower() for recipient in recipients]
    await session.execute(
        delete(CapturedMessage).where(func.lower(CapturedMessage.recipient).in_(lowered))
    )


async def captured_by_message(session: AsyncSession, message_id: UUID) -> CapturedMessage | None:
    query = select(CapturedMessage).where(CapturedMessage.message_id == message_id)
    return await session.scalar(query)


async def claim_token(session: AsyncSession, provider: str, token: str) -> bool:
    """True the first time; the primary key decides between racing callbacks."""
    values = {
        "tenant_id": required_tenant(session),
        "provider": provider,
        "token": token[:200],
    }
    return await insert_ignoring_conflict(
        session, FeedbackToken, values, ["tenant_id", "provider", "token"]
    )


async def forget_tokens_before(session: AsyncSession, before: dt.datetime) -> None:
    await session.execute(delete(FeedbackToken).where(FeedbackToken.created_at < before))
