"""Push devices per profile: registration (validated, idempotent on the token or endpoint),
listing, removal, and what the send pipeline reads (:func:`devices_of`) and calls when a
provider answers that a token or subscription is gone (:func:`forget`)."""

from __future__ import annotations

import base64
import binascii
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.db import utcnow
from backend.core.errors import InvalidInput, NotFound
from backend.core.ids import new_id
from backend.core.pagination import PageRequest
from backend.core.signals import Signals
from backend.core.tenancy import TenantId
from backend.messaging.devices import repository
from backend.messaging.devices.models import DeviceKind, PushDevice, token_key
from backend.messaging.devices.schemas import DeviceRegister
from backend.messaging.providers.http import url_problem
from backend.profiles import service as profiles
from backend.profiles.service import PROFILE_MERGED

P256_POINT_BYTES = 65  # 0x04, X and Y: the uncompressed point RFC 8291 requires
AUTH_SECRET_BYTES = 16


def _b64url(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        return None


def _problems(settings: Settings, data: DeviceRegister) -> list[tuple[str, str]]:
    """What is wrong with a registration, as (JSON pointer, message) pairs."""
    if data.kind is DeviceKind.FCM:
        problems = [] if data.token else [("/token", "an fcm device needs its registration token")]
        if data.subscription is not None:
            problems.append(("/subscription", "an fcm device has a token, not a subscription"))
        return problems
    if data.token is not None:
        return [("/token", "a webpush device has a subscription, not a token")]
    subscription = data.subscription
    if subscription is None:
        return [("/subscription", "a webpush device needs the browser's subscription")]
    problems = []
    problem = url_problem(settings, subscription.endpoint)
    if problem:
        problems.append(("/subscription/endpoint", problem))
    point = _b64url(subscription.keys.p256dh)
    valid_point = point is not None and len(point) == P256_POINT_BYTES and point[0] == 4
    if valid_point:
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point or b"")
        except ValueError:
            valid_point = False
    if not valid_point:
        problems.append(
            ("/subscription/keys/p256dh", "expected an uncompressed P-256 point (65 bytes)")
        )
    secret = _b64url(subscription.keys.auth)
    if secret is None or len(secret) != AUTH_SECRET_BYTES:
        problems.append(("/subscription/keys/auth", "expected a 16-byte secret, base64url"))
    return problems


def validate(settings: Settings, data: DeviceRegister) -> None:
    """A 422 naming each bad field (its wire name and JSON pointer)."""
    problems = _problems(settings, data)
    if problems:
        errors = [
            {"field": pointer[1:].replace("/", "."), "pointer": pointer, "message": message}
            for pointer, message in problems
        ]
        raise InvalidInput(f"{problems[0][0][1:]}: {problems[0][1]}", errors=errors)


async def register(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    profile_id: UUID,
    data: DeviceRegister,
) -> tuple[PushDevice, bool]:
    """Register a device for a profile; the device and whether it was new. The same token or
    endpoint again updates its device (keys, app, label, owner) instead of adding one."""
    validate(settings, data)
    profile = await profiles.get_profile(session, profile_id)
    if data.kind is DeviceKind.FCM:
        assert data.token is not None
        token, p256dh, auth = data.token, None, None
    else:
        assert data.subscription is not None
        keys = data.subscription.keys
        token, p256dh, auth = data.subscription.endpoint, keys.p256dh, keys.auth
    now, fresh_id = utcnow(), new_id()
    device_id = await repository.upsert(
        session,
        {
            "id": fresh_id,
            "tenant_id": tenant,
            "profile_id": profile.id,
            "kind": data.kind,
            "token": token,
            "token_key": token_key(data.kind, token),
            "p256dh": p256dh,
            "auth": auth,
            "app_id": data.app_id,
            "platform": data.platform,
            "label": data.label,
            "last_seen_at": now,
            "created_at": now,
            "updated_at": now,
        },
    )
    device = await repository.get(session, device_id)
    assert device is not None
    return device, device_id == fresh_id


async def list_devices(
    session: AsyncSession, profile_id: UUID, page: PageRequest
) -> tuple[list[PushDevice], str | None]:
    """A profile's devices, oldest first."""
    profile = await profiles.get_profile(session, profile_id)
    return await repository.list_of_profile(session, profile.id, page)


async def count_devices(session: AsyncSession, profile_id: UUID) -> int:
    return await repository.count_of_profile(session, profile_id)


async def get_device(
    session: AsyncSession, device_id: UUID, profile_id: UUID | None = None
) -> PushDevice:
    device = await repository.get(session, device_id, profile_id)
    if device is None:
        raise NotFound("device not found")
    return device


async def delete_device(session: AsyncSession, device_id: UUID, profile_id: UUID | None) -> None:
    """Remove a device (the app signed out, the browser unsubscribed)."""
    device = await get_device(session, device_id, profile_id)
    await repository.delete_device(session, device.id)


# What the send pipeline uses -------------------------------------------------------------------


async def devices_of(session: AsyncSession, profile_id: UUID) -> list[PushDevice]:
    """Every device a push to this profile goes to (``device.kind`` names the provider kind,
    ``device.target`` is what :class:`OutgoingPush` carries)."""
    return await repository.all_of_profile(session, profile_id)


async def forget(session: AsyncSession, device_id: UUID) -> None:
    """The provider said the token or subscription is gone: the device goes (already gone is
    fine — a retried send may report it twice)."""
    await repository.delete_device(session, device_id)


# Receivers -------------------------------------------------------------------------------------


async def move_merged(
    session: AsyncSession, tenant: TenantId, survivor_id: UUID, merged_id: UUID
) -> None:
    """A merged profile's devices now reach the survivor."""
    await repository.move(session, merged_id, survivor_id)


def connect(signals: Signals) -> None:
    """Devices follow their profile's merge (a deletion cascades by foreign key)."""
    signals.connect(PROFILE_MERGED, move_merged)
