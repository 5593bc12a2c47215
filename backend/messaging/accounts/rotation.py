"""Secret key rotation for messaging secrets, brand by brand (``levier reseal-secrets``).

1. set ``LEVIER_SECRET_KEY`` to the new key and list the old one in
   ``LEVIER_PREVIOUS_SECRET_KEYS`` (everything still decrypts);
2. run ``levier reseal-secrets``: each brand's provider credentials and DKIM keys are encrypted
   again with the new key, one committed transaction per brand (safe to run again);
3. drop the old key from ``LEVIER_PREVIOUS_SECRET_KEYS``."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.core.tenancy import TenantId, open_session
from backend.messaging.accounts import service
from backend.tenancy import service as tenancy_service


async def reseal_all(factory: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    """Reseal every brand's messaging secrets; returns how many values were resealed."""
    async with open_session(factory, actor="operator:reseal") as session:
        brand_ids = await tenancy_service.all_brand_ids(session)
    total = 0
    for brand_id in brand_ids:
        async with open_session(factory, TenantId(brand_id), actor="operator:reseal") as session:
            total += await service.reseal_secrets(session, settings)
            await session.commit()
    return total
