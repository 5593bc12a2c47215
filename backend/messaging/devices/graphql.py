"""GraphQL of push devices: the REST shapes (`backend.messaging.devices.schemas`) and the same
service."""

from __future__ import annotations

from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_results import Deleted, parse_id
from backend.core.relay import Connection, Node
from backend.messaging.devices import service
from backend.messaging.devices.models import DeviceKind, DevicePlatform
from backend.messaging.devices.schemas import (
    DeviceOut,
    DeviceRegister,
    SubscriptionKeys,
    WebPushSubscription,
)

READ, WRITE = "messaging:read", "messaging:write"
graphql_enum(DeviceKind, "PushDeviceKind")
graphql_enum(DevicePlatform, "PushDevicePlatform")


async def _load_device(session: AsyncSession, device_id: UUID) -> DeviceOut:
    return DeviceOut.of(await service.get_device(session, device_id))


def _settings(unit: BrandUnit) -> Settings:
    request = unit.context.request
    assert request is not None
    settings: Settings = request.app.state.settings
    return settings


@entity_type(DeviceOut, name="PushDevice", node=(READ, _load_device))
class PushDeviceType(Node):
    """Where a profile receives push messages (an FCM token or a web push subscription)."""


@input_type(SubscriptionKeys, name="WebPushSubscriptionKeysInput")
class WebPushSubscriptionKeysInput:
    pass


@input_type(WebPushSubscription, name="WebPushSubscriptionInput")
class WebPushSubscriptionInput:
    pass


@input_type(DeviceRegister, name="RegisterDeviceInput")
class RegisterDeviceInput:
    profile_id: strawberry.ID


@strawberry.input(description="Names one push device.")
class DeviceIdInput:
    id: strawberry.ID


@strawberry.type
class DevicesQuery:
    @brand_query(READ)
    async def devices(
        self, unit: BrandUnit, profile_id: strawberry.ID, first: int = 50, after: str | None = None
    ) -> Connection[PushDeviceType]:
        """A profile's push devices, oldest first."""
        page = unit.page(first, after)
        profile = parse_id(profile_id, "Profile")
        items, cursor = await service.list_devices(unit.session, profile, page)

        async def count(session: AsyncSession) -> int:
            return await service.count_devices(session, profile)

        return unit.connection(DeviceOut.many(items), cursor, page, count=count)

    @brand_query(READ, missing_is_null=True)
    async def device(self, unit: BrandUnit, id: strawberry.ID) -> PushDeviceType | None:
        """One push device (null when the brand has none with this id)."""
        return await _load_device(unit.session, parse_id(id, "PushDevice"))


@strawberry.type
class DevicesMutation:
    @brand_mutation(WRITE)
    async def register_device(self, unit: BrandUnit, input: RegisterDeviceInput) -> PushDeviceType:
        """Register an FCM token or a web push subscription for a profile (the same token or
        endpoint again updates its device)."""
        device, _ = await service.register(
            unit.session,
            unit.tenant,
            _settings(unit),
            parse_id(input.profile_id, "Profile"),
            struct_of(DeviceRegister, input),
        )
        return DeviceOut.of(device)

    @brand_mutation(WRITE)
    async def delete_device(self, unit: BrandUnit, input: DeviceIdInput) -> Deleted:
        """Remove a push device."""
        await service.delete_device(unit.session, parse_id(input.id, "PushDevice"), None)
        return Deleted(id=input.id)
