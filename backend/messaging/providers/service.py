"""What the capture provider kept, for the API and ``/dev/outbox``. Services never commit."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import NotFound
from backend.core.pagination import PageRequest
from backend.core.signals import Signals
from backend.core.tenancy import TenantId
from backend.messaging.providers import repository
from backend.messaging.providers.models import CapturedMessage
from backend.profiles.models import Channel


async def list_captured(
    session: AsyncSession, page: PageRequest, channel: Channel | None = None
) -> tuple[list[CapturedMessage], str | None]:
    """The brand's captured messages, newest first."""
    return await repository.list_captured(session, page, channel)


async def count_captured(session: AsyncSession, channel: Channel | None = None) -> int:
    return await repository.count_captured(session, channel)


async def get_captured(session: AsyncSession, captured_id: UUID) -> CapturedMessage:
    captured = await repository.get_captured(session, captured_id)
    if captured is None:
        raise NotFound("captured message not found")
    return captured


async def captured_of_message(session: AsyncSession, message_id: UUID) -> CapturedMessage | None:
    """What was captured for one ledger message, if anything."""
    return await repository.captured_by_message(session, message_id)


async def latest_emails(session: AsyncSession, limit: int = 20) -> list[CapturedMessage]:
    """The brand's latest captured emails, newest first (``/dev/outbox``); each ``payload`` is
    the :class:`OutgoingEmail` handed to the provider (``subject``, ``html``, ``text``,
    ``to_address``, ``headers``…)."""
    items, _ = await repository.list_captured(session, PageRequest(limit=limit), Channel.EMAIL)
    return items


async def forget_erased(
    session: AsyncSession, tenant: TenantId, identifiers: Sequence[tuple[str, str]]
) -> None:
    """An erased person's kept messages go: they hold the address and the personalised content."""
    await repository.delete_captured_to(session, [value for _, value in identifiers])


def connect(signals: Signals) -> None:
    from backend.profiles.service import PROFILE_ERASED

    signals.connect(PROFILE_ERASED, forget_erased)
