"""What the REST API reads and writes for OAuth clients."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Self
from uuid import UUID

import msgspec

from backend.core.schemas import Schema, whole

if TYPE_CHECKING:
    from backend.auth.clients import ClientView

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
RedirectUri = Annotated[
    str, msgspec.Meta(min_length=1, max_length=2000, examples=["https://app.example.com/callback"])
]
ScopeName = Annotated[
    str, msgspec.Meta(pattern=whole(r"[a-z]+:(\*|[a-z]+)"), examples=["profiles:read"])
]


class ClientCreate(Schema):
    name: Name
    brand_ids: list[UUID] = []
    # Without scopes: every brand scope for a confidential client, every scope for a public one.
    scopes: list[ScopeName] | None = None
    public: bool = False
    redirect_uris: list[RedirectUri] = []
    first_party: bool = False


class ClientUpdate(Schema):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    brand_ids: list[UUID] | msgspec.UnsetType = msgspec.UNSET
    scopes: list[ScopeName] | msgspec.UnsetType = msgspec.UNSET
    redirect_uris: list[RedirectUri] | msgspec.UnsetType = msgspec.UNSET
    first_party: bool | msgspec.UnsetType = msgspec.UNSET
    disabled: bool | msgspec.UnsetType = msgspec.UNSET


class ClientOut(Schema):
    id: UUID  # the OAuth client_id
    agency_id: UUID
    name: str
    public: bool
    first_party: bool
    redirect_uris: list[str]
    scopes: list[str]
    brand_ids: list[UUID]
    secret_prefix: str | None
    disabled: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of_view(cls, view: ClientView) -> Self:
        """A client with the brands it is granted (scopes listed, disabled as a flag)."""
        client = view.client
        return cls(
            id=client.id,
            agency_id=client.agency_id,
            name=client.name,
            public=client.public,
            first_party=client.first_party,
            redirect_uris=list(client.redirect_uris),
            scopes=client.scopes.split(),
            brand_ids=view.brand_ids,
            secret_prefix=client.secret_prefix,
            disabled=client.disabled_at is not None,
            created_at=client.created_at,
            updated_at=client.updated_at,
        )


class ClientSecret(Schema):
    """The client and its secret, shown this once (null for a public client)."""

    client: ClientOut
    client_id: str
    client_secret: str | None

    @classmethod
    def shown(cls, view: ClientView, secret: str | None) -> Self:
        return cls(
            client=ClientOut.of_view(view), client_id=str(view.client.id), client_secret=secret
        )


class ClientPage(Schema):
    items: list[ClientOut]
    next_cursor: str | None
