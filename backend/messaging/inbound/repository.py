"""SQL of inbound SMS."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import insert_ignoring_conflict
from backend.messaging.inbound.models import InboundSms


async def claim(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Store a message once per message id; False when it was already there (a redelivery)."""
    return await insert_ignoring_conflict(session, InboundSms, values, ["tenant_id", "message_sid"])


async def delete_of_profile(session: AsyncSession, profile_id: UUID) -> None:
    await session.execute(delete(InboundSms).where(InboundSms.profile_id == profile_id))


async def delete_from_phones(session: AsyncSession, phones: Sequence[str]) -> None:
    if phones:
        await session.execute(delete(InboundSms).where(InboundSms.from_phone.in_(phones)))
