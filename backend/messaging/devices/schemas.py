"""REST shapes of push devices (GraphQL derives its types from these)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from uuid import UUID

import msgspec

from backend.core.schemas import Schema, whole
from backend.messaging.devices.models import DeviceKind, DevicePlatform

# FCM registration tokens: base64url characters with an optional ``:`` (``<instance>:APA91b…``),
# about 150 to 200 characters today; a generous range, since Google documents no fixed length.
FcmToken = Annotated[
    str,
    msgspec.Meta(
        pattern=whole("[A-Za-z0-9_-]+(:[A-Za-z0-9_-]+)?"),
        min_length=100,
        max_length=4096,
        description="An FCM registration token.",
    ),
]
Base64Url = Annotated[str, msgspec.Meta(pattern=whole("[A-Za-z0-9_-]+={0,2}"), max_length=100)]


class SubscriptionKeys(Schema):
    """``p256dh``: the browser's P-256 public key (65 bytes, uncompressed), base64url;
    ``auth``: its 16-byte authentication secret, base64url."""

    p256dh: Base64Url
    auth: Base64Url


class WebPushSubscription(Schema):
    """A browser's ``PushSubscription.toJSON()``."""

    endpoint: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    keys: SubscriptionKeys
    expiration_time: int | None = None  # as browsers send it; not used


class DeviceRegister(Schema):
    """An FCM device (``kind: fcm`` with its ``token``) or a browser (``kind: webpush`` with its
    ``subscription``). Registering the same token or endpoint again updates that device (and
    moves it to this profile: whoever registers a device last receives on it)."""

    kind: DeviceKind
    token: FcmToken | None = None
    subscription: WebPushSubscription | None = None
    app_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    platform: DevicePlatform | None = None
    label: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class DeviceOut(Schema):
    id: UUID
    profile_id: UUID
    kind: DeviceKind
    address_hint: str
    app_id: str | None
    platform: DevicePlatform | None
    label: str | None
    last_seen_at: dt.datetime
    created_at: dt.datetime


class DevicePage(Schema):
    items: list[DeviceOut]
    next_cursor: str | None
