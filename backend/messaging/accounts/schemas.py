"""What the REST API reads and writes for sender identities, provider accounts and captured
messages. Credentials go in and never come out (only the names of the fields set); a DKIM private
key goes in (or is generated) and only its DNS record comes out."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from uuid import UUID

import msgspec

from backend.core.schemas import Schema, whole
from backend.messaging.providers.base import ProviderKind
from backend.profiles.models import Channel

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Address = Annotated[
    str,
    msgspec.Meta(
        max_length=320, pattern=whole(r"[^@\s]+@[^@\s]+\.[^@\s]+"), examples=["news@brand.example"]
    ),
]
SmsSender = Annotated[
    str,
    msgspec.Meta(
        pattern=whole(r"\+[1-9][0-9]{6,14}|[A-Za-z0-9 ]{1,11}"),
        description="An E.164 number or an alphanumeric sender id (at most 11 characters).",
    ),
]
Selector = Annotated[
    str, msgspec.Meta(pattern=whole(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"), examples=["lv1"])
]
Domain = Annotated[
    str, msgspec.Meta(max_length=253, pattern=whole(r"([a-z0-9-]{1,63}\.)+[a-z]{2,63}"))
]
Fields = Annotated[
    dict[str, Any],
    msgspec.Meta(description="The provider kind's fields (see docs/MESSAGING.md, Providers)."),
]


class SenderIdentityCreate(Schema):
    """Who messages come from. The first identity of a brand becomes its default."""

    name: Name
    from_name: Name
    from_address: Address
    reply_to: Address | None = None
    sms_sender_id: SmsSender | None = None
    push_app_id: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    is_default: bool | None = None


class SenderIdentityUpdate(Schema):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    from_name: Name | msgspec.UnsetType = msgspec.UNSET
    from_address: Address | msgspec.UnsetType = msgspec.UNSET
    reply_to: Address | msgspec.UnsetType | None = msgspec.UNSET
    sms_sender_id: SmsSender | msgspec.UnsetType | None = msgspec.UNSET
    push_app_id: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    is_default: bool | msgspec.UnsetType = msgspec.UNSET


class DkimKeyIn(Schema):
    """A DKIM key for the identity's sending domain: uploaded (``privateKey``, RSA PEM) or, when
    absent, generated (RSA 2048). The answer shows the TXT record to publish; the private key is
    never shown."""

    selector: Selector
    domain: Domain | None = None  # default: the domain of the identity's from address
    private_key: Annotated[str, msgspec.Meta(max_length=20_000)] | None = None


class DkimRecordOut(Schema):
    domain: str
    selector: str
    dns_name: str
    dns_type: str
    dns_value: str


class SenderIdentityOut(Schema):
    id: UUID
    name: str
    from_name: str
    from_address: str
    reply_to: str | None
    sms_sender_id: str | None
    push_app_id: str | None
    is_default: bool
    dkim: DkimRecordOut | None
    created_at: dt.datetime
    updated_at: dt.datetime


class SenderIdentityPage(Schema):
    items: list[SenderIdentityOut]
    next_cursor: str | None


class ProviderAccountCreate(Schema):
    """A provider account. Its credentials are tried (a harmless call to the provider) before
    anything is stored: a credential the provider refuses answers 422 with its reason. The first
    account of a channel becomes its default."""

    kind: ProviderKind
    name: Name
    channel: Channel | None = None  # implied by the kind (required for `capture`)
    is_default: bool | None = None
    settings: Fields = {}
    credentials: Fields = {}
    identity_id: UUID | None = None


class ProviderAccountUpdate(Schema):
    """A partial change; new ``settings`` or ``credentials`` replace the old ones whole and are
    tried before they are stored."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    is_default: bool | msgspec.UnsetType = msgspec.UNSET
    settings: Fields | msgspec.UnsetType = msgspec.UNSET
    credentials: Fields | msgspec.UnsetType = msgspec.UNSET
    identity_id: UUID | msgspec.UnsetType | None = msgspec.UNSET


class ProviderAccountOut(Schema):
    id: UUID
    kind: ProviderKind
    channel: Channel
    name: str
    is_default: bool
    settings: dict[str, Any]
    credential_fields: list[str]
    identity_id: UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ProviderAccountPage(Schema):
    items: list[ProviderAccountOut]
    next_cursor: str | None


class CapturedMessageOut(Schema):
    id: UUID
    message_id: UUID
    channel: Channel
    recipient: str
    payload: dict[str, Any]
    created_at: dt.datetime


class CapturedMessagePage(Schema):
    items: list[CapturedMessageOut]
    next_cursor: str | None
