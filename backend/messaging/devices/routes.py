"""REST routes for a profile's push devices under
``/v1/brands/{brand_id}/profiles/{profile_id}/devices``: reads need ``messaging:read``, writes
``messaging:write``; another brand's profiles and devices answer 404."""

from __future__ import annotations

from uuid import UUID

from litestar import Response, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.auth.scopes import needs
from backend.core.api import READ_ERRORS, WRITE_ERRORS, BrandController
from backend.core.dependencies import DbSession, Paging, Tenant
from backend.messaging.devices import service
from backend.messaging.devices.schemas import DeviceOut, DevicePage, DeviceRegister


class DeviceController(BrandController):
    """Where a profile receives push messages: FCM registration tokens and browsers' web push
    subscriptions."""

    path = "/v1/brands/{brand_id:uuid}/profiles/{profile_id:uuid}/devices"
    tags = ["messaging"]

    @get(
        "/",
        operation_id="listDevices",
        summary="List a profile's push devices",
        **needs("messaging:read"),
        responses=READ_ERRORS,
    )
    async def list_devices(
        self, db_session: DbSession, page: Paging, profile_id: FromPath[UUID]
    ) -> DevicePage:
        """The profile's devices, oldest first (tokens and endpoints are shown as hints)."""
        items, cursor = await service.list_devices(db_session, profile_id, page)
        return DevicePage(DeviceOut.many(items), cursor)

    @post(
        "/",
        operation_id="registerDevice",
        summary="Register a push device",
        **needs("messaging:write"),
        status_code=HTTP_201_CREATED,
        responses={**WRITE_ERRORS},
    )
    async def register_device(
        self,
        db_session: DbSession,
        tenant: Tenant,
        state: State,
        profile_id: FromPath[UUID],
        data: JSONBody[DeviceRegister],
    ) -> Response[DeviceOut]:
        """Register an FCM token (`kind: fcm`, `token`) or a browser's subscription
        (`kind: webpush`, `subscription`: an https `endpoint`, `keys.p256dh` a 65-byte
        uncompressed P-256 point and `keys.auth` a 16-byte secret, both base64url); a bad one
        answers 422 naming the field. 201 for a new device; the same token or endpoint again
        answers 200 with its device, updated and moved to this profile."""
        device, created = await service.register(
            db_session, tenant, state.settings, profile_id, data
        )
        status = HTTP_201_CREATED if created else HTTP_200_OK
        return Response(DeviceOut.of(device), status_code=status)

    @get(
        "/{device_id:uuid}",
        operation_id="getDevice",
        summary="Read a push device",
        **needs("messaging:read"),
        responses=READ_ERRORS,
    )
    async def get_device(
        self, db_session: DbSession, profile_id: FromPath[UUID], device_id: FromPath[UUID]
    ) -> DeviceOut:
        """One device of the profile."""
        return DeviceOut.of(await service.get_device(db_session, device_id, profile_id))

    @delete(
        "/{device_id:uuid}",
        operation_id="deleteDevice",
        summary="Remove a push device",
        **needs("messaging:write"),
        status_code=HTTP_204_NO_CONTENT,
        responses=WRITE_ERRORS,
    )
    async def delete_device(
        self, db_session: DbSession, profile_id: FromPath[UUID], device_id: FromPath[UUID]
    ) -> None:
        """Remove a device (the app signed out, the browser unsubscribed)."""
        await service.delete_device(db_session, device_id, profile_id)
