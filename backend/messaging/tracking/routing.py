"""Which brand a provider account's callback URL belongs to (read before any brand scope)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.db import insert_ignoring_conflict
from backend.core.tenancy import TenantId, required_tenant
from backend.messaging.tracking.models import MessagingHookRoute

HOOK_PATH = "/v1/hooks/messaging/"


def callback_url(settings: Settings, account_id: UUID) -> str:
    """The URL to give the provider for an account's delivery reports."""
    return settings.public_url.rstrip("/") + HOOK_PATH + str(account_id)


async def route_account(session: AsyncSession, account_id: UUID) -> None:
    """Make the account's callback URL reach the session's brand (called when an account is
    created; idempotent)."""
    await insert_ignoring_conflict(
        session,
        MessagingHookRoute,
        # A provider account is a brand's: the session must be scoped to one.
        {"account_id": account_id, "brand_id": required_tenant(session)},
        ["account_id"],
    )


async def brand_of_account(session: AsyncSession, account_id: UUID) -> TenantId | None:
    """The brand an account's callback URL belongs to (read without a brand scope)."""
    brand = await session.scalar(
        select(MessagingHookRoute.brand_id).where(MessagingHookRoute.account_id == account_id)
    )
    return TenantId(brand) if brand is not None else None
