"""Sends in the ledger and the metering jobs, as billing tests need them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from uuid import UUID, uuid4

from litestar import Litestar

from backend.billing import metering
from backend.billing.metering import Counted
from backend.config import Settings
from backend.core.tenancy import TenantId
from backend.messaging import service as messaging_service
from backend.messaging.models import MessageChannel, MessagePriority, MessageStatus, SourceKind
from tests.factories import session_of
from tests.messaging.test_ledger import make_profile


async def sent(
    app: Litestar,
    brand_id: UUID,
    moments: Sequence[dt.datetime],
    channel: MessageChannel = MessageChannel.EMAIL,
) -> None:
    """Messages of the brand handed to their provider at ``moments`` (one profile)."""
    profile = await make_profile(app, brand_id, email=f"{uuid4().hex[:8]}@example.com")
    async with session_of(app, brand_id) as session:
        for moment in moments:
            message, _ = await messaging_service.record(
                session,
                TenantId(brand_id),
                source_kind=SourceKind.CAMPAIGN,
                source_key=uuid4().hex,
                profile_id=profile,
                channel=channel,
                template_id=uuid4(),
                priority=MessagePriority.CAMPAIGN,
            )
            message.status = MessageStatus.SENT
            message.sent_at = moment
        await session.commit()


async def meter(
    app: Litestar, brand_id: UUID, settings: Settings, now: dt.datetime | None = None
) -> Counted:
    """What ``billing.meter_brand`` does (one transaction)."""
    async with session_of(app, brand_id) as session:
        counted = await metering.meter_brand(session, TenantId(brand_id), settings, now)
        await session.commit()
    return counted


async def report(app: Litestar, settings: Settings) -> int:
    """What ``billing.send_reports`` does: claim — commit — send — record — commit."""
    async with session_of(app) as session:
        claimed = await metering.claim_reports(session, settings)
        await session.commit()
        outcomes = await metering.send_reports(settings, claimed)
        reported = await metering.record_sent(session, outcomes)
        await session.commit()
    return reported
