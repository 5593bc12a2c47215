"""What raises triggers from other domains: the events an ingestion accepted (event triggers),
the carts those events open and close (abandoned-cart triggers), and profile writes
(profile-change triggers). Connected by :func:`connect`."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.signals import Signals
from backend.core.tenancy import TenantId
from backend.events import service as events_service
from backend.profiles import service as profiles_service
from backend.profiles.models import Profile
from backend.triggers import service
from backend.triggers.service import AcceptedEvent


def cart_key(profile_id: UUID, cart_id: str) -> str:
    """A cart's key for abandoned-cart checks: events name carts per profile."""
    return f"{profile_id}:{cart_id}"


async def events_accepted(
    session: AsyncSession, tenant: TenantId, events: Sequence[events_service.AcceptedEvent]
) -> None:
    await service.on_events_accepted(
        session,
        tenant,
        [
            AcceptedEvent(
                id=str(event.id),
                name=event.name,
                profile_id=event.profile_id,
                occurred_at=event.occurred_at,
                properties=event.properties,
            )
            for event in events
        ],
    )
    for change in events_service.cart_changes(events):
        if change.still_open and change.cart_id is not None:
            await service.cart_updated(
                session,
                tenant,
                profile_id=change.profile_id,
                cart_id=cart_key(change.profile_id, change.cart_id),
                updated_at=change.changed_at,
            )
        elif change.cart_id is not None:
            await service.cart_closed(
                session,
                tenant,
                profile_id=change.profile_id,
                cart_id=cart_key(change.profile_id, change.cart_id),
            )
        else:  # an order naming no cart converts every open cart of the profile
            await service.profile_carts_closed(session, tenant, profile_id=change.profile_id)


async def profile_changed(
    session: AsyncSession,
    tenant: TenantId,
    profile: Profile,
    created: bool,
    changed: frozenset[str],
) -> None:
    await service.on_profile_changed(session, tenant, profile, changed)


def connect(signals: Signals) -> None:
    """Connect what raises triggers to the events' and profiles' signals."""
    signals.connect(events_service.EVENTS_ACCEPTED, events_accepted)
    signals.connect(profiles_service.PROFILE_CHANGED, profile_changed)
