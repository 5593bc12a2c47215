"""A profile's push devices: FCM registration tokens and browser web push subscriptions."""

from __future__ import annotations

import datetime as dt
import hashlib
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from sqlalchemy import (
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, TimestampMixin, string_enum, utcnow
from backend.profiles.models import TenantKeyMixin

HINT_CHARS = 16


class DeviceKind(StrEnum):
    FCM = "fcm"  # an app instance's registration token (Android, iOS, web through Firebase)
    WEBPUSH = "webpush"  # a browser's PushSubscription (RFC 8030 endpoint and RFC 8291 keys)


class DevicePlatform(StrEnum):
    ANDROID = "android"
    IOS = "ios"
    WEB = "web"


def token_key(kind: DeviceKind, token: str) -> str:
    """The unique key of a token or endpoint (either may be kilobytes long)."""
    return hashlib.sha256(f"{kind.value}:{token}".encode()).hexdigest()


class PushDevice(TenantKeyMixin, TimestampMixin, Base):
    """One place a profile receives push messages. The same token or endpoint is one device per
    brand: registering it again (from the same or another profile) updates that device."""

    __tablename__ = "push_devices"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "token_key"),
        Index("ix_push_devices_tenant_id_profile_id", "tenant_id", "profile_id"),
        ForeignKeyConstraint(
            ["tenant_id", "profile_id"], ["profiles.tenant_id", "profiles.id"], ondelete="CASCADE"
        ),
    )

    profile_id: Mapped[UUID]
    kind: Mapped[DeviceKind] = mapped_column(string_enum(DeviceKind, "push_device_kind"))
    # FCM: the registration token; web push: the subscription's endpoint URL.
    token: Mapped[str] = mapped_column(Text)
    token_key: Mapped[str] = mapped_column(String(64))
    p256dh: Mapped[str | None] = mapped_column(String(100))  # web push: the browser's key
    auth: Mapped[str | None] = mapped_column(String(40))  # web push: the auth secret
    app_id: Mapped[str | None] = mapped_column(String(200))  # the push app (sender identity)
    platform: Mapped[DevicePlatform | None] = mapped_column(
        string_enum(DevicePlatform, "push_device_platform")
    )
    label: Mapped[str | None] = mapped_column(String(200))
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def target(self) -> dict[str, Any]:
        """What :class:`~backend.messaging.providers.base.OutgoingPush` carries to the provider."""
        if self.kind is DeviceKind.FCM:
            return {"token": self.token}
        return {"endpoint": self.token, "keys": {"p256dh": self.p256dh, "auth": self.auth}}

    @property
    def address_hint(self) -> str:
        """The token's first characters, or the push service of an endpoint: enough to tell
        devices apart without showing what addresses them."""
        if self.kind is DeviceKind.WEBPUSH:
            parts = urlsplit(self.token)
            return f"{parts.scheme}://{parts.netloc}/…"
        return self.token[:HINT_CHARS] + "…"
